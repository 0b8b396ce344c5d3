//! Starting `berth shim` processes.
//!
//! The daemon never forks a container itself: it starts one shim per container run, detached
//! in its own session so neither a terminal hang-up nor the daemon's death reaches it, and talks
//! to it through `berth-shim-proto`. A daemon restarted after `kill -9` finds live shims by
//! their state directories (`shims/<id prefix>`; short, because the socket path inside must fit
//! the 108 bytes of a Unix socket address).

use crate::EngineError;
use berth_shim_proto::ShimClient;
use berth_shim_proto::client::{self, ClientError};
use berth_shim_proto::launch::{SealedExe, spawn_detached};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a shim may take to create its container.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// The shim's own diagnostics (it has no terminal).
pub const SHIM_LOG: &str = "shim.log";

/// Where container output goes, from `--log-driver` and `--log-opt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// `json-file` or `none`.
    pub driver: String,
    /// Rotate at this many bytes (0: never).
    pub max_size: u64,
    /// Files kept in all.
    pub max_files: u32,
}

/// How the engine reaches the runtime: starting a shim per container run, finding live ones,
/// and removing what a dead run left. Everything after the launch goes through the shim
/// protocol ([`ShimClient`]), whoever serves it: [`ShimLauncher`] starts real `berth shim`
/// processes; engine tests put an in-process fake behind this trait, so the life cycle is
/// tested without root.
pub trait Shims: Send + Sync + std::fmt::Debug {
    /// Starts a shim that creates container `id` from `bundle`, and waits until the container
    /// is created. Returns a client and the shim's pid.
    fn launch(
        &self,
        id: &str,
        bundle: &Path,
        log_path: &Path,
        log: &LogSettings,
        stdin: bool,
    ) -> Result<(ShimClient, u32), EngineError>;

    /// Parent of the shims' state directories.
    fn shims_dir(&self) -> &Path;

    /// The runtime's state root.
    fn runtime_root(&self) -> &Path;

    /// The state directory of container `id`'s shim.
    fn state_dir(&self, id: &str) -> PathBuf {
        self.shims_dir().join(&id[..id.len().min(16)])
    }

    /// A client for the shim of `id` (which may or may not be alive).
    fn client(&self, id: &str) -> ShimClient {
        ShimClient::new(&self.state_dir(id))
    }

    /// The pid of the shim serving `state_dir`, if it is alive.
    fn live_pid(&self, state_dir: &Path) -> Option<u32> {
        client::live_shim_pid(state_dir)
    }

    /// Kills the shim `pid` (found by [`Shims::live_pid`]) that nothing tracks any more.
    fn kill_shim(&self, pid: u32) {
        if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
        }
    }

    /// Kills what is left of container `id` and removes its runtime state and cgroup
    /// (`cgroup_path`, used when the state file was never written). Nothing left is success.
    fn delete_runtime_state(&self, id: &str, cgroup_path: &str) -> Result<(), EngineError>;
}

/// Launches `berth shim` processes.
#[derive(Debug, Clone)]
pub struct ShimLauncher {
    /// The `berth` executable (run as `berth shim …`).
    pub exe: PathBuf,
    /// The same, sealed against writes (see `berth_shim_proto::launch`); `None` when neither a
    /// read-only mount nor a sealed copy could be made, and shims run from `exe`.
    pub sealed: Option<Arc<SealedExe>>,
    /// Parent of the shims' state directories.
    pub shims_dir: PathBuf,
    /// The runtime's state root.
    pub runtime_root: PathBuf,
    /// Reaps exited shims (through their pidfds) without a thread per shim.
    pub supervisor: Arc<crate::supervisor::Supervisor>,
}

impl Shims for ShimLauncher {
    fn shims_dir(&self) -> &Path {
        &self.shims_dir
    }

    fn runtime_root(&self) -> &Path {
        &self.runtime_root
    }

    fn launch(
        &self,
        id: &str,
        bundle: &Path,
        log_path: &Path,
        log: &LogSettings,
        stdin: bool,
    ) -> Result<(ShimClient, u32), EngineError> {
        let state = self.state_dir(id);
        // What a previous run left (exit.json, a stale socket) must not be mistaken for this
        // run's; no shim of this container is alive when start gets here.
        if state.exists() {
            std::fs::remove_dir_all(&state).map_err(|e| EngineError::io(&state, e))?;
        }
        std::fs::create_dir_all(&state).map_err(|e| EngineError::io(&state, e))?;
        std::fs::create_dir_all(&self.runtime_root)
            .map_err(|e| EngineError::io(&self.runtime_root, e))?;
        let diag = std::fs::File::create(state.join(SHIM_LOG))
            .map_err(|e| EngineError::io(state.join(SHIM_LOG), e))?;
        let mut cmd = Command::new(self.program());
        cmd.arg0("berth")
            .arg("shim")
            .arg("--id")
            .arg(id)
            .arg("--bundle")
            .arg(bundle)
            .arg("--state-dir")
            .arg(&state)
            .arg("--runtime-root")
            .arg(&self.runtime_root)
            .arg("--log-path")
            .arg(log_path)
            .arg("--log-driver")
            .arg(&log.driver)
            .arg("--log-max-size")
            .arg(log.max_size.to_string())
            .arg("--log-max-files")
            .arg(log.max_files.to_string());
        if stdin {
            cmd.arg("--stdin");
        }
        // The shim's stdout is a pipe on which it announces readiness (see `await_ready`).
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(diag))
            .env_remove("RUST_LOG");
        let mut child = spawn_detached(&mut cmd).map_err(|e| EngineError::io(&self.exe, e))?;
        let pid = child.id();
        let ready_pipe = child.stdout.take();
        // Reap the shim when it exits (its pidfd becomes readable); if the daemon dies first,
        // init adopts it.
        self.reap_when_done(child);
        if let Some(pipe) = ready_pipe {
            // Returns at the shim's byte or its exit; `wait_ready` then answers at once.
            await_ready(pipe, READY_TIMEOUT);
        }
        match client::wait_ready(&state, Some(pid), READY_TIMEOUT) {
            Ok(c) => Ok((c, pid)),
            Err(ClientError::CreateFailed(e)) => Err(EngineError::start_failed(e.message, e.errno)),
            Err(ClientError::ShimDied(_)) => {
                let diag = std::fs::read_to_string(state.join(SHIM_LOG)).unwrap_or_default();
                Err(EngineError::start_failed(
                    format!("shim exited before creating the container: {}", diag.trim()),
                    None,
                ))
            }
            Err(e) => Err(EngineError::start_failed(e.to_string(), e.errno())),
        }
    }
    /// Through the runtime's command line, `berth oci delete --force`: the engine never links
    /// the runtime.
    fn delete_runtime_state(&self, id: &str, cgroup_path: &str) -> Result<(), EngineError> {
        if !self.runtime_root.join(id).exists() {
            return Ok(());
        }
        let out = Command::new(self.program())
            .arg0("berth")
            .arg("oci")
            .arg("--root")
            .arg(&self.runtime_root)
            .args(["delete", "--force", "--cgroup", cgroup_path, id])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| EngineError::io(&self.exe, e))?;
        if out.status.success() || !self.runtime_root.join(id).exists() {
            return Ok(());
        }
        Err(EngineError::Conflict(format!(
            "cannot remove what is left of container {id}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl ShimLauncher {
    /// The executable to run: the sealed view of the binary when there is one.
    fn program(&self) -> PathBuf {
        self.sealed
            .as_ref()
            .map_or_else(|| self.exe.clone(), |s| s.program())
    }

    fn reap_when_done(&self, mut child: std::process::Child) {
        let pidfd = rustix::process::Pid::from_raw(child.id() as i32)
            .ok_or(rustix::io::Errno::SRCH)
            .and_then(|pid| rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()));
        match pidfd {
            Ok(fd) => self.supervisor.on_readable(fd, move |_| {
                let _ = child.wait();
            }),
            // A kernel without pidfds (before 5.3): a job thread waits instead.
            Err(_) => self.supervisor.spawn(move || {
                let _ = child.wait();
            }),
        }
    }
}

/// Blocks until the shim writes its readiness byte or closes its stdout (it exited: failed), or
/// `timeout` passes. Replaces polling for the socket file every few milliseconds, which put
/// half a poll interval on average on every container start.
fn await_ready(mut pipe: std::process::ChildStdout, timeout: Duration) {
    use rustix::event::{PollFd, PollFlags, poll};
    use std::io::Read;
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        let spec = rustix::event::Timespec::try_from(left).unwrap_or(rustix::event::Timespec {
            tv_sec: 1,
            tv_nsec: 0,
        });
        let mut fds = [PollFd::new(&pipe, PollFlags::IN)];
        let polled = poll(&mut fds, Some(&spec));
        match polled {
            Ok(0) => return,
            Ok(_) => {
                let mut byte = [0u8; 1];
                let _ = pipe.read(&mut byte);
                return;
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return,
        }
    }
}
