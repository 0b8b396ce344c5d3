//! The crate's error type: every failure names the object it was working on (a link, an
//! address, a namespace file) and, for netlink, the kernel's errno text, because "File exists"
//! alone does not tell an operator which of a dozen links clashed.

use std::io;
use std::path::PathBuf;

use berth_common::{ErrorKind, error::HasKind};

/// A networking failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel refused a netlink request, e.g. "creating bridge br-x: File exists".
    #[error("{what}: {}", errno_text(*errno))]
    Netlink {
        /// What we were doing, naming the link or address.
        what: String,
        /// The positive errno the kernel answered with.
        errno: i32,
    },
    /// A system call or file operation failed, e.g. while creating a namespace file.
    #[error("{what}: {source}")]
    Io {
        /// What we were doing, naming the file or link.
        what: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The kernel's answer could not be understood (a bug on one side or the other).
    #[error("{what}: unexpected netlink reply: {detail}")]
    Protocol {
        /// What we were doing.
        what: String,
        /// What was wrong with the reply.
        detail: String,
    },
    /// A link the operation needs does not exist.
    #[error("link {0} not found")]
    LinkNotFound(String),
    /// A link exists under the name but is of another kind (e.g. not a bridge).
    #[error("link {name} exists but is a {found}, not a {wanted}")]
    WrongKind {
        /// The link's name.
        name: String,
        /// The kind we found ("veth", "unknown", …).
        found: String,
        /// The kind we needed.
        wanted: &'static str,
    },
    /// A network namespace file is missing.
    #[error("network namespace {} not found", .0.display())]
    NetnsNotFound(PathBuf),
    /// A caller passed something malformed: an interface name that is too long, a bad CIDR.
    #[error("{0}")]
    Invalid(String),
    /// `nft` refused a rule set or a command; carries nft's stderr, which names the offending
    /// line of a script.
    #[error("{what}: {stderr}")]
    Nft {
        /// What we were doing, naming the table.
        what: String,
        /// nft's error output.
        stderr: String,
    },
    /// An `iptables` tool failed (the fallback where `nft` is absent).
    #[error("{what}: {stderr}")]
    Firewall {
        /// What we were doing, naming the chains.
        what: String,
        /// The tool's error output.
        stderr: String,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Builds an [`Error::Io`] naming what was being done.
    pub(crate) fn io(what: impl Into<String>, source: impl Into<io::Error>) -> Self {
        Error::Io {
            what: what.into(),
            source: source.into(),
        }
    }

    /// The errno behind this error, if the kernel gave one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Netlink { errno, .. } => Some(*errno),
            Error::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// The C library's text for an errno, without std's " (os error N)" suffix.
pub(crate) fn errno_text(errno: i32) -> String {
    let text = io::Error::from_raw_os_error(errno).to_string();
    match text.rfind(" (os error ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

fn kind_of_errno(errno: i32) -> ErrorKind {
    use rustix::io::Errno;
    match Errno::from_raw_os_error(errno) {
        Errno::EXIST | Errno::BUSY | Errno::ADDRINUSE => ErrorKind::Conflict,
        Errno::NODEV | Errno::NOENT | Errno::SRCH | Errno::NETUNREACH => ErrorKind::NotFound,
        Errno::PERM | Errno::ACCESS => ErrorKind::Forbidden,
        Errno::INVAL | Errno::RANGE | Errno::NAMETOOLONG | Errno::AFNOSUPPORT => {
            ErrorKind::InvalidArgument
        }
        _ => ErrorKind::Internal,
    }
}

impl HasKind for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Netlink { errno, .. } => kind_of_errno(*errno),
            Error::Io { source, .. } => source
                .raw_os_error()
                .map_or(ErrorKind::Internal, kind_of_errno),
            Error::Protocol { .. } => ErrorKind::Internal,
            Error::LinkNotFound(_) | Error::NetnsNotFound(_) => ErrorKind::NotFound,
            Error::WrongKind { .. } => ErrorKind::Conflict,
            Error::Invalid(_) => ErrorKind::InvalidArgument,
            Error::Nft { stderr, .. } if stderr.contains("Operation not permitted") => {
                ErrorKind::Forbidden
            }
            Error::Nft { .. } => ErrorKind::Internal,
            Error::Firewall { stderr, .. } if stderr.contains("Permission denied") => {
                ErrorKind::Forbidden
            }
            Error::Firewall { .. } => ErrorKind::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netlink_errors_name_the_object_and_the_errno_text() {
        let e = Error::Netlink {
            what: "creating bridge br-x".into(),
            errno: libc_eexist(),
        };
        assert_eq!(e.to_string(), "creating bridge br-x: File exists");
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert_eq!(e.errno(), Some(libc_eexist()));
    }

    #[test]
    fn kinds_follow_errnos() {
        let nodev = rustix::io::Errno::NODEV.raw_os_error();
        let e = Error::Netlink {
            what: "x".into(),
            errno: nodev,
        };
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(
            Error::Invalid("bad".into()).kind(),
            ErrorKind::InvalidArgument
        );
    }

    fn libc_eexist() -> i32 {
        rustix::io::Errno::EXIST.raw_os_error()
    }
}
