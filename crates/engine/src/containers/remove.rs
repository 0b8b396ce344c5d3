//! `docker rm`: killing when forced, unmounting and releasing what the container held, and
//! removing its record and directory.

use super::record::{ContainerRecord, Status};
use super::stop::libc_sigkill;
use super::store::Entry;
use super::{Containers, KILL_WAIT, Result, WaitResult, blocking, note_failed_write};
use crate::EngineError;
use berth_api_types::events::EventType;
use std::sync::Arc;
use std::time::Instant;

impl Containers {
    /// `docker rm`: `force` kills a running container first (waiting for its exit without a
    /// thread); `volumes` removes its anonymous volumes.
    pub async fn remove_async(
        self: &Arc<Self>,
        key: &str,
        force: bool,
        volumes: bool,
    ) -> Result<()> {
        let entry = self.settled_async(key).await?;
        let _op = entry.op_lock_async().await;
        if !self.store.contains(&entry.id) {
            return Ok(());
        }
        let rec = entry.snapshot();
        if rec.state.status.is_running() {
            if !force {
                return Err(running_conflict(&rec));
            }
            note_failed_write(&entry.id, entry.update(|r| r.state.manually_stopped = true));
            if rec.state.status == Status::Paused {
                let client = self.shims.client(&entry.id);
                blocking(move || {
                    let _ = client.resume();
                    Ok(())
                })
                .await?;
            }
            self.kill_and_wait(&entry, "remove").await?;
        }
        let (this, e) = (self.clone(), entry.clone());
        blocking(move || this.remove_locked(&e, volumes)).await
    }

    /// `docker rm` for blocking callers (auto-removal, prune, restore), which hold no
    /// operation lock.
    pub fn remove(&self, key: &str, force: bool, volumes: bool) -> Result<()> {
        let entry = self.store.get(key)?;
        let _op = entry.op_lock();
        if !self.store.contains(&entry.id) {
            return Ok(());
        }
        let rec = entry.snapshot();
        if rec.state.status.is_running() {
            if !force {
                return Err(running_conflict(&rec));
            }
            note_failed_write(&entry.id, entry.update(|r| r.state.manually_stopped = true));
            let client = self.shims.client(&entry.id);
            let _ = client.kill(libc_sigkill(), true);
            if rec.state.status == Status::Paused {
                let _ = client.resume();
            }
            let (_, stopped) = entry.wait_for(Some(KILL_WAIT), |r| !r.state.status.is_running());
            if !stopped {
                return Err(EngineError::Conflict(format!(
                    "cannot remove container \"/{}\": it did not exit after SIGKILL",
                    rec.name
                )));
            }
        }
        self.remove_locked(&entry, volumes)
    }

    /// The removal of a stopped container; the caller holds its operation lock.
    pub(super) fn remove_locked(&self, entry: &Arc<Entry>, volumes: bool) -> Result<()> {
        let rec = entry.snapshot();
        // A removal must work on a full disk: the status is kept in memory even if it cannot
        // be written, and the record goes with its directory anyway.
        let _freeing = self.reserve.freeing();
        note_failed_write(
            &entry.id,
            entry.update(|r| r.state.status = Status::Removing),
        );
        self.cleanup(entry, volumes)?;
        {
            let last = entry.snapshot();
            let mut t = self.tombstones.lock().unwrap_or_else(|p| p.into_inner());
            t.push_back((
                last.id.clone(),
                last.name.clone(),
                WaitResult {
                    status_code: last.state.exit_code,
                    error: (!last.state.error.is_empty()).then(|| last.state.error.clone()),
                },
                Instant::now(),
            ));
            if t.len() > 256 {
                t.pop_front();
            }
        }
        self.store.remove(entry)?;
        self.pending.cancel(&entry.id);
        self.execs.forget_container(&entry.id);
        self.lock_backoff().remove(&entry.id);
        self.event("destroy", &rec, &[]);
        Ok(())
    }

    /// Releases what a stopped container holds: its mount, writable layer, shim directory and
    /// (with `volumes`) anonymous volumes.
    pub(super) fn cleanup(&self, entry: &Entry, volumes: bool) -> Result<()> {
        let rec = entry.snapshot();
        // Whatever a crash may have left running or mounted goes first.
        self.scrub_run(&rec)?;
        self.snapshotter.remove_writable(&rec.id)?;
        let state = self.shims.state_dir(&rec.id);
        if state.exists() {
            std::fs::remove_dir_all(&state).map_err(|e| EngineError::io(&state, e))?;
        }
        if volumes {
            for v in &rec.anonymous_volumes {
                let others = |name: &str| {
                    self.store.all().iter().any(|e| {
                        e.id != rec.id
                            && e.read(|r| {
                                r.mounts
                                    .iter()
                                    .any(|m| m.kind == "volume" && m.name == name)
                            })
                    })
                };
                match self.volumes.remove(v, true, &others) {
                    Ok(()) => self.events.emit(
                        EventType::Volume,
                        "destroy",
                        v,
                        &[("driver", "local".into())],
                    ),
                    Err(e) => tracing::info!(volume = %v, error = %e, "keeping anonymous volume"),
                }
            }
        }
        Ok(())
    }
}

/// Docker's refusal to remove a running container without `force`.
pub(super) fn running_conflict(rec: &ContainerRecord) -> EngineError {
    EngineError::Conflict(format!(
        "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
        rec.name
    ))
}
