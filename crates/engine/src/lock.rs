//! One daemon per root dir, enforced with an advisory `flock` on `<root>/berth.lock`.
//!
//! The kernel drops the lock when the holder dies, even by `kill -9`, so a stale lock file never
//! blocks a restart. The holder's pid is written into the file only to make the error useful.

use crate::error::EngineError;
use rustix::fs::{FlockOperation, flock};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Held for the daemon's lifetime; releasing is dropping.
#[derive(Debug)]
pub struct RootLock {
    _file: File,
}

impl RootLock {
    /// Takes the lock or explains who holds it.
    pub fn acquire(root: &Path) -> Result<RootLock, EngineError> {
        let path = root.join("berth.lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| EngineError::io(&path, e))?;
        if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(EngineError::RootLocked {
                root: root.to_path_buf(),
                pid: text.trim().parse().ok(),
            });
        }
        let write_pid = |f: &mut File| -> std::io::Result<()> {
            f.set_len(0)?;
            f.seek(SeekFrom::Start(0))?;
            writeln!(f, "{}", std::process::id())
        };
        write_pid(&mut file).map_err(|e| EngineError::io(&path, e))?;
        Ok(RootLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_same_root_fails_with_pid() {
        let d = tempfile::tempdir().unwrap();
        let first = RootLock::acquire(d.path()).unwrap();
        let err = RootLock::acquire(d.path()).unwrap_err();
        assert!(
            err.to_string().contains("in use by another berth daemon"),
            "{err}"
        );
        assert!(
            err.to_string().contains(&std::process::id().to_string()),
            "{err}"
        );
        drop(first);
        RootLock::acquire(d.path()).unwrap();
    }
}
