//! Containers: records, their life cycle through shims, restart policies, and the re-attach
//! of running containers when the daemon starts.
//!
//! [`Containers`] owns everything a container's life needs without the image store (the record
//! keeps the merged config and the parent snapshot), so the threads that supervise running
//! containers — one *monitor* per run, blocked on the shim's `Wait` — can hold an `Arc` of it
//! and act on exits alone: record the exit, unmount the root file system, publish `die`, then
//! apply `--rm` or the restart policy.
//!
//! Modules, one job each: [`record`] (the persisted record), [`store`] (the table, lookups,
//! names, waiting), [`mounts`] (volumes and binds), [`etc`] (hosts/hostname/resolv.conf),
//! [`shim`] (launching shims), [`restart`] (policy decisions), [`names`] (generated names),
//! [`exec`] (exec instances), [`query`] (list, inspect, filters).

pub mod archive;
pub mod changes;
pub mod control;
pub mod devices;
pub mod etc;
pub mod exec;
pub mod health;
pub mod links;
pub mod mounts;
pub mod names;
pub mod netsetup;
pub mod ports;
pub mod proxy6;
pub mod query;
pub mod record;
pub mod restart;
pub mod scrub;
pub mod shim;
pub mod store;

use crate::EngineError;
use crate::events::EventBus;
use crate::spec::{self, Hardening, SpecInput};
use crate::supervisor::Supervisor;
use crate::volumes::VolumeStore;
use berth_api_types::container::ContainerCreateRequest;
use berth_api_types::events::EventType;
use berth_common::Digest;
use berth_shim_proto::launch::SealedExe;
use berth_shim_proto::{ExitInfo, ShimClient};
use berth_storage::snapshot::Snapshotter;
use record::{ContainerRecord, Status};
use shim::{LogSettings, ShimLauncher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use store::{ContainerStore, Entry};

type Result<T> = std::result::Result<T, EngineError>;

/// How long a stop waits for the exit after SIGKILL before giving up.
const KILL_WAIT: Duration = Duration::from_secs(30);

/// Settings fixed when the daemon starts.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The `berth` executable the shims run.
    pub shim_exe: PathBuf,
    /// Default cgroup parent (`berth`): containers go to `/<parent>/<id>`.
    pub cgroup_parent: String,
    /// Whether the host's cgroups are v2 only (then containers get a cgroup namespace).
    pub cgroup_v2: bool,
    /// The host's resolv.conf, copied (filtered) into containers.
    pub host_resolv_conf: PathBuf,
    /// The daemon's nftables table (one per daemon, so tests and daemons never share rules);
    /// with iptables, the prefix of its chains.
    pub nft_table: String,
    /// The tool that carries the rules: nftables, or iptables where `nft` is absent.
    pub firewall: berth_net::firewall::Firewall,
}

impl Settings {
    /// Defaults for a root dir: the running executable as shim, parent `berth`, cgroup mode
    /// detected from `/sys/fs/cgroup`.
    pub fn detect() -> Settings {
        Settings {
            shim_exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("berth")),
            cgroup_parent: "berth".into(),
            cgroup_v2: Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
            host_resolv_conf: PathBuf::from("/etc/resolv.conf"),
            nft_table: "berth".into(),
            firewall: berth_net::firewall::Firewall::detect(),
        }
    }
}

/// All containers and what their life cycle needs.
pub struct Containers {
    store: ContainerStore,
    shims: ShimLauncher,
    snapshotter: Arc<dyn Snapshotter>,
    volumes: Arc<VolumeStore>,
    events: Arc<EventBus>,
    settings: Settings,
    execs: exec::ExecTable,
    net: netsetup::NetSetup,
    ports: ports::PortPublisher,
    pending: control::PendingAttaches,
    /// Recently removed containers (id, name, last result, when): a `docker wait` that arrives
    /// just after an `--rm` container went still gets its exit code.
    tombstones: Mutex<std::collections::VecDeque<(String, String, WaitResult, Instant)>>,
    /// Ports published by the start in progress, handed from `launch` to the record.
    published: Mutex<std::collections::HashMap<String, Vec<ports::Published>>>,
    /// Back-off of each container's restart loop, by id.
    backoff: Mutex<std::collections::HashMap<String, Duration>>,
    /// The one loop that waits for exits, reaps shims and runs timers (restarts, health).
    supervisor: Arc<Supervisor>,
    /// The containers that existed when the store was opened: the only ones [`restore`]
    /// touches, so a container a client creates while it runs is never mistaken for debris.
    ///
    /// [`restore`]: Containers::restore
    restore_ids: Mutex<Option<Vec<String>>>,
    /// Space set aside so removals work on a full disk.
    reserve: Arc<berth_storage::reserve::SpaceReserve>,
    /// Containers whose log failure the daemon's log has told already.
    log_errors_reported: Mutex<std::collections::HashSet<String>>,
}

/// What `docker wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    /// The container is not running (returns at once if it is not).
    NotRunning,
    /// The next exit from now.
    NextExit,
    /// The container has been removed.
    Removed,
}

impl std::str::FromStr for WaitCondition {
    type Err = EngineError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            other => Err(EngineError::InvalidArgument(format!(
                "invalid condition: \"{other}\""
            ))),
        }
    }
}

/// A finished wait: the exit code and, when the last start failed, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitResult {
    /// Exit code.
    pub status_code: i64,
    /// Start error, if any.
    pub error: Option<String>,
}

/// What the image contributes to a new container.
#[derive(Debug, Clone)]
pub struct ImageFacts {
    /// The image id.
    pub id: Digest,
    /// Its run-time defaults.
    pub config: berth_api_types::image::ImageConfig,
    /// The chain id of its top layer (the parent of the writable layer); `None` for an image
    /// without layers.
    pub top_layer: Option<Digest>,
}

/// The engine's other stores that containers use.
pub struct Shared {
    /// Root file systems.
    pub snapshotter: Arc<dyn Snapshotter>,
    /// Volumes.
    pub volumes: Arc<VolumeStore>,
    /// Where container events go.
    pub events: Arc<EventBus>,
    /// Networks and their leases.
    pub networks: Arc<crate::networks::NetworkStore>,
    /// The networks' name servers.
    pub dns: Arc<crate::networks::dns::NetworkDns>,
    /// Space set aside for removals on a full disk.
    pub reserve: Arc<berth_storage::reserve::SpaceReserve>,
}

impl Containers {
    /// Opens the container store under `root` (`containers/`, `shims/`, `runtime/`).
    pub fn open(root: &Path, shared: Shared, settings: Settings) -> Result<Arc<Containers>> {
        let Shared {
            snapshotter,
            volumes,
            events,
            networks,
            dns,
            reserve,
        } = shared;
        let store = ContainerStore::open(&root.join("containers"))?;
        let restore_ids = store.all().iter().map(|e| e.id.clone()).collect();
        let ports = ports::PortPublisher::new(&settings.nft_table, settings.firewall);
        let supervisor = Arc::new(
            Supervisor::start().map_err(|e| EngineError::io("starting the supervisor", e))?,
        );
        let containers = Arc::new(Containers {
            store,
            shims: ShimLauncher {
                supervisor: supervisor.clone(),
                exe: settings.shim_exe.clone(),
                sealed: match SealedExe::new(&settings.shim_exe) {
                    Ok(sealed) => {
                        tracing::debug!(sealing = ?sealed.sealing(), "shims start from a sealed binary");
                        Some(Arc::new(sealed))
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, exe = %settings.shim_exe.display(), "cannot seal the shim binary; shims run from it directly");
                        None
                    }
                },
                shims_dir: root.join("shims"),
                runtime_root: root.join("runtime"),
            },
            snapshotter,
            volumes,
            events,
            settings,
            execs: exec::ExecTable::default(),
            ports,
            net: netsetup::NetSetup::new(networks, dns, root.join("netns")),
            pending: control::PendingAttaches::default(),
            tombstones: Mutex::new(Default::default()),
            published: Mutex::new(Default::default()),
            backoff: Mutex::new(Default::default()),
            supervisor,
            restore_ids: Mutex::new(Some(restore_ids)),
            reserve,
            log_errors_reported: Mutex::new(Default::default()),
        });
        containers.sweep_orphans();
        if let Some(w) = containers.firewall_warning() {
            tracing::warn!("{w}");
        }
        Ok(containers)
    }

    /// Why published ports and network isolation cannot work on this host (the daemon's
    /// packet-filter tool is not installed); said at start and in `docker info`'s warnings.
    pub fn firewall_warning(&self) -> Option<String> {
        self.settings.firewall.missing_warning()
    }

    /// The record table.
    pub fn store(&self) -> &ContainerStore {
        &self.store
    }

    /// Re-asserts the port rules, dropping our tables when nothing needs them (after prunes).
    pub fn tidy_network_rules(&self) {
        self.ports.remove_if_unused(self.net.store());
    }

    /// Renders the firewall rules again when a bridge appeared or went since the last time:
    /// a new network's containers need forwarding and masquerade, and every network is
    /// isolated from the others.
    pub fn sync_network_rules(&self) {
        if self.net.take_bridges_changed()
            && let Err(e) = self.ports.apply(self.net.store())
        {
            tracing::warn!(error = %e, "updating the network rules");
        }
    }

    /// Network set-up (the bridge of a removed network goes through it).
    pub fn net(&self) -> &netsetup::NetSetup {
        &self.net
    }

    /// The shim launcher (for its state directories).
    pub fn shims(&self) -> &ShimLauncher {
        &self.shims
    }

    fn event(&self, action: &str, rec: &ContainerRecord, extra: &[(&str, String)]) {
        let mut attrs: Vec<(&str, String)> = vec![
            ("image", rec.config.image.clone()),
            ("name", rec.name.clone()),
        ];
        for (k, v) in &rec.config.labels {
            attrs.push((k.as_str(), v.clone()));
        }
        attrs.extend(extra.iter().cloned());
        self.events
            .emit(EventType::Container, action, &rec.id, &attrs);
    }

    /// Whether any container (running or not) uses image `id`; returns its short id.
    pub fn using_image(&self, id: &Digest) -> Option<String> {
        let id = id.to_string();
        self.store
            .all()
            .into_iter()
            .find(|e| e.read(|r| r.image_id == id))
            .map(|e| e.id[..12].to_string())
    }

    /// Whether any container mounts volume `name`.
    pub fn using_volume(&self, name: &str) -> bool {
        self.store.all().iter().any(|e| {
            e.read(|r| {
                r.mounts
                    .iter()
                    .any(|m| m.kind == "volume" && m.name == name)
            })
        })
    }

    // ----- create -------------------------------------------------------------------------

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
            None => names::generate(|c| !self.store.name_free(c)),
        };
        if !self.store.name_free(&name) {
            // Same message as the insert race below.
            let holder = self.store.get(&name)?.id.clone();
            return Err(EngineError::Conflict(format!(
                "Conflict. The container name \"/{name}\" is already in use by container \"{holder}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        let host = &mut request.host_config;
        restart::validate(&host.restart_policy, host.auto_remove)
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
        match netsetup::mode(&host.network_mode) {
            netsetup::Mode::Network(n) => {
                let net = self.net.store().find(&n).map_err(|_| unknown_network(&n))?;
                if net.driver == "host" {
                    host.network_mode = "host".into();
                } else if net.driver == "null" {
                    host.network_mode = "none".into();
                }
            }
            netsetup::Mode::Container(c) => {
                self.store.get(&c)?;
            }
            netsetup::Mode::Host | netsetup::Mode::None => {}
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
            mounts::resolve(&request.host_config, &image_volumes, &self.volumes, &|n| {
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
                netsetup::mode(&trial.host_config.network_mode),
                netsetup::Mode::Container(_)
            )
            .then(|| PathBuf::from("/proc/self/ns/net"));
            self.spec_for(&trial, Path::new("/"), None, None, joined)?;
            self.snapshotter
                .prepare(&id, self.parent_of(&record)?.as_ref())?;
            // A generated name another create took meanwhile (both saw it free): another one.
            // A name the client chose stays a conflict, as with Docker.
            let mut attempt = self.store.insert(record.clone());
            while generated && matches!(attempt, Err(EngineError::Conflict(_))) {
                record.name = names::generate(|c| !self.store.name_free(c));
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

    fn parent_of(&self, rec: &ContainerRecord) -> Result<Option<Digest>> {
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
    fn cgroup_path(&self, rec: &ContainerRecord) -> String {
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
    fn spec_for(
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
            devices: devices::gather(&host.resources.devices)?,
        };
        Ok(spec::build(&input)?)
    }

    // ----- start ----------------------------------------------------------------------------

    /// `docker start`. Starting a running container is a [`EngineError::NotModified`].
    pub fn start(self: &Arc<Self>, key: &str) -> Result<()> {
        let entry = self.settled(key)?;
        let _op = entry.op_lock();
        match entry.read(|r| r.state.status) {
            Status::Running | Status::Paused => {
                return Err(EngineError::NotModified("container already started".into()));
            }
            Status::Removing | Status::Dead => {
                return Err(EngineError::Conflict(format!(
                    "container {} is marked for removal and cannot be started",
                    entry.id
                )));
            }
            _ => {}
        }
        entry.update(|r| {
            r.state.manually_stopped = false;
            r.state.restart_count = 0;
        })?;
        self.lock_backoff().remove(&entry.id);
        let started = self.start_locked(&entry);
        drop(_op);
        if started.is_err() && entry.read(|r| r.host_config.auto_remove) {
            // As Docker: a `--rm` container that cannot start is removed at once.
            let _ = self.remove(&entry.id, true, true);
        }
        started
    }

    fn lock_backoff(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Duration>> {
        self.backoff.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the container; the caller holds its operation lock.
    fn start_locked(self: &Arc<Self>, entry: &Arc<Entry>) -> Result<()> {
        let rec = entry.snapshot();
        let rootfs = entry.dir().join("rootfs");
        let launched = self
            .mount_rootfs(&rec, &rootfs)
            .and_then(|()| self.launch(&rec, &rootfs))
            .and_then(|(client, pid)| {
                // Clients attached before the start see the process's first byte.
                self.pending.connect(&rec.id, &client);
                match client.start() {
                    Ok(()) => Ok((client, pid)),
                    Err(e) => {
                        let _ = client.kill(libc_sigkill(), true);
                        let _ = client.shutdown();
                        Err(EngineError::StartFailed(e.to_string()))
                    }
                }
            });
        let (client, shim_pid) = match launched {
            Ok(ok) => ok,
            Err(e) => {
                let _ = self.unmount_rootfs(&rootfs);
                self.ports.unpublish(&rec.id, self.net.store());
                self.net.teardown(&rec.id);
                let message = e.to_string();
                self.pending.fail(&rec.id, &message);
                let code = start_error_exit_code(&message);
                entry.update(|r| {
                    r.state.error = message.clone();
                    r.state.exit_code = code;
                    if r.state.has_been_started {
                        r.state.status = Status::Exited;
                    }
                })?;
                return Err(e);
            }
        };
        let shim_state = client.state().ok();
        let rec = entry.update(|r| {
            r.state.status = Status::Running;
            r.state.pid = shim_state.as_ref().map_or(0, |s| i64::from(s.pid));
            r.state.shim_pid = shim_pid;
            r.state.started_at = shim_state
                .as_ref()
                .and_then(|s| s.started_at.clone())
                .unwrap_or_else(berth_shim_proto::timefmt::now);
            r.state.error.clear();
            r.state.exit_code = 0;
            r.state.oom_killed = false;
            r.state.has_been_started = true;
            r.state.ports = self
                .published
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&r.id)
                .unwrap_or_default();
            r.copy_up.clear();
            r.clone()
        })?;
        self.event("start", &rec, &[]);
        self.spawn_monitor(entry.clone(), client, Instant::now());
        self.spawn_health(entry.clone());
        Ok(())
    }

    /// Everything between a mounted root file system and a running process.
    fn launch(&self, rec: &ContainerRecord, rootfs: &Path) -> Result<(ShimClient, u32)> {
        for m in rec.mounts.iter().filter(|m| m.kind == "volume") {
            self.volumes.mount(&m.name)?;
        }
        mounts::copy_up(rootfs, &rec.copy_up)?;
        let dir = self.store.dir_of(&rec.id);
        let hostname = if rec.config.hostname.is_empty() {
            rec.id[..12].to_string()
        } else {
            rec.config.hostname.clone()
        };
        let host_resolv =
            std::fs::read_to_string(&self.settings.host_resolv_conf).unwrap_or_default();
        let (netns, ip, nameserver) = match netsetup::mode(&rec.host_config.network_mode) {
            netsetup::Mode::Container(other) => {
                let pid = self
                    .store
                    .get(&other)?
                    .read(|r| r.state.status.is_running().then_some(r.state.pid));
                let pid = pid.ok_or_else(|| {
                    EngineError::Conflict(format!(
                        "cannot join network of a non running container: {other}"
                    ))
                })?;
                (
                    Some(PathBuf::from(format!("/proc/{pid}/ns/net"))),
                    None,
                    None,
                )
            }
            _ => match self.net.setup(rec)? {
                Some(a) => (Some(a.netns), a.ip, a.nameserver),
                None => (None, None, None),
            },
        };
        self.sync_network_rules();
        if let Some(ip) = ip {
            let mut published = self.ports.allocate(rec)?;
            if !published.is_empty() {
                published = self
                    .ports
                    .publish(&rec.id, ip, published, self.net.store())?;
            }
            self.published
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(rec.id.clone(), published);
        }
        // Legacy `--link`: the linked containers' names in /etc/hosts and Docker's variables.
        let linked = links::resolve(rec, &|name| {
            let e = self.store.get(name).ok()?;
            let target = e.snapshot();
            let ip = self.net.ip_of(&target.id)?;
            target.state.status.is_running().then_some((target, ip))
        })?;
        let mut host_config = rec.host_config.clone();
        host_config.extra_hosts.extend(linked.hosts.iter().cloned());
        etc::write(&dir, &hostname, &host_config, &host_resolv, ip, nameserver)?;
        let read = |p: &str| {
            mounts::resolve_in_root(rootfs, p).and_then(|f| std::fs::read_to_string(f).ok())
        };
        let with_links;
        let rec = if linked.env.is_empty() {
            rec
        } else {
            let mut r = rec.clone();
            r.config.env.extend(linked.env.iter().cloned());
            with_links = r;
            &with_links
        };
        let spec = self.spec_for(rec, rootfs, read("/etc/passwd"), read("/etc/group"), netns)?;
        let config = dir.join("config.json");
        berth_storage::atomic::write_json(&config, &spec)?;
        let log = log_settings(&rec.host_config)?;
        let (client, pid) = self.shims.launch(
            &rec.id,
            &dir,
            &log_path(&dir, &rec.id),
            &log,
            rec.config.open_stdin,
        )?;
        Ok((client, pid))
    }

    fn mount_rootfs(&self, rec: &ContainerRecord, target: &Path) -> Result<()> {
        if is_mounted(target) {
            return Ok(());
        }
        std::fs::create_dir_all(target).map_err(|e| EngineError::io(target, e))?;
        let m = self
            .snapshotter
            .prepare(&rec.id, self.parent_of(rec)?.as_ref())?;
        self.snapshotter.mount(&m, target)?;
        Ok(())
    }

    fn unmount_rootfs(&self, target: &Path) -> Result<()> {
        if is_mounted(target) {
            self.snapshotter.unmount(target)?;
        }
        Ok(())
    }

    // ----- monitor and exits --------------------------------------------------------------

    /// Waits (in the supervisor's loop, without a thread) for the run that started `since` to
    /// end, then records the exit and applies the restart policy on a job thread.
    fn spawn_monitor(self: &Arc<Self>, entry: Arc<Entry>, client: ShimClient, since: Instant) {
        let this = self.clone();
        let finish = move |entry: Arc<Entry>,
                           client: ShimClient,
                           answer: std::result::Result<ExitInfo, String>| {
            let exit = match answer {
                Ok(exit) => exit,
                Err(why) => {
                    // The shim died: its container went with it (it dies with its parent),
                    // but whatever is left must go before the exit is recorded and the
                    // addresses released.
                    if let Err(e) = this.scrub_run(&entry.snapshot()) {
                        tracing::error!(id = %entry.id, error = %e, "cleaning up after a dead shim");
                    }
                    let dir = this.shims.state_dir(&entry.id);
                    match berth_shim_proto::client::read_exit(&dir) {
                        Ok(Some(exit)) => exit,
                        _ => {
                            tracing::warn!(id = %entry.id, error = %why, "lost the container's shim");
                            lost_exit()
                        }
                    }
                }
            };
            // Output lost to a log that could not be written is said in the daemon's log.
            if let Ok(Some(error)) = client.state().map(|s| s.log_error) {
                tracing::warn!(id = %entry.id, error = %error, "the container's log lost output");
            }
            let _ = client.shutdown();
            this.handle_exit(&entry, exit, since.elapsed());
        };
        match client.send_wait() {
            Ok(pending) => self.supervisor.on_readable(pending, move |pending| {
                let answer = pending.exit().map_err(|e| e.to_string());
                finish(entry, client, answer);
            }),
            Err(e) => {
                let why = e.to_string();
                self.supervisor
                    .spawn(move || finish(entry, client, Err(why)));
            }
        }
    }

    /// Records an exit and applies `--rm` or the restart policy.
    fn handle_exit(self: &Arc<Self>, entry: &Arc<Entry>, exit: ExitInfo, ran_for: Duration) {
        let rootfs = entry.dir().join("rootfs");
        if let Err(e) = self.unmount_rootfs(&rootfs) {
            tracing::warn!(id = %entry.id, error = %e, "unmounting the root file system");
        }
        self.ports.unpublish(&entry.id, self.net.store());
        self.net.teardown(&entry.id);
        let rec = entry.snapshot();
        let restart = restart::should_restart(
            &rec.host_config.restart_policy,
            i64::from(exit.exit_code),
            rec.state.restart_count,
            rec.state.manually_stopped,
        ) && self.store.contains(&entry.id);
        let updated = entry.update(|r| {
            r.state.status = if restart {
                Status::Restarting
            } else {
                Status::Exited
            };
            r.state.exit_code = i64::from(exit.exit_code);
            r.state.oom_killed = exit.oom_killed;
            r.state.finished_at = exit.finished_at.clone();
            r.state.pid = 0;
            r.state.shim_pid = 0;
            r.state.ports.clear();
            if let Some(h) = r.state.health.as_mut() {
                h.status = "unhealthy".into();
            }
            r.clone()
        });
        let rec = match updated {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(id = %entry.id, error = %e, "recording the exit");
                entry.snapshot()
            }
        };
        if exit.oom_killed {
            self.event("oom", &rec, &[]);
        }
        self.event("die", &rec, &[("exitCode", exit.exit_code.to_string())]);
        if restart {
            let delay = {
                let mut b = self.lock_backoff();
                let d = restart::next_delay(b.get(&entry.id).copied(), ran_for);
                b.insert(entry.id.clone(), d);
                d
            };
            self.schedule_restart(entry.clone(), delay);
        } else if rec.host_config.auto_remove
            && let Err(e) = self.remove(&entry.id, true, true)
        {
            tracing::warn!(id = %entry.id, error = %e, "auto-removing the container");
        }
    }

    fn schedule_restart(self: &Arc<Self>, entry: Arc<Entry>, delay: Duration) {
        let this = self.clone();
        self.supervisor.after(delay, move || {
            let _op = entry.op_lock();
            // A stop, start or rm in the meantime cancels this restart.
            if !this.store.contains(&entry.id)
                || entry.read(|r| r.state.status) != Status::Restarting
            {
                return;
            }
            let _ = entry.update(|r| r.state.restart_count += 1);
            if let Err(e) = this.start_locked(&entry) {
                tracing::warn!(id = %entry.id, error = %e, "restart failed");
                let _ = entry.update(|r| r.state.status = Status::Exited);
                let delay = {
                    let mut b = this.lock_backoff();
                    let d = restart::next_delay(b.get(&entry.id).copied(), Duration::ZERO);
                    b.insert(entry.id.clone(), d);
                    d
                };
                let rec = entry.snapshot();
                if restart::should_restart(
                    &rec.host_config.restart_policy,
                    1,
                    rec.state.restart_count,
                    rec.state.manually_stopped,
                ) {
                    let _ = entry.update(|r| r.state.status = Status::Restarting);
                    drop(_op);
                    this.schedule_restart(entry.clone(), delay);
                }
            }
        });
    }

    // ----- stop, kill, wait ---------------------------------------------------------------

    /// `docker stop`: the stop signal, then SIGKILL after `timeout` seconds (the container's
    /// own timeout when `None`; negative waits forever). It holds no thread while it waits
    /// for the exit.
    pub async fn stop(
        self: &Arc<Self>,
        key: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        let entry = self.settled_async(key).await?;
        let _op = entry.op_lock_async().await;
        let rec = entry.snapshot();
        let sig = match signal.filter(|s| !s.is_empty()) {
            Some(s) => spec::parse_signal(s)?,
            None => rec.stop_signal,
        };
        let (this, e) = (self.clone(), entry.clone());
        let signalled = blocking(move || -> Result<bool> {
            let rec = e.snapshot();
            if rec.state.status == Status::Restarting {
                note_failed_write(
                    &e.id,
                    e.update(|r| {
                        r.state.status = Status::Exited;
                        r.state.manually_stopped = true;
                    }),
                );
                return Ok(false);
            }
            if !rec.state.status.is_running() {
                return Err(EngineError::NotModified("container already stopped".into()));
            }
            // Remembered in memory even when the disk is full: stopping must not need space.
            note_failed_write(&e.id, e.update(|r| r.state.manually_stopped = true));
            let client = this.shims.client(&e.id);
            let _ = client.kill(sig, false);
            if rec.state.status == Status::Paused {
                let _ = client.resume();
            }
            Ok(true)
        })
        .await?;
        if !signalled {
            return Ok(());
        }
        let timeout = timeout.unwrap_or(rec.stop_timeout);
        let limit = (timeout >= 0).then(|| Duration::from_secs(timeout as u64));
        let (_, stopped) = entry
            .wait_until(limit, |r| !r.state.status.is_running())
            .await;
        if !stopped {
            self.kill_and_wait(&entry, "stop").await?;
        }
        self.event("stop", &entry.snapshot(), &[]);
        Ok(())
    }

    /// SIGKILLs every process of a running container and waits (without a thread) for its
    /// exit to be recorded.
    async fn kill_and_wait(self: &Arc<Self>, entry: &Arc<Entry>, what: &str) -> Result<()> {
        let client = self.shims.client(&entry.id);
        blocking(move || {
            let _ = client.kill(libc_sigkill(), true);
            Ok(())
        })
        .await?;
        let (_, stopped) = entry
            .wait_until(Some(KILL_WAIT), |r| !r.state.status.is_running())
            .await;
        if stopped {
            return Ok(());
        }
        Err(EngineError::Conflict(format!(
            "cannot {what} container {}: it did not exit after SIGKILL",
            entry.id
        )))
    }

    /// `docker kill`. With SIGKILL it returns once the container has exited (as Docker's),
    /// so an inspect or `rm` right after sees it stopped.
    pub async fn kill(self: &Arc<Self>, key: &str, signal: Option<&str>) -> Result<()> {
        let entry = self.settled_async(key).await?;
        let sig = match signal.filter(|s| !s.is_empty()) {
            Some(s) => spec::parse_signal(s)?,
            None => libc_sigkill(),
        };
        let rec = entry.snapshot();
        if !rec.state.status.is_running() {
            return Err(EngineError::Conflict(format!(
                "cannot kill container: {}: container {} is not running",
                key, entry.id
            )));
        }
        let (this, e) = (self.clone(), entry.clone());
        blocking(move || {
            note_failed_write(&e.id, e.update(|r| r.state.manually_stopped = true));
            let client = this.shims.client(&e.id);
            client.kill(sig, false)?;
            if rec.state.status == Status::Paused && sig == libc_sigkill() {
                let _ = client.resume();
            }
            this.event("kill", &rec, &[("signal", sig.to_string())]);
            Ok(())
        })
        .await?;
        if sig == libc_sigkill() {
            let (_, stopped) = entry
                .wait_until(Some(KILL_WAIT), |r| !r.state.status.is_running())
                .await;
            if !stopped {
                return Err(EngineError::Conflict(format!(
                    "container {} did not exit after SIGKILL",
                    entry.id
                )));
            }
        }
        Ok(())
    }

    /// `docker restart`: stop (if running), then start.
    pub async fn restart(
        self: &Arc<Self>,
        key: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        match self.stop(key, timeout, signal).await {
            Ok(()) | Err(EngineError::NotModified(_)) => {}
            Err(e) => return Err(e),
        }
        let (this, key) = (self.clone(), key.to_string());
        blocking(move || {
            this.start(&key)?;
            let entry = this.store.get(&key)?;
            this.event("restart", &entry.snapshot(), &[]);
            Ok(())
        })
        .await
    }

    /// The last result of a container removed within the last minute, by id, id prefix or
    /// name.
    pub fn recently_removed(&self, key: &str) -> Option<WaitResult> {
        let mut t = self.tombstones.lock().unwrap_or_else(|p| p.into_inner());
        t.retain(|(_, _, _, at)| at.elapsed() < Duration::from_secs(60));
        let name = key.strip_prefix('/').unwrap_or(key);
        t.iter()
            .rev()
            .find(|(id, n, _, _)| n == name || (!key.is_empty() && id.starts_with(key)))
            .map(|(_, _, r, _)| r.clone())
    }

    /// `docker wait`: resolves when `condition` holds. It holds no thread while it waits, and
    /// dropping the future (the client went away) ends the wait.
    pub async fn wait(&self, key: &str, condition: WaitCondition) -> Result<WaitResult> {
        let entry = match self.store.get(key) {
            Ok(e) => e,
            Err(e) => return self.recently_removed(key).ok_or(e),
        };
        // Subscribed before the first check, so no change between the two is missed.
        let mut changes = entry.subscribe();
        let start = entry.snapshot();
        let holds = |r: &ContainerRecord| match condition {
            // Not running now, or an exit since the wait began: a container that restarts
            // (policy `always`) is "not running" for a moment, and Docker's wait returns then.
            WaitCondition::NotRunning => {
                (!r.state.status.is_running() && r.state.status != Status::Restarting)
                    || r.state.finished_at != start.state.finished_at
            }
            WaitCondition::NextExit => {
                r.state.finished_at != start.state.finished_at && !r.state.status.is_running()
            }
            WaitCondition::Removed => entry.is_removed(),
        };
        loop {
            let rec = entry.snapshot();
            if holds(&rec) || changes.changed().await.is_err() {
                return Ok(WaitResult {
                    status_code: rec.state.exit_code,
                    error: (!rec.state.error.is_empty()).then(|| rec.state.error.clone()),
                });
            }
        }
    }

    // ----- remove ---------------------------------------------------------------------------

    /// `docker rm`: `force` kills a running container first (waiting for its exit without a
    /// thread); `volumes` removes its anonymous volumes.
    pub async fn remove_async(
        self: &Arc<Self>,
        key: &str,
        force: bool,
        volumes: bool,
    ) -> Result<()> {
        let entry = self.settled_async(key).await?;
        let _op = entry.op_lock_async().await;
        if !self.store.contains(&entry.id) {
            return Ok(());
        }
        let rec = entry.snapshot();
        if rec.state.status.is_running() {
            if !force {
                return Err(running_conflict(&rec));
            }
            note_failed_write(&entry.id, entry.update(|r| r.state.manually_stopped = true));
            if rec.state.status == Status::Paused {
                let client = self.shims.client(&entry.id);
                blocking(move || {
                    let _ = client.resume();
                    Ok(())
                })
                .await?;
            }
            self.kill_and_wait(&entry, "remove").await?;
        }
        let (this, e) = (self.clone(), entry.clone());
        blocking(move || this.remove_locked(&e, volumes)).await
    }

    /// `docker rm` for blocking callers (auto-removal, prune, restore), which hold no
    /// operation lock.
    pub fn remove(&self, key: &str, force: bool, volumes: bool) -> Result<()> {
        let entry = self.store.get(key)?;
        let _op = entry.op_lock();
        if !self.store.contains(&entry.id) {
            return Ok(());
        }
        let rec = entry.snapshot();
        if rec.state.status.is_running() {
            if !force {
                return Err(running_conflict(&rec));
            }
            note_failed_write(&entry.id, entry.update(|r| r.state.manually_stopped = true));
            let client = self.shims.client(&entry.id);
            let _ = client.kill(libc_sigkill(), true);
            if rec.state.status == Status::Paused {
                let _ = client.resume();
            }
            let (_, stopped) = entry.wait_for(Some(KILL_WAIT), |r| !r.state.status.is_running());
            if !stopped {
                return Err(EngineError::Conflict(format!(
                    "cannot remove container \"/{}\": it did not exit after SIGKILL",
                    rec.name
                )));
            }
        }
        self.remove_locked(&entry, volumes)
    }

    /// The removal of a stopped container; the caller holds its operation lock.
    fn remove_locked(&self, entry: &Arc<Entry>, volumes: bool) -> Result<()> {
        let rec = entry.snapshot();
        // A removal must work on a full disk: the status is kept in memory even if it cannot
        // be written, and the record goes with its directory anyway.
        let _freeing = self.reserve.freeing();
        note_failed_write(
            &entry.id,
            entry.update(|r| r.state.status = Status::Removing),
        );
        self.cleanup(entry, volumes)?;
        {
            let last = entry.snapshot();
            let mut t = self.tombstones.lock().unwrap_or_else(|p| p.into_inner());
            t.push_back((
                last.id.clone(),
                last.name.clone(),
                WaitResult {
                    status_code: last.state.exit_code,
                    error: (!last.state.error.is_empty()).then(|| last.state.error.clone()),
                },
                Instant::now(),
            ));
            if t.len() > 256 {
                t.pop_front();
            }
        }
        self.store.remove(entry)?;
        self.pending.cancel(&entry.id);
        self.execs.forget_container(&entry.id);
        self.lock_backoff().remove(&entry.id);
        self.event("destroy", &rec, &[]);
        Ok(())
    }

    /// Releases what a stopped container holds: its mount, writable layer, shim directory and
    /// (with `volumes`) anonymous volumes.
    fn cleanup(&self, entry: &Entry, volumes: bool) -> Result<()> {
        let rec = entry.snapshot();
        // Whatever a crash may have left running or mounted goes first.
        self.scrub_run(&rec)?;
        self.snapshotter.remove_writable(&rec.id)?;
        let state = self.shims.state_dir(&rec.id);
        if state.exists() {
            std::fs::remove_dir_all(&state).map_err(|e| EngineError::io(&state, e))?;
        }
        if volumes {
            for v in &rec.anonymous_volumes {
                let others = |name: &str| {
                    self.store.all().iter().any(|e| {
                        e.id != rec.id
                            && e.read(|r| {
                                r.mounts
                                    .iter()
                                    .any(|m| m.kind == "volume" && m.name == name)
                            })
                    })
                };
                match self.volumes.remove(v, true, &others) {
                    Ok(()) => self.events.emit(
                        EventType::Volume,
                        "destroy",
                        v,
                        &[("driver", "local".into())],
                    ),
                    Err(e) => tracing::info!(volume = %v, error = %e, "keeping anonymous volume"),
                }
            }
        }
        Ok(())
    }

    // ----- daemon start -------------------------------------------------------------------

    /// Re-attaches to the shims of containers that were running when the previous daemon
    /// stopped, records the exits that happened meanwhile, finishes interrupted removals, and
    /// starts the containers whose restart policy says so. Only the containers that existed
    /// when the store was opened are looked at, each under its operation lock, so this may run
    /// while the API already serves (a restart is ready at once) without touching a container
    /// a client creates or starts meanwhile. Runs once; later calls do nothing.
    pub fn restore(self: &Arc<Self>) {
        let Some(ids) = self
            .restore_ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return;
        };
        // Re-assert the rules first (a firewall reload or reboot may have dropped them).
        if let Err(e) = self.ports.apply(self.net.store()) {
            tracing::warn!(error = %e, "restoring the port rules");
        }
        for id in ids {
            let Ok(entry) = self.store.get(&id) else {
                continue; // removed by a client meanwhile
            };
            self.restore_entry(&entry);
            let _op = entry.op_lock();
            let rec = entry.snapshot();
            if self.store.contains(&rec.id)
                && !rec.state.status.is_running()
                && rec.state.status != Status::Restarting
                && restart::start_with_daemon(
                    &rec.host_config.restart_policy,
                    rec.state.manually_stopped,
                )
                && let Err(e) = self.start_locked(&entry)
            {
                tracing::warn!(id = %rec.id, error = %e, "starting container at daemon start");
            }
        }
    }

    /// Restores `entry` now unless that was done: a client acting on a container the restore
    /// pass has not reached yet (`rm -f` right after a daemon restart) must find its shim
    /// re-attached, or it would wait for an exit nobody reports.
    fn restore_entry(self: &Arc<Self>, entry: &Arc<Entry>) {
        if !entry.restore_pending() {
            return;
        }
        let next = {
            let _op = entry.op_lock();
            if !entry.take_restore() {
                return; // another caller did it while this one waited for the lock
            }
            self.restore_one(entry)
        };
        match next {
            Restored::Done => {}
            Restored::Exited(exit) => self.handle_exit(entry, exit, Duration::ZERO),
            Restored::Remove => {
                let _ = self.remove(&entry.id, true, false);
            }
        }
    }

    /// The entry of container `key`, restored first if the daemon-start pass has not got
    /// to it (see [`Containers::restore_entry`]). For blocking callers.
    pub(super) fn settled(self: &Arc<Self>, key: &str) -> Result<Arc<Entry>> {
        let entry = self.store.get(key)?;
        self.restore_entry(&entry);
        Ok(entry)
    }

    /// [`Containers::settled`] for async callers.
    pub(super) async fn settled_async(self: &Arc<Self>, key: &str) -> Result<Arc<Entry>> {
        let entry = self.store.get(key)?;
        if entry.restore_pending() {
            let (this, e) = (self.clone(), entry.clone());
            blocking(move || {
                this.restore_entry(&e);
                Ok(())
            })
            .await?;
        }
        Ok(entry)
    }

    /// Brings one pre-existing container's record in line with what is there; the caller holds
    /// its operation lock. Says what is left to do without the lock.
    fn restore_one(self: &Arc<Self>, entry: &Arc<Entry>) -> Restored {
        let rec = entry.snapshot();
        match rec.state.status {
            Status::Running | Status::Paused => {
                let dir = self.shims.state_dir(&rec.id);
                if berth_shim_proto::client::live_shim_pid(&dir).is_some() {
                    tracing::info!(id = %rec.id, "re-attached to running container");
                    let status = self.shims.client(&rec.id).state().ok();
                    if let Some(s) = status {
                        let paused = s.status == berth_shim_proto::ContainerStatus::Paused;
                        let _ = entry.update(|r| {
                            r.state.status = if paused {
                                Status::Paused
                            } else {
                                Status::Running
                            };
                        });
                    }
                    if !rec.state.ports.is_empty()
                        && let Some(ip) = self.net.ip_of(&rec.id)
                    {
                        let _ = self.ports.publish(
                            &rec.id,
                            ip,
                            rec.state.ports.clone(),
                            self.net.store(),
                        );
                        // The IPv6 listeners came back as they were (or the record says
                        // otherwise at the next start).
                    }
                    self.spawn_monitor(entry.clone(), self.shims.client(&rec.id), Instant::now());
                    self.spawn_health(entry.clone());
                    return Restored::Done;
                }
                let exit = berth_shim_proto::client::read_exit(&dir)
                    .ok()
                    .flatten()
                    .unwrap_or_else(lost_exit);
                tracing::info!(id = %rec.id, code = exit.exit_code, "container exited while the daemon was down");
                if let Err(e) = self.scrub_run(&rec) {
                    tracing::error!(id = %rec.id, error = %e, "cleaning up after a container whose shim is gone");
                }
                return Restored::Exited(exit);
            }
            Status::Restarting => {
                let _ = entry.update(|r| r.state.status = Status::Exited);
            }
            Status::Removing | Status::Dead => return Restored::Remove,
            _ => {}
        }
        // A start that never finished (the daemon was killed during it) may have left a shim,
        // a container waiting to start, a cgroup, a mount, a namespace and leases.
        if let Err(e) = self.scrub_run(&rec) {
            tracing::error!(id = %rec.id, error = %e, "cleaning up an interrupted start");
        }
        Restored::Done
    }
}

/// What is left of restoring one container once its record is in line.
enum Restored {
    /// Nothing.
    Done,
    /// Record this exit (it happened while the daemon was down).
    Exited(ExitInfo),
    /// Finish an interrupted removal.
    Remove,
}

/// Docker's refusal to remove a running container without `force`.
fn running_conflict(rec: &ContainerRecord) -> EngineError {
    EngineError::Conflict(format!(
        "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
        rec.name
    ))
}

/// Runs blocking engine work (records, shim calls) from an `async` operation on the
/// runtime's blocking pool, for the moment it lasts.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| EngineError::Internal(format!("engine worker failed: {e}")))?
}

/// Logs a record write that failed where the change still holds in memory (a full disk during
/// a stop or a removal): the operation goes on, and the record is written at the next change.
fn note_failed_write(id: &str, written: Result<()>) {
    if let Err(e) = written {
        tracing::warn!(id = %id, error = %e, "could not write the container record; going on");
    }
}

/// The capability bounding set of this process (`CapBnd` of /proc/self/status).
fn host_bounding_set() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapBnd:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// The kernel's number of a capability (`CAP_CHOWN` = 0…).
fn cap_number(name: &str) -> Option<u32> {
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

/// The json-file log of a container, Docker's naming.
pub fn log_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}-json.log"))
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
fn host_list(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The numbers of a kernel list (`0-2,4`); `None` when malformed.
fn parse_cpu_list(list: &str) -> Option<std::collections::BTreeSet<u32>> {
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
fn unknown_network(name: &str) -> EngineError {
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
fn check_storage_opts(opts: &std::collections::BTreeMap<String, String>) -> Result<()> {
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

/// Docker's exit codes for failed starts: 127 command not found, 126 not executable.
pub(crate) fn start_error_exit_code(message: &str) -> i64 {
    if message.contains("executable file not found") || message.contains("no such file") {
        127
    } else if message.contains("permission denied") {
        126
    } else {
        128
    }
}

fn libc_sigkill() -> i32 {
    9
}

/// What is recorded when a container's shim vanished without recording the exit.
fn lost_exit() -> ExitInfo {
    ExitInfo {
        exit_code: 255,
        oom_killed: false,
        finished_at: berth_shim_proto::timefmt::now(),
        started_at: None,
    }
}

/// Whether `path` is a mount point (listed in this process's mountinfo).
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let target = path.to_string_lossy();
    berth_common::mountinfo::mount_points(&info).any(|mp| mp == target)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn mountinfo_escapes() {
        assert_eq!(berth_common::mountinfo::unescape("/a\\040b"), "/a b");
        assert!(is_mounted(Path::new("/proc")));
        assert!(!is_mounted(Path::new("/proc/self")));
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
