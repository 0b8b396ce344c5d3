//! One module per section of Docker's Engine API reference.

pub mod build;
pub mod containers;
pub mod events;
pub mod exec;
pub mod images;
pub mod networks;
pub mod swarm;
pub mod system;
pub mod volumes;

use crate::error::ApiError;
use axum::http::{Method, Uri};

/// Unknown endpoints: a 404 that names what was asked for, never a panic or an empty body.
pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        berth_common::ErrorKind::NotFound,
        format!("page not found: {method} {}", uri.path()),
    )
}
