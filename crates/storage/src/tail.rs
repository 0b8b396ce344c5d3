//! Reading a download while it is still being written.
//!
//! A pull unpacks a layer as its bytes arrive instead of after the last one: the download
//! appends to its [`crate::content::Partial`] file (kept there for a resumed pull), and a
//! [`Follower`] reads the same file from the start through a descriptor of its own, waiting
//! when it has caught up. The follower sees the end of the stream only once the download has
//! been committed, that is, once its bytes hashed to their digest; until then whatever was
//! unpacked from them sits in a scratch directory that nothing uses. A download that fails, or
//! that had to start over (the server ignored `Range`), ends the follower with an error, so an
//! unpack never finishes on bytes that were not verified.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// How a download ended, as its follower learns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Committed: every byte hashed to the digest.
    Verified,
    /// Written from the beginning again: what was read before is not the blob's start.
    Restarted,
    /// Stopped, or refused (a digest mismatch): the message says which.
    Failed(String),
}

/// A follower that has caught up sleeps until this many more bytes are in (or the download
/// ends), so a fast unpacker wakes a few times per MiB-sized batch instead of once per network
/// read.
const BATCH: u64 = 1 << 20;

/// What a download and its followers share.
#[derive(Debug)]
struct Progress {
    /// Bytes in the file a follower may read.
    written: u64,
    /// Set once, when the download ends or restarts.
    ending: Option<Ending>,
    /// The size at which a waiting follower wants waking (`u64::MAX`: none waits).
    wake_at: u64,
}

impl Default for Progress {
    fn default() -> Progress {
        Progress {
            written: 0,
            ending: None,
            wake_at: u64::MAX,
        }
    }
}

/// The download's side: it reports bytes written and how it ended.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tail {
    shared: Arc<(Mutex<Progress>, Condvar)>,
}

impl Tail {
    /// A tail for a file that already holds `written` bytes.
    pub(crate) fn new(written: u64) -> Tail {
        let tail = Tail::default();
        tail.lock().written = written;
        tail
    }

    fn lock(&self) -> MutexGuard<'_, Progress> {
        self.shared.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The file now holds `written` bytes.
    pub(crate) fn grew(&self, written: u64) {
        let mut progress = self.lock();
        progress.written = written;
        if written >= progress.wake_at {
            progress.wake_at = u64::MAX;
            drop(progress);
            self.shared.1.notify_all();
        }
    }

    /// The download ended (only the first ending counts).
    pub(crate) fn end(&self, ending: Ending) {
        let mut progress = self.lock();
        if progress.ending.is_none() {
            progress.ending = Some(ending);
        }
        drop(progress);
        self.shared.1.notify_all();
    }

    /// A reader of the file at `path` from its first byte.
    pub(crate) fn follow(&self, path: &Path) -> io::Result<Follower> {
        Ok(Follower {
            file: File::open(path)?,
            position: 0,
            tail: self.clone(),
        })
    }
}

/// Reads a download from its first byte while it is written (see the module's documentation).
#[derive(Debug)]
pub struct Follower {
    file: File,
    position: u64,
    tail: Tail,
}

impl Follower {
    /// How the download ended, once it has.
    pub fn ending(&self) -> Option<Ending> {
        self.tail.lock().ending.clone()
    }
}

impl Read for Follower {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let available = {
            let mut progress = self.tail.lock();
            loop {
                match &progress.ending {
                    Some(Ending::Restarted) => {
                        return Err(io::Error::other("the download started over"));
                    }
                    Some(Ending::Failed(why)) => return Err(io::Error::other(why.clone())),
                    _ => {}
                }
                if progress.written > self.position {
                    break progress.written - self.position;
                }
                if progress.ending == Some(Ending::Verified) {
                    return Ok(0);
                }
                progress.wake_at = progress.wake_at.min(self.position + BATCH);
                progress = self
                    .tail
                    .shared
                    .1
                    .wait(progress)
                    .unwrap_or_else(|p| p.into_inner());
            }
        };
        let want = buf.len().min(available.min(usize::MAX as u64) as usize);
        let n = self.file.read_at(&mut buf[..want], self.position)?;
        if n == 0 {
            // The file is shorter than reported: it was truncated under us.
            return Err(io::Error::other("the download's file shrank"));
        }
        self.position += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf, File) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(bytes).unwrap();
        (dir, path, f)
    }

    #[test]
    fn a_follower_reads_what_arrives_and_ends_only_when_verified() {
        let (_dir, path, mut file) = file_with(b"abc");
        let tail = Tail::new(3);
        let mut follower = tail.follow(&path).unwrap();
        let writer = {
            let tail = tail.clone();
            std::thread::spawn(move || {
                for chunk in [&b"def"[..], b"ghi"] {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    file.write_all(chunk).unwrap();
                    tail.grew(file.metadata().unwrap().len());
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
                tail.end(Ending::Verified);
            })
        };
        let mut all = Vec::new();
        follower.read_to_end(&mut all).unwrap();
        writer.join().unwrap();
        assert_eq!(all, b"abcdefghi");
        assert_eq!(follower.ending(), Some(Ending::Verified));
    }

    #[test]
    fn a_failed_or_restarted_download_is_an_error_not_an_end() {
        for ending in [Ending::Failed("digest mismatch".into()), Ending::Restarted] {
            let (_dir, path, _file) = file_with(b"abc");
            let tail = Tail::new(3);
            let mut follower = tail.follow(&path).unwrap();
            let mut buf = [0u8; 8];
            assert_eq!(follower.read(&mut buf).unwrap(), 3);
            let ender = {
                let (tail, ending) = (tail.clone(), ending.clone());
                std::thread::spawn(move || {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    tail.end(ending);
                })
            };
            let err = follower.read(&mut buf).unwrap_err();
            ender.join().unwrap();
            assert_eq!(follower.ending(), Some(ending));
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn a_waiting_follower_is_woken_by_a_batch_not_by_every_write() {
        let (_dir, path, mut file) = file_with(b"");
        let tail = Tail::new(0);
        let mut follower = tail.follow(&path).unwrap();
        let (sent, got) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut buf = vec![0u8; 64];
            let n = follower.read(&mut buf).unwrap();
            sent.send(n).unwrap();
        });
        // Once it waits (it has read nothing: the file is empty), small writes leave it
        // asleep...
        while tail.lock().wake_at == u64::MAX {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let small = vec![7u8; 1000];
        file.write_all(&small).unwrap();
        tail.grew(1000);
        assert!(
            got.recv_timeout(std::time::Duration::from_millis(100))
                .is_err(),
            "woken by 1000 bytes"
        );
        // ...a batch wakes it, without the download ending.
        let batch = vec![7u8; BATCH as usize];
        file.write_all(&batch).unwrap();
        tail.grew(1000 + BATCH);
        let n = got
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("woken by a batch");
        assert_eq!(n, 64);
        reader.join().unwrap();
        assert_eq!(tail.lock().wake_at, u64::MAX, "no one waits now");
    }

    #[test]
    fn only_the_first_ending_counts() {
        let tail = Tail::new(0);
        tail.end(Ending::Failed("stopped".into()));
        tail.end(Ending::Verified);
        assert_eq!(tail.lock().ending, Some(Ending::Failed("stopped".into())));
    }
}
