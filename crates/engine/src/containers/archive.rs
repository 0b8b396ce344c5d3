//! `docker cp` and `docker export`: tar streams out of and into a container's file system.
//!
//! A running container is reached through `/proc/<pid>/root`, which shows its mounts (volumes,
//! binds, tmpfs) exactly as its processes see them. A stopped one gets its root file system
//! mounted for the duration of the call, with its volumes and binds grafted at their container
//! paths. Either way the tree is only ever walked by descriptor (`berth_storage::confined`):
//! paths resolve inside the container's root, symlinks included, and a container racing to
//! swap a directory for a symlink to a host path cannot make a copy read or write the host
//! (the CVE-2018-15664 class). Extraction uses the storage layer's confined tar applier on the
//! destination directory's descriptor.

use super::Containers;
use super::record::ContainerRecord;
use super::store::Entry;
use crate::EngineError;
use berth_storage::confined::{ResolveError, Resolved, Tree};
use serde::Serialize;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

type Result<T> = std::result::Result<T, EngineError>;

/// `X-Docker-Container-Path-Stat`: what `docker cp` learns about a path before copying.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathStat {
    /// Base name.
    pub name: String,
    /// Size in bytes.
    pub size: i64,
    /// Go `os.FileMode` bits (type bits high, permissions low).
    pub mode: u32,
    /// Modification time, RFC 3339.
    pub mtime: String,
    /// Symlink target (the resolved path in the container), empty otherwise.
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// A container's file system made reachable for the duration of a call.
struct View<'a> {
    containers: &'a Containers,
    rec: ContainerRecord,
    tree: Tree,
    /// The mounted rootfs to unmount at the end (a stopped container's).
    mounted_here: Option<PathBuf>,
}

impl Drop for View<'_> {
    fn drop(&mut self) {
        if let Some(root) = &self.mounted_here {
            let _ = self.containers.unmount_rootfs(root);
        }
    }
}

impl View<'_> {
    /// Resolves a client's path inside the container.
    fn resolve(&self, key: &str, path: &str, follow_last: bool) -> Result<Resolved> {
        let path = clean(path)?;
        self.tree
            .resolve(&path, follow_last)
            .map_err(|e| resolve_error(e, key, &path))
    }
}

fn resolve_error(e: ResolveError, key: &str, path: &str) -> EngineError {
    match e {
        ResolveError::NotFound(_) | ResolveError::NotADirectory(_) => not_found(key, path),
        ResolveError::TooManyLinks(_) | ResolveError::Invalid(_) => {
            EngineError::InvalidArgument(e.to_string())
        }
        ResolveError::Storage(s) => s.into(),
    }
}

/// Go's `os.FileMode` for a file's metadata (what the docker CLI decodes).
pub fn go_file_mode(md: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::MetadataExt;
    go_mode(md.mode()) | (md.permissions().mode() & 0o777)
}

/// Go's `os.FileMode` for a raw `st_mode`.
pub fn go_mode(raw: u32) -> u32 {
    let mut mode = raw & 0o777;
    if raw & 0o4000 != 0 {
        mode |= 1 << 23;
    }
    if raw & 0o2000 != 0 {
        mode |= 1 << 22;
    }
    if raw & 0o1000 != 0 {
        mode |= 1 << 20;
    }
    match raw & libc_mode::S_IFMT {
        libc_mode::S_IFDIR => mode |= 1 << 31,
        libc_mode::S_IFLNK => mode |= 1 << 27,
        libc_mode::S_IFIFO => mode |= 1 << 25,
        libc_mode::S_IFSOCK => mode |= 1 << 24,
        libc_mode::S_IFCHR => mode |= (1 << 26) | (1 << 21),
        libc_mode::S_IFBLK => mode |= 1 << 26,
        _ => {}
    }
    mode
}

/// File type bits of `st_mode` (POSIX values, the same on every Linux architecture).
mod libc_mode {
    pub const S_IFMT: u32 = 0o170000;
    pub const S_IFSOCK: u32 = 0o140000;
    pub const S_IFLNK: u32 = 0o120000;
    pub const S_IFBLK: u32 = 0o060000;
    pub const S_IFDIR: u32 = 0o040000;
    pub const S_IFCHR: u32 = 0o020000;
    pub const S_IFIFO: u32 = 0o010000;
}

fn not_found(key: &str, path: &str) -> EngineError {
    EngineError::NotFound(format!("Could not find the file {path} in container {key}"))
}

impl Containers {
    /// Runs `f` with the container's file system reachable. A stopped container's root is
    /// mounted for the call, under the container's operation lock so a concurrent start
    /// cannot find it mounted and lose it when the call ends.
    fn with_view<T>(&self, key: &str, f: impl FnOnce(&View<'_>) -> Result<T>) -> Result<T> {
        let entry = self.store.get(key)?;
        let _op = entry.op_lock();
        let rec = entry.snapshot();
        if rec.state.status.is_running() && rec.state.pid > 0 {
            let tree = Tree::open(Path::new(&format!("/proc/{}/root", rec.state.pid)))?;
            let view = View {
                containers: self,
                rec,
                tree,
                mounted_here: None,
            };
            return f(&view);
        }
        let (root, guard) = self.mount_for_call(&entry, &rec)?;
        let mut tree = Tree::open(&root)?;
        for m in rec
            .mounts
            .iter()
            .filter(|m| m.kind != "tmpfs" && !m.source.is_empty())
        {
            if let Err(e) = tree.with_mount(&m.destination, Path::new(&m.source)) {
                tracing::warn!(destination = %m.destination, error = %e, "mount source unavailable for a copy");
            }
        }
        let view = View {
            containers: self,
            rec,
            tree,
            mounted_here: guard.disarm(),
        };
        f(&view)
    }

    /// Runs `f` with the (stopped) container's root file system mounted at the path `f` is
    /// given, under the container's operation lock. The builder reads a stage's files and
    /// writes a step's there, resolving every path with [`Tree`] so no symlink leads out.
    pub(crate) fn with_rootfs<T>(
        &self,
        key: &str,
        f: impl FnOnce(&Path) -> Result<T>,
    ) -> Result<T> {
        let entry = self.store.get(key)?;
        let _op = entry.op_lock();
        let (root, _guard) = self.mount_for_call(&entry, &entry.snapshot())?;
        f(&root)
    }

    /// Keeps the (stopped) container's root file system mounted until the hold is dropped:
    /// the builder binds a path of an image's root into a step, read-only, instead of copying
    /// it (`RUN --mount=type=bind,from=…`).
    pub(crate) fn hold_rootfs(&self, key: &str) -> Result<HeldRootfs<'_>> {
        let entry = self.store.get(key)?;
        let _op = entry.op_lock();
        let (path, guard) = self.mount_for_call(&entry, &entry.snapshot())?;
        Ok(HeldRootfs {
            _guard: guard,
            path,
        })
    }

    /// Mounts the stopped container's root at its `rootfs` directory unless it is mounted
    /// already; the guard unmounts it again only if this call mounted it.
    fn mount_for_call(
        &self,
        entry: &Entry,
        rec: &ContainerRecord,
    ) -> Result<(PathBuf, RootfsGuard<'_>)> {
        let root = entry.dir().join("rootfs");
        let mounted_here = !self.snapshotter.is_mounted(&root);
        self.mount_rootfs(rec, &root)?;
        let guard = RootfsGuard {
            containers: self,
            root: mounted_here.then(|| root.clone()),
        };
        Ok((root, guard))
    }

    /// `HEAD /containers/{id}/archive`: the stat of `path`.
    pub fn stat_path(&self, key: &str, path: &str) -> Result<PathStat> {
        self.with_view(key, |view| stat_in(view, key, path))
    }

    /// `GET /containers/{id}/archive`: writes a tar of `path` to `out`, entries named after its
    /// base name (its contents directly when the path ends in `/.`). `on_stat` hears the
    /// path's stat once the path is resolved and before any byte is written, so a caller can
    /// still answer an error (a path a racing container removed) with a status of its own.
    pub fn get_archive(
        &self,
        key: &str,
        path: &str,
        on_stat: &mut dyn FnMut(&PathStat),
        out: &mut dyn Write,
    ) -> Result<PathStat> {
        self.with_view(key, |view| {
            let stat = stat_in(view, key, path)?;
            let contents_only = path.ends_with("/.");
            let target = view.resolve(key, path, contents_only)?;
            let name = if contents_only {
                ".".to_string()
            } else {
                stat.name.clone()
            };
            on_stat(&stat);
            view.tree.write_tar(&target, &name, out)?;
            Ok(stat)
        })
    }

    /// `PUT /containers/{id}/archive`: extracts the tar `input` into directory `path`.
    pub fn put_archive(&self, key: &str, path: &str, input: &mut dyn Read) -> Result<()> {
        self.with_view(key, |view| put_in(view, key, path, input))
    }

    /// `GET /containers/{id}/export`: the container's root file system as a tar (without
    /// its volumes and binds, as Docker's).
    pub fn export(&self, key: &str, out: &mut dyn Write) -> Result<()> {
        let entry = self.store.get(key)?;
        let rec = entry.snapshot();
        let (root, _guard) = self.mount_for_call(&entry, &rec)?;
        let tree = Tree::open(&root)?;
        let top = tree
            .resolve("/", false)
            .map_err(|e| resolve_error(e, key, "/"))?;
        tree.write_tar(&top, ".", out)?;
        self.event("export", &rec, &[]);
        Ok(())
    }
}

/// A container's root file system mounted while this lives ([`Containers::hold_rootfs`]).
pub(crate) struct HeldRootfs<'a> {
    _guard: RootfsGuard<'a>,
    path: PathBuf,
}

impl HeldRootfs<'_> {
    /// Where the root is mounted.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// Unmounts a rootfs mounted for one call, also when the call fails.
struct RootfsGuard<'a> {
    containers: &'a Containers,
    root: Option<PathBuf>,
}

impl RootfsGuard<'_> {
    /// Hands the unmount over to the caller.
    fn disarm(mut self) -> Option<PathBuf> {
        self.root.take()
    }
}

impl Drop for RootfsGuard<'_> {
    fn drop(&mut self) {
        if let Some(root) = self.root.take() {
            let _ = self.containers.unmount_rootfs(&root);
        }
    }
}

fn stat_in(view: &View<'_>, key: &str, path: &str) -> Result<PathStat> {
    let target = view.resolve(key, path, false)?;
    let st = &target.stat;
    let is_link = st.st_mode & libc_mode::S_IFMT == libc_mode::S_IFLNK;
    let link_target = if is_link {
        match view.tree.resolve(&target.path, true) {
            Ok(r) => r.path,
            // A dangling link: where it points, as the container would read it.
            Err(_) => {
                let raw = rustix::fs::readlinkat(&target.fd, "", Vec::new())
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if raw.starts_with('/') {
                    raw
                } else {
                    let parent = Path::new(&target.path).parent().unwrap_or(Path::new("/"));
                    parent.join(raw).to_string_lossy().into_owned()
                }
            }
        }
    } else {
        String::new()
    };
    let nanos = st.st_mtime as i128 * 1_000_000_000 + st.st_mtime_nsec as i128;
    let mtime = berth_shim_proto::timefmt::format_nanos(nanos);
    Ok(PathStat {
        name: Path::new(&target.path)
            .file_name()
            .map_or("/".into(), |n| n.to_string_lossy().to_string()),
        size: st.st_size,
        mode: go_mode(st.st_mode),
        mtime,
        link_target,
    })
}

fn put_in(view: &View<'_>, key: &str, path: &str, input: &mut dyn Read) -> Result<()> {
    let target = view.resolve(key, path, true)?;
    if view.rec.host_config.readonly_rootfs {
        let under = |d: &str| target.path == d || target.path.starts_with(&format!("{d}/"));
        if !view
            .rec
            .mounts
            .iter()
            .any(|m| m.rw && under(&m.destination))
        {
            return Err(EngineError::Conflict(
                "container rootfs is marked read-only".into(),
            ));
        }
    }
    if target.stat.st_mode & libc_mode::S_IFMT != libc_mode::S_IFDIR {
        return Err(EngineError::InvalidArgument(format!(
            "extraction point is not a directory: {path}"
        )));
    }
    berth_storage::unpack::apply_tar_at(
        input,
        target.fd,
        Path::new(&target.path),
        berth_storage::unpack::WhiteoutMode::Delete,
    )?;
    Ok(())
}

/// Checks a container path given by a client: absolute, no NUL.
fn clean(path: &str) -> Result<String> {
    if path.is_empty() || !path.starts_with('/') || path.contains('\0') {
        return Err(EngineError::InvalidArgument(format!(
            "path must be absolute: {path:?}"
        )));
    }
    Ok(path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_modes() {
        let d = tempfile::tempdir().unwrap();
        let md = std::fs::metadata(d.path()).unwrap();
        assert_eq!(go_file_mode(&md) & (1 << 31), 1 << 31);
        std::fs::write(d.path().join("f"), "").unwrap();
        std::fs::set_permissions(d.path().join("f"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        assert_eq!(
            go_file_mode(&std::fs::metadata(d.path().join("f")).unwrap()),
            0o640
        );
    }
}
