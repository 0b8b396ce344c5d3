//! A little space set aside so that freeing space never needs space first.
//!
//! On a full file system even removing things can fail: the record that says an image is gone
//! is a new file (written and renamed into place), and so is any state change on the way to a
//! removal. A daemon that cannot record a removal cannot perform it, and the disk stays full.
//! So the daemon keeps a small file of allocated blocks in its root. When free space runs
//! below what the reserve holds, an operation that frees space first gives the reserve back
//! ([`SpaceReserve::release_if_low`]), which is enough for its few small writes; afterwards
//! ([`SpaceReserve::ensure`]) the reserve is taken again once there is room.

use crate::error::{Result, StorageError};
use std::path::{Path, PathBuf};

/// Bytes kept in reserve.
pub const RESERVE_BYTES: u64 = 4 << 20;

/// The reserve file of one root.
#[derive(Debug)]
pub struct SpaceReserve {
    path: PathBuf,
}

impl SpaceReserve {
    /// The reserve at `path` (not made until [`SpaceReserve::ensure`]).
    pub fn new(path: &Path) -> SpaceReserve {
        SpaceReserve {
            path: path.to_path_buf(),
        }
    }

    /// Bytes free to unprivileged writers on the reserve's file system.
    pub fn available(&self) -> Result<u64> {
        let dir = self.path.parent().unwrap_or(Path::new("/"));
        let st = rustix::fs::statvfs(dir).map_err(|e| StorageError::io(dir, e.into()))?;
        Ok(st.f_bavail.saturating_mul(st.f_frsize))
    }

    /// Whether the reserve is held.
    pub fn held(&self) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|m| m.len() >= RESERVE_BYTES)
    }

    /// Takes the reserve if it is not held and there is room for it and as much again.
    pub fn ensure(&self) -> Result<()> {
        if self.held() || self.available()? < 2 * RESERVE_BYTES {
            return Ok(());
        }
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
            .map_err(|e| StorageError::io(&self.path, e))?;
        rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, RESERVE_BYTES).map_err(
            |e| {
                let _ = std::fs::remove_file(&self.path);
                StorageError::io(&self.path, e.into())
            },
        )
    }

    /// For an operation that frees space: gives the reserve back now if space is short, and
    /// takes it again when the returned guard goes.
    pub fn freeing(&self) -> Freeing<'_> {
        if self.release_if_low() {
            tracing::warn!(path = %self.path.display(), "the disk is full: using the reserved space to free some");
        }
        Freeing(self)
    }

    /// Gives the reserve back when less than it is free; says whether it did.
    pub fn release_if_low(&self) -> bool {
        let low = self.available().is_ok_and(|a| a < RESERVE_BYTES);
        low && self.held() && std::fs::remove_file(&self.path).is_ok()
    }
}

/// Takes the reserve again when dropped (see [`SpaceReserve::freeing`]).
#[derive(Debug)]
pub struct Freeing<'a>(&'a SpaceReserve);

impl Drop for Freeing<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.ensure() {
            tracing::debug!(error = %e, "taking the space reserve again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_taken_and_kept_while_there_is_room() {
        let d = tempfile::tempdir().unwrap();
        let r = SpaceReserve::new(&d.path().join("reserve"));
        assert!(!r.held());
        r.ensure().unwrap();
        assert!(r.held());
        // Plenty of room here: nothing to give back.
        assert!(!r.release_if_low());
        assert!(r.held());
    }
}
