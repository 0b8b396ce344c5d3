//! Usage figures for `docker stats` and the OOM verdict for `docker inspect`.
//!
//! The two versions name everything differently; [`Stats`] is the common shape. Each figure is
//! optional because a host may lack the controller (this crate's own test machine has no memory
//! controller on cgroup2): a missing file is "unknown", never zero and never an error.

use crate::controller::Controller;
use crate::error::{Error, Result};
use crate::fsio;
use crate::manager::Cgroup;
use std::path::{Path, PathBuf};

/// v1 reports "no limit" as the largest page-aligned counter (`0x7FFFFFFFFFFFF000` on 4 KiB
/// pages); anything this large is treated as unlimited.
const V1_UNLIMITED: u64 = 1 << 62;

/// A snapshot of a group's usage: the one struct the shim also sends over its protocol.
pub use berth_shim_proto::Stats;

impl Cgroup {
    /// Reads the group's current usage.
    pub fn stats(&self) -> Result<Stats> {
        if self.is_v2() {
            let dir = self.unified_dir().unwrap_or_default();
            stats_v2(&dir)
        } else {
            let dir = |c: Controller| self.v1_dir(c);
            stats_v1(
                dir(Controller::Memory),
                dir(Controller::Cpuacct),
                dir(Controller::Pids),
            )
        }
    }
}

/// Reads a file that may legitimately be absent.
fn optional(path: &Path) -> Result<Option<String>> {
    match fsio::read(path) {
        Ok(text) => Ok(Some(text)),
        Err(Error::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// A single-number file that may be absent; `max` reads as `None`.
fn number(path: &Path) -> Result<Option<u64>> {
    match optional(path)? {
        Some(text) => fsio::parse_u64(path, text.trim()),
        None => Ok(None),
    }
}

/// One key of a flat keyed file that may be absent.
fn key(path: &Path, name: &str) -> Result<Option<u64>> {
    match optional(path)? {
        Some(text) => fsio::keyed(path, &text, name),
        None => Ok(None),
    }
}

/// v1 figures from the memory, cpuacct and pids hierarchies.
fn stats_v1(
    memory: Option<PathBuf>,
    cpuacct: Option<PathBuf>,
    pids: Option<PathBuf>,
) -> Result<Stats> {
    let mut stats = Stats::default();
    if let Some(dir) = memory {
        stats.memory_usage = number(&dir.join("memory.usage_in_bytes"))?;
        stats.memory_limit =
            number(&dir.join("memory.limit_in_bytes"))?.filter(|l| *l < V1_UNLIMITED);
        stats.memory_max_usage = number(&dir.join("memory.max_usage_in_bytes"))?;
        stats.memory_inactive_file = key(&dir.join("memory.stat"), "total_inactive_file")?;
        // `oom_kill` in memory.oom_control appeared in Linux 4.13.
        stats.oom_kills = key(&dir.join("memory.oom_control"), "oom_kill")?;
    }
    if let Some(dir) = cpuacct {
        stats.cpu_usage_ns = number(&dir.join("cpuacct.usage"))?;
    }
    if let Some(dir) = pids {
        stats.pids_current = number(&dir.join("pids.current"))?;
    }
    Ok(stats)
}

/// v2 figures, all from the one directory.
fn stats_v2(dir: &Path) -> Result<Stats> {
    Ok(Stats {
        memory_usage: number(&dir.join("memory.current"))?,
        memory_limit: number(&dir.join("memory.max"))?,
        memory_max_usage: number(&dir.join("memory.peak"))?,
        memory_inactive_file: key(&dir.join("memory.stat"), "inactive_file")?,
        oom_kills: key(&dir.join("memory.events"), "oom_kill")?,
        // cpu.stat is a core file: present even without the cpu controller.
        cpu_usage_ns: key(&dir.join("cpu.stat"), "usage_usec")?.map(|us| us.saturating_mul(1000)),
        pids_current: number(&dir.join("pids.current"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(dir: &Path, file: &str, text: &str) {
        std::fs::write(dir.join(file), text).unwrap();
    }

    #[test]
    fn v2_from_prepared_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        put(d, "memory.current", "1048576\n");
        put(d, "memory.max", "max\n");
        put(
            d,
            "memory.events",
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n",
        );
        put(
            d,
            "memory.stat",
            "anon 4096\nfile 8192\ninactive_file 4096\n",
        );
        put(
            d,
            "cpu.stat",
            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
        );
        put(d, "pids.current", "3\n");
        let stats = stats_v2(d).unwrap();
        assert_eq!(
            stats,
            Stats {
                memory_usage: Some(1_048_576),
                memory_limit: None,
                memory_max_usage: None,
                memory_inactive_file: Some(4096),
                oom_kills: Some(1),
                cpu_usage_ns: Some(1_500_000),
                pids_current: Some(3),
            }
        );
    }

    #[test]
    fn v1_from_prepared_files() {
        let dir = tempfile::tempdir().unwrap();
        let mem = dir.path().join("memory");
        let cpu = dir.path().join("cpuacct");
        std::fs::create_dir_all(&mem).unwrap();
        std::fs::create_dir_all(&cpu).unwrap();
        put(&mem, "memory.usage_in_bytes", "2000\n");
        put(&mem, "memory.limit_in_bytes", "9223372036854771712\n");
        put(&mem, "memory.max_usage_in_bytes", "3000\n");
        put(
            &mem,
            "memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        );
        put(&cpu, "cpuacct.usage", "123456789\n");
        let stats = stats_v1(Some(mem.clone()), Some(cpu), None).unwrap();
        assert_eq!(stats.memory_usage, Some(2000));
        assert_eq!(stats.memory_limit, None, "v1's huge value means unlimited");
        assert_eq!(stats.memory_max_usage, Some(3000));
        assert_eq!(stats.oom_kills, Some(2));
        assert_eq!(stats.cpu_usage_ns, Some(123_456_789));
        assert_eq!(stats.pids_current, None);
        put(&mem, "memory.limit_in_bytes", "16777216\n");
        assert_eq!(
            stats_v1(Some(mem), None, None).unwrap().memory_limit,
            Some(16_777_216)
        );
    }

    #[test]
    fn garbage_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        put(dir.path(), "memory.current", "lots\n");
        let err = stats_v2(dir.path()).unwrap_err().to_string();
        assert!(err.contains("memory.current"), "{err}");
    }
}
