//! `berth oci`, the runc-compatible CLI of the built-in runtime, driven through the shipped
//! binary the way scripts drive runc: spec, create, state, start, kill, delete, run.

mod common;

use common::{berth_bin, busybox_tar, stderr, stdout};
use std::path::Path;
use std::process::{Command, Output};

/// Force-deletes the container when the test ends, also when it fails half way, so no
/// container, cgroup or mount outlives the test.
struct Cleanup<'a>(&'a Path, String);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = oci(self.0, &["delete", "--force", &self.1]);
        // The runtime leaves the shared `berth` parent group (as runc does): take it if unused.
        common::remove_cgroup_dirs(&self.1);
    }
}

fn oci(state: &Path, args: &[&str]) -> Output {
    Command::new(berth_bin())
        .arg("oci")
        .arg("--root")
        .arg(state)
        .args(args)
        .output()
        .expect("run berth oci")
}

/// A bundle with the busybox rootfs and `berth oci spec`'s config, its `process.args` replaced.
fn bundle(dir: &Path, args: &[&str]) -> std::path::PathBuf {
    let b = dir.join("bundle");
    std::fs::create_dir_all(b.join("rootfs")).unwrap();
    let st = Command::new("tar")
        .arg("-C")
        .arg(b.join("rootfs"))
        .arg("-xf")
        .arg(busybox_tar())
        .status()
        .unwrap();
    assert!(st.success());
    let out = Command::new(berth_bin())
        .args(["oci", "spec", "--bundle"])
        .arg(&b)
        .output()
        .unwrap();
    assert!(out.status.success(), "oci spec: {}", stderr(&out));
    let path = b.join("config.json");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    spec["process"]["args"] = serde_json::json!(args);
    spec["process"]["terminal"] = serde_json::json!(false);
    spec["root"]["readonly"] = serde_json::json!(false);
    std::fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
    b
}

#[test]
fn run_propagates_exit_codes_and_sees_its_own_pid_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let b = bundle(dir.path(), &["sh", "-c", "test $$ = 1 && exit 3"]);
    let id = format!("berth-e2e-run-{}", std::process::id());
    let _cleanup = Cleanup(&state, id.clone());
    let out = oci(&state, &["run", "--bundle", b.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", stderr(&out));
    // `run` deletes the container when it exits, like runc.
    let out = oci(&state, &["state", &id]);
    assert!(!out.status.success());
}

#[test]
fn create_state_start_kill_delete() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let b = bundle(dir.path(), &["sleep", "30"]);
    let id = format!("berth-e2e-life-{}", std::process::id());
    let _cleanup = Cleanup(&state, id.clone());
    // The container inherits create's stdio (as with runc), so give it files, not pipes the
    // harness would wait on until the container exits.
    let log = dir.path().join("create.log");
    let status = Command::new(berth_bin())
        .arg("oci")
        .arg("--root")
        .arg(&state)
        .args(["create", "--bundle", b.to_str().unwrap(), &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.path().join("create.err")).unwrap())
        .status()
        .unwrap();
    let err = std::fs::read_to_string(dir.path().join("create.err")).unwrap_or_default();
    assert!(status.success(), "create: {err}");
    let s: serde_json::Value =
        serde_json::from_slice(&oci(&state, &["state", &id]).stdout).unwrap();
    assert_eq!(s["status"], "created");
    assert_eq!(s["id"], id.as_str());
    assert!(s["pid"].as_i64().unwrap() > 0);
    assert!(oci(&state, &["start", &id]).status.success());
    let s: serde_json::Value =
        serde_json::from_slice(&oci(&state, &["state", &id]).stdout).unwrap();
    assert_eq!(s["status"], "running", "{s}");
    let out = oci(&state, &["delete", &id]);
    assert!(
        !out.status.success(),
        "deleting a running container must fail without --force"
    );
    assert!(oci(&state, &["kill", &id, "KILL"]).status.success());
    let mut stopped = false;
    for _ in 0..100 {
        let s: serde_json::Value =
            serde_json::from_slice(&oci(&state, &["state", &id]).stdout).unwrap();
        if s["status"] == "stopped" {
            stopped = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(stopped, "container did not stop after SIGKILL");
    let out = oci(&state, &["delete", &id]);
    assert!(out.status.success(), "delete: {}", stderr(&out));
    assert!(!stdout(&oci(&state, &["list"])).contains(&id));
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(b.to_str().unwrap()),
        "a mount of the bundle leaked into the host"
    );
}

#[test]
fn foreground_run_forwards_signals_to_the_container() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let ready = "/tmp/ready";
    let script = format!("trap 'exit 7' TERM; touch {ready}; while true; do sleep 0.05; done");
    let b = bundle(dir.path(), &["sh", "-c", &script]);
    let id = format!("berth-e2e-sig-{}", std::process::id());
    let _cleanup = Cleanup(&state, id.clone());
    let mut child = Command::new(berth_bin())
        .arg("oci")
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle", b.to_str().unwrap(), &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the trap is installed (the file appears in the container's /tmp).
    let marker = b.join("rootfs/tmp/ready");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !marker.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(marker.exists(), "container never became ready");
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(7),
        "SIGTERM was not forwarded: {status}"
    );
}

#[test]
fn the_shim_is_part_of_the_binary() {
    let out = Command::new(berth_bin())
        .args(["shim", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let help = stdout(&out);
    assert!(
        help.contains("--bundle") && help.contains("--state-dir"),
        "{help}"
    );
}

#[test]
fn hooks_run_on_the_host_and_pid_file_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let b = bundle(dir.path(), &["sh", "-c", "exit 0"]);
    // Each hook appends its name and the state JSON it was given on stdin to a host file.
    let record = dir.path().join("hooks.log");
    let hook = |name: &str| {
        serde_json::json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("printf '{name} ' >> {r}; cat >> {r}; echo >> {r}", r = record.display())]
        })
    };
    let path = b.join("config.json");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    spec["hooks"] = serde_json::json!({
        "createRuntime": [hook("createRuntime")],
        "poststart": [hook("poststart")],
        "poststop": [hook("poststop")],
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
    let id = format!("berth-e2e-hooks-{}", std::process::id());
    let _cleanup = Cleanup(&state, id.clone());
    let pid_file = dir.path().join("init.pid");
    let out = oci(
        &state,
        &[
            "run",
            "--bundle",
            b.to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            &id,
        ],
    );
    assert!(out.status.success(), "run: {}", stderr(&out));
    let log = std::fs::read_to_string(&record).unwrap();
    let order: Vec<&str> = log.lines().filter_map(|l| l.split(' ').next()).collect();
    assert_eq!(order, ["createRuntime", "poststart", "poststop"], "{log}");
    for line in log.lines() {
        let state_json = line.split_once(' ').unwrap().1;
        let s: serde_json::Value =
            serde_json::from_str(state_json).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(s["id"], id.as_str(), "{line}");
    }
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(pid > 1, "pid file holds {pid}");
}
