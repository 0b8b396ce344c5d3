//! The overlayfs snapshotter (`overlay2`), Berth's default.
//!
//! Each snapshot directory holds only its own layer, with deletions recorded as overlayfs
//! whiteouts, so a layer shared by many images is stored once and a container's root file system
//! is one overlay mount of the stack. Mounting uses the new mount API with one
//! `fsconfig(lowerdir+)` call per layer, which lifts the one-page limit a classic
//! `lowerdir=a:b:c` option string puts on deep stacks; kernels without it get the classic
//! `mount(2)`.
//!
//! This file also holds `Store`, the on-disk layout and crash-safe bookkeeping both
//! snapshotters share, so they differ only in how a snapshot is seeded and mounted.

use super::{AppliedLayer, RootfsMount, Snapshotter};
use crate::error::{Result, StorageError};
use crate::unpack::{self, WhiteoutMode};
use berth_common::Digest;
use rustix::fd::{AsFd, BorrowedFd};
use rustix::io::Errno;
use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags};
use std::collections::HashSet;
use std::ffi::CString;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Stacks deeper than this are treated as a corrupted parent chain (a loop).
const MAX_DEPTH: usize = 4096;

/// Snapshots on disk, shared by both snapshotters:
///
/// ```text
/// <root>/snapshots/<chain-hex>/fs      the tree (this layer only, or the full stack for copy)
/// <root>/snapshots/<chain-hex>/parent  the parent's chain ID, absent for a base layer
/// <root>/snapshots/<chain-hex>/size    bytes of content the layer added
/// <root>/writable/<key>/...            containers' writable layers
/// <root>/tmp/<unique>                  everything under construction
/// ```
///
/// Everything is built under `tmp/` and renamed into place when complete, so a snapshot or
/// writable layer that exists is whole, and a crash leaves only `tmp/` debris that
/// [`Store::open`] wipes.
#[derive(Debug)]
pub(crate) struct Store {
    root: PathBuf,
    counter: AtomicU64,
}

/// A directory under construction: removed on drop unless [`Scratch::commit`]ted.
struct Scratch {
    path: PathBuf,
    keep: bool,
}

impl Scratch {
    /// Renames the scratch dir to `dest`. `Ok(false)` when `dest` already exists (another
    /// caller finished first); the scratch dir is then discarded.
    fn commit(mut self, dest: &Path) -> Result<bool> {
        match fs::rename(&self.path, dest) {
            Ok(()) => {
                self.keep = true;
                if let Some(parent) = dest.parent() {
                    crate::atomic::sync_dir(parent).map_err(|e| StorageError::io(parent, e))?;
                }
                Ok(true)
            }
            Err(e) if dest.is_dir() && is_exists_error(&e) => Ok(false),
            Err(e) => Err(StorageError::io(dest, e)),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

fn is_exists_error(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(code) if code == Errno::EXIST.raw_os_error() || code == Errno::NOTEMPTY.raw_os_error())
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StorageError + '_ {
    move |e| StorageError::io(path, e)
}

impl Store {
    /// Creates the layout under `root` and wipes what an interrupted run left in `tmp/`.
    pub(crate) fn open(root: &Path) -> Result<Store> {
        let tmp = root.join("tmp");
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(io_at(&tmp))?;
        }
        for dir in ["snapshots", "writable", "tmp"] {
            let dir = root.join(dir);
            fs::create_dir_all(&dir).map_err(io_at(&dir))?;
        }
        Ok(Store {
            root: root.to_path_buf(),
            counter: AtomicU64::new(0),
        })
    }

    /// The store's root directory.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    fn snapshot_dir(&self, chain: &Digest) -> PathBuf {
        self.root.join("snapshots").join(chain.hex())
    }

    /// The tree of snapshot `chain`.
    pub(crate) fn fs_dir(&self, chain: &Digest) -> PathBuf {
        self.snapshot_dir(chain).join("fs")
    }

    /// True when snapshot `chain` is complete (it can only exist complete).
    pub(crate) fn exists(&self, chain: &Digest) -> bool {
        self.fs_dir(chain).is_dir()
    }

    fn require(&self, chain: &Digest) -> Result<()> {
        match self.exists(chain) {
            true => Ok(()),
            false => Err(StorageError::SnapshotNotFound(chain.to_string())),
        }
    }

    /// A fresh, empty scratch directory under `tmp/`.
    /// Names combine pid, a counter and the clock; several stores on one root in one process
    /// could still collide, hence the retry.
    fn scratch(&self) -> Result<Scratch> {
        let tmp = self.root.join("tmp");
        loop {
            let n = self.counter.fetch_add(1, Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let path = tmp.join(format!("{}-{n}-{nanos}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => return Ok(Scratch { path, keep: false }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(StorageError::io(&path, e)),
            }
        }
    }

    /// The parent chain ID recorded for `chain`.
    pub(crate) fn parent_of(&self, chain: &Digest) -> Result<Option<Digest>> {
        let path = self.snapshot_dir(chain).join("parent");
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StorageError::io(&path, e)),
        };
        let corrupt = |_| {
            StorageError::io(
                &path,
                io::Error::new(io::ErrorKind::InvalidData, "bad parent"),
            )
        };
        text.trim().parse().map(Some).map_err(corrupt)
    }

    /// Tree directories of the stack ending at `chain`, top-most first.
    pub(crate) fn stack(&self, chain: &Digest) -> Result<Vec<PathBuf>> {
        let mut dirs = Vec::new();
        let mut next = Some(chain.clone());
        while let Some(cur) = next {
            self.require(&cur)?;
            if dirs.len() >= MAX_DEPTH {
                let path = self.snapshot_dir(chain);
                return Err(StorageError::io(
                    path,
                    io::Error::other("parent chain loops"),
                ));
            }
            dirs.push(self.fs_dir(&cur));
            next = self.parent_of(&cur)?;
        }
        Ok(dirs)
    }

    /// The whole `apply_layer` protocol: existence check, scratch dir seeded by `seed` (given
    /// the parent's chain and the scratch tree), extraction, diff ID check, atomic rename.
    pub(crate) fn apply(
        &self,
        parent: Option<&Digest>,
        diff_id: &Digest,
        layer: &mut dyn Read,
        whiteouts: WhiteoutMode,
        seed: impl FnOnce(Option<&Digest>, &Path) -> Result<()>,
    ) -> Result<AppliedLayer> {
        let chain_id = match parent {
            Some(p) => Digest::of(format!("{p} {diff_id}").as_bytes()),
            None => diff_id.clone(),
        };
        if self.exists(&chain_id) {
            let size = self.recorded_size(&chain_id);
            return Ok(AppliedLayer {
                chain_id,
                diff_id: diff_id.clone(),
                size,
                created: false,
            });
        }
        if let Some(p) = parent {
            self.require(p)?;
        }
        let scratch = self.scratch()?;
        let tree = scratch.path.join("fs");
        fs::create_dir(&tree).map_err(io_at(&tree))?;
        seed(parent, &tree)?;
        let unpacked = unpack::apply_layer(layer, &tree, whiteouts)?;
        if unpacked.diff_id != *diff_id {
            return Err(StorageError::DiffIdMismatch {
                expected: diff_id.clone(),
                actual: unpacked.diff_id,
            });
        }
        self.finish_snapshot(&scratch.path, parent, unpacked.stats.size)?;
        let created = scratch.commit(&self.snapshot_dir(&chain_id))?;
        let size = if created {
            unpacked.stats.size
        } else {
            self.recorded_size(&chain_id)
        };
        Ok(AppliedLayer {
            chain_id,
            diff_id: diff_id.clone(),
            size,
            created,
        })
    }

    /// Moves `tree` (a container's upper directory, holding exactly the layer `diff_id`) into
    /// place as the snapshot on top of `parent`, instead of unpacking the layer's tar again. An
    /// existing snapshot of the same chain is kept and `tree` left where it is.
    pub(crate) fn adopt(
        &self,
        parent: Option<&Digest>,
        diff_id: &Digest,
        tree: &Path,
    ) -> Result<AppliedLayer> {
        let chain_id = match parent {
            Some(p) => Digest::of(format!("{p} {diff_id}").as_bytes()),
            None => diff_id.clone(),
        };
        if self.exists(&chain_id) {
            return Ok(AppliedLayer {
                size: self.recorded_size(&chain_id),
                chain_id,
                diff_id: diff_id.clone(),
                created: false,
            });
        }
        if let Some(p) = parent {
            self.require(p)?;
        }
        let size = disk_usage(tree)?;
        let scratch = self.scratch()?;
        let fs_dir = scratch.path.join("fs");
        fs::rename(tree, &fs_dir).map_err(io_at(tree))?;
        self.finish_snapshot(&scratch.path, parent, size)?;
        let created = scratch.commit(&self.snapshot_dir(&chain_id))?;
        Ok(AppliedLayer {
            size: if created {
                size
            } else {
                self.recorded_size(&chain_id)
            },
            chain_id,
            diff_id: diff_id.clone(),
            created,
        })
    }

    /// Writes the bookkeeping files and makes the tree durable before it is renamed into place.
    fn finish_snapshot(&self, dir: &Path, parent: Option<&Digest>, size: u64) -> Result<()> {
        if let Some(p) = parent {
            let path = dir.join("parent");
            fs::write(&path, p.to_string()).map_err(io_at(&path))?;
        }
        let path = dir.join("size");
        fs::write(&path, size.to_string()).map_err(io_at(&path))?;
        let fd = fs::File::open(dir).map_err(io_at(dir))?;
        rustix::fs::syncfs(&fd).map_err(|e| StorageError::io(dir, e.into()))
    }

    fn recorded_size(&self, chain: &Digest) -> u64 {
        let path = self.snapshot_dir(chain).join("size");
        fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Deletes a snapshot: renamed into `tmp/` first so it disappears at once, then removed.
    pub(crate) fn remove(&self, chain: &Digest) -> Result<()> {
        self.discard(&self.snapshot_dir(chain))
    }

    fn discard(&self, dir: &Path) -> Result<()> {
        let scratch = self.scratch()?;
        let grave = scratch.path.join("gone");
        match fs::rename(dir, &grave) {
            Ok(()) => Ok(()), // `scratch` removes it on drop
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::io(dir, e)),
        }
    }

    /// Chain IDs of the complete snapshots.
    pub(crate) fn list(&self) -> Result<Vec<Digest>> {
        let dir = self.root.join("snapshots");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_at(&dir))? {
            let entry = entry.map_err(io_at(&dir))?;
            if let Some(d) = entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
            {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Disk bytes of the snapshot's directory.
    pub(crate) fn usage(&self, chain: &Digest) -> Result<u64> {
        self.require(chain)?;
        disk_usage(&self.snapshot_dir(chain))
    }

    /// Directory of writable layer `key`, refusing keys that are not a single path component.
    pub(crate) fn writable_dir(&self, key: &str) -> Result<PathBuf> {
        if key.is_empty() || key == "." || key == ".." || key.contains('/') || key.contains('\0') {
            return Err(StorageError::InvalidLayer(format!(
                "invalid writable layer key {key:?}"
            )));
        }
        Ok(self.root.join("writable").join(key))
    }

    /// Creates writable layer `key` (seeded by `seed` in a scratch dir) unless it already exists,
    /// in which case it is kept as is: a restarted daemon gets the same container changes back.
    pub(crate) fn create_writable(
        &self,
        key: &str,
        seed: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<PathBuf> {
        let dest = self.writable_dir(key)?;
        if dest.is_dir() {
            return Ok(dest);
        }
        let scratch = self.scratch()?;
        seed(&scratch.path)?;
        scratch.commit(&dest)?;
        Ok(dest)
    }

    /// Removes writable layer `key`; missing is fine.
    pub(crate) fn remove_writable(&self, key: &str) -> Result<()> {
        self.discard(&self.writable_dir(key)?)
    }

    /// Keys of every writable layer.
    pub(crate) fn writable_keys(&self) -> Result<Vec<String>> {
        let dir = self.root.join("writable");
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StorageError::io(&dir, e)),
        };
        let mut keys = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| StorageError::io(&dir, e))?;
            keys.push(entry.file_name().to_string_lossy().into_owned());
        }
        keys.sort();
        Ok(keys)
    }
}

/// `du`: allocated bytes under `dir`, hardlinked inodes counted once, symlinks not followed.
pub(crate) fn disk_usage(dir: &Path) -> Result<u64> {
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        let md = fs::symlink_metadata(&path).map_err(io_at(&path))?;
        if md.nlink() > 1 && !md.is_dir() && !seen.insert((md.dev(), md.ino())) {
            continue;
        }
        total += md.blocks() * 512;
        if md.is_dir() {
            for entry in fs::read_dir(&path).map_err(io_at(&path))? {
                todo.push(entry.map_err(io_at(&path))?.path());
            }
        }
    }
    Ok(total)
}

/// Bind-mounts `source` on `target` (used for copy snapshots).
pub(crate) fn bind_mount(source: &Path, target: &Path) -> Result<()> {
    rustix::mount::mount_bind(source, target).map_err(|e| StorageError::io(target, e.into()))
}

/// Lazily unmounts `target`, so a container's lingering open files do not block cleanup.
pub(crate) fn unmount(target: &Path) -> Result<()> {
    rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH)
        .map_err(|e| StorageError::io(target, e.into()))
}

/// Why the new mount API could not be used.
enum NewApiError {
    /// The kernel lacks `fsopen` or `lowerdir+`: the classic `mount(2)` may still work.
    Unsupported(io::Error),
    /// A real failure, with the kernel's explanation when it gave one.
    Failed(io::Error),
}

/// Mounts an overlay of `lower` (top-most first), `upper` and `work` on `target`.
pub(crate) fn mount_overlay(
    lower: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<()> {
    match mount_overlay_new_api(lower, upper, work, target) {
        Ok(()) => Ok(()),
        Err(NewApiError::Unsupported(why)) => {
            tracing::debug!(error = %why, "fsconfig(lowerdir+) unavailable, using mount(2)");
            mount_overlay_classic(lower, upper, work, target)
        }
        Err(NewApiError::Failed(e)) => Err(StorageError::io(target, e)),
    }
}

fn mount_overlay_new_api(
    lower: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> std::result::Result<(), NewApiError> {
    let fs = rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(|e| NewApiError::Unsupported(e.into()))?;
    let failed =
        |fs: BorrowedFd<'_>, what: &str, e: Errno| NewApiError::Failed(with_log(fs, what, e));
    for dir in lower {
        rustix::mount::fsconfig_set_string(&fs, "lowerdir+", dir).map_err(|e| match e {
            Errno::INVAL if lower.first() == Some(dir) => {
                NewApiError::Unsupported(with_log(fs.as_fd(), "lowerdir+", e))
            }
            e => failed(fs.as_fd(), "lowerdir+", e),
        })?;
    }
    rustix::mount::fsconfig_set_string(&fs, "upperdir", upper)
        .map_err(|e| failed(fs.as_fd(), "upperdir", e))?;
    rustix::mount::fsconfig_set_string(&fs, "workdir", work)
        .map_err(|e| failed(fs.as_fd(), "workdir", e))?;
    rustix::mount::fsconfig_create(&fs).map_err(|e| failed(fs.as_fd(), "create", e))?;
    let mnt = rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty())
        .map_err(|e| failed(fs.as_fd(), "fsmount", e))?;
    rustix::mount::move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| failed(fs.as_fd(), "move_mount", e))
}

/// Adds the messages the kernel queued on the fs context (`read(2)` of the fsopen fd) to `e`.
fn with_log(fs: BorrowedFd<'_>, what: &str, e: Errno) -> io::Error {
    let mut messages = Vec::new();
    let mut buf = [0u8; 512];
    while let Ok(n) = rustix::io::read(fs, &mut buf) {
        if n == 0 {
            break;
        }
        messages.push(String::from_utf8_lossy(&buf[..n]).trim().to_string());
    }
    let e = io::Error::from(e);
    match messages.is_empty() {
        true => io::Error::new(e.kind(), format!("overlay {what}: {e}")),
        false => io::Error::new(
            e.kind(),
            format!("overlay {what}: {e} ({})", messages.join("; ")),
        ),
    }
}

fn mount_overlay_classic(
    lower: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<()> {
    let all = lower.iter().map(PathBuf::as_path).chain([upper, work]);
    for path in all {
        if path
            .as_os_str()
            .as_bytes()
            .iter()
            .any(|b| matches!(b, b':' | b','))
        {
            let e = io::Error::new(
                io::ErrorKind::InvalidInput,
                "path has ':' or ',' (overlay option syntax)",
            );
            return Err(StorageError::io(path, e));
        }
    }
    let lowers: Vec<String> = lower.iter().map(|p| p.display().to_string()).collect();
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        upper.display(),
        work.display()
    );
    let options = CString::new(options)
        .map_err(|e| StorageError::io(target, io::Error::new(io::ErrorKind::InvalidInput, e)))?;
    rustix::mount::mount(
        "overlay",
        target,
        "overlay",
        MountFlags::empty(),
        options.as_c_str(),
    )
    .map_err(|e| StorageError::io(target, e.into()))
}

/// The default snapshotter: one directory per layer, stacked with overlayfs.
#[derive(Debug)]
pub struct OverlaySnapshotter {
    store: Store,
}

impl OverlaySnapshotter {
    /// Opens (creating if needed) an overlay snapshot store under `root`, discarding any
    /// half-built snapshot an earlier crash left behind. `root` must be on a file system
    /// overlayfs accepts as upper layer (ext4, xfs, btrfs, tmpfs).
    pub fn new(root: &Path) -> Result<Self> {
        let store = Store::open(root)?;
        let empty = store.root().join("empty");
        fs::create_dir_all(&empty).map_err(io_at(&empty))?;
        Ok(OverlaySnapshotter { store })
    }

    /// Read-only layers for a writable layer on `parent`: overlayfs needs at least one, so a
    /// container without image gets an empty directory.
    fn lower_for(&self, parent: Option<&Digest>) -> Result<Vec<PathBuf>> {
        match parent {
            Some(p) => self.store.stack(p),
            None => Ok(vec![self.store.root().join("empty")]),
        }
    }
}

impl Snapshotter for OverlaySnapshotter {
    fn name(&self) -> &'static str {
        "overlay2"
    }

    fn exists(&self, chain_id: &Digest) -> bool {
        self.store.exists(chain_id)
    }

    fn apply_layer(
        &self,
        parent: Option<&Digest>,
        diff_id: &Digest,
        layer: &mut dyn Read,
    ) -> Result<AppliedLayer> {
        self.store
            .apply(parent, diff_id, layer, WhiteoutMode::Overlay, |_, _| Ok(()))
    }

    fn remove(&self, chain_id: &Digest) -> Result<()> {
        self.store.remove(chain_id)
    }

    fn adopt_writable(
        &self,
        key: &str,
        parent: Option<&Digest>,
        diff_id: &Digest,
    ) -> Result<Option<AppliedLayer>> {
        // The upper directory is in overlayfs's own format (whiteouts as 0/0 devices, opaque
        // directories by xattr), which is how this snapshotter stores layers.
        let upper = self.store.writable_dir(key)?.join("upper");
        if !upper.is_dir() {
            return Ok(None);
        }
        self.store.adopt(parent, diff_id, &upper).map(Some)
    }

    fn list(&self) -> Result<Vec<Digest>> {
        self.store.list()
    }

    fn usage(&self, chain_id: &Digest) -> Result<u64> {
        self.store.usage(chain_id)
    }

    fn prepare(&self, key: &str, parent: Option<&Digest>) -> Result<RootfsMount> {
        let lower = self.lower_for(parent)?;
        let dir = self.store.create_writable(key, |dir| {
            for sub in ["upper", "work"] {
                let path = dir.join(sub);
                fs::create_dir(&path).map_err(io_at(&path))?;
            }
            Ok(())
        })?;
        Ok(RootfsMount::Overlay {
            lower,
            upper: dir.join("upper"),
            work: dir.join("work"),
        })
    }

    fn writable_keys(&self) -> Result<Vec<String>> {
        self.store.writable_keys()
    }

    fn remove_writable(&self, key: &str) -> Result<()> {
        self.store.remove_writable(key)
    }

    fn mount(&self, mount: &RootfsMount, target: &Path) -> Result<()> {
        match mount {
            RootfsMount::Overlay { lower, upper, work } => {
                mount_overlay(lower, upper, work, target)
            }
            RootfsMount::Directory(dir) => bind_mount(dir, target),
        }
    }

    fn unmount(&self, target: &Path) -> Result<()> {
        unmount(target)
    }
}
