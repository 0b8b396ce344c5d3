//! Volumes as objects (local driver only): create, list, inspect, remove, prune.
//!
//! Layout follows Docker's so operators find data where they expect it: one directory per
//! volume under `<root>/volumes/<name>/`, holding `volume.json` (the record, written atomically
//! so a crash never leaves a half-written record) and `_data` (the data itself). The store
//! knows nothing of containers: its in-use checks take a callback, which the facade
//! ([`facade`]) answers from the containers' mounts.

pub mod facade;

use crate::EngineError;
use berth_api_types::Filters;
use berth_api_types::shorthand::volume::validate_volume_name;
use berth_api_types::volume::{Volume, VolumeCreateOptions, VolumePruneResponse};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Label Docker puts on volumes created without a name; prune removes only those by default.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

const LIST_FILTERS: &[&str] = &["name", "label", "dangling", "driver"];
const PRUNE_FILTERS: &[&str] = &["label", "all"];

type Result<T> = std::result::Result<T, EngineError>;

/// The volume store: records and data dirs under one directory.
pub struct VolumeStore {
    dir: PathBuf,
    /// Serialises create/remove so two concurrent creates of one name cannot race.
    lock: Mutex<()>,
}

impl VolumeStore {
    /// Opens (creating if needed) the store at `dir`.
    pub fn open(dir: &Path) -> Result<VolumeStore> {
        std::fs::create_dir_all(dir).map_err(|e| EngineError::io(dir, e))?;
        Ok(VolumeStore {
            dir: dir.to_path_buf(),
            lock: Mutex::new(()),
        })
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record_path(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("volume.json")
    }

    /// Creates a volume, or returns the existing one of that name unchanged (as Docker does).
    pub fn create(&self, opts: &VolumeCreateOptions) -> Result<Volume> {
        if !opts.driver.is_empty() && opts.driver != "local" {
            return Err(EngineError::InvalidArgument(format!(
                "volume driver \"{}\" not found",
                opts.driver
            )));
        }
        let mut labels = opts.labels.clone();
        let name = if opts.name.is_empty() {
            labels.insert(ANONYMOUS_LABEL.to_string(), String::new());
            berth_common::id::random_id()
        } else {
            validate_volume_name(&opts.name)?;
            opts.name.clone()
        };
        validate_local_options(&name, &opts.driver_opts)?;
        let _g = self.guard();
        if let Some(existing) = self.read(&name)? {
            return Ok(existing);
        }
        let vol_dir = self.dir.join(&name);
        // A directory without a record is what a crash mid-create or mid-remove leaves: it is
        // no volume, and its stale data must not leak into the new one.
        if vol_dir.exists() {
            std::fs::remove_dir_all(&vol_dir).map_err(|e| EngineError::io(&vol_dir, e))?;
        }
        let data = vol_dir.join("_data");
        std::fs::create_dir_all(&data).map_err(|e| EngineError::io(&data, e))?;
        let created_at = berth_common::time::now_rfc3339();
        let volume = Volume {
            name: name.clone(),
            driver: "local".into(),
            mountpoint: data.to_string_lossy().into_owned(),
            created_at,
            labels,
            scope: "local".into(),
            options: opts.driver_opts.clone(),
            ..Default::default()
        };
        berth_storage::atomic::write_json(&self.record_path(&name), &volume)?;
        Ok(volume)
    }

    fn read(&self, name: &str) -> Result<Option<Volume>> {
        // Names that could escape the store dir are never valid volume names.
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Ok(None);
        }
        Ok(berth_storage::atomic::read_json(&self.record_path(name))?)
    }

    /// The volume called `name`.
    pub fn inspect(&self, name: &str) -> Result<Volume> {
        self.read(name)?
            .ok_or_else(|| EngineError::NoSuchVolume(name.to_string()))
    }

    fn all(&self) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&self.dir).map_err(|e| EngineError::io(&self.dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| EngineError::io(&self.dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            match self.read(&name) {
                Ok(Some(v)) => out.push(v),
                Ok(None) => {}
                Err(e) => tracing::warn!(volume = %name, error = %e, "skipping unreadable volume"),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Volumes matching `filters` (`name` substring, `label`, `dangling`, `driver`).
    pub fn list(&self, filters: &Filters) -> Result<Vec<Volume>> {
        filters.check_names(LIST_FILTERS)?;
        let dangling = match filters.get("dangling") {
            [] => None,
            vs => Some(parse_bool("dangling", &vs[0])?),
        };
        Ok(self
            .all()?
            .into_iter()
            .filter(|v| {
                let names = filters.get("name");
                names.is_empty() || names.iter().any(|n| v.name.contains(n.as_str()))
            })
            .filter(|v| {
                let drivers = filters.get("driver");
                drivers.is_empty() || drivers.contains(&v.driver)
            })
            .filter(|v| filters.labels_match("label", &v.labels))
            // Nothing uses volumes yet: every volume is dangling.
            .filter(|_| dangling != Some(false))
            .collect())
    }

    /// Removes a volume and its data; `in_use` says whether a container references it.
    /// `force` is accepted for Docker compatibility: for the local driver it only matters for
    /// volumes whose record vanished, which this store cannot have.
    pub fn remove(&self, name: &str, force: bool, in_use: &dyn Fn(&str) -> bool) -> Result<()> {
        let _g = self.guard();
        if self.read(name)?.is_none() {
            if force {
                return Ok(());
            }
            return Err(EngineError::NoSuchVolume(name.to_string()));
        }
        if in_use(name) {
            return Err(EngineError::Conflict(format!(
                "remove {name}: volume is in use"
            )));
        }
        self.remove_dir(name)
    }

    /// Mounts a volume created with `-o type=… device=… o=…` on its data dir (once; it stays
    /// mounted until the volume is removed), as the local driver does at first use. Volumes
    /// without options are plain directories and need nothing.
    pub fn mount(&self, name: &str) -> Result<()> {
        let _g = self.guard();
        let Some(vol) = self.read(name)? else {
            return Err(EngineError::NoSuchVolume(name.to_string()));
        };
        let Some(ty) = vol.options.get("type").filter(|t| !t.is_empty()) else {
            return Ok(());
        };
        let data = PathBuf::from(&vol.mountpoint);
        if berth_storage::snapshot::is_mount_point(&data) {
            return Ok(());
        }
        let device = vol.options.get("device").cloned().unwrap_or_default();
        let o = vol.options.get("o").cloned().unwrap_or_default();
        let mut flags = rustix::mount::MountFlags::empty();
        let mut data_opts = Vec::new();
        for opt in o.split(',').filter(|x| !x.is_empty()) {
            match opt {
                "bind" => flags |= rustix::mount::MountFlags::BIND,
                "rbind" => {
                    flags |= rustix::mount::MountFlags::BIND | rustix::mount::MountFlags::REC
                }
                "ro" => flags |= rustix::mount::MountFlags::RDONLY,
                "nosuid" => flags |= rustix::mount::MountFlags::NOSUID,
                "nodev" => flags |= rustix::mount::MountFlags::NODEV,
                "noexec" => flags |= rustix::mount::MountFlags::NOEXEC,
                other => data_opts.push(other.to_string()),
            }
        }
        let fstype = if flags.contains(rustix::mount::MountFlags::BIND) {
            String::new()
        } else {
            ty.clone()
        };
        let joined = std::ffi::CString::new(data_opts.join(",")).map_err(|_| {
            EngineError::InvalidArgument(format!("volume {}: bad mount options", vol.name))
        })?;
        rustix::mount::mount(
            device.as_str(),
            &data,
            fstype.as_str(),
            flags,
            Some(joined.as_c_str()),
        )
        .map_err(|e| {
            EngineError::InvalidArgument(format!(
                "error while mounting volume '{}': failed to mount local volume: mount {device}:{}, flags: {o:?}: {e}",
                vol.name,
                data.display()
            ))
        })
    }

    fn remove_dir(&self, name: &str) -> Result<()> {
        let dir = self.dir.join(name);
        let data = dir.join("_data");
        if berth_storage::snapshot::is_mount_point(&data) {
            rustix::mount::unmount(&data, rustix::mount::UnmountFlags::DETACH)
                .map_err(|e| EngineError::io(&data, e.into()))?;
        }
        // Drop the record first so a crash mid-removal leaves no half-present volume.
        let record = self.record_path(name);
        std::fs::remove_file(&record).map_err(|e| EngineError::io(&record, e))?;
        std::fs::remove_dir_all(&dir).map_err(|e| EngineError::io(&dir, e))
    }

    /// Removes unused volumes: only anonymous ones unless filter `all=true` (Docker ≥ 23).
    pub fn prune(
        &self,
        filters: &Filters,
        in_use: &dyn Fn(&str) -> bool,
    ) -> Result<VolumePruneResponse> {
        filters.check_names(PRUNE_FILTERS)?;
        let all = match filters.get("all") {
            [] => false,
            vs => parse_bool("all", &vs[0])?,
        };
        let _g = self.guard();
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        for v in self.all()? {
            if !all && !v.labels.contains_key(ANONYMOUS_LABEL) {
                continue;
            }
            if !filters.labels_match("label", &v.labels) || in_use(&v.name) {
                continue;
            }
            let size = disk_usage(Path::new(&v.mountpoint));
            self.remove_dir(&v.name)?;
            reclaimed += size;
            deleted.push(v.name);
        }
        Ok(VolumePruneResponse {
            volumes_deleted: (!deleted.is_empty()).then_some(deleted),
            space_reclaimed: reclaimed,
        })
    }
}

/// A boolean filter value, as Docker parses it (Go's `strconv.ParseBool`).
fn parse_bool(key: &str, v: &str) -> Result<bool> {
    berth_api_types::go::parse_bool(v)
        .ok_or_else(|| EngineError::InvalidArgument(format!("invalid filter '{key}={v}'")))
}

/// Checks `-o` options of the local driver now, so a volume that could never mount is refused
/// at create time rather than when a container first uses it.
fn validate_local_options(name: &str, opts: &BTreeMap<String, String>) -> Result<()> {
    for k in opts.keys() {
        if !matches!(k.as_str(), "type" | "device" | "o" | "size") {
            return Err(EngineError::InvalidArgument(format!(
                "create {name}: invalid option key: {k:?}"
            )));
        }
    }
    let ty = opts.get("type").map(String::as_str).unwrap_or("");
    let device = opts.get("device").map(String::as_str).unwrap_or("");
    let o = opts.get("o").map(String::as_str).unwrap_or("");
    if (ty.is_empty()) != (device.is_empty()) {
        return Err(EngineError::InvalidArgument(format!(
            "create {name}: missing required option: \"{}\"",
            if ty.is_empty() { "type" } else { "device" }
        )));
    }
    let is_bind = o.split(',').any(|x| x == "bind" || x == "rbind");
    if is_bind && !Path::new(device).exists() {
        return Err(EngineError::InvalidArgument(format!(
            "create {name}: failed to mount local volume: mount {device}: no such file or directory"
        )));
    }
    Ok(())
}

/// Bytes used by the files under `dir` (0 when it cannot be read: prune and `system df`
/// report best effort).
pub(crate) fn disk_usage(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => disk_usage(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_common::ErrorKind;
    use berth_common::error::HasKind;

    fn store() -> (tempfile::TempDir, VolumeStore) {
        let t = tempfile::tempdir().unwrap();
        let s = VolumeStore::open(&t.path().join("volumes")).unwrap();
        (t, s)
    }

    fn named(name: &str) -> VolumeCreateOptions {
        VolumeCreateOptions {
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn create_named_and_anonymous() {
        let (t, s) = store();
        let v = s.create(&named("data")).unwrap();
        assert_eq!(v.driver, "local");
        assert_eq!(v.scope, "local");
        assert_eq!(
            Path::new(&v.mountpoint),
            t.path().join("volumes/data/_data")
        );
        assert!(Path::new(&v.mountpoint).is_dir());
        assert!(!v.labels.contains_key(ANONYMOUS_LABEL));
        // Leftovers of a crashed remove are not reused.
        std::fs::create_dir_all(t.path().join("volumes/old/_data")).unwrap();
        std::fs::write(t.path().join("volumes/old/_data/f"), b"x").unwrap();
        let old = s.create(&named("old")).unwrap();
        assert!(!Path::new(&old.mountpoint).join("f").exists());
        let again = s.create(&named("data")).unwrap();
        assert_eq!(again, v);
        let a = s.create(&VolumeCreateOptions::default()).unwrap();
        assert_eq!(a.name.len(), 64);
        assert_eq!(a.labels[ANONYMOUS_LABEL], "");
        assert_eq!(s.inspect("data").unwrap(), v);
    }

    #[test]
    fn create_errors() {
        let (_t, s) = store();
        let e = s
            .create(&VolumeCreateOptions {
                driver: "x".into(),
                ..named("a1")
            })
            .unwrap_err();
        assert_eq!(e.to_string(), "volume driver \"x\" not found");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        let e = s.create(&named("bad/name")).unwrap_err();
        assert!(e.to_string().contains("invalid characters"));
        let mut o = named("b1");
        o.driver_opts.insert("type".into(), "none".into());
        o.driver_opts.insert("o".into(), "bind".into());
        o.driver_opts
            .insert("device".into(), "/nonexistent/berth".into());
        assert!(s.create(&o).is_err());
        o.driver_opts.insert("device".into(), "/".into());
        assert_eq!(s.create(&o).unwrap().options["o"], "bind");
    }

    #[test]
    fn list_filters() {
        let (_t, s) = store();
        let mut o = named("alpha");
        o.labels.insert("env".into(), "prod".into());
        s.create(&o).unwrap();
        s.create(&named("beta")).unwrap();
        let names = |f: &Filters| -> Vec<String> {
            s.list(f).unwrap().into_iter().map(|v| v.name).collect()
        };
        assert_eq!(names(&Filters::default()), ["alpha", "beta"]);
        let f = Filters::from_cli(&["name=alp".into()]).unwrap();
        assert_eq!(names(&f), ["alpha"]);
        let f = Filters::from_cli(&["label=env=prod".into()]).unwrap();
        assert_eq!(names(&f), ["alpha"]);
        let f = Filters::from_cli(&["dangling=false".into()]).unwrap();
        assert!(names(&f).is_empty());
        let f = Filters::from_cli(&["driver=local".into()]).unwrap();
        assert_eq!(names(&f).len(), 2);
        let f = Filters::from_cli(&["bogus=1".into()]).unwrap();
        assert!(s.list(&f).is_err());
    }

    #[test]
    fn remove_and_in_use() {
        let (_t, s) = store();
        let e = s.remove("nope", false, &|_| false).unwrap_err();
        assert_eq!(e.to_string(), "get nope: no such volume");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let v = s.create(&named("data")).unwrap();
        let e = s.remove("data", false, &|_| true).unwrap_err();
        assert_eq!(e.to_string(), "remove data: volume is in use");
        assert_eq!(e.kind(), ErrorKind::Conflict);
        s.remove("data", false, &|_| false).unwrap();
        assert!(!Path::new(&v.mountpoint).exists());
        assert!(s.inspect("data").is_err());
    }

    #[test]
    fn prune_anonymous_unless_all() {
        let (_t, s) = store();
        s.create(&named("keep")).unwrap();
        let a = s.create(&VolumeCreateOptions::default()).unwrap();
        std::fs::write(Path::new(&a.mountpoint).join("f"), b"12345").unwrap();
        let r = s.prune(&Filters::default(), &|_| false).unwrap();
        assert_eq!(r.volumes_deleted, Some(vec![a.name.clone()]));
        assert_eq!(r.space_reclaimed, 5);
        let r = s.prune(&Filters::default(), &|_| false).unwrap();
        assert_eq!(r.volumes_deleted, None);
        let f = Filters::from_cli(&["all=true".into()]).unwrap();
        let r = s.prune(&f, &|_| false).unwrap();
        assert_eq!(r.volumes_deleted, Some(vec!["keep".into()]));
    }
}
