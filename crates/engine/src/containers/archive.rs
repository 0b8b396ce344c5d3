//! `docker cp` and `docker export`: tar streams out of and into a container's file system.
//!
//! A running container is read through `/proc/<pid>/root`, which shows its mounts (volumes,
//! binds, tmpfs) exactly as its processes see them. A stopped one gets its root file system
//! mounted for the duration of the call, and paths under its volumes and binds are mapped to
//! their host directories. Paths are resolved inside the container's root — symlinks included
//! — so an image's `/etc -> /` trick cannot reach the host, and extraction uses the storage
//! layer's confined tar applier.

use super::Containers;
use super::record::ContainerRecord;
use crate::EngineError;
use serde::Serialize;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

type Result<T> = std::result::Result<T, EngineError>;

/// Symlinks followed while resolving one path before giving up (Linux's limit).
const MAX_LINKS: usize = 40;

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

/// Where a container path lives on the host.
struct Located {
    /// Host path of the resolved container path.
    host: PathBuf,
    /// The resolved container path.
    resolved: String,
}

/// A container's file system made reachable for the duration of a call.
struct View<'a> {
    containers: &'a Containers,
    rec: ContainerRecord,
    /// `/proc/<pid>/root` for a running container; the mounted rootfs otherwise.
    root: PathBuf,
    running: bool,
    mounted_here: bool,
}

impl Drop for View<'_> {
    fn drop(&mut self) {
        if self.mounted_here {
            let _ = self.containers.unmount_rootfs(&self.root);
        }
    }
}

impl View<'_> {
    /// The host directory that holds container path `path` (volumes and binds of a stopped
    /// container are not under its rootfs).
    fn base_for(&self, path: &str) -> (PathBuf, String) {
        if !self.running {
            let best = self
                .rec
                .mounts
                .iter()
                .filter(|m| m.kind != "tmpfs" && !m.source.is_empty())
                .filter(|m| {
                    path == m.destination || path.starts_with(&format!("{}/", m.destination))
                })
                .max_by_key(|m| m.destination.len());
            if let Some(m) = best {
                let rest = path[m.destination.len()..]
                    .trim_start_matches('/')
                    .to_string();
                return (PathBuf::from(&m.source), format!("/{rest}"));
            }
        }
        (self.root.clone(), path.to_string())
    }

    /// Resolves `path` inside the container; the last component is followed only if
    /// `follow_last`.
    fn locate(&self, path: &str, follow_last: bool) -> Result<Located> {
        let resolved = resolve(path, follow_last, &|p| self.base_for(p))?;
        let (base, rest) = self.base_for(&resolved);
        Ok(Located {
            host: base.join(rest.trim_start_matches('/')),
            resolved,
        })
    }
}

/// Resolves `path` (absolute, in the container) component by component, following symlinks
/// within the container's root; `base_for` maps a container path to the host directory that
/// holds it and the remaining path.
fn resolve(
    path: &str,
    follow_last: bool,
    base_for: &dyn Fn(&str) -> (PathBuf, String),
) -> Result<String> {
    let mut todo: Vec<String> = components(path);
    todo.reverse();
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = todo.pop() {
        if part == ".." {
            done.pop();
            continue;
        }
        let candidate = format!("/{}", [done.clone(), vec![part.clone()]].concat().join("/"));
        let is_last = todo.is_empty();
        let (base, rest) = base_for(&candidate);
        let host = base.join(rest.trim_start_matches('/'));
        match std::fs::symlink_metadata(&host) {
            Ok(md) if md.file_type().is_symlink() && (!is_last || follow_last) => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(EngineError::InvalidArgument(format!(
                        "too many levels of symbolic links: {path}"
                    )));
                }
                let target = std::fs::read_link(&host).map_err(|e| EngineError::io(&host, e))?;
                let target = target.to_string_lossy().to_string();
                if target.starts_with('/') {
                    done.clear();
                }
                let mut more = components(&target);
                more.reverse();
                todo.extend(more);
            }
            _ => done.push(part),
        }
    }
    Ok(format!("/{}", done.join("/")))
}

fn components(path: &str) -> Vec<String> {
    Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().to_string()),
            Component::ParentDir => Some("..".to_string()),
            _ => None,
        })
        .collect()
}

/// Go's `os.FileMode` for a file's metadata (what the docker CLI decodes).
pub fn go_file_mode(md: &std::fs::Metadata) -> u32 {
    let ft = md.file_type();
    let mut mode = md.permissions().mode() & 0o777;
    let raw = md.mode();
    if raw & 0o4000 != 0 {
        mode |= 1 << 23;
    }
    if raw & 0o2000 != 0 {
        mode |= 1 << 22;
    }
    if raw & 0o1000 != 0 {
        mode |= 1 << 20;
    }
    if ft.is_dir() {
        mode |= 1 << 31;
    } else if ft.is_symlink() {
        mode |= 1 << 27;
    } else if ft.is_fifo() {
        mode |= 1 << 25;
    } else if ft.is_socket() {
        mode |= 1 << 24;
    } else if ft.is_char_device() {
        mode |= (1 << 26) | (1 << 21);
    } else if ft.is_block_device() {
        mode |= 1 << 26;
    }
    mode
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
            let view = View {
                containers: self,
                root: PathBuf::from(format!("/proc/{}/root", rec.state.pid)),
                rec,
                running: true,
                mounted_here: false,
            };
            return f(&view);
        }
        let root = entry.dir().join("rootfs");
        let mounted_here = !super::is_mounted(&root);
        self.mount_rootfs(&rec, &root)?;
        let view = View {
            containers: self,
            rec,
            root,
            running: false,
            mounted_here,
        };
        f(&view)
    }

    /// `HEAD /containers/{id}/archive`: the stat of `path`.
    pub fn stat_path(&self, key: &str, path: &str) -> Result<PathStat> {
        self.with_view(key, |view| stat_in(view, key, path))
    }

    /// `GET /containers/{id}/archive`: writes a tar of `path` to `out`, entries named after its
    /// base name (its contents directly when the path ends in `/.`).
    pub fn get_archive(&self, key: &str, path: &str, out: &mut dyn Write) -> Result<PathStat> {
        self.with_view(key, |view| {
            let stat = stat_in(view, key, path)?;
            let contents_only = path.ends_with("/.");
            let loc = view.locate(&clean(path)?, contents_only)?;
            let mut builder = tar::Builder::new(out);
            builder.follow_symlinks(false);
            let name = if contents_only {
                ".".to_string()
            } else {
                stat.name.clone()
            };
            let md = std::fs::symlink_metadata(&loc.host).map_err(|_| not_found(key, path))?;
            let io = |e: std::io::Error| EngineError::io(&loc.host, e);
            if md.is_dir() {
                builder.append_dir_all(&name, &loc.host).map_err(io)?;
            } else {
                builder
                    .append_path_with_name(&loc.host, &name)
                    .map_err(io)?;
            }
            builder.finish().map_err(io)?;
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
        let root = entry.dir().join("rootfs");
        let mounted_here = !super::is_mounted(&root);
        self.mount_rootfs(&rec, &root)?;
        let result = (|| {
            let mut builder = tar::Builder::new(out);
            builder.follow_symlinks(false);
            let io = |e: std::io::Error| EngineError::io(&root, e);
            builder.append_dir_all(".", &root).map_err(io)?;
            builder.finish().map_err(io)
        })();
        if mounted_here {
            let _ = self.unmount_rootfs(&root);
        }
        self.event("export", &rec, &[]);
        result
    }
}

fn stat_in(view: &View<'_>, key: &str, path: &str) -> Result<PathStat> {
    let loc = view.locate(&clean(path)?, false)?;
    let md = std::fs::symlink_metadata(&loc.host).map_err(|_| not_found(key, path))?;
    let link_target = if md.file_type().is_symlink() {
        view.locate(&loc.resolved, true)?.resolved
    } else {
        String::new()
    };
    let mtime = md
        .modified()
        .map(|t| berth_shim_proto::timefmt::format_nanos(berth_shim_proto::timefmt::unix_nanos(t)))
        .unwrap_or_default();
    Ok(PathStat {
        name: Path::new(&loc.resolved)
            .file_name()
            .map_or("/".into(), |n| n.to_string_lossy().to_string()),
        size: md.len() as i64,
        mode: go_file_mode(&md),
        mtime,
        link_target,
    })
}

fn put_in(view: &View<'_>, key: &str, path: &str, input: &mut dyn Read) -> Result<()> {
    let loc = view.locate(&clean(path)?, true)?;
    if view.rec.host_config.readonly_rootfs {
        let under = |d: &str| loc.resolved == d || loc.resolved.starts_with(&format!("{d}/"));
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
    let md = std::fs::metadata(&loc.host).map_err(|_| not_found(key, path))?;
    if !md.is_dir() {
        return Err(EngineError::InvalidArgument(format!(
            "extraction point is not a directory: {path}"
        )));
    }
    berth_storage::unpack::apply_tar(
        input,
        &loc.host,
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
    fn symlinks_resolve_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/hosts"), "x").unwrap();
        std::os::unix::fs::symlink("/", root.join("up")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", root.join("etc2")).unwrap();
        std::os::unix::fs::symlink("hosts", root.join("etc/alias")).unwrap();
        let base = |p: &str| (root.to_path_buf(), p.to_string());
        assert_eq!(
            resolve("/up/up/etc/hosts", true, &base).unwrap(),
            "/etc/hosts"
        );
        assert_eq!(resolve("/etc2/hosts", true, &base).unwrap(), "/etc/hosts");
        assert_eq!(resolve("/../../etc", true, &base).unwrap(), "/etc");
        assert_eq!(resolve("/etc/alias", false, &base).unwrap(), "/etc/alias");
        assert_eq!(resolve("/etc/alias", true, &base).unwrap(), "/etc/hosts");
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert!(resolve("/loop/x", true, &base).is_err());
    }

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
