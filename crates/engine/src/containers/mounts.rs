//! A container's user mounts, resolved at create time: `-v` shorthands, `--mount` objects,
//! the image's anonymous volumes and `--volumes-from`, turned into host paths for the spec
//! ([`ResolvedMount`]) and into the `Mounts` inspect shows ([`MountPoint`]).
//!
//! Volumes are created here (named ones if missing, anonymous ones always), so `docker create`
//! fails early on a bad mount and `docker volume ls` shows the volume right after create, as
//! Docker does. New volumes are marked for copy-up: at first start the engine fills them with
//! what the image has at the mount point.

use super::record::{ContainerRecord, CopyUp};
use crate::EngineError;
use crate::spec::{MountKind, ResolvedMount};
use crate::volumes::VolumeStore;
use berth_api_types::container::{HostConfig, Mount, MountPoint};
use berth_api_types::shorthand::parse_volume;
use berth_api_types::volume::VolumeCreateOptions;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

type Result<T> = std::result::Result<T, EngineError>;

/// What the resolution produced.
#[derive(Debug, Default)]
pub struct Resolved {
    /// For the spec.
    pub mounts: Vec<ResolvedMount>,
    /// For inspect and `ps`.
    pub points: Vec<MountPoint>,
    /// Anonymous volumes made for the container.
    pub anonymous: Vec<String>,
    /// Volumes to fill from the image at first start.
    pub copy_up: Vec<CopyUp>,
}

/// Resolves every mount source of a container being created. `image_volumes` are the
/// merged config's `Volumes`; `volumes_from` looks up another container's record.
pub fn resolve(
    host: &HostConfig,
    image_volumes: &[String],
    volumes: &VolumeStore,
    volumes_from: &dyn Fn(&str) -> Result<ContainerRecord>,
) -> Result<Resolved> {
    let mut out = Resolved::default();
    let mut seen = HashSet::new();
    // (mount, mode as written, came from a `-v` shorthand)
    let mut requests: Vec<(Mount, String, bool)> = Vec::new();
    for raw in &host.binds {
        let spec = parse_volume(raw)?;
        requests.push((spec.mount, spec.mode, true));
    }
    for m in &host.mounts {
        requests.push((m.clone(), String::new(), false));
    }
    for (m, mode, shorthand) in requests {
        let dest = clean_destination(&m.target)?;
        if !seen.insert(dest.clone()) {
            return Err(EngineError::InvalidArgument(format!(
                "Duplicate mount point: {dest}"
            )));
        }
        match m.kind.as_str() {
            "bind" => add_bind(&mut out, &m, &dest, mode, shorthand)?,
            "volume" | "" => add_volume(&mut out, volumes, &m, &dest, mode)?,
            "tmpfs" => add_tmpfs(&mut out, &m, &dest)?,
            other => {
                return Err(EngineError::InvalidArgument(format!(
                    "mount type {other:?} is not supported (bind, volume, tmpfs)"
                )));
            }
        }
    }
    for entry in &host.volumes_from {
        let (name, mode) = match entry.rsplit_once(':') {
            Some((n, m @ ("ro" | "rw"))) => (n, Some(m)),
            Some(_) => {
                return Err(EngineError::InvalidArgument(format!(
                    "invalid mode for volumes-from: {entry}"
                )));
            }
            None => (entry.as_str(), None),
        };
        let source = volumes_from(name)?;
        for p in source.mounts.iter().filter(|p| p.kind != "tmpfs") {
            if !seen.insert(p.destination.clone()) {
                continue;
            }
            let mut point = p.clone();
            if let Some(m) = mode {
                point.rw = m == "rw";
                point.mode = m.to_string();
            }
            out.mounts.push(ResolvedMount {
                kind: if p.kind == "volume" {
                    MountKind::Volume
                } else {
                    MountKind::Bind
                },
                source: PathBuf::from(&p.source),
                destination: p.destination.clone(),
                read_only: !point.rw,
                propagation: p.propagation.clone(),
                ..Default::default()
            });
            out.points.push(point);
        }
    }
    for dest in image_volumes {
        let dest = clean_destination(dest)?;
        if host.tmpfs.contains_key(&dest) || !seen.insert(dest.clone()) {
            continue;
        }
        let m = Mount {
            target: dest.clone(),
            kind: "volume".into(),
            ..Default::default()
        };
        add_volume(&mut out, volumes, &m, &dest, String::new())?;
    }
    Ok(out)
}

fn clean_destination(target: &str) -> Result<String> {
    if !target.starts_with('/') {
        return Err(EngineError::InvalidArgument(format!(
            "invalid mount config: mount path must be absolute: {target:?}"
        )));
    }
    let mut clean = String::new();
    for part in target.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." {
            return Err(EngineError::InvalidArgument(format!(
                "invalid mount config: mount path must not contain '..': {target:?}"
            )));
        }
        clean.push('/');
        clean.push_str(part);
    }
    if clean.is_empty() {
        return Err(EngineError::InvalidArgument(
            "invalid mount config: destination can't be '/'".into(),
        ));
    }
    Ok(clean)
}

fn add_bind(
    out: &mut Resolved,
    m: &Mount,
    dest: &str,
    mode: String,
    shorthand: bool,
) -> Result<()> {
    let source = Path::new(&m.source);
    if !source.is_absolute() {
        return Err(EngineError::InvalidArgument(format!(
            "invalid mount config for type \"bind\": invalid mount path: '{}' mount path must be absolute",
            m.source
        )));
    }
    if !source.exists() {
        // `-v /host:/ctr` creates a missing host directory; `--mount type=bind` refuses.
        let create = shorthand || m.bind_options.as_ref().is_some_and(|b| b.create_mountpoint);
        if create {
            std::fs::create_dir_all(source).map_err(|e| EngineError::io(source, e))?;
        } else {
            return Err(EngineError::InvalidArgument(format!(
                "invalid mount config for type \"bind\": bind source path does not exist: {}",
                m.source
            )));
        }
    }
    let opts = m.bind_options.clone().unwrap_or_default();
    let propagation = if opts.propagation.is_empty() {
        "rprivate".to_string()
    } else {
        opts.propagation.clone()
    };
    out.mounts.push(ResolvedMount {
        kind: MountKind::Bind,
        source: source.to_path_buf(),
        destination: dest.to_string(),
        read_only: m.read_only,
        propagation: propagation.clone(),
        non_recursive: opts.non_recursive,
        options: Vec::new(),
    });
    out.points.push(MountPoint {
        kind: "bind".into(),
        source: m.source.clone(),
        destination: dest.to_string(),
        mode,
        rw: !m.read_only,
        propagation,
        ..Default::default()
    });
    Ok(())
}

fn add_volume(
    out: &mut Resolved,
    volumes: &VolumeStore,
    m: &Mount,
    dest: &str,
    mode: String,
) -> Result<()> {
    let opts = m.volume_options.clone().unwrap_or_default();
    let driver_opts: BTreeMap<String, String> = opts
        .driver_config
        .as_ref()
        .map(|d| d.options.clone())
        .unwrap_or_default();
    let existed = !m.source.is_empty() && volumes.inspect(&m.source).is_ok();
    let volume = volumes.create(&VolumeCreateOptions {
        name: m.source.clone(),
        driver: opts
            .driver_config
            .as_ref()
            .map(|d| d.name.clone())
            .unwrap_or_default(),
        driver_opts,
        labels: opts.labels.clone(),
    })?;
    if m.source.is_empty() {
        out.anonymous.push(volume.name.clone());
    }
    let mut source = PathBuf::from(&volume.mountpoint);
    if !opts.subpath.is_empty() {
        let sub = clean_destination(&format!("/{}", opts.subpath))?;
        source = source.join(sub.trim_start_matches('/'));
        if !source.exists() {
            return Err(EngineError::InvalidArgument(format!(
                "cannot access path {}: no such file or directory",
                source.display()
            )));
        }
    }
    if !opts.no_copy && !existed && opts.subpath.is_empty() {
        out.copy_up.push(CopyUp {
            source: volume.mountpoint.clone(),
            destination: dest.to_string(),
        });
    }
    out.mounts.push(ResolvedMount {
        kind: MountKind::Volume,
        source,
        destination: dest.to_string(),
        read_only: m.read_only,
        ..Default::default()
    });
    out.points.push(MountPoint {
        kind: "volume".into(),
        name: volume.name.clone(),
        source: volume.mountpoint.clone(),
        destination: dest.to_string(),
        driver: "local".into(),
        mode: if mode.is_empty() { "z".into() } else { mode },
        rw: !m.read_only,
        propagation: String::new(),
    });
    Ok(())
}

fn add_tmpfs(out: &mut Resolved, m: &Mount, dest: &str) -> Result<()> {
    let mut options = Vec::new();
    if let Some(t) = &m.tmpfs_options {
        if t.size_bytes > 0 {
            options.push(format!("size={}", t.size_bytes));
        }
        if t.mode != 0 {
            options.push(format!("mode={:o}", t.mode));
        }
        for o in &t.options {
            options.push(o.join("="));
        }
    }
    out.mounts.push(ResolvedMount {
        kind: MountKind::Tmpfs,
        destination: dest.to_string(),
        read_only: m.read_only,
        options,
        ..Default::default()
    });
    out.points.push(MountPoint {
        kind: "tmpfs".into(),
        destination: dest.to_string(),
        rw: !m.read_only,
        ..Default::default()
    });
    Ok(())
}

/// Fills each still-empty volume from the image content at its mount point in `rootfs` (the
/// mounted root file system). Paths are resolved inside the rootfs, so an image symlink cannot
/// make the copy read from the host.
pub fn copy_up(rootfs: &Path, list: &[CopyUp]) -> Result<()> {
    for c in list {
        let data = Path::new(&c.source);
        let empty = std::fs::read_dir(data)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty {
            continue;
        }
        let Some(src) = resolve_in_root(rootfs, &c.destination) else {
            continue;
        };
        if !src.is_dir() {
            continue;
        }
        copy_dir_contents(&src, data)?;
    }
    Ok(())
}

/// The host path of `path` inside `root`, following symlinks as the container would see them
/// (`openat2(RESOLVE_IN_ROOT)`), or `None` when it does not exist.
pub fn resolve_in_root(root: &Path, path: &str) -> Option<PathBuf> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let root_fd = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let fd = rustix::fs::openat2(
        &root_fd,
        rel,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
    .ok()?;
    std::fs::read_link(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ))
    .ok()
}

/// Copies the image directory's content, owners and modes into the volume (the volume root
/// takes the directory's owner and mode, as Docker's copy-up does).
fn copy_dir_contents(src: &Path, dst: &Path) -> Result<()> {
    Ok(berth_storage::snapshot::copy::copy_tree(src, dst)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, VolumeStore) {
        let d = tempfile::tempdir().unwrap();
        let s = VolumeStore::open(&d.path().join("volumes")).unwrap();
        (d, s)
    }

    fn none(_: &str) -> Result<ContainerRecord> {
        Err(EngineError::NotFound("No such container".into()))
    }

    #[test]
    fn named_anonymous_and_image_volumes() {
        let (_d, vols) = store();
        let host = HostConfig {
            binds: vec!["data:/data".into(), "/cache".into()],
            ..Default::default()
        };
        let r = resolve(&host, &["/var/lib/x".into(), "/data".into()], &vols, &none).unwrap();
        assert_eq!(r.mounts.len(), 3);
        assert_eq!(r.anonymous.len(), 2, "-v /cache and the image's /var/lib/x");
        assert_eq!(r.copy_up.len(), 3);
        assert!(vols.inspect("data").is_ok());
        assert_eq!(r.points[0].name, "data");
        assert_eq!(r.points[0].mode, "z");
        // Second container with the existing named volume: no copy-up.
        let host = HostConfig {
            binds: vec!["data:/data:ro".into()],
            ..Default::default()
        };
        let r = resolve(&host, &[], &vols, &none).unwrap();
        assert!(r.copy_up.is_empty());
        assert!(r.mounts[0].read_only);
    }

    #[test]
    fn duplicates_and_relative_paths_are_refused() {
        let (_d, vols) = store();
        let host = HostConfig {
            binds: vec!["aa:/data".into(), "bb:/data/".into()],
            ..Default::default()
        };
        let e = resolve(&host, &[], &vols, &none).unwrap_err().to_string();
        assert!(e.contains("Duplicate mount point: /data"), "{e}");
        let host = HostConfig {
            mounts: vec![Mount {
                kind: "bind".into(),
                source: "/nonexistent/berth-test".into(),
                target: "/x".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let e = resolve(&host, &[], &vols, &none).unwrap_err().to_string();
        assert!(e.contains("bind source path does not exist"), "{e}");
    }

    #[test]
    fn volumes_from_copies_mode() {
        let (_d, vols) = store();
        let source = ContainerRecord {
            mounts: vec![MountPoint {
                kind: "volume".into(),
                name: "v".into(),
                source: "/var/lib/berth/volumes/v/_data".into(),
                destination: "/usr/share/nginx/html".into(),
                rw: true,
                ..Default::default()
            }],
            ..Default::default()
        };
        let host = HostConfig {
            volumes_from: vec!["content:ro".into()],
            ..Default::default()
        };
        let r = resolve(&host, &[], &vols, &|name| {
            assert_eq!(name, "content");
            Ok(source.clone())
        })
        .unwrap();
        assert!(r.mounts[0].read_only);
        assert_eq!(r.points[0].destination, "/usr/share/nginx/html");
        assert!(r.anonymous.is_empty());
    }

    #[test]
    fn copy_up_stays_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("rootfs");
        std::fs::create_dir_all(root.join("srv/data")).unwrap();
        std::fs::write(root.join("srv/data/index.html"), "hi").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("escape")).unwrap();
        let vol = d.path().join("vol");
        let vol2 = d.path().join("vol2");
        std::fs::create_dir_all(&vol).unwrap();
        std::fs::create_dir_all(&vol2).unwrap();
        copy_up(
            &root,
            &[
                CopyUp {
                    source: vol.display().to_string(),
                    destination: "/srv/data".into(),
                },
                CopyUp {
                    source: vol2.display().to_string(),
                    destination: "/escape".into(),
                },
            ],
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(vol.join("index.html")).unwrap(),
            "hi"
        );
        assert!(
            std::fs::read_dir(&vol2).unwrap().next().is_none(),
            "host /etc not copied"
        );
    }
}
