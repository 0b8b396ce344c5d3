//! Layer 0 of Berth: serde models of the Docker Engine API.
//!
//! The daemon encodes and the CLI decodes the very same types, so a field Docker's clients need
//! cannot be present on one side and forgotten on the other. Field names follow Docker's
//! `api/swagger.yaml` exactly (PascalCase mostly); fields Berth has no value for are still sent
//! with Docker's zero values because real clients (the `docker` CLI, the Python SDK) expect them.

// Unsafe code lives in layer 1 (design.md): never above it.
#![forbid(unsafe_code)]

pub mod build;
pub mod container;
pub mod events;
pub mod exec;
pub mod filters;
pub mod go;
pub mod image;
pub mod network;
mod nullable;
pub mod progress;
pub mod shorthand;
pub mod stdcopy;
pub mod system;
pub mod volume;

pub use filters::Filters;

/// API versions this daemon serves. The `docker` CLI uses whatever the daemon advertises and
/// sends no minimum, so the daemon must refuse versions outside this range.
pub const API_VERSION: &str = "1.50";
/// The oldest API version served.
pub const MIN_API_VERSION: &str = "1.41";

/// Docker's error body: `{"message": "..."}`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct ErrorResponse {
    /// Human-readable error; clients print it after `Error response from daemon: `.
    pub message: String,
}

/// `{"Id": "..."}` as returned by create-style endpoints.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct IdResponse {
    /// The new object's id.
    #[serde(rename = "Id")]
    pub id: String,
}
