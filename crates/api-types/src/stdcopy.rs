//! Docker's stdcopy multiplexing: each chunk of output is preceded by an 8-byte header
//! `[stream, 0, 0, 0, len as big-endian u32]`, so stdout and stderr can share one connection.
//!
//! The API uses it for attach, exec and logs of non-TTY containers: the shim produces it so the
//! engine can forward bytes untouched, the API frames log lines with it, and the client
//! decodes it (stream 3 included: Docker's in-band "system error" a daemon writes when a stream
//! fails half-way). One codec for all of them: pure functions and a small incremental
//! [`Decoder`], no I/O here (the shim's and the client's readers sit on top).

/// Which stream a frame belongs to (the first header byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StdStream {
    /// 0: stdin (written by Docker for TTY-less stdin echoes; rarely seen).
    Stdin = 0,
    /// 1: stdout.
    Stdout = 1,
    /// 2: stderr.
    Stderr = 2,
    /// 3: an error from the daemon, its payload the message (Docker's `systemerr`).
    SystemErr = 3,
}

impl StdStream {
    /// The stream for a header byte, or `None` for an unknown one.
    pub fn from_byte(b: u8) -> Option<StdStream> {
        match b {
            0 => Some(StdStream::Stdin),
            1 => Some(StdStream::Stdout),
            2 => Some(StdStream::Stderr),
            3 => Some(StdStream::SystemErr),
            _ => None,
        }
    }
}

/// The header length.
pub const HEADER_LEN: usize = 8;

/// The header for a frame of `len` bytes.
pub fn header(stream: StdStream, len: u32) -> [u8; HEADER_LEN] {
    let l = len.to_be_bytes();
    [stream as u8, 0, 0, 0, l[0], l[1], l[2], l[3]]
}

/// Appends `data` to `out` as one frame (several if it exceeds `u32::MAX` bytes). Empty data
/// produces nothing: an empty frame would read as nothing anyway.
pub fn encode(stream: StdStream, data: &[u8], out: &mut Vec<u8>) {
    for chunk in data.chunks(u32::MAX as usize) {
        out.extend_from_slice(&header(stream, chunk.len() as u32));
        out.extend_from_slice(chunk);
    }
}

/// `data` as one frame of its own (for tests and small answers).
pub fn frame(stream: StdStream, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + data.len());
    out.extend_from_slice(&header(stream, data.len() as u32));
    out.extend_from_slice(data);
    out
}

/// Malformed framing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StdcopyError {
    /// The header's first byte names no stream.
    #[error("stdcopy: unknown stream {0} in frame header")]
    UnknownStream(u8),
    /// The input ended inside a frame.
    #[error("stdcopy: input ends inside a frame ({0} bytes left over)")]
    Truncated(usize),
}

/// An incremental decoder: feed bytes as they arrive with [`Decoder::push`], take frames with
/// [`Decoder::next_frame`].
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

    /// The next complete frame, `Ok(None)` if more bytes are needed.
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

    /// Checks that no partial frame is left once the input has ended.
    pub fn finish(&self) -> Result<(), StdcopyError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(StdcopyError::Truncated(self.buf.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_at_any_split_stream_3_included() {
        let mut data = frame(StdStream::Stdout, b"hello\n");
        encode(StdStream::Stderr, b"oops\n", &mut data);
        encode(StdStream::Stdout, b"", &mut data);
        data.extend(frame(StdStream::SystemErr, b"boom"));
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
            assert_eq!(frames.len(), 3, "split {split}: empty data makes no frame");
            assert_eq!(frames[1], (StdStream::Stderr, b"oops\n".to_vec()));
            assert_eq!(frames[2], (StdStream::SystemErr, b"boom".to_vec()));
            assert_eq!(d.pending(), 0);
            assert!(d.finish().is_ok());
        }
        let mut d = Decoder::new();
        d.push(&[9, 0, 0, 0, 0, 0, 0, 1, b'x']);
        assert_eq!(d.next_frame(), Err(StdcopyError::UnknownStream(9)));
        let mut d = Decoder::new();
        d.push(&frame(StdStream::Stdout, b"abc")[..5]);
        assert_eq!(d.finish(), Err(StdcopyError::Truncated(5)));
    }
}
