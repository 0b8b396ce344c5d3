//! `docker diff` and the writable layer's size: read from the overlay upper directory, where
//! every change a container made lives (added and modified files, whiteouts for deletions).

use super::Containers;
use crate::EngineError;
use berth_api_types::container::ContainerChange;
use berth_storage::snapshot::RootfsMount;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

type Result<T> = std::result::Result<T, EngineError>;

/// Docker's change kinds.
const MODIFIED: u8 = 0;
const ADDED: u8 = 1;
const DELETED: u8 = 2;

fn layers(c: &Containers, id: &str) -> Result<(PathBuf, Vec<PathBuf>)> {
    let entry = c.store.get(id)?;
    let rec = entry.snapshot();
    match c
        .snapshotter
        .prepare(&rec.id, c.parent_of(&rec)?.as_ref())?
    {
        RootfsMount::Overlay { lower, upper, .. } => Ok((upper, lower)),
        RootfsMount::Directory(_) => Err(EngineError::InvalidArgument(
            "changes are only tracked with the overlay2 snapshotter".into(),
        )),
    }
}

/// `GET /containers/{id}/changes`, sorted by path. Mount points the runtime created for the
/// per-container /etc files, `/dev`, `/proc`, `/sys` and the container's mounts are not changes of the container (Docker
/// keeps them in a separate init layer), so empty ones are left out, and so is a directory
/// whose only change was to hold them.
pub fn changes(c: &Containers, id: &str) -> Result<Vec<ContainerChange>> {
    let (upper, lower) = layers(c, id)?;
    let rec = c.store.get(id)?.snapshot();
    let mut skip: Vec<String> = [
        "/etc/hostname",
        "/etc/hosts",
        "/etc/resolv.conf",
        "/dev",
        "/proc",
        "/sys",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    skip.extend(rec.mounts.iter().map(|m| m.destination.clone()));
    skip.extend(rec.host_config.tmpfs.keys().cloned());
    let mut out = Vec::new();
    walk(&upper, &upper, &lower, &skip, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Bytes of the writable layer (what `ps -s` shows).
pub fn diff_size(c: &Containers, id: &str) -> Result<u64> {
    let (upper, _) = layers(c, id)?;
    let mut total = 0;
    let mut todo = vec![upper];
    while let Some(dir) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(md) = e.metadata() else { continue };
            if md.is_dir() {
                todo.push(e.path());
            } else if md.is_file() {
                total += md.len();
            }
        }
    }
    Ok(total)
}

fn in_lower(lower: &[PathBuf], rel: &Path) -> bool {
    lower
        .iter()
        .any(|l| std::fs::symlink_metadata(l.join(rel)).is_ok())
}

/// Walks one upper directory; returns whether anything below it was reported.
fn walk(
    root: &Path,
    dir: &Path,
    lower: &[PathBuf],
    skip: &[String],
    out: &mut Vec<ContainerChange>,
) -> Result<bool> {
    let rd = std::fs::read_dir(dir).map_err(|e| EngineError::io(dir, e))?;
    let mut any = false;
    for e in rd {
        let e = e.map_err(|err| EngineError::io(dir, err))?;
        let path = e.path();
        let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        let md = std::fs::symlink_metadata(&path).map_err(|err| EngineError::io(&path, err))?;
        let shown = format!("/{}", rel.display());
        if md.file_type().is_char_device() && md.rdev() == 0 {
            out.push(ContainerChange {
                path: shown,
                kind: DELETED,
            });
            any = true;
            continue;
        }
        let existed = in_lower(lower, &rel);
        let empty_mount_point = skip.contains(&shown)
            && !existed
            && ((md.is_file() && md.len() == 0) || (md.is_dir() && is_empty_dir(&path)));
        if empty_mount_point {
            continue;
        }
        let slot = out.len();
        out.push(ContainerChange {
            path: shown,
            kind: if existed { MODIFIED } else { ADDED },
        });
        let below = md.is_dir() && walk(root, &path, lower, skip, out)?;
        if md.is_dir() && existed && !below && only_skipped(&path, root, skip) {
            out.remove(slot);
            continue;
        }
        any = true;
    }
    Ok(any)
}

fn is_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_none())
}

/// Whether upper directory `dir` holds entries and all of them are skipped mount points (it
/// was copied up only to hold them).
fn only_skipped(dir: &Path, root: &Path, skip: &[String]) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    let names: Vec<String> = rd
        .flatten()
        .map(|e| {
            let p = e.path();
            format!("/{}", p.strip_prefix(root).unwrap_or(&p).display())
        })
        .collect();
    !names.is_empty() && names.iter().all(|n| skip.contains(n))
}
