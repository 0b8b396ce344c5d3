//! Immutable files read through a memory mapping, so a server can hand their pages to the
//! socket without copying them through a userspace buffer (the registry serves blobs so).

use bytes::Bytes;
use std::fs::File;
use std::io;

/// The whole of `file` as [`Bytes`] backed by a read-only shared mapping (an empty file gives
/// empty bytes: a zero-length mapping is not allowed).
///
/// The caller promises the file is never truncated or rewritten while mapped: content-store
/// blobs are written once under a temporary name and renamed into place, and deleting (GC)
/// leaves an existing mapping valid.
pub fn map_immutable(file: &File) -> io::Result<Bytes> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: the mapping is read-only and private to this process's view of a file that is
    // never modified after it was renamed into the store (see above); unlinking it does not
    // invalidate the mapping. A concurrent truncation is the one thing that would fault, and
    // no code path truncates a committed blob.
    let map = unsafe { memmap2::Mmap::map(file)? };
    Ok(Bytes::from_owner(map))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn maps_what_the_file_holds() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"blob bytes").unwrap();
        assert_eq!(&map_immutable(&f).unwrap()[..], b"blob bytes");
        let empty = tempfile::tempfile().unwrap();
        assert!(map_immutable(&empty).unwrap().is_empty());
    }
}
