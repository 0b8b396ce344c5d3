//! Network section: list, create, inspect, remove, connect, disconnect, prune.

use crate::AppState;
use crate::error::{ApiError, blocking};
use crate::query::Query;
use crate::routes::containers::json_body;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_api_types::network::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
};

/// Routes of this section.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
}

async fn list(State(engine): State<AppState>, q: Query) -> Result<Response, ApiError> {
    let filters = q.filters()?;
    Ok(Json(blocking(move || Ok(engine.network_list(&filters)?)).await?).into_response())
}

async fn create(State(engine): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let req: NetworkCreateRequest = json_body(&body)?;
    let net = blocking(move || Ok(engine.network_create(req)?)).await?;
    Ok((
        StatusCode::CREATED,
        Json(NetworkCreateResponse {
            id: net.id,
            warning: String::new(),
        }),
    )
        .into_response())
}

async fn inspect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(blocking(move || Ok(engine.network_inspect(&id)?)).await?).into_response())
}

async fn remove(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    blocking(move || Ok(engine.network_remove(&id)?)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn connect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: NetworkConnectRequest = json_body(&body)?;
    blocking(move || Ok(engine.network_connect(&id, req)?)).await?;
    Ok(StatusCode::OK.into_response())
}

async fn disconnect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: NetworkDisconnectRequest = json_body(&body)?;
    blocking(move || Ok(engine.network_disconnect(&id, req)?)).await?;
    Ok(StatusCode::OK.into_response())
}

async fn prune(State(engine): State<AppState>, q: Query) -> Result<Response, ApiError> {
    let filters = q.filters()?;
    Ok(Json(blocking(move || Ok(engine.network_prune(&filters)?)).await?).into_response())
}
