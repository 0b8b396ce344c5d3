//! `GET /containers/{id}/stats`: one resource-usage sample (Docker's `StatsResponse`, with
//! snake_case keys as Docker sends them).
//!
//! Every field decodes from `null` or from its absence, because what a daemon can report
//! depends on the cgroup version (v1 fills `memory_stats.stats.total_inactive_file` and the
//! per-CPU usage, v2 `inactive_file` and no per-CPU list) and on whether the container runs at
//! all (a stopped container's sample is all zeros).

use crate::nullable::or_default;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One sample of a container's resource usage.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ContainerStats {
    /// Container name with its leading `/`.
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
    /// Container id.
    #[serde(default, deserialize_with = "or_default")]
    pub id: String,
    /// When this sample was taken, RFC 3339 with nanoseconds.
    #[serde(default, deserialize_with = "or_default")]
    pub read: String,
    /// When the previous sample (`precpu_stats`) was taken; `0001-01-01T00:00:00Z` for the first.
    #[serde(default, deserialize_with = "or_default")]
    pub preread: String,
    /// Process counts.
    #[serde(default, deserialize_with = "or_default")]
    pub pids_stats: PidsStats,
    /// Block IO counters.
    #[serde(default, deserialize_with = "or_default")]
    pub blkio_stats: BlkioStats,
    /// Windows only.
    #[serde(default, deserialize_with = "or_default")]
    pub num_procs: u32,
    /// Windows only.
    #[serde(default, deserialize_with = "or_default")]
    pub storage_stats: serde_json::Value,
    /// CPU usage now.
    #[serde(default, deserialize_with = "or_default")]
    pub cpu_stats: CpuStats,
    /// CPU usage at the previous sample, for computing a percentage.
    #[serde(default, deserialize_with = "or_default")]
    pub precpu_stats: CpuStats,
    /// Memory usage.
    #[serde(default, deserialize_with = "or_default")]
    pub memory_stats: MemoryStats,
    /// Interface name → counters; absent when the container has no network namespace of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<BTreeMap<String, NetworkStats>>,
}

/// `pids_stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PidsStats {
    /// Processes in the container.
    #[serde(default, deserialize_with = "or_default")]
    pub current: u64,
    /// The pids limit; absent or 0 when unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// `blkio_stats`: lists of per-device counters (`null` where the cgroup has none).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlkioStats {
    /// Bytes read and written per device and operation (`Read`, `Write`, `Total`, …; cgroup
    /// v2 reports lower-case `read`/`write`).
    #[serde(default)]
    pub io_service_bytes_recursive: Option<Vec<BlkioStatEntry>>,
    /// Operations per device and operation (cgroup v1).
    #[serde(default)]
    pub io_serviced_recursive: Option<Vec<BlkioStatEntry>>,
    /// cgroup v1 only.
    #[serde(default)]
    pub io_queue_recursive: Option<Vec<BlkioStatEntry>>,
    /// cgroup v1 only.
    #[serde(default)]
    pub io_service_time_recursive: Option<Vec<BlkioStatEntry>>,
    /// cgroup v1 only.
    #[serde(default)]
    pub io_wait_time_recursive: Option<Vec<BlkioStatEntry>>,
    /// cgroup v1 only.
    #[serde(default)]
    pub io_merged_recursive: Option<Vec<BlkioStatEntry>>,
    /// cgroup v1 only.
    #[serde(default)]
    pub io_time_recursive: Option<Vec<BlkioStatEntry>>,
    /// cgroup v1 only.
    #[serde(default)]
    pub sectors_recursive: Option<Vec<BlkioStatEntry>>,
}

/// One block IO counter.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlkioStatEntry {
    /// Device major number.
    #[serde(default, deserialize_with = "or_default")]
    pub major: u64,
    /// Device minor number.
    #[serde(default, deserialize_with = "or_default")]
    pub minor: u64,
    /// Operation: `Read`, `Write`, `Sync`, `Async`, `Discard`, `Total` (or lower case on v2).
    #[serde(default, deserialize_with = "or_default")]
    pub op: String,
    /// The counter.
    #[serde(default, deserialize_with = "or_default")]
    pub value: u64,
}

/// `cpu_stats` / `precpu_stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CpuStats {
    /// The container's CPU time.
    #[serde(default, deserialize_with = "or_default")]
    pub cpu_usage: CpuUsage,
    /// The host's CPU time in nanoseconds (`/proc/stat`), for the percentage's denominator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_cpu_usage: Option<u64>,
    /// CPUs online on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online_cpus: Option<u32>,
    /// CFS throttling.
    #[serde(default, deserialize_with = "or_default")]
    pub throttling_data: ThrottlingData,
}

/// The container's CPU time, nanoseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CpuUsage {
    /// Total CPU time consumed.
    #[serde(default, deserialize_with = "or_default")]
    pub total_usage: u64,
    /// Per-CPU time (cgroup v1 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percpu_usage: Option<Vec<u64>>,
    /// Time in kernel mode.
    #[serde(default, deserialize_with = "or_default")]
    pub usage_in_kernelmode: u64,
    /// Time in user mode.
    #[serde(default, deserialize_with = "or_default")]
    pub usage_in_usermode: u64,
}

/// CFS throttling counters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ThrottlingData {
    /// Periods with throttling active.
    #[serde(default, deserialize_with = "or_default")]
    pub periods: u64,
    /// Periods in which the container hit its limit.
    #[serde(default, deserialize_with = "or_default")]
    pub throttled_periods: u64,
    /// Total time throttled, nanoseconds.
    #[serde(default, deserialize_with = "or_default")]
    pub throttled_time: u64,
}

/// `memory_stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemoryStats {
    /// Current usage in bytes (page cache included).
    #[serde(default, deserialize_with = "or_default")]
    pub usage: u64,
    /// Peak usage (cgroup v1 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_usage: Option<u64>,
    /// The cgroup's raw `memory.stat` counters.
    #[serde(default, deserialize_with = "or_default")]
    pub stats: BTreeMap<String, u64>,
    /// Times the limit was hit (cgroup v1 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failcnt: Option<u64>,
    /// The limit in bytes (the host's memory when unlimited).
    #[serde(default, deserialize_with = "or_default")]
    pub limit: u64,
}

/// Counters of one network interface.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetworkStats {
    /// Bytes received.
    #[serde(default, deserialize_with = "or_default")]
    pub rx_bytes: u64,
    /// Packets received.
    #[serde(default, deserialize_with = "or_default")]
    pub rx_packets: u64,
    /// Receive errors.
    #[serde(default, deserialize_with = "or_default")]
    pub rx_errors: u64,
    /// Incoming packets dropped.
    #[serde(default, deserialize_with = "or_default")]
    pub rx_dropped: u64,
    /// Bytes sent.
    #[serde(default, deserialize_with = "or_default")]
    pub tx_bytes: u64,
    /// Packets sent.
    #[serde(default, deserialize_with = "or_default")]
    pub tx_packets: u64,
    /// Send errors.
    #[serde(default, deserialize_with = "or_default")]
    pub tx_errors: u64,
    /// Outgoing packets dropped.
    #[serde(default, deserialize_with = "or_default")]
    pub tx_dropped: u64,
}

impl MemoryStats {
    /// Usage without the reclaimable page cache, as `docker stats` shows it: `usage` minus
    /// `total_inactive_file` (cgroup v1) or `inactive_file` (cgroup v2), when smaller.
    pub fn usage_no_cache(&self) -> u64 {
        let cache = self
            .stats
            .get("total_inactive_file")
            .or_else(|| self.stats.get("inactive_file"))
            .copied()
            .unwrap_or(0);
        if cache < self.usage {
            self.usage - cache
        } else {
            self.usage
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_docker_sample_and_nulls() {
        let raw = r#"{"read":"2024-01-01T00:00:01Z","preread":"2024-01-01T00:00:00Z",
            "pids_stats":{"current":3},"blkio_stats":{"io_service_bytes_recursive":null},
            "num_procs":0,"storage_stats":{},
            "cpu_stats":{"cpu_usage":{"total_usage":200,"usage_in_kernelmode":1,"usage_in_usermode":2},
                "system_cpu_usage":2000,"online_cpus":2,"throttling_data":{"periods":0,"throttled_periods":0,"throttled_time":0}},
            "precpu_stats":{"cpu_usage":{"total_usage":100},"throttling_data":{}},
            "memory_stats":{"usage":1000,"stats":{"inactive_file":100},"limit":4000},
            "name":"/web","id":"abc","networks":{"eth0":{"rx_bytes":5,"tx_bytes":6}}}"#;
        let s: ContainerStats = serde_json::from_str(raw).unwrap();
        assert_eq!(s.pids_stats.current, 3);
        assert_eq!(s.cpu_stats.online_cpus, Some(2));
        assert_eq!(s.precpu_stats.system_cpu_usage, None);
        assert_eq!(s.memory_stats.usage_no_cache(), 900);
        assert_eq!(s.networks.unwrap()["eth0"].tx_bytes, 6);
        let empty: ContainerStats = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, ContainerStats::default());
    }
}
