//! Container section: create, start, stop, kill, restart, remove, wait, list, inspect, attach,
//! logs, resize, pause, unpause, rename, top, stats, update, changes, prune.

use crate::AppState;
use crate::error::{ApiError, blocking};
use crate::hijack::{self, Pipe};
use crate::query::Query;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use berth_api_types::container::{
    ContainerCreateRequest, ContainerUpdateRequest, ContainerUpdateResponse, ContainerWaitResponse,
    WaitError,
};
use berth_api_types::stdcopy;
use berth_engine::EngineError;
use berth_engine::containers::WaitCondition;
use berth_engine::containers::control::AttachOptions;
use berth_engine::containers::logs::{LogLine, LogOptions};
use berth_engine::containers::query::ListOptions;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

/// Routes of this section.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/create", post(create))
        .route("/commit", post(commit))
        .route("/containers/json", get(list))
        .route("/containers/prune", post(prune))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}/attach", post(attach))
        .route("/containers/{id}/logs", get(logs))
        .route("/containers/{id}/resize", post(resize))
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/{id}/top", get(top))
        .route("/containers/{id}/stats", get(stats))
        .route("/containers/{id}/update", post(update))
        .route("/containers/{id}/changes", get(diff))
        .route("/containers/{id}/export", get(export))
        .route(
            "/containers/{id}/archive",
            get(archive_get).head(archive_head).put(archive_put),
        )
        .route("/containers/{id}", delete(remove))
        .route("/containers/{id}/{alias}", delete(remove_link))
}

/// Decodes a JSON body with Docker's 400 on malformed input; an empty body is the default.
pub(crate) fn json_body<T: serde::de::DeserializeOwned + Default>(
    body: &Bytes,
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

async fn create(
    State(engine): State<AppState>,
    q: Query,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: ContainerCreateRequest = json_body(&body)?;
    let name = q.get("name").map(str::to_string);
    let created = blocking(move || Ok(engine.container_create(name.as_deref(), request)?)).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn list(State(engine): State<AppState>, q: Query) -> Result<Response, ApiError> {
    let opts = ListOptions {
        all: q.bool("all"),
        limit: q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(0),
        size: q.bool("size"),
        filters: q.filters()?,
    };
    let rows = blocking(move || Ok(engine.container_list(&opts)?)).await?;
    Ok(Json(rows).into_response())
}

async fn inspect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, ApiError> {
    let size = q.bool("size");
    let r = blocking(move || Ok(engine.container_inspect(&id, size)?)).await?;
    Ok(Json(r).into_response())
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

async fn start(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    blocking(move || Ok(engine.container_start(&id)?)).await?;
    Ok(no_content())
}

fn timeout(q: &Query) -> Result<Option<i64>, ApiError> {
    q.get_nonempty("t")
        .or_else(|| q.get_nonempty("timeout"))
        .map(|t| {
            t.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid timeout {t:?}")))
        })
        .transpose()
}

async fn stop(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, ApiError> {
    let t = timeout(&q)?;
    let signal = q.get_nonempty("signal").map(str::to_string);
    engine.container_stop(&id, t, signal.as_deref()).await?;
    Ok(no_content())
}

async fn restart(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, ApiError> {
    let t = timeout(&q)?;
    let signal = q.get_nonempty("signal").map(str::to_string);
    engine.container_restart(&id, t, signal.as_deref()).await?;
    Ok(no_content())
}

async fn kill(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, ApiError> {
    let signal = q.get_nonempty("signal").map(str::to_string);
    engine.container_kill(&id, signal.as_deref()).await?;
    Ok(no_content())
}

async fn remove(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, ApiError> {
    let (force, volumes) = (q.bool("force"), q.bool("v"));
    if q.bool("link") {
        return Err(ApiError::bad_request("links are not supported"));
    }
    engine.container_remove(&id, force, volumes).await?;
    Ok(no_content())
}

/// `DELETE /containers/{id}/{alias}?link=1`: removes a legacy link.
async fn remove_link(
    State(engine): State<AppState>,
    Path((id, alias)): Path<(String, String)>,
    q: Query,
) -> Result<Response, ApiError> {
    if !q.bool("link") {
        return Err(ApiError::bad_request(format!(
            "DELETE /containers/{id}/{alias} removes a link: add link=1"
        )));
    }
    blocking(move || Ok(engine.container_remove_link(&id, &alias)?)).await?;
    Ok(no_content())
}

/// `POST /containers/{id}/wait`: the status line goes out at once (clients register the wait
/// before they start the container), the body when the condition holds.
async fn wait(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, ApiError> {
    let condition: WaitCondition = q
        .get("condition")
        .unwrap_or("")
        .parse()
        .map_err(|e: EngineError| ApiError::bad_request(e.to_string()))?;
    // An unknown container fails here (404), before the 200 is committed. (An in-memory
    // lookup: no blocking thread needed.) The body is the engine's future: no thread waits,
    // and a client that goes away drops it.
    let waiting = engine.container_wait(&id, condition)?;
    let body = futures_util::stream::once(async move {
        let body = match waiting.await {
            Ok(r) => ContainerWaitResponse {
                status_code: r.status_code,
                error: r.error.map(|message| WaitError { message }),
            },
            Err(e) => ContainerWaitResponse {
                status_code: -1,
                error: Some(WaitError {
                    message: e.to_string(),
                }),
            },
        };
        let mut line = serde_json::to_vec(&body).unwrap_or_default();
        line.push(b'\n');
        Ok::<_, std::convert::Infallible>(Bytes::from(line))
    });
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

async fn attach(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    q: Query,
    req: Request,
) -> Result<Response, ApiError> {
    let detach_keys = hijack::parse_detach_keys(q.get("detachKeys").unwrap_or(""))?;
    // `logs=1` replays what was logged first; `stream=0` ends there (Docker's defaults are
    // false for both; an attach without `stream` is taken as a live one, as clients mean it).
    let opts = AttachOptions {
        stdin: q.bool("stdin"),
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
        logs: q.bool("logs"),
        stream: !matches!(q.get("stream"), Some("0" | "false" | "False")),
    };
    let attach = blocking(move || Ok(engine.container_attach(&id, opts)?)).await?;
    let tty = attach.tty;
    hijack::upgrade(req, tty, move || async move {
        let prelude = attach
            .logged
            .iter()
            .flat_map(|line| encode_log_line(line, tty))
            .collect();
        let stream = match attach.live {
            Some(live) => Some(Box::new(live.stream().await?) as Box<dyn hijack::ProcessIo>),
            None => None,
        };
        Ok(Pipe {
            prelude,
            stream,
            stdin: opts.stdin,
            detach_keys: tty.then_some(detach_keys),
            on_end: None,
            early_input: Vec::new(),
        })
    })
}

/// One log line as a client reads it: raw for a TTY, else framed with stdcopy.
fn encode_log_line(line: &LogLine, tty: bool) -> Vec<u8> {
    if tty {
        return line.text.clone();
    }
    let mut framed = Vec::with_capacity(line.text.len() + 8);
    stdcopy::encode(line.stream, &line.text, &mut framed);
    framed
}

/// Parses `since`/`until` of logs: Unix seconds with optional fraction, or RFC 3339.
fn log_time(q: &Query, key: &str) -> Result<Option<i128>, ApiError> {
    match q.get_nonempty(key) {
        None | Some("0") => Ok(None),
        Some(v) => berth_engine::events::parse_event_time(v)
            .map(|n| Some(i128::from(n)))
            .map_err(|e| ApiError::bad_request(e.to_string())),
    }
}

async fn logs(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, ApiError> {
    let tail = match q.get_nonempty("tail") {
        None | Some("all") => None,
        Some(t) => Some(
            t.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid tail {t:?}")))?,
        ),
    };
    let opts = LogOptions {
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
        timestamps: q.bool("timestamps"),
        follow: q.bool("follow"),
        since: log_time(&q, "since")?,
        until: log_time(&q, "until")?,
        tail,
    };
    let feed = blocking(move || Ok(engine.container_logs(&id, opts)?)).await?;
    let tty = feed.tty;
    let content_type = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let body = ReceiverStream::new(feed.lines).map(move |line| {
        Ok::<_, std::convert::Infallible>(Bytes::from(encode_log_line(&line, tty)))
    });
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(resp)
}

fn dimension(q: &Query, key: &str) -> Result<u16, ApiError> {
    q.get_nonempty(key)
        .unwrap_or("0")
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid {key}")))
}

async fn resize(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, ApiError> {
    let (h, w) = (dimension(&q, "h")?, dimension(&q, "w")?);
    blocking(move || Ok(engine.container_resize(&id, h, w)?)).await?;
    Ok(StatusCode::OK.into_response())
}

async fn pause(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    blocking(move || Ok(engine.container_pause(&id)?)).await?;
    Ok(no_content())
}

async fn unpause(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    blocking(move || Ok(engine.container_unpause(&id)?)).await?;
    Ok(no_content())
}

async fn rename(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, ApiError> {
    let name = q
        .get_nonempty("name")
        .ok_or_else(|| ApiError::bad_request("name is required"))?
        .to_string();
    blocking(move || Ok(engine.container_rename(&id, &name)?)).await?;
    Ok(no_content())
}

async fn top(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, ApiError> {
    let ps_args = q.get("ps_args").unwrap_or("").to_string();
    Ok(Json(blocking(move || Ok(engine.container_top(&id, &ps_args)?)).await?).into_response())
}

/// `GET /containers/{id}/stats`: one sample with `stream=false`, else one per second.
async fn stats(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, ApiError> {
    let stream = q
        .get("stream")
        .is_none_or(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    if !stream {
        let one_shot = q.bool("one-shot");
        let sample = engine.container_stats_once(&id, one_shot).await?;
        return Ok(Json(sample).into_response());
    }
    let samples = engine.container_stats_stream(&id).await?;
    let body = ReceiverStream::new(samples).map(|sample| {
        let mut line = serde_json::to_vec(&sample).unwrap_or_default();
        line.push(b'\n');
        Ok::<_, std::convert::Infallible>(Bytes::from(line))
    });
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

async fn update(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: ContainerUpdateRequest = json_body(&body)?;
    let warnings = blocking(move || Ok(engine.container_update(&id, &req)?)).await?;
    Ok(Json(ContainerUpdateResponse { warnings }).into_response())
}

async fn diff(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let list = blocking(move || Ok(engine.container_changes(&id)?)).await?;
    Ok(Json(list).into_response())
}

async fn prune(State(engine): State<AppState>, q: Query) -> Result<Response, ApiError> {
    let filters = q.filters()?;
    let report = blocking(move || Ok(engine.container_prune(&filters)?)).await?;
    Ok(Json(report).into_response())
}

const PATH_STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

fn path_stat_header(
    stat: &berth_engine::containers::archive::PathStat,
) -> Result<HeaderValue, ApiError> {
    use base64::Engine as _;
    let json = serde_json::to_vec(stat).map_err(|e| ApiError::internal(e.to_string()))?;
    HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(json))
        .map_err(|e| ApiError::internal(e.to_string()))
}

fn archive_path(q: &Query) -> Result<String, ApiError> {
    q.get_nonempty("path")
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request("path is required"))
}

async fn archive_head(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, ApiError> {
    let path = archive_path(&q)?;
    let stat = blocking(move || Ok(engine.container_stat_path(&id, &path)?)).await?;
    let mut resp = StatusCode::OK.into_response();
    resp.headers_mut()
        .insert(PATH_STAT_HEADER, path_stat_header(&stat)?);
    Ok(resp)
}

async fn archive_get(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, ApiError> {
    let path = archive_path(&q)?;
    // One engine call resolves the path and streams it; its stat arrives before the first byte,
    // so an error up to then (say, a path a racing container just removed) is a real status.
    type Stat = berth_engine::containers::archive::PathStat;
    let (stat_tx, stat_rx) =
        tokio::sync::oneshot::channel::<Result<Stat, berth_engine::EngineError>>();
    let mut resp = crate::stream::blocking_archive(move |out| {
        let mut stat_tx = Some(stat_tx);
        let mut on_stat = |stat: &Stat| {
            if let Some(tx) = stat_tx.take() {
                let _ = tx.send(Ok(stat.clone()));
            }
        };
        match engine.container_archive_get(&id, &path, &mut on_stat, out) {
            Ok(_) => Ok(()),
            Err(e) => match stat_tx.take() {
                Some(tx) => {
                    let _ = tx.send(Err(e));
                    Ok(())
                }
                None => Err(e.to_string()),
            },
        }
    });
    let stat = stat_rx
        .await
        .map_err(|_| ApiError::internal("the archive producer ended without a result"))??;
    resp.headers_mut()
        .insert(PATH_STAT_HEADER, path_stat_header(&stat)?);
    Ok(resp)
}

async fn archive_put(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    q: Query,
    body: Body,
) -> Result<Response, ApiError> {
    let path = archive_path(&q)?;
    let mut reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(
        futures_util::TryStreamExt::map_err(body.into_data_stream(), std::io::Error::other),
    ));
    blocking(move || Ok(engine.container_archive_put(&id, &path, &mut reader)?)).await?;
    Ok(StatusCode::OK.into_response())
}

async fn export(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let write = engine.container_export(&id)?;
    Ok(crate::stream::blocking_archive(move |out| {
        write(out).map_err(|e| e.to_string())
    }))
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=` (body: optional
/// config).
pub(crate) async fn commit(
    State(engine): State<AppState>,
    q: Query,
    body: Bytes,
) -> Result<Response, ApiError> {
    let container = q
        .get_nonempty("container")
        .ok_or_else(|| ApiError::bad_request("container is required"))?
        .to_string();
    let config: Option<berth_api_types::container::ContainerConfig> =
        if body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            let c: berth_api_types::container::ContainerConfig = json_body(&body)?;
            (c != Default::default()).then_some(c)
        };
    let req = berth_engine::CommitRequest {
        repo: q.get("repo").unwrap_or("").to_string(),
        tag: q.get("tag").unwrap_or("").to_string(),
        comment: q.get("comment").unwrap_or("").to_string(),
        author: q.get("author").unwrap_or("").to_string(),
        changes: q.get_all("changes"),
        pause: q.get("pause").is_none_or(|_| q.bool("pause")),
        config,
    };
    let id = blocking(move || Ok(engine.container_commit(&container, req)?)).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "Id": id.to_string() })),
    )
        .into_response())
}
