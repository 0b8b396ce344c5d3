//! Layer 4 of Berth: `berth registry serve`, an OCI distribution 1.1 server over
//! [`berth_registry::store`].
//!
//! One process, its own root dir, no database: [`serve`] binds the address, optionally wraps
//! every connection in TLS (files, or a self-signed pair made once), and answers the
//! distribution API through one dispatcher ([`routes`]) that authorises each request
//! ([`auth`]: htpasswd with bcrypt, per-repository rules, a built-in token endpoint) before
//! making one store call. Online garbage collection runs beside the serving on an interval.
//! Blobs are served from memory mappings, so their bytes reach the socket without a copy
//! through userspace buffers.

// Unsafe code lives in layer 1 (design.md): never above it.
#![forbid(unsafe_code)]

pub mod auth;
pub mod routes;
pub mod tls;

use berth_registry::store::RegistryStore;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How the server does TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsChoice {
    /// Plain HTTP.
    None,
    /// A certificate and key (PEM files).
    Files {
        /// The certificate chain.
        cert: PathBuf,
        /// Its key.
        key: PathBuf,
    },
    /// A self-signed certificate made once under the root.
    SelfSigned,
}

/// `berth registry serve`'s settings.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where to listen.
    pub addr: SocketAddr,
    /// The storage root.
    pub root: PathBuf,
    /// Accounts (bcrypt htpasswd).
    pub htpasswd: Option<PathBuf>,
    /// Per-repository rules (JSON list of `{account, repository, actions}`).
    pub rules: Option<PathBuf>,
    /// Let anyone pull even with accounts.
    pub anonymous_pull: bool,
    /// TLS.
    pub tls: TlsChoice,
    /// With TLS: the CA whose client certificates are required (mutual TLS).
    pub tls_client_ca: Option<PathBuf>,
    /// Hand out bearer tokens at `/token` (the realm clients are sent to), instead of
    /// checking Basic credentials on every request.
    pub token: bool,
    /// The realm URL to advertise for tokens (default: this server's `/token`).
    pub token_realm: Option<String>,
    /// How long a token is valid, in seconds.
    pub token_ttl: u64,
    /// Refuse every write.
    pub read_only: bool,
    /// How often garbage collection runs (`None`: never).
    pub gc_interval: Option<Duration>,
    /// How old an unreferenced blob must be to be collected.
    pub gc_grace: Duration,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] berth_registry::store::StoreError),
    /// The accounts or rules could not be loaded.
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The address could not be bound.
    #[error("listening on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What the handlers share.
pub struct App {
    store: RegistryStore,
    policy: auth::Policy,
    read_only: bool,
}

impl App {
    /// True when `method` writes and the registry is read-only.
    fn read_only_all_writes(&self, method: &axum::http::Method) -> bool {
        self.read_only && method != axum::http::Method::GET && method != axum::http::Method::HEAD
    }
}

/// Connections served at once; more wait in the kernel's accept queue.
const MAX_CONNECTIONS: usize = 4096;
/// How long a client may take to send a request's headers (no slowloris).
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the server until the process is stopped; `announce` gets the lines to tell the user
/// (where it listens, how to trust a self-signed certificate).
pub async fn serve(opts: ServeOptions, announce: impl Fn(&str)) -> Result<(), ServerError> {
    let store = RegistryStore::open(&opts.root)?;
    let scheme = if opts.tls == TlsChoice::None {
        "http"
    } else {
        "https"
    };
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .map_err(|e| ServerError::Bind {
            addr: opts.addr,
            source: e,
        })?;
    let addr = listener.local_addr().map_err(|e| ServerError::Bind {
        addr: opts.addr,
        source: e,
    })?;
    let realm = opts.token.then(|| {
        opts.token_realm
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{addr}/token"))
    });
    let policy = auth::Policy::load(
        opts.htpasswd.as_deref(),
        opts.rules.as_deref(),
        opts.anonymous_pull,
        realm,
    )?
    .with_token_seconds(opts.token_ttl);
    let tls = match &opts.tls {
        TlsChoice::None => None,
        TlsChoice::Files { cert, key } => {
            Some(tls::from_files(cert, key, opts.tls_client_ca.as_deref())?)
        }
        TlsChoice::SelfSigned => {
            let mut hosts = vec!["localhost".to_string(), "127.0.0.1".to_string()];
            if !addr.ip().is_unspecified() {
                hosts.push(addr.ip().to_string());
            }
            let dir = opts.root.join("tls");
            let (cert, key) = tls::self_signed(&dir, &hosts)?;
            announce(&format!(
                "TLS with a self-signed certificate: {}\nTo trust it: mkdir -p /etc/docker/certs.d/{addr} && cp {} /etc/docker/certs.d/{addr}/ca.crt (the same under /etc/berth/certs.d for Berth), or give it to skopeo with --cert-dir",
                cert.display(),
                cert.display()
            ));
            Some(tls::from_files(&cert, &key, opts.tls_client_ca.as_deref())?)
        }
    };
    if !policy.has_accounts() {
        announce("no accounts (--htpasswd): pulls are open to anyone and every push is refused");
    }
    announce(&format!("berth registry listening on {scheme}://{addr}"));
    let app = Arc::new(App {
        store,
        policy,
        read_only: opts.read_only,
    });
    if let Some(every) = opts.gc_interval {
        let app = app.clone();
        let grace = opts.gc_grace;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let a = app.clone();
                match tokio::task::spawn_blocking(move || a.store.gc(grace)).await {
                    Ok(Ok(r)) if r.removed > 0 || r.uploads > 0 => {
                        tracing::info!(
                            removed = r.removed,
                            bytes = r.bytes,
                            uploads = r.uploads,
                            "garbage collected"
                        );
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "garbage collection failed"),
                    Err(e) => tracing::warn!(error = %e, "garbage collection panicked"),
                }
            }
        });
    }
    let router = axum::Router::new()
        .fallback(routes::dispatch)
        .with_state(app);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return Ok(());
        };
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service = hyper_util::service::TowerToHyperService::new(router);
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let result = match tls {
                Some(config) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(config);
                    match tokio::time::timeout(Duration::from_secs(30), acceptor.accept(tcp)).await
                    {
                        Ok(Ok(stream)) => {
                            http.serve_connection(TokioIo::new(stream), service).await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    }
                }
                None => http.serve_connection(TokioIo::new(tcp), service).await,
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        });
    }
}
