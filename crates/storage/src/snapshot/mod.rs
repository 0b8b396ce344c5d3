//! Snapshots: unpacked layer stacks keyed by chain ID, and writable container root filesystems
//! on top of them.
//!
//! A layer is unpacked once, whatever number of images share it. Two implementations pass one
//! shared test suite: [`overlay::OverlaySnapshotter`] (default: each snapshot holds only its own
//! layer's changes, with overlayfs whiteouts, and stacks are mounted with overlayfs) and
//! [`copy::CopySnapshotter`] (fallback for file systems overlayfs cannot sit on: each snapshot
//! is a full copy of its parent with the layer applied, deletions done in place).

pub mod copy;
pub mod overlay;

use crate::error::Result;
use berth_common::Digest;
use std::io::Read;
use std::path::PathBuf;

/// The outcome of unpacking one layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedLayer {
    /// Chain ID of the new snapshot (`parent` chain + this diff ID).
    pub chain_id: Digest,
    /// sha256 of the uncompressed layer tar.
    pub diff_id: Digest,
    /// Bytes of file content the layer added (what `docker history` shows as SIZE).
    pub size: u64,
    /// False when the snapshot already existed and nothing was unpacked.
    pub created: bool,
}

/// How a container's root file system is assembled, as data, so it can be tested without root
/// and applied by a small executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootfsMount {
    /// An overlay mount: `lowerdir` top-most first, then `upperdir` and `workdir`.
    Overlay {
        /// Read-only layers, top-most first.
        lower: Vec<PathBuf>,
        /// Writable layer.
        upper: PathBuf,
        /// overlayfs scratch dir on the same file system as `upper`.
        work: PathBuf,
    },
    /// A plain directory used as is (copy snapshotter).
    Directory(PathBuf),
}

/// A store of unpacked layers.
pub trait Snapshotter: Send + Sync + std::fmt::Debug {
    /// Driver name as `docker info` shows it (`overlay2`, `copy`).
    fn name(&self) -> &'static str;

    /// True when the snapshot for `chain_id` is complete on disk.
    fn exists(&self, chain_id: &Digest) -> bool;

    /// Unpacks `layer` (plain, gzip or zstd tar, detected from its first bytes) on top of the
    /// snapshot `parent`, checking that its uncompressed digest equals `diff_id`. Atomic: on any
    /// error (bad tar, escaping path, digest mismatch) nothing new is left on disk. Idempotent:
    /// an existing snapshot is returned as is (`created: false`) without reading `layer`.
    fn apply_layer(
        &self,
        parent: Option<&Digest>,
        diff_id: &Digest,
        layer: &mut dyn Read,
    ) -> Result<AppliedLayer>;

    /// Deletes one snapshot (not its parents). Missing snapshots are not an error.
    fn remove(&self, chain_id: &Digest) -> Result<()>;

    /// Makes writable layer `key` (a stopped container's changes, whose layer tar with
    /// `diff_id` was just stored) the snapshot on top of `parent`, by moving it rather than
    /// unpacking the tar again; the writable layer is gone afterwards. `None` when this
    /// snapshotter cannot (the caller then applies the tar).
    fn adopt_writable(
        &self,
        _key: &str,
        _parent: Option<&Digest>,
        _diff_id: &Digest,
    ) -> Result<Option<AppliedLayer>> {
        Ok(None)
    }

    /// Chain IDs of all complete snapshots.
    fn list(&self) -> Result<Vec<Digest>>;

    /// Disk bytes used by the snapshot's own directory.
    fn usage(&self, chain_id: &Digest) -> Result<u64>;

    /// Creates a writable layer named `key` on top of `parent` and says how to mount it.
    fn prepare(&self, key: &str, parent: Option<&Digest>) -> Result<RootfsMount>;

    /// Removes the writable layer `key` (it must no longer be mounted).
    fn remove_writable(&self, key: &str) -> Result<()>;

    /// The keys of every writable layer, so a daemon can remove those no container owns.
    fn writable_keys(&self) -> Result<Vec<String>>;

    /// Mounts `mount` at `target` (overlay) or bind-mounts it (directory).
    fn mount(&self, mount: &RootfsMount, target: &std::path::Path) -> Result<()>;

    /// Unmounts what [`Snapshotter::mount`] mounted at `target`.
    fn unmount(&self, target: &std::path::Path) -> Result<()>;

    /// Whether a root file system is mounted at `target`: by default, whether the kernel's
    /// mount table (this process's mountinfo) lists it.
    fn is_mounted(&self, target: &std::path::Path) -> bool {
        is_mount_point(target)
    }
}

/// Whether `path` is a mount point (listed in this process's mountinfo).
pub fn is_mount_point(path: &std::path::Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let target = path.to_string_lossy();
    berth_common::mountinfo::mount_points(&info).any(|mp| mp == target)
}

#[cfg(test)]
mod mount_point_tests {
    #[test]
    fn mount_points_come_from_mountinfo() {
        assert!(super::is_mount_point(std::path::Path::new("/proc")));
        assert!(!super::is_mount_point(std::path::Path::new("/proc/self")));
    }
}
