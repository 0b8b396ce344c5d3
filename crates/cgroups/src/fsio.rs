//! Small helpers for reading and writing cgroup control files with errors that name the path.
//!
//! cgroupfs files are tiny, written in one `write(2)` and read whole; these helpers keep that
//! discipline (one write, no `O_CREAT` so a typo'd file name fails instead of creating a stray
//! file on a fake tree) and attach the path and value to every error.

use crate::error::{Error, Result};
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// Reads a whole control file.
pub(crate) fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.into(),
        source,
    })
}

/// Reads a control file holding one unsigned number; `max` (v2) reads as `None`.
pub(crate) fn read_u64(path: &Path) -> Result<Option<u64>> {
    let text = read(path)?;
    parse_u64(path, text.trim())
}

/// Parses a number or `max`.
pub(crate) fn parse_u64(path: &Path, text: &str) -> Result<Option<u64>> {
    if text == "max" {
        return Ok(None);
    }
    text.parse::<u64>().map(Some).map_err(|e| Error::Parse {
        path: path.into(),
        reason: format!("{text:?} is not a number: {e}"),
    })
}

/// Finds `key` in a flat keyed file (`memory.events`, `cpu.stat`, `memory.oom_control`):
/// lines of `key value`.
pub(crate) fn keyed(path: &Path, text: &str, key: &str) -> Result<Option<u64>> {
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        if parts.next() == Some(key) {
            let value = parts.next().unwrap_or("");
            return parse_u64(path, value);
        }
    }
    Ok(None)
}

/// Writes `value` to an existing control file in one `write(2)`.
pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    let err = |source| Error::Write {
        value: value.to_string(),
        path: path.into(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(err)?;
    file.write_all(value.as_bytes()).map_err(err)
}

/// Reads `cgroup.procs`: the pids of the processes in one group.
pub(crate) fn read_pids(path: &Path) -> Result<Vec<u32>> {
    let text = read(path)?;
    text.split_whitespace()
        .map(|p| {
            p.parse::<u32>().map_err(|e| Error::Parse {
                path: path.into(),
                reason: format!("{p:?} is not a pid: {e}"),
            })
        })
        .collect()
}

/// Polls `done` with a growing back-off until it returns true or `timeout` passes; returns
/// whether it succeeded. Polling is what runc and crun do too: cgroupfs offers inotify only on
/// some files and not on v1 at all.
pub(crate) fn poll(timeout: Duration, mut done: impl FnMut() -> Result<bool>) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_micros(100);
    loop {
        if done()? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_files() {
        let p = Path::new("memory.events");
        let text = "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\n";
        assert_eq!(keyed(p, text, "oom_kill").unwrap(), Some(1));
        assert_eq!(keyed(p, text, "oom").unwrap(), Some(2));
        assert_eq!(keyed(p, text, "absent").unwrap(), None);
        assert!(keyed(p, "oom_kill x\n", "oom_kill").is_err());
    }

    #[test]
    fn numbers_and_max() {
        let p = Path::new("memory.max");
        assert_eq!(parse_u64(p, "max").unwrap(), None);
        assert_eq!(parse_u64(p, "42").unwrap(), Some(42));
        let err = parse_u64(p, "-3").unwrap_err().to_string();
        assert!(err.starts_with("unexpected content in memory.max"), "{err}");
    }

    #[test]
    fn write_names_path_and_value_and_never_creates() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("memory.max");
        let err = write(&missing, "16777216").unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("writing 16777216 to {}: ", missing.display())),
            "{err}"
        );
        assert!(!missing.exists());
        std::fs::write(&missing, "max\n").unwrap();
        write(&missing, "5").unwrap();
        assert_eq!(std::fs::read_to_string(&missing).unwrap(), "5");
    }

    #[test]
    fn poll_times_out() {
        assert!(!poll(Duration::from_millis(5), || Ok(false)).unwrap());
        let mut n = 0;
        assert!(
            poll(Duration::from_secs(1), || {
                n += 1;
                Ok(n > 3)
            })
            .unwrap()
        );
    }
}
