//! Layer 4 of Berth: the Docker Engine API over a unix socket.
//!
//! Routes live in one module per section of Docker's API reference (`routes::system`,
//! `routes::images`); each handler decodes the request, makes one engine call (on a blocking
//! thread, as the engine does file I/O) and encodes the answer. Engine error kinds become HTTP
//! statuses in exactly one place, [`error::ApiError`]. Requests may carry a `/vX.Y` prefix;
//! [`version`] strips it before routing and refuses versions outside the supported range.

pub mod error;
pub mod hijack;
pub mod query;
pub mod routes;
pub mod stream;
pub mod version;

use axum::Router;
use axum::extract::Request;
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
        .merge(version::routes())
        .fallback(routes::not_found)
        .with_state(engine)
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: UnixListener,
    engine: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = tower::util::MapRequestLayer::new(version::strip_prefix::<axum::body::Body>)
        .layer(router(engine));
    axum::serve(
        listener,
        axum::ServiceExt::<Request>::into_make_service(app),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
