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
    /// Credentials were refused, e.g. by a registry (HTTP 401).
    Unauthorized,
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
            ErrorKind::Unauthorized => 401,
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

/// Why a container's or an exec's process could not be run, carried as data from the runtime
/// (which saw `execve` or a mount fail) through the shim to the daemon, so Docker's exit codes
/// and statuses follow from the kernel's errno rather than from message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RunFailure {
    /// The OS error number of the failed step, when there was one.
    pub errno: Option<i32>,
}

impl RunFailure {
    /// `ENOENT`, `EACCES` and `ENOTDIR` on Linux.
    const ENOENT: i32 = 2;
    const EACCES: i32 = 13;
    const ENOTDIR: i32 = 20;

    /// Docker's exit code for a process that could not be run because of the user's
    /// configuration: 127 for a program (or path) that does not exist, 126 for one that may
    /// not be executed; `None` for a failure of the host.
    pub fn config_exit_code(self) -> Option<i64> {
        match self.errno {
            Some(Self::ENOENT | Self::ENOTDIR) => Some(127),
            Some(Self::EACCES) => Some(126),
            _ => None,
        }
    }

    /// The kind Docker gives the failure: the request's (400) when the configuration named
    /// something that cannot run, the host's (500) otherwise.
    pub fn kind(self) -> ErrorKind {
        match self.config_exit_code() {
            Some(_) => ErrorKind::InvalidArgument,
            None => ErrorKind::Internal,
        }
    }
}

#[cfg(test)]
mod run_failure_tests {
    use super::*;

    #[test]
    fn exit_codes_and_kinds_follow_the_errno() {
        let f = |errno| RunFailure { errno };
        assert_eq!(f(Some(2)).config_exit_code(), Some(127));
        assert_eq!(f(Some(20)).config_exit_code(), Some(127));
        assert_eq!(f(Some(13)).config_exit_code(), Some(126));
        assert_eq!(f(Some(1)).config_exit_code(), None);
        assert_eq!(f(None).config_exit_code(), None);
        assert_eq!(f(Some(2)).kind(), ErrorKind::InvalidArgument);
        assert_eq!(f(Some(1)).kind(), ErrorKind::Internal);
    }
}
