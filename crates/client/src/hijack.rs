//! Hijacked connections: `attach` and `exec start` turn their HTTP connection into a raw
//! bidirectional byte stream.
//!
//! The request carries `Connection: Upgrade` and `Upgrade: tcp`; the daemon answers
//! `101 Switching Protocols` and from then on the socket carries the process's stdin one way
//! and its output the other (stdcopy-framed when the process has no TTY, see
//! [`crate::stdcopy`]). Old daemons answer `200 OK` and simply stream the output as the body;
//! that is accepted too, with a write half that discards input.
//!
//! Closing the write half ([`tokio::io::AsyncWriteExt::shutdown`]) half-closes the socket,
//! which is how the daemon learns that stdin reached end of file while output keeps flowing.

use crate::body::Body;
use crate::error::{ClientError, Result};
use crate::stream::byte_reader;
use crate::transport::Client;
use hyper::{Method, StatusCode, header};
use hyper_util::rt::TokioIo;
use std::pin::Pin;
use tokio::io::{AsyncRead, AsyncWrite};

/// `Content-Type` of a stdcopy-framed stream.
pub const MULTIPLEXED_STREAM: &str = "application/vnd.docker.multiplexed-stream";
/// `Content-Type` of a raw (TTY) stream.
pub const RAW_STREAM: &str = "application/vnd.docker.raw-stream";

/// The read half of a hijacked connection: the process's output.
pub type HijackReader = Pin<Box<dyn AsyncRead + Send>>;
/// The write half of a hijacked connection: the process's stdin. Shut it down to send EOF.
pub type HijackWriter = Pin<Box<dyn AsyncWrite + Send>>;

/// An attached stream to a container's or exec's stdio.
pub struct HijackedStream {
    reader: HijackReader,
    writer: HijackWriter,
    multiplexed: bool,
    upgraded: bool,
}

impl HijackedStream {
    /// True when output is stdcopy-framed (the process has no TTY): decode it with
    /// [`crate::stdcopy::demux`].
    pub fn is_multiplexed(&self) -> bool {
        self.multiplexed
    }

    /// False when the daemon answered `200` instead of upgrading: output still flows but
    /// input cannot be sent.
    pub fn is_upgraded(&self) -> bool {
        self.upgraded
    }

    /// The two halves, to be driven by separate tasks.
    pub fn into_split(self) -> (HijackReader, HijackWriter) {
        (self.reader, self.writer)
    }
}

impl std::fmt::Debug for HijackedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HijackedStream")
            .field("multiplexed", &self.multiplexed)
            .field("upgraded", &self.upgraded)
            .finish_non_exhaustive()
    }
}

/// Whether a response's `Content-Type` says the stream is multiplexed; `None` when the daemon
/// did not say (older daemons), and the caller falls back on the TTY setting.
pub fn multiplexed_from_content_type(content_type: Option<&str>) -> Option<bool> {
    let ct = content_type?.split(';').next()?.trim();
    if ct.eq_ignore_ascii_case(MULTIPLEXED_STREAM) {
        Some(true)
    } else if ct.eq_ignore_ascii_case(RAW_STREAM) {
        Some(false)
    } else {
        None
    }
}

impl Client {
    /// Sends an upgrade request and returns the hijacked stream. `tty` is what the caller knows
    /// of the process (its `Tty` setting); it decides the framing when the daemon sends no
    /// `Content-Type`.
    pub async fn hijack(
        &self,
        method: Method,
        path_and_query: &str,
        body: Body,
        tty: bool,
    ) -> Result<HijackedStream> {
        let resp = self
            .request_with_headers(
                method,
                path_and_query,
                body,
                &[(header::CONNECTION, "Upgrade"), (header::UPGRADE, "tcp")],
            )
            .await?;
        let resp = Client::check(resp, path_and_query).await?;
        let multiplexed = multiplexed_from_content_type(
            resp.headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        )
        .unwrap_or(!tty);
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            let upgraded = hyper::upgrade::on(resp).await.map_err(ClientError::Http)?;
            let (r, w) = tokio::io::split(TokioIo::new(upgraded));
            Ok(HijackedStream {
                reader: Box::pin(r),
                writer: Box::pin(w),
                multiplexed,
                upgraded: true,
            })
        } else {
            Ok(HijackedStream {
                reader: byte_reader(resp.into_body()),
                writer: Box::pin(tokio::io::sink()),
                multiplexed,
                upgraded: false,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn content_types() {
        assert_eq!(
            multiplexed_from_content_type(Some(MULTIPLEXED_STREAM)),
            Some(true)
        );
        assert_eq!(multiplexed_from_content_type(Some(RAW_STREAM)), Some(false));
        assert_eq!(
            multiplexed_from_content_type(Some("application/json")),
            None
        );
        assert_eq!(multiplexed_from_content_type(None), None);
    }

    /// A fake daemon: answers 101 and echoes what it reads until the client half-closes, then
    /// writes "bye" and closes.
    #[tokio::test]
    async fn upgrade_echo_and_half_close() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("d.sock");
        let listener = tokio::net::UnixListener::bind(&sock).unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut req = Vec::new();
            let mut b = [0u8; 1];
            while !req.ends_with(b"\r\n\r\n") {
                s.read_exact(&mut b).await.unwrap();
                req.push(b[0]);
            }
            let req = String::from_utf8(req).unwrap();
            assert!(
                req.starts_with("POST /v1.50/containers/c1/attach?stream=1"),
                "{req}"
            );
            assert!(req.to_ascii_lowercase().contains("upgrade: tcp"), "{req}");
            s.write_all(
                b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
            )
            .await
            .unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            s.write_all(&got).await.unwrap();
            s.write_all(b"bye").await.unwrap();
        });
        let client = Client::new(&format!("unix://{}", sock.display())).unwrap();
        let stream = client
            .hijack(
                Method::POST,
                "/containers/c1/attach?stream=1&stdin=1",
                Body::empty(),
                false,
            )
            .await
            .unwrap();
        assert!(!stream.is_multiplexed());
        assert!(stream.is_upgraded());
        let (mut r, mut w) = stream.into_split();
        w.write_all(b"hello ").await.unwrap();
        w.shutdown().await.unwrap();
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"hello bye");
        server.await.unwrap();
    }
}
