//! The engine's error type: every failure the API can report, each with an [`ErrorKind`].

use berth_common::ErrorKind;
use berth_common::error::{HasKind, RunFailure};
use std::path::PathBuf;

/// Errors of engine operations.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Another daemon holds the root dir.
    #[error("root dir {root} is in use by another berth daemon{}", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    RootLocked {
        /// The contested root dir.
        root: PathBuf,
        /// The holder's pid when known.
        pid: Option<u32>,
    },
    /// Bad input detected by the engine itself.
    #[error("{0}")]
    InvalidArgument(String),
    /// The named object does not exist (message in Docker's wording).
    #[error("{0}")]
    NotFound(String),
    /// No container has this name or id (clients match Docker's "No such container").
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// No volume has this name.
    #[error("get {0}: no such volume")]
    NoSuchVolume(String),
    /// No network has this name or id.
    #[error("network {0} not found")]
    NoSuchNetwork(String),
    /// No exec instance has this id.
    #[error("No such exec instance: {0}")]
    NoSuchExec(String),
    /// The operation needs a running container (Docker's 409 wording).
    #[error("Container {0} is not running")]
    NotRunning(String),
    /// A filter the endpoint does not know, or a malformed filter value.
    #[error(transparent)]
    Filter(#[from] berth_api_types::filters::FilterError),
    /// A malformed subnet, range or address, or a pool with no room.
    #[error(transparent)]
    Ipam(#[from] crate::networks::ipam::IpamError),
    /// A malformed image reference.
    #[error(transparent)]
    Reference(#[from] berth_common::ReferenceError),
    /// A malformed `-v`, `--mount` or volume name.
    #[error(transparent)]
    Shorthand(#[from] berth_api_types::shorthand::ShorthandError),
    /// A document the engine serializes for a shim or a store could not be encoded.
    #[error("encoding {what}: {source}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// A Dockerfile that does not parse or plan, or an instruction that cannot be expanded.
    #[error(transparent)]
    Dockerfile(#[from] berth_build::BuildError),
    /// A registry refused a login, or could not be asked.
    #[error(transparent)]
    Login(#[from] berth_registry::auth::LoginError),
    /// A pull or push failed at the registry, in Docker's words (`pull access denied for …`,
    /// `manifest for … not found`), with the kind the API answers.
    #[error("{message}")]
    Registry {
        /// The whole message.
        message: String,
        /// What kind of failure it is.
        kind: ErrorKind,
        /// The protocol error behind it.
        #[source]
        source: Option<berth_registry::distribution::DistError>,
    },
    /// A build step failed: what it was, where, and why (a `RUN` that exited non-zero, a
    /// `COPY` of a path outside the context…).
    #[error("{message}")]
    BuildStep {
        /// The whole message, in Docker's words where Docker has them.
        message: String,
    },
    /// The operation conflicts with the object's state (for example a volume in use).
    #[error("{0}")]
    Conflict(String),
    /// Not allowed (Docker's 403: predefined networks, overlapping pools, endpoints in use).
    #[error("{0}")]
    Forbidden(String),
    /// The container's (or an exec's) process could not be started: the runtime's or shim's
    /// message in Docker's wording, and the errno of the step that failed, from which the
    /// status (400 for a program that cannot run, 500 for the host's failure) and the exit
    /// code follow.
    #[error("{message}")]
    StartFailed {
        /// What failed.
        message: String,
        /// Why, as the kernel said it.
        failure: RunFailure,
    },
    /// A request Docker answers with 304: the container is already in the wanted state.
    #[error("{0}")]
    NotModified(String),
    /// The OCI spec could not be built from the container's configuration.
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    /// A shim call failed.
    #[error(transparent)]
    Shim(#[from] berth_shim_proto::ClientError),
    /// From the image store.
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),
    /// From the storage layer.
    #[error(transparent)]
    Storage(#[from] berth_storage::StorageError),
    /// From the network mechanisms (netlink, namespaces, the firewall tools), with the kernel's
    /// errno where there is one: a refused operation is the host's failure (500), not the
    /// request's.
    #[error(transparent)]
    Network(#[from] berth_net::Error),
    /// A failure of the engine itself (a worker that panicked).
    #[error("{0}")]
    Internal(String),
    /// A file system failure, with its path.
    #[error("{path}: {source}")]
    Io {
        /// What was being accessed.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl EngineError {
    /// A failed start, from the shim's error (with the errno it reported).
    pub fn start_failed(message: impl Into<String>, errno: Option<i32>) -> Self {
        EngineError::StartFailed {
            message: message.into(),
            failure: RunFailure { errno },
        }
    }

    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EngineError::Io {
            path: path.into(),
            source,
        }
    }
}

/// The kind of a network failure: what the request asked for that exists already, or a
/// malformed value, is the client's; everything else (the kernel refusing, a missing tool)
/// is the host's.
fn network_kind(e: &berth_net::Error) -> ErrorKind {
    match e {
        berth_net::Error::Invalid(_) => ErrorKind::InvalidArgument,
        berth_net::Error::WrongKind { .. } => ErrorKind::Conflict,
        _ => match e.errno() {
            Some(EEXIST | EADDRINUSE) => ErrorKind::Conflict,
            _ => ErrorKind::Internal,
        },
    }
}

/// `EEXIST` and `EADDRINUSE` on Linux.
const EEXIST: i32 = 17;
const EADDRINUSE: i32 = 98;

impl HasKind for EngineError {
    fn kind(&self) -> ErrorKind {
        match self {
            EngineError::RootLocked { .. } => ErrorKind::Conflict,
            EngineError::InvalidArgument(_) => ErrorKind::InvalidArgument,
            EngineError::NotFound(_)
            | EngineError::NoSuchContainer(_)
            | EngineError::NoSuchVolume(_)
            | EngineError::NoSuchNetwork(_)
            | EngineError::NoSuchExec(_) => ErrorKind::NotFound,
            EngineError::NotRunning(_) => ErrorKind::Conflict,
            EngineError::Filter(_)
            | EngineError::Ipam(_)
            | EngineError::Reference(_)
            | EngineError::Shorthand(_) => ErrorKind::InvalidArgument,
            EngineError::Encode { .. } => ErrorKind::Internal,
            EngineError::Dockerfile(_) | EngineError::BuildStep { .. } => {
                ErrorKind::InvalidArgument
            }
            EngineError::Login(berth_registry::auth::LoginError::Unauthorized { .. }) => {
                ErrorKind::Unauthorized
            }
            EngineError::Login(_) => ErrorKind::Internal,
            EngineError::Registry { kind, .. } => *kind,
            EngineError::Conflict(_) => ErrorKind::Conflict,
            EngineError::Forbidden(_) => ErrorKind::Forbidden,
            EngineError::StartFailed { failure, .. } => failure.kind(),
            EngineError::NotModified(_) => ErrorKind::NotModified,
            EngineError::Spec(_) => ErrorKind::InvalidArgument,
            EngineError::Shim(e) => e.kind(),
            EngineError::Image(e) => e.kind(),
            EngineError::Storage(e) => e.kind(),
            EngineError::Network(e) => network_kind(e),
            EngineError::Io { .. } | EngineError::Internal(_) => ErrorKind::Internal,
        }
    }
}

#[cfg(test)]
mod network_kind_tests {
    use super::*;

    #[test]
    fn network_failures_are_the_hosts_unless_the_request_caused_them() {
        let netlink = |errno| {
            EngineError::Network(berth_net::Error::Netlink {
                what: "creating bridge br-x".into(),
                errno,
            })
        };
        // EPERM: the host refuses; the cause stays in the message and the source chain.
        let eperm = netlink(1);
        assert_eq!(eperm.kind(), ErrorKind::Internal);
        assert!(
            eperm.to_string().contains("creating bridge br-x"),
            "{eperm}"
        );
        assert_eq!(netlink(EEXIST).kind(), ErrorKind::Conflict);
        let bad = EngineError::Network(berth_net::Error::Invalid("bad CIDR".into()));
        assert_eq!(bad.kind(), ErrorKind::InvalidArgument);
    }
}
