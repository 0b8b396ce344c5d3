//! System section: `/_ping`, `/version`, `/info`, `/system/df`, `/auth`.

use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use berth_api_types::API_VERSION;

/// Routes of this section.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_ping", get(ping).head(ping))
        .route("/version", get(version))
        .route("/info", get(info))
        .route("/system/df", get(disk_usage))
        .route("/auth", axum::routing::post(auth))
}

/// `POST /auth` (`docker login`): the registry checks the credentials; a refusal is a 401 in
/// Docker's words, which the docker CLI prints.
async fn auth(
    State(engine): State<AppState>,
    body: axum::body::Bytes,
) -> Result<axum::response::Response, crate::error::ApiError> {
    let req: berth_api_types::system::AuthConfig = super::containers::json_body(&body)?;
    let answer = engine.registry_login(&req).await?;
    Ok(Json(answer).into_response())
}

/// `GET /system/df` (`docker system df`).
async fn disk_usage(
    State(engine): State<AppState>,
) -> Result<axum::response::Response, crate::error::ApiError> {
    let df = crate::error::blocking(move || Ok(engine.disk_usage()?)).await?;
    Ok(Json(df).into_response())
}

/// Every client starts with this; the `Api-Version` header drives version negotiation.
async fn ping(method: Method) -> impl IntoResponse {
    let mut h = HeaderMap::new();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("OSType", HeaderValue::from_static("linux"));
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert("Swarm", HeaderValue::from_static("inactive"));
    h.insert(
        "Cache-Control",
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert("Pragma", HeaderValue::from_static("no-cache"));
    h.insert(
        "Content-Type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    let body = if method == Method::HEAD { "" } else { "OK" };
    (h, body)
}

async fn version(State(engine): State<AppState>) -> impl IntoResponse {
    Json(engine.version())
}

async fn info(State(engine): State<AppState>) -> impl IntoResponse {
    let e = engine.clone();
    match tokio::task::spawn_blocking(move || e.info()).await {
        Ok(info) => Json(info).into_response(),
        Err(err) => crate::error::ApiError::internal(err.to_string()).into_response(),
    }
}
