//! `berth daemon`: lock the root, open the engine, serve the API on a unix socket, and stop
//! cleanly on SIGTERM or SIGINT (finish in-flight requests, remove the socket).

use anyhow::{Context, Result, bail};
use berth_engine::{Engine, EngineConfig};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::signal::unix::{SignalKind, signal};

/// What `berth daemon` was asked to do.
pub struct DaemonOptions {
    /// State root dir.
    pub root: PathBuf,
    /// `unix:///path/to.sock`.
    pub host: String,
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub log_level: String,
    /// `overlay2` or `copy`.
    pub snapshotter: String,
    /// The default network's Linux bridge (`--bridge`).
    pub bridge: String,
    /// The default network's subnet (`--bip`).
    pub bip: Option<String>,
    /// The host resolver's address (`--dns-listen`, `none` to disable).
    pub dns_listen: String,
    /// The host-side name suffix (`--dns-suffix`).
    pub dns_suffix: String,
    /// Bytes of build context a build may send (`--build-context-limit`).
    pub build_context_limit: u64,
    /// Bytes the build cache may keep (`--build-cache-max`).
    pub build_cache_max: u64,
    /// Registry settings: `--insecure-registry`, `--registry-mirror`, certificate dirs and
    /// transfer concurrency.
    pub registries: berth_registry::auth::Endpoints,
    /// `auto`, `nftables` or `iptables` (`--firewall`).
    pub firewall: String,
}

/// Runs the daemon to completion; returns the process exit code.
pub fn run(opts: DaemonOptions) -> i32 {
    init_tracing(&opts.log_level);
    // Whatever the daemon's parent left open must not reach shims and containers (the
    // CVE-2024-21626 class); the daemon opens its own descriptors close-on-exec.
    if let Err(e) = berth_runtime::hygiene::cloexec_inherited() {
        eprintln!("berth daemon: marking inherited descriptors close-on-exec: {e}");
        return 1;
    }
    // A connection and a pidfd per running container: a thousand do not fit in 1024.
    if let Err(e) = berth_shim_proto::launch::raise_nofile_limit() {
        tracing::warn!(error = %e, "cannot raise the open files limit");
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Blocking threads do engine work (records, mounts, shim calls) for the request at
        // hand; waiting (wait, stop, rm -f, attach before start, logs -f, events, stats) holds
        // none. Bounded well below a thousand concurrent requests (`rm -f` of every container
        // sends one each): more threads would not go faster, only cost memory.
        .max_blocking_threads(64)
        .thread_keep_alive(std::time::Duration::from_secs(5))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth daemon: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let code = match rt.block_on(serve(opts)) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("berth daemon: {e:#}");
            1
        }
    };
    // Blocking threads still parked in a container wait must not hold the exit.
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    code
}

/// How often the daemon returns freed heap memory to the system.
const HEAP_TRIM_INTERVAL: std::time::Duration = std::time::Duration::from_secs(15);

/// How long long-running requests may go on after SIGTERM.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The socket path of a `unix://` host string.
fn socket_path(host: &str) -> Result<PathBuf> {
    match host.strip_prefix("unix://") {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        Some(_) => bail!("invalid host {host:?}: empty socket path"),
        None if host.starts_with('/') => Ok(PathBuf::from(host)),
        None => bail!("invalid host {host:?}: only unix:///path sockets are supported"),
    }
}

async fn serve(opts: DaemonOptions) -> Result<()> {
    let sock = socket_path(&opts.host)?;
    let config = EngineConfig {
        root: opts.root.clone(),
        snapshotter: opts.snapshotter.parse().context("--snapshotter")?,
        containers: berth_engine::containers::Settings {
            // One nftables table per daemon: the default one is `berth`, others are named
            // after their bridge so daemons (and tests) never touch each other's rules.
            nft_table: if opts.bridge == berth_engine::DEFAULT_BRIDGE {
                "berth".into()
            } else {
                format!("berth_{}", opts.bridge.replace(['-', '.'], "_"))
            },
            firewall: opts
                .firewall
                .parse()
                .map_err(|e| anyhow::anyhow!("--firewall: {e}"))?,
            ..berth_engine::containers::Settings::detect()
        },
        default_bridge: opts.bridge.clone(),
        default_subnet: match &opts.bip {
            Some(b) => Some(b.parse().map_err(|e| anyhow::anyhow!("--bip: {e}"))?),
            None => None,
        },
        dns_listen: match opts.dns_listen.as_str() {
            "" | "none" => None,
            a => Some(a.parse().with_context(|| format!("--dns-listen {a:?}"))?),
        },
        dns_suffix: opts.dns_suffix.clone(),
        seams: Default::default(),
        build: berth_engine::build::BuildSettings {
            context_limit: opts.build_context_limit,
            cache_max: opts.build_cache_max,
        },
        registries: opts.registries.clone(),
    };
    // Opening the engine takes the root lock first, so the stale-socket removal below can never
    // pull the socket from under another live daemon on the same root.
    let engine = tokio::task::spawn_blocking(move || Engine::open(&config)).await??;
    // The handlers exist before the socket does: a client that sees the socket may stop the
    // daemon at once, and that must be a clean stop, not the default action of SIGTERM.
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let listener = bind(&sock)?;
    tracing::info!(root = %opts.root.display(), socket = %sock.display(), driver = engine.storage_driver(), "berth daemon ready");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
        let _ = stop_tx.send(true);
    };
    let engine = Arc::new(engine);
    // Memory freed after a burst (a thousand `rm -f` at once) goes back to the system.
    tokio::spawn(async {
        let mut tick = tokio::time::interval(HEAP_TRIM_INTERVAL);
        loop {
            tick.tick().await;
            let _ = tokio::task::spawn_blocking(berth_runtime::hygiene::trim_heap).await;
        }
    });
    let restoring = engine.clone();
    tokio::task::spawn_blocking(move || restoring.restore_containers());
    // Finished requests end cleanly; long ones (attached clients, `wait`, `logs -f`) get a
    // grace period, then the daemon exits anyway. Containers keep running either way.
    let mut stopping = stop_rx;
    let grace = async move {
        let _ = stopping.wait_for(|s| *s).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
        tracing::warn!("long-running requests still open: closing them");
    };
    let res = tokio::select! {
        r = berth_api::serve(listener, engine.clone(), shutdown) => r,
        () = grace => Ok(()),
    };
    let _ = std::fs::remove_file(&sock);
    engine.unregister_host_dns();
    tracing::info!("berth daemon stopped");
    res.context("serving the API")
}

fn bind(sock: &Path) -> Result<tokio::net::UnixListener> {
    if let Some(dir) = sock.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if sock.exists() {
        // Probe before removing: a live socket here belongs to a daemon on another root.
        if std::os::unix::net::UnixStream::connect(sock).is_ok() {
            bail!("{} is already served by another daemon", sock.display());
        }
        std::fs::remove_file(sock)
            .with_context(|| format!("removing stale socket {}", sock.display()))?;
    }
    let listener = tokio::net::UnixListener::bind(sock)
        .with_context(|| format!("binding {}", sock.display()))?;
    std::fs::set_permissions(sock, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("chmod {}", sock.display()))?;
    Ok(listener)
}
