//! Layer 3 of Berth: the objects the daemon owns, and the rules that bind them.
//!
//! The [`Engine`] is opened once per root dir by `berth daemon`. It takes the root's lock (so two
//! daemons can never write the same state), opens the content store, the snapshotter and the
//! image store, and cleans up what a killed predecessor left half-done. The API layer calls one
//! engine method per request; the engine knows nothing of HTTP.
//!
//! The engine holds images, volumes, containers and networks. Each noun lives in one module
//! tree, whose `facade` (or, for images, the `images` module) adds its `Engine::<noun>_<verb>`
//! methods: the only door for the API and every other in-process user. The stores behind them
//! stay crate-private, so no caller can change state without the events and in-use checks the
//! facade adds.

// Unsafe code lives in layer 1 (design.md): never above it.
#![forbid(unsafe_code)]

pub mod build;
pub mod containers;
mod error;
pub mod events;
#[cfg(test)]
mod fakes;
pub mod images;
mod lock;
pub mod networks;
pub mod privacy;
pub mod pull;
pub mod push;
mod registry;
mod search;
pub mod spec;
pub mod supervisor;
mod system;
pub mod volumes;

#[cfg(test)]
mod lifecycle_tests;

pub use containers::Containers;
pub use containers::facade::CommitRequest;
pub use error::EngineError;
pub use events::EventBus;
pub use lock::RootLock;
pub use networks::facade::{NETWORK_FILTERS, network_resource};
pub use volumes::VolumeStore;

use berth_image::ImageStore;
use berth_storage::ContentStore;
use berth_storage::snapshot::Snapshotter;
use berth_storage::snapshot::copy::CopySnapshotter;
use berth_storage::snapshot::overlay::OverlaySnapshotter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// Which snapshotter unpacks layers and assembles root file systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotterKind {
    /// overlayfs: fast, shares layers, needs a file system overlayfs accepts as upper dir.
    #[default]
    Overlay,
    /// Full copies: slower and larger, works on any file system.
    Copy,
}

impl std::str::FromStr for SnapshotterKind {
    type Err = EngineError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "overlay2" | "overlay" | "overlayfs" => Ok(SnapshotterKind::Overlay),
            "copy" | "vfs" => Ok(SnapshotterKind::Copy),
            other => Err(EngineError::InvalidArgument(format!(
                "unknown snapshotter {other:?}: expected overlay2 or copy"
            ))),
        }
    }
}

/// How to open an engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The root dir that holds all state.
    pub root: PathBuf,
    /// Layer storage driver.
    pub snapshotter: SnapshotterKind,
    /// How containers are run (shim executable, cgroup parent).
    pub containers: containers::Settings,
    /// The default `bridge` network's Linux bridge name (`--bridge`; Docker's `docker0`).
    pub default_bridge: String,
    /// The default network's subnet (`--bip`); a pool subnet clear of host routes if `None`.
    pub default_subnet: Option<networks::ipam::Subnet>,
    /// Where the host resolver for `<name>.<suffix>` listens (`None`: not at all).
    pub dns_listen: Option<std::net::SocketAddr>,
    /// The host-side suffix of container names (`berth`).
    pub dns_suffix: String,
    /// What the engine runs containers and root file systems on; the default is the host.
    pub seams: Seams,
    /// Limits on builds (context size, cache size).
    pub build: build::BuildSettings,
    /// Registry settings: plain HTTP allowed (`--insecure-registry`, besides loopback), Docker
    /// Hub mirrors, per-registry certificates, transfer concurrency.
    pub registries: berth_registry::auth::Endpoints,
}

/// The engine's seams to the host, where engine tests put in-memory fakes: `Default` is the
/// real thing (shim processes, the configured snapshotter).
#[derive(Debug, Clone, Default)]
pub struct Seams {
    /// How containers are run (`None`: `berth shim` processes).
    pub shims: Option<Arc<dyn containers::shim::Shims>>,
    /// Layers and root file systems (`None`: the one [`EngineConfig::snapshotter`] names).
    pub snapshotter: Option<Arc<dyn Snapshotter>>,
    /// Bridges, namespaces, veths and the packet filter (`None`: the kernel's, with the
    /// configured firewall tool).
    pub network: Option<Arc<dyn networks::host::HostNetwork>>,
}

/// The default bridge name.
pub const DEFAULT_BRIDGE: &str = "berth0";

/// The only OCI runtime: the built-in one. Containers record it as `HostConfig.Runtime`
/// (clients read it) and `info` lists it; other names are refused at create.
pub const DEFAULT_RUNTIME: &str = "berth";

/// Runtime names a create may ask for: the built-in one, and `runc`, which compose files
/// written for Docker name and which the built-in runtime is compatible with.
pub const RUNTIME_NAMES: [&str; 2] = [DEFAULT_RUNTIME, "runc"];

/// The daemon's state: stores and (later) live objects.
pub struct Engine {
    root: PathBuf,
    _lock: RootLock,
    /// Space set aside so removals work on a full disk.
    reserve: Arc<berth_storage::reserve::SpaceReserve>,
    snapshotter: Arc<dyn Snapshotter>,
    images: ImageStore,
    volumes: Arc<VolumeStore>,
    events: Arc<EventBus>,
    containers: Arc<Containers>,
    networks: Arc<networks::NetworkStore>,
    daemon_id: String,
    started: SystemTime,
    build: build::BuildSettings,
    /// What clients' context directories held at their last builds.
    build_sessions: build::session::Sessions,
    /// Downloads (`ADD <url>`), made on first use: loading the trust roots reads the disk.
    http: std::sync::OnceLock<berth_registry::HttpClient>,
    /// Where registries are tried (`EngineConfig::registries`).
    registries: berth_registry::auth::Endpoints,
}

impl Engine {
    /// Locks `config.root` and opens every store under it, repairing what a crash left behind:
    /// unfinished blob writes are dropped and blobs or snapshots no image references are
    /// collected, so a `kill -9` during a load leaves a store on which the load can be repeated.
    pub fn open(config: &EngineConfig) -> Result<Engine, EngineError> {
        let root = config.root.clone();
        privacy::secure_root(&root)?;
        let lock = RootLock::acquire(&root)?;
        let reserve = Arc::new(berth_storage::reserve::SpaceReserve::new(
            &root.join("reserve"),
        ));
        if let Err(e) = reserve.ensure() {
            tracing::warn!(error = %e, "cannot set space aside for removals on a full disk");
        }
        let content = Arc::new(ContentStore::open(&root.join("content"))?);
        let snapshotter: Arc<dyn Snapshotter> =
            match (&config.seams.snapshotter, config.snapshotter) {
                (Some(s), _) => s.clone(),
                (None, SnapshotterKind::Overlay) => {
                    Arc::new(OverlaySnapshotter::new(&root.join("overlay2"))?)
                }
                (None, SnapshotterKind::Copy) => {
                    Arc::new(CopySnapshotter::new(&root.join("copy"))?)
                }
            };
        let images = ImageStore::open(&root.join("images"), content, snapshotter.clone())?;
        let reclaimed = images.gc()?;
        if reclaimed > 0 {
            tracing::info!(
                bytes = reclaimed,
                "removed unreferenced blobs and snapshots"
            );
        }
        let volumes = Arc::new(VolumeStore::open(&root.join("volumes"))?);
        let events = Arc::new(EventBus::default());
        let host_network: Arc<dyn networks::host::HostNetwork> = match &config.seams.network {
            Some(n) => n.clone(),
            None => Arc::new(networks::host::KernelNetwork {
                firewall: config.containers.firewall,
            }),
        };
        let networks = Arc::new(networks::NetworkStore::open(
            &root.join("networks"),
            &config.default_bridge,
            config.default_subnet,
            &networks::host_routes(host_network.as_ref()),
        )?);
        let dns = Arc::new(networks::dns::NetworkDns::new(
            berth_net::dns::host_upstreams(),
        ));
        dns.rebuild(&networks);
        let containers = Containers::open(
            &root,
            containers::Shared {
                snapshotter: snapshotter.clone(),
                volumes: volumes.clone(),
                events: events.clone(),
                networks: networks.clone(),
                dns: dns.clone(),
                reserve: reserve.clone(),
                shims: config.seams.shims.clone(),
                host_network: host_network.clone(),
            },
            config.containers.clone(),
        )?;
        // Bridges that still exist (containers kept running across a daemon restart) get
        // their DNS servers back; the others are made when a container needs them.
        for net in networks.all() {
            if net.is_bridge() && host_network.bridge_exists(&net.bridge) {
                dns.ensure_server(&net);
            }
        }
        if let Some(listen) = config.dns_listen {
            match dns.start_host(listen, &config.dns_suffix) {
                Ok(addr) => {
                    tracing::info!(%addr, suffix = %config.dns_suffix, "host resolver for container names");
                    let _ = berth_storage::atomic::write_file(
                        &root.join("dns.addr"),
                        addr.to_string().as_bytes(),
                    );
                    register_host_dns(&root, addr, &config.dns_suffix);
                }
                Err(e) => tracing::warn!(%listen, error = %e, "cannot serve the host resolver"),
            }
        }
        // Contexts of builds a killed daemon was running.
        build::context::sweep(&root.join("build").join("contexts"));
        let daemon_id = daemon_id(&root)?;
        // Again now that every store has made its directories.
        privacy::secure_root(&root)?;
        Ok(Engine {
            build_sessions: build::session::Sessions::new(root.join("build").join("sessions")),
            http: std::sync::OnceLock::new(),
            registries: config.registries.clone(),
            root,
            _lock: lock,
            reserve,
            snapshotter,
            images,
            volumes,
            events,
            containers,
            networks,
            daemon_id,
            started: SystemTime::now(),
            build: config.build,
        })
    }

    /// The client for downloads the daemon makes.
    pub(crate) fn http_client(&self) -> &berth_registry::HttpClient {
        self.http.get_or_init(|| {
            berth_registry::HttpClient::new().with_certs_dirs(self.registries.certs_dirs.clone())
        })
    }

    /// The root dir.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The image store.
    pub(crate) fn images(&self) -> &ImageStore {
        &self.images
    }

    /// The volume store.
    pub(crate) fn volumes(&self) -> &VolumeStore {
        &self.volumes
    }

    /// The containers' life cycle machinery.
    pub(crate) fn containers(&self) -> &Arc<Containers> {
        &self.containers
    }

    /// Re-attaches to running containers and starts those whose restart policy asks for it;
    /// the daemon calls it once, after it serves (starting may take a while).
    pub fn restore_containers(&self) {
        self.containers.restore();
    }

    /// `GET /events`: the events since `since` (Unix seconds) still remembered, and a receiver
    /// of those to come. Every state change the facade makes publishes here.
    pub fn events_subscribe(
        &self,
        since: Option<i64>,
    ) -> (
        Vec<berth_api_types::events::EventMessage>,
        tokio::sync::mpsc::Receiver<berth_api_types::events::EventMessage>,
    ) {
        self.events.subscribe(since)
    }

    /// The storage driver's name (`overlay2`, `copy`), as `docker info` shows it.
    pub fn storage_driver(&self) -> &'static str {
        self.snapshotter.name()
    }

    /// Stable identity of this root dir (shown as `ID` by `docker info`).
    pub fn daemon_id(&self) -> &str {
        &self.daemon_id
    }

    /// When this engine was opened.
    pub fn started(&self) -> SystemTime {
        self.started
    }
}

/// Tells the host's NSS module (`libnss_berth`, see `berth system install-dns`) where this
/// daemon answers `<name>.<suffix>`, after dropping what daemons killed before their stop left.
fn register_host_dns(root: &Path, addr: std::net::SocketAddr, suffix: &str) {
    let dir = Path::new(berth_nss::registry::DIR);
    berth_nss::registry::remove_dead(dir);
    let reg = berth_nss::registry::Registration {
        addr,
        suffix: suffix.to_string(),
        pid: std::process::id(),
    };
    if let Err(e) = berth_nss::registry::register(dir, root, &reg) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot register the host resolver for the NSS module");
    }
}

impl Engine {
    /// Stops watching containers, as a daemon that exits does: they keep running under their
    /// shims, and an engine opened on the same root later re-attaches to them. For in-process
    /// users that close an engine and open another (tests of the restore).
    pub fn shutdown(&self) {
        self.containers.shutdown();
    }

    /// Withdraws this daemon's host resolver from the NSS module's list (the daemon stops).
    pub fn unregister_host_dns(&self) {
        let _ = berth_nss::registry::unregister(Path::new(berth_nss::registry::DIR), &self.root);
    }
}

fn daemon_id(root: &Path) -> Result<String, EngineError> {
    let path = root.join("engine-id");
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => {
            let id = berth_common::id::random_id();
            berth_storage::atomic::write_file(&path, id.as_bytes())?;
            Ok(id)
        }
    }
}
