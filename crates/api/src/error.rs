//! The single place where engine error kinds become HTTP statuses, in Docker's error shape.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_api_types::ErrorResponse;
use berth_common::ErrorKind;
use berth_common::error::HasKind;
use berth_engine::EngineError;

/// An error answered as `{"message": ...}` with a Docker-compatible status.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Text clients print after `Error response from daemon: `.
    pub message: String,
}

impl ApiError {
    /// An error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let status =
            StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// A 400 for malformed requests.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::InvalidArgument, message)
    }

    /// A 500 for failures of our own (a panicked worker, a closed channel).
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::Internal, message)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let kind = e.kind();
        if kind == ErrorKind::Internal || kind == ErrorKind::Corrupted {
            tracing::error!(error = %e, "request failed");
        } else {
            tracing::debug!(error = %e, ?kind, "request refused");
        }
        ApiError::new(kind, e.to_string())
    }
}

impl From<berth_api_types::filters::FilterError> for ApiError {
    fn from(e: berth_api_types::filters::FilterError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status == StatusCode::NOT_MODIFIED {
            // A 304 carries no body.
            return self.status.into_response();
        }
        (
            self.status,
            Json(ErrorResponse {
                message: self.message,
            }),
        )
            .into_response()
    }
}

/// Runs blocking engine work off the async threads, turning a panic into a 500.
pub async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("worker failed: {e}")))?
}
