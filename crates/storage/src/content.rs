//! The content-addressed blob store.
//!
//! Layout under the store root: `blobs/sha256/<hex>` for committed blobs, `ingest/` for blobs
//! being written and `partial/<hex>` for downloads that may be resumed ([`Partial`]). A blob only ever reaches `blobs/` through [`Ingest::commit`], which checks the
//! digest, fsyncs and renames, so a crash leaves at most a stray file in `ingest/`, which
//! [`ContentStore::open`] removes. Reads are verified too: [`ContentStore::open_blob`] returns a
//! reader that fails at end of stream if the bytes on disk no longer match their name.

use crate::atomic::sync_dir;
use crate::error::{Result, StorageError};
use crate::tail::{Ending, Follower, Tail};
use berth_common::{Digest, Sha256Writer};
use sha2::{Digest as _, Sha256};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Buffer used when copying blobs: large enough that syscalls do not dominate hashing.
const COPY_BUF: usize = 1 << 20;

/// A directory of blobs named by their sha256.
#[derive(Debug)]
pub struct ContentStore {
    root: PathBuf,
    counter: AtomicU64,
}

impl ContentStore {
    /// Opens (creating if needed) a store at `root`, discarding unfinished ingests of a previous run.
    pub fn open(root: &Path) -> Result<ContentStore> {
        let blobs = root.join("blobs/sha256");
        fs::create_dir_all(&blobs).map_err(|e| StorageError::io(&blobs, e))?;
        let ingest = root.join("ingest");
        if ingest.exists() {
            fs::remove_dir_all(&ingest).map_err(|e| StorageError::io(&ingest, e))?;
        }
        fs::create_dir_all(&ingest).map_err(|e| StorageError::io(&ingest, e))?;
        let partial = root.join("partial");
        fs::create_dir_all(&partial).map_err(|e| StorageError::io(&partial, e))?;
        remove_stale_partials(&partial);
        Ok(ContentStore {
            root: root.to_path_buf(),
            counter: AtomicU64::new(0),
        })
    }

    /// Where a blob lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// True when the blob is stored.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Size of a stored blob.
    pub fn size(&self, digest: &Digest) -> Result<u64> {
        let p = self.blob_path(digest);
        match fs::metadata(&p) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StorageError::BlobNotFound(digest.clone()))
            }
            Err(e) => Err(StorageError::io(p, e)),
        }
    }

    /// Starts writing a blob whose digest is learnt (or checked) at the end.
    pub fn ingest(&self) -> Result<Ingest> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let path = self
            .root
            .join("ingest")
            .join(format!("{}-{n}", std::process::id()));
        let file = File::create(&path).map_err(|e| StorageError::io(&path, e))?;
        Ok(Ingest {
            writer: Some(Sha256Writer::new(BufWriter::with_capacity(COPY_BUF, file))),
            path,
            blobs: self.root.join("blobs/sha256"),
        })
    }

    /// Opens the resumable download of blob `expected`: what an earlier, interrupted download
    /// wrote is kept (and re-hashed), so the caller asks only for the rest. `None` when
    /// another download of the same blob holds it right now.
    pub fn partial(&self, expected: &Digest) -> Result<Option<Partial>> {
        let path = self.root.join("partial").join(expected.hex());
        let mut file = fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| StorageError::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Ok(None),
            Err(fs::TryLockError::Error(e)) => return Err(StorageError::io(&path, e)),
        }
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; COPY_BUF];
        let mut written = 0u64;
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| StorageError::io(&path, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            written += n as u64;
        }
        Ok(Some(Partial {
            file,
            hasher,
            written,
            tail: Tail::new(written),
            path,
            expected: expected.clone(),
            blobs: self.root.join("blobs/sha256"),
        }))
    }

    /// Stores everything `reader` yields; returns its digest and size.
    pub fn write(&self, mut reader: impl Read) -> Result<Committed> {
        let mut ingest = self.ingest()?;
        copy(&mut reader, &mut ingest).map_err(|e| StorageError::io(&ingest.path, e))?;
        ingest.commit(None)
    }

    /// Stores `reader`'s bytes only if they hash to `expected`; otherwise nothing is stored.
    pub fn write_verified(&self, expected: &Digest, mut reader: impl Read) -> Result<Committed> {
        let mut ingest = self.ingest()?;
        copy(&mut reader, &mut ingest).map_err(|e| StorageError::io(&ingest.path, e))?;
        ingest.commit(Some(expected))
    }

    /// Stores a small blob held in memory (manifests, configs).
    pub fn write_bytes(&self, data: &[u8]) -> Result<Committed> {
        self.write(data)
    }

    /// Opens a blob for reading; the reader fails with [`StorageError::Corrupted`] (as an
    /// `io::Error` wrapping it) at end of stream if the content does not match the digest.
    pub fn open_blob(&self, digest: &Digest) -> Result<VerifyingReader> {
        let p = self.blob_path(digest);
        match File::open(&p) {
            Ok(file) => Ok(VerifyingReader {
                file,
                hasher: Sha256::new(),
                expected: digest.clone(),
                done: false,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StorageError::BlobNotFound(digest.clone()))
            }
            Err(e) => Err(StorageError::io(p, e)),
        }
    }

    /// Reads a whole (small) blob and verifies it.
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>> {
        let mut r = self.open_blob(digest)?;
        let mut buf = Vec::new();
        r.read_to_end(&mut buf)
            .map_err(|e| unwrap_io(e, self.blob_path(digest)))?;
        Ok(buf)
    }

    /// Re-hashes a stored blob.
    pub fn verify(&self, digest: &Digest) -> Result<()> {
        let mut r = self.open_blob(digest)?;
        io::copy(&mut r, &mut io::sink()).map_err(|e| unwrap_io(e, self.blob_path(digest)))?;
        Ok(())
    }

    /// Removes a blob; missing blobs are not an error.
    pub fn delete(&self, digest: &Digest) -> Result<()> {
        let p = self.blob_path(digest);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::io(p, e)),
        }
    }

    /// Every stored digest.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let dir = self.root.join("blobs/sha256");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| StorageError::io(&dir, e))? {
            let entry = entry.map_err(|e| StorageError::io(&dir, e))?;
            if let Some(d) = entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
            {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Turns an `io::Error` that wraps a [`StorageError`] (from [`VerifyingReader`]) back into it.
pub fn unwrap_io(e: io::Error, path: PathBuf) -> StorageError {
    if !e.get_ref().is_some_and(|inner| inner.is::<StorageError>()) {
        return StorageError::io(path, e);
    }
    match e.into_inner().map(|inner| inner.downcast::<StorageError>()) {
        Some(Ok(inner)) => *inner,
        _ => StorageError::io(path, io::Error::other("unreadable blob")),
    }
}

fn copy(reader: &mut impl Read, writer: &mut impl Write) -> io::Result<u64> {
    let mut buf = vec![0u8; COPY_BUF];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        writer.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// What [`Ingest::commit`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The blob's digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// False when an identical blob was already stored (callers rolling back must keep it).
    pub created: bool,
}

/// A blob being written. Dropping it without [`Ingest::commit`] discards the bytes.
pub struct Ingest {
    writer: Option<Sha256Writer<BufWriter<File>>>,
    path: PathBuf,
    blobs: PathBuf,
}

impl Ingest {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.writer.as_ref().map(|w| w.written()).unwrap_or(0)
    }

    /// Finishes the blob: verifies against `expected` when given, fsyncs and moves it into place.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<Committed> {
        let Some(writer) = self.writer.take() else {
            return Err(StorageError::io(&self.path, closed()));
        };
        let (buf, digest, size) = writer.finish();
        let file = buf
            .into_inner()
            .map_err(|e| StorageError::io(&self.path, e.into_error()))?;
        if let Some(expected) = expected
            && *expected != digest
        {
            let _ = fs::remove_file(&self.path);
            return Err(StorageError::DigestMismatch {
                expected: expected.clone(),
                actual: digest,
            });
        }
        let target = self.blobs.join(digest.hex());
        if target.is_file() {
            let _ = fs::remove_file(&self.path);
            return Ok(Committed {
                digest,
                size,
                created: false,
            });
        }
        file.sync_all()
            .map_err(|e| StorageError::io(&self.path, e))?;
        drop(file);
        fs::rename(&self.path, &target).map_err(|e| StorageError::io(&target, e))?;
        sync_dir(&self.blobs).map_err(|e| StorageError::io(&self.blobs, e))?;
        Ok(Committed {
            digest,
            size,
            created: true,
        })
    }
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.as_mut().ok_or_else(closed)?.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer.as_mut().ok_or_else(closed)?.flush()
    }
}

/// The error of an ingest used after its commit (its writer is gone).
fn closed() -> io::Error {
    io::Error::other("the ingest was committed already")
}

impl Drop for Ingest {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Partial downloads untouched for this long are given up on when the store opens.
const STALE_PARTIAL: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Removes partial downloads nobody resumed for [`STALE_PARTIAL`].
fn remove_stale_partials(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let stale = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_PARTIAL);
        if stale {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// A blob being downloaded into `partial/<hex>`, resumable after an interruption (a dropped
/// connection, a killed daemon): dropping it keeps what was written, [`Partial::commit`]
/// checks the digest and moves it into place, a mismatch deletes it. The file is locked while
/// a `Partial` is open, so two pulls never write the same download; [`Partial::follow`] reads
/// it while it grows (an unpack that keeps up with the download).
pub struct Partial {
    file: File,
    hasher: Sha256,
    written: u64,
    tail: Tail,
    path: PathBuf,
    expected: Digest,
    blobs: PathBuf,
}

impl Partial {
    /// Bytes already there: where the download resumes.
    pub fn offset(&self) -> u64 {
        self.written
    }

    /// A reader of this download from its first byte, which waits for bytes still to come
    /// and ends only when the download is committed (see [`crate::tail`]).
    pub fn follow(&self) -> Result<Follower> {
        self.tail
            .follow(&self.path)
            .map_err(|e| StorageError::io(&self.path, e))
    }

    /// Throws away what was written (the server would not resume).
    pub fn restart(&mut self) -> Result<()> {
        self.tail.end(Ending::Restarted);
        self.file
            .set_len(0)
            .map_err(|e| StorageError::io(&self.path, e))?;
        self.hasher = Sha256::new();
        self.written = 0;
        Ok(())
    }

    /// Appends the next bytes.
    pub fn append(&mut self, data: &[u8]) -> Result<()> {
        self.file
            .write_all(data)
            .map_err(|e| StorageError::io(&self.path, e))?;
        self.hasher.update(data);
        self.written += data.len() as u64;
        self.tail.grew(self.written);
        Ok(())
    }

    /// Finishes the download: the bytes must hash to the expected digest (else the partial
    /// file is deleted and nothing stored); fsyncs and moves the blob into place.
    pub fn commit(self) -> Result<Committed> {
        let actual = Digest::from_hex(&hex::encode(self.hasher.clone().finalize()))
            .map_err(|_| StorageError::Corrupted(self.expected.clone()))?;
        if actual != self.expected {
            let _ = fs::remove_file(&self.path);
            let refused = StorageError::DigestMismatch {
                expected: self.expected.clone(),
                actual,
            };
            self.tail.end(Ending::Failed(refused.to_string()));
            return Err(refused);
        }
        let target = self.blobs.join(actual.hex());
        let size = self.written;
        if target.is_file() {
            let _ = fs::remove_file(&self.path);
            self.tail.end(Ending::Verified);
            return Ok(Committed {
                digest: actual,
                size,
                created: false,
            });
        }
        self.file
            .sync_all()
            .map_err(|e| StorageError::io(&self.path, e))?;
        fs::rename(&self.path, &target).map_err(|e| StorageError::io(&target, e))?;
        sync_dir(&self.blobs).map_err(|e| StorageError::io(&self.blobs, e))?;
        self.tail.end(Ending::Verified);
        Ok(Committed {
            digest: actual,
            size,
            created: true,
        })
    }

    /// Gives the download up, deleting what it wrote (bytes that cannot be the blob).
    pub fn discard(self) {
        let _ = fs::remove_file(&self.path);
    }
}

impl Drop for Partial {
    /// A download dropped before its commit tells its followers it stopped (what it wrote
    /// stays for a resumed pull).
    fn drop(&mut self) {
        self.tail.end(Ending::Failed(format!(
            "the download of {} stopped after {} bytes",
            self.expected, self.written
        )));
    }
}

/// Reads a stored blob and checks its digest when the end is reached.
pub struct VerifyingReader {
    file: File,
    hasher: Sha256,
    expected: Digest,
    done: bool,
}

impl Read for VerifyingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        if n > 0 {
            self.hasher.update(&buf[..n]);
        } else if !buf.is_empty() && !self.done {
            self.done = true;
            let actual = hex::encode(self.hasher.clone().finalize());
            if actual != self.expected.hex() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    StorageError::Corrupted(self.expected.clone()),
                ));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ContentStore) {
        let d = tempfile::tempdir().unwrap();
        let s = ContentStore::open(d.path()).unwrap();
        (d, s)
    }

    #[test]
    fn stores_and_reads_back() {
        let (_d, s) = store();
        let c = s.write_bytes(b"hello").unwrap();
        assert_eq!(c.digest, Digest::of(b"hello"));
        assert!(c.created);
        assert_eq!(s.read(&c.digest).unwrap(), b"hello");
        assert_eq!(s.size(&c.digest).unwrap(), 5);
        assert!(!s.write_bytes(b"hello").unwrap().created);
        assert_eq!(s.list().unwrap(), vec![c.digest]);
    }

    #[test]
    fn partial_downloads_resume_where_they_stopped_and_are_verified() {
        let (d, s) = store();
        let blob = b"the whole blob, in two halves";
        let digest = Digest::of(blob);
        let mut p = s.partial(&digest).unwrap().unwrap();
        assert_eq!(p.offset(), 0);
        p.append(&blob[..10]).unwrap();
        // While one download holds it, another gets none.
        assert!(s.partial(&digest).unwrap().is_none());
        drop(p);
        // Reopening the store (a restarted daemon) keeps the partial download.
        let s = ContentStore::open(d.path()).unwrap();
        let mut p = s.partial(&digest).unwrap().unwrap();
        assert_eq!(p.offset(), 10);
        p.append(&blob[10..]).unwrap();
        let c = p.commit().unwrap();
        assert_eq!(c.digest, digest);
        assert_eq!(s.read(&digest).unwrap(), blob);
        assert_eq!(fs::read_dir(d.path().join("partial")).unwrap().count(), 0);

        // Bytes that are not the blob are refused and thrown away.
        let other = Digest::of(b"something else");
        let mut p = s.partial(&other).unwrap().unwrap();
        p.append(b"not it").unwrap();
        let err = p.commit().unwrap_err();
        assert!(matches!(err, StorageError::DigestMismatch { .. }), "{err}");
        assert!(!s.contains(&other));
        assert_eq!(fs::read_dir(d.path().join("partial")).unwrap().count(), 0);
    }

    #[test]
    fn mismatched_content_is_never_stored() {
        let (d, s) = store();
        let wrong = Digest::of(b"other");
        let err = s.write_verified(&wrong, &b"hello"[..]).unwrap_err();
        assert!(matches!(err, StorageError::DigestMismatch { .. }), "{err}");
        assert!(s.list().unwrap().is_empty());
        assert_eq!(fs::read_dir(d.path().join("ingest")).unwrap().count(), 0);
    }

    #[test]
    fn corruption_is_reported_on_read() {
        let (_d, s) = store();
        let c = s.write_bytes(b"hello").unwrap();
        fs::write(s.blob_path(&c.digest), b"jello").unwrap();
        assert!(matches!(s.read(&c.digest), Err(StorageError::Corrupted(_))));
        assert!(matches!(
            s.verify(&c.digest),
            Err(StorageError::Corrupted(_))
        ));
    }

    #[test]
    fn dropped_ingest_leaves_nothing_and_reopen_cleans_leftovers() {
        let (d, s) = store();
        {
            let mut i = s.ingest().unwrap();
            i.write_all(b"partial").unwrap();
        }
        assert_eq!(fs::read_dir(d.path().join("ingest")).unwrap().count(), 0);
        fs::write(d.path().join("ingest/stale"), b"x").unwrap();
        let _s = ContentStore::open(d.path()).unwrap();
        assert_eq!(fs::read_dir(d.path().join("ingest")).unwrap().count(), 0);
    }

    #[test]
    fn missing_blob_is_not_found() {
        let (_d, s) = store();
        assert!(matches!(
            s.read(&Digest::of(b"x")),
            Err(StorageError::BlobNotFound(_))
        ));
    }
}
