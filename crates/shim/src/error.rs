//! The shim's errors: each says which step failed and on what, and carries an [`ErrorKind`]
//! so a refused request reaches the API with the right HTTP status.

use berth_common::ErrorKind;
use berth_common::error::HasKind;
use std::io;
use std::path::{Path, PathBuf};

/// What went wrong in the shim.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    /// Bad command-line arguments.
    #[error("berth shim: {0}")]
    Usage(String),
    /// A file operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A system call failed.
    #[error("{step}: {source}")]
    Sys {
        /// What was being done.
        step: String,
        /// The cause.
        source: io::Error,
    },
    /// The runtime refused or failed.
    #[error(transparent)]
    Runtime(#[from] berth_runtime::Error),
    /// Reading or changing the container's cgroup failed.
    #[error(transparent)]
    Cgroup(#[from] berth_cgroups::Error),
    /// The request does not fit the container's state (e.g. kill of a stopped container).
    #[error("{0}")]
    Conflict(String),
    /// The request is malformed.
    #[error("{0}")]
    Invalid(String),
    /// No exec with this id.
    #[error("no such exec: {0}")]
    NoSuchExec(String),
}

impl ShimError {
    /// A file error on `path`.
    pub fn io(op: &'static str, path: &Path, source: io::Error) -> ShimError {
        ShimError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    /// A system call error.
    pub fn sys(step: impl Into<String>, source: impl Into<io::Error>) -> ShimError {
        ShimError::Sys {
            step: step.into(),
            source: source.into(),
        }
    }
}

impl ShimError {
    /// The OS error number behind this error, if a system call failed (sent to the daemon
    /// with the message, so it need not read the text).
    pub fn errno(&self) -> Option<i32> {
        match self {
            ShimError::Io { source, .. } | ShimError::Sys { source, .. } => source.raw_os_error(),
            ShimError::Runtime(e) => e.errno(),
            _ => None,
        }
    }
}

impl HasKind for ShimError {
    fn kind(&self) -> ErrorKind {
        match self {
            ShimError::Usage(_) | ShimError::Invalid(_) => ErrorKind::InvalidArgument,
            ShimError::Conflict(_) => ErrorKind::Conflict,
            ShimError::NoSuchExec(_) => ErrorKind::NotFound,
            ShimError::Runtime(e) => e.kind(),
            ShimError::Cgroup(e) => e.kind(),
            ShimError::Io { .. } | ShimError::Sys { .. } => ErrorKind::Internal,
        }
    }
}

/// Results of the shim.
pub type Result<T> = std::result::Result<T, ShimError>;
