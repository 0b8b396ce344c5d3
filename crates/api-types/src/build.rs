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

/// What a path of a build context is (Berth's incremental context upload).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ContextEntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
}

/// One path of a context directory as the Berth CLI sees it. The CLI sends the whole list
/// to `POST /build/context` (which answers the files the daemon lacks) and again as the first
/// entry (`.berth-manifest`) of the `POST /build?session=` tar that carries only those files:
/// a cached rebuild then moves a few kilobytes instead of the whole context.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContextEntry {
    /// Clean relative path (`a/b`).
    pub path: String,
    /// Its kind.
    pub kind: ContextEntryKind,
    /// Permission bits.
    pub mode: u32,
    /// Modification time (Unix seconds), kept in the image as tar keeps it.
    pub mtime: u64,
    /// A file's size.
    #[serde(default)]
    pub size: u64,
    /// A symlink's target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// What identifies this version of a file without reading it (inode, size, mtime and
    /// ctime in nanoseconds, mode, owner); `None` for a file changed too recently to tell
    /// two versions apart by their timestamps, which is then always sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<String>,
}

/// Bytes a context manifest may take (JSON): some 1.5 million paths, far beyond any context a
/// daemon's default `--build-context-limit` lets through, yet a bound on what a client can
/// make the daemon hold in memory.
pub const MANIFEST_LIMIT: usize = 256 << 20;

/// `POST /build/context`: the manifest's files the daemon wants sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ContextNeed {
    /// Their paths, in the manifest's order.
    pub need: Vec<String>,
}
