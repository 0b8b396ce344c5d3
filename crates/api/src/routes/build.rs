//! Build section: `POST /build` (the classic builder's endpoint: a tar context in the body,
//! Docker's JSON messages back), `POST /build/prune`, and Berth's `POST /build/context` (which
//! files of a context directory the daemon lacks, so `berth build` sends only those).
//!
//! Errors before the build starts (a malformed query) are HTTP errors; once the stream is
//! open, a failure is an `errorDetail` message, as Docker sends it, which `docker build`
//! prints and exits 1 on.

use crate::AppState;
use crate::error::{ApiError, blocking};
use crate::query::Query;
use crate::stream::json_message_stream;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use berth_api_types::progress::JsonMessage;
use berth_engine::build::BuildOptions;
use futures_util::TryStreamExt;
use std::collections::BTreeMap;
use tokio_util::io::{StreamReader, SyncIoBridge};

/// Routes of this section.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/build", post(build))
        .route("/build/prune", post(prune))
        .route(
            "/build/context",
            post(context_needs).layer(axum::extract::DefaultBodyLimit::max(
                berth_api_types::build::MANIFEST_LIMIT,
            )),
        )
}

/// A JSON object of strings in the query (`buildargs`, `labels`); a `null` value (a build arg
/// given without a value the client could not resolve) is left out, as Docker does.
fn string_map(q: &Query, key: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let Some(raw) = q.get_nonempty(key) else {
        return Ok(BTreeMap::new());
    };
    let parsed: BTreeMap<String, Option<String>> = serde_json::from_str(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid {key} {raw:?}: {e}")))?;
    Ok(parsed
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect())
}

/// The build's options from the query the classic builder takes.
fn options(q: &Query) -> Result<BuildOptions, ApiError> {
    if q.get("version") == Some("2") {
        return Err(ApiError::bad_request(
            "BuildKit (version=2) is not served by Berth: build with the classic builder (DOCKER_BUILDKIT=0)",
        ));
    }
    let extra_hosts = q
        .get_all("extrahosts")
        .into_iter()
        .flat_map(|h| h.split(',').map(str::to_string).collect::<Vec<_>>())
        .filter(|h| !h.is_empty())
        .collect();
    Ok(BuildOptions {
        dockerfile: q.get("dockerfile").unwrap_or_default().to_string(),
        tags: q
            .get_all("t")
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect(),
        build_args: string_map(q, "buildargs")?,
        target: q.get_nonempty("target").map(str::to_string),
        labels: string_map(q, "labels")?,
        no_cache: q.bool("nocache"),
        quiet: q.bool("q"),
        network: q.get("networkmode").unwrap_or_default().to_string(),
        extra_hosts,
        platform: q.get_nonempty("platform").map(str::to_string),
        session: q.get_nonempty("session").map(str::to_string),
        remote: q.get_nonempty("remote").map(str::to_string),
        pull: q.bool("pull"),
        registry_auth: Default::default(),
    })
}

/// `POST /build`.
async fn build(
    State(engine): State<AppState>,
    q: Query,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Response {
    let mut opts = match options(&q) {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    opts.registry_auth = match crate::routes::images::registry_config(&headers) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let quiet = opts.quiet;
    let mut reader = SyncIoBridge::new(StreamReader::new(
        body.into_data_stream().map_err(std::io::Error::other),
    ));
    let (tx, resp) = json_message_stream();
    tokio::task::spawn_blocking(move || {
        let sink = tx.clone();
        let mut progress = move |m: JsonMessage| sink.send(m);
        match engine.build_image(opts, &mut reader, &mut progress) {
            Ok(outcome) => {
                let id = outcome.id.to_string();
                tx.send(JsonMessage {
                    aux: Some(serde_json::json!({ "ID": id })),
                    ..JsonMessage::default()
                });
                if quiet {
                    tx.send(JsonMessage::stream(format!("{id}\n")));
                }
            }
            Err(e) => {
                tracing::info!(error = %e, "build failed");
                tx.send(JsonMessage::error(e.to_string()));
            }
        }
    });
    resp
}

/// `POST /build/context?session=KEY`: the manifest of a context directory in, the paths of
/// the files the daemon wants sent out.
async fn context_needs(
    State(engine): State<AppState>,
    q: Query,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let manifest: Vec<berth_api_types::build::ContextEntry> = super::containers::json_body(&body)?;
    let key = q
        .get_nonempty("session")
        .ok_or_else(|| ApiError::bad_request("session is required"))?
        .to_string();
    let need = blocking(move || Ok(engine.build_context_needs(&key, &manifest)?)).await?;
    Ok(Json(need).into_response())
}

/// `POST /build/prune`: `all`, `keep-storage` (or its newer name `reserved-space`) and the
/// `until` filter.
async fn prune(State(engine): State<AppState>, q: Query) -> Result<Response, ApiError> {
    let filters = q.filters()?;
    let keep = q
        .get_nonempty("keep-storage")
        .or_else(|| q.get_nonempty("reserved-space"))
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid keep-storage {v:?}")))
        })
        .transpose()?
        .filter(|k| *k > 0);
    let opts = berth_engine::build::CachePrune {
        all: q.bool("all"),
        filters,
        keep_storage: keep,
    };
    let report = blocking(move || Ok(engine.build_prune(&opts)?)).await?;
    Ok(Json(report).into_response())
}
