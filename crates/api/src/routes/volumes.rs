//! Volume section: list, create, inspect, remove and prune (local driver). Whether a volume is
//! in use is the engine's to know: these handlers only decode and encode.

use crate::AppState;
use crate::error::{ApiError, blocking};
use crate::query::Query;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_api_types::volume::{VolumeCreateOptions, VolumeListResponse};

/// Routes of this section.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect).delete(remove))
}

async fn list(State(engine): State<AppState>, q: Query) -> Result<Response, ApiError> {
    let filters = q.filters()?;
    let volumes = blocking(move || Ok(engine.volume_list(&filters)?)).await?;
    Ok(Json(VolumeListResponse {
        volumes,
        warnings: Vec::new(),
    })
    .into_response())
}

/// Decodes the body ourselves so malformed JSON gets Docker's 400 with a message, not axum's
/// plain-text rejection; an empty body means "all defaults" (`docker volume create`).
async fn create(State(engine): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let opts: VolumeCreateOptions = if body.iter().all(u8::is_ascii_whitespace) {
        VolumeCreateOptions::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    let volume = blocking(move || Ok(engine.volume_create(&opts)?)).await?;
    Ok((StatusCode::CREATED, Json(volume)).into_response())
}

async fn inspect(
    State(engine): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(blocking(move || Ok(engine.volume_inspect(&name)?)).await?).into_response())
}

async fn remove(
    State(engine): State<AppState>,
    Path(name): Path<String>,
    q: Query,
) -> Result<Response, ApiError> {
    let force = q.bool("force");
    blocking(move || Ok(engine.volume_remove(&name, force)?)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn prune(State(engine): State<AppState>, q: Query) -> Result<Response, ApiError> {
    let filters = q.filters()?;
    let report = blocking(move || Ok(engine.volumes_prune(&filters)?)).await?;
    Ok(Json(report).into_response())
}
