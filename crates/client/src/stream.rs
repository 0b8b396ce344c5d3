//! Streamed response bodies: JSON progress messages and raw bytes.
//!
//! Docker writes one JSON object per line, but some servers concatenate objects with no
//! separator and chunk boundaries fall anywhere, so decoding goes through
//! [`JsonStreamDecoder`], which keeps the unfinished tail between chunks.

use crate::error::{ClientError, Result};
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use std::pin::Pin;
use tokio::io::AsyncRead;
use tokio_util::io::StreamReader;

/// A stream of decoded progress messages (or any JSON objects).
pub type JsonStream<T> = BoxStream<'static, Result<T>>;

/// A response body read as bytes (a `save` archive).
pub type ByteReader = Pin<Box<dyn AsyncRead + Send>>;

/// Incremental decoder of concatenated JSON values.
#[derive(Debug, Default)]
pub struct JsonStreamDecoder {
    buf: Vec<u8>,
}

impl JsonStreamDecoder {
    /// A decoder with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a chunk and returns every value it completed; an incomplete value at the end waits
    /// for the next chunk.
    pub fn push<T: DeserializeOwned>(&mut self, chunk: &[u8]) -> Result<Vec<T>, serde_json::Error> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        let mut consumed = 0;
        let mut iter = serde_json::Deserializer::from_slice(&self.buf).into_iter::<T>();
        loop {
            match iter.next() {
                Some(Ok(v)) => {
                    out.push(v);
                    consumed = iter.byte_offset();
                }
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(e)) => return Err(e),
                None => {
                    consumed = iter.byte_offset();
                    break;
                }
            }
        }
        self.buf.drain(..consumed);
        Ok(out)
    }

    /// Checks that nothing but whitespace is left once the body has ended, so a truncated
    /// stream is an error rather than silently shortened.
    pub fn finish(&self) -> Result<(), serde_json::Error> {
        if self.buf.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        serde_json::from_slice::<serde_json::Value>(&self.buf).map(|_| ())
    }
}

/// Decodes a response body as a stream of JSON values.
pub fn json_stream<T: DeserializeOwned + Send + 'static>(body: Incoming) -> JsonStream<T> {
    let state = (body, JsonStreamDecoder::new(), VecDeque::<T>::new(), false);
    futures_util::stream::unfold(
        state,
        |(mut body, mut dec, mut ready, mut done)| async move {
            loop {
                if let Some(v) = ready.pop_front() {
                    return Some((Ok(v), (body, dec, ready, done)));
                }
                if done {
                    return None;
                }
                match body.frame().await {
                    Some(Ok(frame)) => {
                        let Ok(data) = frame.into_data() else {
                            continue;
                        };
                        match dec.push::<T>(&data) {
                            Ok(vs) => ready.extend(vs),
                            Err(e) => {
                                done = true;
                                return Some((
                                    Err(ClientError::Decode(e)),
                                    (body, dec, ready, done),
                                ));
                            }
                        }
                    }
                    Some(Err(e)) => {
                        done = true;
                        return Some((Err(ClientError::Http(e)), (body, dec, ready, done)));
                    }
                    None => {
                        done = true;
                        if let Err(e) = dec.finish() {
                            return Some((Err(ClientError::Decode(e)), (body, dec, ready, done)));
                        }
                    }
                }
            }
        },
    )
    .boxed()
}

/// Exposes a response body as an [`AsyncRead`]; a connection failure mid-body surfaces as a read
/// error so a truncated archive is never mistaken for a complete one.
pub fn byte_reader(body: Incoming) -> ByteReader {
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    Box::pin(StreamReader::new(stream.map_ok(|b: Bytes| b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api_types::progress::JsonMessage;

    #[test]
    fn decodes_lines_split_anywhere() {
        let text =
            b"{\"status\":\"a\"}\r\n{\"stream\":\"Loaded image: x\\n\"}\n{\"error\":\"boom\"}";
        for split in 0..text.len() {
            let mut d = JsonStreamDecoder::new();
            let mut all: Vec<JsonMessage> = d.push(&text[..split]).unwrap();
            all.extend(d.push::<JsonMessage>(&text[split..]).unwrap());
            d.finish().unwrap();
            assert_eq!(all.len(), 3, "split at {split}");
            assert_eq!(all[0].status.as_deref(), Some("a"));
            assert_eq!(all[1].stream.as_deref(), Some("Loaded image: x\n"));
            assert_eq!(all[2].error.as_deref(), Some("boom"));
        }
    }

    #[test]
    fn decodes_concatenated_objects() {
        let mut d = JsonStreamDecoder::new();
        let v: Vec<JsonMessage> = d.push(b"{\"status\":\"a\"}{\"status\":\"b\"}").unwrap();
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn truncated_or_garbage_streams_fail() {
        let mut d = JsonStreamDecoder::new();
        let v: Vec<JsonMessage> = d.push(b"{\"status\":\"a\"}{\"sta").unwrap();
        assert_eq!(v.len(), 1);
        assert!(d.finish().is_err());
        let mut d = JsonStreamDecoder::new();
        assert!(d.push::<JsonMessage>(b"not json").is_err());
    }
}
