//! The security suite: what a default container, or an unprivileged user of the host, tries in
//! order to reach the host, run as an attacker would, from inside (a static C probe,
//! `tests/probes/probe.c`, bind-mounted into busybox containers) and from the host.
//!
//! Each test fails on an engine that leaves the hole open: device nodes (the device cgroup),
//! `docker cp` raced onto host paths, state readable by other users, descriptors inherited by
//! containers, the runtime binary reachable through `/proc/PID/exe`, options accepted and
//! ignored; and the profile that already held (capabilities, seccomp, masked and read-only
//! paths, namespaces, socket mode) so it keeps holding. Needs root.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Daemon, probe_dir, require_root, stderr, stdout};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn daemon() -> Daemon {
    require_root("containers need namespaces, mounts and cgroups");
    let d = Daemon::start();
    d.import_busybox("busybox");
    d
}

/// `-v PROBE:/probe:ro`, to pass to `run`.
fn probe_mount() -> String {
    format!("{}:/probe:ro", probe_dir().display())
}

/// Runs `berth run --rm ARGS…` and returns (success, stdout, stderr).
fn run(d: &Daemon, args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["run", "--rm"];
    all.extend_from_slice(args);
    let out = d.berth(&all);
    (out.status.success(), stdout(&out), stderr(&out))
}

/// The `key=value` field of a probe's output line.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in probe output {line:?}"))
}

/// Runs `f` as user `nobody` (uid and gid 65534, no supplementary groups) on the host.
fn as_nobody(script: &str) -> (bool, String) {
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sh",
            "-c",
            script,
        ])
        .output()
        .expect("setpriv (util-linux)");
    (
        out.status.success(),
        format!("{}{}", stdout(&out), stderr(&out)),
    )
}

// ----- 1. device cgroup ---------------------------------------------------------------------

#[test]
fn a_default_container_cannot_use_host_devices() {
    let d = daemon();
    // A node for the host's first loop device (on a normal host b 254 0 would be its disk):
    // mknod is allowed, as in Docker, but reading or writing it is not.
    let (_, out, err) = run(
        &d,
        &[
            "busybox",
            "sh",
            "-c",
            "mknod /tmp/d b 7 0 && echo made; head -c16 /tmp/d >/dev/null && echo READ; \
             echo x > /tmp/d && echo WROTE; mknod /tmp/kvm c 10 232 && cat /tmp/kvm; \
             echo > /dev/null && head -c1 /dev/zero >/dev/null && echo null-ok",
        ],
    );
    assert!(out.contains("made"), "mknod itself is allowed: {out}{err}");
    assert!(
        !out.contains("READ") && !out.contains("WROTE"),
        "{out}{err}"
    );
    assert!(
        err.contains("head: /tmp/d: Operation not permitted"),
        "{err}"
    );
    assert!(
        err.contains("can't create /tmp/d: Operation not permitted"),
        "{err}"
    );
    assert!(
        err.contains("can't open '/tmp/kvm': Operation not permitted"),
        "{err}"
    );
    assert!(
        out.contains("null-ok"),
        "the standard nodes stay usable: {out}{err}"
    );

    // The rules bind every process of the container, exec'd ones too.
    d.ok(&["run", "-d", "--name", "dev", "busybox", "sleep", "60"]);
    let out = d.berth(&[
        "exec",
        "dev",
        "sh",
        "-c",
        "mknod /tmp/e b 7 0; head -c1 /tmp/e",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn device_flags_grant_exactly_what_they_name() {
    let d = daemon();
    assert!(
        Path::new("/dev/loop1").exists(),
        "needs the host's /dev/loop1"
    );
    let (ok, out, err) = run(
        &d,
        &[
            "--device",
            "/dev/loop0:/dev/xloop:r",
            "busybox",
            "sh",
            "-c",
            "head -c1 /dev/xloop >/dev/null && echo read-ok; echo x > /dev/xloop || echo no-write",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("read-ok") && out.contains("no-write"),
        "{out}{err}"
    );
    let (_, out, err) = run(
        &d,
        &[
            "--device-cgroup-rule",
            "b 7:1 r",
            "busybox",
            "sh",
            "-c",
            "mknod /tmp/l1 b 7 1; mknod /tmp/l2 b 7 2; head -c1 /tmp/l1 >/dev/null && echo one; \
             head -c1 /tmp/l2 >/dev/null && echo TWO",
        ],
    );
    assert!(out.contains("one") && !out.contains("TWO"), "{out}{err}");

    // Bad flags are refused before anything is made.
    let (ok, _, err) = run(&d, &["--device-cgroup-rule", "b 7", "busybox", "true"]);
    assert!(
        !ok && err.contains("invalid device cgroup format 'b 7'"),
        "{err}"
    );
    let (ok, _, err) = run(&d, &["--device", "/dev/berth-none", "busybox", "true"]);
    assert!(!ok, "{err}");
    assert!(
        err.contains("error gathering device information while adding custom device \"/dev/berth-none\": No such file or directory"),
        "{err}"
    );
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "", "no container was left");
}

// ----- 2. cp races ---------------------------------------------------------------------------

/// A tar holding one file `payload`.
fn payload_tar(dir: &Path) -> Vec<u8> {
    std::fs::write(dir.join("payload"), "payload").unwrap();
    let out = Command::new("tar")
        .arg("-cf")
        .arg("-")
        .arg("-C")
        .arg(dir)
        .arg("payload")
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

#[test]
fn copies_cannot_be_raced_onto_the_host() {
    let d = daemon();
    // The host directory the container aims at, with a secret of a size the container's own
    // file does not have.
    let host = d.dir.path().join("host-target");
    std::fs::create_dir(&host).unwrap();
    let secret = "HOST-SECRET-0123456789";
    std::fs::write(host.join("secret"), secret).unwrap();
    let script = format!(
        "mkdir -p /w/a && echo container > /w/a/secret && ln -s {} /w/b && exec /probe/probe swap /w/a /w/b",
        host.display()
    );
    let id = d
        .ok(&[
            "run",
            "-d",
            "-v",
            &probe_mount(),
            "busybox",
            "sh",
            "-c",
            &script,
        ])
        .trim()
        .to_string();
    std::thread::sleep(Duration::from_millis(300));
    let tar = payload_tar(d.dir.path());
    let (mut puts, mut gets, mut heads) = (0, 0, 0);
    for _ in 0..150 {
        let r = d.http("PUT", &format!("/containers/{id}/archive?path=/w/a"), &tar);
        puts += usize::from(r.status == 200);
        let r = d.http(
            "GET",
            &format!("/containers/{id}/archive?path=/w/a/secret"),
            b"",
        );
        if r.status == 200 {
            gets += 1;
            assert!(
                !r.text().contains(secret),
                "GET archive read the host's file through the swapped link"
            );
        }
        let r = d.http(
            "HEAD",
            &format!("/containers/{id}/archive?path=/w/a/secret"),
            b"",
        );
        if r.status == 200 {
            heads += 1;
            let stat = r.header("X-Docker-Container-Path-Stat").unwrap_or_default();
            let decoded = Command::new("base64")
                .arg("-d")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin.take().unwrap().write_all(stat.as_bytes())?;
                    c.wait_with_output()
                })
                .unwrap();
            let json: serde_json::Value =
                serde_json::from_slice(&decoded.stdout).unwrap_or_default();
            assert_ne!(
                json["size"].as_u64(),
                Some(secret.len() as u64),
                "HEAD archive stat'ed the host's file: {json}"
            );
        }
    }
    let mut names: Vec<String> = std::fs::read_dir(&host)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["secret"],
        "PUT archive wrote into the host directory"
    );
    assert_eq!(
        std::fs::read_to_string(host.join("secret")).unwrap(),
        secret
    );
    // The race was really run: copies went through while the container swapped.
    assert!(
        puts > 0 && gets > 0 && heads > 0,
        "puts {puts} gets {gets} heads {heads}"
    );
    let running = d.ok(&["inspect", "--format", "{{.State.Running}}", &id]);
    assert_eq!(running.trim(), "true", "the swapping loop ran throughout");
}

// ----- 3. private state ------------------------------------------------------------------------

#[test]
fn state_is_private_from_other_users() {
    let d = daemon();
    // Only Berth's own modes may stand between a host user and the root: open the test's dir.
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let id = d
        .ok(&[
            "run",
            "-d",
            "-e",
            "API_TOKEN=topsecret-4711",
            "-v",
            &probe_mount(),
            "busybox",
            "sh",
            "-c",
            "cp /probe/probe /tmp/suid && chmod 4755 /tmp/suid && sleep 60",
        ])
        .trim()
        .to_string();
    let root = d.root();
    let rootfs_suid = root.join("containers").join(&id).join("rootfs/tmp/suid");
    let deadline = Instant::now() + Duration::from_secs(10);
    // The file appears with `cp` and gets its setuid bit with the `chmod` after it.
    while std::fs::metadata(&rootfs_suid).map_or(true, |m| m.mode() & 0o4000 == 0) {
        assert!(
            Instant::now() < deadline,
            "the container did not make its setuid file"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut upper_suid = Vec::new();
    for entry in std::fs::read_dir(root.join("overlay2/writable")).unwrap() {
        upper_suid.push(entry.unwrap().path().join("upper/tmp/suid"));
    }
    for path in std::iter::once(&rootfs_suid).chain(upper_suid.iter()) {
        let (ok, out) = as_nobody(&format!("{} euid", path.display()));
        assert!(!ok && !out.contains("euid=0"), "{}: {out}", path.display());
        assert!(out.contains("Permission denied"), "{out}");
    }
    for file in ["config.json", "container.json"] {
        let path = root.join("containers").join(&id).join(file);
        let (ok, out) = as_nobody(&format!("cat {}", path.display()));
        assert!(!ok && !out.contains("topsecret-4711"), "{file}: {out}");
        assert_eq!(
            std::fs::metadata(&path).unwrap().mode() & 0o777,
            0o600,
            "{file}"
        );
    }
    let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
    assert_eq!(mode(&root), 0o710);
    for dir in ["containers", "overlay2", "volumes", "content", "images"] {
        assert_eq!(mode(&root.join(dir)), 0o710, "{dir}");
    }

    // A root opened up (by hand, or by an older Berth) is private again after a restart.
    let mut d = d;
    d.stop_with(15);
    let config = root.join("containers").join(&id).join("config.json");
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    d.spawn();
    assert_eq!(mode(&root), 0o710);
    assert_eq!(mode(&config), 0o600);
}

// ----- 4. descriptors ----------------------------------------------------------------------

#[test]
fn no_descriptor_reaches_a_container() {
    require_root("containers need namespaces, mounts and cgroups");
    let hostdir = tempfile::tempdir().unwrap();
    std::fs::write(hostdir.path().join("secret"), "HOST-FD-SECRET").unwrap();
    // The daemon inherits descriptor 7 on a host directory from a careless parent.
    let d = Daemon::start_with_redirects(&format!("7<{}", hostdir.path().display()));
    d.import_busybox("busybox");
    let daemon_pid = d.child.as_ref().unwrap().id();
    assert!(
        Path::new(&format!("/proc/{daemon_pid}/fd/7")).exists(),
        "the daemon holds the inherited descriptor"
    );
    let m = probe_mount();
    let (ok, out, err) = run(&d, &["-v", &m, "busybox", "/probe/probe", "fds"]);
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "fds=",
        "descriptors beyond stdio reached the container"
    );
    let (_, out, err) = run(&d, &["busybox", "cat", "/proc/self/fd/7/secret"]);
    assert!(!out.contains("HOST-FD-SECRET"), "{out}{err}");

    d.ok(&[
        "run", "-d", "--name", "fdc", "--init", "-v", &m, "busybox", "sleep", "60",
    ]);
    let out = d.ok(&["exec", "fdc", "/probe/probe", "fds"]);
    assert_eq!(out.trim(), "fds=", "an exec inherited descriptors");
    // From the host: the container's processes (the --init PID 1 stays Berth's code for the
    // container's whole life) and the shim hold nothing from the daemon's parent.
    let pid = d.ok(&["inspect", "--format", "{{.State.Pid}}", "fdc"]);
    let mut pids = vec![pid.trim().to_string()];
    let shims = std::fs::read_dir(d.root().join("shims")).unwrap();
    for s in shims.flatten() {
        if let Ok(p) = std::fs::read_to_string(s.path().join("shim.pid")) {
            pids.push(p.trim().to_string());
        }
    }
    for pid in pids {
        for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .flatten()
        {
            let target = std::fs::read_link(fd.path()).unwrap_or_default();
            assert_ne!(
                target,
                hostdir.path(),
                "process {pid} holds the daemon's inherited descriptor"
            );
        }
    }
    let init_fds: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", pid.trim()))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(init_fds.len() <= 3, "--init's PID 1 holds {init_fds:?}");
}

// ----- 5. the runtime binary ---------------------------------------------------------------------

#[test]
fn the_runtime_binary_is_out_of_reach() {
    let d = daemon();
    let m = probe_mount();
    // With --init, PID 1 is the runtime's own code for the container's whole life: the most
    // patient attacker's target.
    let (ok, out, err) = run(
        &d,
        &[
            "--init",
            "-v",
            &m,
            "busybox",
            "/probe/probe",
            "exe",
            "/proc/1/exe",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(
        field(&out, "open"),
        "denied",
        "a default container opened /proc/1/exe: {out}"
    );
    // A container granted CAP_SYS_PTRACE may open it, but what it gets is a read-only view.
    let (ok, out, err) = run(
        &d,
        &[
            "--init",
            "--cap-add",
            "SYS_PTRACE",
            "-v",
            &m,
            "busybox",
            "/probe/probe",
            "exe",
            "/proc/1/exe",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(field(&out, "open"), "ok", "{out}");
    assert_eq!(
        field(&out, "rdonly"),
        "1",
        "the handle is on a writable mount: {out}"
    );
    assert_ne!(field(&out, "write_errno"), "0", "{out}");

    // Execs: every process entering the container is the runtime until its execve. A
    // container watching /proc for them must not get a handle or attach.
    d.ok(&[
        "run", "-d", "--name", "watch", "-v", &m, "busybox", "sleep", "120",
    ]);
    let watcher = d
        .berth_cmd(&["exec", "watch", "/probe/probe", "exe-race", "6"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..40 {
        d.ok(&["exec", "watch", "true"]);
    }
    let out = watcher.wait_with_output().unwrap();
    let line = stdout(&out);
    eprintln!("exec race: {line}");
    assert_eq!(field(&line, "opened"), "0", "{line}");
    assert_eq!(field(&line, "traced"), "0", "{line}");
}

// ----- 6. options enforced or refused -----------------------------------------------------------

#[test]
fn options_are_enforced_or_refused() {
    let d = daemon();
    let (ok, _, err) = run(&d, &["--storage-opt", "size=1G", "busybox", "true"]);
    assert!(
        !ok,
        "--storage-opt size was accepted but cannot be enforced"
    );
    assert!(
        err.contains("--storage-opt is supported only for overlay over xfs"),
        "{err}"
    );
    let (ok, _, err) = run(&d, &["--storage-opt", "foo=1", "busybox", "true"]);
    assert!(!ok && err.contains("Unknown option foo"), "{err}");
    let (ok, _, err) = run(&d, &["--userns", "remapped", "busybox", "true"]);
    assert!(
        !ok && err.contains("invalid --userns mode \"remapped\""),
        "{err}"
    );
    let (ok, _, err) = run(&d, &["--userns", "host", "busybox", "true"]);
    assert!(ok, "{err}");
    assert_eq!(
        d.ok(&["ps", "-aq"]).trim(),
        "",
        "refused runs left no container"
    );

    // Unprivileged ICMP in the container's own network namespace, as Docker sets it up.
    let (ok, out, err) = run(
        &d,
        &["busybox", "cat", "/proc/sys/net/ipv4/ping_group_range"],
    );
    assert!(ok, "{err}");
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["0", "2147483647"]
    );
    let (ok, out, err) = run(
        &d,
        &[
            "--user",
            "1000",
            "-v",
            &probe_mount(),
            "busybox",
            "/probe/probe",
            "ping",
        ],
    );
    assert!(ok && out.contains("ping=pong"), "{out}{err}");
}

// ----- 7. the default profile ------------------------------------------------------------------

#[test]
fn the_default_profile_holds() {
    let d = daemon();
    let (ok, out, err) = run(
        &d,
        &[
            "busybox",
            "sh",
            "-c",
            "grep -E '^(CapEff|CapBnd|Seccomp|NoNewPrivs):' /proc/self/status; \
             wc -c < /proc/timer_list; ls /sys/firmware | wc -l; \
             echo 1 > /proc/sys/kernel/panic 2>/dev/null || echo sysctl-ro; \
             echo 1 > /proc/sysrq-trigger 2>/dev/null || echo sysrq-ro; \
             for ns in pid mnt net uts ipc; do readlink /proc/self/ns/$ns; done",
        ],
    );
    assert!(ok, "{err}");
    // Docker's 14 default capabilities, nothing more, in every set.
    assert!(out.contains("CapEff:\t00000000a80425fb"), "{out}");
    assert!(out.contains("CapBnd:\t00000000a80425fb"), "{out}");
    assert!(
        out.contains("Seccomp:\t2"),
        "a seccomp filter is installed: {out}"
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.contains(&"0"), "/proc/timer_list is masked: {out}");
    assert!(
        out.contains("sysctl-ro") && out.contains("sysrq-ro"),
        "{out}"
    );
    for ns in ["pid", "mnt", "net", "uts", "ipc"] {
        let host = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        let host = host.to_string_lossy().into_owned();
        assert!(
            !out.contains(&host),
            "the container shares the host's {ns} namespace"
        );
    }
    // Calls the default seccomp profile or the missing capabilities refuse (Berth also
    // refuses io_uring and AF_VSOCK, which Docker's profile allows).
    let (ok, out, err) = run(
        &d,
        &["-v", &probe_mount(), "busybox", "/probe/probe", "syscalls"],
    );
    assert!(ok, "{err}");
    for call in [
        "io_uring",
        "vsock",
        "unshare_user",
        "mount",
        "bpf",
        "keyctl",
        "init_module",
    ] {
        assert_eq!(
            field(&out, call),
            "1",
            "{call} was not refused with EPERM: {out}"
        );
    }
    // The API socket is for root and its group only.
    let mode = std::fs::metadata(d.socket()).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o660);
}
