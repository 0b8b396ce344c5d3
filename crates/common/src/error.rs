//! The small set of error kinds that cross layer boundaries.
//!
//! Every crate keeps its own typed errors; each of them can say which [`ErrorKind`] it is so the
//! API can map kinds to HTTP statuses in exactly one place, and the CLI to exit codes.

/// What sort of failure an error is, independent of where it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The named object does not exist (HTTP 404).
    NotFound,
    /// The request clashes with the current state, e.g. a name in use (HTTP 409).
    Conflict,
    /// The caller sent something malformed (HTTP 400).
    InvalidArgument,
    /// The operation is not permitted (HTTP 403).
    Forbidden,
    /// Stored data failed verification, e.g. a blob whose digest does not match.
    Corrupted,
    /// The object is already in the requested state, e.g. starting a running container
    /// (HTTP 304, no body).
    NotModified,
    /// A feature the daemon does not run, such as swarm mode (HTTP 503, Docker's answer of a
    /// node outside a swarm).
    Unavailable,
    /// Anything else: I/O failures and bugs (HTTP 500).
    Internal,
}

impl ErrorKind {
    /// The HTTP status Docker uses for this kind of failure.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::InvalidArgument => 400,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotModified => 304,
            ErrorKind::Unavailable => 503,
            ErrorKind::Corrupted | ErrorKind::Internal => 500,
        }
    }
}

/// Implemented by every crate's error type so the surfaces can classify it.
pub trait HasKind {
    /// The kind of this error.
    fn kind(&self) -> ErrorKind;
}
