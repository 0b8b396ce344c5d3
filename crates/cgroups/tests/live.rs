//! Live tests against this host's real cgroups; they need root.
//!
//! Each test uses a unique top-level group (`berth-test-<pid>-<n>`) and a [`Guard`] that kills
//! and removes it on drop, so a failing assertion leaves nothing behind. When a test cannot run
//! (not root, or a controller is missing), it says why on stderr and returns early.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use berth_cgroups::{Cgroup, CgroupRoot, Controller, Error, Layout, Resources};
use std::io::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const MIB: i64 = 1 << 20;

static NEXT: AtomicU32 = AtomicU32::new(0);

fn unique_name() -> String {
    format!(
        "berth-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Kills and removes the group whatever happens to the test.
struct Guard(Cgroup);

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.is_frozen().unwrap_or(false)
            && let Err(err) = self.0.thaw()
        {
            eprintln!("guard thaw: {err}");
        }
        if let Err(err) = self.0.kill_all() {
            eprintln!("guard kill_all: {err}");
        }
        if let Err(err) = self.0.destroy() {
            eprintln!("guard destroy: {err}");
        }
    }
}

/// A child process that is killed and reaped if the test ends early.
struct Proc(Option<Child>);

impl Proc {
    /// Starts `sh -c script` with the script's first line waiting for [`Proc::release`], so
    /// the test can move it into a group before it does anything.
    fn gated(script: &str) -> Proc {
        let child = Command::new("sh")
            .args(["-c", &format!("read go; {script}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Proc(Some(child))
    }

    fn child(&mut self) -> &mut Child {
        self.0.as_mut().unwrap()
    }

    fn pid(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    fn release(&mut self) {
        let mut stdin = self.child().stdin.take().unwrap();
        stdin.write_all(b"go\n").unwrap();
    }

    /// Waits for exit; returns (status, stdout, stderr).
    fn finish(mut self) -> (std::process::ExitStatus, String, String) {
        let mut child = self.0.take().unwrap();
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The host's layout when it drives core controllers through v1 and we are root.
fn v1_root(needs: &[Controller]) -> Option<CgroupRoot> {
    if !is_root() {
        berth_common::skip::skip("live cgroup tests need root");
        return None;
    }
    let root = CgroupRoot::detect().unwrap();
    if !root.layout().is_v1() {
        berth_common::skip::skip("this host uses cgroup v2 for its controllers");
        return None;
    }
    for c in needs {
        if root.v1_mount(*c).is_none() {
            berth_common::skip::skip(&format!("v1 controller {c} is not mounted"));
            return None;
        }
    }
    Some(root)
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap()
        .trim()
        .to_string()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn v1_limits_are_written_and_updated_in_a_valid_order() {
    let Some(root) = v1_root(&[Controller::Memory, Controller::Cpu, Controller::Pids]) else {
        return;
    };
    let name = unique_name();
    let mem = root.v1_mount(Controller::Memory).unwrap().join(&name);
    let swap_accounting = root
        .v1_mount(Controller::Memory)
        .unwrap()
        .join("memory.memsw.limit_in_bytes")
        .exists();
    let resources = Resources {
        memory: Some(32 * MIB),
        memory_swap: Some(32 * MIB),
        memory_reservation: Some(16 * MIB),
        cpu_shares: Some(512),
        cpu_quota: Some(50_000),
        cpu_period: Some(100_000),
        cpuset_cpus: root.v1_mount(Controller::Cpuset).map(|_| "0".to_string()),
        cpuset_mems: root.v1_mount(Controller::Cpuset).map(|_| "0".to_string()),
        pids_limit: Some(10),
        ..Default::default()
    };
    let guard = Guard(Cgroup::create(&root, &name, &resources).unwrap());
    let cg = &guard.0;
    assert_eq!(read(&mem, "memory.limit_in_bytes"), "33554432");
    assert_eq!(read(&mem, "memory.soft_limit_in_bytes"), "16777216");
    if swap_accounting {
        assert_eq!(read(&mem, "memory.memsw.limit_in_bytes"), "33554432");
    } else {
        eprintln!("note: no swap accounting on this kernel; memsw not checked");
    }
    let cpu = cg.v1_dir(Controller::Cpu).unwrap();
    assert_eq!(read(&cpu, "cpu.shares"), "512");
    assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "50000");
    assert_eq!(read(&cpu, "cpu.cfs_period_us"), "100000");
    assert_eq!(
        read(&cg.v1_dir(Controller::Pids).unwrap(), "pids.max"),
        "10"
    );
    if let Some(cpuset) = cg.v1_dir(Controller::Cpuset) {
        assert_eq!(read(&cpuset, "cpuset.cpus"), "0");
        assert_eq!(read(&cpuset, "cpuset.mems"), "0");
    }
    // Every hierarchy got the directory, including the best-effort ones.
    for dir in cg.dirs() {
        assert!(dir.is_dir(), "{}", dir.display());
    }

    // Raising memory and swap: memsw must go first or the kernel says EINVAL.
    cg.update(&Resources {
        memory: Some(64 * MIB),
        memory_swap: Some(128 * MIB),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(read(&mem, "memory.limit_in_bytes"), "67108864");
    if swap_accounting {
        assert_eq!(read(&mem, "memory.memsw.limit_in_bytes"), "134217728");
    }
    // Lowering both below the current memory limit: memory must go first.
    cg.update(&Resources {
        memory: Some(16 * MIB),
        memory_swap: Some(16 * MIB),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(read(&mem, "memory.limit_in_bytes"), "16777216");
    if swap_accounting {
        assert_eq!(read(&mem, "memory.memsw.limit_in_bytes"), "16777216");
    }
    // Removing the limit removes the swap limit with it.
    cg.update(&Resources {
        memory: Some(-1),
        cpu_quota: Some(-1),
        ..Default::default()
    })
    .unwrap();
    assert!(read(&mem, "memory.limit_in_bytes").parse::<u64>().unwrap() > 1 << 62);
    assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "-1");
    assert_eq!(cg.stats().unwrap().memory_limit, None);

    // The kernel's own refusal carries the path and value.
    let err = cg
        .update(&Resources {
            cpuset_cpus: Some("4095".into()),
            ..Default::default()
        })
        .map(|()| "no error".to_string())
        .unwrap_or_else(|e| e.to_string());
    if root.v1_mount(Controller::Cpuset).is_some() {
        assert!(
            err.starts_with("linux.resources.cpu.cpus: writing 4095 to ")
                && err.contains("cpuset.cpus"),
            "{err}"
        );
    }

    let dirs = cg.dirs();
    drop(guard);
    for dir in dirs {
        assert!(!dir.exists(), "{} still exists", dir.display());
    }
}

#[test]
fn v1_process_membership_load_and_cgroup_kill() {
    let Some(root) = v1_root(&[Controller::Pids]) else {
        return;
    };
    let name = unique_name();
    let guard = Guard(Cgroup::create(&root, &name, &Resources::default()).unwrap());
    let cg = &guard.0;
    let child = Proc::gated("sleep 30");
    cg.add_process(child.pid()).unwrap();
    assert_eq!(cg.pids().unwrap(), vec![child.pid()]);
    for (mount, controllers) in root.v1_hierarchies() {
        let procs = read(&mount.join(&name), "cgroup.procs");
        let core = controllers.iter().any(|c| c.is_core());
        if core || !procs.is_empty() {
            assert_eq!(procs, child.pid().to_string(), "{}", mount.display());
        }
    }
    if root.layout() == Layout::Hybrid {
        let unified = cg.unified_dir().unwrap();
        if unified.is_dir() {
            assert_eq!(read(&unified, "cgroup.procs"), child.pid().to_string());
        }
    }
    // The daemon restarted: the group is found again from its name alone.
    let loaded = Cgroup::load(&root, &name).unwrap();
    assert_eq!(loaded.pids().unwrap(), vec![child.pid()]);
    assert_eq!(loaded.stats().unwrap().pids_current, Some(1));

    // On a hybrid host this goes through the cgroup2 group's cgroup.kill.
    loaded.kill_all().unwrap();
    let (status, _, _) = child.finish();
    assert_eq!(status.signal(), Some(9), "{status:?}");
    assert!(cg.pids().unwrap().is_empty());

    drop(guard);
    assert!(matches!(
        Cgroup::load(&root, &name),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn v1_kill_loop_kills_forked_children() {
    let Some(detected) = v1_root(&[Controller::Pids, Controller::Freezer]) else {
        return;
    };
    // Without the cgroup2 side, killing must go through freeze + SIGKILL + thaw.
    let root = detected.without_unified();
    let name = unique_name();
    let guard = Guard(Cgroup::create(&root, &name, &Resources::default()).unwrap());
    let cg = &guard.0;
    let mut child = Proc::gated("sleep 30 & sleep 30 & wait");
    cg.add_process(child.pid()).unwrap();
    child.release();
    wait_for("three members", Duration::from_secs(5), || {
        cg.pids().unwrap().len() == 3
    });
    cg.kill_all().unwrap();
    assert!(cg.pids().unwrap().is_empty());
    let (status, _, _) = child.finish();
    assert_eq!(status.signal(), Some(9), "{status:?}");
    assert!(!cg.is_frozen().unwrap(), "kill_all leaves the group thawed");
}

#[test]
fn v1_pids_limit_stops_a_fork_loop() {
    let Some(root) = v1_root(&[Controller::Pids]) else {
        return;
    };
    let name = unique_name();
    let resources = Resources {
        pids_limit: Some(5),
        ..Default::default()
    };
    let guard = Guard(Cgroup::create(&root, &name, &resources).unwrap());
    let cg = &guard.0;
    let pids_dir = cg.v1_dir(Controller::Pids).unwrap();
    let mut child = Proc::gated("for i in $(seq 20); do sleep 2 & done; wait");
    cg.add_process(child.pid()).unwrap();
    child.release();
    let mut peak = 0;
    let deadline = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < deadline {
        let current: u64 = read(&pids_dir, "pids.current").parse().unwrap();
        peak = peak.max(current);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(peak <= 5, "pids.current reached {peak}");
    assert!(peak >= 2, "the loop did not run (peak {peak})");
    cg.kill_all().unwrap();
    let (_, _, stderr) = child.finish();
    let refused: u64 = std::fs::read_to_string(pids_dir.join("pids.events"))
        .ok()
        .and_then(|t| t.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0);
    assert!(
        stderr.to_lowercase().contains("fork") || refused > 0,
        "no fork failure seen; stderr {stderr:?}, pids.events max {refused}"
    );
}

#[test]
fn v1_memory_limit_gets_a_hog_oom_killed() {
    let Some(root) = v1_root(&[Controller::Memory]) else {
        return;
    };
    let name = unique_name();
    let resources = Resources {
        memory: Some(16 * MIB),
        memory_swap: Some(16 * MIB),
        ..Default::default()
    };
    let guard = Guard(Cgroup::create(&root, &name, &resources).unwrap());
    let cg = &guard.0;
    let before = cg.stats().unwrap();
    if before.oom_kills.is_none() {
        eprintln!("note: memory.oom_control has no oom_kill line (kernel < 4.13)");
    }
    let mut child = Proc::gated("x=$(head -c 64000000 /dev/zero | tr '\\0' a); echo ${#x}");
    cg.add_process(child.pid()).unwrap();
    child.release();
    let (status, stdout, _) = child.finish();
    assert_eq!(status.signal(), Some(9), "{status:?}, printed {stdout:?}");
    let stats = cg.stats().unwrap();
    assert_eq!(stats.memory_limit, Some(16 * MIB as u64));
    assert!(
        stats.memory_max_usage.unwrap() >= 15 * MIB as u64,
        "{stats:?}"
    );
    if before.oom_kills.is_some() {
        assert!(stats.oom_kills.unwrap() >= 1, "{stats:?}");
    }
}

#[test]
fn v1_freeze_stops_a_busy_loop() {
    let Some(root) = v1_root(&[Controller::Freezer, Controller::Cpuacct]) else {
        return;
    };
    let name = unique_name();
    let guard = Guard(Cgroup::create(&root, &name, &Resources::default()).unwrap());
    let cg = &guard.0;
    let mut child = Proc::gated("while :; do :; done");
    cg.add_process(child.pid()).unwrap();
    child.release();
    let usage = || cg.stats().unwrap().cpu_usage_ns.unwrap();
    let start = usage();
    wait_for("the loop to use CPU", Duration::from_secs(5), || {
        usage() > start + 10_000_000
    });

    cg.freeze().unwrap();
    assert!(cg.is_frozen().unwrap());
    let frozen_at = usage();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(usage(), frozen_at, "CPU time advanced while frozen");

    cg.thaw().unwrap();
    assert!(!cg.is_frozen().unwrap());
    wait_for("the loop to run again", Duration::from_secs(5), || {
        usage() > frozen_at
    });
    drop(guard);
    let (status, _, _) = child.finish();
    assert_eq!(status.signal(), Some(9));
}

/// Drives this host's cgroup2 mount directly: on a hybrid host it has only core files, which is
/// enough for membership, freezing, cgroup.kill and removal.
#[test]
fn v2_core_features_on_the_cgroup2_mount() {
    if !is_root() {
        berth_common::skip::skip("live cgroup tests need root");
        return;
    }
    let detected = CgroupRoot::detect().unwrap();
    let Some(mount) = detected.unified_mount() else {
        berth_common::skip::skip("no cgroup2 mount on this host");
        return;
    };
    let root = CgroupRoot::unified(mount);
    let subtree_before = read(mount, "cgroup.subtree_control");
    let offered = read(mount, "cgroup.controllers");
    let name = unique_name();

    // A limit the mount cannot enforce is refused, not silently ignored.
    if !offered.split_whitespace().any(|c| c == "memory") {
        let err = Cgroup::create(
            &root,
            &name,
            &Resources {
                memory: Some(16 * MIB),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(
            matches!(err.innermost(), Error::ControllerUnavailable { .. }),
            "{err}"
        );
        assert!(!mount.join(&name).exists(), "the failed group was removed");
    }

    let guard = Guard(Cgroup::create(&root, &name, &Resources::default()).unwrap());
    let cg = &guard.0;
    let dir = cg.unified_dir().unwrap();
    assert!(dir.is_dir());
    let child = Proc::gated("sleep 30");
    cg.add_process(child.pid()).unwrap();
    assert_eq!(read(&dir, "cgroup.procs"), child.pid().to_string());
    assert_eq!(cg.pids().unwrap(), vec![child.pid()]);

    if dir.join("cgroup.freeze").exists() {
        cg.freeze().unwrap();
        assert!(read(&dir, "cgroup.events").contains("frozen 1"));
        assert!(cg.is_frozen().unwrap());
        cg.thaw().unwrap();
        assert!(read(&dir, "cgroup.events").contains("frozen 0"));
    } else {
        eprintln!("note: no cgroup.freeze (kernel < 5.2); freezing not checked");
    }
    let stats = cg.stats().unwrap();
    assert!(
        stats.cpu_usage_ns.is_some(),
        "cpu.stat is a core file: {stats:?}"
    );

    if !dir.join("cgroup.kill").exists() {
        eprintln!("note: no cgroup.kill (kernel < 5.14); the signal loop is used");
    }
    cg.kill_all().unwrap();
    let (status, _, _) = child.finish();
    assert_eq!(status.signal(), Some(9));
    assert!(cg.pids().unwrap().is_empty());

    cg.destroy().unwrap();
    assert!(!dir.exists());
    drop(guard);

    // Put the host's root back as we found it (controllers we enabled there).
    let after = read(mount, "cgroup.subtree_control");
    for c in after.split_whitespace() {
        if !subtree_before.split_whitespace().any(|b| b == c) {
            let _ = std::fs::write(mount.join("cgroup.subtree_control"), format!("-{c}"));
        }
    }
}

/// Docker's default device rules, as the engine puts them in every spec.
fn docker_device_rules() -> Vec<berth_cgroups::devices::DeviceRule> {
    use berth_cgroups::devices::DeviceRule;
    let mut rules = vec![DeviceRule::parse("a", false).unwrap()];
    for r in [
        "c *:* m",
        "b *:* m",
        "c 1:3 rwm",
        "c 1:5 rwm",
        "c 1:7 rwm",
        "c 1:8 rwm",
        "c 1:9 rwm",
        "c 5:0 rwm",
        "c 5:1 rwm",
        "c 5:2 rwm",
        "c 136:* rwm",
        "c 10:200 rwm",
    ] {
        rules.push(DeviceRule::parse(r, true).unwrap());
    }
    rules
}

/// Runs `script` in a fresh process moved into `cg` first; returns (exit code, stderr).
fn in_group(cg: &Cgroup, script: &str) -> (i32, String) {
    let mut child = Proc::gated(script);
    cg.add_process(child.pid()).unwrap();
    child.release();
    let (status, _, err) = child.finish();
    (status.code().unwrap_or(-1), err)
}

/// The devices a process may open, checked from inside the group: a loop device (a host
/// block device) is refused, `/dev/null` is not.
fn assert_default_device_rules_hold(cg: &Cgroup) {
    let (code, err) = in_group(cg, "head -c1 /dev/loop0 >/dev/null");
    assert_ne!(code, 0, "reading /dev/loop0 must be refused");
    assert!(err.contains("Operation not permitted"), "{err}");
    let (code, err) = in_group(cg, "echo x > /dev/null && head -c1 /dev/zero >/dev/null");
    assert_eq!(code, 0, "/dev/null and /dev/zero stay usable: {err}");
}

#[test]
fn v1_device_rules_are_enforced() {
    assert!(
        is_root(),
        "this test needs root (it writes the host's cgroups)"
    );
    let root = CgroupRoot::detect().unwrap();
    if !root.layout().is_v1() || root.v1_mount(Controller::Devices).is_none() {
        // On a pure v2 host the eBPF program test covers devices.
        berth_common::skip::skip("no v1 devices hierarchy (the cgroup2 program test covers it)");
        return;
    }
    assert!(
        std::path::Path::new("/dev/loop0").exists(),
        "needs /dev/loop0"
    );
    let resources = Resources {
        devices: Some(docker_device_rules()),
        ..Default::default()
    };
    let guard = Guard(Cgroup::create(&root, &unique_name(), &resources).unwrap());
    let dir = guard.0.v1_dir(Controller::Devices).unwrap();
    let list = read(&dir, "devices.list");
    assert!(!list.contains("a *:* rwm"), "{list}");
    assert!(
        list.contains("c 1:3 rwm") && list.contains("b *:* m"),
        "{list}"
    );
    assert_default_device_rules_hold(&guard.0);
}

#[test]
fn cgroup2_device_program_is_enforced_and_replaced() {
    assert!(is_root(), "this test needs root (it loads a BPF program)");
    let detected = CgroupRoot::detect().unwrap();
    let mount = detected
        .unified_mount()
        .expect("a cgroup2 mount (hybrid or unified) to attach a device program to");
    assert!(
        std::path::Path::new("/dev/loop0").exists(),
        "needs /dev/loop0"
    );
    let root = CgroupRoot::unified(mount);
    let subtree_before = read(mount, "cgroup.subtree_control");
    let resources = Resources {
        devices: Some(docker_device_rules()),
        ..Default::default()
    };
    let guard = Guard(Cgroup::create(&root, &unique_name(), &resources).unwrap());
    let dir = guard.0.unified_dir().unwrap();
    assert_eq!(berth_cgroups::bpf::device_programs(&dir).unwrap(), 1);
    assert_default_device_rules_hold(&guard.0);

    // An update replaces the program (no second one left behind) and takes effect at once.
    let open = Resources {
        devices: Some(vec![
            berth_cgroups::devices::DeviceRule::parse("a", true).unwrap(),
        ]),
        ..Default::default()
    };
    guard.0.update(&open).unwrap();
    assert_eq!(berth_cgroups::bpf::device_programs(&dir).unwrap(), 1);
    let (code, err) = in_group(&guard.0, "head -c1 /dev/loop0 >/dev/null");
    assert_eq!(code, 0, "allowed after the update: {err}");
    drop(guard);
    let after = read(mount, "cgroup.subtree_control");
    for c in after.split_whitespace() {
        if !subtree_before.split_whitespace().any(|b| b == c) {
            let _ = std::fs::write(mount.join("cgroup.subtree_control"), format!("-{c}"));
        }
    }
}
