//! `GET /events`: replays buffered events since `since`, then streams live ones until `until`
//! or until the client goes away.
//!
//! The engine's bus is synchronous (std `mpsc`), so one blocking task per subscriber waits on
//! it with a short timeout and forwards into a tokio channel that feeds the response body. The
//! timeout lets that task notice both a passed `until` and a disconnected client (the tokio
//! channel closes), so no thread outlives its request for more than a tick.

use crate::AppState;
use crate::error::ApiError;
use crate::query::Query;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use berth_api_types::events::EventMessage;
use berth_engine::events::{EVENT_FILTERS, matches, parse_event_time};
use bytes::Bytes;
use futures_util::StreamExt;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// How often the forwarding task checks the deadline and the client.
const TICK: Duration = Duration::from_millis(200);

/// Routes of this section.
pub fn routes() -> Router<AppState> {
    Router::new().route("/events", get(events))
}

fn nanos_now() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn line(e: &EventMessage) -> Bytes {
    let mut v = serde_json::to_vec(e).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

async fn events(State(engine): State<AppState>, q: Query) -> Result<Response, ApiError> {
    let filters = q.filters()?;
    filters
        .check_names(EVENT_FILTERS)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let parse = |key: &str| -> Result<Option<i64>, ApiError> {
        q.get_nonempty(key)
            .map(|v| parse_event_time(v).map_err(|e| ApiError::bad_request(e.to_string())))
            .transpose()
    };
    let (since, until) = (parse("since")?, parse("until")?);
    if let (Some(s), Some(u)) = (since, until)
        && s > u
    {
        return Err(ApiError::bad_request(
            "since time must be before until time",
        ));
    }
    let (replay, rx) = engine.events().subscribe(since);
    let (tx, out) = mpsc::channel::<Bytes>(64);
    tokio::task::spawn_blocking(move || {
        let past = |e: &EventMessage| until.is_some_and(|u| e.time_nano > u);
        for e in replay.iter().filter(|e| matches(&filters, e)) {
            if past(e) || tx.blocking_send(line(e)).is_err() {
                return;
            }
        }
        loop {
            if until.is_some_and(|u| nanos_now() > u) || tx.is_closed() {
                return;
            }
            match rx.recv_timeout(TICK) {
                Ok(e) => {
                    if past(&e) {
                        return;
                    }
                    if matches(&filters, &e) && tx.blocking_send(line(&e)).is_err() {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    });
    let body = ReceiverStream::new(out).map(Ok::<_, std::convert::Infallible>);
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}
