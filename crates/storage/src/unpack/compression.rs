//! Layer compression, recognised from a stream's first bytes (gzip, zstd, or none).

use std::io::{self, BufReader, Read};

/// Layer compression, recognised from the stream's first bytes rather than trusted from a media
/// type, since archives in the wild mislabel layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// Sniffs the compression from the first bytes of a stream.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// The OCI layer media type for this compression.
    pub fn oci_media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// The longest magic number [`Compression::detect`] looks for.
const MAGIC_LEN: usize = 4;

/// Wraps `reader` in the right decompressor; also says which one it chose. The magic number is
/// read whole even from a reader that hands out a few bytes at a time (a download still
/// arriving), so a short first read is never mistaken for a plain tar.
pub fn decompress<'a>(mut reader: impl Read + 'a) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut head = [0u8; MAGIC_LEN];
    let mut len = 0;
    while len < MAGIC_LEN {
        match reader.read(&mut head[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let compression = Compression::detect(&head[..len]);
    let buffered =
        BufReader::with_capacity(1 << 20, io::Cursor::new(head[..len].to_vec()).chain(reader));
    let out: Box<dyn Read + 'a> = match compression {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?),
    };
    Ok((compression, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Hands out one byte per read, as a download that has just begun may.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some((first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            buf[0] = *first;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn a_magic_number_arriving_a_byte_at_a_time_is_still_recognised() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"layer bytes").unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&b"layer bytes"[..], 1).unwrap();
        for (bytes, kind) in [
            (&gz[..], Compression::Gzip),
            (&zst[..], Compression::Zstd),
            (&b"layer bytes"[..], Compression::None),
            (&b"ab"[..], Compression::None),
        ] {
            let (found, mut out) = decompress(Trickle(bytes)).unwrap();
            assert_eq!(found, kind);
            let mut text = Vec::new();
            out.read_to_end(&mut text).unwrap();
            let expected: &[u8] = if bytes == b"ab" {
                b"ab"
            } else {
                b"layer bytes"
            };
            assert_eq!(text, expected);
        }
    }
}
