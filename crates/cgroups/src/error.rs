//! Errors of the cgroup layer.
//!
//! Every variant that touches the file system carries the path (and, for writes, the value) so a
//! failure reads like `writing 16777216 to /sys/fs/cgroup/memory/berth/x/memory.limit_in_bytes:
//! Device or resource busy` without the caller having to add context. A failure while applying
//! one limit also names the `linux.resources` field that asked for it ([`Error::Resource`],
//! [`Error::Unsupported`]): the user wrote the field, not the file, and a limit the host cannot
//! apply must be reported as such rather than dropped.

use berth_common::{ErrorKind, error::HasKind};
use std::path::PathBuf;
use std::time::Duration;

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong detecting, planning or driving cgroups.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Neither a cgroup v1 controller hierarchy nor a cgroup2 file system is mounted.
    #[error("no cgroup file system found in {path}")]
    NoCgroups {
        /// The mount table that was read.
        path: PathBuf,
    },
    /// Reading a file or directory failed.
    #[error("reading {path}: {source}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Writing a control file failed.
    #[error("writing {value} to {path}: {source}")]
    Write {
        /// What was written.
        value: String,
        /// The control file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Creating a cgroup directory failed.
    #[error("creating {path}: {source}")]
    Create {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Removing a cgroup directory failed (after retrying while tasks exit).
    #[error("removing {path}: {source}")]
    Remove {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A control file held something this crate does not understand.
    #[error("unexpected content in {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The resources ask for a controller the host does not offer to this group.
    #[error("cgroup controller {controller} is not available: {detail}")]
    ControllerUnavailable {
        /// The controller's name (`memory`, `cpu`, ...).
        controller: String,
        /// Why, e.g. which mount or `cgroup.controllers` file lacks it.
        detail: String,
    },
    /// A cgroup path was absolute, empty or tried to escape the hierarchy.
    #[error("invalid cgroup path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The requested limits contradict each other (Docker's wording where it has one).
    #[error("{0}")]
    InvalidResources(String),
    /// `load` found no such group.
    #[error("cgroup {path} does not exist")]
    NotFound {
        /// The directory that was expected.
        path: PathBuf,
    },
    /// A state change (freeze, thaw, kill) did not complete in time.
    #[error("timed out after {waited:?} waiting for {what} in {path}")]
    Timeout {
        /// The state that was awaited.
        what: &'static str,
        /// The cgroup directory.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
    },
    /// Sending a signal to a member of the group failed for a reason other than it being gone.
    #[error("sending SIGKILL to pid {pid}: {source}")]
    Signal {
        /// The process.
        pid: u32,
        /// The OS error.
        source: std::io::Error,
    },
    /// The device rules could not be put in force on a group (its `devices` files, or the
    /// cgroup2 device program), so the container must not start.
    #[error("applying device rules to {path}: {detail}")]
    Devices {
        /// The group directory.
        path: PathBuf,
        /// What failed and why.
        detail: String,
    },
    /// A device rule could not be understood.
    #[error(transparent)]
    DeviceRule(#[from] crate::devices::RuleError),
    /// A requested limit cannot be applied on this host at all (the cgroup version has no such
    /// knob, the kernel lacks the file, the value is not one the host offers), so the request
    /// is refused instead of the limit being silently dropped.
    #[error("{field}: {reason}")]
    Unsupported {
        /// The OCI field, e.g. `linux.resources.blockIO.leafWeight`.
        field: String,
        /// Why the host cannot apply it.
        reason: String,
    },
    /// Applying one requested limit failed; wraps the file-level error with the field that
    /// asked for the write.
    #[error("{field}: {source}")]
    Resource {
        /// The OCI field, e.g. `linux.resources.blockIO.throttleReadBpsDevice[0]`.
        field: String,
        /// What failed.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// The error under any [`Error::Resource`] wrappers: what went wrong, for callers that
    /// match on the kind of failure rather than on which field caused it.
    pub fn innermost(&self) -> &Error {
        match self {
            Error::Resource { source, .. } => source.innermost(),
            other => other,
        }
    }

    /// Wraps `self` with the field that asked for the failed operation.
    pub(crate) fn for_field(self, field: impl Into<String>) -> Error {
        Error::Resource {
            field: field.into(),
            source: Box::new(self),
        }
    }
}

impl HasKind for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Resource { source, .. } => source.kind(),
            Error::InvalidPath { .. } | Error::InvalidResources(_) | Error::Unsupported { .. } => {
                ErrorKind::InvalidArgument
            }
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::ControllerUnavailable { .. } => ErrorKind::InvalidArgument,
            Error::DeviceRule(_) => ErrorKind::InvalidArgument,
            Error::Write { source, .. } | Error::Create { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                ErrorKind::Forbidden
            }
            Error::Remove { source, .. }
                if source.raw_os_error() == Some(rustix::io::Errno::BUSY.raw_os_error()) =>
            {
                ErrorKind::Conflict
            }
            _ => ErrorKind::Internal,
        }
    }
}
