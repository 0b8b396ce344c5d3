//! Docker's stdcopy multiplexing: each chunk of output is preceded by an 8-byte header
//! `[stream, 0, 0, 0, len as big-endian u32]`, so stdout and stderr can share one connection.
//!
//! The API uses it for attach, exec and logs of non-TTY containers; the shim produces it so the
//! engine can forward bytes untouched, and the CLI decodes it. Pure functions and a small
//! incremental [`Decoder`]: no I/O here.

/// Which stream a frame belongs to (the first header byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StdStream {
    /// 0: stdin (written by Docker for TTY-less stdin echoes; rarely seen).
    Stdin = 0,
    /// 1: stdout.
    Stdout = 1,
    /// 2: stderr.
    Stderr = 2,
}

impl StdStream {
    /// The stream for a header byte, or `None` for an unknown one (Docker's "systemerr" 3 is
    /// not produced by Berth).
    pub fn from_byte(b: u8) -> Option<StdStream> {
        match b {
            0 => Some(StdStream::Stdin),
            1 => Some(StdStream::Stdout),
            2 => Some(StdStream::Stderr),
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

    /// Checks that no partial frame is left once the input has ended.
    pub fn finish(&self) -> Result<(), StdcopyError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(StdcopyError::Truncated(self.buf.len()))
        }
    }
}

/// Decodes a complete buffer into frames.
pub fn decode_all(data: &[u8]) -> Result<Vec<(StdStream, Vec<u8>)>, StdcopyError> {
    let mut d = Decoder::new();
    d.push(data);
    let mut frames = Vec::new();
    while let Some(f) = d.next_frame()? {
        frames.push(f);
    }
    d.finish()?;
    Ok(frames)
}

/// Decodes a complete buffer and concatenates each stream: `(stdout, stderr)`.
pub fn demux(data: &[u8]) -> Result<(Vec<u8>, Vec<u8>), StdcopyError> {
    let mut out = (Vec::new(), Vec::new());
    for (stream, bytes) in decode_all(data)? {
        match stream {
            StdStream::Stderr => out.1.extend_from_slice(&bytes),
            _ => out.0.extend_from_slice(&bytes),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_docker_headers() {
        let mut out = Vec::new();
        encode(StdStream::Stderr, b"err\n", &mut out);
        assert_eq!(out, [2, 0, 0, 0, 0, 0, 0, 4, b'e', b'r', b'r', b'\n']);
        encode(StdStream::Stdout, b"", &mut out);
        assert_eq!(out.len(), 12);
    }

    #[test]
    fn decodes_incrementally() {
        let mut wire = Vec::new();
        encode(StdStream::Stdout, b"out\n", &mut wire);
        encode(StdStream::Stderr, b"err\n", &mut wire);
        let mut d = Decoder::new();
        let mut frames = Vec::new();
        for b in &wire {
            d.push(std::slice::from_ref(b));
            while let Some(f) = d.next_frame().unwrap() {
                frames.push(f);
            }
        }
        d.finish().unwrap();
        assert_eq!(
            frames,
            vec![
                (StdStream::Stdout, b"out\n".to_vec()),
                (StdStream::Stderr, b"err\n".to_vec())
            ]
        );
        assert_eq!(
            demux(&wire).unwrap(),
            (b"out\n".to_vec(), b"err\n".to_vec())
        );
    }

    #[test]
    fn rejects_bad_frames() {
        assert_eq!(
            decode_all(&[7, 0, 0, 0, 0, 0, 0, 0]),
            Err(StdcopyError::UnknownStream(7))
        );
        assert_eq!(
            decode_all(&[1, 0, 0, 0, 0, 0, 0, 5, b'x']),
            Err(StdcopyError::Truncated(9))
        );
    }
}
