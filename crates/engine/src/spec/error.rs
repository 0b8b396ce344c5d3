//! What can be wrong with a container's configuration when it is turned into an OCI spec.

use berth_common::ErrorKind;
use berth_common::error::HasKind;

/// Errors of [`super::build`] and its helpers. All of them are the caller's fault (HTTP 400);
/// messages follow Docker's wording where clients know them.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Neither the request nor the image gives a command.
    #[error("No command specified")]
    NoCommand,
    /// A user name that is not in the image's /etc/passwd.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UnknownUser(String),
    /// A group name that is not in the image's /etc/group.
    #[error("unable to find group {0}: no matching entries in group file")]
    UnknownGroup(String),
    /// A `--group-add` entry that is neither a known group name nor a number.
    #[error("Unable to find group {0}")]
    UnknownAdditionalGroup(String),
    /// A uid or gid outside 0..=2^31-1.
    #[error("invalid user or group id {0:?}: out of range")]
    IdOutOfRange(String),
    /// A capability name the kernel does not know.
    #[error("unknown capability: {0:?}")]
    UnknownCapability(String),
    /// A `--security-opt` Berth does not understand.
    #[error("invalid --security-opt {0}")]
    SecurityOpt(String),
    /// A seccomp profile that is not valid Docker seccomp JSON.
    #[error("decoding seccomp profile failed: {0}")]
    Seccomp(String),
    /// A sysctl that is not namespaced, or not in this container's namespaces.
    #[error("{0}")]
    Sysctl(String),
    /// An invalid resource limit.
    #[error("{0}")]
    Resources(String),
    /// A `--ulimit` with an unknown name.
    #[error("invalid ulimit type: {0}")]
    Ulimit(String),
    /// A malformed stop signal.
    #[error("Invalid signal: {0}")]
    Signal(String),
    /// Options that cannot be used together.
    #[error("conflicting options: {0}")]
    Conflict(String),
    /// A relative working directory.
    #[error("the working directory '{0}' is invalid, it needs to be an absolute path")]
    WorkingDir(String),
    /// A mount or tmpfs entry that is malformed.
    #[error("{0}")]
    Mount(String),
    /// A `--device` or `--device-cgroup-rule` that cannot be used.
    #[error("{0}")]
    Devices(String),
    /// A `--userns` mode other than the host's.
    #[error(
        "invalid --userns mode {0:?}: containers run in the host's user namespace (\"host\"); user namespace remapping is not enabled on this daemon"
    )]
    UsernsMode(String),
    /// A mode Berth does not implement yet (e.g. `--pid container:x`).
    #[error("{0} is not supported yet")]
    Unsupported(String),
}

impl HasKind for SpecError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

impl From<berth_api_types::shorthand::ShorthandError> for SpecError {
    fn from(e: berth_api_types::shorthand::ShorthandError) -> Self {
        SpecError::Mount(e.0)
    }
}
