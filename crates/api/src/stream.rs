//! Streaming response bodies: JSON progress messages and raw archives produced by blocking
//! engine work, sent as they are made so memory does not grow with the data.

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use berth_api_types::progress::JsonMessage;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// A sender for progress messages, usable from blocking threads.
#[derive(Clone)]
pub struct ProgressSender(mpsc::Sender<JsonMessage>);

impl ProgressSender {
    /// Sends one message; a client that went away is ignored (the work finishes anyway).
    pub fn send(&self, msg: JsonMessage) {
        let _ = self.0.blocking_send(msg);
    }
}

/// A `200 application/json` response whose body is the JSON-lines stream fed by the sender.
pub fn json_message_stream() -> (ProgressSender, Response) {
    let (tx, rx) = mpsc::channel::<JsonMessage>(64);
    (ProgressSender(tx), json_lines(ReceiverStream::new(rx)))
}

/// The response carrying `messages` as JSON lines.
fn json_lines(
    messages: impl futures_util::Stream<Item = JsonMessage> + Send + 'static,
) -> Response {
    let body = messages.map(|m| {
        let mut line = serde_json::to_vec(&m).unwrap_or_default();
        line.extend_from_slice(b"\r\n");
        Ok::<_, std::convert::Infallible>(Bytes::from(line))
    });
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A sender for progress messages from async engine work (a pull). Unbounded, so a slow
/// client never stalls the downloads; the engine keeps the number of messages small (a
/// download reports at most about a hundred times).
#[derive(Clone)]
pub struct AsyncProgress(mpsc::UnboundedSender<JsonMessage>);

impl AsyncProgress {
    /// Sends one message; a client that went away is ignored.
    pub fn send(&self, msg: JsonMessage) {
        let _ = self.0.send(msg);
    }
}

/// [`json_message_stream`] fed from async code.
pub fn json_message_stream_async() -> (AsyncProgress, Response) {
    let (tx, rx) = mpsc::unbounded_channel::<JsonMessage>();
    (
        AsyncProgress(tx),
        json_lines(tokio_stream::wrappers::UnboundedReceiverStream::new(rx)),
    )
}

/// A `200 application/x-tar` response whose body `produce` writes on a blocking thread. A
/// failure after streaming began aborts the connection, so a client never mistakes a truncated
/// archive for a complete one.
pub fn blocking_archive<F>(produce: F) -> Response
where
    F: FnOnce(&mut dyn std::io::Write) -> Result<(), String> + Send + 'static,
{
    let (writer, reader) = tokio::io::duplex(1 << 20);
    let (err_tx, err_rx) = tokio::sync::oneshot::channel::<String>();
    let mut sink = tokio_util::io::SyncIoBridge::new(writer);
    tokio::task::spawn_blocking(move || {
        let res = produce(&mut sink)
            .and_then(|()| std::io::Write::flush(&mut sink).map_err(|e| e.to_string()));
        if let Err(msg) = res {
            tracing::warn!(error = %msg, "archive stream failed");
            let _ = err_tx.send(msg);
        }
    });
    let failure = futures_util::stream::once(async move {
        match err_rx.await {
            Ok(msg) => Err(std::io::Error::other(msg)),
            Err(_) => Ok(Bytes::new()),
        }
    });
    let body = tokio_util::io::ReaderStream::with_capacity(reader, 1 << 20).chain(failure);
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    resp
}
