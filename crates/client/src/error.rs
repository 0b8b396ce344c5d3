//! The client's error type.
//!
//! Callers branch on the variant: the CLI starts a daemon on [`ClientError::Connect`], prints
//! [`ClientError::Api`] the way Docker does, and treats the rest as local failures.

/// Shorthand for results of this crate.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The daemon answered with an error status. The `Display` form is Docker's, which scripts
    /// and tests match on.
    #[error("Error response from daemon: {message}")]
    Api {
        /// HTTP status code (404 for unknown objects, 409 for conflicts, ...).
        status: u16,
        /// The daemon's `message`.
        message: String,
    },
    /// Nothing listens on the socket (missing file or connection refused): the daemon is not
    /// running, which the CLI may fix by starting one.
    #[error("Cannot connect to the Berth daemon at {host}. Is the daemon running?")]
    Connect {
        /// The host string the client was made with.
        host: String,
        /// The underlying socket error.
        #[source]
        source: std::io::Error,
    },
    /// The host string is not a unix socket address.
    #[error("invalid host {0:?}: only unix:///path/to.sock is supported")]
    InvalidHost(String),
    /// The request could not be built (for example an image name with characters a URL path
    /// cannot carry).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The daemon's answer was not the JSON we expected.
    #[error("error decoding the daemon's response: {0}")]
    Decode(serde_json::Error),
    /// The HTTP exchange failed after connecting (the daemon closed the connection, ...).
    #[error("error during connect: {0}")]
    Http(hyper::Error),
    /// Reading or writing a body failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl ClientError {
    /// The HTTP status of an [`ClientError::Api`] error, `None` for local failures.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True when the daemon said the object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// True when no daemon listens on the socket.
    pub fn is_connect(&self) -> bool {
        matches!(self, ClientError::Connect { .. })
    }
}

// Written by hand rather than with `#[from]`, which would also make the inner error the
// `source` and print its text twice in `{:#}` chains (the message already includes it).
impl From<serde_json::Error> for ClientError {
    fn from(e: serde_json::Error) -> Self {
        ClientError::Decode(e)
    }
}

impl From<hyper::Error> for ClientError {
    fn from(e: hyper::Error) -> Self {
        ClientError::Http(e)
    }
}
