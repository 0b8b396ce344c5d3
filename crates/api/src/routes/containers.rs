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
    ContainerCreateRequest, ContainerCreateResponse, ContainerUpdateRequest,
    ContainerUpdateResponse, ContainerWaitResponse, WaitError,
};
use berth_engine::EngineError;
use berth_engine::containers::query::ListOptions;
use berth_engine::containers::{WaitCondition, changes};
use berth_shim_proto::AttachRequest;
use berth_shim_proto::logs::{LogStream, ReadOptions, Reader};
use berth_shim_proto::stdcopy::{self, StdStream};
use std::time::Duration;
use tokio::sync::mpsc;
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
    let (rec, warnings) =
        blocking(move || Ok(engine.container_create(name.as_deref(), request)?)).await?;
    Ok((
        StatusCode::CREATED,
        Json(ContainerCreateResponse {
            id: rec.id,
            warnings,
        }),
    )
        .into_response())
}

async fn list(State(engine): State<AppState>, q: Query) -> Result<Response, ApiError> {
    let opts = ListOptions {
        all: q.bool("all"),
        limit: q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(0),
        size: q.bool("size"),
        filters: q.filters()?,
    };
    let rows = blocking(move || Ok(engine.containers().list(&opts)?)).await?;
    Ok(Json(rows).into_response())
}

async fn inspect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, ApiError> {
    let size = q.bool("size");
    let r = blocking(move || Ok(engine.containers().inspect(&id, size)?)).await?;
    Ok(Json(r).into_response())
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

async fn start(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    blocking(move || Ok(engine.containers().start(&id)?)).await?;
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
    engine.containers().stop(&id, t, signal.as_deref()).await?;
    Ok(no_content())
}

async fn restart(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, ApiError> {
    let t = timeout(&q)?;
    let signal = q.get_nonempty("signal").map(str::to_string);
    engine
        .containers()
        .restart(&id, t, signal.as_deref())
        .await?;
    Ok(no_content())
}

async fn kill(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, ApiError> {
    let signal = q.get_nonempty("signal").map(str::to_string);
    engine.containers().kill(&id, signal.as_deref()).await?;
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
    engine
        .containers()
        .remove_async(&id, force, volumes)
        .await?;
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
    blocking(move || Ok(engine.containers().remove_link(&id, &alias)?)).await?;
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
    // Fail fast (404) for an unknown container, before the 200 is committed. (An in-memory
    // lookup: no blocking thread needed.)
    if let Err(e) = engine.containers().store().get(&id)
        && engine.containers().recently_removed(&id).is_none()
    {
        return Err(e.into());
    }
    // The body is one future awaiting the engine: no thread waits, and a client that goes
    // away drops it.
    let body = futures_util::stream::once(async move {
        let body = match engine.containers().wait(&id, condition).await {
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
    let tty = {
        let (engine, id) = (engine.clone(), id.clone());
        blocking(move || Ok(engine.containers().tty(&id)?)).await?
    };
    let detach_keys = hijack::parse_detach_keys(q.get("detachKeys").unwrap_or(""))?;
    let attach = AttachRequest {
        stdin: q.bool("stdin"),
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
        stdcopy: !tty,
        stdin_once: false,
    };
    // `logs=1` replays what was logged first; `stream=0` ends there (Docker's defaults are
    // false for both; an attach without `stream` is taken as a live one, as clients mean it).
    let logs = q.bool("logs");
    let live = !matches!(q.get("stream"), Some("0" | "false" | "False"));
    hijack::upgrade(req, tty, move || async move {
        let stdin = attach.stdin;
        let prelude = if logs {
            let (engine, id) = (engine.clone(), id.clone());
            let (o, e) = (attach.stdout, attach.stderr);
            blocking(move || log_prelude(&engine, &id, o, e)).await?
        } else {
            Vec::new()
        };
        let stream = if live {
            let attachment = blocking(move || Ok(engine.containers().attach(&id, attach)?)).await?;
            Some(attachment.stream().await?)
        } else {
            None
        };
        Ok(Pipe {
            prelude,
            stream,
            stdin,
            detach_keys: tty.then_some(detach_keys),
            on_end: None,
            early_input: Vec::new(),
        })
    })
}

/// One log entry as a client reads it: the line (with its timestamp when asked), framed with
/// stdcopy unless the container has a TTY; `None` for a stream the client did not ask for.
fn encode_log_entry(
    e: &berth_shim_proto::logs::Entry,
    stdout: bool,
    stderr: bool,
    timestamps: bool,
    tty: bool,
) -> Option<Bytes> {
    let wanted = match e.stream {
        LogStream::Stdout => stdout,
        LogStream::Stderr => stderr,
    };
    if !wanted {
        return None;
    }
    let mut text = Vec::new();
    if timestamps {
        text.extend_from_slice(e.time.as_bytes());
        text.push(b' ');
    }
    text.extend_from_slice(e.log.as_bytes());
    if tty {
        return Some(Bytes::from(text));
    }
    let kind = match e.stream {
        LogStream::Stdout => StdStream::Stdout,
        LogStream::Stderr => StdStream::Stderr,
    };
    let mut framed = Vec::with_capacity(text.len() + 8);
    stdcopy::encode(kind, &text, &mut framed);
    Some(Bytes::from(framed))
}

/// What an attach with `logs=1` sends first: the container's log so far.
fn log_prelude(
    engine: &AppState,
    id: &str,
    stdout: bool,
    stderr: bool,
) -> Result<Vec<u8>, ApiError> {
    let source = engine.containers().log_source(id)?;
    if !source.enabled {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let Ok(reader) = Reader::open(&source.path, ReadOptions::default()) else {
        return Ok(out);
    };
    for entry in reader.flatten() {
        if let Some(b) = encode_log_entry(&entry, stdout, stderr, false, source.tty) {
            out.extend_from_slice(&b);
        }
    }
    Ok(out)
}

/// Log entries read per blocking batch.
const LOG_BATCH: usize = 256;
/// How long a follower waits for new lines, doubling while none come.
const FOLLOW_MIN_WAIT: Duration = Duration::from_millis(25);
const FOLLOW_MAX_WAIT: Duration = Duration::from_millis(250);

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
    let (stdout, stderr) = (q.bool("stdout"), q.bool("stderr"));
    if !stdout && !stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let follow = q.bool("follow");
    let timestamps = q.bool("timestamps");
    let tail = match q.get_nonempty("tail") {
        None | Some("all") => None,
        Some(t) => Some(
            t.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid tail {t:?}")))?,
        ),
    };
    let opts = ReadOptions {
        since: log_time(&q, "since")?,
        until: log_time(&q, "until")?,
        tail,
    };
    let source = {
        let (engine, id) = (engine.clone(), id.clone());
        blocking(move || Ok(engine.containers().log_source(&id)?)).await?
    };
    if !source.enabled {
        return Err(ApiError::bad_request(
            "configured logging driver does not support reading",
        ));
    }
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let tty = source.tty;
    let encode = move |e: &berth_shim_proto::logs::Entry| -> Option<Bytes> {
        encode_log_entry(e, stdout, stderr, timestamps, tty)
    };
    // An async task feeds the body: file reads run on blocking threads one batch at a time,
    // and waiting (for a slow client, or for new lines to follow) holds no thread. A client
    // that goes away closes the channel, which ends the task.
    let path = source.path.clone();
    tokio::spawn(async move {
        let opened = tokio::task::spawn_blocking(move || Reader::open(&path, opts)).await;
        let mut reader = match opened {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "opening the log");
                return;
            }
            Err(_) => return,
        };
        loop {
            let batch = tokio::task::spawn_blocking(move || {
                let got: Vec<_> = reader.by_ref().take(LOG_BATCH).collect();
                (reader, got)
            })
            .await;
            let Ok((back, got)) = batch else { return };
            reader = back;
            let done = got.len() < LOG_BATCH;
            for entry in got {
                match entry {
                    Ok(e) => {
                        if let Some(b) = encode(&e)
                            && tx.send(b).await.is_err()
                        {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
            if done {
                break;
            }
        }
        if !follow {
            return;
        }
        let mut follower = reader.into_follower();
        let mut idle = FOLLOW_MIN_WAIT;
        loop {
            let running = engine.containers().is_running(&id);
            let polled = tokio::task::spawn_blocking(move || {
                let got = follower.poll();
                (follower, got)
            })
            .await;
            let Ok((back, got)) = polled else { return };
            follower = back;
            let Ok(got) = got else { return };
            let empty = got.is_empty();
            for e in &got {
                if let Some(b) = encode(e)
                    && tx.send(b).await.is_err()
                {
                    return;
                }
            }
            if !running && empty {
                return;
            }
            if empty {
                tokio::select! {
                    () = tokio::time::sleep(idle) => {}
                    () = tx.closed() => return,
                }
                idle = (idle * 2).min(FOLLOW_MAX_WAIT);
            } else {
                idle = FOLLOW_MIN_WAIT;
            }
        }
    });
    let content_type = if source.tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let mut resp = Response::new(Body::from_stream(
        ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>),
    ));
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
    blocking(move || Ok(engine.containers().resize(&id, h, w)?)).await?;
    Ok(StatusCode::OK.into_response())
}

async fn pause(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    blocking(move || Ok(engine.containers().pause(&id)?)).await?;
    Ok(no_content())
}

async fn unpause(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    blocking(move || Ok(engine.containers().unpause(&id)?)).await?;
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
    blocking(move || Ok(engine.containers().rename(&id, &name)?)).await?;
    Ok(no_content())
}

async fn top(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, ApiError> {
    let ps_args = q.get("ps_args").unwrap_or("").to_string();
    Ok(Json(blocking(move || Ok(engine.containers().top(&id, &ps_args)?)).await?).into_response())
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
        let sample = engine.containers().stats_once(&id, one_shot).await?;
        return Ok(Json(sample).into_response());
    }
    let first = {
        let (engine, id) = (engine.clone(), id.clone());
        blocking(move || Ok(engine.containers().stats(&id)?)).await?
    };
    let (tx, rx) = mpsc::channel::<Bytes>(2);
    // A sample a second: the task sleeps without a thread and reads each sample on a
    // blocking one; a client that goes away closes the channel and ends it.
    tokio::spawn(async move {
        let mut previous = first;
        let line = |v: &serde_json::Value| {
            let mut b = serde_json::to_vec(v).unwrap_or_default();
            b.push(b'\n');
            Bytes::from(b)
        };
        if tx.send(line(&previous)).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = tx.closed() => return,
            }
            let (engine, id) = (engine.clone(), id.clone());
            let sample = tokio::task::spawn_blocking(move || engine.containers().stats(&id)).await;
            let Ok(Ok(mut next)) = sample else { return };
            next["precpu_stats"] = previous["cpu_stats"].clone();
            next["preread"] = previous["read"].clone();
            if tx.send(line(&next)).await.is_err() {
                return;
            }
            previous = next;
        }
    });
    let mut resp = Response::new(Body::from_stream(
        ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>),
    ));
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
    let warnings = blocking(move || Ok(engine.containers().update(&id, &req)?)).await?;
    Ok(Json(ContainerUpdateResponse { warnings }).into_response())
}

async fn diff(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let list = blocking(move || Ok(changes::changes(engine.containers(), &id)?)).await?;
    Ok(Json(list).into_response())
}

async fn prune(State(engine): State<AppState>, q: Query) -> Result<Response, ApiError> {
    let filters = q.filters()?;
    let report = blocking(move || Ok(engine.containers().prune(&filters)?)).await?;
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
    let stat = blocking(move || Ok(engine.containers().stat_path(&id, &path)?)).await?;
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
        match engine
            .containers()
            .get_archive(&id, &path, &mut on_stat, out)
        {
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
    blocking(move || Ok(engine.containers().put_archive(&id, &path, &mut reader)?)).await?;
    Ok(StatusCode::OK.into_response())
}

async fn export(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    {
        let (engine, id) = (engine.clone(), id.clone());
        blocking(move || Ok(engine.containers().store().get(&id).map(|_| ())?)).await?;
    }
    Ok(crate::stream::blocking_archive(move |out| {
        engine
            .containers()
            .export(&id, out)
            .map_err(|e| e.to_string())
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
