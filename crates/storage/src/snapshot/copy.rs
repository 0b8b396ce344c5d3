//! The copy snapshotter, for file systems overlayfs cannot sit on (or kernels without it).
//!
//! Each snapshot is a complete tree: a copy of its parent's tree with the layer applied, and
//! deletions carried out in place. It costs disk space and time per layer but needs nothing
//! but plain directories; a container's root file system is a copy bind-mounted in place.

use super::overlay::{Store, bind_mount, unmount};
use super::{AppliedLayer, RootfsMount, Snapshotter};
use crate::error::{Result, StorageError};
use crate::unpack::WhiteoutMode;
use berth_common::Digest;
use rustix::fs::{AtFlags, FileType, Mode, Timespec, Timestamps, XattrFlags};
use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The fallback snapshotter: full copies, no overlayfs needed.
#[derive(Debug)]
pub struct CopySnapshotter {
    store: Store,
}

impl CopySnapshotter {
    /// Opens (creating if needed) a copy snapshot store under `root`, discarding any half-built
    /// snapshot an earlier crash left behind.
    pub fn new(root: &Path) -> Result<Self> {
        Ok(CopySnapshotter {
            store: Store::open(root)?,
        })
    }

    /// Fills `dest` with a copy of snapshot `parent`'s tree (nothing for a base).
    fn seed(&self, parent: Option<&Digest>, dest: &Path) -> Result<()> {
        match parent {
            Some(p) => copy_tree(&self.store.fs_dir(p), dest),
            None => Ok(()),
        }
    }
}

impl Snapshotter for CopySnapshotter {
    fn name(&self) -> &'static str {
        "copy"
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
            .apply(parent, diff_id, layer, WhiteoutMode::Delete, |p, dest| {
                self.seed(p, dest)
            })
    }

    fn remove(&self, chain_id: &Digest) -> Result<()> {
        self.store.remove(chain_id)
    }

    fn list(&self) -> Result<Vec<Digest>> {
        self.store.list()
    }

    fn usage(&self, chain_id: &Digest) -> Result<u64> {
        self.store.usage(chain_id)
    }

    fn prepare(&self, key: &str, parent: Option<&Digest>) -> Result<RootfsMount> {
        if let Some(p) = parent
            && !self.store.exists(p)
        {
            return Err(StorageError::SnapshotNotFound(p.to_string()));
        }
        let dir = self.store.create_writable(key, |dir| {
            let tree = dir.join("fs");
            fs::create_dir(&tree).map_err(|e| StorageError::io(&tree, e))?;
            self.seed(parent, &tree)
        })?;
        Ok(RootfsMount::Directory(dir.join("fs")))
    }

    fn remove_writable(&self, key: &str) -> Result<()> {
        self.store.remove_writable(key)
    }

    fn writable_keys(&self) -> Result<Vec<String>> {
        self.store.writable_keys()
    }

    fn mount(&self, mount: &RootfsMount, target: &Path) -> Result<()> {
        match mount {
            RootfsMount::Directory(dir) => bind_mount(dir, target),
            RootfsMount::Overlay { lower, upper, work } => {
                super::overlay::mount_overlay(lower, upper, work, target)
            }
        }
    }

    fn unmount(&self, target: &Path) -> Result<()> {
        unmount(target)
    }
}

/// Copies the contents and metadata of tree `src` into the existing empty directory `dst`,
/// preserving modes, owners, times, xattrs, symlinks, devices and hardlinks within the tree.
/// `src` is a finished snapshot nobody modifies, so plain `lstat`-driven path walking is safe:
/// a symlink is recreated, never followed.
pub fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let mut copier = Copier {
        links: HashMap::new(),
    };
    copier.dir_contents(src, dst)?;
    let md = fs::symlink_metadata(src).map_err(|e| StorageError::io(src, e))?;
    copy_meta(src, dst, &md).map_err(|e| StorageError::io(dst, e))
}

/// Tree copy state: first copy of each multiply-linked inode, to link the others to it.
struct Copier {
    links: HashMap<(u64, u64), PathBuf>,
}

impl Copier {
    fn dir_contents(&mut self, src: &Path, dst: &Path) -> Result<()> {
        for entry in fs::read_dir(src).map_err(|e| StorageError::io(src, e))? {
            let entry = entry.map_err(|e| StorageError::io(src, e))?;
            let (from, to) = (entry.path(), dst.join(entry.file_name()));
            self.entry(&from, &to)?;
        }
        Ok(())
    }

    fn entry(&mut self, src: &Path, dst: &Path) -> Result<()> {
        let md = fs::symlink_metadata(src).map_err(|e| StorageError::io(src, e))?;
        let ft = md.file_type();
        let at_dst = |e: io::Error| StorageError::io(dst, e);
        if ft.is_dir() {
            fs::create_dir(dst).map_err(at_dst)?;
            self.dir_contents(src, dst)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(src).map_err(|e| StorageError::io(src, e))?;
            std::os::unix::fs::symlink(target, dst).map_err(at_dst)?;
        } else if ft.is_file() {
            if md.nlink() > 1 {
                if let Some(first) = self.links.get(&(md.dev(), md.ino())) {
                    return fs::hard_link(first, dst).map_err(at_dst);
                }
                self.links.insert((md.dev(), md.ino()), dst.to_path_buf());
            }
            fs::copy(src, dst).map_err(at_dst)?;
        } else if let Some(kind) = node_type(&ft) {
            let mode = Mode::from_raw_mode(md.mode() & 0o7777);
            rustix::fs::mknodat(rustix::fs::CWD, dst, kind, mode, md.rdev())
                .map_err(|e| at_dst(e.into()))?;
        } else {
            return Ok(()); // sockets are runtime objects, not image content
        }
        copy_meta(src, dst, &md).map_err(at_dst)
    }
}

fn node_type(ft: &fs::FileType) -> Option<FileType> {
    if ft.is_char_device() {
        Some(FileType::CharacterDevice)
    } else if ft.is_block_device() {
        Some(FileType::BlockDevice)
    } else if ft.is_fifo() {
        Some(FileType::Fifo)
    } else {
        None
    }
}

/// Owner, then mode (chown clears setuid), xattrs and times of `src` onto `dst`, never
/// following a symlink.
fn copy_meta(src: &Path, dst: &Path, md: &fs::Metadata) -> io::Result<()> {
    let is_link = md.file_type().is_symlink();
    let (uid, gid) = (
        rustix::fs::Uid::from_raw(md.uid()),
        rustix::fs::Gid::from_raw(md.gid()),
    );
    rustix::fs::chownat(
        rustix::fs::CWD,
        dst,
        Some(uid),
        Some(gid),
        AtFlags::SYMLINK_NOFOLLOW,
    )?;
    if !is_link {
        rustix::fs::chmodat(
            rustix::fs::CWD,
            dst,
            Mode::from_raw_mode(md.mode() & 0o7777),
            AtFlags::empty(),
        )?;
    }
    copy_xattrs(src, dst, is_link)?;
    let time = |sec: i64, nsec: i64| Timespec {
        tv_sec: sec,
        tv_nsec: nsec as _,
    };
    let times = Timestamps {
        last_access: time(md.atime(), md.atime_nsec()),
        last_modification: time(md.mtime(), md.mtime_nsec()),
    };
    rustix::fs::utimensat(rustix::fs::CWD, dst, &times, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(())
}

fn copy_xattrs(src: &Path, dst: &Path, is_link: bool) -> io::Result<()> {
    let size = match rustix::fs::llistxattr_query(src) {
        Ok(0) | Err(rustix::io::Errno::OPNOTSUPP) => return Ok(()),
        Ok(size) => size,
        Err(e) => return Err(e.into()),
    };
    let mut names = vec![0u8; size];
    let n = rustix::fs::llistxattr(src, &mut names[..])?;
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = std::ffi::OsStr::from_bytes(name);
        let len = rustix::fs::lgetxattr_query(src, name)?;
        let mut value = vec![0u8; len];
        let len = rustix::fs::lgetxattr(src, name, &mut value[..])?;
        match rustix::fs::lsetxattr(dst, name, &value[..len], XattrFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::OPNOTSUPP) => {}
            Err(rustix::io::Errno::PERM) if is_link => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
