//! Bodies of the smaller container operations: wait, top, changes, update, prune.

use super::{Resources, RestartPolicy};
use crate::nullable::or_default;
use serde::{Deserialize, Serialize};

/// `POST /containers/{id}/wait`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerWaitResponse {
    /// Exit code of the container.
    pub status_code: i64,
    /// Set when waiting failed; omitted otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<WaitError>,
}

/// Why a wait failed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct WaitError {
    /// The message.
    #[serde(default, deserialize_with = "or_default")]
    pub message: String,
}

/// `GET /containers/{id}/top`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerTopResponse {
    /// Column titles (`UID`, `PID`, `PPID`, `C`, `STIME`, `TTY`, `TIME`, `CMD`).
    #[serde(default, deserialize_with = "or_default")]
    pub titles: Vec<String>,
    /// One row per process.
    #[serde(default, deserialize_with = "or_default")]
    pub processes: Vec<Vec<String>>,
}

/// One entry of `GET /containers/{id}/changes`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerChange {
    /// Changed path.
    pub path: String,
    /// 0 modified, 1 added, 2 deleted.
    pub kind: u8,
}

/// `POST /containers/{id}/update` body: new resource limits and restart policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerUpdateRequest {
    /// New limits (flattened, as Docker sends them).
    #[serde(flatten)]
    pub resources: Resources,
    /// New restart policy; `None` keeps the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
}

/// `POST /containers/{id}/update` response.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerUpdateResponse {
    /// Non-fatal problems.
    #[serde(default, deserialize_with = "or_default")]
    pub warnings: Vec<String>,
}

/// `POST /containers/prune`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerPruneResponse {
    /// Ids removed; `null` when none, as Docker sends.
    #[serde(default)]
    pub containers_deleted: Option<Vec<String>>,
    /// Bytes freed.
    pub space_reclaimed: u64,
}
