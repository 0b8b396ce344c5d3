//! Layer 4 of Berth: a typed client of the Docker Engine API over a unix socket.
//!
//! The CLI (and later compose) speak to the daemon only through this crate, so the wire details
//! (versioned paths, Docker's `{"message":...}` error bodies, JSON progress streams, streamed
//! uploads) live in one place. It talks to any Docker-compatible daemon, not only Berth's.
//!
//! Layout: [`transport`] sends one HTTP/1.1 request per connection; [`body`] builds streamed
//! request bodies; [`stream`] decodes JSON-lines responses; [`hijack`] upgrades a connection
//! into the raw bidirectional stream of attach and exec, whose output [`stdcopy`] demultiplexes;
//! [`system`], [`images`], [`containers`], [`exec`], [`volumes`], [`networks`] and [`events`] are the typed
//! endpoint wrappers; [`error`] holds [`ClientError`].

// Unsafe code lives in layer 1 (design.md): never above it.
#![forbid(unsafe_code)]

pub mod body;
pub mod containers;
pub mod error;
pub mod events;
pub mod exec;
pub mod hijack;
pub mod images;
pub mod networks;
pub mod stdcopy;
pub mod stream;
pub mod system;
pub mod transport;
pub mod volumes;

pub use body::Body;
pub use containers::{
    AttachOptions, CommitOptions, ListOptions, LogsOptions, OutputStream, WaitCondition, WaitHandle,
};
pub use error::{ClientError, Result};
pub use hijack::{HijackReader, HijackWriter, HijackedStream};
pub use stream::{ByteReader, JsonStream, JsonStreamDecoder};
pub use transport::Client;

/// Re-exported so callers can name methods and inspect responses of [`Client::request`]
/// without depending on hyper themselves.
pub use hyper::{Method, Response, StatusCode, body::Incoming};
