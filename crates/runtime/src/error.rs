//! Errors of the runtime.
//!
//! Every variant says what was wrong and where, so the CLI can print it as-is: configuration
//! problems carry their JSON path (`config.json: linux.seccomp.syscalls[3].names: is empty`),
//! system call failures the step and object they were acting on.

use berth_common::{ErrorKind, error::HasKind};
use std::path::PathBuf;

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong loading a bundle, creating or driving a container.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bundle's configuration is malformed or asks for something unsupported. Raised before
    /// anything is created.
    #[error("config.json: {path}: {reason}")]
    Config {
        /// Where in the document (`linux.namespaces[2].type`, or `(root)`).
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing a file of the runtime's own failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done (`reading`, `creating`, ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A system call made while setting up the container failed.
    #[error("{step}: {source}")]
    Sys {
        /// The step, with its object (`mounting proc on /proc`).
        step: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The container process died or misbehaved during set-up.
    #[error("container init: {0}")]
    Init(String),
    /// The container's program could not be executed (not found, not executable), in Docker's
    /// wording, which clients match; `errno` is the kernel's answer to `execve`.
    #[error("container init: {message}")]
    Exec {
        /// What failed, as Docker says it.
        message: String,
        /// The OS error number.
        errno: i32,
    },
    /// No container with this id exists under the state root.
    #[error("container \"{0}\" does not exist")]
    NotFound(String),
    /// A container with this id already exists.
    #[error("container with id \"{0}\" already exists")]
    Exists(String),
    /// The operation does not fit the container's current status (runc's wording).
    #[error("{0}")]
    State(String),
    /// A container id that could be used to escape the state root.
    #[error("invalid container id {0:?}: ids are 1 to 1024 of [A-Za-z0-9_+.-] and not . or ..")]
    InvalidId(String),
    /// A hook failed or timed out.
    #[error("{kind} hook {path}: {reason}")]
    Hook {
        /// Which list it came from (`createRuntime`, `poststart`, `poststop`).
        kind: &'static str,
        /// The hook's executable.
        path: PathBuf,
        /// Exit status, signal or spawn error.
        reason: String,
    },
    /// The cgroup layer failed.
    #[error("cgroup: {0}")]
    Cgroup(#[from] berth_cgroups::Error),
}

impl Error {
    /// Shorthand for a configuration error at `path`.
    pub fn config(path: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Config {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for a failed system call during `step`, taking `errno` now.
    pub fn last_os(step: impl Into<String>) -> Error {
        Error::Sys {
            step: step.into(),
            source: std::io::Error::last_os_error(),
        }
    }

    /// Shorthand for an I/O error on one of the runtime's own files.
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

impl Error {
    /// The OS error number behind this error, if a system call failed: the daemon picks
    /// Docker's exit codes (127, 126) from it.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Exec { errno, .. } => Some(*errno),
            Error::Io { source, .. } | Error::Sys { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

impl HasKind for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Config { .. } | Error::InvalidId(_) => ErrorKind::InvalidArgument,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Exists(_) | Error::State(_) => ErrorKind::Conflict,
            Error::Cgroup(err) => err.kind(),
            _ => ErrorKind::Internal,
        }
    }
}
