//! End-to-end tests of `berth shim`: a real shim process supervising a real container made
//! from a busybox rootfs. They need root and `/bin/busybox` (Debian's busybox-static) and
//! return early without them. Each test has its own directory, container id and cgroup, and a
//! guard that deletes the container and kills the shim even when an assertion fails.
//!
//! The shim runs as the `shim` example binary (built by `cargo test`), or, if that is missing,
//! as this test binary re-executed into [`shim_entry`].

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use berth_common::ErrorKind;
use berth_runtime::container;
use berth_runtime::profile;
use berth_shim_proto::client::{self, ClientError};
use berth_shim_proto::logs::{LogStream, ReadOptions, Reader, rotated_path};
use berth_shim_proto::stdcopy;
use berth_shim_proto::{AttachRequest, ContainerStatus, ExecRequest, ShimClient};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);
const ENTRY_ENV: &str = "BERTH_SHIM_TEST_ARGS";

/// Not a test: the shim's `main` when this binary is re-executed with [`ENTRY_ENV`] set.
#[test]
fn shim_entry() {
    if let Ok(args) = std::env::var(ENTRY_ENV) {
        let args: Vec<String> = serde_json::from_str(&args).unwrap();
        let code = berth_shim::shim_main(args.into_iter().map(Into::into).collect());
        std::process::exit(code);
    }
}

fn privileged() -> bool {
    let ok = rustix_is_root() && Path::new("/bin/busybox").exists();
    if !ok {
        berth_common::skip::skip("needs root and /bin/busybox");
    }
    ok
}

fn rustix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        .unwrap_or(false)
}

/// The command that runs a shim with `args`.
fn shim_command(args: &[String]) -> Command {
    let exe = std::env::current_exe().unwrap();
    let example = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/shim");
    if example.exists() {
        let mut c = Command::new(example);
        c.args(args);
        c
    } else {
        let mut c = Command::new(exe);
        c.args(["--exact", "shim_entry", "--nocapture", "--test-threads=1"]);
        c.env(ENTRY_ENV, serde_json::to_string(args).unwrap());
        c
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    id: String,
    shim: Option<Child>,
    orphan_pid: Option<u32>,
}

impl Fixture {
    fn new(args: &[&str], edit: impl FnOnce(&mut Value)) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("bundle/rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        for d in ["proc", "sys", "dev", "tmp", "etc"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet != "busybox" {
                let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
            }
        }
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = format!("berth-shim-test-{}-{n}", std::process::id());
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut spec = serde_json::to_value(profile::default_spec(&args)).unwrap();
        spec["hostname"] = json!("berth-test");
        edit(&mut spec);
        std::fs::write(
            dir.path().join("bundle/config.json"),
            serde_json::to_string_pretty(&spec).unwrap(),
        )
        .unwrap();
        Fixture {
            dir,
            id,
            shim: None,
            orphan_pid: None,
        }
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn runtime_root(&self) -> PathBuf {
        self.dir.path().join("rt")
    }

    fn log(&self) -> PathBuf {
        self.state_dir().join("container.log")
    }

    fn args(&self, extra: &[&str]) -> Vec<String> {
        let mut a = vec![
            "--id".to_string(),
            self.id.clone(),
            "--bundle".into(),
            self.dir.path().join("bundle").display().to_string(),
            "--state-dir".into(),
            self.state_dir().display().to_string(),
            "--runtime-root".into(),
            self.runtime_root().display().to_string(),
            "--log-path".into(),
            self.log().display().to_string(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }

    /// Starts a shim as a child and waits for its socket.
    fn spawn(&mut self, extra: &[&str]) -> ShimClient {
        let err = std::fs::File::create(self.dir.path().join("shim.err")).unwrap();
        let child = shim_command(&self.args(extra))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap();
        let pid = child.id();
        self.shim = Some(child);
        self.ready(pid)
    }

    fn ready(&self, pid: u32) -> ShimClient {
        match client::wait_ready(&self.state_dir(), Some(pid), Duration::from_secs(20)) {
            Ok(c) => c,
            Err(e) => panic!("shim not ready: {e}; stderr: {}", self.shim_stderr()),
        }
    }

    fn shim_stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("shim.err")).unwrap_or_default()
    }

    fn shim_pid(&self) -> u32 {
        self.shim
            .as_ref()
            .map(|c| c.id())
            .or(self.orphan_pid)
            .unwrap()
    }

    /// Waits for the shim child to exit by itself.
    fn wait_shim_exit(&mut self, within: Duration) -> i32 {
        let child = self.shim.as_mut().unwrap();
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "the shim did not exit by itself");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn entries(&self) -> Vec<(String, LogStream)> {
        Reader::open(&self.log(), ReadOptions::default())
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.log, e.stream)
            })
            .collect()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = container::delete(&self.runtime_root(), &self.id, true);
        if let Some(mut child) = self.shim.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(pid) = self.orphan_pid {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

/// Reads a stream to its end (with a timeout so a bug cannot hang the suite).
fn read_all(mut s: UnixStream) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out
}

/// `VmRSS`, `RssAnon`, `RssFile` of a process, and its `Pss` (shared pages divided among the
/// processes mapping them: what one more shim really costs), in KiB.
fn memory_kib(pid: u32) -> String {
    let field = |file: &str, name: &str| -> String {
        std::fs::read_to_string(format!("/proc/{pid}/{file}"))
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
            .unwrap_or_else(|| "?".into())
    };
    format!(
        "VmRSS {} KiB (RssAnon {}, RssFile {}), Pss {} KiB",
        field("status", "VmRSS:"),
        field("status", "RssAnon:"),
        field("status", "RssFile:"),
        field("smaps_rollup", "Pss:")
    )
}

#[test]
fn start_wait_logs_and_exit_file() {
    if !privileged() {
        return;
    }
    let mut f = Fixture::new(&["sh", "-c", "echo out; echo err >&2; exit 3"], |_| {});
    let c = f.spawn(&[]);
    let st = c.state().unwrap();
    assert_eq!(st.status, ContainerStatus::Created);
    assert!(st.pid > 0);
    c.start().unwrap();
    let exit = c.wait().unwrap();
    assert_eq!(exit.exit_code, 3);
    assert!(!exit.oom_killed);
    assert!(exit.started_at.is_some());
    let mut entries = f.entries();
    entries.sort();
    assert_eq!(
        entries,
        [
            ("err\n".to_string(), LogStream::Stderr),
            ("out\n".to_string(), LogStream::Stdout)
        ]
    );
    let st = c.state().unwrap();
    assert_eq!(st.status, ContainerStatus::Stopped);
    assert_eq!(st.exit.as_ref().map(|e| e.exit_code), Some(3));
    // A second start is refused with a conflict.
    match c.start() {
        Err(e @ ClientError::Shim { .. }) => {
            assert_eq!(berth_common::error::HasKind::kind(&e), ErrorKind::Conflict)
        }
        other => panic!("start after exit: {other:?}"),
    }
    // The runtime container is gone (so the daemon can create it again)…
    assert!(!f.runtime_root().join(&f.id).exists());
    // …and the shim leaves by itself, keeping exit.json.
    assert_eq!(f.wait_shim_exit(Duration::from_secs(15)), 0);
    assert!(!f.state_dir().join(berth_shim_proto::SOCKET_FILE).exists());
    let recorded = client::read_exit(&f.state_dir()).unwrap().unwrap();
    assert_eq!(recorded, exit);
    assert!(ShimClient::connect(&f.state_dir()).is_err());
}

#[test]
fn attach_with_stdcopy_frames() {
    if !privileged() {
        return;
    }
    let mut f = Fixture::new(&["sh", "-c", "echo out; echo err >&2"], |_| {});
    let c = f.spawn(&[]);
    let stream = c
        .attach(&AttachRequest {
            stdout: true,
            stderr: true,
            stdcopy: true,
            ..AttachRequest::default()
        })
        .unwrap();
    c.start().unwrap();
    let wire = read_all(stream);
    let frames = stdcopy::decode_all(&wire).unwrap();
    let (out, err) = stdcopy::demux(&wire).unwrap();
    assert_eq!(out, b"out\n");
    assert_eq!(err, b"err\n");
    assert!(frames.len() >= 2);
    assert_eq!(c.wait().unwrap().exit_code, 0);
}

#[test]
fn stdin_through_attach() {
    if !privileged() {
        return;
    }
    let mut f = Fixture::new(&["cat"], |_| {});
    let c = f.spawn(&["--stdin"]);
    let mut stream = c
        .attach(&AttachRequest {
            stdin: true,
            stdout: true,
            stderr: true,
            stdin_once: true,
            stdcopy: false,
        })
        .unwrap();
    c.start().unwrap();
    stream.write_all(b"hello\nworld\n").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_all(stream), b"hello\nworld\n");
    assert_eq!(c.wait().unwrap().exit_code, 0);
    assert_eq!(f.entries().len(), 2);
}

#[test]
fn kill_state_pause_stats_and_rss() {
    if !privileged() {
        return;
    }
    // The kernel drops signals without a handler sent to a pid namespace's init (a plain
    // `sleep` would ignore SIGTERM, as in Docker without --init), so the init traps it.
    let script = "trap 'exit 143' TERM; echo trapped; while :; do sleep 0.1; done";
    let mut f = Fixture::new(&["sh", "-c", script], |_| {});
    let c = f.spawn(&[]);
    // Killing a created container is refused.
    assert!(matches!(
        c.kill(15, false),
        Err(ClientError::Shim {
            kind: ErrorKind::Conflict,
            ..
        })
    ));
    c.start().unwrap();
    let st = c.state().unwrap();
    assert_eq!(st.status, ContainerStatus::Running);
    assert_eq!(st.shim_pid, f.shim_pid());
    let stats = c.stats().unwrap();
    eprintln!("stats of a running sleep: {stats:?}");
    assert!(stats.pids_current.is_none_or(|p| p >= 1));
    assert!(stats.memory_usage.is_none_or(|m| m > 0));
    c.pause().unwrap();
    assert_eq!(c.state().unwrap().status, ContainerStatus::Paused);
    c.resume().unwrap();
    assert_eq!(c.state().unwrap().status, ContainerStatus::Running);
    eprintln!(
        "shim memory with a running container: {}",
        memory_kib(f.shim_pid())
    );
    // A SIGTERM that arrived before the trap was set would be dropped (no handler in the
    // namespace's init): wait until the script says it is set.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !std::fs::read_to_string(f.log())
        .unwrap_or_default()
        .contains("trapped")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the script never set its trap"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    c.kill(15, false).unwrap();
    let exit = c.wait().unwrap();
    assert_eq!(exit.exit_code, 143);
    assert!(matches!(
        c.kill(9, false),
        Err(ClientError::Shim {
            kind: ErrorKind::Conflict,
            ..
        })
    ));
}

#[test]
fn json_file_rotation() {
    if !privileged() {
        return;
    }
    let mut f = Fixture::new(
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 200 ]; do i=$((i+1)); echo line-$i; done",
        ],
        |_| {},
    );
    let c = f.spawn(&["--log-max-size", "2000", "--log-max-files", "3"]);
    c.start().unwrap();
    assert_eq!(c.wait().unwrap().exit_code, 0);
    let log = f.log();
    assert!(log.exists() && rotated_path(&log, 1).exists() && rotated_path(&log, 2).exists());
    assert!(!rotated_path(&log, 3).exists());
    let lines: Vec<u32> = f
        .entries()
        .into_iter()
        .map(|(l, _)| l.trim().trim_start_matches("line-").parse().unwrap())
        .collect();
    assert_eq!(lines.last(), Some(&200));
    assert!(lines.windows(2).all(|w| w[1] == w[0] + 1), "{lines:?}");
    assert!(lines.len() < 200);
}

#[test]
fn log_driver_none_writes_nothing() {
    if !privileged() {
        return;
    }
    let mut f = Fixture::new(&["echo", "hi"], |_| {});
    let c = f.spawn(&["--log-driver", "none"]);
    let stream = c
        .attach(&AttachRequest {
            stdout: true,
            ..AttachRequest::default()
        })
        .unwrap();
    c.start().unwrap();
    assert_eq!(read_all(stream), b"hi\n");
    assert_eq!(c.wait().unwrap().exit_code, 0);
    assert!(!f.log().exists());
}

#[test]
fn tty_container() {
    if !privileged() {
        return;
    }
    let mut f = Fixture::new(&["tty"], |spec| spec["process"]["terminal"] = json!(true));
    let c = f.spawn(&[]);
    let stream = c
        .attach(&AttachRequest {
            stdout: true,
            stderr: true,
            ..AttachRequest::default()
        })
        .unwrap();
    c.resize(40, 100, None).unwrap();
    c.start().unwrap();
    let out = String::from_utf8(read_all(stream)).unwrap();
    assert!(out.starts_with("/dev/pts/"), "{out:?}");
    assert_eq!(c.wait().unwrap().exit_code, 0);
    let entries = f.entries();
    assert!(entries[0].0.starts_with("/dev/pts/"), "{entries:?}");
}

fn exec_process(args: &[&str]) -> Value {
    json!({
        "args": args,
        "env": ["PATH=/usr/bin:/bin"],
        "cwd": "/",
        "user": {"uid": 0, "gid": 0},
    })
}

#[test]
fn exec_into_running_container() {
    if !privileged() {
        return;
    }
    let mut f = Fixture::new(&["sleep", "100"], |_| {});
    let c = f.spawn(&[]);
    c.start().unwrap();
    let stream = c
        .exec(&ExecRequest {
            exec_id: "e1".into(),
            process: exec_process(&["sh", "-c", "echo hi; echo oops >&2; exit 7"]),
            tty: false,
            stdin: false,
            stdcopy: true,
        })
        .unwrap();
    let (out, err) = stdcopy::demux(&read_all(stream)).unwrap();
    assert_eq!(
        (out.as_slice(), err.as_slice()),
        (&b"hi\n"[..], &b"oops\n"[..])
    );
    assert_eq!(c.exec_wait("e1").unwrap(), 7);
    // A terminal exec, and one fed through stdin.
    let stream = c
        .exec(&ExecRequest {
            exec_id: "e2".into(),
            process: exec_process(&["tty"]),
            tty: true,
            stdin: false,
            stdcopy: false,
        })
        .unwrap();
    let out = String::from_utf8(read_all(stream)).unwrap();
    assert!(out.starts_with("/dev/pts/"), "{out:?}");
    assert_eq!(c.exec_wait("e2").unwrap(), 0);
    let mut stream = c
        .exec(&ExecRequest {
            exec_id: "e3".into(),
            process: exec_process(&["cat"]),
            tty: false,
            stdin: true,
            stdcopy: false,
        })
        .unwrap();
    stream.write_all(b"piped\n").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_all(stream), b"piped\n");
    assert_eq!(c.exec_wait("e3").unwrap(), 0);
    assert!(matches!(
        c.exec_wait("nope"),
        Err(ClientError::Shim {
            kind: ErrorKind::NotFound,
            ..
        })
    ));
    // Exec output is not logged.
    assert!(f.entries().is_empty());
    c.kill(9, true).unwrap();
    assert_eq!(c.wait().unwrap().exit_code, 137);
}

#[test]
fn shim_survives_its_parent() {
    if !privileged() {
        return;
    }
    let mut f = Fixture::new(&["sleep", "100"], |_| {});
    // An intermediate shell starts the shim in the background and exits at once.
    let cmd = shim_command(&f.args(&[]));
    let mut script = String::from("\"$@\" </dev/null >/dev/null 2>&1 & echo $!");
    for (k, v) in cmd.get_envs() {
        if let (k, Some(v)) = (k.to_string_lossy(), v) {
            script = format!("export {k}='{}'; {script}", v.to_string_lossy());
        }
    }
    let mut sh = Command::new("/bin/sh");
    sh.arg("-c").arg(script).arg("sh").arg(cmd.get_program());
    sh.args(cmd.get_args());
    let out = sh.output().unwrap();
    assert!(out.status.success());
    let pid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    f.orphan_pid = Some(pid);
    let c = f.ready(pid);
    c.start().unwrap();
    let st = c.state().unwrap();
    assert_eq!(st.status, ContainerStatus::Running);
    assert_eq!(st.shim_pid, pid);
    // A new client (a "restarted daemon") finds it and stops the container.
    let again = ShimClient::connect(&f.state_dir()).unwrap();
    again.kill(9, false).unwrap();
    assert_eq!(again.wait().unwrap().exit_code, 137);
    again.shutdown().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while client::live_shim_pid(&f.state_dir()).is_some() {
        assert!(
            Instant::now() < deadline,
            "the shim did not exit after shutdown"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        client::read_exit(&f.state_dir())
            .unwrap()
            .unwrap()
            .exit_code,
        137
    );
}

#[test]
fn shutdown_of_a_created_container() {
    if !privileged() {
        return;
    }
    let mut f = Fixture::new(&["sleep", "100"], |_| {});
    let c = f.spawn(&[]);
    c.shutdown().unwrap();
    assert_eq!(f.wait_shim_exit(Duration::from_secs(10)), 0);
    assert!(!f.runtime_root().join(&f.id).exists());
    assert!(client::read_exit(&f.state_dir()).unwrap().is_some());
}

#[test]
fn create_failure_is_reported() {
    if !privileged() {
        return;
    }
    let mut f = Fixture::new(&["true"], |spec| spec["root"]["path"] = json!("missing"));
    let child = shim_command(&f.args(&[]))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    f.shim = Some(child);
    match client::wait_ready(&f.state_dir(), Some(pid), Duration::from_secs(20)) {
        Err(ClientError::CreateFailed(e)) => assert!(e.message.contains("missing"), "{e:?}"),
        other => panic!("expected a create failure, got {other:?}"),
    }
    assert_eq!(f.wait_shim_exit(Duration::from_secs(10)), 1);
}
