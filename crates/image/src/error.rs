//! The image store's error type.
//!
//! Every variant says what was wrong and where (which archive entry, which layer, which image),
//! because these messages reach users verbatim through the API. Messages that Docker clients
//! match on (`No such image: …`, `conflict: unable to delete …`) copy Docker's wording.

use berth_common::error::HasKind;
use berth_common::{ErrorKind, ReferenceError};
use berth_storage::StorageError;

/// Result alias for this crate.
pub type Result<T, E = ImageError> = std::result::Result<T, E>;

/// What can go wrong with images.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// No image matches the name; holds the name in Docker's familiar form.
    #[error("No such image: {0}")]
    NotFound(String),
    /// A push of a tag no local image has (Docker's wording).
    #[error("An image does not exist locally with the tag: {0}")]
    NoSuchTag(String),
    /// A short id prefix matches more than one image.
    #[error("ambiguous image id prefix {prefix:?}: it matches {count} images")]
    AmbiguousPrefix {
        /// What the user typed.
        prefix: String,
        /// How many images it matches.
        count: usize,
    },
    /// A malformed image reference.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// A malformed request: unknown filter, bad platform, a `--change` that is no change.
    #[error("{0}")]
    InvalidArgument(String),
    /// A `--change` the builder's reader or its config walk refuses.
    #[error("invalid change: {source}")]
    InvalidChange {
        /// What the builder said (file `--change`, line 2 onwards: after the implied `FROM`).
        #[source]
        source: berth_build::BuildError,
    },
    /// An archive given to `load` is malformed, truncated or inconsistent.
    #[error("invalid archive: {0}")]
    InvalidArchive(String),
    /// A manifest, index or descriptor carries a media type Berth does not understand.
    #[error("unsupported media type {media_type:?} in {context}")]
    UnsupportedMediaType {
        /// The offending media type.
        media_type: String,
        /// Where it was found (`manifest sha256:…`, `index.json`).
        context: String,
    },
    /// The request clashes with the current state (Docker's `conflict: …` messages).
    #[error("{0}")]
    Conflict(String),
    /// A layer could not be stored or unpacked (bad tar, diff ID mismatch).
    #[error("layer {layer}: {source}")]
    Layer {
        /// The layer's name in the archive or its digest.
        layer: String,
        /// The storage failure.
        #[source]
        source: StorageError,
    },
    /// A storage failure with a note of what was being done.
    #[error("{context}: {source}")]
    Storage {
        /// What the store was doing.
        context: String,
        /// The storage failure.
        #[source]
        source: StorageError,
    },
    /// Stored image metadata is unreadable (corrupted config or manifest).
    #[error("image {id}: {reason}")]
    Corrupted {
        /// The image id or blob digest concerned.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An I/O failure outside the stores (reading the request body, writing the response).
    #[error("{context}: {source}")]
    Io {
        /// What was being read or written.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl ImageError {
    /// Wraps a storage error with what the store was doing.
    pub fn storage(context: impl Into<String>, source: StorageError) -> Self {
        ImageError::Storage {
            context: context.into(),
            source,
        }
    }

    /// Wraps an I/O error with what was being read or written; an `io::Error` that carries a
    /// [`StorageError`] (from the content store's verifying reader) is unwrapped so its kind
    /// (corruption, not found) survives.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        if source
            .get_ref()
            .is_some_and(|inner| inner.is::<StorageError>())
        {
            let context = context.into();
            let storage = berth_storage::content::unwrap_io(source, context.clone().into());
            return ImageError::Storage {
                context,
                source: storage,
            };
        }
        ImageError::Io {
            context: context.into(),
            source,
        }
    }

    /// An invalid-archive error.
    pub(crate) fn archive(msg: impl Into<String>) -> Self {
        ImageError::InvalidArchive(msg.into())
    }
}

impl From<StorageError> for ImageError {
    fn from(e: StorageError) -> Self {
        ImageError::Storage {
            context: "image store".into(),
            source: e,
        }
    }
}

impl HasKind for ImageError {
    fn kind(&self) -> ErrorKind {
        match self {
            ImageError::NotFound(_) | ImageError::NoSuchTag(_) => ErrorKind::NotFound,
            ImageError::AmbiguousPrefix { .. }
            | ImageError::Reference(_)
            | ImageError::InvalidArgument(_)
            | ImageError::InvalidChange { .. }
            | ImageError::InvalidArchive(_)
            | ImageError::UnsupportedMediaType { .. } => ErrorKind::InvalidArgument,
            ImageError::Conflict(_) => ErrorKind::Conflict,
            ImageError::Layer { source, .. } | ImageError::Storage { source, .. } => source.kind(),
            ImageError::Corrupted { .. } => ErrorKind::Corrupted,
            ImageError::Io { .. } => ErrorKind::Internal,
        }
    }
}
