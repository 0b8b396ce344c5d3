//! `docker create`: validating a request, preparing the writable layer and the record, and the
//! OCI spec each start builds from them.

use super::record::ContainerRecord;
use super::shim::LogSettings;
use super::{Containers, ImageFacts, Result};
use crate::EngineError;
use crate::spec::{self, Hardening, SpecInput};
use berth_api_types::container::ContainerCreateRequest;
use berth_common::Digest;
use std::path::{Path, PathBuf};

impl Containers {
    /// `docker create`: validates the request, resolves mounts (creating volumes), prepares the
    /// writable layer and writes the record. The OCI spec is built at each start (it depends
    /// on the mounted image content: users, groups), but a trial build here reports bad
    /// options at create time, as Docker does.
    pub fn create(
        &self,
        name: Option<&str>,
        mut request: ContainerCreateRequest,
        image: ImageFacts,
    ) -> Result<ContainerRecord> {
        let generated = name.filter(|n| !n.is_empty()).is_none();
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => validate_name(n)?,
            None => super::names::generate(|c| !self.store.name_free(c)),
        };
        if !self.store.name_free(&name) {
            // Same message as the insert race below.
            let holder = self.store.get(&name)?.id.clone();
            return Err(EngineError::Conflict(format!(
                "Conflict. The container name \"/{name}\" is already in use by container \"{holder}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        let host = &mut request.host_config;
        super::restart::validate(&host.restart_policy, host.auto_remove)
            .map_err(EngineError::InvalidArgument)?;
        log_settings(host)?;
        check_storage_opts(&host.storage_opt)?;
        check_host_resources(&host.resources)?;
        default_memory_swap(&mut host.resources);
        match host.runtime.as_deref() {
            None | Some("") => host.runtime = Some(crate::DEFAULT_RUNTIME.into()),
            Some(known) if crate::RUNTIME_NAMES.contains(&known) => {}
            Some(other) => {
                return Err(EngineError::InvalidArgument(format!(
                    "unknown or invalid runtime name: {other}"
                )));
            }
        }
        if host.network_mode.is_empty() || host.network_mode == "default" {
            host.network_mode = "bridge".into();
        }
        match super::netsetup::mode(&host.network_mode) {
            super::netsetup::Mode::Network(n) => {
                let net = self.net.store().find(&n).map_err(|_| unknown_network(&n))?;
                if net.driver == "host" {
                    host.network_mode = "host".into();
                } else if net.driver == "null" {
                    host.network_mode = "none".into();
                }
            }
            super::netsetup::Mode::Container(c) => {
                self.store.get(&c)?;
            }
            super::netsetup::Mode::Host | super::netsetup::Mode::None => {}
        }
        // The CLI files `--mac-address` and friends under the mode's name, `default` when the
        // user named no network: that is the network the mode resolved to.
        let endpoints = &mut request.networking_config.endpoints_config;
        if let Some(ep) = endpoints.remove("default") {
            endpoints.entry(host.network_mode.clone()).or_insert(ep);
        }
        for n in endpoints.keys() {
            self.net.store().find(n).map_err(|_| unknown_network(n))?;
        }
        if host.log_config.kind.is_empty() {
            host.log_config.kind = "json-file".into();
        }
        let merged = spec::merge_config(&image.config, &request.config);
        let stop_signal = spec::stop_signal(&image.config, &request.config)?;
        let command = spec::command_line(&merged);
        if command.is_empty() {
            return Err(EngineError::Spec(spec::SpecError::NoCommand));
        }
        let id = berth_common::id::random_id();
        let image_volumes: Vec<String> = merged.volumes.keys().cloned().collect();
        let resolved =
            super::mounts::resolve(&request.host_config, &image_volumes, &self.volumes, &|n| {
                self.store.get(n).map(|e| e.snapshot())
            })?;
        let now = berth_shim_proto::timefmt::now();
        let mut config = merged;
        config.image = request.config.image.clone();
        let mut record = ContainerRecord {
            id: id.clone(),
            name,
            created: now,
            image_id: image.id.to_string(),
            stop_signal,
            stop_timeout: spec::stop_timeout(&request.config),
            path: command[0].clone(),
            args: command[1..].to_vec(),
            config,
            host_config: request.host_config,
            mounts: resolved.points,
            anonymous_volumes: resolved.anonymous,
            copy_up: resolved.copy_up,
            spec_mounts: resolved.mounts,
            endpoints: request.networking_config.endpoints_config.clone(),
            rootfs_parent: image.top_layer.map(|d| d.to_string()),
            ..Default::default()
        };
        let made = (|| {
            // Trial build with the user cleared: the image's passwd is not at hand yet.
            let mut trial = record.clone();
            trial.config.user = String::new();
            // A `container:` network is joined by path at start; any path stands in here.
            let joined = matches!(
                super::netsetup::mode(&trial.host_config.network_mode),
                super::netsetup::Mode::Container(_)
            )
            .then(|| PathBuf::from("/proc/self/ns/net"));
            self.spec_for(&trial, Path::new("/"), None, None, joined)?;
            self.snapshotter
                .prepare(&id, self.parent_of(&record)?.as_ref())?;
            // A generated name another create took meanwhile (both saw it free): another one.
            // A name the client chose stays a conflict, as with Docker.
            let mut attempt = self.store.insert(record.clone());
            while generated && matches!(attempt, Err(EngineError::Conflict(_))) {
                record.name = super::names::generate(|c| !self.store.name_free(c));
                attempt = self.store.insert(record.clone());
            }
            attempt
        })();
        if let Err(e) = made {
            let _ = self.snapshotter.remove_writable(&id);
            for v in &record.anonymous_volumes {
                let _ = self.volumes.remove(v, true, &|_| false);
            }
            return Err(e);
        }
        self.event("create", &record, &[]);
        Ok(record)
    }

    pub(super) fn parent_of(&self, rec: &ContainerRecord) -> Result<Option<Digest>> {
        rec.rootfs_parent
            .as_deref()
            .map(|d| {
                d.parse::<Digest>()
                    .map_err(|e| EngineError::InvalidArgument(format!("record of {}: {e}", rec.id)))
            })
            .transpose()
    }

    /// The container's cgroup, relative to each hierarchy (`berth/<id>`, or under its
    /// `--cgroup-parent`).
    pub(super) fn cgroup_path(&self, rec: &ContainerRecord) -> String {
        let parent = if rec.host_config.resources.cgroup_parent.is_empty() {
            self.settings.cgroup_parent.clone()
        } else {
            rec.host_config
                .resources
                .cgroup_parent
                .trim_matches('/')
                .to_string()
        };
        format!("{parent}/{}", rec.id)
    }

    /// The OCI spec of a container: Docker's defaults, the container's config and the
    /// default hardening.
    pub(super) fn spec_for(
        &self,
        rec: &ContainerRecord,
        rootfs: &Path,
        passwd: Option<String>,
        group: Option<String>,
        netns: Option<PathBuf>,
    ) -> Result<oci_spec::runtime::Spec> {
        let (id, config, host) = (&rec.id, &rec.config, &rec.host_config);
        let defaults = default_capabilities();
        // "Everything" means everything this daemon holds (as Docker's): a host that lacks a
        // capability in its bounding set cannot hand it to a container.
        let host_caps: Vec<String> = match host_bounding_set() {
            Some(bounding) => spec::all_capabilities()
                .iter()
                .filter(|c| cap_number(c).is_some_and(|n| bounding & (1u64 << n) != 0))
                .map(|c| c.to_string())
                .collect(),
            None => Vec::new(),
        };
        let mut caps =
            spec::capabilities(&defaults, &host.cap_add, &host.cap_drop, host.privileged)?;
        let wants_all =
            host.privileged || host.cap_add.iter().any(|c| c.eq_ignore_ascii_case("ALL"));
        if wants_all && !host_caps.is_empty() {
            caps.retain(|c| host_caps.contains(c));
        }
        let extra: Vec<&str> = caps
            .iter()
            .filter(|c| !defaults.contains(c))
            .map(String::as_str)
            .collect();
        let dir = self.store.dir_of(id);
        let input = SpecInput {
            id: id.to_string(),
            image: Default::default(),
            request: ContainerCreateRequest {
                config: config.clone(),
                host_config: host.clone(),
                ..Default::default()
            },
            rootfs: rootfs.to_path_buf(),
            mounts: rec.spec_mounts.clone(),
            etc_files: spec::EtcFiles {
                hosts: dir.join("hosts"),
                hostname: dir.join("hostname"),
                resolv_conf: dir.join("resolv.conf"),
            },
            passwd,
            group,
            cgroups_path: Some(PathBuf::from(format!("/{}", self.cgroup_path(rec)))),
            cgroup_v2: self.settings.cgroup_v2,
            network_namespace: netns,
            host_hostname: rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .into_owned(),
            hardening: Hardening {
                default_capabilities: defaults.clone(),
                seccomp: Some(berth_profile::seccomp::default_profile(&extra)),
                masked_paths: berth_profile::MASKED_PATHS
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                readonly_paths: berth_profile::READONLY_PATHS
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                host_capabilities: host_caps,
            },
            devices: super::devices::gather(&host.resources.devices)?,
        };
        Ok(spec::build(&input)?)
    }
}

/// The capability bounding set of this process (`CapBnd` of /proc/self/status).
pub(super) fn host_bounding_set() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapBnd:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// The kernel's number of a capability (`CAP_CHOWN` = 0…).
pub(super) fn cap_number(name: &str) -> Option<u32> {
    berth_profile::caps::bit(name)
}

/// Docker's default capability names (`CAP_CHOWN`…).
pub fn default_capabilities() -> Vec<String> {
    berth_profile::DEFAULT_CAPS
        .iter()
        .filter_map(|c| serde_json::to_value(c).ok())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// Checks a user-given name (Docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]+`), without its `/`.
pub fn validate_name(raw: &str) -> Result<String> {
    let name = raw.strip_prefix('/').unwrap_or(raw);
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        return Err(EngineError::InvalidArgument(format!(
            "Invalid container name ({raw}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    Ok(name.to_string())
}

/// What `docker create` warns about but does (Docker's wording).
pub fn create_warnings(request: &ContainerCreateRequest) -> Vec<String> {
    let host = &request.host_config;
    let mut warnings = Vec::new();
    if host.network_mode == "host" && !host.port_bindings.is_empty() {
        warnings.push("Published ports are discarded when using host network mode".to_string());
    }
    warnings
}

/// The host's CPUs and memory nodes as the kernel lists them (`0-1`), for Docker's checks of
/// `--cpus`, `--cpuset-cpus` and `--cpuset-mems`.
pub(super) fn host_list(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The numbers of a kernel list (`0-2,4`); `None` when malformed.
pub(super) fn parse_cpu_list(list: &str) -> Option<std::collections::BTreeSet<u32>> {
    let mut out = std::collections::BTreeSet::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if a > b || b - a > 65_536 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => {
                out.insert(part.trim().parse().ok()?);
            }
        }
    }
    Some(out)
}

/// A create naming a network that does not exist. A 400, where Docker sends a 404: clients
/// read a 404 on create as "no such image" and go pulling (docker run, docker-py), which hides
/// the real mistake behind a pull error.
pub(super) fn unknown_network(name: &str) -> EngineError {
    EngineError::InvalidArgument(format!("network {name} not found"))
}

/// Docker records a memory limit without a swap limit as memory plus as much swap
/// (`MemorySwap` = 2 × `Memory`), which is what the kernel is then given and inspect shows.
pub fn default_memory_swap(r: &mut berth_api_types::container::Resources) {
    if r.memory > 0 && r.memory_swap == 0 {
        r.memory_swap = r.memory.saturating_mul(2);
    }
}

/// Docker's host checks of CPU limits, with its messages: `--cpus` at most the host's CPUs,
/// `--cpuset-cpus`/`--cpuset-mems` within what the host has online.
pub fn check_host_resources(r: &berth_api_types::container::Resources) -> Result<()> {
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
    if r.nano_cpus > ncpu * 1_000_000_000 {
        return Err(EngineError::InvalidArgument(format!(
            "range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )));
    }
    for (asked, path, what) in [
        (&r.cpuset_cpus, "/sys/devices/system/cpu/online", "CPUs"),
        (
            &r.cpuset_mems,
            "/sys/devices/system/node/online",
            "memory nodes",
        ),
    ] {
        if asked.is_empty() {
            continue;
        }
        let Some(available) = host_list(path) else {
            continue;
        };
        let (Some(want), Some(have)) = (parse_cpu_list(asked), parse_cpu_list(&available)) else {
            continue; // a malformed list is the spec builder's to report
        };
        if !want.is_subset(&have) {
            return Err(EngineError::InvalidArgument(format!(
                "Requested {what} are not available - requested {asked}, available: {available}"
            )));
        }
    }
    Ok(())
}

/// `--storage-opt`: Docker's overlay2 knows only `size`, and enforces it only on xfs with
/// project quotas. Berth cannot enforce a size yet, so it refuses the option rather than
/// accept a limit that would not hold.
pub(super) fn check_storage_opts(opts: &std::collections::BTreeMap<String, String>) -> Result<()> {
    if let Some(key) = opts.keys().find(|k| !k.eq_ignore_ascii_case("size")) {
        return Err(EngineError::InvalidArgument(format!(
            "Unknown option {key}"
        )));
    }
    if !opts.is_empty() {
        return Err(EngineError::InvalidArgument(
            "--storage-opt is supported only for overlay over xfs with 'pquota' mount option \
             (Berth cannot enforce a writable layer size on this daemon)"
                .into(),
        ));
    }
    Ok(())
}

/// `--log-driver` and `--log-opt`, checked. Berth bounds logs by default (10 MB × 3).
pub fn log_settings(host: &berth_api_types::container::HostConfig) -> Result<LogSettings> {
    let driver = match host.log_config.kind.as_str() {
        "" | "json-file" => "json-file",
        "none" => "none",
        other => {
            return Err(EngineError::InvalidArgument(format!(
                "error looking up logging plugin {other}: plugin \"{other}\" not found (Berth has the json-file and none drivers)"
            )));
        }
    };
    let mut s = LogSettings {
        driver: driver.into(),
        max_size: 10 * 1024 * 1024,
        max_files: 3,
    };
    for (k, v) in &host.log_config.config {
        match k.as_str() {
            "max-size" => {
                s.max_size = if v == "-1" {
                    0
                } else {
                    berth_api_types::shorthand::parse_ram_bytes(v)
                        .ok()
                        .and_then(|n| u64::try_from(n).ok())
                        .ok_or_else(|| {
                            EngineError::InvalidArgument(format!("invalid max-size: {v:?}"))
                        })?
                }
            }
            "max-file" => {
                s.max_files = v.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    EngineError::InvalidArgument(format!(
                        "invalid value for max-file: {v:?}: must be a number >= 1"
                    ))
                })?
            }
            "compress" | "labels" | "env" | "tag" | "labels-regex" | "env-regex" => {}
            other => {
                return Err(EngineError::InvalidArgument(format!(
                    "unknown log opt '{other}' for {driver} log driver"
                )));
            }
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec;
    #[test]
    fn kernel_cpu_lists_parse() {
        let set = |s: &str| parse_cpu_list(s).map(|v| v.into_iter().collect::<Vec<_>>());
        assert_eq!(set("0-2,4"), Some(vec![0, 1, 2, 4]));
        assert_eq!(set("1"), Some(vec![1]));
        assert_eq!(set("2-1"), None);
        assert_eq!(set("a"), None);
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(validate_name("/web-1").unwrap(), "web-1");
        assert!(validate_name("a").is_err());
        assert!(validate_name("-x").is_err());
        assert!(validate_name("we b").is_err());
    }

    #[test]
    fn log_options() {
        let mut host = berth_api_types::container::HostConfig::default();
        assert_eq!(log_settings(&host).unwrap().max_size, 10 * 1024 * 1024);
        host.log_config
            .config
            .insert("max-size".into(), "1k".into());
        host.log_config.config.insert("max-file".into(), "5".into());
        let s = log_settings(&host).unwrap();
        assert_eq!((s.max_size, s.max_files), (1024, 5));
        host.log_config.config.insert("max-file".into(), "0".into());
        assert!(log_settings(&host).is_err());
        host.log_config.kind = "syslog".into();
        assert!(
            log_settings(&host)
                .unwrap_err()
                .to_string()
                .contains("syslog")
        );
    }

    #[test]
    fn capability_numbers_follow_the_kernel() {
        assert_eq!(cap_number("CAP_CHOWN"), Some(0));
        assert_eq!(cap_number("CAP_SYS_RESOURCE"), Some(24));
        assert_eq!(cap_number("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(cap_number("CAP_NOPE"), None);
        for c in spec::all_capabilities() {
            assert!(cap_number(c).is_some(), "{c}");
        }
        assert!(host_bounding_set().is_some());
    }

    #[test]
    fn default_caps_are_docker_names() {
        let caps = default_capabilities();
        assert_eq!(caps.len(), 14);
        assert!(caps.contains(&"CAP_CHOWN".to_string()));
    }
}
