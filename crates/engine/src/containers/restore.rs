//! When the daemon starts: re-attaching to containers that kept running, recording exits that
//! happened while it was down, finishing interrupted removals, and restarting by policy.

use super::monitor::lost_exit;
use super::record::Status;
use super::store::Entry;
use super::{Containers, Result, blocking};
use berth_shim_proto::ExitInfo;
use std::sync::Arc;
use std::time::{Duration, Instant};

impl Containers {
    /// Re-attaches to the shims of containers that were running when the previous daemon
    /// stopped, records the exits that happened meanwhile, finishes interrupted removals, and
    /// starts the containers whose restart policy says so. Only the containers that existed
    /// when the store was opened are looked at, each under its operation lock, so this may run
    /// while the API already serves (a restart is ready at once) without touching a container
    /// a client creates or starts meanwhile. Runs once; later calls do nothing.
    pub fn restore(self: &Arc<Self>) {
        let Some(ids) = self
            .restore_ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return;
        };
        // Re-assert the rules first (a firewall reload or reboot may have dropped them).
        if let Err(e) = self.ports.apply(self.net.store()) {
            tracing::warn!(error = %e, "restoring the port rules");
        }
        for id in ids {
            let Ok(entry) = self.store.get(&id) else {
                continue; // removed by a client meanwhile
            };
            if entry
                .snapshot()
                .config
                .labels
                .contains_key(crate::build::step::STEP_LABEL)
            {
                // A build step's container outlived its build (the daemon was killed): the
                // build is gone, so is its step.
                self.restore_entry(&entry);
                if let Err(e) = self.remove(&id, true, true) {
                    tracing::warn!(%id, error = %e, "removing a killed build's step container");
                }
                continue;
            }
            self.restore_entry(&entry);
            let _op = entry.op_lock();
            let rec = entry.snapshot();
            if self.store.contains(&rec.id)
                && !rec.state.status.is_running()
                && rec.state.status != Status::Restarting
                && super::restart::start_with_daemon(
                    &rec.host_config.restart_policy,
                    rec.state.manually_stopped,
                )
                && let Err(e) = self.start_locked(&entry)
            {
                tracing::warn!(id = %rec.id, error = %e, "starting container at daemon start");
            }
        }
    }

    /// Restores `entry` now unless that was done: a client acting on a container the restore
    /// pass has not reached yet (`rm -f` right after a daemon restart) must find its shim
    /// re-attached, or it would wait for an exit nobody reports.
    pub(super) fn restore_entry(self: &Arc<Self>, entry: &Arc<Entry>) {
        if !entry.restore_pending() {
            return;
        }
        let next = {
            let _op = entry.op_lock();
            if !entry.take_restore() {
                return; // another caller did it while this one waited for the lock
            }
            self.restore_one(entry)
        };
        match next {
            Restored::Done => {}
            Restored::Exited(exit) => self.handle_exit(entry, exit, Duration::ZERO),
            Restored::Remove => {
                let _ = self.remove(&entry.id, true, false);
            }
        }
    }

    /// The entry of container `key`, restored first if the daemon-start pass has not got
    /// to it (see [`Containers::restore_entry`]). For blocking callers.
    pub(super) fn settled(self: &Arc<Self>, key: &str) -> Result<Arc<Entry>> {
        let entry = self.store.get(key)?;
        self.restore_entry(&entry);
        Ok(entry)
    }

    /// [`Containers::settled`] for async callers.
    pub(super) async fn settled_async(self: &Arc<Self>, key: &str) -> Result<Arc<Entry>> {
        let entry = self.store.get(key)?;
        if entry.restore_pending() {
            let (this, e) = (self.clone(), entry.clone());
            blocking(move || {
                this.restore_entry(&e);
                Ok(())
            })
            .await?;
        }
        Ok(entry)
    }

    /// Brings one pre-existing container's record in line with what is there; the caller holds
    /// its operation lock. Says what is left to do without the lock.
    pub(super) fn restore_one(self: &Arc<Self>, entry: &Arc<Entry>) -> Restored {
        let rec = entry.snapshot();
        match rec.state.status {
            Status::Running | Status::Paused => {
                let dir = self.shims.state_dir(&rec.id);
                if self.shims.live_pid(&dir).is_some() {
                    let client = self.shims.client(&rec.id);
                    let status = client.state().ok();
                    if let Some(s) = &status
                        && s.status == berth_shim_proto::ContainerStatus::Stopped
                    {
                        // The container ended while the daemon was down and its shim kept the
                        // exit: record it now, so nobody sees it "running" until a monitor
                        // would have noticed.
                        let exit = client.wait().unwrap_or_else(|_| lost_exit());
                        let _ = client.shutdown();
                        tracing::info!(id = %rec.id, code = exit.exit_code, "container exited while the daemon was down");
                        return Restored::Exited(exit);
                    }
                    tracing::info!(id = %rec.id, "re-attached to running container");
                    if let Some(s) = status {
                        let paused = s.status == berth_shim_proto::ContainerStatus::Paused;
                        let _ = entry.update(|r| {
                            r.state.status = if paused {
                                Status::Paused
                            } else {
                                Status::Running
                            };
                        });
                    }
                    if !rec.state.ports.is_empty()
                        && let Some(ip) = self.net.ip_of(&rec.id)
                    {
                        let _ = self.ports.publish(
                            &rec.id,
                            ip,
                            rec.state.ports.clone(),
                            self.net.store(),
                        );
                        // The IPv6 listeners came back as they were (or the record says
                        // otherwise at the next start).
                    }
                    self.spawn_monitor(entry.clone(), self.shims.client(&rec.id), Instant::now());
                    self.spawn_health(entry.clone());
                    return Restored::Done;
                }
                let exit = berth_shim_proto::client::read_exit(&dir)
                    .ok()
                    .flatten()
                    .unwrap_or_else(lost_exit);
                tracing::info!(id = %rec.id, code = exit.exit_code, "container exited while the daemon was down");
                if let Err(e) = self.scrub_run(&rec) {
                    tracing::error!(id = %rec.id, error = %e, "cleaning up after a container whose shim is gone");
                }
                return Restored::Exited(exit);
            }
            Status::Restarting => {
                let _ = entry.update(|r| r.state.status = Status::Exited);
            }
            Status::Removing | Status::Dead => return Restored::Remove,
            _ => {}
        }
        // A start that never finished (the daemon was killed during it) may have left a shim,
        // a container waiting to start, a cgroup, a mount, a namespace and leases.
        if let Err(e) = self.scrub_run(&rec) {
            tracing::error!(id = %rec.id, error = %e, "cleaning up an interrupted start");
        }
        Restored::Done
    }
}

/// What is left of restoring one container once its record is in line.
pub(super) enum Restored {
    /// Nothing.
    Done,
    /// Record this exit (it happened while the daemon was down).
    Exited(ExitInfo),
    /// Finish an interrupted removal.
    Remove,
}
