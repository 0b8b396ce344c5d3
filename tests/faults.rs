//! Faults: the daemon killed at many points of `run -d`, a shim killed under its container,
//! hundreds of waiting clients, a restart racing with new containers. After each, every shim,
//! container process, cgroup, runtime state directory, network namespace, veth and writable
//! layer is either tracked by a record or gone, and `rm -f` removes everything. Needs root.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Daemon, require_root};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

fn daemon() -> Daemon {
    require_root("containers need namespaces, mounts and cgroups");
    let d = Daemon::start();
    d.import_busybox("busybox");
    d
}

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim_start().to_string()))
        .is_some_and(|r| !r.starts_with('Z') && !r.starts_with('X'))
}

/// Pids of live `berth shim` processes serving this daemon's root.
fn shim_processes(root: &Path) -> BTreeSet<i64> {
    let marker = format!("{}/shims/", root.display());
    names(Path::new("/proc"))
        .into_iter()
        .filter_map(|p| p.parse::<i64>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .is_ok_and(|c| c.contains(" shim ") && c.contains(&marker))
        })
        .filter(|pid| alive(*pid))
        .collect()
}

/// Whether cgroup `berth/<id>` exists in any hierarchy.
fn cgroup_exists(id: &str) -> bool {
    names(Path::new("/sys/fs/cgroup")).iter().any(|h| {
        Path::new("/sys/fs/cgroup")
            .join(h)
            .join("berth")
            .join(id)
            .exists()
    })
}

/// Veths enslaved to `bridge`.
fn veths_on(bridge: &str) -> usize {
    names(&Path::new("/sys/class/net").join(bridge).join("brif")).len()
}

/// Every record: id → (status, pid).
fn records(d: &Daemon) -> Vec<(String, String, i64)> {
    let r = d.http("GET", "/containers/json?all=1", b"");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let id = c["Id"].as_str().unwrap().to_string();
            let i = d.http("GET", &format!("/containers/{id}/json"), b"").json();
            let status = i["State"]["Status"].as_str().unwrap_or("").to_string();
            (id, status, i["State"]["Pid"].as_i64().unwrap_or(0))
        })
        .collect()
}

/// What is on the host for this daemon that no record accounts for; empty when consistent.
fn untracked(d: &Daemon) -> Vec<String> {
    let root = d.root();
    let recs = records(d);
    let ids: BTreeSet<String> = recs.iter().map(|r| r.0.clone()).collect();
    let running: BTreeSet<String> = recs
        .iter()
        .filter(|r| r.1 == "running" || r.1 == "paused")
        .map(|r| r.0.clone())
        .collect();
    let mut problems = Vec::new();
    for (id, status, pid) in &recs {
        let is_running = running.contains(id);
        if is_running && !alive(*pid) {
            problems.push(format!("{id} is {status} but its process {pid} is gone"));
        }
        if !is_running && cgroup_exists(id) {
            problems.push(format!("{id} is {status} but its cgroup exists"));
        }
    }
    for id in names(&root.join("runtime")) {
        if !running.contains(&id) {
            problems.push(format!("runtime state of {id}, which is not running"));
        }
    }
    for id in names(&root.join("netns")) {
        if !running.contains(&id) {
            problems.push(format!("network namespace of {id}, which is not running"));
        }
    }
    for key in names(&root.join("overlay2/writable")) {
        if !ids.contains(&key) {
            problems.push(format!("writable layer {key} without a container"));
        }
    }
    let shims = shim_processes(&root);
    if shims.len() != running.len() {
        problems.push(format!(
            "{} shim processes for {} running containers",
            shims.len(),
            running.len()
        ));
    }
    let bridge = std::fs::read_to_string(d.dir.path().join("bridge-name")).unwrap();
    let veths = veths_on(bridge.trim());
    if veths > running.len() {
        problems.push(format!(
            "{veths} veths for {} running containers",
            running.len()
        ));
    }
    problems
}

/// Polls until nothing is untracked (restore runs beside the API), or fails with what is.
fn assert_consistent(d: &Daemon, when: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let problems = untracked(d);
        if problems.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{when}: untracked state:\n{}",
            problems.join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `rm -f` of every container, then nothing of them may be left on the host.
fn assert_removal_leaves_nothing(d: &Daemon, seen: &BTreeSet<String>) {
    for (id, _, _) in records(d) {
        let r = d.http("DELETE", &format!("/containers/{id}?force=1"), b"");
        assert_eq!(r.status, 204, "rm -f {id}: {}", r.text());
    }
    let root = d.root();
    assert!(records(d).is_empty());
    for dir in ["runtime", "netns", "overlay2/writable", "containers"] {
        assert_eq!(names(&root.join(dir)), BTreeSet::new(), "{dir} after rm -f");
    }
    assert_eq!(shim_processes(&root), BTreeSet::new(), "shims after rm -f");
    for id in seen {
        assert!(!cgroup_exists(id), "cgroup of {id} after rm -f");
    }
    // The kernel deletes a veth with its namespace, a moment after the last user is gone.
    let bridge = std::fs::read_to_string(d.dir.path().join("bridge-name")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while veths_on(bridge.trim()) > 0 {
        assert!(
            Instant::now() < deadline,
            "{} veths after rm -f",
            veths_on(bridge.trim())
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_daemon_killed_during_run_leaves_nothing_untracked() {
    let mut d = daemon();
    let mut seen = BTreeSet::new();
    // Kill points spread over create, shim launch, container create, start and the record.
    for (round, delay_ms) in [0u64, 15, 30, 45, 60, 90, 120, 160].into_iter().enumerate() {
        let runs: Vec<_> = (0..5)
            .map(|_| {
                d.berth_cmd(&["run", "-d", "busybox", "sleep", "1000"])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        std::thread::sleep(Duration::from_millis(delay_ms));
        d.stop_with(9);
        for mut r in runs {
            let _ = r.wait();
        }
        d.spawn();
        assert_consistent(&d, &format!("round {round}, killed after {delay_ms} ms"));
        for (id, status, _) in records(&d) {
            seen.insert(id.clone());
            if status == "created" {
                // An interrupted start leaves a container that starts normally.
                let r = d.http("POST", &format!("/containers/{id}/start"), b"");
                assert_eq!(r.status, 204, "start {id} after the crash: {}", r.text());
            }
        }
        assert_consistent(&d, &format!("round {round}, after starting"));
    }
    assert_removal_leaves_nothing(&d, &seen);
}

#[test]
fn a_dead_shim_takes_its_container_and_frees_its_address_last() {
    let d = daemon();
    let id = d
        .ok(&[
            "run",
            "-d",
            "--restart",
            "always",
            "busybox",
            "sleep",
            "1000",
        ])
        .trim()
        .to_string();
    let inspect =
        |id: &str| -> Value { d.http("GET", &format!("/containers/{id}/json"), b"").json() };
    let before = inspect(&id);
    let pid = before["State"]["Pid"].as_i64().unwrap();
    let ip = before["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    let shim: i64 =
        std::fs::read_to_string(d.root().join("shims").join(&id[..16]).join("shim.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
    std::process::Command::new("kill")
        .args(["-9", &shim.to_string()])
        .status()
        .unwrap();
    // The container dies with its shim and is restarted (policy always) with a new shim.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let i = inspect(&id);
        let restarted = i["RestartCount"].as_i64() == Some(1) && i["State"]["Status"] == "running";
        if restarted {
            break;
        }
        assert!(Instant::now() < deadline, "not restarted: {}", i["State"]);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive(pid), "the container's process outlived its shim");
    assert!(!alive(shim));
    // One address, one holder: a new container gets another one.
    let other = d
        .ok(&["run", "-d", "busybox", "sleep", "1000"])
        .trim()
        .to_string();
    let other_ip = inspect(&other)["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    let now_ip = inspect(&id)["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(other_ip, now_ip, "two containers hold {now_ip}");
    eprintln!("address before {ip}, after the restart {now_ip}, other {other_ip}");
    assert_consistent(&d, "after the shim kill");
    let seen = BTreeSet::from([id, other]);
    assert_removal_leaves_nothing(&d, &seen);
}

/// The daemon's open descriptors and threads.
fn daemon_usage(d: &Daemon) -> (usize, usize) {
    let pid = d.child.as_ref().unwrap().id();
    let fds = names(Path::new(&format!("/proc/{pid}/fd"))).len();
    let threads = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (fds, threads)
}

#[test]
fn hundreds_of_waiting_clients_hold_no_threads_and_leave_with_their_clients() {
    let d = daemon();
    let id = d
        .ok(&["run", "-d", "busybox", "sleep", "1000"])
        .trim()
        .to_string();
    let (fds_before, _) = daemon_usage(&d);
    // 600 waits on one container, more than the blocking pool's 512 threads; and 40
    // attaches to a container that never starts.
    let created = d.ok(&["create", "busybox", "true"]).trim().to_string();
    let mut clients = Vec::new();
    for i in 0..640 {
        let mut s = UnixStream::connect(d.socket()).unwrap();
        let req = if i < 600 {
            format!("POST /containers/{id}/wait HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        } else {
            format!(
                "POST /containers/{created}/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
            )
        };
        s.write_all(req.as_bytes()).unwrap();
        clients.push(s);
    }
    std::thread::sleep(Duration::from_millis(500));
    // Every other endpoint still answers at once.
    let t = Instant::now();
    let r = d.http("GET", "/containers/json?all=1", b"");
    assert_eq!(r.status, 200);
    let r = d.http("GET", &format!("/containers/{id}/json"), b"");
    assert_eq!(r.status, 200);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "the API stalled: {:?}",
        t.elapsed()
    );
    let (_, threads) = daemon_usage(&d);
    assert!(
        threads < 64,
        "{threads} daemon threads with 640 waiting clients"
    );
    // Clients that go away take their waits along.
    drop(clients);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (fds, _) = daemon_usage(&d);
        if fds <= fds_before + 5 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{fds} descriptors open after the clients left (before: {fds_before})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // And a wait still works.
    let mut w = UnixStream::connect(d.socket()).unwrap();
    w.write_all(
        format!("POST /containers/{id}/wait HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    d.ok(&["kill", &id]);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut w, &mut out).unwrap();
    assert!(out.contains("\"StatusCode\":137"), "{out}");
}

#[test]
fn a_restarted_daemon_does_not_touch_containers_made_while_it_restores() {
    let mut d = daemon();
    for _ in 0..10 {
        d.ok(&["run", "-d", "busybox", "sleep", "1000"]);
    }
    for _ in 0..10 {
        d.ok(&["create", "busybox", "true"]);
    }
    d.stop_with(9);
    d.spawn();
    // At once, while restore runs: new containers on the default bridge.
    let runs: Vec<_> = (0..10)
        .map(|_| {
            d.berth_cmd(&["run", "-d", "busybox", "sleep", "1000"])
                .stderr(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for r in runs {
        let out = r.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "run during restore failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_consistent(&d, "after the restore");
    let running = records(&d).iter().filter(|r| r.1 == "running").count();
    assert_eq!(running, 20, "every container made during the restore runs");
    let seen = records(&d).into_iter().map(|r| r.0).collect();
    assert_removal_leaves_nothing(&d, &seen);
}

/// Fills the file system under `dir` until not a byte more fits.
fn fill_up(dir: &Path) {
    let mut f = std::fs::File::create(dir.join("filler")).unwrap();
    let chunk = vec![0u8; 1 << 20];
    while f.write_all(&chunk).is_ok() {}
    let small = vec![0u8; 512];
    while f.write_all(&small).is_ok() {}
    let _ = f.sync_all();
}

#[test]
fn a_full_disk_is_recovered_through_the_api() {
    require_root("containers need namespaces, mounts and cgroups");
    let d = Daemon::start_on_tmpfs(96);
    d.import_busybox("busybox");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "chatty",
        "busybox",
        "sh",
        "-c",
        "while true; do echo tick; sleep 0.02; done",
    ]);
    d.ok(&["run", "-d", "--name", "quiet", "busybox", "sleep", "1000"]);
    d.ok(&["create", "--name", "idle", "busybox", "true"]);
    fill_up(&d.root());
    std::thread::sleep(Duration::from_millis(500));

    // exec needs no record write.
    d.ok(&["exec", "quiet", "true"]);
    // A rename either happens or does not: never half.
    let renamed = d.berth(&["rename", "quiet", "calm"]).status.success();
    let name = if renamed { "calm" } else { "quiet" };
    let other = if renamed { "quiet" } else { "calm" };
    let ps = d.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(ps.lines().any(|l| l == name), "{ps}");
    assert!(!ps.lines().any(|l| l == other), "{ps}");
    d.ok(&["inspect", name]);
    // The log that cannot be written says so (once its last page is full).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let inspect = d.ok(&["inspect", "--format", "{{json .}}", "chatty"]);
        let v: Value = serde_json::from_str(&inspect).unwrap();
        let err = v["LogError"].as_str().unwrap_or_default().to_string();
        if err.contains("No space left on device") {
            break;
        }
        assert!(Instant::now() < deadline, "LogError: {err:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        d.log().contains("losing output"),
        "the daemon's log says so"
    );
    // Stopping, removing and pruning free space without needing any first.
    d.ok(&["stop", "-t", "1", name]);
    d.ok(&["rm", "-f", "chatty"]);
    d.ok(&["rm", name]);
    d.ok(&["container", "prune", "-f"]);
    d.ok(&["rmi", "-f", "busybox"]);
    let ps = d.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert_eq!(ps.trim(), "", "everything went: {ps}");
    assert!(d.ok(&["images", "-q"]).trim().is_empty());
    // With room again, the daemon works as before.
    std::fs::remove_file(d.root().join("filler")).unwrap();
    d.import_busybox("busybox");
    assert_eq!(
        d.ok(&["run", "--rm", "busybox", "echo", "back"]).trim(),
        "back"
    );
    assert!(
        d.root().join("reserve").exists(),
        "the reserve is taken again"
    );
}

#[test]
fn execs_leave_no_trace_in_the_record_and_none_across_restarts() {
    let mut d = daemon();
    let id = d
        .ok(&["run", "-d", "busybox", "sleep", "1000"])
        .trim()
        .to_string();
    let record = d.root().join("containers").join(&id).join("container.json");
    let size_before = std::fs::metadata(&record).unwrap().len();
    for _ in 0..100 {
        d.ok(&["exec", &id, "true"]);
    }
    let size_after = std::fs::metadata(&record).unwrap().len();
    assert!(
        size_after <= size_before + 64,
        "the record grew with execs: {size_before} -> {size_after} bytes"
    );
    let ids = d.ok(&["inspect", "--format", "{{len .ExecIDs}}", &id]);
    assert_eq!(ids.trim(), "100", "recent execs are still listed");
    // After a restart the execs are forgotten (as Docker's), and none is listed as if alive.
    d.stop_with(9);
    d.spawn();
    let v: Value = d.http("GET", &format!("/containers/{id}/json"), b"").json();
    assert!(
        v["ExecIDs"].is_null(),
        "stale exec ids after a restart: {}",
        v["ExecIDs"]
    );
}

#[test]
fn containers_can_be_killed_and_removed_the_moment_the_daemon_is_back() {
    let mut d = daemon();
    let ids: Vec<String> = (0..3)
        .map(|_| {
            d.ok(&["run", "-d", "busybox", "sleep", "100"])
                .trim()
                .to_string()
        })
        .collect();
    d.stop_with(15);
    d.spawn();
    // Straight away, before the restore pass may have reached them: each acts on a
    // re-attached container (an exit nobody reported used to hold `rm -f` for 30 s and fail).
    d.ok(&["kill", &ids[0]]);
    let state = d.ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        &ids[0],
    ]);
    assert_eq!(state.trim(), "exited 137");
    d.ok(&["rm", "-f", &ids[1]]);
    d.ok(&["stop", "-t", "0", &ids[2]]);
    d.ok(&["rm", &ids[0], &ids[2]]);
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert_consistent(&d, "after kill, rm -f and stop at restart");
}
