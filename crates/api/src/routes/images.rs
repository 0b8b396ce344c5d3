//! Image section: list, inspect, history, tag, delete, prune, load, save, import, pull and
//! push.
//!
//! Image names may contain slashes (`ghcr.io/org/app:1`), so `/images/{name}/json` cannot be a
//! plain route pattern; [`by_name`] takes the rest of the path and splits off the action.

use crate::AppState;
use crate::error::{ApiError, blocking};
use crate::query::Query;
use crate::stream::{json_message_stream, json_message_stream_async};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_api_types::progress::JsonMessage;
use berth_common::Reference;
use berth_engine::images::ImportOptions;
use berth_engine::pull::PullRequest;
use berth_engine::push::PushRequest;
use futures_util::TryStreamExt;
use tokio_util::io::{StreamReader, SyncIoBridge};

/// Routes of this section.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/images/json", get(list))
        .route("/images/load", post(load))
        .route("/images/get", get(save_many))
        .route("/images/create", post(create))
        .route("/images/prune", post(prune))
        .route("/images/search", get(search))
        .route(
            "/images/{*rest}",
            get(by_name).post(by_name).delete(by_name),
        )
        .route("/distribution/{*name}", get(distribution))
}

/// `GET /distribution/{name}/json`: what the registry holds for a reference (its manifest's
/// descriptor and platforms), asked without pulling.
async fn distribution(
    State(engine): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(name) = name.strip_suffix("/json") else {
        return Err(ApiError::new(
            berth_common::ErrorKind::NotFound,
            format!("page not found: /distribution/{name}"),
        ));
    };
    let auth = registry_auth(&headers)?;
    let answer = engine.distribution_inspect(name, auth.as_ref()).await?;
    Ok(Json(answer).into_response())
}

/// The credentials of `X-Registry-Auth` (base64url JSON of an auth config, padded or not);
/// none when absent or empty (`e30=`, `{}`), as the docker CLI sends for anonymous pulls.
pub(crate) fn registry_auth(
    headers: &HeaderMap,
) -> Result<Option<berth_api_types::system::AuthConfig>, ApiError> {
    let Some(auth) =
        header_json::<berth_api_types::system::AuthConfig>(headers, "x-registry-auth")?
    else {
        return Ok(None);
    };
    if auth.username.is_empty() && auth.password.is_empty() && auth.identitytoken.is_empty() {
        return Ok(None);
    }
    Ok(Some(auth))
}

/// A header holding base64url (padded or not) JSON, decoded; `None` when absent or empty.
fn header_json<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    name: &str,
) -> Result<Option<T>, ApiError> {
    use base64::Engine as _;
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim().trim_end_matches('=');
    if text.is_empty() {
        return Ok(None);
    }
    let bad = |why: String| ApiError::bad_request(format!("invalid {name} header: {why}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
        .map_err(|e| bad(e.to_string()))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| bad(e.to_string()))
}

/// `GET /images/search?term=&limit=&filters=`.
async fn search(
    State(engine): State<AppState>,
    q: Query,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let term = q
        .get_nonempty("term")
        .ok_or_else(|| ApiError::bad_request("a search term is required"))?
        .to_string();
    let limit = match q.get_nonempty("limit") {
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
        None => 0,
    };
    let filters = q.filters()?;
    let auth = registry_auth(&headers)?;
    let results = engine
        .image_search(&term, limit, &filters, auth.as_ref())
        .await?;
    Ok(Json(results).into_response())
}

/// The credentials of `X-Registry-Config` (a build's: base64url JSON of a map from registry
/// to auth config), for pulling base images.
pub(crate) fn registry_config(
    headers: &HeaderMap,
) -> Result<std::collections::BTreeMap<String, berth_api_types::system::AuthConfig>, ApiError> {
    Ok(header_json(headers, "x-registry-config")?.unwrap_or_default())
}

/// Fields image inspect carried in older API versions: `VirtualSize` before 1.44, as Docker;
/// `ContainerConfig` (the config of the container an image was committed from; Berth has
/// none, so the image's own config, which is what clients read from it) and `Container` at
/// every version, on purpose: docker-compose 1.29 negotiates the newest version, reads
/// `ContainerConfig.Volumes` on every recreate and crashes without it (it does against Docker
/// 25+), while newer clients ignore the extra fields.
fn with_legacy_image_fields(value: &mut serde_json::Value, version: crate::version::ApiVersion) {
    let Some(obj) = value.as_object_mut() else {
        return;
    };
    let config = obj
        .get("Config")
        .cloned()
        .unwrap_or_else(|| serde_json::json!({}));
    obj.entry("ContainerConfig").or_insert(config);
    obj.entry("Container")
        .or_insert_with(|| serde_json::json!(""));
    if version.before(1, 44) {
        let size = obj.get("Size").cloned().unwrap_or(serde_json::json!(0));
        obj.entry("VirtualSize").or_insert(size);
    }
}

async fn list(State(engine): State<AppState>, q: Query) -> Result<Response, ApiError> {
    let filters = q.filters()?;
    let all = q.bool("all");
    let images = blocking(move || Ok(engine.image_list(&filters, all)?)).await?;
    Ok(Json(images).into_response())
}

/// `/images/{name}/json|history|get|tag` and `DELETE /images/{name}`.
async fn by_name(
    State(engine): State<AppState>,
    version: crate::version::ApiVersion,
    method: Method,
    Path(rest): Path<String>,
    q: Query,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let action = rest
        .rsplit_once('/')
        .filter(|(_, a)| matches!(*a, "json" | "history" | "get" | "tag" | "push"));
    match (method, action) {
        (Method::GET, Some((name, "json"))) => {
            let name = name.to_string();
            let inspect = blocking(move || Ok(engine.image_inspect(&name)?)).await?;
            let mut value =
                serde_json::to_value(&inspect).map_err(|e| ApiError::internal(e.to_string()))?;
            with_legacy_image_fields(&mut value, version);
            Ok(Json(value).into_response())
        }
        (Method::GET, Some((name, "history"))) => {
            let name = name.to_string();
            Ok(Json(blocking(move || Ok(engine.image_history(&name)?)).await?).into_response())
        }
        (Method::GET, Some((name, "get"))) => save(engine, vec![name.to_string()]).await,
        (Method::POST, Some((name, "tag"))) => {
            let name = name.to_string();
            let repo = q.get_nonempty("repo").ok_or_else(|| {
                ApiError::bad_request("repository name must have at least one component")
            })?;
            let target = Reference::with_repo_and_tag(repo, q.get_nonempty("tag"))
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            blocking(move || Ok(engine.image_tag(&name, &target)?)).await?;
            Ok(StatusCode::CREATED.into_response())
        }
        (Method::POST, Some((name, "push"))) => {
            let req = PushRequest {
                name: name.to_string(),
                tag: q.get("tag").unwrap_or("").to_string(),
                auth: registry_auth(&headers)?,
            };
            let resolved = engine.push_resolve(&req).await?;
            let (tx, resp) = json_message_stream_async();
            tokio::spawn(async move {
                let send = |m| tx.send(m);
                if let Err(e) = engine.push_send(resolved, &send).await {
                    tx.send(JsonMessage::error(e.to_string()));
                }
            });
            Ok(resp)
        }
        (Method::DELETE, _) => {
            let (force, noprune) = (q.bool("force"), q.bool("noprune"));
            let items = blocking(move || Ok(engine.image_remove(&rest, force, noprune)?)).await?;
            Ok(Json(items).into_response())
        }
        (method, _) => Err(ApiError::new(
            berth_common::ErrorKind::NotFound,
            format!("page not found: {method} /images/{rest}"),
        )),
    }
}

async fn prune(State(engine): State<AppState>, q: Query) -> Result<Response, ApiError> {
    let filters = q.filters()?;
    // Docker prunes only dangling images unless the client sends dangling=false (`prune -a`).
    let dangling_only = !filters
        .get("dangling")
        .iter()
        .any(|v| v == "false" || v == "0");
    let report = blocking(move || Ok(engine.images_prune(dangling_only, &filters)?)).await?;
    Ok(Json(report).into_response())
}

/// `POST /images/load`: the body is an archive; answers a JSON progress stream.
async fn load(State(engine): State<AppState>, q: Query, body: Body) -> Response {
    let quiet = q.bool("quiet");
    let reader = SyncIoBridge::new(StreamReader::new(
        body.into_data_stream().map_err(std::io::Error::other),
    ));
    let (tx, resp) = json_message_stream();
    tokio::task::spawn_blocking(move || {
        let mut progress = |m: JsonMessage| {
            if !(quiet && m.progress_detail.is_some()) {
                tx.send(m);
            }
        };
        if let Err(e) = engine.image_load(reader, &mut progress) {
            tracing::warn!(error = %e, "image load failed");
            tx.send(JsonMessage::error(e.to_string()));
        }
    });
    resp
}

async fn save_many(State(engine): State<AppState>, q: Query) -> Result<Response, ApiError> {
    save(engine, q.get_all("names")).await
}

/// Streams a `docker save` archive. Names are resolved first so a missing image is a proper
/// 404; a failure after streaming began (a corrupted blob) aborts the connection so the client
/// never mistakes a truncated archive for a complete one.
async fn save(engine: AppState, names: Vec<String>) -> Result<Response, ApiError> {
    if names.is_empty() {
        return Err(ApiError::bad_request("no image names given"));
    }
    let write = blocking(move || Ok(engine.image_save(names)?)).await?;
    Ok(crate::stream::blocking_archive(move |sink| {
        write(sink).map_err(|e| e.to_string())
    }))
}

/// `POST /images/create`: `fromImage` pulls from a registry (credentials in
/// `X-Registry-Auth`), `fromSrc=-` imports the body as a root file system.
async fn create(
    State(engine): State<AppState>,
    q: Query,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if let Some(image) = q.get_nonempty("fromImage") {
        let req = PullRequest {
            image: image.to_string(),
            tag: q.get("tag").unwrap_or("").to_string(),
            platform: q.get("platform").unwrap_or("").to_string(),
            auth: registry_auth(&headers)?,
        };
        // Failures before the first byte (no such repository or tag, refused credentials)
        // get their own status, as from dockerd; later ones end the stream.
        let resolved = engine.pull_resolve(&req).await?;
        let (tx, resp) = json_message_stream_async();
        tokio::spawn(async move {
            let sink = tx.clone();
            let send: berth_engine::pull::Progress = std::sync::Arc::new(move |m| sink.send(m));
            if let Err(e) = engine.pull_fetch(resolved, &req, send).await {
                tx.send(JsonMessage::error(e.to_string()));
            }
        });
        return Ok(resp);
    }
    match q.get_nonempty("fromSrc") {
        Some("-") => {}
        Some(src) => {
            return Err(ApiError::bad_request(format!(
                "importing from {src:?} is not supported: send the archive in the request body (fromSrc=-)"
            )));
        }
        None => {
            return Err(ApiError::bad_request(
                "either fromImage or fromSrc must be given",
            ));
        }
    }
    let reference = match q.get_nonempty("repo") {
        Some(repo) => Some(
            Reference::with_repo_and_tag(repo, q.get_nonempty("tag"))
                .map_err(|e| ApiError::bad_request(e.to_string()))?,
        ),
        None => None,
    };
    let opts = ImportOptions {
        reference,
        message: q.get("message").unwrap_or("").to_string(),
        changes: q.get_all("changes"),
        ..Default::default()
    };
    let reader = SyncIoBridge::new(StreamReader::new(
        body.into_data_stream().map_err(std::io::Error::other),
    ));
    let (tx, resp) = json_message_stream();
    tokio::task::spawn_blocking(move || match engine.image_import(reader, opts) {
        Ok(id) => tx.send(JsonMessage::status(id.to_string())),
        Err(e) => tx.send(JsonMessage::error(e.to_string())),
    });
    Ok(resp)
}
