//! The build cache as the API shows it: `BuildCache` records in `GET /system/df` and the
//! answer of `POST /build/prune`, in Docker's shapes.

use serde::{Deserialize, Serialize};

/// One build cache record (`docker system df -v`, `docker buildx du`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct BuildCache {
    /// The record's id.
    #[serde(rename = "ID")]
    pub id: String,
    /// The records it was built on.
    #[serde(default)]
    pub parents: Vec<String>,
    /// `regular` for a step's result.
    #[serde(rename = "Type")]
    pub kind: String,
    /// The step that made it.
    pub description: String,
    /// Whether a running build holds it.
    pub in_use: bool,
    /// Whether an image outside the cache uses its layer too.
    pub shared: bool,
    /// Bytes its layer takes.
    pub size: i64,
    /// When the step first ran (RFC 3339).
    pub created_at: String,
    /// When a build last used it (RFC 3339).
    pub last_used_at: Option<String>,
    /// How many builds used it.
    pub usage_count: i64,
}

/// `POST /build/prune`: what went.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct BuildPruneResponse {
    /// Ids of the removed records.
    #[serde(default)]
    pub caches_deleted: Vec<String>,
    /// Bytes freed.
    pub space_reclaimed: u64,
}
