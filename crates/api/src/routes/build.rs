//! Build section: `POST /build/prune`.
//!
//! Berth has no build cache yet (the builder is its own issue), so pruning it frees nothing —
//! but it is answered as Docker answers an empty cache, because `docker system prune` calls it
//! and treats a 404 as a failure of the whole prune.

use crate::AppState;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

/// Routes of this section.
pub fn routes() -> Router<AppState> {
    Router::new().route("/build/prune", post(prune))
}

/// An empty cache's prune report.
async fn prune() -> Response {
    Json(json!({ "CachesDeleted": [], "SpaceReclaimed": 0 })).into_response()
}
