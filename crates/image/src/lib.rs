//! Layer 2 of Berth: images.
//!
//! [`ImageStore`] keeps images as Docker and OCI define them — a manifest, a config and layer
//! blobs in the verified content store, layers unpacked once into the snapshotter — plus the
//! tags that name them. It implements the image side of the Docker API: import, load, save,
//! list, inspect, history, tag, remove, prune, with Docker's name resolution and error wording.
//!
//! Modules, one job each:
//! * [`oci`]: serde models and media types of manifests, indexes and configs;
//! * [`config_changes`]: `--change` Dockerfile instructions applied to a config;
//! * [`error`]: [`ImageError`] and its [`berth_common::ErrorKind`]s;
//! * `records`, `resolve`, `store`: bookkeeping, name resolution and the store itself;
//! * `import`, `commit`, `archive` + `load`, `save`, `query`, `remove`: the operations;
//! * `pull`, `push`: keeping what the registry client fetched ([`TransferLease`]) and
//!   handing it what it sends ([`PushSource`]).

// Unsafe code lives in layer 1 (design.md): never above it.
#![forbid(unsafe_code)]

pub mod config_changes;
pub mod error;
pub mod oci;

mod archive;
mod assemble;
mod build;
mod cache;
mod commit;
mod import;
mod load;
mod pull;
mod push;
mod query;
mod records;
mod remove;
mod resolve;
mod save;
mod store;
mod timefmt;

#[cfg(test)]
mod tests;

pub use assemble::Assembly;
pub use cache::CachePrune;
pub use commit::CommitOptions;
pub use error::{ImageError, Result};
pub use import::ImportOptions;
pub use load::LoadedImage;
pub use oci::OciImageConfig;
pub use pull::{PulledImage, PulledLayer, TransferLease};
pub use push::{PushBlob, PushSource};
pub use store::ImageStore;
