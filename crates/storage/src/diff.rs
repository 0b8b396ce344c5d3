//! Layer diffs: what a container changed, as a layer tar (`docker commit`).
//!
//! An overlayfs *upper* directory already holds exactly a container's changes, in overlayfs'
//! own notation: a deleted name is a 0/0 character device and a directory that hides the lower
//! one entirely carries `trusted.overlay.opaque=y`. [`write_overlay_diff`] translates that into
//! an uncompressed OCI/Docker layer tar, the reverse of what [`crate::unpack::apply_tar`] does
//! with [`crate::unpack::WhiteoutMode::Overlay`]:
//!
//! * a 0/0 character device `d/x` becomes an empty regular file `d/.wh.x`;
//! * an opaque directory `d` gets an extra empty entry `d/.wh..wh..opq` right after its own;
//! * everything else (files, directories, symlinks, hardlinks within the tree, devices, fifos)
//!   is archived with its mode (setuid bits included), owner, mtime (seconds, like Docker) and
//!   extended attributes as `SCHILY.xattr.*` PAX records, except overlayfs' own
//!   `trusted.overlay.*` bookkeeping; sockets are skipped, as Docker does.
//!
//! Entries come depth-first with each directory's children in byte order of their names (a
//! directory before its contents), named relative to the upper dir without a leading `/`,
//! directories with a trailing `/`; names or link targets too long for a ustar header go in
//! PAX `path` / `linkpath` records. The same tree always yields the same bytes.
//!
//! The tree is walked through directory file descriptors and `*at` calls that never follow a
//! symlink, so a container process renaming things under a live upper dir cannot make the walk
//! read anything outside it. Callers should still pause or stop the container: a file that
//! changes size while being read is archived truncated or zero-padded to its size at `stat`
//! time, which keeps the archive well-formed but not the file meaningful.

use crate::error::{Result, StorageError};
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The xattr marking an opaque directory in an overlayfs upper dir.
const OPAQUE_XATTR: &[u8] = b"trusted.overlay.opaque";
/// overlayfs' own xattrs, never archived.
const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";
/// Name prefix of a whiteout entry.
const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// Name of the opaque-directory marker entry.
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// Directory nesting beyond which the walk gives up (each level holds one open descriptor).
const MAX_DEPTH: usize = 1024;

/// What [`write_overlay_diff`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffStats {
    /// Archive entries written (whiteouts and opaque markers included, PAX headers not).
    pub entries: u64,
    /// Bytes of regular-file content written.
    pub size: u64,
}

/// Writes the changes recorded in the overlayfs upper directory `upper` to `out` as an
/// uncompressed layer tar (see the module documentation for the exact format), end-of-archive
/// marker included. `out` is not flushed.
///
/// Errors: [`StorageError::Io`] when `upper` or something under it cannot be read (a file that
/// disappears during the walk is skipped, not an error), [`StorageError::InvalidLayer`] when the
/// tree is nested deeper than 1024 directories, [`StorageError::ArchiveWrite`] when `out`
/// fails. On error `out` holds a truncated archive.
pub fn write_overlay_diff(upper: &Path, out: &mut dyn Write) -> Result<DiffStats> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let root = rustix::fs::open(upper, flags, Mode::empty())
        .map_err(|e| StorageError::io(upper, e.into()))?;
    let mut differ = Differ {
        upper,
        builder: tar::Builder::new(out),
        links: HashMap::new(),
        stats: DiffStats::default(),
    };
    let names = dir_names(root.as_fd()).map_err(|e| StorageError::io(upper, e))?;
    let mut stack = vec![Frame {
        dir: root,
        prefix: Vec::new(),
        names: names.into_iter(),
    }];
    while let Some(frame) = stack.last_mut() {
        let Some(name) = frame.names.next() else {
            stack.pop();
            continue;
        };
        let mut path = frame.prefix.clone();
        path.extend_from_slice(name.as_bytes());
        if let Some(child) = differ.entry(frame.dir.as_fd(), &name, path)? {
            if stack.len() >= MAX_DEPTH {
                return Err(StorageError::InvalidLayer(format!(
                    "{}: directories nested more than {MAX_DEPTH} deep",
                    upper.join(OsStr::from_bytes(&child.prefix)).display()
                )));
            }
            stack.push(child);
        }
    }
    differ
        .builder
        .finish()
        .map_err(StorageError::ArchiveWrite)?;
    Ok(differ.stats)
}

/// One directory being walked.
struct Frame {
    /// The directory, opened for reading.
    dir: OwnedFd,
    /// Its archive path with a trailing `/` (empty for the upper dir itself).
    prefix: Vec<u8>,
    /// Its children not yet archived, sorted.
    names: std::vec::IntoIter<OsString>,
}

/// Archive state for one walk.
struct Differ<'a, 'w> {
    upper: &'a Path,
    builder: tar::Builder<&'w mut dyn Write>,
    /// First archive path of each multiply-linked inode, to link later names to it.
    links: HashMap<(u64, u64), Vec<u8>>,
    stats: DiffStats,
}

impl Differ<'_, '_> {
    fn io_err(&self, path: &[u8], e: impl Into<io::Error>) -> StorageError {
        StorageError::io(self.upper.join(OsStr::from_bytes(path)), e.into())
    }

    /// Archives `dir/name` (archive path `path`); returns the frame to descend into when it is
    /// a directory.
    fn entry(&mut self, dir: BorrowedFd<'_>, name: &OsStr, path: Vec<u8>) -> Result<Option<Frame>> {
        let st = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(self.io_err(&path, e)),
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => self.directory(dir, name, path),
            FileType::RegularFile => self.file(dir, name, path).map(|()| None),
            FileType::CharacterDevice if st.st_rdev == 0 => {
                self.whiteout(&st, &path, name).map(|()| None)
            }
            FileType::Symlink => {
                let target = match rustix::fs::readlinkat(dir, name, Vec::new()) {
                    Ok(t) => t.into_bytes(),
                    Err(Errno::NOENT) => return Ok(None),
                    Err(e) => return Err(self.io_err(&path, e)),
                };
                self.other(dir, name, path, &st, tar::EntryType::Symlink, &target)
                    .map(|()| None)
            }
            FileType::CharacterDevice => self
                .other(dir, name, path, &st, tar::EntryType::Char, b"")
                .map(|()| None),
            FileType::BlockDevice => self
                .other(dir, name, path, &st, tar::EntryType::Block, b"")
                .map(|()| None),
            FileType::Fifo => self
                .other(dir, name, path, &st, tar::EntryType::Fifo, b"")
                .map(|()| None),
            // Sockets are runtime objects, not image content.
            _ => Ok(None),
        }
    }

    fn directory(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        mut path: Vec<u8>,
    ) -> Result<Option<Frame>> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(dir, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(self.io_err(&path, e)),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| self.io_err(&path, e))?;
        let xattrs = read_xattrs(XattrSource::Fd(fd.as_fd())).map_err(|e| self.io_err(&path, e))?;
        let opaque = xattrs
            .iter()
            .any(|(k, v)| k.as_slice() == OPAQUE_XATTR && v.as_slice() == b"y");
        let names = dir_names(fd.as_fd()).map_err(|e| self.io_err(&path, e))?;
        path.push(b'/');
        let mut header = base_header(tar::EntryType::Directory, &st);
        self.append(&mut header, &path, None, &xattrs, &mut io::empty())?;
        if opaque {
            let mut marker = path.clone();
            marker.extend_from_slice(OPAQUE_MARKER);
            let mut header = base_header(tar::EntryType::Regular, &st);
            header.set_mode(st.st_mode & 0o777);
            self.append(&mut header, &marker, None, &[], &mut io::empty())?;
        }
        Ok(Some(Frame {
            dir: fd,
            prefix: path,
            names: names.into_iter(),
        }))
    }

    fn file(&mut self, dir: BorrowedFd<'_>, name: &OsStr, path: Vec<u8>) -> Result<()> {
        // NONBLOCK: should the name have been swapped for a fifo since the `stat`, opening it
        // must not hang; it is then refused below.
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(dir, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(self.io_err(&path, e)),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| self.io_err(&path, e))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(self.io_err(
                &path,
                io::Error::other("file replaced while the diff was being taken"),
            ));
        }
        if self.link_to_earlier(&path, &st)? {
            return Ok(());
        }
        let xattrs = read_xattrs(XattrSource::Fd(fd.as_fd())).map_err(|e| self.io_err(&path, e))?;
        let size = st.st_size as u64;
        let mut header = base_header(tar::EntryType::Regular, &st);
        header.set_size(size);
        let mut content = ExactSize {
            inner: File::from(fd),
            left: size,
            error: None,
        };
        let result = self.append(&mut header, &path, None, &xattrs, &mut content);
        if let Some(e) = content.error {
            return Err(self.io_err(&path, e));
        }
        result?;
        self.stats.size += size;
        Ok(())
    }

    /// A 0/0 character device: overlayfs' record of a deletion.
    fn whiteout(&mut self, st: &Stat, path: &[u8], name: &OsStr) -> Result<()> {
        let dir_len = path.len() - name.len();
        let mut wh = path[..dir_len].to_vec();
        wh.extend_from_slice(WHITEOUT_PREFIX);
        wh.extend_from_slice(name.as_bytes());
        let mut header = base_header(tar::EntryType::Regular, st);
        header.set_mode(0o600);
        self.append(&mut header, &wh, None, &[], &mut io::empty())
    }

    /// Symlinks, devices and fifos: no content, metadata read through the directory.
    fn other(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        path: Vec<u8>,
        st: &Stat,
        kind: tar::EntryType,
        link: &[u8],
    ) -> Result<()> {
        if self.link_to_earlier(&path, st)? {
            return Ok(());
        }
        // Symlinks and devices cannot be opened for `fgetxattr`: name them through the
        // already-resolved directory, without following the last component.
        let proc_path = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
        let xattrs = match read_xattrs(XattrSource::Path(&proc_path)) {
            Ok(x) => x,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.io_err(&path, e)),
        };
        let mut header = base_header(kind, st);
        if matches!(kind, tar::EntryType::Char | tar::EntryType::Block) {
            let rdev = st.st_rdev;
            header
                .set_device_major(rustix::fs::major(rdev))
                .and_then(|()| header.set_device_minor(rustix::fs::minor(rdev)))
                .map_err(|e| self.io_err(&path, e))?;
        }
        let link = (kind == tar::EntryType::Symlink).then_some(link);
        self.append(&mut header, &path, link, &xattrs, &mut io::empty())
    }

    /// Writes a hardlink entry when `st` is an inode already archived under another name;
    /// otherwise remembers this name for the inode's other links.
    fn link_to_earlier(&mut self, path: &[u8], st: &Stat) -> Result<bool> {
        if st.st_nlink <= 1 {
            return Ok(false);
        }
        let key = (st.st_dev, st.st_ino);
        let Some(target) = self.links.get(&key).cloned() else {
            self.links.insert(key, path.to_vec());
            return Ok(false);
        };
        let mut header = base_header(tar::EntryType::Link, st);
        self.append(&mut header, path, Some(&target), &[], &mut io::empty())?;
        Ok(true)
    }

    /// Writes one entry: a PAX header first when names, link targets or xattrs need one, then
    /// the ustar header (checksummed here) and `data` (exactly the header's size).
    fn append(
        &mut self,
        header: &mut tar::Header,
        path: &[u8],
        link: Option<&[u8]>,
        xattrs: &[(Vec<u8>, Vec<u8>)],
        data: &mut dyn Read,
    ) -> Result<()> {
        // PAX records, written by the tar crate's own extension writer: the long path, the
        // long link target, the extended attributes (overlayfs' own left out).
        let mut records: Vec<(String, &[u8])> = Vec::new();
        if !set_ustar_path(header, path) {
            records.push(("path".into(), path));
            set_truncated_name(header, path);
        }
        if let Some(link) = link {
            let field = &mut header.as_old_mut().linkname;
            if link.len() <= field.len() {
                field[..link.len()].copy_from_slice(link);
            } else {
                records.push(("linkpath".into(), link));
                let n = field.len();
                field.copy_from_slice(&link[..n]);
            }
        }
        for (key, value) in xattrs {
            if key.starts_with(OVERLAY_XATTR_PREFIX) {
                continue;
            }
            let name = std::str::from_utf8(key).map_err(|_| {
                StorageError::ArchiveWrite(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{}: extended attribute name {:?} is not UTF-8",
                        String::from_utf8_lossy(path),
                        String::from_utf8_lossy(key)
                    ),
                ))
            })?;
            records.push((format!("SCHILY.xattr.{name}"), value));
        }
        self.builder
            .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), *v)))
            .map_err(StorageError::ArchiveWrite)?;
        header.set_cksum();
        self.builder
            .append(header, data)
            .map_err(StorageError::ArchiveWrite)?;
        self.stats.entries += 1;
        Ok(())
    }
}

/// A ustar header of `kind` with the mode, owner and mtime of `st`.
fn base_header(kind: tar::EntryType, st: &Stat) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(st.st_mode & 0o7777);
    header.set_uid(u64::from(st.st_uid));
    header.set_gid(u64::from(st.st_gid));
    header.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
    header.set_size(0);
    header
}

/// Stores `path` in the ustar `name` (and, if needed, `prefix`) fields, byte for byte (a
/// directory's trailing `/` included). False when it does not fit.
fn set_ustar_path(header: &mut tar::Header, path: &[u8]) -> bool {
    let Some(ustar) = header.as_ustar_mut() else {
        return false;
    };
    let (name_max, prefix_max) = (ustar.name.len(), ustar.prefix.len());
    if path.len() <= name_max {
        ustar.name[..path.len()].copy_from_slice(path);
        return true;
    }
    // Split at a `/` (not a directory's trailing one) so both halves fit.
    let body = path.strip_suffix(b"/").unwrap_or(path);
    let split = body
        .iter()
        .enumerate()
        .filter(|(i, b)| **b == b'/' && *i <= prefix_max && path.len() - i - 1 <= name_max)
        .map(|(i, _)| i)
        .next();
    let Some(i) = split.filter(|i| *i > 0) else {
        return false;
    };
    let (prefix, name) = (&path[..i], &path[i + 1..]);
    ustar.prefix[..prefix.len()].copy_from_slice(prefix);
    ustar.name[..name.len()].copy_from_slice(name);
    true
}

/// Fills the `name` field with as much of `path` as fits (when a PAX record holds the rest).
fn set_truncated_name(header: &mut tar::Header, path: &[u8]) {
    let field = &mut header.as_old_mut().name;
    let n = path.len().min(field.len());
    field[..n].copy_from_slice(&path[..n]);
}

/// Reads exactly `left` bytes: the file's content, cut or zero-padded should its size change
/// while it is archived. A read error is kept aside (the tar crate would lose its cause).
struct ExactSize {
    inner: File,
    left: u64,
    error: Option<io::Error>,
}

impl Read for ExactSize {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = match self.inner.read(&mut buf[..want]) {
            Ok(0) => {
                // Shrunk meanwhile: pad, keeping the archive's framing intact.
                buf[..want].fill(0);
                want
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                let shown = io::Error::new(e.kind(), e.to_string());
                self.error = Some(e);
                return Err(shown);
            }
        };
        self.left -= n as u64;
        Ok(n)
    }
}

/// Where to read extended attributes from.
enum XattrSource<'a> {
    /// An open file or directory.
    Fd(BorrowedFd<'a>),
    /// A path whose last component is not followed.
    Path(&'a Path),
}

impl XattrSource<'_> {
    fn list_size(&self) -> rustix::io::Result<usize> {
        match self {
            XattrSource::Fd(fd) => rustix::fs::flistxattr_query(fd),
            XattrSource::Path(p) => rustix::fs::llistxattr_query(*p),
        }
    }

    fn get_size(&self, name: &OsStr) -> rustix::io::Result<usize> {
        match self {
            XattrSource::Fd(fd) => rustix::fs::fgetxattr_query(fd, name),
            XattrSource::Path(p) => rustix::fs::lgetxattr_query(*p, name),
        }
    }

    fn list(&self, buf: &mut [u8]) -> rustix::io::Result<usize> {
        match self {
            XattrSource::Fd(fd) => rustix::fs::flistxattr(fd, buf),
            XattrSource::Path(p) => rustix::fs::llistxattr(*p, buf),
        }
    }

    fn get(&self, name: &OsStr, buf: &mut [u8]) -> rustix::io::Result<usize> {
        match self {
            XattrSource::Fd(fd) => rustix::fs::fgetxattr(fd, name, buf),
            XattrSource::Path(p) => rustix::fs::lgetxattr(*p, name, buf),
        }
    }
}

/// All extended attributes of `src` as (name, value), sorted by name. Empty where the file
/// system has none; attributes removed during the read are skipped.
fn read_xattrs(src: XattrSource<'_>) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let names = loop {
        let size = match src.list_size() {
            Ok(0) | Err(Errno::OPNOTSUPP) => return Ok(Vec::new()),
            Ok(size) => size,
            Err(e) => return Err(e.into()),
        };
        let mut buf = vec![0u8; size];
        match src.list(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                break buf;
            }
            Err(Errno::RANGE) => continue, // grew meanwhile
            Err(e) => return Err(e.into()),
        }
    };
    let mut out = Vec::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let key = OsStr::from_bytes(name);
        let value = loop {
            let size = match src.get_size(key) {
                Ok(size) => size,
                Err(Errno::NODATA) => break None,
                Err(e) => return Err(e.into()),
            };
            let mut buf = vec![0u8; size];
            match src.get(key, &mut buf) {
                Ok(n) => {
                    buf.truncate(n);
                    break Some(buf);
                }
                Err(Errno::RANGE) => continue,
                Err(Errno::NODATA) => break None,
                Err(e) => return Err(e.into()),
            }
        };
        if let Some(value) = value {
            out.push((name.to_vec(), value));
        }
    }
    out.sort();
    Ok(out)
}

/// Names in a directory, `.` and `..` excluded, sorted bytewise.
fn dir_names(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_os_string());
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unpack::{WhiteoutMode, apply_tar};
    use rustix::fs::XattrFlags;
    use std::collections::BTreeMap;
    use std::fs;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

    fn is_root() -> bool {
        if rustix::process::geteuid().is_root() {
            return true;
        }
        berth_common::skip::skip("needs root (mknod, chown, trusted.* xattrs)");
        false
    }

    /// What a test checks about one archive entry.
    #[derive(Debug, PartialEq)]
    struct Seen {
        path: String,
        kind: tar::EntryType,
        mode: u32,
        uid: u64,
        link: Option<String>,
        data: Vec<u8>,
        xattrs: Vec<(String, Vec<u8>)>,
    }

    fn entries(archive: &[u8]) -> Vec<Seen> {
        let mut out = Vec::new();
        let mut ar = tar::Archive::new(archive);
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let mut xattrs = Vec::new();
            if let Some(exts) = e.pax_extensions().unwrap() {
                for ext in exts {
                    let ext = ext.unwrap();
                    if let Some(k) = ext.key().unwrap().strip_prefix("SCHILY.xattr.") {
                        xattrs.push((k.to_string(), ext.value_bytes().to_vec()));
                    }
                }
            }
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            let h = e.header();
            out.push(Seen {
                path: String::from_utf8(e.path_bytes().into_owned()).unwrap(),
                kind: h.entry_type(),
                mode: h.mode().unwrap(),
                uid: h.uid().unwrap(),
                link: e
                    .link_name_bytes()
                    .map(|l| String::from_utf8(l.into_owned()).unwrap()),
                data,
                xattrs,
            });
        }
        out
    }

    fn diff(upper: &Path) -> (Vec<u8>, DiffStats) {
        let mut out = Vec::new();
        let stats = write_overlay_diff(upper, &mut out).unwrap();
        (out, stats)
    }

    fn write(path: &Path, data: &str, mode: u32) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, data).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn set_mtime(path: &Path, secs: i64) {
        let t = rustix::fs::Timespec {
            tv_sec: secs,
            tv_nsec: 0,
        };
        let times = rustix::fs::Timestamps {
            last_access: t,
            last_modification: t,
        };
        rustix::fs::utimensat(rustix::fs::CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW).unwrap();
    }

    fn whiteout(path: &Path) {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            path,
            FileType::CharacterDevice,
            Mode::empty(),
            0,
        )
        .unwrap();
    }

    fn opaque(dir: &Path) {
        rustix::fs::setxattr(dir, "trusted.overlay.opaque", b"y", XattrFlags::empty()).unwrap();
    }

    #[test]
    fn plain_changes_are_archived_sorted_with_metadata() {
        let upper = tempfile::tempdir().unwrap();
        let u = upper.path();
        write(&u.join("b/file"), "hello", 0o640);
        write(&u.join("a-z"), "", 0o644);
        write(&u.join("hard1"), "same", 0o600);
        fs::hard_link(u.join("hard1"), u.join("hard2")).unwrap();
        std::os::unix::fs::symlink("../escape/target", u.join("link")).unwrap();
        let long_dir = "p".repeat(120);
        write(&u.join(&long_dir).join("f"), "x", 0o644);
        let long_name = "n".repeat(150);
        write(&u.join(&long_name), "y", 0o644);
        let _socket = std::os::unix::net::UnixListener::bind(u.join("sock")).unwrap();
        fs::set_permissions(u.join("b"), fs::Permissions::from_mode(0o750)).unwrap();
        let xattr =
            rustix::fs::setxattr(u.join("b/file"), "user.k", b"v\0bin", XattrFlags::empty());
        set_mtime(&u.join("b/file"), 1_234_567_890);

        let (tar, stats) = diff(u);
        assert_eq!(tar.len() % 512, 0);
        let seen = entries(&tar);
        let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
        let long_file = format!("{long_dir}/f");
        let long_dir_slash = format!("{long_dir}/");
        assert_eq!(
            paths,
            [
                "a-z",
                "b/",
                "b/file",
                "hard1",
                "hard2",
                "link",
                &long_name,
                &long_dir_slash,
                &long_file,
            ]
        );
        assert_eq!(stats.entries, 9);
        assert_eq!(stats.size, 5 + 4 + 1 + 1);
        let by_path: BTreeMap<&str, &Seen> = seen.iter().map(|s| (s.path.as_str(), s)).collect();
        assert_eq!(by_path["b/"].kind, tar::EntryType::Directory);
        assert_eq!(by_path["b/"].mode, 0o750);
        let file = by_path["b/file"];
        assert_eq!((file.kind, file.mode), (tar::EntryType::Regular, 0o640));
        assert_eq!(file.data, b"hello");
        if xattr.is_ok() {
            assert_eq!(file.xattrs, [("user.k".to_string(), b"v\0bin".to_vec())]);
        }
        assert_eq!(by_path["hard1"].data, b"same");
        assert_eq!(by_path["hard2"].kind, tar::EntryType::Link);
        assert_eq!(by_path["hard2"].link.as_deref(), Some("hard1"));
        assert_eq!(by_path["link"].kind, tar::EntryType::Symlink);
        assert_eq!(by_path["link"].link.as_deref(), Some("../escape/target"));
        assert_eq!(by_path[long_name.as_str()].data, b"y");

        // Raw headers: a ustar prefix split for the long directory, a PAX record for the long
        // name, the mtime in seconds; the same tree gives the same bytes.
        let mut ar = tar::Archive::new(&tar[..]);
        let mut kinds = Vec::new();
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            kinds.push(e.header().entry_type());
            if e.path_bytes().as_ref() == b"b/file" {
                assert_eq!(e.header().mtime().unwrap(), 1_234_567_890);
            }
        }
        assert!(kinds.iter().all(|k| *k != tar::EntryType::GNULongName));
        assert_eq!(diff(u).0, tar);
    }

    #[test]
    fn overlay_whiteouts_and_opaque_dirs_become_oci_whiteouts() {
        if !is_root() {
            return;
        }
        let upper = tempfile::tempdir().unwrap();
        let u = upper.path();
        fs::create_dir(u.join("etc")).unwrap();
        whiteout(&u.join("etc/gone"));
        write(&u.join("etc/new"), "n", 0o644);
        rustix::fs::chownat(
            rustix::fs::CWD,
            u.join("etc/new"),
            Some(rustix::fs::Uid::from_raw(1000)),
            Some(rustix::fs::Gid::from_raw(1000)),
            AtFlags::empty(),
        )
        .unwrap();
        rustix::fs::setxattr(
            u.join("etc"),
            "trusted.overlay.origin",
            b"junk",
            XattrFlags::empty(),
        )
        .unwrap();
        rustix::fs::setxattr(u.join("etc"), "trusted.other", b"1", XattrFlags::empty()).unwrap();
        fs::create_dir(u.join("opq")).unwrap();
        fs::set_permissions(u.join("opq"), fs::Permissions::from_mode(0o711)).unwrap();
        opaque(&u.join("opq"));
        write(&u.join("opq/kept"), "k", 0o644);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            u.join("null"),
            FileType::CharacterDevice,
            Mode::from_raw_mode(0o666),
            rustix::fs::makedev(1, 3),
        )
        .unwrap();
        fs::set_permissions(u.join("null"), fs::Permissions::from_mode(0o666)).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            u.join("fifo"),
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        write(&u.join("suid"), "s", 0o644);
        fs::set_permissions(u.join("suid"), fs::Permissions::from_mode(0o4755)).unwrap();
        // overlayfs shares one whiteout inode between deletions: links must not matter.
        fs::hard_link(u.join("etc/gone"), u.join("gone-too")).unwrap();

        let (tar, _) = diff(u);
        let seen = entries(&tar);
        let summary: Vec<(&str, tar::EntryType, u32)> = seen
            .iter()
            .map(|s| (s.path.as_str(), s.kind, s.mode))
            .collect();
        use tar::EntryType as T;
        assert_eq!(
            summary,
            [
                ("etc/", T::Directory, 0o755),
                ("etc/.wh.gone", T::Regular, 0o600),
                ("etc/new", T::Regular, 0o644),
                ("fifo", T::Fifo, 0o600),
                (".wh.gone-too", T::Regular, 0o600),
                ("null", T::Char, 0o666),
                ("opq/", T::Directory, 0o711),
                ("opq/.wh..wh..opq", T::Regular, 0o711),
                ("opq/kept", T::Regular, 0o644),
                ("suid", T::Regular, 0o4755),
            ]
        );
        let by_path: BTreeMap<&str, &Seen> = seen.iter().map(|s| (s.path.as_str(), s)).collect();
        assert_eq!(
            by_path["etc/"].xattrs,
            [("trusted.other".to_string(), b"1".to_vec())]
        );
        assert!(by_path["opq/"].xattrs.is_empty());
        assert_eq!(by_path["etc/new"].uid, 1000);
        let mut ar = tar::Archive::new(&tar[..]);
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            if e.path_bytes().as_ref() == b"null" {
                assert_eq!(e.header().device_major().unwrap(), Some(1));
                assert_eq!(e.header().device_minor().unwrap(), Some(3));
            }
        }
    }

    /// The tree under `root` as path → description, for comparing results.
    fn tree(root: &Path) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut todo = vec![root.to_path_buf()];
        while let Some(dir) = todo.pop() {
            for e in fs::read_dir(&dir).unwrap() {
                let e = e.unwrap();
                let path = e.path();
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                let md = fs::symlink_metadata(&path).unwrap();
                let ft = md.file_type();
                let mode = md.mode() & 0o7777;
                let what = if ft.is_dir() {
                    todo.push(path.clone());
                    format!("dir {mode:o}")
                } else if ft.is_symlink() {
                    format!("link {}", fs::read_link(&path).unwrap().display())
                } else if ft.is_file() {
                    format!(
                        "file {mode:o} {}",
                        String::from_utf8_lossy(&fs::read(&path).unwrap())
                    )
                } else if ft.is_fifo() {
                    format!("fifo {mode:o}")
                } else {
                    format!("other {:x}", md.rdev())
                };
                out.insert(rel, what);
            }
        }
        out
    }

    #[test]
    fn diff_applied_to_the_lower_tree_gives_the_merged_tree() {
        if !is_root() {
            return;
        }
        let scratch = tempfile::tempdir().unwrap();
        let (lower, upper, merged) = (
            scratch.path().join("lower"),
            scratch.path().join("upper"),
            scratch.path().join("merged"),
        );
        for d in [&lower, &upper, &merged] {
            fs::create_dir(d).unwrap();
        }
        write(&lower.join("etc/keep"), "keep", 0o644);
        write(&lower.join("etc/gone"), "gone", 0o644);
        write(&lower.join("opq/old"), "old", 0o644);
        write(&lower.join("opq/sub/old2"), "old2", 0o644);
        write(&lower.join("mod"), "before", 0o644);
        fs::create_dir_all(lower.join("dir-gone/inner")).unwrap();

        fs::create_dir(upper.join("etc")).unwrap();
        whiteout(&upper.join("etc/gone"));
        whiteout(&upper.join("dir-gone"));
        fs::create_dir(upper.join("opq")).unwrap();
        opaque(&upper.join("opq"));
        write(&upper.join("opq/new"), "new", 0o600);
        write(&upper.join("mod"), "after", 0o755);
        write(&upper.join("added/deep/file"), "deep", 0o644);
        fs::hard_link(upper.join("added/deep/file"), upper.join("added/hl")).unwrap();
        std::os::unix::fs::symlink("/etc/keep", upper.join("sym")).unwrap();
        let long = "l".repeat(200);
        write(&upper.join("added").join(&long), "long", 0o644);

        crate::snapshot::copy::copy_tree(&lower, &merged).unwrap();
        let (tar, _) = diff(&upper);
        apply_tar(&mut &tar[..], &merged, WhiteoutMode::Delete).unwrap();

        let expected: BTreeMap<String, String> = [
            ("added", "dir 755"),
            ("added/deep", "dir 755"),
            ("added/deep/file", "file 644 deep"),
            ("added/hl", "file 644 deep"),
            (&format!("added/{long}"), "file 644 long"),
            ("etc", "dir 755"),
            ("etc/keep", "file 644 keep"),
            ("mod", "file 755 after"),
            ("opq", "dir 755"),
            ("opq/new", "file 600 new"),
            ("sym", "link /etc/keep"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(tree(&merged), expected);
        let md = |p: &str| fs::metadata(merged.join(p)).unwrap();
        assert_eq!(md("added/hl").ino(), md("added/deep/file").ino());

        // The same diff in overlay mode recreates the upper dir's whiteouts.
        let snapshot = scratch.path().join("snapshot");
        fs::create_dir(&snapshot).unwrap();
        apply_tar(&mut &tar[..], &snapshot, WhiteoutMode::Overlay).unwrap();
        let gone = fs::symlink_metadata(snapshot.join("etc/gone")).unwrap();
        assert!(gone.file_type().is_char_device() && gone.rdev() == 0);
        let mut buf = [0u8; 4];
        let n = rustix::fs::getxattr(snapshot.join("opq"), "trusted.overlay.opaque", &mut buf[..])
            .unwrap();
        assert_eq!(&buf[..n], b"y");
    }

    /// End to end with the kernel: changes made through a real overlay mount, diffed from its
    /// upper dir and applied to a copy of the lower dir, give what the mount showed.
    #[test]
    fn diff_of_a_real_overlay_mount_reproduces_it() {
        if !is_root() {
            return;
        }
        let scratch = tempfile::tempdir().unwrap();
        let dir = |n: &str| {
            let p = scratch.path().join(n);
            fs::create_dir(&p).unwrap();
            p
        };
        let (lower, upper, work, mnt, copy) = (
            dir("lower"),
            dir("upper"),
            dir("work"),
            dir("mnt"),
            dir("copy"),
        );
        write(&lower.join("etc/keep"), "keep", 0o644);
        write(&lower.join("etc/gone"), "gone", 0o644);
        write(&lower.join("etc/moved"), "moved", 0o644);
        write(&lower.join("opq/old"), "old", 0o644);
        write(&lower.join("dir-gone/inner/x"), "x", 0o644);
        write(&lower.join("mod"), "before", 0o644);
        if let Err(e) = crate::snapshot::overlay::mount_overlay(
            std::slice::from_ref(&lower),
            &upper,
            &work,
            &mnt,
        ) {
            berth_common::skip::skip(&format!("cannot mount overlayfs here: {e}"));
            return;
        }
        let changes = || -> io::Result<()> {
            fs::remove_file(mnt.join("etc/gone"))?;
            fs::rename(mnt.join("etc/moved"), mnt.join("etc/renamed"))?;
            fs::set_permissions(mnt.join("etc/keep"), fs::Permissions::from_mode(0o600))?;
            fs::remove_dir_all(mnt.join("dir-gone"))?;
            fs::remove_dir_all(mnt.join("opq"))?;
            fs::create_dir(mnt.join("opq"))?;
            fs::write(mnt.join("opq/new"), "new")?;
            fs::write(mnt.join("mod"), "after")?;
            fs::create_dir_all(mnt.join("added/deep"))?;
            fs::write(mnt.join("added/deep/file"), "deep")?;
            fs::hard_link(mnt.join("added/deep/file"), mnt.join("added/hl"))?;
            std::os::unix::fs::symlink("/etc/keep", mnt.join("sym"))?;
            Ok(())
        };
        let done = changes();
        let expected = tree(&mnt);
        crate::snapshot::overlay::unmount(&mnt).unwrap();
        done.unwrap();

        crate::snapshot::copy::copy_tree(&lower, &copy).unwrap();
        let (tar, _) = diff(&upper);
        let paths: Vec<String> = entries(&tar).into_iter().map(|s| s.path).collect();
        assert!(paths.contains(&"opq/.wh..wh..opq".to_string()), "{paths:?}");
        assert!(paths.contains(&".wh.dir-gone".to_string()), "{paths:?}");
        apply_tar(&mut &tar[..], &copy, WhiteoutMode::Delete).unwrap();
        assert_eq!(tree(&copy), expected);
        assert!(expected.contains_key("etc/renamed") && !expected.contains_key("opq/old"));
    }
}
