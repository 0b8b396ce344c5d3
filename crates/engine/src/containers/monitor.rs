//! Watching running containers: one wait per run on the supervisor, the exit recorded, `--rm`
//! and restart policies applied.

use super::Containers;
use super::record::Status;
use super::store::Entry;
use berth_shim_proto::{ExitInfo, ShimClient};
use std::sync::Arc;
use std::time::{Duration, Instant};

impl Containers {
    /// Waits (in the supervisor's loop, without a thread) for the run that started `since` to
    /// end, then records the exit and applies the restart policy on a job thread.
    pub(super) fn spawn_monitor(
        self: &Arc<Self>,
        entry: Arc<Entry>,
        client: ShimClient,
        since: Instant,
    ) {
        let this = self.clone();
        let finish = move |entry: Arc<Entry>,
                           client: ShimClient,
                           answer: std::result::Result<ExitInfo, String>| {
            let exit = match answer {
                Ok(exit) => exit,
                Err(why) => {
                    // The shim died: its container went with it (it dies with its parent),
                    // but whatever is left must go before the exit is recorded and the
                    // addresses released.
                    if let Err(e) = this.scrub_run(&entry.snapshot()) {
                        tracing::error!(id = %entry.id, error = %e, "cleaning up after a dead shim");
                    }
                    let dir = this.shims.state_dir(&entry.id);
                    match berth_shim_proto::client::read_exit(&dir) {
                        Ok(Some(exit)) => exit,
                        _ => {
                            tracing::warn!(id = %entry.id, error = %why, "lost the container's shim");
                            lost_exit()
                        }
                    }
                }
            };
            // Output lost to a log that could not be written is said in the daemon's log.
            if let Ok(Some(error)) = client.state().map(|s| s.log_error) {
                tracing::warn!(id = %entry.id, error = %error, "the container's log lost output");
            }
            let _ = client.shutdown();
            this.handle_exit(&entry, exit, since.elapsed());
        };
        match client.send_wait() {
            Ok(pending) => self.supervisor.on_readable(pending, move |pending| {
                let answer = pending.exit().map_err(|e| e.to_string());
                finish(entry, client, answer);
            }),
            Err(e) => {
                let why = e.to_string();
                self.supervisor
                    .spawn(move || finish(entry, client, Err(why)));
            }
        }
    }

    /// Records an exit and applies `--rm` or the restart policy.
    pub(super) fn handle_exit(
        self: &Arc<Self>,
        entry: &Arc<Entry>,
        exit: ExitInfo,
        ran_for: Duration,
    ) {
        let rootfs = entry.dir().join("rootfs");
        if let Err(e) = self.unmount_rootfs(&rootfs) {
            tracing::warn!(id = %entry.id, error = %e, "unmounting the root file system");
        }
        self.ports.unpublish(&entry.id, self.net.store());
        self.net.teardown(&entry.id);
        let rec = entry.snapshot();
        let restart = super::restart::should_restart(
            &rec.host_config.restart_policy,
            i64::from(exit.exit_code),
            rec.state.restart_count,
            rec.state.manually_stopped,
        ) && self.store.contains(&entry.id);
        let updated = entry.update(|r| {
            r.state.status = if restart {
                Status::Restarting
            } else {
                Status::Exited
            };
            r.state.exit_code = i64::from(exit.exit_code);
            r.state.oom_killed = exit.oom_killed;
            r.state.finished_at = exit.finished_at.clone();
            r.state.pid = 0;
            r.state.shim_pid = 0;
            r.state.ports.clear();
            if let Some(h) = r.state.health.as_mut() {
                h.status = "unhealthy".into();
            }
            // Published before anyone waiting on the record wakes: a `stop` says `stop` only
            // after this `die`, as Docker's.
            if exit.oom_killed {
                self.event("oom", r, &[]);
            }
            self.event("die", r, &[("exitCode", exit.exit_code.to_string())]);
            r.clone()
        });
        let rec = match updated {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(id = %entry.id, error = %e, "recording the exit");
                entry.snapshot()
            }
        };
        if restart {
            let delay = {
                let mut b = self.lock_backoff();
                let d = super::restart::next_delay(b.get(&entry.id).copied(), ran_for);
                b.insert(entry.id.clone(), d);
                d
            };
            self.schedule_restart(entry.clone(), delay);
        } else if rec.host_config.auto_remove
            && let Err(e) = self.remove(&entry.id, true, true)
        {
            tracing::warn!(id = %entry.id, error = %e, "auto-removing the container");
        }
    }

    pub(super) fn schedule_restart(self: &Arc<Self>, entry: Arc<Entry>, delay: Duration) {
        let this = self.clone();
        self.supervisor.after(delay, move || {
            let _op = entry.op_lock();
            // A stop, start or rm in the meantime cancels this restart.
            if !this.store.contains(&entry.id)
                || entry.read(|r| r.state.status) != Status::Restarting
            {
                return;
            }
            let _ = entry.update(|r| r.state.restart_count += 1);
            if let Err(e) = this.start_locked(&entry) {
                tracing::warn!(id = %entry.id, error = %e, "restart failed");
                let _ = entry.update(|r| r.state.status = Status::Exited);
                let delay = {
                    let mut b = this.lock_backoff();
                    let d = super::restart::next_delay(b.get(&entry.id).copied(), Duration::ZERO);
                    b.insert(entry.id.clone(), d);
                    d
                };
                let rec = entry.snapshot();
                if super::restart::should_restart(
                    &rec.host_config.restart_policy,
                    1,
                    rec.state.restart_count,
                    rec.state.manually_stopped,
                ) {
                    let _ = entry.update(|r| r.state.status = Status::Restarting);
                    drop(_op);
                    this.schedule_restart(entry.clone(), delay);
                }
            }
        });
    }
}

/// What is recorded when a container's shim vanished without recording the exit.
pub(super) fn lost_exit() -> ExitInfo {
    ExitInfo {
        exit_code: 255,
        oom_killed: false,
        finished_at: berth_shim_proto::timefmt::now(),
        started_at: None,
    }
}
