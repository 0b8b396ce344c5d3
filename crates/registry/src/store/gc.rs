//! Online garbage collection: blobs no manifest references are deleted while the registry
//! keeps serving, without losing what a push in flight has sent.
//!
//! Distribution's GC needs the registry read-only because a push uploads blobs before the
//! manifest that references them: a mark-and-sweep in between deletes them. Here every use
//! of a blob by a push — completing its upload, mounting it, asking whether it exists, a
//! manifest naming it — refreshes its mtime, and the sweep deletes only unreferenced blobs
//! whose mtime is older than the run's start minus a grace period (longer than a push takes
//! between its first blob and its manifest). Refreshing and judging a blob both happen under
//! one lock, so a blob is never deleted between a push seeing it and relying on it; and what
//! a push touched after the mark began is newer than the run's start, so it stays.

use super::manifests::references_of;
use super::{RegistryStore, Result, StoreError};
use berth_common::Digest;
use std::collections::HashSet;
use std::fs;
use std::time::{Duration, SystemTime};

/// What a collection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs (and manifests) some manifest keeps.
    pub referenced: usize,
    /// Blobs deleted.
    pub removed: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Abandoned uploads removed.
    pub uploads: usize,
}

/// Uploads untouched for this long are abandoned.
const ABANDONED_UPLOAD: Duration = Duration::from_secs(24 * 3600);

impl RegistryStore {
    /// Collects unreferenced blobs older than `grace` (see the module's documentation).
    pub fn gc(&self, grace: Duration) -> Result<GcReport> {
        let start = SystemTime::now();
        let cutoff = start.checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH);
        let mut marked: HashSet<Digest> = HashSet::new();
        for repo in self.catalog()? {
            let dir = self.repo_dir(&repo).join("_manifests/revisions");
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let Ok(d) = Digest::from_hex(&e.file_name().to_string_lossy()) else {
                    continue;
                };
                if let Ok(bytes) = fs::read(self.blob_path(&d)) {
                    marked.extend(references_of(&bytes));
                }
                marked.insert(d);
            }
        }
        let mut report = GcReport {
            referenced: marked.len(),
            ..Default::default()
        };
        let blobs = self.root.join("blobs/sha256");
        let entries = fs::read_dir(&blobs).map_err(|e| StoreError::io(&blobs, e))?;
        for e in entries.flatten() {
            let Ok(d) = Digest::from_hex(&e.file_name().to_string_lossy()) else {
                continue;
            };
            if marked.contains(&d) {
                continue;
            }
            let _guard = self.sweep.lock().unwrap_or_else(|p| p.into_inner());
            let path = e.path();
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            };
            let fresh = meta.modified().map(|m| m >= cutoff).unwrap_or(true);
            if fresh {
                continue;
            }
            fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
            report.removed += 1;
            report.bytes += meta.len();
        }
        let uploads = self.root.join("uploads");
        if let Ok(entries) = fs::read_dir(&uploads) {
            for e in entries.flatten() {
                let old = e
                    .path()
                    .join("data")
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .is_some_and(|age| age > ABANDONED_UPLOAD);
                if old && fs::remove_dir_all(e.path()).is_ok() {
                    self.forget_upload(&e.file_name().to_string_lossy());
                    report.uploads += 1;
                }
            }
        }
        Ok(report)
    }
}
