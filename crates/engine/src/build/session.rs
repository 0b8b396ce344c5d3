//! Context sessions: what a client's context directory held at its last build, kept by the
//! daemon so the next build of the same directory sends only the files that changed (as
//! BuildKit's local source does), while the cache keys stay content checksums.
//!
//! A session is one directory per client-chosen key (the Berth CLI derives it from the host
//! and the context's path): `pack.<generation>` holds file contents back to back, appended as
//! they arrive, and `index.json` maps each path to its contents' offset, size and sha256 and
//! to the *stamp* the client reported for it (inode, size, mtime and ctime in nanoseconds,
//! mode, owner). A file whose stamp is unchanged is not sent again. The client gives no stamp
//! for a file changed in the last seconds (a second change inside the same timestamp tick
//! would leave the stamp equal), so such a file is always sent — git's "racily clean" rule.
//!
//! Crash safety: appended contents are synced before the index that points at them is
//! replaced (atomically), so an index never names bytes that are not on disk; bytes past
//! what the index names are garbage, dropped when the pack is compacted (rewritten as a new
//! generation) once it holds more garbage than live data. A session is locked while a build
//! receives its context, not while the build runs: a build reads the pack through its own
//! handle, which a later compaction does not disturb.

use crate::error::EngineError;
use berth_api_types::build::{ContextEntry, ContextEntryKind};
use berth_common::Sha256Writer;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Garbage a pack may hold beyond its live bytes before it is compacted.
const COMPACT_SLACK: u64 = 32 << 20;

/// Every session under one directory, with a lock per key.
pub(crate) struct Sessions {
    dir: PathBuf,
    locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

/// A file as a session keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Stored {
    /// The client's stamp when it was sent; `None` never matches.
    pub stamp: Option<String>,
    /// Where its contents start in the pack.
    pub offset: u64,
    /// Its size.
    pub size: u64,
    /// sha256 (hex) of its contents.
    pub digest: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    generation: u64,
    files: BTreeMap<String, Stored>,
}

/// A session's size and last use, for `system df` and the prunes.
pub(crate) struct SessionUsage {
    /// The session's key.
    pub key: String,
    /// Bytes its pack takes.
    pub size: u64,
    /// When a build last used it.
    pub last_used: SystemTime,
}

impl Sessions {
    /// The sessions kept under `dir`.
    pub fn new(dir: PathBuf) -> Sessions {
        Sessions {
            dir,
            locks: Mutex::new(HashMap::new()),
        }
    }

    fn lock_of(&self, key: &str) -> Arc<Mutex<()>> {
        self.locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.to_string())
            .or_default()
            .clone()
    }

    /// The regular files of `manifest` whose contents session `key` does not hold as they
    /// are now: the ones the client must send.
    pub fn needed(&self, key: &str, manifest: &[ContextEntry]) -> Result<Vec<String>, EngineError> {
        let dir = self.session_dir(key)?;
        let lock = self.lock_of(key);
        let _held = lock.lock().unwrap_or_else(|e| e.into_inner());
        let index = load_index(&dir);
        Ok(manifest
            .iter()
            .filter(|e| e.kind == ContextEntryKind::File)
            .filter(|e| reusable(&index, e).is_none())
            .map(|e| e.path.clone())
            .collect())
    }

    /// Runs `receive` with session `key` locked and open for appending.
    pub fn with<T>(
        &self,
        key: &str,
        receive: impl FnOnce(&mut Session) -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let dir = self.session_dir(key)?;
        let lock = self.lock_of(key);
        let _held = lock.lock().unwrap_or_else(|e| e.into_inner());
        for d in [&self.dir, &dir] {
            std::fs::create_dir_all(d).map_err(|e| EngineError::io(d, e))?;
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| EngineError::io(d, e))?;
        }
        let index = load_index(&dir);
        remove_other_packs(&dir, index.generation);
        let path = pack_path(&dir, index.generation);
        let pack = File::options()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| EngineError::io(&path, e))?;
        let len = pack
            .metadata()
            .map_err(|e| EngineError::io(&path, e))?
            .len();
        let mut session = Session {
            dir,
            index,
            pack: Arc::new(pack),
            len,
            appended: false,
        };
        receive(&mut session)
    }

    /// Every session's size and last use.
    pub fn usage(&self) -> Vec<SessionUsage> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        rd.flatten()
            .map(|e| {
                let key = e.file_name().to_string_lossy().into_owned();
                let index = e.path().join("index.json");
                let last_used = std::fs::metadata(&index)
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                let size = crate::volumes::disk_usage(&e.path());
                SessionUsage {
                    key,
                    size,
                    last_used,
                }
            })
            .collect()
    }

    /// Removes session `key` unless a build is receiving into it; its size when removed.
    pub fn remove(&self, key: &str) -> Option<u64> {
        let dir = self.session_dir(key).ok()?;
        let lock = self.lock_of(key);
        let _held = lock.try_lock().ok()?;
        let size = crate::volumes::disk_usage(&dir);
        std::fs::remove_dir_all(&dir).ok()?;
        Some(size)
    }

    fn session_dir(&self, key: &str) -> Result<PathBuf, EngineError> {
        let valid = !key.is_empty()
            && key.len() <= 64
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err(EngineError::InvalidArgument(format!(
                "invalid context session {key:?}: expected up to 64 lower-case letters, digits and dashes"
            )));
        }
        Ok(self.dir.join(key))
    }
}

/// A session open for one build's upload.
pub(crate) struct Session {
    dir: PathBuf,
    index: Index,
    pack: Arc<File>,
    len: u64,
    appended: bool,
}

impl Session {
    /// What the session holds for `entry` as the client sees it now, if it is still valid.
    pub fn reusable(&self, entry: &ContextEntry) -> Option<&Stored> {
        reusable(&self.index, entry)
    }

    /// The file at `rel` in the index (after a commit: where the build reads it).
    pub fn stored(&self, rel: &str) -> Option<&Stored> {
        self.index.files.get(rel)
    }

    /// Appends `contents` to the pack, hashing them: where they went and their digest.
    pub fn append(&mut self, contents: &mut dyn Read, stamp: Option<String>) -> io::Result<Stored> {
        // From the file's real end: an append that failed half-way leaves bytes behind.
        let offset = self.pack.metadata()?.len();
        let mut out = Sha256Writer::new(io::BufWriter::with_capacity(
            1 << 20,
            PackWriter { pack: &self.pack },
        ));
        io::copy(contents, &mut out)?;
        let (mut buffered, digest, size) = out.finish();
        buffered.flush()?;
        self.len = offset + size;
        self.appended = true;
        Ok(Stored {
            stamp,
            offset,
            size,
            digest: digest.hex().to_string(),
        })
    }

    /// Makes `files` the session's index (the contents they name synced first), compacting
    /// the pack when most of it is garbage; returns a handle on the pack they are read from.
    pub fn commit(&mut self, files: BTreeMap<String, Stored>) -> Result<Arc<File>, EngineError> {
        let path = self.dir.join("index.json");
        if !self.appended && files == self.index.files {
            // Nothing changed: only the last use is recorded (the index's mtime).
            if let Ok(f) = File::options().write(true).open(&path) {
                let _ = f.set_modified(SystemTime::now());
            }
            return Ok(self.pack.clone());
        }
        let live: u64 = files.values().map(|f| f.size).sum();
        let old = pack_path(&self.dir, self.index.generation);
        let mut files = files;
        let (pack, generation) = if self.len > live.saturating_mul(2) + COMPACT_SLACK {
            self.compact(&mut files)?
        } else {
            if self.appended {
                self.pack
                    .sync_data()
                    .map_err(|e| EngineError::io(&old, e))?;
            }
            (self.pack.clone(), self.index.generation)
        };
        if generation != self.index.generation {
            self.len = live;
        }
        self.index = Index { generation, files };
        self.pack = pack.clone();
        self.appended = false;
        let text =
            serde_json::to_vec(&self.index).map_err(|e| EngineError::Internal(e.to_string()))?;
        berth_storage::atomic::write_file(&path, &text)?;
        remove_other_packs(&self.dir, generation);
        Ok(pack)
    }

    /// Copies the live contents of `files` to a new generation of the pack (their offsets
    /// updated): the new pack and its generation.
    fn compact(
        &self,
        files: &mut BTreeMap<String, Stored>,
    ) -> Result<(Arc<File>, u64), EngineError> {
        let generation = self.index.generation + 1;
        let path = pack_path(&self.dir, generation);
        let new = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| EngineError::io(&path, e))?;
        let mut out = io::BufWriter::with_capacity(1 << 20, &new);
        let mut at = 0;
        for f in files.values_mut() {
            let mut from = PackReader {
                pack: self.pack.clone(),
                at: f.offset,
                left: f.size,
            };
            io::copy(&mut from, &mut out).map_err(|e| EngineError::io(&path, e))?;
            f.offset = at;
            at += f.size;
        }
        out.flush().map_err(|e| EngineError::io(&path, e))?;
        drop(out);
        new.sync_data().map_err(|e| EngineError::io(&path, e))?;
        Ok((Arc::new(new), generation))
    }
}

fn reusable<'a>(index: &'a Index, entry: &ContextEntry) -> Option<&'a Stored> {
    let stamp = entry.stamp.as_deref()?;
    index
        .files
        .get(&entry.path)
        .filter(|s| s.stamp.as_deref() == Some(stamp) && s.size == entry.size)
}

fn pack_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("pack.{generation}"))
}

/// The session's index; an unreadable one (none yet, or damaged) is an empty session, and
/// entries past the end of their pack (a pack lost or cut short) are forgotten.
fn load_index(dir: &Path) -> Index {
    let mut index: Index = std::fs::read(dir.join("index.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let len = std::fs::metadata(pack_path(dir, index.generation)).map_or(0, |m| m.len());
    index
        .files
        .retain(|_, f| f.offset.checked_add(f.size).is_some_and(|end| end <= len));
    index
}

fn remove_other_packs(dir: &Path, generation: u64) {
    let keep = format!("pack.{generation}");
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("pack.") && name != keep {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Writes at increasing offsets of the pack (opened for appending, so the offsets are where
/// the appends land: the session is locked, nobody else writes).
struct PackWriter<'a> {
    pack: &'a File,
}

impl Write for PackWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.pack).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads `left` bytes of a pack (or any file) from offset `at`, positionally, so readers
/// sharing the handle do not disturb each other.
pub(crate) struct PackReader {
    /// The file read.
    pub pack: Arc<File>,
    /// The next offset.
    pub at: u64,
    /// Bytes still to read.
    pub left: u64,
}

impl Read for PackReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.left as usize);
        let n = self.pack.read_at(&mut buf[..want], self.at)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the stored context ends early",
            ));
        }
        self.at += n as u64;
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, size: u64, stamp: Option<&str>) -> ContextEntry {
        ContextEntry {
            path: path.into(),
            kind: ContextEntryKind::File,
            mode: 0o644,
            mtime: 0,
            size,
            link: None,
            stamp: stamp.map(str::to_string),
        }
    }

    fn read(pack: &Arc<File>, s: &Stored) -> Vec<u8> {
        let mut v = Vec::new();
        PackReader {
            pack: pack.clone(),
            at: s.offset,
            left: s.size,
        }
        .read_to_end(&mut v)
        .unwrap();
        v
    }

    #[test]
    fn unchanged_stamps_are_reused_and_changed_or_fresh_files_are_needed() {
        let tmp = tempfile::tempdir().unwrap();
        let sessions = Sessions::new(tmp.path().to_path_buf());
        let a = entry("a", 2, Some("s1"));
        let fresh = entry("f", 1, None);
        assert_eq!(
            sessions.needed("k1", &[a.clone(), fresh.clone()]).unwrap(),
            ["a", "f"]
        );
        sessions
            .with("k1", |s| {
                let mut files = BTreeMap::new();
                files.insert(
                    "a".into(),
                    s.append(&mut &b"hi"[..], a.stamp.clone()).unwrap(),
                );
                files.insert("f".into(), s.append(&mut &b"x"[..], None).unwrap());
                let pack = s_commit(s, files.clone());
                assert_eq!(read(&pack, &files["a"]), b"hi");
                Ok(())
            })
            .unwrap();
        // Same stamp: not needed; a new stamp or no stamp: needed.
        assert_eq!(
            sessions.needed("k1", &[a.clone(), fresh.clone()]).unwrap(),
            ["f"]
        );
        assert_eq!(
            sessions.needed("k1", &[entry("a", 2, Some("s2"))]).unwrap(),
            ["a"]
        );
        assert!(sessions.needed("../x", &[]).is_err());
        // A pack cut short (a crash, a disk error) forgets what it no longer holds.
        std::fs::File::options()
            .write(true)
            .open(tmp.path().join("k1/pack.0"))
            .unwrap()
            .set_len(1)
            .unwrap();
        assert_eq!(
            sessions.needed("k1", std::slice::from_ref(&a)).unwrap(),
            ["a"]
        );
        assert!(sessions.remove("k1").is_some());
        assert_eq!(sessions.needed("k1", &[a]).unwrap(), ["a"]);
    }

    fn s_commit(s: &mut Session, files: BTreeMap<String, Stored>) -> Arc<File> {
        s.commit(files).unwrap()
    }

    #[test]
    fn a_pack_mostly_garbage_is_compacted_and_readers_keep_their_handle() {
        let tmp = tempfile::tempdir().unwrap();
        let sessions = Sessions::new(tmp.path().to_path_buf());
        let big = vec![7u8; (COMPACT_SLACK + 1024) as usize];
        let first = sessions
            .with("k", |s| {
                let big_one = s.append(&mut &big[..], Some("b".into())).unwrap();
                let mut files = BTreeMap::new();
                files.insert("big".to_string(), big_one.clone());
                Ok((s_commit(s, files), big_one))
            })
            .unwrap();
        // The big file is gone from the context: the next commit compacts.
        let (pack, small) = sessions
            .with("k", |s| {
                let small = s.append(&mut &b"small"[..], Some("s".into())).unwrap();
                let mut files = BTreeMap::new();
                files.insert("small".to_string(), small);
                let pack = s_commit(s, files);
                Ok((pack, load_index(&s.dir).files["small"].clone()))
            })
            .unwrap();
        assert_eq!(small.offset, 0);
        assert_eq!(read(&pack, &small), b"small");
        assert!(tmp.path().join("k/pack.1").exists() && !tmp.path().join("k/pack.0").exists());
        // A build still reading the old generation reads it whole.
        assert_eq!(read(&first.0, &first.1).len(), big.len());
    }
}
