//! The persisted record of one container: what `docker create` asked for, what the engine
//! derived from it, and the run state the monitor keeps up to date.
//!
//! One JSON file per container (`containers/<id>/container.json`), rewritten atomically on every
//! state change, so a daemon killed at any point restarts with each container either before or
//! after the change, never half-way.

use berth_api_types::container::{ContainerConfig, ContainerState, Health, HostConfig, MountPoint};
use serde::{Deserialize, Serialize};

/// The zero time Docker shows for "never".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// A container's lifecycle status, Docker's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Made, never started (or its start failed).
    #[default]
    Created,
    /// Its process runs.
    Running,
    /// Frozen.
    Paused,
    /// Exited; the restart policy will start it again after a back-off.
    Restarting,
    /// Being removed.
    Removing,
    /// Its process has exited.
    Exited,
    /// Removal failed half-way.
    Dead,
}

impl Status {
    /// Docker's lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// Whether a shim supervises a live process.
    pub fn is_running(self) -> bool {
        matches!(self, Status::Running | Status::Paused)
    }
}

/// The run state, persisted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Lifecycle status.
    pub status: Status,
    /// Host pid of the init while running.
    #[serde(default)]
    pub pid: i64,
    /// Pid of the supervising shim while running.
    #[serde(default)]
    pub shim_pid: u32,
    /// Last exit code.
    #[serde(default)]
    pub exit_code: i64,
    /// Whether the last exit was an OOM kill.
    #[serde(default)]
    pub oom_killed: bool,
    /// Why the last start failed.
    #[serde(default)]
    pub error: String,
    /// Last start, RFC 3339 (empty: never).
    #[serde(default)]
    pub started_at: String,
    /// Last exit, RFC 3339 (empty: never).
    #[serde(default)]
    pub finished_at: String,
    /// Starts made by the restart policy since the last manual start.
    #[serde(default)]
    pub restart_count: i64,
    /// Stopped by the user (`stop`, `kill`): `unless-stopped` and `always` do not restart it
    /// until the next manual start (`always` still restarts it when the daemon starts).
    #[serde(default)]
    pub manually_stopped: bool,
    /// Whether it was ever started (`ps` and `wait` distinguish created from exited).
    #[serde(default)]
    pub has_been_started: bool,
    /// Health-check state, when the container has a check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// Host ports published for the current run.
    #[serde(default)]
    pub ports: Vec<super::ports::Published>,
}

/// Everything the engine keeps about a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// Full 64-hex id.
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    /// Creation time, RFC 3339 with nanoseconds.
    pub created: String,
    /// The image id (`sha256:…`).
    pub image_id: String,
    /// The merged configuration (image defaults applied), as inspect shows it; `image` holds
    /// the name the user gave.
    pub config: ContainerConfig,
    /// Host configuration as requested (after validation).
    pub host_config: HostConfig,
    /// Executable of the main process.
    pub path: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Mounts as inspect shows them.
    #[serde(default)]
    pub mounts: Vec<MountPoint>,
    /// Names of anonymous volumes made for this container (removed by `rm -v`).
    #[serde(default)]
    pub anonymous_volumes: Vec<String>,
    /// Named volumes first used by this container: filled from the image's content at their
    /// mount point on first start if still empty (Docker's copy-up).
    #[serde(default)]
    pub copy_up: Vec<CopyUp>,
    /// The user mounts resolved to host paths, as the spec builder takes them.
    #[serde(default)]
    pub spec_mounts: Vec<crate::spec::ResolvedMount>,
    /// Chain id of the image's top layer: the parent of the container's writable layer.
    #[serde(default)]
    pub rootfs_parent: Option<String>,
    /// Stop signal number.
    pub stop_signal: i32,
    /// Seconds between the stop signal and SIGKILL.
    pub stop_timeout: i64,
    /// Endpoint settings asked for at create time, by network name (`--ip`,
    /// `--network-alias`, `--mac-address`).
    #[serde(default)]
    pub endpoints: std::collections::BTreeMap<String, berth_api_types::container::EndpointSettings>,
    /// Disconnected from the network its `NetworkMode` names (Docker allows it, running or
    /// not): that network is then neither joined at start nor shown, until `network connect`
    /// joins it again.
    #[serde(default)]
    pub left_mode_network: bool,
    /// Run state.
    #[serde(default)]
    pub state: RunState,
}

/// A volume to fill from the image at first start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyUp {
    /// The volume's data dir.
    pub source: String,
    /// The path in the container.
    pub destination: String,
}

impl ContainerRecord {
    /// The `State` object of inspect.
    pub fn inspect_state(&self) -> ContainerState {
        let s = &self.state;
        ContainerState {
            status: s.status.as_str().to_string(),
            running: s.status.is_running() || s.status == Status::Restarting,
            paused: s.status == Status::Paused,
            restarting: s.status == Status::Restarting,
            oom_killed: s.oom_killed,
            dead: s.status == Status::Dead,
            pid: if s.status.is_running() { s.pid } else { 0 },
            exit_code: s.exit_code,
            error: s.error.clone(),
            started_at: or_zero(&s.started_at),
            finished_at: or_zero(&s.finished_at),
            health: s.health.clone(),
        }
    }

    /// Whether the container uses a TTY (its output is then raw, not stdcopy-framed).
    pub fn tty(&self) -> bool {
        self.config.tty
    }
}

fn or_zero(t: &str) -> String {
    if t.is_empty() {
        ZERO_TIME.to_string()
    } else {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_roundtrips_and_reports_docker_state() {
        let mut r = ContainerRecord {
            id: "a".repeat(64),
            name: "web".into(),
            ..Default::default()
        };
        r.state.status = Status::Exited;
        r.state.exit_code = 3;
        r.state.pid = 42;
        let json = serde_json::to_string(&r).unwrap();
        let back: ContainerRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        let st = back.inspect_state();
        assert_eq!(st.status, "exited");
        assert!(!st.running);
        assert_eq!(st.pid, 0, "no pid once exited");
        assert_eq!(st.started_at, ZERO_TIME);
        assert_eq!(st.exit_code, 3);
    }

    #[test]
    fn paused_counts_as_running() {
        let mut r = ContainerRecord::default();
        r.state.status = Status::Paused;
        r.state.pid = 7;
        let st = r.inspect_state();
        assert!(st.running && st.paused);
        assert_eq!(st.pid, 7);
    }
}
