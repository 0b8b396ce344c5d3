//! Berth's side of the network beyond the host: fetching over HTTP(S).
//!
//! [`http`] is the transport: HTTP/1.1 over TCP or TLS (rustls, with the system's trust roots
//! and `SSL_CERT_FILE`/`SSL_CERT_DIR` honoured), redirects followed without a downgrade from
//! https to http, every wait bounded, bodies streamed and hashed as they arrive. `ADD <url>`
//! uses it now; the distribution client (pull, push, auth) is built on it next. [`git`] fetches
//! a repository named as a build context. [`auth`] speaks registries' challenges (Basic and
//! Bearer) and checks a login. [`distribution`] is the registry protocol's client: manifests,
//! blobs (ranged, for resumed pulls), uploads, mounts and tags, with token refresh. [`store`]
//! is the other end: the registry server's verified storage and its online garbage collection.

pub mod auth;
pub mod distribution;
pub mod git;
pub mod http;
pub mod store;

pub use http::{Download, HttpClient, HttpError};
