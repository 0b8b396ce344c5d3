//! Containers: records, their life cycle through shims, restart policies, and the re-attach
//! of running containers when the daemon starts.
//!
//! Callers come in through [`facade`] (`Engine::container_<verb>`, `Engine::exec_<verb>`).
//! [`Containers`] owns everything a container's life needs without the image store (the record
//! keeps the merged config and the parent snapshot), so the supervisor that watches running
//! containers can hold an `Arc` of it and act on exits alone: record the exit, unmount the
//! root file system, publish `die`, then apply `--rm` or the restart policy.
//!
//! The life cycle, one module per step: `create` (validation, writable layer, record, spec),
//! `start` (root file system, shim launch, back-off), `monitor` (exits, `--rm`, restarts),
//! `stop` (stop, kill, restart), `wait`, `remove`, `restore` (after a daemon restart).
//! Beside it, one job each: [`record`] (the persisted record), [`store`] (the table, lookups,
//! names, waiting), [`mounts`] (volumes and binds), [`etc`] (hosts/hostname/resolv.conf),
//! [`shim`] (launching shims), [`restart`] (policy decisions), [`names`] (generated names),
//! [`exec`] (exec instances), [`query`] (list, inspect, filters), [`control`] (pause, rename,
//! attach, top, stats, update, prune), [`logs`] (reading and following logs), [`stdio`] (the
//! stream an attach or exec hands its client), [`archive`] and [`changes`] (`cp`, `export`,
//! `diff`).

pub mod archive;
pub mod changes;
pub mod control;
mod create;
pub mod devices;
pub mod etc;
pub mod exec;
pub mod facade;
pub mod health;
pub mod links;
pub mod logs;
mod monitor;
pub mod mounts;
pub mod names;
pub mod netsetup;
pub mod ports;
pub mod proxy6;
pub mod query;
pub mod record;
mod remove;
pub mod restart;
mod restore;
pub mod scrub;
pub mod shim;
mod start;
pub mod stdio;
mod stop;
pub mod store;
mod wait;

pub use create::{
    check_host_resources, create_warnings, default_capabilities, default_memory_swap, log_settings,
    validate_name,
};
pub use wait::{WaitCondition, WaitResult};

use crate::EngineError;
use crate::events::EventBus;
use crate::supervisor::Supervisor;
use crate::volumes::VolumeStore;
use berth_api_types::events::EventType;
use berth_common::Digest;
use berth_shim_proto::launch::SealedExe;
use berth_storage::snapshot::Snapshotter;
use record::ContainerRecord;
use shim::{ShimLauncher, Shims};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use store::ContainerStore;

type Result<T> = std::result::Result<T, EngineError>;

/// How long a stop waits for the exit after SIGKILL before giving up.
pub(super) const KILL_WAIT: Duration = Duration::from_secs(30);

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
    shims: Arc<dyn Shims>,
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
    /// How containers are run: `None` for real `berth shim` processes; engine tests pass a
    /// fake.
    pub shims: Option<Arc<dyn Shims>>,
    /// The host's network stack (or a fake).
    pub host_network: Arc<dyn crate::networks::host::HostNetwork>,
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
            shims,
            host_network,
        } = shared;
        let store = ContainerStore::open(&root.join("containers"))?;
        let restore_ids = store.all().iter().map(|e| e.id.clone()).collect();
        let ports = ports::PortPublisher::new(&settings.nft_table, host_network.clone());
        let supervisor = Arc::new(
            Supervisor::start().map_err(|e| EngineError::io("starting the supervisor", e))?,
        );
        let containers = Arc::new(Containers {
            store,
            shims: match shims {
                Some(shims) => shims,
                None => Arc::new(ShimLauncher {
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
                }),
            },
            snapshotter,
            volumes,
            events,
            settings,
            execs: exec::ExecTable::default(),
            ports,
            net: netsetup::NetSetup::new(host_network, networks, dns, root.join("netns")),
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

    /// Stops supervising: no exit, restart or health check is handled after this (the
    /// containers keep running, as when the daemon stops). See [`crate::Engine::shutdown`].
    pub fn shutdown(&self) {
        self.supervisor.stop();
    }

    /// Why published ports and network isolation cannot work on this host (the daemon's
    /// packet-filter tool is not installed); said at start and in `docker info`'s warnings.
    pub fn firewall_warning(&self) -> Option<String> {
        self.net.host().firewall_warning()
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

    /// The shims (for their state directories).
    pub fn shims(&self) -> &Arc<dyn Shims> {
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
pub(super) fn note_failed_write(id: &str, written: Result<()>) {
    if let Err(e) = written {
        tracing::warn!(id = %id, error = %e, "could not write the container record; going on");
    }
}

/// The json-file log of a container, Docker's naming.
pub fn log_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}-json.log"))
}
