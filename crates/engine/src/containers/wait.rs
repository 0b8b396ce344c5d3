//! `docker wait`: conditions on a container's state, awaited without a thread, and the
//! tombstones that let a wait arriving just after an `--rm` removal still see the exit code.

use super::record::{ContainerRecord, Status};
use super::{Containers, Result};
use crate::EngineError;
use std::time::Duration;

impl Containers {
    /// The last result of a container removed within the last minute, by id, id prefix or
    /// name.
    pub fn recently_removed(&self, key: &str) -> Option<WaitResult> {
        let mut t = self.tombstones.lock().unwrap_or_else(|p| p.into_inner());
        t.retain(|(_, _, _, at)| at.elapsed() < Duration::from_secs(60));
        let name = key.strip_prefix('/').unwrap_or(key);
        t.iter()
            .rev()
            .find(|(id, n, _, _)| n == name || (!key.is_empty() && id.starts_with(key)))
            .map(|(_, _, r, _)| r.clone())
    }

    /// `docker wait`: resolves when `condition` holds. It holds no thread while it waits, and
    /// dropping the future (the client went away) ends the wait.
    pub async fn wait(&self, key: &str, condition: WaitCondition) -> Result<WaitResult> {
        let entry = match self.store.get(key) {
            Ok(e) => e,
            Err(e) => return self.recently_removed(key).ok_or(e),
        };
        // Subscribed before the first check, so no change between the two is missed.
        let mut changes = entry.subscribe();
        let start = entry.snapshot();
        let holds = |r: &ContainerRecord| match condition {
            // Not running now, or an exit since the wait began: a container that restarts
            // (policy `always`) is "not running" for a moment, and Docker's wait returns then.
            WaitCondition::NotRunning => {
                (!r.state.status.is_running() && r.state.status != Status::Restarting)
                    || r.state.finished_at != start.state.finished_at
            }
            WaitCondition::NextExit => {
                r.state.finished_at != start.state.finished_at && !r.state.status.is_running()
            }
            WaitCondition::Removed => entry.is_removed(),
        };
        loop {
            let rec = entry.snapshot();
            if holds(&rec) || changes.changed().await.is_err() {
                return Ok(WaitResult {
                    status_code: rec.state.exit_code,
                    error: (!rec.state.error.is_empty()).then(|| rec.state.error.clone()),
                });
            }
        }
    }
}

/// What `docker wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    /// The container is not running (returns at once if it is not).
    NotRunning,
    /// The next exit from now.
    NextExit,
    /// The container has been removed.
    Removed,
}

impl std::str::FromStr for WaitCondition {
    type Err = EngineError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            other => Err(EngineError::InvalidArgument(format!(
                "invalid condition: \"{other}\""
            ))),
        }
    }
}

/// A finished wait: the exit code and, when the last start failed, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitResult {
    /// Exit code.
    pub status_code: i64,
    /// Start error, if any.
    pub error: Option<String>,
}
