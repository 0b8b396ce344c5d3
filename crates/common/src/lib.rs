//! Layer 0 of Berth: the vocabulary every other crate shares.
//!
//! Identifiers, content digests, image references and the error kinds live here so that the
//! CLI, the daemon and the stores agree on what `busybox`, `sha256:ab12…` or "not found" mean
//! without depending on each other. Nothing here performs I/O.

// Unsafe code lives in layer 1 (design.md): never above it.
#![forbid(unsafe_code)]

pub mod digest;
pub mod error;
pub mod id;
pub mod mountinfo;
pub mod reference;
pub mod skip;
pub mod sniff;
pub mod time;

pub use digest::{Digest, DigestError, Sha256Writer};
pub use error::ErrorKind;
pub use reference::{Reference, ReferenceError};
