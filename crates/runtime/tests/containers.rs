//! Privileged end-to-end tests: real containers from a busybox rootfs. They need root (CI runs
//! as root) and `/bin/busybox` (Debian's busybox-static); without either they return early.
//! Every test uses its own state root, id and cgroup (`berth-rt-test-<pid>-<n>`) and removes
//! them through a guard even when an assertion fails.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use berth_runtime::container::{self, CreateOptions};
use berth_runtime::{Error, Status, profile};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn privileged() -> bool {
    let root = nix::unistd::geteuid().is_root();
    let busybox = Path::new("/bin/busybox").exists();
    if !root || !busybox {
        berth_common::skip::skip("needs root and /bin/busybox");
    }
    root && busybox
}

/// A bundle, an output directory bind-mounted at /out, a state root, and cleanup.
struct Fixture {
    dir: tempfile::TempDir,
    id: String,
    opts: CreateOptions,
}

impl Fixture {
    fn new(args: &[&str], edit: impl FnOnce(&mut Value)) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("bundle/rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        for d in ["proc", "sys", "dev", "tmp", "out", "etc"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        let list = std::process::Command::new("/bin/busybox")
            .arg("--list")
            .output()
            .unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet != "busybox" {
                let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
            }
        }
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = format!("berth-rt-test-{}-{n}", std::process::id());
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut spec = serde_json::to_value(profile::default_spec(&args)).unwrap();
        spec["hostname"] = json!("berth-test");
        spec["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/out", "type": "bind", "source": out, "options": ["rbind", "rw"]
        }));
        edit(&mut spec);
        std::fs::write(
            dir.path().join("bundle/config.json"),
            serde_json::to_string_pretty(&spec).unwrap(),
        )
        .unwrap();
        let opts = CreateOptions {
            root: dir.path().join("state"),
            ..CreateOptions::default()
        };
        Fixture { dir, id, opts }
    }

    fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    fn out(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join("out").join(name))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    fn run(&self) -> berth_runtime::Result<i32> {
        container::run(&self.id, &self.bundle(), &self.opts, false)
    }

    fn create_start(&self) {
        container::create(&self.id, &self.bundle(), &self.opts).unwrap();
        container::start(&self.opts.root, &self.id).unwrap();
    }

    fn cgroup(&self) -> berth_cgroups::Cgroup {
        let root = berth_cgroups::CgroupRoot::detect().unwrap();
        berth_cgroups::Cgroup::load(&root, &format!("berth/{}", self.id)).unwrap()
    }

    fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let root = berth_cgroups::CgroupRoot::detect().unwrap();
        root.v1_hierarchies()
            .into_iter()
            .map(|(m, _)| m.join("berth").join(&self.id))
            .chain(root.unified_mount().map(|m| m.join("berth").join(&self.id)))
            .collect()
    }

    /// Asserts nothing of the container is left: state, cgroup, mounts.
    fn assert_gone(&self) {
        assert!(
            !self.opts.root.join(&self.id).exists(),
            "state dir left behind"
        );
        for d in self.cgroup_dirs() {
            assert!(!d.exists(), "cgroup {} left behind", d.display());
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let bundle = self.bundle().display().to_string();
        assert!(
            !mounts.contains(&bundle),
            "a mount of the bundle leaked to the host"
        );
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = container::delete(&self.opts.root, &self.id, true);
        // The runtime leaves parent groups (as runc does); the shared `berth` parent goes once
        // no test uses it.
        if let Ok(root) = berth_cgroups::CgroupRoot::detect() {
            let _ = berth_cgroups::remove_if_unused(&root, "berth");
        }
    }
}

#[test]
fn own_pid_tree_hostname_and_exit_code() {
    if !privileged() {
        return;
    }
    let f = Fixture::new(
        &[
            "sh",
            "-c",
            "echo $$ > /out/self; ls /proc | grep -c '^[0-9]' > /out/procs; hostname > /out/host; exit 3",
        ],
        |_| {},
    );
    assert_eq!(f.run().unwrap(), 3);
    assert_eq!(f.out("self"), "1");
    // sh, ls and grep at most: none of the host's processes.
    let procs: u32 = f.out("procs").parse().unwrap();
    assert!(procs <= 3, "saw {procs} processes");
    assert_eq!(f.out("host"), "berth-test");
    f.assert_gone();
}

/// A new cgroup namespace is rooted at the container's own groups: the container sees `/`
/// in every hierarchy, not the host's path to its group.
#[test]
fn cgroup_namespace_is_rooted_at_the_container() {
    if !privileged() {
        return;
    }
    let f = Fixture::new(&["sh", "-c", "cat /proc/self/cgroup > /out/cg"], |spec| {
        let list = spec["linux"]["namespaces"].as_array_mut().unwrap();
        if !list.iter().any(|n| n["type"] == "cgroup") {
            list.push(json!({"type": "cgroup"}));
        }
    });
    assert_eq!(f.run().unwrap(), 0);
    let cg = f.out("cg");
    assert!(!cg.is_empty());
    for line in cg.lines() {
        assert!(
            line.ends_with(":/"),
            "not rooted at the container: {line:?} in\n{cg}"
        );
    }
    f.assert_gone();
}

#[test]
fn masked_and_readonly_paths() {
    if !privileged() {
        return;
    }
    // Check each masked path this host has: inside, files read empty and dirs list nothing.
    let present: Vec<&str> = profile::MASKED_PATHS
        .iter()
        .copied()
        .filter(|p| Path::new(p).exists())
        .collect();
    let mut script = String::new();
    for (i, p) in present.iter().enumerate() {
        if Path::new(p).is_dir() {
            script.push_str(&format!("ls -A {p} | wc -l > /out/m{i}; "));
        } else {
            script.push_str(&format!("cat {p} | wc -c > /out/m{i}; "));
        }
    }
    script.push_str("echo x 2>/dev/null > /proc/sys/kernel/domainname; echo $? > /out/sysctl");
    let f = Fixture::new(&["sh", "-c", &script], |_| {});
    assert_eq!(f.run().unwrap(), 0);
    for (i, p) in present.iter().enumerate() {
        assert_eq!(f.out(&format!("m{i}")), "0", "{p} is not masked");
    }
    assert_ne!(f.out("sysctl"), "0", "writing /proc/sys must fail");
    assert!(!f.out("sysctl").is_empty());
}

#[test]
fn default_seccomp_blocks_mount_and_unshare_even_with_sys_admin() {
    if !privileged() {
        return;
    }
    let script = "mount -t tmpfs t /tmp 2>/dev/null; echo $? > /out/mount; \
                  unshare -n true 2>/dev/null; echo $? > /out/unshare";
    let add_sys_admin = |spec: &mut Value| {
        for set in ["bounding", "effective", "permitted"] {
            spec["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_SYS_ADMIN"));
        }
    };
    let f = Fixture::new(&["sh", "-c", script], add_sys_admin);
    assert_eq!(f.run().unwrap(), 0);
    assert_ne!(
        f.out("mount"),
        "0",
        "mount must fail under the default profile"
    );
    assert_ne!(
        f.out("unshare"),
        "0",
        "unshare must fail under the default profile"
    );
    // The control: without the filter, the same capabilities allow both.
    let g = Fixture::new(&["sh", "-c", script], |spec| {
        add_sys_admin(spec);
        spec["linux"].as_object_mut().unwrap().remove("seccomp");
    });
    assert_eq!(g.run().unwrap(), 0);
    assert_eq!(g.out("mount"), "0");
    assert_eq!(g.out("unshare"), "0");
}

#[test]
fn dropped_capability_is_gone() {
    if !privileged() {
        return;
    }
    let f = Fixture::new(
        &[
            "sh",
            "-c",
            "grep -E '^Cap(Eff|Bnd)' /proc/self/status > /out/caps",
        ],
        |spec| {
            for set in ["bounding", "effective", "permitted"] {
                spec["process"]["capabilities"][set]
                    .as_array_mut()
                    .unwrap()
                    .retain(|c| c != "CAP_NET_RAW");
            }
        },
    );
    assert_eq!(f.run().unwrap(), 0);
    let caps = f.out("caps");
    let docker_default: u64 = 0xa80425fb;
    let without_net_raw = docker_default & !(1 << 13);
    for line in caps.lines() {
        let value = u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap();
        assert_eq!(value, without_net_raw, "{line}");
    }
}

#[test]
fn user_namespace_maps_root_to_unprivileged_uid() {
    if !privileged() {
        return;
    }
    let f = Fixture::new(&["sh", "-c", "id -u > /out/uid; touch /out/file"], |spec| {
        spec["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    });
    assert_eq!(f.run().unwrap(), 0);
    assert_eq!(f.out("uid"), "0");
    let meta = std::fs::metadata(f.dir.path().join("out/file")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 200000);
    f.assert_gone();
}

#[test]
fn memory_limit_oom_kills_and_stats_say_so() {
    if !privileged() {
        return;
    }
    let limit = 32 * 1024 * 1024;
    let f = Fixture::new(
        &["sh", "-c", "head -c 200000000 /dev/zero | sort > /dev/null"],
        |spec| {
            spec["linux"]["resources"] = json!({"memory": {"limit": limit, "swap": limit}});
        },
    );
    f.create_start();
    let code = container::wait(&f.opts.root, &f.id).unwrap();
    let stats = f.cgroup().stats().unwrap();
    assert_eq!(code, Some(137), "sort must be OOM-killed");
    match stats.oom_kills {
        Some(kills) => assert!(kills >= 1, "{stats:?}"),
        None => eprintln!("this host reports no OOM kill count; exit code checked only"),
    }
    container::delete(&f.opts.root, &f.id, false).unwrap();
    f.assert_gone();
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    if !privileged() {
        return;
    }
    let f = Fixture::new(
        // The bomb runs in a subshell (ash gives up at the first failed fork); the init then
        // replaces itself without forking.
        &[
            "sh",
            "-c",
            "(for i in $(seq 1 60); do sleep 30 & done) 2>/dev/null; exec sleep 30",
        ],
        |spec| {
            spec["linux"]["resources"] = json!({"pids": {"limit": 16}});
        },
    );
    f.create_start();
    std::thread::sleep(Duration::from_millis(500));
    let pids = container::ps(&f.opts.root, &f.id).unwrap();
    assert!(
        pids.len() > 1 && pids.len() <= 16,
        "{} processes",
        pids.len()
    );
    container::delete(&f.opts.root, &f.id, true).unwrap();
    f.assert_gone();
}

#[test]
fn pause_stops_a_busy_loop() {
    if !privileged() {
        return;
    }
    let f = Fixture::new(&["sh", "-c", "while :; do :; done"], |_| {});
    f.create_start();
    std::thread::sleep(Duration::from_millis(100));
    container::pause(&f.opts.root, &f.id).unwrap();
    assert_eq!(
        container::state(&f.opts.root, &f.id).unwrap().status,
        Status::Paused
    );
    let cg = f.cgroup();
    match cg.stats().unwrap().cpu_usage_ns {
        Some(before) => {
            std::thread::sleep(Duration::from_millis(300));
            let after = cg.stats().unwrap().cpu_usage_ns.unwrap();
            assert!(
                after - before < 5_000_000,
                "frozen loop used {} ns",
                after - before
            );
            container::resume(&f.opts.root, &f.id).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            let resumed = cg.stats().unwrap().cpu_usage_ns.unwrap();
            assert!(resumed - after > 50_000_000, "thawed loop did not run");
        }
        None => eprintln!("no cpu accounting on this host: status checked only"),
    }
    assert_eq!(
        container::state(&f.opts.root, &f.id).unwrap().status,
        Status::Running
    );
    container::delete(&f.opts.root, &f.id, true).unwrap();
    f.assert_gone();
}

#[test]
fn lifecycle_kill_exec_and_signal_exit_code() {
    if !privileged() {
        return;
    }
    let f = Fixture::new(&["sleep", "30"], |_| {});
    let root = &f.opts.root;
    container::create(&f.id, &f.bundle(), &f.opts).unwrap();
    assert_eq!(
        container::state(root, &f.id).unwrap().status,
        Status::Created
    );
    assert!(matches!(
        container::create(&f.id, &f.bundle(), &f.opts),
        Err(Error::Exists(_))
    ));
    container::start(root, &f.id).unwrap();
    let s = container::state(root, &f.id).unwrap();
    assert_eq!(s.status, Status::Running);
    assert!(s.pid > 0);
    // exec joins the container: same hostname, not PID 1, exit code propagates.
    let mut process = oci_spec::runtime::Process::default();
    process.set_args(Some(vec![
        "sh".into(),
        "-c".into(),
        "echo $$ > /out/exec_pid; hostname > /out/exec_host; exit 5".into(),
    ]));
    process.set_cwd("/".into());
    // Both the init and the exec'd process join the container's groups by themselves (v1)
    // or are cloned into them (cgroup2): the group lists them while they run.
    let members = f.cgroup().pids().unwrap();
    assert_eq!(members, vec![s.pid as u32], "init in its group");
    let mut watcher = oci_spec::runtime::Process::default();
    watcher.set_args(Some(vec!["sleep".into(), "30".into()]));
    watcher.set_cwd("/".into());
    let pid_file = f.dir.path().join("exec.pid");
    let detached = berth_runtime::ExecOptions {
        detach: true,
        pid_file: Some(pid_file.clone()),
        ..Default::default()
    };
    container::exec(root, &f.id, &watcher, &detached).unwrap();
    let members = f.cgroup().pids().unwrap();
    assert_eq!(
        members.len(),
        2,
        "exec'd process in the group too: {members:?}"
    );
    let code = container::exec(root, &f.id, &process, &Default::default()).unwrap();
    assert_eq!(code, 5);
    assert_ne!(f.out("exec_pid"), "1");
    assert_eq!(f.out("exec_host"), "berth-test");
    assert!(matches!(
        container::delete(root, &f.id, false),
        Err(Error::State(_))
    ));
    container::kill(root, &f.id, libc::SIGKILL, false).unwrap();
    // The detached exec is this process's child: reap it first, as a shim would (the
    // container's init cannot finish dying while a process of its namespace is unreaped).
    let exec_pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(exec_pid, std::ptr::null_mut(), 0) };
    assert_eq!(container::wait(root, &f.id).unwrap(), Some(137));
    assert_eq!(
        container::state(root, &f.id).unwrap().status,
        Status::Stopped
    );
    container::delete(root, &f.id, false).unwrap();
    f.assert_gone();
}

#[test]
fn read_only_bind_mount() {
    if !privileged() {
        return;
    }
    let f = Fixture::new(
        &["sh", "-c", "touch /ro/x 2>/dev/null; echo $? > /out/rc"],
        |spec| {
            let src = spec["mounts"].as_array().unwrap().last().unwrap()["source"].clone();
            spec["mounts"].as_array_mut().unwrap().push(json!({
                "destination": "/ro", "type": "bind", "source": src, "options": ["bind", "ro"]
            }));
        },
    );
    assert_eq!(f.run().unwrap(), 0);
    assert_ne!(f.out("rc"), "0");
    assert!(!f.dir.path().join("out/x").exists());
}

fn expect_create_error(f: &Fixture, needle: &str) {
    let err = container::create(&f.id, &f.bundle(), &f.opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(needle),
        "error {err:?} does not mention {needle:?}"
    );
    f.assert_gone();
}

#[test]
fn bad_input_fails_before_anything_is_made() {
    if !privileged() {
        return;
    }
    let f = Fixture::new(&["true"], |spec| spec["ociVersion"] = json!("9.9.9"));
    expect_create_error(&f, "config.json: ociVersion: unsupported version");
    let f = Fixture::new(&["true"], |spec| spec["root"]["path"] = json!("nope"));
    expect_create_error(&f, "config.json: root.path: rootfs");
    let f = Fixture::new(&["true"], |spec| {
        spec["linux"]["seccomp"]["syscalls"][0]["names"] = json!([]);
    });
    expect_create_error(&f, "linux.seccomp.syscalls[0].names: is empty");
    let f = Fixture::new(&["true"], |spec| {
        spec["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
    });
    expect_create_error(&f, "time namespace is not supported");
    let f = Fixture::new(&["true"], |spec| {
        spec["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "data", "type": "tmpfs", "source": "tmpfs"
        }));
    });
    expect_create_error(&f, "is not an absolute path");
    let f = Fixture::new(&["true"], |spec| {
        spec["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/evil/x", "type": "tmpfs", "source": "tmpfs"
        }));
    });
    std::os::unix::fs::symlink("../../../../../../tmp", f.bundle().join("rootfs/evil")).unwrap();
    expect_create_error(&f, "escapes the rootfs through the symlink /evil");
}

#[test]
fn failure_half_way_removes_everything() {
    if !privileged() {
        return;
    }
    let f = Fixture::new(&["true"], |spec| {
        spec["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "nosuchfs", "source": "none"
        }));
    });
    let started = Instant::now();
    expect_create_error(&f, "mounting none (nosuchfs) on /data");
    assert!(started.elapsed() < Duration::from_secs(5));
    let f = Fixture::new(&["/no/such/program"], |_| {});
    let err = f.run().unwrap_err().to_string();
    assert!(
        err.contains("exec: \"/no/such/program\": stat /no/such/program: no such file"),
        "{err}"
    );
    f.assert_gone();
}

#[test]
fn terminal_over_console_socket() {
    if !privileged() {
        return;
    }
    let f = Fixture::new(&["sh", "-c", "tty > /out/tty; echo hello-pty"], |spec| {
        spec["process"]["terminal"] = json!(true);
    });
    let sock_path = f.dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
    let receiver = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        berth_runtime::console::recv_fd(&conn).unwrap()
    });
    let opts = CreateOptions {
        console_socket: Some(sock_path),
        ..f.opts.clone()
    };
    container::create(&f.id, &f.bundle(), &opts).unwrap();
    let (master, _) = receiver.join().unwrap();
    container::start(&f.opts.root, &f.id).unwrap();
    let mut file = std::fs::File::from(master);
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        match std::io::Read::read(&mut file, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(container::wait(&f.opts.root, &f.id).unwrap(), Some(0));
    assert!(String::from_utf8_lossy(&out).contains("hello-pty"));
    assert!(f.out("tty").starts_with("/dev/pts/"), "{}", f.out("tty"));
    container::delete(&f.opts.root, &f.id, false).unwrap();
    f.assert_gone();
}
