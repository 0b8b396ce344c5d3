//! Reading layer archives: compression detection and safe extraction.
//!
//! A layer tar is untrusted input: its paths may contain `..`, be absolute, or go through a
//! symlink the same archive planted a few entries earlier (`evil -> /etc`, then `evil/passwd`).
//! [`apply_tar`] therefore never resolves a path the usual way: every parent directory is opened
//! with `openat2(RESOLVE_IN_ROOT)` relative to the destination, so a symlink is interpreted as
//! if the destination were `/` (the same containment Docker gets from `chroot`), and the final
//! component is created with `*at` calls on that directory fd without following symlinks.
//! Lexical `..` that would climb above the root is refused outright.

use crate::error::{Result, StorageError};
use berth_common::Digest;
use berth_common::digest::Sha256Writer;
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Layer compression, recognised from the stream's first bytes rather than trusted from a media
/// type, since archives in the wild mislabel layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// Sniffs the compression from the first bytes of a stream.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// The OCI layer media type for this compression.
    pub fn oci_media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// Wraps `reader` in the right decompressor; also says which one it chose.
pub fn decompress<'a>(reader: impl Read + 'a) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut buffered = BufReader::with_capacity(1 << 20, reader);
    let compression = Compression::detect(buffered.fill_buf()?);
    let out: Box<dyn Read + 'a> = match compression {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?),
    };
    Ok((compression, out))
}

/// How whiteout entries (`.wh.<name>`, `.wh..wh..opq`) are materialised, which depends on what
/// the destination already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// The destination holds only this layer (overlay snapshots): deletions are recorded the way
    /// overlayfs reads them, a 0/0 character device for a deleted name and the
    /// `trusted.overlay.opaque=y` xattr on an opaque directory.
    Overlay,
    /// The destination already holds the parent's full tree (copy snapshots): deletions are
    /// carried out in place.
    Delete,
}

/// What [`apply_tar`] did, for layer size accounting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// Bytes of regular-file content written (what `docker history` shows as SIZE).
    pub size: u64,
    /// Archive entries processed, whiteouts included.
    pub entries: u64,
}

/// What [`apply_layer`] found out about a (possibly compressed) layer while applying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackedLayer {
    /// sha256 of the whole uncompressed stream, trailing padding included.
    pub diff_id: Digest,
    /// The compression recognised from the first bytes.
    pub compression: Compression,
    /// Extraction counters.
    pub stats: ApplyStats,
}

/// Decompresses `layer`, extracts it into `dest` with [`apply_tar`] and hashes the uncompressed
/// bytes on the way, so the diff ID is known after a single pass over a possibly huge stream.
/// The stream is drained past the tar end-of-archive marker so the digest covers every byte.
/// The caller compares the diff ID and discards `dest` on mismatch.
pub fn apply_layer(
    layer: &mut dyn Read,
    dest: &Path,
    whiteouts: WhiteoutMode,
) -> Result<UnpackedLayer> {
    let (compression, decoded) = decompress(layer).map_err(malformed)?;
    let mut hashed = HashingReader {
        inner: decoded,
        hash: Sha256Writer::new(io::sink()),
    };
    let stats = apply_tar(&mut hashed, dest, whiteouts)?;
    io::copy(&mut hashed, &mut io::sink()).map_err(malformed)?;
    let (_, diff_id, _) = hashed.hash.finish();
    Ok(UnpackedLayer {
        diff_id,
        compression,
        stats,
    })
}

/// A reader that hashes what it hands out.
struct HashingReader<R> {
    inner: R,
    hash: Sha256Writer<io::Sink>,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Extracts an uncompressed layer tar into `dest` without ever writing outside it.
///
/// Supports regular files, directories, symlinks, hardlinks, devices and fifos with their mode
/// (setuid bits included), owner, mtime and `SCHILY.xattr.*` extended attributes; an entry
/// replaces whatever non-directory was at its path. Errors: [`StorageError::InvalidLayer`] for a
/// malformed archive or an entry escaping `dest`; [`StorageError::Io`] for file system failures.
/// On error `dest` is left half-written: callers extract into a scratch directory.
pub fn apply_tar(
    reader: &mut dyn Read,
    dest: &Path,
    whiteouts: WhiteoutMode,
) -> Result<ApplyStats> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let root = rustix::fs::open(dest, flags, Mode::empty())
        .map_err(|e| StorageError::io(dest, e.into()))?;
    apply_tar_at(reader, root, dest, whiteouts)
}

/// [`apply_tar`] into a directory already held as a descriptor (`O_PATH` is enough), e.g. one
/// resolved inside a live container by [`crate::confined::Tree`]: nothing is looked up by
/// path above it, so a container renaming things meanwhile cannot redirect the extraction.
/// `shown` is the path used in error messages.
pub fn apply_tar_at(
    reader: &mut dyn Read,
    dest: OwnedFd,
    shown: &Path,
    whiteouts: WhiteoutMode,
) -> Result<ApplyStats> {
    let mut extractor = Extractor::open(dest, shown, whiteouts);
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(malformed)? {
        let mut entry = entry.map_err(malformed)?;
        extractor.entry(&mut entry)?;
    }
    extractor.finish()
}

const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// The opaque marker once [`WHITEOUT_PREFIX`] is stripped.
const OPAQUE_MARKER: &[u8] = b".wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

fn malformed(e: io::Error) -> StorageError {
    StorageError::InvalidLayer(format!("malformed layer archive: {e}"))
}

fn invalid(msg: String) -> StorageError {
    StorageError::InvalidLayer(msg)
}

fn escapes(shown: &str) -> StorageError {
    invalid(format!("{shown}: path escapes the layer root"))
}

/// Lexically normalises an archive path: leading `/`, `.` and empty components are dropped and
/// `..` pops a component. `None` when `..` would climb above the root.
fn normalize(raw: &[u8]) -> Option<PathBuf> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.into_iter().map(OsStr::from_bytes).collect())
}

/// Ownership, permissions, time and xattrs of one entry.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: Timespec,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

impl Meta {
    fn read<R: Read>(entry: &mut tar::Entry<'_, R>, shown: &str) -> Result<Meta> {
        let header = entry.header();
        let bad = |what: &str| invalid(format!("{shown}: invalid {what} in header"));
        let mode = header.mode().map_err(|_| bad("mode"))? & 0o7777;
        let old = header.as_old();
        let id = |v: io::Result<u64>, raw: &[u8], what: &str| {
            numeric(v, raw)
                .and_then(|v| u32::try_from(v).ok())
                .filter(|v| *v != u32::MAX)
                .ok_or_else(|| bad(what))
        };
        let uid = id(header.uid(), &old.uid, "uid")?;
        let gid = id(header.gid(), &old.gid, "gid")?;
        let secs = numeric(header.mtime(), &old.mtime)
            .and_then(|t| i64::try_from(t).ok())
            .ok_or_else(|| bad("mtime"))?;
        let mut meta = Meta {
            mode,
            uid,
            gid,
            mtime: Timespec {
                tv_sec: secs,
                tv_nsec: 0,
            },
            xattrs: Vec::new(),
        };
        if let Some(exts) = entry.pax_extensions().map_err(malformed)? {
            for ext in exts {
                meta.pax(&ext.map_err(malformed)?);
            }
        }
        Ok(meta)
    }

    /// Takes what the tar crate does not already apply from a PAX record.
    fn pax(&mut self, ext: &tar::PaxExtension<'_>) {
        let key = ext.key_bytes();
        if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
            // overlayfs' own metadata (redirects, opaque markers) must not be forged by a tar.
            if !name.starts_with(b"trusted.overlay.") {
                self.xattrs.push((
                    OsStr::from_bytes(name).to_os_string(),
                    ext.value_bytes().to_vec(),
                ));
            }
        } else if key == b"mtime"
            && let Some(t) = ext.value().ok().and_then(parse_pax_time)
        {
            self.mtime = t;
        }
    }

    fn timestamps(&self) -> Timestamps {
        Timestamps {
            last_access: self.mtime,
            last_modification: self.mtime,
        }
    }
}

/// A numeric header field; blank (all NUL or spaces, as some writers leave unused fields)
/// reads as 0, like Go's `archive/tar` does.
fn numeric(parsed: io::Result<u64>, raw: &[u8]) -> Option<u64> {
    match parsed {
        Ok(v) => Some(v),
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Some(0),
        Err(_) => None,
    }
}

/// Parses a PAX time (`1700000000.123456789`, possibly negative).
fn parse_pax_time(value: &str) -> Option<Timespec> {
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let tv_sec: i64 = secs.parse().ok()?;
    let digits: String = frac.chars().take(9).collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let tv_nsec = if digits.is_empty() {
        0
    } else {
        format!("{digits:0<9}").parse().ok()?
    };
    Some(Timespec { tv_sec, tv_nsec })
}

/// Extraction state for one archive.
struct Extractor<'a> {
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
    fn open(root: OwnedFd, dest: &'a Path, whiteouts: WhiteoutMode) -> Self {
        Extractor {
            root,
            dest,
            whiteouts,
            written: HashSet::new(),
            dir_times: Vec::new(),
            stats: ApplyStats::default(),
        }
    }

    fn io_err(&self, rel: &Path, e: impl Into<io::Error>) -> StorageError {
        StorageError::io(self.dest.join(rel), e.into())
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
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
    fn open_dir(&self, rel: &Path) -> rustix::io::Result<OwnedFd> {
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
    fn existing_parent(&self, rel: &Path, shown: &str) -> Result<Option<OwnedFd>> {
        let parent = rel.parent().unwrap_or(Path::new(""));
        match self.open_dir(parent) {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno::NOENT) => Ok(None),
            Err(Errno::NOTDIR | Errno::LOOP) => Err(not_a_dir(shown)),
            Err(e) => Err(self.io_err(parent, e)),
        }
    }

    /// The parent directory of `rel`, creating missing ones (mode 0755, like Docker).
    fn create_parent(&self, rel: &Path, shown: &str) -> Result<OwnedFd> {
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
    fn mkdir_in(&self, dir: &OwnedFd, name: &OsStr, rel: &Path, shown: &str) -> Result<OwnedFd> {
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
    fn mark_written(&mut self, rel: &Path) {
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
    fn make_room(&self, dir: &OwnedFd, name: &OsStr, rel: &Path, want_dir: bool) -> Result<bool> {
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

    fn directory(&mut self, dir: &OwnedFd, name: &OsStr, rel: &Path, meta: &Meta) -> Result<()> {
        if !self.make_room(dir, name, rel, true)? {
            rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o700))
                .map_err(|e| self.io_err(rel, e))?;
        }
        self.set_meta(dir, name, rel, meta, false, false)?;
        self.dir_times.push((rel.to_path_buf(), meta.mtime));
        Ok(())
    }

    fn file<R: Read>(
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

    fn symlink<R: Read>(
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

    fn hardlink<R: Read>(
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

    fn node(
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
    fn set_meta(
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

    fn whiteout(&mut self, rel: &Path, hidden: &OsStr, shown: &str) -> Result<()> {
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

    fn opaque(&mut self, rel: &Path, dir_rel: &Path, shown: &str) -> Result<()> {
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
    fn clear_unwritten(&self, dir: BorrowedFd<'_>, rel: &Path) -> io::Result<()> {
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
    fn finish(self) -> Result<ApplyStats> {
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

fn not_a_dir(shown: &str) -> StorageError {
    invalid(format!("{shown}: a parent path is not a directory"))
}

/// Entry types that describe a file system object (extension headers are consumed by the tar
/// crate; anything else is unknown).
fn is_supported(kind: tar::EntryType) -> bool {
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

/// Sets one xattr on `dir/name` without following it, via the `/proc/self/fd` path of the
/// already-resolved directory (symlinks and devices cannot be opened for `fsetxattr`). Best
/// effort where the file system or object type does not support it.
fn set_xattr_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    key: &OsStr,
    value: &[u8],
    is_link: bool,
) -> io::Result<()> {
    let path = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
    match rustix::fs::lsetxattr(&path, key, value, XattrFlags::empty()) {
        Ok(()) | Err(Errno::OPNOTSUPP) => Ok(()),
        // `user.*` attributes are not allowed on symlinks.
        Err(Errno::PERM) if is_link => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Names in a directory, `.` and `..` excluded.
fn dir_names(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_os_string());
        }
    }
    Ok(names)
}

fn open_subdir(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rustix::fs::openat(dir, name, flags, Mode::empty())?)
}

/// `rm -rf dir/name` through file descriptors, never following a symlink. Missing is fine.
fn remove_all_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let st = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(Errno::NOENT) => return Ok(()),
        other => other?,
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?);
    }
    let sub = open_subdir(dir, name)?;
    for child in dir_names(sub.as_fd())? {
        remove_all_at(sub.as_fd(), &child)?;
    }
    Ok(rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn roundtrip(data: &[u8], expect: Compression) {
        let (c, mut r) = decompress(data).unwrap();
        assert_eq!(c, expect);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"payload");
    }

    #[test]
    fn normalize_contains_or_refuses() {
        let n = |p: &str| normalize(p.as_bytes());
        assert_eq!(n("/etc/passwd"), Some(PathBuf::from("etc/passwd")));
        assert_eq!(n("./a//b/./c/"), Some(PathBuf::from("a/b/c")));
        assert_eq!(n("a/../b"), Some(PathBuf::from("b")));
        assert_eq!(n("./"), Some(PathBuf::new()));
        assert_eq!(n("../x"), None);
        assert_eq!(n("a/../../x"), None);
    }

    #[test]
    fn pax_times_keep_nanoseconds() {
        let t = parse_pax_time("1700000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 500_000_000));
        assert_eq!(parse_pax_time("12").unwrap().tv_nsec, 0);
        assert!(parse_pax_time("1.x").is_none());
    }

    fn entry(b: &mut tar::Builder<Vec<u8>>, path: &str, kind: tar::EntryType, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_path(path).unwrap();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    fn whiteout_layer() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        entry(&mut b, "d/", tar::EntryType::Directory, b"");
        entry(&mut b, "d/mine", tar::EntryType::Regular, b"m");
        entry(&mut b, "d/.wh..wh..opq", tar::EntryType::Regular, b"");
        entry(&mut b, ".wh.gone", tar::EntryType::Regular, b"");
        b.into_inner().unwrap()
    }

    #[test]
    fn overlay_mode_writes_overlayfs_whiteouts() {
        if !rustix::process::geteuid().is_root() {
            berth_common::skip::skip("needs root (mknod, trusted.* xattrs)");
            return;
        }
        let dest = tempfile::tempdir().unwrap();
        let stats = apply_tar(
            &mut &whiteout_layer()[..],
            dest.path(),
            WhiteoutMode::Overlay,
        )
        .unwrap();
        assert_eq!(
            stats,
            ApplyStats {
                size: 1,
                entries: 4
            }
        );
        let md = std::fs::symlink_metadata(dest.path().join("gone")).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_char_device(
            &md.file_type()
        ));
        assert_eq!(std::os::unix::fs::MetadataExt::rdev(&md), 0);
        let mut buf = [0u8; 4];
        let n = rustix::fs::getxattr(dest.path().join("d"), OPAQUE_XATTR, &mut buf[..]).unwrap();
        assert_eq!(&buf[..n], b"y");
        assert!(dest.path().join("d/mine").exists());
    }

    #[test]
    fn delete_mode_keeps_this_layers_entries_in_an_opaque_dir() {
        let dest = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dest.path().join("d/lower-dir")).unwrap();
        std::fs::write(dest.path().join("d/lower"), "l").unwrap();
        std::fs::write(dest.path().join("gone"), "g").unwrap();
        apply_tar(
            &mut &whiteout_layer()[..],
            dest.path(),
            WhiteoutMode::Delete,
        )
        .unwrap();
        let names: Vec<_> = std::fs::read_dir(dest.path().join("d"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["mine"]);
        assert!(!dest.path().join("gone").exists());
    }

    #[test]
    fn detects_and_decodes_each_format() {
        roundtrip(b"payload", Compression::None);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"payload").unwrap();
        roundtrip(&gz.finish().unwrap(), Compression::Gzip);
        roundtrip(
            &zstd::encode_all(&b"payload"[..], 1).unwrap(),
            Compression::Zstd,
        );
    }
}
