//! `docker stop`, `kill` and `restart`: signals through the shim, and waits for exits that hold
//! no thread.

use super::record::Status;
use super::store::Entry;
use super::{Containers, KILL_WAIT, Result, blocking, note_failed_write};
use crate::EngineError;
use crate::spec::{self};
use std::sync::Arc;
use std::time::Duration;

impl Containers {
    /// `docker stop`: the stop signal, then SIGKILL after `timeout` seconds (the container's
    /// own timeout when `None`; negative waits forever). It holds no thread while it waits
    /// for the exit.
    pub async fn stop(
        self: &Arc<Self>,
        key: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        let entry = self.settled_async(key).await?;
        let _op = entry.op_lock_async().await;
        let rec = entry.snapshot();
        let sig = match signal.filter(|s| !s.is_empty()) {
            Some(s) => spec::parse_signal(s)?,
            None => rec.stop_signal,
        };
        let (this, e) = (self.clone(), entry.clone());
        let signalled = blocking(move || -> Result<bool> {
            let rec = e.snapshot();
            if rec.state.status == Status::Restarting {
                note_failed_write(
                    &e.id,
                    e.update(|r| {
                        r.state.status = Status::Exited;
                        r.state.manually_stopped = true;
                    }),
                );
                return Ok(false);
            }
            if !rec.state.status.is_running() {
                return Err(EngineError::NotModified("container already stopped".into()));
            }
            // Remembered in memory even when the disk is full: stopping must not need space.
            note_failed_write(&e.id, e.update(|r| r.state.manually_stopped = true));
            // Docker's sequence for a stop: `kill` (with the signal), `die`, `stop`. The
            // event goes out before the signal so the exit's `die` cannot overtake it.
            this.event("kill", &rec, &[("signal", sig.to_string())]);
            let client = this.shims.client(&e.id);
            let _ = client.kill(sig, false);
            if rec.state.status == Status::Paused {
                let _ = client.resume();
            }
            Ok(true)
        })
        .await?;
        if !signalled {
            return Ok(());
        }
        let timeout = timeout.unwrap_or(rec.stop_timeout);
        let limit = (timeout >= 0).then(|| Duration::from_secs(timeout as u64));
        let (_, stopped) = entry
            .wait_until(limit, |r| !r.state.status.is_running())
            .await;
        if !stopped {
            self.kill_and_wait(&entry, "stop").await?;
        }
        self.event("stop", &entry.snapshot(), &[]);
        Ok(())
    }

    /// SIGKILLs every process of a running container and waits (without a thread) for its
    /// exit to be recorded.
    pub(super) async fn kill_and_wait(
        self: &Arc<Self>,
        entry: &Arc<Entry>,
        what: &str,
    ) -> Result<()> {
        let client = self.shims.client(&entry.id);
        let (this, rec) = (self.clone(), entry.snapshot());
        blocking(move || {
            this.event("kill", &rec, &[("signal", libc_sigkill().to_string())]);
            let _ = client.kill(libc_sigkill(), true);
            Ok(())
        })
        .await?;
        let (_, stopped) = entry
            .wait_until(Some(KILL_WAIT), |r| !r.state.status.is_running())
            .await;
        if stopped {
            return Ok(());
        }
        Err(EngineError::Conflict(format!(
            "cannot {what} container {}: it did not exit after SIGKILL",
            entry.id
        )))
    }

    /// `docker kill`. With SIGKILL it returns once the container has exited (as Docker's),
    /// so an inspect or `rm` right after sees it stopped.
    pub async fn kill(self: &Arc<Self>, key: &str, signal: Option<&str>) -> Result<()> {
        let entry = self.settled_async(key).await?;
        let sig = match signal.filter(|s| !s.is_empty()) {
            Some(s) => spec::parse_signal(s)?,
            None => libc_sigkill(),
        };
        let rec = entry.snapshot();
        if !rec.state.status.is_running() {
            return Err(EngineError::Conflict(format!(
                "cannot kill container: {}: container {} is not running",
                key, entry.id
            )));
        }
        let (this, e) = (self.clone(), entry.clone());
        blocking(move || {
            note_failed_write(&e.id, e.update(|r| r.state.manually_stopped = true));
            // Before the signal, so the exit's `die` cannot overtake it.
            this.event("kill", &rec, &[("signal", sig.to_string())]);
            let client = this.shims.client(&e.id);
            client.kill(sig, false)?;
            if rec.state.status == Status::Paused && sig == libc_sigkill() {
                let _ = client.resume();
            }
            Ok(())
        })
        .await?;
        if sig == libc_sigkill() {
            let (_, stopped) = entry
                .wait_until(Some(KILL_WAIT), |r| !r.state.status.is_running())
                .await;
            if !stopped {
                return Err(EngineError::Conflict(format!(
                    "container {} did not exit after SIGKILL",
                    entry.id
                )));
            }
        }
        Ok(())
    }

    /// `docker restart`: stop (if running), then start.
    pub async fn restart(
        self: &Arc<Self>,
        key: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        match self.stop(key, timeout, signal).await {
            Ok(()) | Err(EngineError::NotModified(_)) => {}
            Err(e) => return Err(e),
        }
        let (this, key) = (self.clone(), key.to_string());
        blocking(move || {
            this.start(&key)?;
            let entry = this.store.get(&key)?;
            this.event("restart", &entry.snapshot(), &[]);
            Ok(())
        })
        .await
    }
}

pub(super) fn libc_sigkill() -> i32 {
    9
}
