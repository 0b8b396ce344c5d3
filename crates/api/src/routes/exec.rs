//! Exec section: `POST /containers/{id}/exec`, `POST /exec/{id}/start` (hijacked unless
//! detached), `GET /exec/{id}/json`, `POST /exec/{id}/resize`.

use crate::AppState;
use crate::error::{ApiError, blocking};
use crate::hijack::{self, Pipe};
use crate::query::Query;
use crate::routes::containers::json_body;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_api_types::exec::{ExecConfig, ExecStartConfig};
use serde_json::json;

/// Routes of this section.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/{id}/exec", post(create))
        .route("/exec/{id}/start", post(start))
        .route("/exec/{id}/json", get(inspect))
        .route("/exec/{id}/resize", post(resize))
}

async fn create(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let config: ExecConfig = json_body(&body)?;
    let exec_id = blocking(move || Ok(engine.exec_create(&id, config)?)).await?;
    Ok((StatusCode::CREATED, Json(json!({ "Id": exec_id }))).into_response())
}

async fn start(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the body: {e}")))?;
    let start: ExecStartConfig = json_body(&bytes)?;
    let info = {
        let (engine, id) = (engine.clone(), id.clone());
        blocking(move || Ok(engine.exec_inspect(&id)?)).await?
    };
    if start.detach {
        let console = start.console_size;
        blocking(move || {
            engine.exec_start(&id, true, start.tty, console)?;
            Ok(())
        })
        .await?;
        return Ok(StatusCode::OK.into_response());
    }
    // Docker's rule: the start request's `Tty` decides the framing (raw or stdcopy), whatever
    // the create said (which decides whether the process has a terminal).
    let tty = start.tty;
    let stdin = info.open_stdin;
    let detach_keys = hijack::parse_detach_keys(&info.detach_keys)?;
    let req = Request::from_parts(parts, axum::body::Body::empty());
    let console = start.console_size;
    hijack::upgrade(req, tty, move || async move {
        let (e2, id2) = (engine.clone(), id.clone());
        let stream = blocking(move || {
            e2.exec_start(&id2, false, tty, console)?
                .ok_or_else(|| ApiError::internal("exec produced no stream"))
        })
        .await?;
        Ok(Pipe {
            prelude: Vec::new(),
            stream: Some(Box::new(stream.stream)),
            stdin,
            detach_keys: tty.then_some(detach_keys),
            on_end: Some(Box::new(move || engine.exec_collect(&id))),
            early_input: Vec::new(),
        })
    })
}

async fn inspect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(blocking(move || Ok(engine.exec_inspect(&id)?)).await?).into_response())
}

async fn resize(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, ApiError> {
    let parse = |k: &str| -> Result<u16, ApiError> {
        q.get_nonempty(k)
            .unwrap_or("0")
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid {k}")))
    };
    let (h, w) = (parse("h")?, parse("w")?);
    blocking(move || Ok(engine.exec_resize(&id, h, w)?)).await?;
    Ok(StatusCode::OK.into_response())
}
