//! Freezing, thawing and killing every process of a group.
//!
//! `docker pause` is a freeze; `docker kill`/`rm -f` and the end of a container's life need
//! every process gone, including ones a container forked and orphaned. Killing by cgroup rather
//! than by process tree is what makes that reliable: v2 has `cgroup.kill` (one atomic write); on
//! v1 we freeze the group so nothing can fork while we read its member list, SIGKILL each
//! member, thaw, and repeat until the list is empty.

use crate::controller::Controller;
use crate::error::{Error, Result};
use crate::fsio;
use crate::manager::Cgroup;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long [`Cgroup::freeze`] and [`Cgroup::thaw`] wait for the kernel to report the new state.
pub const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`Cgroup::kill_all`] keeps killing before giving up on an unkillable group.
pub const KILL_TIMEOUT: Duration = Duration::from_secs(10);
/// The shorter freeze attempt used inside the kill loop: if freezing stalls (tasks in
/// uninterruptible sleep), killing without it is better than waiting.
const KILL_FREEZE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a hybrid host's `cgroup.kill` is given before the v1 loop takes over.
const HYBRID_KILL_WAIT: Duration = Duration::from_secs(1);
/// v1 freezing can stall in `FREEZING` when tasks join meanwhile; runc re-requests the state
/// periodically, and so do we.
const FREEZE_REWRITE: Duration = Duration::from_millis(50);

impl Cgroup {
    /// Stops every process in the group (`docker pause`), returning once the kernel reports the
    /// whole group frozen. On timeout the group is thawed again and [`Error::Timeout`] returned.
    pub fn freeze(&self) -> Result<()> {
        self.set_frozen(true, FREEZE_TIMEOUT)
    }

    /// Resumes a frozen group (`docker unpause`).
    pub fn thaw(&self) -> Result<()> {
        self.set_frozen(false, FREEZE_TIMEOUT)
    }

    /// Whether the group is currently frozen.
    pub fn is_frozen(&self) -> Result<bool> {
        if self.is_v2() {
            let file = self.v2_dir()?.join("cgroup.events");
            let text = fsio::read(&file)?;
            Ok(fsio::keyed(&file, &text, "frozen")? == Some(1))
        } else {
            let file = self.freezer_dir()?.join("freezer.state");
            Ok(fsio::read(&file)?.trim() == "FROZEN")
        }
    }

    /// SIGKILLs every process in the group and waits until the group is empty. Zombies leave
    /// `cgroup.procs` as soon as they exit, so the caller need not reap its own children first.
    pub fn kill_all(&self) -> Result<()> {
        if let Some(dir) = self.unified_dir() {
            let kill = dir.join("cgroup.kill");
            if kill.exists() {
                match fsio::write(&kill, "1") {
                    Ok(()) if self.is_v2() => return self.wait_empty(&dir, KILL_TIMEOUT),
                    // Hybrid: let the killed tasks exit, then the v1 loop below finds any
                    // process that did not join the cgroup2 group (usually none).
                    Ok(()) => {
                        let _ = self.wait_empty(&dir, HYBRID_KILL_WAIT);
                    }
                    Err(err) if self.is_v2() => return Err(err),
                    Err(err) => tracing::debug!(error = %err, "hybrid cgroup.kill failed"),
                }
            }
        }
        self.kill_loop()
    }

    /// Freezes or thaws and waits for the state to show, undoing a freeze that times out.
    fn set_frozen(&self, frozen: bool, timeout: Duration) -> Result<()> {
        let v2 = self.is_v2();
        // v2: request in cgroup.freeze, state in cgroup.events; v1: both in freezer.state.
        let (file, state, request, what) = if v2 {
            let dir = self.v2_dir()?;
            let (request, what) = if frozen {
                ("1", "frozen 1")
            } else {
                ("0", "frozen 0")
            };
            (
                dir.join("cgroup.freeze"),
                dir.join("cgroup.events"),
                request,
                what,
            )
        } else {
            let state = self.freezer_dir()?.join("freezer.state");
            let (request, what) = if frozen {
                ("FROZEN", "freezer.state FROZEN")
            } else {
                ("THAWED", "freezer.state THAWED")
            };
            (state.clone(), state, request, what)
        };
        let reached = || {
            let Ok(text) = fsio::read(&state) else {
                return false;
            };
            if v2 {
                fsio::keyed(&state, &text, "frozen").is_ok_and(|v| v == Some(u64::from(frozen)))
            } else {
                text.trim() == request
            }
        };
        fsio::write(&file, request)?;
        let mut last_write = Instant::now();
        let done = fsio::poll(timeout, || {
            if reached() {
                return Ok(true);
            }
            if !v2 && last_write.elapsed() >= FREEZE_REWRITE {
                fsio::write(&file, request)?;
                last_write = Instant::now();
            }
            Ok(false)
        })?;
        if done {
            return Ok(());
        }
        if frozen {
            let undo = if v2 { "0" } else { "THAWED" };
            if let Err(err) = fsio::write(&file, undo) {
                tracing::warn!(error = %err, "thawing after a failed freeze");
            }
        }
        let path = file.parent().map(Path::to_path_buf).unwrap_or_default();
        Err(Error::Timeout {
            what,
            path,
            waited: timeout,
        })
    }

    /// Signals members until none are left (v1, or v2 kernels older than 5.14 without
    /// `cgroup.kill`). Freezing first keeps the member list stable: frozen tasks cannot fork,
    /// and cannot exit and have their pid reused before our signal lands.
    fn kill_loop(&self) -> Result<()> {
        let procs_dir = self.procs_dir()?;
        let procs = procs_dir.join("cgroup.procs");
        let deadline = Instant::now() + KILL_TIMEOUT;
        let can_freeze = if self.is_v2() {
            procs_dir.join("cgroup.freeze").exists()
        } else {
            self.v1_dir(Controller::Freezer).is_some_and(|d| d.is_dir())
        };
        loop {
            let pids = match fsio::read_pids(&procs) {
                Ok(pids) => pids,
                Err(Error::Read { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    return Ok(());
                }
                Err(err) => return Err(err),
            };
            if pids.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: "an empty cgroup.procs",
                    path: procs_dir,
                    waited: KILL_TIMEOUT,
                });
            }
            let frozen = can_freeze && self.set_frozen(true, KILL_FREEZE_TIMEOUT).is_ok();
            let pids = if frozen {
                fsio::read_pids(&procs)?
            } else {
                pids
            };
            let signalled = signal_all(&pids);
            if frozen {
                self.set_frozen(false, FREEZE_TIMEOUT)?;
            }
            signalled?;
            // Give the signalled tasks a moment to exit before looking again.
            fsio::poll(Duration::from_millis(100), || {
                Ok(fsio::read_pids(&procs)
                    .map(|p| p.is_empty())
                    .unwrap_or(true))
            })?;
        }
    }

    /// Waits for a v2 group to have no members after `cgroup.kill`.
    fn wait_empty(&self, dir: &Path, timeout: Duration) -> Result<()> {
        let procs = dir.join("cgroup.procs");
        if fsio::poll(timeout, || Ok(fsio::read_pids(&procs)?.is_empty()))? {
            Ok(())
        } else {
            Err(Error::Timeout {
                what: "an empty cgroup.procs",
                path: dir.into(),
                waited: timeout,
            })
        }
    }

    /// The group's cgroup2 directory, on v2.
    fn v2_dir(&self) -> Result<PathBuf> {
        self.unified_dir()
            .ok_or_else(|| Error::ControllerUnavailable {
                controller: "freezer".into(),
                detail: "no cgroup2 mount".into(),
            })
    }

    /// The group's v1 freezer directory.
    fn freezer_dir(&self) -> Result<PathBuf> {
        self.v1_dir(Controller::Freezer)
            .ok_or_else(|| Error::ControllerUnavailable {
                controller: "freezer".into(),
                detail: "no v1 freezer hierarchy is mounted".into(),
            })
    }
}

/// SIGKILLs each pid; ones that are already gone are fine.
fn signal_all(pids: &[u32]) -> Result<()> {
    for &pid in pids {
        let Some(target) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        else {
            continue;
        };
        match rustix::process::kill_process(target, rustix::process::Signal::KILL) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => {}
            Err(errno) => {
                return Err(Error::Signal {
                    pid,
                    source: std::io::Error::from(errno),
                });
            }
        }
    }
    Ok(())
}
