//! Reading layer archives: compression detection and safe extraction.
//!
//! A layer tar is untrusted input: its paths may contain `..`, be absolute, or go through a
//! symlink the same archive planted a few entries earlier (`evil -> /etc`, then `evil/passwd`).
//! [`apply_tar`] therefore never resolves a path the usual way: every parent directory is opened
//! with `openat2(RESOLVE_IN_ROOT)` relative to the destination, so a symlink is interpreted as
//! if the destination were `/` (the same containment Docker gets from `chroot`), and the final
//! component is created with `*at` calls on that directory fd without following symlinks.
//! Lexical `..` that would climb above the root is refused outright.

mod compression;
mod extract;
mod fsops;
mod meta;

use crate::error::{Result, StorageError};
use berth_common::Digest;
use berth_common::digest::Sha256Writer;
pub use compression::{Compression, decompress};
use extract::Extractor;
use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// How whiteout entries (`.wh.<name>`, `.wh..wh..opq`) are materialised, which depends on what
/// the destination already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// The destination holds only this layer (overlay snapshots): deletions are recorded the way
    /// overlayfs reads them, a 0/0 character device for a deleted name and the
    /// `trusted.overlay.opaque=y` xattr on an opaque directory.
    Overlay,
    /// The destination already holds the parent's full tree (copy snapshots): deletions are
    /// carried out in place.
    Delete,
}

/// What [`apply_tar`] did, for layer size accounting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// Bytes of regular-file content written (what `docker history` shows as SIZE).
    pub size: u64,
    /// Archive entries processed, whiteouts included.
    pub entries: u64,
}

/// What [`apply_layer`] found out about a (possibly compressed) layer while applying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackedLayer {
    /// sha256 of the whole uncompressed stream, trailing padding included.
    pub diff_id: Digest,
    /// The compression recognised from the first bytes.
    pub compression: Compression,
    /// Extraction counters.
    pub stats: ApplyStats,
}

/// Decompresses `layer`, extracts it into `dest` with [`apply_tar`] and hashes the uncompressed
/// bytes on the way, so the diff ID is known after a single pass over a possibly huge stream.
/// The stream is drained past the tar end-of-archive marker so the digest covers every byte.
/// The caller compares the diff ID and discards `dest` on mismatch.
pub fn apply_layer(
    layer: &mut dyn Read,
    dest: &Path,
    whiteouts: WhiteoutMode,
) -> Result<UnpackedLayer> {
    let (compression, decoded) = decompress(layer).map_err(malformed)?;
    let mut hashed = HashingReader {
        inner: decoded,
        hash: Sha256Writer::new(io::sink()),
    };
    let stats = apply_tar(&mut hashed, dest, whiteouts)?;
    io::copy(&mut hashed, &mut io::sink()).map_err(malformed)?;
    let (_, diff_id, _) = hashed.hash.finish();
    Ok(UnpackedLayer {
        diff_id,
        compression,
        stats,
    })
}

/// A reader that hashes what it hands out.
pub(super) struct HashingReader<R> {
    inner: R,
    hash: Sha256Writer<io::Sink>,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Extracts an uncompressed layer tar into `dest` without ever writing outside it.
///
/// Supports regular files, directories, symlinks, hardlinks, devices and fifos with their mode
/// (setuid bits included), owner, mtime and `SCHILY.xattr.*` extended attributes; an entry
/// replaces whatever non-directory was at its path. Errors: [`StorageError::InvalidLayer`] for a
/// malformed archive or an entry escaping `dest`; [`StorageError::Io`] for file system failures.
/// On error `dest` is left half-written: callers extract into a scratch directory.
pub fn apply_tar(
    reader: &mut dyn Read,
    dest: &Path,
    whiteouts: WhiteoutMode,
) -> Result<ApplyStats> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let root = rustix::fs::open(dest, flags, Mode::empty())
        .map_err(|e| StorageError::io(dest, e.into()))?;
    apply_tar_at(reader, root, dest, whiteouts)
}

/// [`apply_tar`] into a directory already held as a descriptor (`O_PATH` is enough), e.g. one
/// resolved inside a live container by [`crate::confined::Tree`]: nothing is looked up by
/// path above it, so a container renaming things meanwhile cannot redirect the extraction.
/// `shown` is the path used in error messages.
pub fn apply_tar_at(
    reader: &mut dyn Read,
    dest: OwnedFd,
    shown: &Path,
    whiteouts: WhiteoutMode,
) -> Result<ApplyStats> {
    let mut extractor = Extractor::open(dest, shown, whiteouts);
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(malformed)? {
        let mut entry = entry.map_err(malformed)?;
        extractor.entry(&mut entry)?;
    }
    extractor.finish()
}

pub(super) const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// The opaque marker once [`WHITEOUT_PREFIX`] is stripped.
pub(super) const OPAQUE_MARKER: &[u8] = b".wh..opq";
pub(super) const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

pub(super) fn malformed(e: io::Error) -> StorageError {
    StorageError::InvalidLayer(format!("malformed layer archive: {e}"))
}

pub(super) fn invalid(msg: String) -> StorageError {
    StorageError::InvalidLayer(msg)
}

pub(super) fn escapes(shown: &str) -> StorageError {
    invalid(format!("{shown}: path escapes the layer root"))
}

/// Lexically normalises an archive path: leading `/`, `.` and empty components are dropped and
/// `..` pops a component. `None` when `..` would climb above the root.
pub(super) fn normalize(raw: &[u8]) -> Option<PathBuf> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.into_iter().map(OsStr::from_bytes).collect())
}

#[cfg(test)]
mod tests {
    use super::meta::parse_pax_time;
    use super::*;
    use std::io::Write;

    fn roundtrip(data: &[u8], expect: Compression) {
        let (c, mut r) = decompress(data).unwrap();
        assert_eq!(c, expect);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"payload");
    }

    #[test]
    fn normalize_contains_or_refuses() {
        let n = |p: &str| normalize(p.as_bytes());
        assert_eq!(n("/etc/passwd"), Some(PathBuf::from("etc/passwd")));
        assert_eq!(n("./a//b/./c/"), Some(PathBuf::from("a/b/c")));
        assert_eq!(n("a/../b"), Some(PathBuf::from("b")));
        assert_eq!(n("./"), Some(PathBuf::new()));
        assert_eq!(n("../x"), None);
        assert_eq!(n("a/../../x"), None);
    }

    #[test]
    fn pax_times_keep_nanoseconds() {
        let t = parse_pax_time("1700000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 500_000_000));
        assert_eq!(parse_pax_time("12").unwrap().tv_nsec, 0);
        assert!(parse_pax_time("1.x").is_none());
    }

    fn entry(b: &mut tar::Builder<Vec<u8>>, path: &str, kind: tar::EntryType, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_path(path).unwrap();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    fn whiteout_layer() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        entry(&mut b, "d/", tar::EntryType::Directory, b"");
        entry(&mut b, "d/mine", tar::EntryType::Regular, b"m");
        entry(&mut b, "d/.wh..wh..opq", tar::EntryType::Regular, b"");
        entry(&mut b, ".wh.gone", tar::EntryType::Regular, b"");
        b.into_inner().unwrap()
    }

    #[test]
    fn overlay_mode_writes_overlayfs_whiteouts() {
        if !rustix::process::geteuid().is_root() {
            berth_common::skip::skip("needs root (mknod, trusted.* xattrs)");
            return;
        }
        let dest = tempfile::tempdir().unwrap();
        let stats = apply_tar(
            &mut &whiteout_layer()[..],
            dest.path(),
            WhiteoutMode::Overlay,
        )
        .unwrap();
        assert_eq!(
            stats,
            ApplyStats {
                size: 1,
                entries: 4
            }
        );
        let md = std::fs::symlink_metadata(dest.path().join("gone")).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_char_device(
            &md.file_type()
        ));
        assert_eq!(std::os::unix::fs::MetadataExt::rdev(&md), 0);
        let mut buf = [0u8; 4];
        let n = rustix::fs::getxattr(dest.path().join("d"), OPAQUE_XATTR, &mut buf[..]).unwrap();
        assert_eq!(&buf[..n], b"y");
        assert!(dest.path().join("d/mine").exists());
    }

    #[test]
    fn delete_mode_keeps_this_layers_entries_in_an_opaque_dir() {
        let dest = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dest.path().join("d/lower-dir")).unwrap();
        std::fs::write(dest.path().join("d/lower"), "l").unwrap();
        std::fs::write(dest.path().join("gone"), "g").unwrap();
        apply_tar(
            &mut &whiteout_layer()[..],
            dest.path(),
            WhiteoutMode::Delete,
        )
        .unwrap();
        let names: Vec<_> = std::fs::read_dir(dest.path().join("d"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["mine"]);
        assert!(!dest.path().join("gone").exists());
    }

    #[test]
    fn detects_and_decodes_each_format() {
        roundtrip(b"payload", Compression::None);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"payload").unwrap();
        roundtrip(&gz.finish().unwrap(), Compression::Gzip);
        roundtrip(
            &zstd::encode_all(&b"payload"[..], 1).unwrap(),
            Compression::Zstd,
        );
    }
}
