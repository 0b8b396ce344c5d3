//! Crash-safe small-file writes: write a temp file beside the target, fsync it, rename it over
//! the target, fsync the directory. A reader (or a daemon restarted after `kill -9`) sees either
//! the old content or the new, never a torn file. Files are created `0600`: they are the
//! daemon's state, and some (container records, OCI specs) carry secrets.

use crate::error::{Result, StorageError};
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Atomically replaces `path` with `data`.
pub fn write_file(path: &Path, data: &[u8]) -> Result<()> {
    replace(path, data, true)
}

/// Atomically replaces `path` with `data`, without the two fsyncs: the new content survives
/// the daemon being killed (the rename is atomic, the data is in the page cache) but maybe not
/// a power cut. For state that a reboot makes moot anyway, such as the address leases of
/// running containers, where the fsyncs were most of the cost of starting one.
pub fn write_file_unsynced(path: &Path, data: &[u8]) -> Result<()> {
    replace(path, data, false)
}

fn replace(path: &Path, data: &[u8], durable: bool) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let res = (|| -> std::io::Result<()> {
        // State is private: records and specs carry the containers' environment.
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        if durable {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if durable {
            sync_dir(dir)?;
        }
        Ok(())
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res.map_err(|e| StorageError::io(path, e))
}

/// Serialises `value` as pretty JSON and writes it atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let data = serde_json::to_vec_pretty(value)
        .map_err(|e| StorageError::io(path, std::io::Error::other(e)))?;
    write_file(path, &data)
}

/// [`write_json`] without the fsyncs (see [`write_file_unsynced`]).
pub fn write_json_unsynced<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let data = serde_json::to_vec_pretty(value)
        .map_err(|e| StorageError::io(path, std::io::Error::other(e)))?;
    write_file_unsynced(path, &data)
}

/// Reads JSON written by [`write_json`]; `Ok(None)` when the file does not exist.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match fs::read(path) {
        Ok(data) => serde_json::from_slice(&data).map(Some).map_err(|e| {
            StorageError::io(
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::io(path, e)),
    }
}

/// fsyncs a directory so a rename inside it is durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state.json");
        write_json(&p, &vec![1, 2]).unwrap();
        write_json(&p, &vec![3]).unwrap();
        assert_eq!(read_json::<Vec<i32>>(&p).unwrap(), Some(vec![3]));
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
        assert_eq!(read_json::<Vec<i32>>(&d.path().join("none")).unwrap(), None);
    }
}
