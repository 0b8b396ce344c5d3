//! `GET /events`: replays buffered events since `since`, then streams live ones until `until`
//! or until the client goes away.
//!
//! The bus hands each subscriber a bounded tokio channel; the response body is a stream that
//! awaits it, the `until` deadline and the client together, so a waiting subscriber holds no
//! thread, and one whose client went away ends as soon as the server notices.

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
use std::time::Duration;

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
    let (replay, rx) = engine.events_subscribe(since);
    let past = move |e: &EventMessage| until.is_some_and(|u| e.time_nano > u);
    let replayed: Vec<EventMessage> = replay
        .into_iter()
        .filter(|e| matches(&filters, e))
        .collect();
    // State: the replay still to send, the live receiver, whether the stream has ended.
    let state = (replayed.into_iter(), rx, filters, false);
    let body = futures_util::stream::unfold(
        state,
        move |(mut replay, mut rx, filters, done)| async move {
            if done {
                return None;
            }
            if let Some(e) = replay.next() {
                if past(&e) {
                    return None;
                }
                return Some((
                    Ok::<_, std::convert::Infallible>(line(&e)),
                    (replay, rx, filters, false),
                ));
            }
            loop {
                let left = until
                    .map(|u| Duration::from_nanos(u.saturating_sub(nanos_now()).max(0) as u64));
                let next = match left {
                    Some(d) if d.is_zero() => return None,
                    Some(d) => match tokio::time::timeout(d, rx.recv()).await {
                        Ok(e) => e,
                        Err(_) => return None,
                    },
                    None => rx.recv().await,
                };
                let e = next?;
                if past(&e) {
                    return None;
                }
                if matches(&filters, &e) {
                    return Some((Ok(line(&e)), (replay, rx, filters, false)));
                }
            }
        },
    );
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}
