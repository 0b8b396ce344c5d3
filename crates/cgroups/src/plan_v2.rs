//! Planning for the unified cgroup v2 hierarchy.
//!
//! v2 renamed and re-scaled most knobs: swap is limited on its own (`memory.swap.max` is the
//! swap alone, so Docker's memory+swap total minus the memory limit), `cpu.shares` became
//! `cpu.weight` on a 1..10000 scale, and quota and period are one file, `cpu.max`. The memory
//! files are independent, so no write order is needed.

use crate::controller::Controller;
use crate::error::Result;
use crate::plan::{Facts, Write};
use crate::resources::{Limit, Resources};

/// The smallest v1 share value the kernel honours.
const MIN_SHARES: u64 = 2;
/// The largest v1 share value the kernel honours.
const MAX_SHARES: u64 = 262_144;

/// Converts v1 CPU shares to a v2 `cpu.weight` with the formula runc and crun use, so the same
/// `--cpu-shares` gives the same weight under every runtime: the share range 2..262144 maps
/// linearly onto 1..10000 (1024, Docker's default, becomes 39). Out-of-range shares are clamped
/// first, as the v1 kernel does.
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(MIN_SHARES, MAX_SHARES);
    1 + ((shares - MIN_SHARES) * 9999) / (MAX_SHARES - MIN_SHARES)
}

/// v2's spelling of a limit: `max` is unlimited.
fn value(limit: Limit) -> String {
    match limit {
        Limit::Unlimited => "max".to_string(),
        Limit::Value(n) => n.to_string(),
    }
}

/// Plans the v2 writes for `resources`.
pub fn plan(path: &str, resources: &Resources, facts: &Facts) -> Result<Vec<Write>> {
    resources.validate()?;
    let mut writes = Vec::new();
    let mem = |file: &str, v: String| Write::new(Controller::Memory, path, file, v);

    let memory = resources.memory();
    if let Some(m) = memory {
        writes.push(mem("memory.max", value(m)));
    }
    match (resources.swap(), memory) {
        (Some(Limit::Unlimited), _) => writes.push(mem("memory.swap.max", "max".into())),
        (Some(Limit::Value(total)), Some(Limit::Value(m))) => {
            // validate() guarantees total >= m.
            writes.push(mem("memory.swap.max", total.saturating_sub(m).to_string()));
        }
        // validate() refuses a finite total without a finite memory limit.
        _ => {}
    }
    if let Some(reservation) = resources.reservation() {
        // No reservation is 0 on v2 (`max` would protect everything).
        let v = match reservation {
            Limit::Unlimited => "0".to_string(),
            Limit::Value(n) => n.to_string(),
        };
        writes.push(mem("memory.low", v));
    }

    let cpu = |file: &str, v: String| Write::new(Controller::Cpu, path, file, v);
    if let Some(shares) = resources.shares() {
        writes.push(cpu("cpu.weight", shares_to_weight(shares).to_string()));
    }
    let quota = match (resources.quota(), resources.period()) {
        (Some(q), _) => Some(value(q)),
        // Only the period changes: keep the current quota, which v2 makes us repeat.
        (None, Some(_)) => Some(facts.cpu_quota.map_or("max".to_string(), |q| q.to_string())),
        (None, None) => None,
    };
    if let Some(quota) = quota {
        let v = match resources.period() {
            Some(period) => format!("{quota} {period}"),
            None => quota,
        };
        writes.push(cpu("cpu.max", v));
    }

    if let Some(cpus) = &resources.cpuset_cpus {
        writes.push(Write::new(Controller::Cpuset, path, "cpuset.cpus", cpus));
    }
    if let Some(mems) = &resources.cpuset_mems {
        writes.push(Write::new(Controller::Cpuset, path, "cpuset.mems", mems));
    }
    if let Some(pids) = resources.pids() {
        writes.push(Write::new(Controller::Pids, path, "pids.max", value(pids)));
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

    fn plan_of(r: Resources) -> Vec<(String, String)> {
        plan("berth/x", &r, &Facts::default())
            .unwrap()
            .into_iter()
            .map(|w| (w.file, w.value))
            .collect()
    }

    fn pair(f: &str, v: &str) -> (String, String) {
        (f.to_string(), v.to_string())
    }

    #[test]
    fn weight_formula_matches_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(512), 20);
        assert_eq!(shares_to_weight(262_144), 10_000);
        // Clamped like the v1 kernel does, rather than underflowing.
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(shares_to_weight(1_000_000), 10_000);
    }

    #[test]
    fn everything_on_a_new_group() {
        let r = Resources {
            memory: Some(16 * MIB),
            memory_swap: Some(48 * MIB),
            memory_reservation: Some(8 * MIB),
            cpu_shares: Some(1024),
            cpu_quota: Some(50_000),
            cpu_period: Some(100_000),
            cpuset_cpus: Some("0".into()),
            cpuset_mems: Some("0".into()),
            pids_limit: Some(5),
            devices: None,
        };
        let writes = plan("berth/x", &r, &Facts::default()).unwrap();
        assert_eq!(
            files(&writes),
            vec![
                ("memory.max", "16777216"),
                ("memory.swap.max", "33554432"),
                ("memory.low", "8388608"),
                ("cpu.weight", "39"),
                ("cpu.max", "50000 100000"),
                ("cpuset.cpus", "0"),
                ("cpuset.mems", "0"),
                ("pids.max", "5"),
            ]
        );
        assert!(writes.iter().all(|w| w.path_relative == "berth/x"));
    }

    #[test]
    fn swap_equal_to_memory_means_no_swap() {
        let r = Resources {
            memory: Some(16 * MIB),
            memory_swap: Some(16 * MIB),
            ..Default::default()
        };
        assert_eq!(
            plan_of(r),
            vec![pair("memory.max", "16777216"), pair("memory.swap.max", "0")]
        );
    }

    #[test]
    fn unlimited_values() {
        let r = Resources {
            memory: Some(-1),
            memory_swap: Some(-1),
            memory_reservation: Some(-1),
            cpu_quota: Some(-1),
            pids_limit: Some(0),
            ..Default::default()
        };
        assert_eq!(
            plan_of(r),
            vec![
                pair("memory.max", "max"),
                pair("memory.swap.max", "max"),
                pair("memory.low", "0"),
                pair("cpu.max", "max"),
                pair("pids.max", "max"),
            ]
        );
    }

    #[test]
    fn memory_alone_leaves_swap_alone() {
        let r = Resources {
            memory: Some(-1),
            ..Default::default()
        };
        assert_eq!(plan_of(r), vec![pair("memory.max", "max")]);
    }

    #[test]
    fn quota_without_period_keeps_the_period() {
        let r = Resources {
            cpu_quota: Some(20_000),
            ..Default::default()
        };
        assert_eq!(plan_of(r), vec![pair("cpu.max", "20000")]);
        let r = Resources {
            cpu_quota: Some(-1),
            cpu_period: Some(50_000),
            ..Default::default()
        };
        assert_eq!(plan_of(r), vec![pair("cpu.max", "max 50000")]);
    }

    #[test]
    fn period_without_quota_keeps_the_current_quota() {
        let r = Resources {
            cpu_period: Some(50_000),
            ..Default::default()
        };
        let facts = Facts {
            cpu_quota: Some(25_000),
            ..Default::default()
        };
        let writes = plan("x", &r, &facts).unwrap();
        assert_eq!(files(&writes), vec![("cpu.max", "25000 50000")]);
        assert_eq!(plan_of(r), vec![pair("cpu.max", "max 50000")]);
    }

    #[test]
    fn invalid_resources_are_refused() {
        let r = Resources {
            memory_swap: Some(16 * MIB),
            ..Default::default()
        };
        assert!(plan("x", &r, &Facts::default()).is_err());
    }
}
