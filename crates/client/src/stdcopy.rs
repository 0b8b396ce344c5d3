//! Docker's stdcopy framing, client side: output of TTY-less containers (logs, attach, exec)
//! arrives as frames `[stream, 0, 0, 0, len as big-endian u32]` + `len` bytes, and must be split
//! back into stdout and stderr as it arrives. The codec is `berth_api_types::stdcopy` (one for
//! the shim, the API and this client); here, the async copier, which also turns Docker's
//! stream 3 ("system error" frames a daemon writes when a stream fails half-way) into an error.

pub use berth_api_types::stdcopy::{Decoder, HEADER_LEN, StdStream, frame};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

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
        let mut v = frame(StdStream::Stdout, b"hello\n");
        v.extend(frame(StdStream::Stderr, b"oops\n"));
        v.extend(frame(StdStream::Stdout, b""));
        v.extend(frame(StdStream::Stdout, b"bye"));
        v
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
        let mut data = frame(StdStream::Stdout, b"a");
        data.extend(frame(StdStream::SystemErr, b"boom"));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let e = demux(&data[..], &mut out, &mut err).await.unwrap_err();
        assert_eq!(e.to_string(), "error from daemon in stream: boom");
        let data = frame(StdStream::Stdout, b"abcdef");
        let mut out = Vec::new();
        demux(&data[..10], &mut out, &mut err).await.unwrap();
        assert_eq!(out, b"ab");
    }
}
