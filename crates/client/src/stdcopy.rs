//! Docker's stdcopy framing, client side: output of TTY-less containers (logs, attach, exec)
//! arrives as frames `[stream, 0, 0, 0, len as big-endian u32]` + `len` bytes, and must be split
//! back into stdout and stderr.
//!
//! The layers test would allow a dependency on `berth-shim-proto`, which has an encoder and
//! decoder, but the client also has to understand stream 3 (Docker's "system error" frames a
//! daemon writes when a stream fails half-way), talks to any Docker-compatible daemon, and
//! needs an async copier; a small decoder here is simpler than bending the shim's.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Length of a frame header.
pub const HEADER_LEN: usize = 8;

/// Which stream a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdStream {
    /// 0: stdin (written back by some daemons; printed on stdout like Docker does).
    Stdin,
    /// 1: stdout.
    Stdout,
    /// 2: stderr.
    Stderr,
    /// 3: an error from the daemon; the payload is its message.
    SystemErr,
}

impl StdStream {
    fn from_byte(b: u8) -> Option<StdStream> {
        Some(match b {
            0 => StdStream::Stdin,
            1 => StdStream::Stdout,
            2 => StdStream::Stderr,
            3 => StdStream::SystemErr,
            _ => return None,
        })
    }
}

/// Why a multiplexed stream could not be copied.
#[derive(Debug, thiserror::Error)]
pub enum StdcopyError {
    /// A header named no known stream: the body is not stdcopy-framed.
    #[error("Unrecognized input header: {0}")]
    UnknownStream(u8),
    /// The daemon reported an error in-band (stream 3).
    #[error("error from daemon in stream: {0}")]
    Daemon(String),
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// An incremental decoder for callers that get bytes in chunks.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    /// An empty decoder.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Adds received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<(StdStream, Vec<u8>)>, StdcopyError> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let stream =
            StdStream::from_byte(self.buf[0]).ok_or(StdcopyError::UnknownStream(self.buf[0]))?;
        let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
        if self.buf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let data = self.buf[HEADER_LEN..HEADER_LEN + len].to_vec();
        self.buf.drain(..HEADER_LEN + len);
        Ok(Some((stream, data)))
    }

    /// Bytes received but not yet part of a complete frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// Encodes one frame (for tests and for servers written on top of this crate).
pub fn encode(stream: StdStream, data: &[u8]) -> Vec<u8> {
    let b = match stream {
        StdStream::Stdin => 0,
        StdStream::Stdout => 1,
        StdStream::Stderr => 2,
        StdStream::SystemErr => 3,
    };
    let mut out = Vec::with_capacity(HEADER_LEN + data.len());
    out.extend_from_slice(&[b, 0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// Copies a multiplexed stream to `stdout` and `stderr` until it ends, flushing after every
/// frame so interactive output appears at once. Returns the bytes written to each. A stream that
/// ends inside a frame is accepted (the container was killed mid-write; Docker does the same).
pub async fn demux<R, O, E>(
    mut reader: R,
    stdout: &mut O,
    stderr: &mut E,
) -> Result<(u64, u64), StdcopyError>
where
    R: AsyncRead + Unpin,
    O: AsyncWrite + Unpin + ?Sized,
    E: AsyncWrite + Unpin + ?Sized,
{
    let mut header = [0u8; HEADER_LEN];
    let mut buf = vec![0u8; 32 * 1024];
    let (mut out_n, mut err_n) = (0u64, 0u64);
    loop {
        // Read a header; a clean end of stream can only happen before its first byte.
        let mut got = 0;
        while got < HEADER_LEN {
            let n = reader.read(&mut header[got..]).await?;
            if n == 0 {
                return Ok((out_n, err_n));
            }
            got += n;
        }
        let stream =
            StdStream::from_byte(header[0]).ok_or(StdcopyError::UnknownStream(header[0]))?;
        let mut left = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        if stream == StdStream::SystemErr {
            let mut msg = vec![0u8; left];
            reader.read_exact(&mut msg).await?;
            return Err(StdcopyError::Daemon(
                String::from_utf8_lossy(&msg).into_owned(),
            ));
        }
        while left > 0 {
            let want = left.min(buf.len());
            let n = reader.read(&mut buf[..want]).await?;
            if n == 0 {
                return Ok((out_n, err_n));
            }
            left -= n;
            match stream {
                StdStream::Stderr => {
                    stderr.write_all(&buf[..n]).await?;
                    err_n += n as u64;
                }
                _ => {
                    stdout.write_all(&buf[..n]).await?;
                    out_n += n as u64;
                }
            }
        }
        match stream {
            StdStream::Stderr => stderr.flush().await?,
            _ => stdout.flush().await?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut v = encode(StdStream::Stdout, b"hello\n");
        v.extend(encode(StdStream::Stderr, b"oops\n"));
        v.extend(encode(StdStream::Stdout, b""));
        v.extend(encode(StdStream::Stdout, b"bye"));
        v
    }

    #[test]
    fn decoder_handles_any_split() {
        let data = sample();
        for split in 0..data.len() {
            let mut d = Decoder::new();
            let mut frames = Vec::new();
            d.push(&data[..split]);
            while let Some(f) = d.next_frame().unwrap() {
                frames.push(f);
            }
            d.push(&data[split..]);
            while let Some(f) = d.next_frame().unwrap() {
                frames.push(f);
            }
            assert_eq!(frames.len(), 4, "split {split}");
            assert_eq!(frames[1], (StdStream::Stderr, b"oops\n".to_vec()));
            assert_eq!(d.pending(), 0);
        }
        let mut d = Decoder::new();
        d.push(&[9, 0, 0, 0, 0, 0, 0, 1, b'x']);
        assert!(matches!(
            d.next_frame(),
            Err(StdcopyError::UnknownStream(9))
        ));
    }

    #[tokio::test]
    async fn demux_splits_streams() {
        let data = sample();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let (o, e) = demux(&data[..], &mut out, &mut err).await.unwrap();
        assert_eq!(out, b"hello\nbye");
        assert_eq!(err, b"oops\n");
        assert_eq!((o, e), (9, 5));
    }

    #[tokio::test]
    async fn demux_reports_daemon_errors_and_tolerates_truncation() {
        let mut data = encode(StdStream::Stdout, b"a");
        data.extend(encode(StdStream::SystemErr, b"boom"));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let e = demux(&data[..], &mut out, &mut err).await.unwrap_err();
        assert_eq!(e.to_string(), "error from daemon in stream: boom");
        let data = encode(StdStream::Stdout, b"abcdef");
        let mut out = Vec::new();
        demux(&data[..10], &mut out, &mut err).await.unwrap();
        assert_eq!(out, b"ab");
    }
}
