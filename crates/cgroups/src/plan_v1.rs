//! Planning for cgroup v1 (legacy and hybrid hosts).
//!
//! The one subtle rule is the order of `memory.limit_in_bytes` and
//! `memory.memsw.limit_in_bytes`: the kernel insists that memory ≤ memsw at every instant and
//! answers EINVAL otherwise. We follow runc: when the new memsw total is unlimited or above the
//! *current* memory limit, memsw is written first (raising the ceiling) and memory second;
//! otherwise memory is lowered first and memsw after. In both orders each intermediate state
//! satisfies memory ≤ memsw. Likewise, as in runc, removing the memory limit without saying
//! anything about swap removes the swap limit too, or the unlimited memory write would exceed
//! the old memsw ceiling.
//!
//! The CFS period is written before the quota (the quota is validated against the period). The
//! executor additionally retries, once and at the end, any write that failed with EINVAL, which
//! covers the remaining ordering corner cases (e.g. a parent's bandwidth) the way runc's retry
//! of `cpu.cfs_period_us` does.

use crate::controller::Controller;
use crate::error::Result;
use crate::plan::{Facts, Write};
use crate::resources::{Limit, Resources};

/// v1's spelling of a byte or microsecond limit: `-1` is unlimited.
fn value(limit: Limit) -> String {
    match limit {
        Limit::Unlimited => "-1".to_string(),
        Limit::Value(n) => n.to_string(),
    }
}

/// Plans the v1 writes for `resources`; see the module documentation for the ordering.
pub fn plan(path: &str, resources: &Resources, facts: &Facts) -> Result<Vec<Write>> {
    resources.validate()?;
    let mut writes = Vec::new();
    let mem = |file: &str, v: String| Write::new(Controller::Memory, path, file, v);

    let memory = resources.memory();
    let mut swap = resources.swap();
    if memory == Some(Limit::Unlimited) && swap.is_none() {
        swap = Some(Limit::Unlimited);
    }
    if !facts.swap_accounting {
        swap = None;
    }
    let memory_write = memory.map(|m| mem("memory.limit_in_bytes", value(m)));
    let swap_write = swap.map(|s| mem("memory.memsw.limit_in_bytes", value(s)));
    match (memory_write, swap_write) {
        (Some(m), Some(s)) => {
            let current = facts.memory_limit.unwrap_or(u64::MAX);
            let swap_first = match swap {
                Some(Limit::Value(total)) => current < total,
                _ => true,
            };
            if swap_first {
                writes.extend([s, m]);
            } else {
                writes.extend([m, s]);
            }
        }
        (m, s) => writes.extend(m.into_iter().chain(s)),
    }
    if let Some(reservation) = resources.reservation() {
        writes.push(mem("memory.soft_limit_in_bytes", value(reservation)));
    }

    let cpu = |file: &str, v: String| Write::new(Controller::Cpu, path, file, v);
    if let Some(shares) = resources.shares() {
        writes.push(cpu("cpu.shares", shares.to_string()));
    }
    if let Some(period) = resources.period() {
        writes.push(cpu("cpu.cfs_period_us", period.to_string()));
    }
    if let Some(quota) = resources.quota() {
        writes.push(cpu("cpu.cfs_quota_us", value(quota)));
    }

    if let Some(cpus) = &resources.cpuset_cpus {
        writes.push(Write::new(Controller::Cpuset, path, "cpuset.cpus", cpus));
    }
    if let Some(mems) = &resources.cpuset_mems {
        writes.push(Write::new(Controller::Cpuset, path, "cpuset.mems", mems));
    }

    if let Some(pids) = resources.pids() {
        let v = match pids {
            Limit::Unlimited => "max".to_string(),
            Limit::Value(n) => n.to_string(),
        };
        writes.push(Write::new(Controller::Pids, path, "pids.max", v));
    }
    Ok(writes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: i64 = 1 << 20;

    fn files(writes: &[Write]) -> Vec<(&str, &str)> {
        writes
            .iter()
            .map(|w| (w.file.as_str(), w.value.as_str()))
            .collect()
    }

    fn with_swap(current: Option<u64>) -> Facts {
        Facts {
            swap_accounting: true,
            memory_limit: current,
            cpu_quota: None,
        }
    }

    #[test]
    fn everything_on_a_new_group() {
        let r = Resources {
            memory: Some(16 * MIB),
            memory_swap: Some(32 * MIB),
            memory_reservation: Some(8 * MIB),
            cpu_shares: Some(512),
            cpu_quota: Some(50_000),
            cpu_period: Some(100_000),
            cpuset_cpus: Some("0-1".into()),
            cpuset_mems: Some("0".into()),
            pids_limit: Some(5),
            devices: None,
        };
        let writes = plan("berth/x", &r, &with_swap(None)).unwrap();
        assert_eq!(
            files(&writes),
            vec![
                ("memory.limit_in_bytes", "16777216"),
                ("memory.memsw.limit_in_bytes", "33554432"),
                ("memory.soft_limit_in_bytes", "8388608"),
                ("cpu.shares", "512"),
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_quota_us", "50000"),
                ("cpuset.cpus", "0-1"),
                ("cpuset.mems", "0"),
                ("pids.max", "5"),
            ]
        );
        assert!(writes.iter().all(|w| w.path_relative == "berth/x"));
        let controllers: Vec<_> = writes.iter().map(|w| w.controller).collect();
        assert_eq!(controllers[0], Controller::Memory);
        assert_eq!(controllers[3], Controller::Cpu);
        assert_eq!(controllers[6], Controller::Cpuset);
        assert_eq!(controllers[8], Controller::Pids);
    }

    #[test]
    fn memsw_is_skipped_without_swap_accounting() {
        let r = Resources {
            memory: Some(16 * MIB),
            memory_swap: Some(16 * MIB),
            ..Default::default()
        };
        let writes = plan("x", &r, &Facts::default()).unwrap();
        assert_eq!(files(&writes), vec![("memory.limit_in_bytes", "16777216")]);
    }

    #[test]
    fn raising_writes_memsw_first() {
        // Current 16 MiB; new 64 MiB memory with 128 MiB total: memsw must rise first.
        let r = Resources {
            memory: Some(64 * MIB),
            memory_swap: Some(128 * MIB),
            ..Default::default()
        };
        let writes = plan("x", &r, &with_swap(Some(16 * MIB as u64))).unwrap();
        assert_eq!(
            files(&writes),
            vec![
                ("memory.memsw.limit_in_bytes", "134217728"),
                ("memory.limit_in_bytes", "67108864")
            ]
        );
    }

    #[test]
    fn lowering_writes_memory_first() {
        // Current 64 MiB; new 16 MiB with 32 MiB total (below the current memory limit).
        let r = Resources {
            memory: Some(16 * MIB),
            memory_swap: Some(32 * MIB),
            ..Default::default()
        };
        let writes = plan("x", &r, &with_swap(Some(64 * MIB as u64))).unwrap();
        assert_eq!(
            files(&writes),
            vec![
                ("memory.limit_in_bytes", "16777216"),
                ("memory.memsw.limit_in_bytes", "33554432")
            ]
        );
    }

    #[test]
    fn total_equal_to_current_limit_writes_memory_first() {
        // memsw == current memory: lowering memory first keeps memory <= memsw throughout.
        let r = Resources {
            memory: Some(16 * MIB),
            memory_swap: Some(64 * MIB),
            ..Default::default()
        };
        let writes = plan("x", &r, &with_swap(Some(64 * MIB as u64))).unwrap();
        assert_eq!(writes[0].file, "memory.limit_in_bytes");
    }

    #[test]
    fn unlimited_swap_is_written_first() {
        let r = Resources {
            memory: Some(16 * MIB),
            memory_swap: Some(-1),
            ..Default::default()
        };
        let writes = plan("x", &r, &with_swap(Some(8 * MIB as u64))).unwrap();
        assert_eq!(
            files(&writes),
            vec![
                ("memory.memsw.limit_in_bytes", "-1"),
                ("memory.limit_in_bytes", "16777216")
            ]
        );
    }

    #[test]
    fn removing_the_memory_limit_removes_the_swap_limit() {
        let r = Resources {
            memory: Some(-1),
            ..Default::default()
        };
        let writes = plan("x", &r, &with_swap(Some(16 * MIB as u64))).unwrap();
        assert_eq!(
            files(&writes),
            vec![
                ("memory.memsw.limit_in_bytes", "-1"),
                ("memory.limit_in_bytes", "-1")
            ]
        );
        let writes = plan("x", &r, &Facts::default()).unwrap();
        assert_eq!(files(&writes), vec![("memory.limit_in_bytes", "-1")]);
    }

    #[test]
    fn unlimited_values() {
        let r = Resources {
            memory_reservation: Some(-1),
            cpu_quota: Some(-1),
            pids_limit: Some(-1),
            ..Default::default()
        };
        let writes = plan("x", &r, &Facts::default()).unwrap();
        assert_eq!(
            files(&writes),
            vec![
                ("memory.soft_limit_in_bytes", "-1"),
                ("cpu.cfs_quota_us", "-1"),
                ("pids.max", "max"),
            ]
        );
    }

    #[test]
    fn zero_means_unchanged() {
        let r = Resources {
            memory: Some(0),
            memory_swap: Some(0),
            cpu_shares: Some(0),
            cpu_quota: Some(0),
            cpu_period: Some(0),
            ..Default::default()
        };
        assert!(plan("x", &r, &with_swap(None)).unwrap().is_empty());
    }

    #[test]
    fn invalid_resources_are_refused() {
        let r = Resources {
            memory: Some(32 * MIB),
            memory_swap: Some(16 * MIB),
            ..Default::default()
        };
        assert!(plan("x", &r, &with_swap(None)).is_err());
    }
}
