//! What a stream of bytes is, from its first bytes: a build context or `docker load` input may
//! be a tar, compressed or not, or (for a remote build context) a plain Dockerfile.

/// Bytes of the head [`is_archive`] needs to see (a tar's `ustar` magic is at 257).
pub const HEAD_LEN: usize = 262;

/// Whether `head` starts a tar archive or a gzip, zstd, bzip2 or xz stream.
pub fn is_archive(head: &[u8]) -> bool {
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    let zstd = head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
    let bzip = head.starts_with(b"BZh");
    let xz = head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]);
    let tar = head.len() >= HEAD_LEN && &head[257..262] == b"ustar";
    gzip || zstd || bzip || xz || tar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_are_told_from_text() {
        assert!(is_archive(&[0x1f, 0x8b, 8]));
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert!(is_archive(&tar));
        assert!(!is_archive(b"FROM busybox\n"));
        assert!(!is_archive(b""));
    }
}
