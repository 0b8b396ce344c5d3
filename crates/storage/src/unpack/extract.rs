//! The extractor: one archive entry at a time, every path resolved inside the destination
//! (`openat2(RESOLVE_IN_ROOT)`), whiteouts applied as the mode says, hard links kept inside.

use super::fsops::{dir_names, open_subdir, remove_all_at, set_xattr_at};
use super::meta::Meta;
use super::{
    ApplyStats, OPAQUE_MARKER, OPAQUE_XATTR, WHITEOUT_PREFIX, WhiteoutMode, escapes, invalid,
    malformed, normalize,
};
use crate::error::{Result, StorageError};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Extraction state for one archive.
pub(super) struct Extractor<'a> {
    /// `dest` opened `O_PATH`: the root every lookup is confined to.
    root: OwnedFd,
    dest: &'a Path,
    whiteouts: WhiteoutMode,
    /// Paths this layer wrote (and their ancestors), so an opaque marker in [`WhiteoutMode::Delete`]
    /// only removes what lower layers put there, whatever the entry order.
    written: HashSet<PathBuf>,
    /// Directory mtimes, applied last since creating children changes them.
    dir_times: Vec<(PathBuf, Timespec)>,
    stats: ApplyStats,
}

impl<'a> Extractor<'a> {
    pub(super) fn open(root: OwnedFd, dest: &'a Path, whiteouts: WhiteoutMode) -> Self {
        Extractor {
            root,
            dest,
            whiteouts,
            written: HashSet::new(),
            dir_times: Vec::new(),
            stats: ApplyStats::default(),
        }
    }

    pub(super) fn io_err(&self, rel: &Path, e: impl Into<io::Error>) -> StorageError {
        StorageError::io(self.dest.join(rel), e.into())
    }

    pub(super) fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        self.stats.entries += 1;
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let rel = normalize(&raw).ok_or_else(|| escapes(&shown))?;
        let kind = entry.header().entry_type();
        let Some(name) = rel.file_name().map(OsStr::to_os_string) else {
            // The archive's own `./`: the destination root keeps the snapshotter's metadata.
            return match kind.is_dir() {
                true => Ok(()),
                false => Err(invalid(format!(
                    "{shown}: only a directory can name the layer root"
                ))),
            };
        };
        if let Some(hidden) = name.as_bytes().strip_prefix(WHITEOUT_PREFIX) {
            return self.whiteout(&rel, OsStr::from_bytes(hidden), &shown);
        }
        if !is_supported(kind) {
            tracing::warn!(entry = %shown, kind = ?kind, "skipping unsupported tar entry type");
            return Ok(());
        }
        let meta = Meta::read(entry, &shown)?;
        let parent = self.create_parent(&rel, &shown)?;
        self.mark_written(&rel);
        match kind {
            tar::EntryType::Directory => self.directory(&parent, &name, &rel, &meta),
            tar::EntryType::Symlink => self.symlink(&parent, &name, &rel, &meta, entry, &shown),
            tar::EntryType::Link => self.hardlink(&parent, &name, &rel, entry, &shown),
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                self.node(&parent, &name, &rel, &meta, entry.header())
            }
            _ => self.file(&parent, &name, &rel, &meta, entry),
        }
    }

    /// Opens directory `rel` (no creation), confined to the root.
    pub(super) fn open_dir(&self, rel: &Path) -> rustix::io::Result<OwnedFd> {
        let path = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        loop {
            match rustix::fs::openat2(&self.root, path, flags, Mode::empty(), resolve) {
                // The kernel asks for a retry when a rename raced with the lookup.
                Err(Errno::AGAIN) => continue,
                other => return other,
            }
        }
    }

    /// The parent directory of `rel` if it exists.
    pub(super) fn existing_parent(&self, rel: &Path, shown: &str) -> Result<Option<OwnedFd>> {
        let parent = rel.parent().unwrap_or(Path::new(""));
        match self.open_dir(parent) {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno::NOENT) => Ok(None),
            Err(Errno::NOTDIR | Errno::LOOP) => Err(not_a_dir(shown)),
            Err(e) => Err(self.io_err(parent, e)),
        }
    }

    /// The parent directory of `rel`, creating missing ones (mode 0755, like Docker).
    pub(super) fn create_parent(&self, rel: &Path, shown: &str) -> Result<OwnedFd> {
        if let Some(fd) = self.existing_parent(rel, shown)? {
            return Ok(fd);
        }
        let parent = rel.parent().unwrap_or(Path::new(""));
        let mut cur = self
            .open_dir(Path::new(""))
            .map_err(|e| self.io_err(Path::new(""), e))?;
        let mut prefix = PathBuf::new();
        for comp in parent.iter() {
            prefix.push(comp);
            cur = match self.open_dir(&prefix) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => self.mkdir_in(&cur, comp, &prefix, shown)?,
                Err(Errno::NOTDIR | Errno::LOOP) => return Err(not_a_dir(shown)),
                Err(e) => return Err(self.io_err(&prefix, e)),
            };
        }
        Ok(cur)
    }

    /// Creates one missing parent directory inside an already resolved directory.
    pub(super) fn mkdir_in(
        &self,
        dir: &OwnedFd,
        name: &OsStr,
        rel: &Path,
        shown: &str,
    ) -> Result<OwnedFd> {
        match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o755)) {
            Ok(()) => {}
            // Resolution said "missing" but the name exists: a dangling symlink.
            Err(Errno::EXIST) => {
                return Err(invalid(format!(
                    "{shown}: parent {} is a dangling symlink",
                    rel.display()
                )));
            }
            Err(e) => return Err(self.io_err(rel, e)),
        }
        rustix::fs::chmodat(dir, name, Mode::from_raw_mode(0o755), AtFlags::empty())
            .map_err(|e| self.io_err(rel, e))?;
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        rustix::fs::openat(dir, name, flags, Mode::empty()).map_err(|e| self.io_err(rel, e))
    }

    /// Records `rel` and its ancestors as written by this layer ([`WhiteoutMode::Delete`] only).
    pub(super) fn mark_written(&mut self, rel: &Path) {
        if self.whiteouts != WhiteoutMode::Delete {
            return;
        }
        for path in rel.ancestors().filter(|p| !p.as_os_str().is_empty()) {
            if !self.written.insert(path.to_path_buf()) {
                break; // its ancestors were recorded with it
            }
        }
    }

    /// Clears the way for an entry: keeps an existing directory when a directory comes, removes
    /// anything else. Returns whether a directory was kept.
    pub(super) fn make_room(
        &self,
        dir: &OwnedFd,
        name: &OsStr,
        rel: &Path,
        want_dir: bool,
    ) -> Result<bool> {
        match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(self.io_err(rel, e)),
            Ok(st) if want_dir && FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                Ok(true)
            }
            Ok(_) => remove_all_at(dir.as_fd(), name)
                .map(|()| false)
                .map_err(|e| self.io_err(rel, e)),
        }
    }

    pub(super) fn directory(
        &mut self,
        dir: &OwnedFd,
        name: &OsStr,
        rel: &Path,
        meta: &Meta,
    ) -> Result<()> {
        if !self.make_room(dir, name, rel, true)? {
            rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o700))
                .map_err(|e| self.io_err(rel, e))?;
        }
        self.set_meta(dir, name, rel, meta, false, false)?;
        self.dir_times.push((rel.to_path_buf(), meta.mtime));
        Ok(())
    }

    pub(super) fn file<R: Read>(
        &mut self,
        dir: &OwnedFd,
        name: &OsStr,
        rel: &Path,
        meta: &Meta,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<()> {
        self.make_room(dir, name, rel, false)?;
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(0o600))
            .map_err(|e| self.io_err(rel, e))?;
        let mut file = File::from(fd);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = entry.read(&mut buf).map_err(malformed)?;
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n]).map_err(|e| self.io_err(rel, e))?;
            self.stats.size += n as u64;
        }
        drop(file);
        self.set_meta(dir, name, rel, meta, false, true)
    }

    pub(super) fn symlink<R: Read>(
        &mut self,
        dir: &OwnedFd,
        name: &OsStr,
        rel: &Path,
        meta: &Meta,
        entry: &tar::Entry<'_, R>,
        shown: &str,
    ) -> Result<()> {
        let target = entry
            .link_name_bytes()
            .ok_or_else(|| invalid(format!("{shown}: symlink without a target")))?;
        self.make_room(dir, name, rel, false)?;
        rustix::fs::symlinkat(OsStr::from_bytes(&target), dir, name)
            .map_err(|e| self.io_err(rel, e))?;
        self.set_meta(dir, name, rel, meta, true, true)
    }

    pub(super) fn hardlink<R: Read>(
        &mut self,
        dir: &OwnedFd,
        name: &OsStr,
        rel: &Path,
        entry: &tar::Entry<'_, R>,
        shown: &str,
    ) -> Result<()> {
        let raw = entry
            .link_name_bytes()
            .ok_or_else(|| invalid(format!("{shown}: hardlink without a target")))?;
        let target_shown = String::from_utf8_lossy(&raw).into_owned();
        let escaping = || {
            invalid(format!(
                "{shown}: hardlink target {target_shown} escapes the layer root"
            ))
        };
        let target = normalize(&raw).ok_or_else(escaping)?;
        let target_name = target.file_name().ok_or_else(escaping)?;
        let missing = || {
            invalid(format!(
                "{shown}: hardlink target {target_shown} is not in the layer"
            ))
        };
        let target_dir = self.existing_parent(&target, shown)?.ok_or_else(missing)?;
        if target == rel {
            return Err(invalid(format!("{shown}: hardlink to itself")));
        }
        self.make_room(dir, name, rel, false)?;
        match rustix::fs::linkat(&target_dir, target_name, dir, name, AtFlags::empty()) {
            Ok(()) => Ok(()),
            Err(Errno::NOENT) => Err(missing()),
            Err(e) => Err(self.io_err(rel, e)),
        }
    }

    pub(super) fn node(
        &mut self,
        dir: &OwnedFd,
        name: &OsStr,
        rel: &Path,
        meta: &Meta,
        header: &tar::Header,
    ) -> Result<()> {
        let (file_type, dev) = match header.entry_type() {
            tar::EntryType::Fifo => (FileType::Fifo, 0),
            kind => {
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                let ft = if kind == tar::EntryType::Char {
                    FileType::CharacterDevice
                } else {
                    FileType::BlockDevice
                };
                (ft, rustix::fs::makedev(major, minor))
            }
        };
        self.make_room(dir, name, rel, false)?;
        rustix::fs::mknodat(dir, name, file_type, Mode::from_raw_mode(0o600), dev)
            .map_err(|e| self.io_err(rel, e))?;
        self.set_meta(dir, name, rel, meta, false, true)
    }

    /// Applies owner, mode, xattrs and (unless deferred) times to `dir/name`, never following a
    /// symlink. Owner goes first since `chown` clears setuid bits.
    pub(super) fn set_meta(
        &self,
        dir: &OwnedFd,
        name: &OsStr,
        rel: &Path,
        meta: &Meta,
        is_link: bool,
        times: bool,
    ) -> Result<()> {
        let err = |e: Errno| self.io_err(rel, e);
        let (uid, gid) = (
            rustix::fs::Uid::from_raw(meta.uid),
            rustix::fs::Gid::from_raw(meta.gid),
        );
        rustix::fs::chownat(dir, name, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(err)?;
        if !is_link {
            // `name` was just created (or checked to be a directory) by us: not a symlink.
            rustix::fs::chmodat(dir, name, Mode::from_raw_mode(meta.mode), AtFlags::empty())
                .map_err(err)?;
        }
        for (key, value) in &meta.xattrs {
            set_xattr_at(dir.as_fd(), name, key, value, is_link)
                .map_err(|e| self.io_err(rel, e))?;
        }
        if times {
            rustix::fs::utimensat(dir, name, &meta.timestamps(), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(err)?;
        }
        Ok(())
    }

    pub(super) fn whiteout(&mut self, rel: &Path, hidden: &OsStr, shown: &str) -> Result<()> {
        let dir_rel = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        if hidden.as_bytes() == OPAQUE_MARKER {
            return self.opaque(rel, &dir_rel, shown);
        }
        if hidden.as_bytes().starts_with(WHITEOUT_PREFIX) {
            return Ok(()); // aufs bookkeeping (`.wh..wh.plnk`, ...): meaningless here
        }
        if hidden.is_empty() {
            return Err(invalid(format!("{shown}: whiteout without a name")));
        }
        let target = dir_rel.join(hidden);
        match self.whiteouts {
            WhiteoutMode::Overlay => {
                let dir = self.create_parent(rel, shown)?;
                self.make_room(&dir, hidden, &target, false)?;
                rustix::fs::mknodat(&dir, hidden, FileType::CharacterDevice, Mode::empty(), 0)
                    .map_err(|e| self.io_err(&target, e))
            }
            WhiteoutMode::Delete => match self.existing_parent(rel, shown)? {
                Some(dir) => {
                    remove_all_at(dir.as_fd(), hidden).map_err(|e| self.io_err(&target, e))
                }
                None => Ok(()),
            },
        }
    }

    pub(super) fn opaque(&mut self, rel: &Path, dir_rel: &Path, shown: &str) -> Result<()> {
        let dir = self.create_parent(rel, shown)?;
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let dir = rustix::fs::openat(&dir, ".", flags, Mode::empty())
            .map_err(|e| self.io_err(dir_rel, e))?;
        match self.whiteouts {
            WhiteoutMode::Overlay => {
                rustix::fs::fsetxattr(&dir, OPAQUE_XATTR, b"y", XattrFlags::empty())
                    .map_err(|e| self.io_err(dir_rel, e))
            }
            WhiteoutMode::Delete => {
                self.mark_written(dir_rel);
                self.clear_unwritten(dir.as_fd(), dir_rel)
                    .map_err(|e| self.io_err(dir_rel, e))
            }
        }
    }

    /// Removes everything under `dir` this layer did not write, keeping the written entries
    /// (and pruning inside written directories, since they hide the lower ones too).
    pub(super) fn clear_unwritten(&self, dir: BorrowedFd<'_>, rel: &Path) -> io::Result<()> {
        for name in dir_names(dir)? {
            let child = rel.join(&name);
            if !self.written.contains(&child) {
                remove_all_at(dir, &name)?;
                continue;
            }
            let st = rustix::fs::statat(dir, &name, AtFlags::SYMLINK_NOFOLLOW)?;
            if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                let sub = open_subdir(dir, &name)?;
                self.clear_unwritten(sub.as_fd(), &child)?;
            }
        }
        Ok(())
    }

    /// Sets the deferred directory mtimes; directories removed meanwhile are skipped.
    pub(super) fn finish(self) -> Result<ApplyStats> {
        for (rel, mtime) in &self.dir_times {
            let Some(name) = rel.file_name() else {
                continue;
            };
            let Ok(dir) = self.open_dir(rel.parent().unwrap_or(Path::new(""))) else {
                continue;
            };
            let times = Timestamps {
                last_access: *mtime,
                last_modification: *mtime,
            };
            match rustix::fs::utimensat(&dir, name, &times, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(e) => return Err(self.io_err(rel, e)),
            }
        }
        Ok(self.stats)
    }
}

pub(super) fn not_a_dir(shown: &str) -> StorageError {
    invalid(format!("{shown}: a parent path is not a directory"))
}

/// Entry types that describe a file system object (extension headers are consumed by the tar
/// crate; anything else is unknown).
pub(super) fn is_supported(kind: tar::EntryType) -> bool {
    use tar::EntryType as T;
    matches!(
        kind,
        T::Regular
            | T::Continuous
            | T::GNUSparse
            | T::Directory
            | T::Symlink
            | T::Link
            | T::Char
            | T::Block
            | T::Fifo
    )
}
