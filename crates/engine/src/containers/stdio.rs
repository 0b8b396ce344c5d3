//! A process's standard streams as one byte stream: what an attach or an exec hands its
//! client.
//!
//! Output comes one way (stdcopy-framed unless the process has a TTY) and the client's input
//! goes the other; closing the writing side closes the process's stdin. Behind it is the
//! shim's attach or exec socket, but callers see only an async reader and writer, so the API
//! pipes bytes without knowing who produces them.

use std::io;
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The standard streams of one attached process.
#[derive(Debug)]
pub struct StdioStream {
    inner: tokio::net::UnixStream,
}

impl StdioStream {
    /// Wraps a shim's socket (called where a Tokio runtime runs: the API's workers).
    pub(crate) fn from_std(socket: UnixStream) -> io::Result<StdioStream> {
        socket.set_nonblocking(true)?;
        Ok(StdioStream {
            inner: tokio::net::UnixStream::from_std(socket)?,
        })
    }

    /// A stream that ends at once: the client sees no output (a start that failed, which the
    /// start request reports).
    pub(crate) fn ended() -> io::Result<StdioStream> {
        let (ours, _theirs) = UnixStream::pair()?;
        StdioStream::from_std(ours)
    }
}

impl AsyncRead for StdioStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for StdioStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// Half-closes the stream: the process sees end of file on its stdin.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
