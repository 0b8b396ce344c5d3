//! Request bodies. Uploads (`load`, `import`) are streamed from a reader so a 200 MB archive
//! never sits in memory; small JSON bodies are sent in one piece.

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::Frame;
use tokio::io::AsyncRead;
use tokio_util::io::ReaderStream;

/// A request body: empty, in memory, or streamed.
pub struct Body {
    pub(crate) inner: UnsyncBoxBody<Bytes, std::io::Error>,
    pub(crate) content_type: Option<&'static str>,
}

impl Body {
    /// No body (GET, DELETE, most POSTs).
    pub fn empty() -> Body {
        Body {
            inner: Empty::new().map_err(|never| match never {}).boxed_unsync(),
            content_type: None,
        }
    }

    /// A JSON document.
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> crate::Result<Body> {
        let bytes = serde_json::to_vec(value)?;
        Ok(Body {
            inner: Full::new(Bytes::from(bytes))
                .map_err(|never| match never {})
                .boxed_unsync(),
            content_type: Some("application/json"),
        })
    }

    /// A tar archive read incrementally from `reader` (a file, stdin, ...).
    pub fn tar_reader(reader: impl AsyncRead + Send + 'static) -> Body {
        Body::tar_stream(ReaderStream::with_capacity(reader, 256 * 1024))
    }

    /// A tar archive given as a stream of chunks.
    pub fn tar_stream(stream: impl Stream<Item = std::io::Result<Bytes>> + Send + 'static) -> Body {
        let frames = stream.map_ok(Frame::data);
        Body {
            inner: StreamBody::new(frames).boxed_unsync(),
            content_type: Some("application/x-tar"),
        }
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body")
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}
