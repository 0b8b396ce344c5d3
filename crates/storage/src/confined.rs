//! A container's file tree, reached only through descriptors: paths are resolved inside it one
//! component at a time, and trees are read without ever following a symlink.
//!
//! `docker cp` and `docker export` work on a file system that a running container changes
//! while they do. Resolving a path as a string under `/proc/PID/root/…` lets a container that
//! swaps a directory for a symlink to `/` at the right moment (`renameat2(RENAME_EXCHANGE)` in a
//! loop) make the daemon read or write the host's files: the CVE-2018-15664 class. Here every
//! step is an `openat(O_PATH | O_NOFOLLOW)` relative to a descriptor already held; a symlink is
//! read from its own descriptor and resolved against the container's root; `..` pops the
//! descriptors kept for the path so far, so a directory moved away cannot lead outside. Once a
//! descriptor is held, renames elsewhere cannot change what it names.
//!
//! A stopped container's volumes and binds are not mounted anywhere; [`Tree::with_mount`]
//! grafts their host directories at their container paths, so resolution and reading see the
//! tree as the container would.

use crate::error::{Result, StorageError};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Symlinks followed while resolving one path before giving up (Linux's limit).
const MAX_LINKS: usize = 40;
/// Directory depth followed when writing a tree.
const MAX_DEPTH: usize = 512;

/// Why a path could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Some component does not exist.
    #[error("no such file or directory: {0}")]
    NotFound(String),
    /// A component that must be a directory is not one.
    #[error("not a directory: {0}")]
    NotADirectory(String),
    /// More than [`MAX_LINKS`] symlinks.
    #[error("too many levels of symbolic links: {0}")]
    TooManyLinks(String),
    /// The path is not absolute or holds a NUL.
    #[error("path must be absolute: {0:?}")]
    Invalid(String),
    /// Any other failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A container's root, with the host directories grafted at their container paths.
pub struct Tree {
    root: OwnedFd,
    shown: PathBuf,
    /// Container path (normalised, e.g. `/data`) → host directory, opened `O_PATH`.
    mounts: HashMap<String, OwnedFd>,
}

/// A resolved path: a descriptor on the object, and the path inside the container it ended at
/// (symlinks resolved).
pub struct Resolved {
    /// `O_PATH` descriptor of the object.
    pub fd: OwnedFd,
    /// The container path after resolution (`/` for the root).
    pub path: String,
    /// The object's metadata, read from the descriptor.
    pub stat: rustix::fs::Stat,
}

fn o_path(dir: BorrowedFd<'_>, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

fn io_at(path: &Path, e: impl Into<io::Error>) -> StorageError {
    StorageError::io(path, e.into())
}

/// Splits an absolute container path into its components (`.` and empty ones dropped, `..`
/// kept for the resolver).
fn components(path: &[u8]) -> Vec<OsString> {
    path.split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| OsStr::from_bytes(c).to_os_string())
        .collect()
}

fn join(parts: &[OsString]) -> String {
    let mut s = String::from("/");
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            s.push('/');
        }
        s.push_str(&p.to_string_lossy());
    }
    s
}

impl Tree {
    /// Opens the tree rooted at `root` (for a running container, `/proc/PID/root`).
    pub fn open(root: &Path) -> Result<Tree> {
        let fd = rustix::fs::open(
            root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_at(root, e))?;
        Ok(Tree {
            root: fd,
            shown: root.to_path_buf(),
            mounts: HashMap::new(),
        })
    }

    /// Grafts host directory `source` at container path `dest` (a stopped container's volume).
    pub fn with_mount(&mut self, dest: &str, source: &Path) -> Result<()> {
        let fd = rustix::fs::open(
            source,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_at(source, e))?;
        let key = join(&components(dest.as_bytes()));
        self.mounts.insert(key, fd);
        Ok(())
    }

    fn grafted(&self, path: &str) -> Option<OwnedFd> {
        self.mounts
            .get(path)
            .and_then(|fd| rustix::io::fcntl_dupfd_cloexec(fd, 0).ok())
    }

    /// Resolves absolute container path `path`; symlinks are followed inside the tree, the last
    /// component only with `follow_last`.
    pub fn resolve(
        &self,
        path: &str,
        follow_last: bool,
    ) -> std::result::Result<Resolved, ResolveError> {
        if !path.starts_with('/') || path.contains('\0') {
            return Err(ResolveError::Invalid(path.to_string()));
        }
        let mut todo = components(path.as_bytes());
        todo.reverse();
        // The descriptors of the path so far: `stack[i]` is the directory `done[..i]`.
        let mut stack: Vec<OwnedFd> = Vec::new();
        let mut done: Vec<OsString> = Vec::new();
        let mut links = 0;
        let dup_root = || {
            self.grafted("/")
                .map_or_else(|| rustix::io::fcntl_dupfd_cloexec(&self.root, 0), Ok)
                .map_err(|e| io_at(&self.shown, e))
        };
        let mut cur = dup_root()?;
        while let Some(part) = todo.pop() {
            if part == ".." {
                if let Some(parent) = stack.pop() {
                    cur = parent;
                    done.pop();
                }
                continue;
            }
            let is_last = todo.is_empty();
            done.push(part.clone());
            let here = join(&done);
            let next = match self.grafted(&here) {
                Some(fd) => fd,
                None => match o_path(cur.as_fd(), &part) {
                    Ok(fd) => fd,
                    Err(Errno::NOENT) => return Err(ResolveError::NotFound(here)),
                    Err(Errno::NOTDIR) => return Err(ResolveError::NotADirectory(here)),
                    Err(e) => return Err(io_at(&self.shown.join(&here[1..]), e).into()),
                },
            };
            let st = rustix::fs::fstat(&next).map_err(|e| io_at(&self.shown, e))?;
            let kind = FileType::from_raw_mode(st.st_mode);
            if kind == FileType::Symlink && (!is_last || follow_last) {
                links += 1;
                if links > MAX_LINKS {
                    return Err(ResolveError::TooManyLinks(path.to_string()));
                }
                let target = rustix::fs::readlinkat(&next, "", Vec::new())
                    .map_err(|e| io_at(&self.shown.join(&here[1..]), e))?;
                done.pop();
                let bytes = target.as_bytes();
                if bytes.starts_with(b"/") {
                    stack.clear();
                    done.clear();
                    cur = dup_root()?;
                }
                let mut more = components(bytes);
                more.reverse();
                todo.extend(more);
                continue;
            }
            if is_last {
                return Ok(Resolved {
                    fd: next,
                    path: here,
                    stat: st,
                });
            }
            if kind != FileType::Directory {
                return Err(ResolveError::NotADirectory(here));
            }
            stack.push(std::mem::replace(&mut cur, next));
        }
        // The path named the root itself (or `..` above it).
        let st = rustix::fs::fstat(&cur).map_err(|e| io_at(&self.shown, e))?;
        Ok(Resolved {
            fd: cur,
            path: join(&done),
            stat: st,
        })
    }

    /// Writes `resolved` to `out` as a tar stream whose entries are named `name` and, for a
    /// directory, `name/child/...`; with `name` `.` a directory's entries appear directly.
    /// Symlinks are stored as symlinks, never followed; grafted directories are read in place
    /// of what lies under them.
    pub fn write_tar(&self, resolved: &Resolved, name: &str, out: &mut dyn Write) -> Result<()> {
        let mut builder = tar::Builder::new(out);
        let mut writer = TarWriter {
            tree: self,
            builder: &mut builder,
            links: HashMap::new(),
        };
        writer.object(&resolved.fd, &resolved.stat, &resolved.path, name, 0)?;
        builder.finish().map_err(StorageError::ArchiveWrite)?;
        Ok(())
    }
}

/// A tree being written as tar.
struct TarWriter<'a, 'w> {
    tree: &'a Tree,
    builder: &'a mut tar::Builder<&'w mut dyn Write>,
    /// (dev, inode) → first entry name, for hard links.
    links: HashMap<(u64, u64), String>,
}

fn header_for(st: &rustix::fs::Stat, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

impl TarWriter<'_, '_> {
    fn write_err(e: io::Error) -> StorageError {
        StorageError::ArchiveWrite(e)
    }

    /// Writes one object (held as an `O_PATH` descriptor) and, for a directory, its contents.
    fn object(
        &mut self,
        fd: &OwnedFd,
        st: &rustix::fs::Stat,
        path: &str,
        name: &str,
        depth: usize,
    ) -> Result<()> {
        let shown = self.tree.shown.join(path.trim_start_matches('/'));
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                if name != "." {
                    let mut h = header_for(st, tar::EntryType::Directory);
                    self.builder
                        .append_data(&mut h, format!("{name}/"), io::empty())
                        .map_err(Self::write_err)?;
                }
                if depth < MAX_DEPTH {
                    self.children(fd, path, name, depth)?;
                }
            }
            FileType::Symlink => {
                let target =
                    rustix::fs::readlinkat(fd, "", Vec::new()).map_err(|e| io_at(&shown, e))?;
                let mut h = header_for(st, tar::EntryType::Symlink);
                self.builder
                    .append_link(&mut h, name, OsStr::from_bytes(target.as_bytes()))
                    .map_err(Self::write_err)?;
            }
            FileType::RegularFile => {
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = self.links.get(&key) {
                        let mut h = header_for(st, tar::EntryType::Link);
                        let first = first.clone();
                        self.builder
                            .append_link(&mut h, name, &first)
                            .map_err(Self::write_err)?;
                        return Ok(());
                    }
                    self.links.insert(key, name.to_string());
                }
                // Reopen the very object for reading (through its descriptor, not a path).
                let file = reopen(fd).map_err(|e| io_at(&shown, e))?;
                let file = std::fs::File::from(file);
                let mut h = header_for(st, tar::EntryType::Regular);
                h.set_size(st.st_size as u64);
                // The size is fixed in the header: a file that grows or shrinks meanwhile is
                // cut or padded to it, so the stream stays well-formed.
                let reader = FixedSize::new(file, st.st_size as u64);
                self.builder
                    .append_data(&mut h, name, reader)
                    .map_err(Self::write_err)?;
            }
            kind @ (FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo) => {
                let entry = match kind {
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                };
                let mut h = header_for(st, entry);
                if entry != tar::EntryType::Fifo {
                    let rdev = st.st_rdev;
                    h.set_device_major(rustix::fs::major(rdev))
                        .and_then(|()| h.set_device_minor(rustix::fs::minor(rdev)))
                        .map_err(Self::write_err)?;
                }
                self.builder
                    .append_data(&mut h, name, io::empty())
                    .map_err(Self::write_err)?;
            }
            // Sockets and unknown kinds have no tar form: skipped, as Docker does.
            _ => {}
        }
        Ok(())
    }

    fn children(&mut self, fd: &OwnedFd, path: &str, name: &str, depth: usize) -> Result<()> {
        let shown = self.tree.shown.join(path.trim_start_matches('/'));
        let dir = rustix::fs::openat(
            fd,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_at(&shown, e))?;
        let mut names: Vec<OsString> = Vec::new();
        let entries = rustix::fs::Dir::read_from(&dir).map_err(|e| io_at(&shown, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_at(&shown, e))?;
            let n = entry.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(OsStr::from_bytes(n).to_os_string());
            }
        }
        names.sort();
        for child in names {
            let child_path = if path == "/" {
                format!("/{}", child.to_string_lossy())
            } else {
                format!("{path}/{}", child.to_string_lossy())
            };
            let child_fd = match self.tree.grafted(&child_path) {
                Some(fd) => fd,
                None => match o_path(dir.as_fd(), &child) {
                    Ok(fd) => fd,
                    Err(Errno::NOENT) => continue, // removed meanwhile
                    Err(e) => return Err(io_at(&shown.join(&child), e)),
                },
            };
            let st = rustix::fs::fstat(&child_fd).map_err(|e| io_at(&shown.join(&child), e))?;
            let child_name = if name == "." {
                child.to_string_lossy().into_owned()
            } else {
                format!("{name}/{}", child.to_string_lossy())
            };
            self.object(&child_fd, &st, &child_path, &child_name, depth + 1)?;
        }
        Ok(())
    }
}

/// Opens the regular file an `O_PATH` descriptor holds for reading, through its magic link:
/// the link names that very object, not a path that could have changed meanwhile.
fn reopen(fd: &OwnedFd) -> rustix::io::Result<OwnedFd> {
    use rustix::fd::AsRawFd;
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    rustix::fs::open(
        link.as_str(),
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
}

/// A reader that yields exactly `size` bytes: the file's, then zeros if it shrank.
struct FixedSize<R> {
    inner: R,
    left: u64,
    eof: bool,
}

impl<R> FixedSize<R> {
    fn new(inner: R, size: u64) -> Self {
        FixedSize {
            inner,
            left: size,
            eof: false,
        }
    }
}

impl<R: io::Read> io::Read for FixedSize<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.left as usize);
        let n = if self.eof {
            0
        } else {
            self.inner.read(&mut buf[..want])?
        };
        let n = if n == 0 {
            self.eof = true;
            buf[..want].fill(0);
            want
        } else {
            n
        };
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> (tempfile::TempDir, Tree) {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/hosts"), "x").unwrap();
        symlink("/", root.join("up")).unwrap();
        symlink("../../../../etc", root.join("etc2")).unwrap();
        symlink("hosts", root.join("etc/alias")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        let t = Tree::open(&root).unwrap();
        (d, t)
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let (_d, t) = tree();
        assert_eq!(
            t.resolve("/up/up/etc/hosts", true).unwrap().path,
            "/etc/hosts"
        );
        assert_eq!(t.resolve("/etc2/hosts", true).unwrap().path, "/etc/hosts");
        assert_eq!(t.resolve("/../../etc", true).unwrap().path, "/etc");
        assert_eq!(t.resolve("/etc/alias", false).unwrap().path, "/etc/alias");
        assert_eq!(t.resolve("/etc/alias", true).unwrap().path, "/etc/hosts");
        assert_eq!(t.resolve("/", true).unwrap().path, "/");
        assert!(matches!(
            t.resolve("/loop/x", true),
            Err(ResolveError::TooManyLinks(_))
        ));
        assert!(matches!(
            t.resolve("/nope/x", true),
            Err(ResolveError::NotFound(p)) if p == "/nope"
        ));
        assert!(matches!(
            t.resolve("/etc/hosts/x", true),
            Err(ResolveError::NotADirectory(_))
        ));
        assert!(matches!(
            t.resolve("etc", true),
            Err(ResolveError::Invalid(_))
        ));
    }

    #[test]
    fn an_absolute_symlink_to_a_host_path_stays_inside() {
        let (d, t) = tree();
        // A host directory with a secret, and a link in the tree pointing at its host path.
        let host = d.path().join("host");
        std::fs::create_dir_all(&host).unwrap();
        std::fs::write(host.join("secret"), "HOST").unwrap();
        symlink(&host, d.path().join("root/evil")).unwrap();
        assert!(matches!(
            t.resolve("/evil/secret", true),
            Err(ResolveError::NotFound(_))
        ));
    }

    #[test]
    fn grafted_directories_replace_what_is_under_them() {
        let (d, mut t) = tree();
        let vol = d.path().join("vol");
        std::fs::create_dir_all(&vol).unwrap();
        std::fs::write(vol.join("data"), "V").unwrap();
        std::fs::create_dir_all(d.path().join("root/srv")).unwrap();
        t.with_mount("/srv/", &vol).unwrap();
        let r = t.resolve("/srv/data", true).unwrap();
        assert_eq!(r.path, "/srv/data");
        assert_eq!(r.stat.st_size, 1);
        // Grafts also apply when the mount point does not exist in the tree.
        t.with_mount("/mnt/v", &vol).unwrap();
        std::fs::create_dir_all(d.path().join("root/mnt")).unwrap();
        assert_eq!(t.resolve("/mnt/v/data", true).unwrap().stat.st_size, 1);
    }

    #[test]
    fn trees_are_written_without_following_symlinks() {
        let (d, mut t) = tree();
        let vol = d.path().join("vol");
        std::fs::create_dir_all(&vol).unwrap();
        std::fs::write(vol.join("v"), "volume").unwrap();
        std::fs::create_dir_all(d.path().join("root/etc/vol")).unwrap();
        t.with_mount("/etc/vol", &vol).unwrap();
        std::fs::hard_link(
            d.path().join("root/etc/hosts"),
            d.path().join("root/etc/hosts2"),
        )
        .unwrap();
        let r = t.resolve("/etc", true).unwrap();
        let mut out = Vec::new();
        t.write_tar(&r, "etc", &mut out).unwrap();
        let mut archive = tar::Archive::new(out.as_slice());
        let mut seen = Vec::new();
        for e in archive.entries().unwrap() {
            let e = e.unwrap();
            let kind = e.header().entry_type();
            let link = e
                .link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned());
            seen.push((e.path().unwrap().to_string_lossy().into_owned(), kind, link));
        }
        let names: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "etc/",
                "etc/alias",
                "etc/hosts",
                "etc/hosts2",
                "etc/vol/",
                "etc/vol/v"
            ]
        );
        assert_eq!(seen[1].2.as_deref(), Some("hosts"));
        assert_eq!(seen[3].1, tar::EntryType::Link);
        let mut out = Vec::new();
        t.write_tar(&t.resolve("/etc/hosts", true).unwrap(), "hosts", &mut out)
            .unwrap();
        let mut archive = tar::Archive::new(out.as_slice());
        let mut e = archive.entries().unwrap().next().unwrap().unwrap();
        let mut s = String::new();
        io::Read::read_to_string(&mut e, &mut s).unwrap();
        assert_eq!(s, "x");
    }
}
