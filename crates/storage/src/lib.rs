//! Layer 1 of Berth: bytes on disk.
//!
//! * [`content`]: the content-addressed blob store. Every blob is written to a temp file while it
//!   is hashed, verified against the digest it claims, fsynced and renamed into place, so a blob
//!   under `blobs/sha256/<hex>` always holds exactly the bytes its name says.
//! * [`snapshot`]: unpacked layer stacks keyed by chain ID, with an overlayfs snapshotter and a
//!   copy-based fallback behind one trait.
//! * [`diff`]: the reverse of unpacking: an overlayfs upper directory (a container's changes)
//!   written out as a layer tar with OCI whiteouts, for `docker commit`.
//! * [`unpack`]: applying a layer tar safely (no write ever lands outside the snapshot) with OCI
//!   whiteouts, from gzip, zstd or plain tar.
//! * [`confined`]: a container's tree reached only through descriptors (paths resolved inside
//!   it, trees read without following symlinks), for copies in and out of live containers.
//! * [`reserve`]: a few MiB set aside so that freeing space on a full disk never needs space.
//! * [`atomic`]: small crash-safe file writes used for every piece of state.
//! * [`mapped`]: immutable files as memory-mapped bytes, for serving them without copies.
//! * [`tail`]: a download read while it is written, ending only once it was verified.
//!
//! This crate knows nothing of images, manifests or Docker; it stores bytes and directories.

pub mod atomic;
pub mod confined;
pub mod content;
pub mod diff;
pub mod error;
pub mod mapped;
pub mod reserve;
pub mod snapshot;
pub mod tail;
pub mod unpack;

pub use content::ContentStore;
pub use error::StorageError;
