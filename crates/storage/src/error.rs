//! Errors of the storage layer.

use berth_common::{Digest, ErrorKind, error::HasKind};
use std::path::PathBuf;

/// What can go wrong storing or reading bytes.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The bytes received do not hash to the digest they were announced with.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What the caller said the content is.
        expected: Digest,
        /// What the bytes hash to.
        actual: Digest,
    },
    /// A stored blob no longer matches its name (disk corruption or tampering).
    #[error("blob {0} is corrupted: its content does not match its digest")]
    Corrupted(Digest),
    /// No blob with this digest.
    #[error("blob {0} not found")]
    BlobNotFound(Digest),
    /// No snapshot with this chain ID.
    #[error("snapshot {0} not found")]
    SnapshotNotFound(String),
    /// A layer archive is malformed or tries to escape its snapshot.
    #[error("invalid layer: {0}")]
    InvalidLayer(String),
    /// The layer's uncompressed content does not match the diff ID the image declares.
    #[error("layer diff ID mismatch: expected {expected}, got {actual}")]
    DiffIdMismatch {
        /// Declared diff ID.
        expected: Digest,
        /// Computed diff ID.
        actual: Digest,
    },
    /// A writable layer key that is not a single plain path component.
    #[error("invalid writable layer key {0:?}")]
    InvalidKey(String),
    /// Writing a layer archive to its destination failed (a diff being streamed out).
    #[error("writing the layer archive: {0}")]
    ArchiveWrite(#[source] std::io::Error),
    /// An I/O failure, with the path it concerned.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl StorageError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StorageError::Io {
            path: path.into(),
            source,
        }
    }
}

impl HasKind for StorageError {
    fn kind(&self) -> ErrorKind {
        match self {
            StorageError::DigestMismatch { .. }
            | StorageError::InvalidLayer(_)
            | StorageError::InvalidKey(_)
            | StorageError::DiffIdMismatch { .. } => ErrorKind::InvalidArgument,
            StorageError::Corrupted(_) => ErrorKind::Corrupted,
            StorageError::BlobNotFound(_) | StorageError::SnapshotNotFound(_) => {
                ErrorKind::NotFound
            }
            StorageError::Io { .. } | StorageError::ArchiveWrite(_) => ErrorKind::Internal,
        }
    }
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, StorageError>;
