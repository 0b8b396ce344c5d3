//! Layer 4 of Berth: the Docker Engine API over a unix socket.
//!
//! Routes live in one module per section of Docker's API reference (`routes::system`,
//! `routes::images`); each handler decodes the request, makes one engine call (on a blocking
//! thread, as the engine does file I/O) and encodes the answer. Engine error kinds become HTTP
//! statuses in exactly one place, [`error::ApiError`]. Requests may carry a `/vX.Y` prefix;
//! [`version`] strips it before routing and refuses versions outside the supported range.

// Unsafe code lives in layer 1 (design.md): never above it.
#![forbid(unsafe_code)]

pub mod error;
pub mod hijack;
pub mod query;
pub mod routes;
pub mod stream;
pub mod version;

use axum::Router;
use berth_engine::Engine;
use std::future::Future;
use std::sync::Arc;
use tokio::net::UnixListener;
use tower::Layer;

/// Shared state handed to every handler.
pub type AppState = Arc<Engine>;

/// All routes, without the version-prefix handling.
pub fn router(engine: AppState) -> Router {
    Router::new()
        .merge(routes::system::routes())
        .merge(routes::events::routes())
        .merge(routes::images::routes())
        .merge(routes::volumes::routes())
        .merge(routes::containers::routes())
        .merge(routes::exec::routes())
        .merge(routes::networks::routes())
        .merge(routes::build::routes())
        .merge(routes::swarm::routes())
        .merge(version::routes())
        .fallback(routes::not_found)
        .with_state(engine)
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes in-flight requests.
///
/// Connections are served by hyper's HTTP/1 server directly (not through a protocol-sniffing
/// wrapper), so a hijacked connection can be taken back as the unix stream it is (see
/// [`hijack`]): that is what lets an attach waiting for its container notice a client that
/// went away.
pub async fn serve(
    listener: UnixListener,
    engine: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use tower::ServiceExt;
    let app = tower::util::MapRequestLayer::new(version::strip_prefix::<axum::body::Body>)
        .layer(router(engine));
    // Connections watch `stopping` to finish their requests and close; `open` counts them.
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let open = Arc::new(tokio::sync::Semaphore::new(0));
    let mut served: u32 = 0;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of descriptors, say: back off instead of spinning.
                        tracing::warn!(error = %e, "accepting a connection");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let app = app.clone();
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    app.clone().oneshot(req.map(axum::body::Body::new))
                });
                let mut stopping = stopping.clone();
                let open = open.clone();
                served = served.saturating_add(1);
                tokio::spawn(async move {
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .with_upgrades();
                    tokio::pin!(conn);
                    let result = tokio::select! {
                        r = conn.as_mut() => r,
                        _ = async { stopping.wait_for(|s| *s).await.map(|_| ()) } => {
                            conn.as_mut().graceful_shutdown();
                            conn.await
                        }
                    };
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    open.add_permits(1);
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = stopping_tx.send(true);
    // Every connection hands back one permit when it ends.
    let _ = open.acquire_many(served).await;
    Ok(())
}
