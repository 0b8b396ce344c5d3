//! Docker's stdcopy framing for the shim side: the codec is `berth_api_types::stdcopy` (one for
//! the shim, the API and the client); here, decoding a whole buffer (a health check's output,
//! tests).

pub use berth_api_types::stdcopy::*;

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
            // The shim never writes stream 3; in a container's output it is malformed.
            StdStream::SystemErr => return Err(StdcopyError::UnknownStream(3)),
            StdStream::Stdin | StdStream::Stdout => out.0.extend_from_slice(&bytes),
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
