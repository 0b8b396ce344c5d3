//! Planning for the unified cgroup v2 hierarchy.
//!
//! v2 renamed and re-scaled most knobs: swap is limited on its own (`memory.swap.max` is the
//! swap alone, so Docker's memory+swap total minus the memory limit), `cpu.shares` became
//! `cpu.weight` on a 1..10000 scale, and quota and period are one file, `cpu.max`. The memory
//! files are independent, so no write order is needed.
//!
//! Block I/O follows runc's fs2 manager: weights go to `io.bfq.weight` when the group has it
//! (same scale as v1) and otherwise to `io.weight` (converted), throttles become `io.max` keys.
//! v2 has no swappiness, no way to disable the OOM killer and no leaf weights: those are skipped
//! here and reported by [`Resources::ignored_on`] for a warning. It has no real-time group
//! scheduling and no `net_cls`/`net_prio` either, which are refused.

use crate::controller::Controller;
use crate::error::Result;
use crate::plan::{self, Facts, Write, unsupported};
use crate::resources::{BLKIO_WEIGHT, Blkio, Limit, Resources};

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

/// Converts a v1 blkio weight (10..1000) to `io.weight` (1..10000) with runc's formula.
pub fn blkio_to_io_weight(weight: u16) -> u64 {
    let w = u64::from(weight.clamp(*BLKIO_WEIGHT.start(), *BLKIO_WEIGHT.end()));
    1 + (w - 10) * 9999 / 990
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
    let mem = |field: &str, file: &str, v: String| {
        Write::new(
            format!("linux.resources.memory.{field}"),
            Controller::Memory,
            path,
            file,
            v,
        )
    };

    let memory = resources.memory();
    if let Some(m) = memory {
        writes.push(mem("limit", "memory.max", value(m)));
    }
    match (resources.swap(), memory) {
        (Some(Limit::Unlimited), _) => writes.push(mem("swap", "memory.swap.max", "max".into())),
        (Some(Limit::Value(total)), Some(Limit::Value(m))) => {
            // validate() guarantees total >= m.
            writes.push(mem(
                "swap",
                "memory.swap.max",
                total.saturating_sub(m).to_string(),
            ));
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
        writes.push(mem("reservation", "memory.low", v));
    }

    let cpu = |field: &str, file: &str, v: String| {
        Write::new(
            format!("linux.resources.cpu.{field}"),
            Controller::Cpu,
            path,
            file,
            v,
        )
    };
    if let Some(shares) = resources.shares() {
        writes.push(cpu(
            "shares",
            "cpu.weight",
            shares_to_weight(shares).to_string(),
        ));
    }
    let quota = match (resources.quota(), resources.period()) {
        (Some(q), _) => Some(value(q)),
        // Only the period changes: keep the current quota, which v2 makes us repeat.
        (None, Some(_)) => Some(facts.cpu_quota.map_or("max".to_string(), |q| q.to_string())),
        (None, None) => None,
    };
    if let Some(quota) = quota {
        let (field, v) = match resources.period() {
            Some(period) => ("period", format!("{quota} {period}")),
            None => ("quota", quota),
        };
        writes.push(cpu(field, "cpu.max", v));
    }
    if let Some(burst) = resources.cpu_burst {
        writes.push(cpu("burst", "cpu.max.burst", burst.to_string()));
    }
    if let Some(idle) = resources.cpu_idle {
        writes.push(cpu("idle", "cpu.idle", idle.to_string()));
    }
    for (field, asked) in [
        ("realtimeRuntime", resources.rt_runtime().is_some()),
        ("realtimePeriod", resources.rt_period().is_some()),
    ] {
        if asked {
            return Err(unsupported(
                format!("linux.resources.cpu.{field}"),
                "cgroup v2 has no real-time group scheduling",
            ));
        }
    }

    if let Some(cpus) = &resources.cpuset_cpus {
        writes.push(Write::new(
            "linux.resources.cpu.cpus",
            Controller::Cpuset,
            path,
            "cpuset.cpus",
            cpus,
        ));
    }
    if let Some(mems) = &resources.cpuset_mems {
        writes.push(Write::new(
            "linux.resources.cpu.mems",
            Controller::Cpuset,
            path,
            "cpuset.mems",
            mems,
        ));
    }
    if let Some(pids) = resources.pids() {
        writes.push(Write::new(
            "linux.resources.pids.limit",
            Controller::Pids,
            path,
            "pids.max",
            value(pids),
        ));
    }

    if let Some(b) = &resources.blkio {
        writes.extend(io(path, b, facts));
    }
    writes.extend(plan::hugetlb(path, resources, facts, false)?);
    if resources.net_cls_classid.is_some() || !resources.net_prio_ifpriomap.is_empty() {
        let field = if resources.net_cls_classid.is_some() {
            "linux.resources.network.classID"
        } else {
            "linux.resources.network.priorities"
        };
        return Err(unsupported(
            field,
            "cgroup v2 has no net_cls or net_prio controller",
        ));
    }
    writes.extend(plan::rdma(path, resources));
    for (key, v) in &resources.unified {
        let field = format!("linux.resources.unified[{key:?}]");
        let controller = key
            .split_once('.')
            .and_then(|(prefix, _)| Controller::from_name(prefix))
            .ok_or_else(|| {
                unsupported(
                    &field,
                    "Berth sets only controller files (<controller>.<name>) here",
                )
            })?;
        writes.push(Write::new(field, controller, path, key, v));
    }
    Ok(writes)
}

/// The `io.*` writes for the OCI block I/O fields (leaf weights are skipped: see
/// [`Resources::ignored_on`]).
fn io(path: &str, b: &Blkio, facts: &Facts) -> Vec<Write> {
    let base = "linux.resources.blockIO";
    let mut writes = Vec::new();
    let w = |field: String, file: &str, v: String| Write::new(field, Controller::Io, path, file, v);
    let (weight_file, scale): (&str, fn(u16) -> u64) = if facts.io_bfq_weight {
        ("io.bfq.weight", u64::from)
    } else {
        ("io.weight", blkio_to_io_weight)
    };
    if let Some(v) = b.weight() {
        let text = if facts.io_bfq_weight {
            scale(v).to_string()
        } else {
            format!("default {}", scale(v))
        };
        writes.push(w(format!("{base}.weight"), weight_file, text));
    }
    for (i, d) in b.weight_device.iter().enumerate() {
        if let Some(v) = d.weight.filter(|w| *w != 0) {
            let text = format!("{}:{} {}", d.major, d.minor, scale(v));
            writes.push(w(format!("{base}.weightDevice[{i}]"), weight_file, text));
        }
    }
    for (name, list) in b.throttles() {
        let key = match name {
            "throttleReadBpsDevice" => "rbps",
            "throttleWriteBpsDevice" => "wbps",
            "throttleReadIOPSDevice" => "riops",
            _ => "wiops",
        };
        for (i, t) in list.iter().enumerate() {
            // 0 removes a v1 throttle; `max` is v2's way of saying the same.
            let rate = match t.rate {
                0 => "max".to_string(),
                r => r.to_string(),
            };
            let text = format!("{}:{} {key}={rate}", t.major, t.minor);
            writes.push(w(format!("{base}.{name}[{i}]"), "io.max", text));
        }
    }
    writes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Hugetlb, HugetlbHome};
    use crate::resources::{Hugepage, Throttle, WeightDevice};

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
            ..Default::default()
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

    #[test]
    fn io_weight_formula_matches_runc() {
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
        assert_eq!(blkio_to_io_weight(300), 2930);
        assert_eq!(blkio_to_io_weight(500), 4950);
    }

    fn blkio() -> Blkio {
        Blkio {
            weight: Some(300),
            leaf_weight: Some(400),
            weight_device: vec![WeightDevice {
                major: 8,
                minor: 0,
                weight: Some(500),
                leaf_weight: Some(400),
            }],
            throttle_read_bps: vec![Throttle {
                major: 254,
                minor: 0,
                rate: 1_048_576,
            }],
            throttle_write_bps: vec![Throttle {
                major: 254,
                minor: 0,
                rate: 0,
            }],
            throttle_read_iops: vec![Throttle {
                major: 254,
                minor: 0,
                rate: 10,
            }],
            throttle_write_iops: vec![Throttle {
                major: 254,
                minor: 0,
                rate: 20,
            }],
        }
    }

    #[test]
    fn io_weight_and_max() {
        let r = Resources {
            blkio: Some(blkio()),
            ..Default::default()
        };
        let writes = plan("x", &r, &Facts::default()).unwrap();
        assert_eq!(
            files(&writes),
            vec![
                ("io.weight", "default 2930"),
                ("io.weight", "8:0 4950"),
                ("io.max", "254:0 rbps=1048576"),
                ("io.max", "254:0 wbps=max"),
                ("io.max", "254:0 riops=10"),
                ("io.max", "254:0 wiops=20"),
            ]
        );
        assert!(writes.iter().all(|w| w.controller == Controller::Io));
        assert_eq!(
            writes[2].field,
            "linux.resources.blockIO.throttleReadBpsDevice[0]"
        );
        // With BFQ's file, the v1 scale is kept, as runc does.
        let bfq = Facts {
            io_bfq_weight: true,
            ..Default::default()
        };
        let writes = plan("x", &r, &bfq).unwrap();
        assert_eq!(
            files(&writes)[..2],
            [("io.bfq.weight", "300"), ("io.bfq.weight", "8:0 500")]
        );
        // Leaf weights are not written but reported for a warning.
        let ignored: Vec<String> = r
            .ignored_on(crate::Layout::Unified)
            .into_iter()
            .map(|i| i.field)
            .collect();
        assert_eq!(
            ignored,
            vec![
                "linux.resources.blockIO.leafWeight",
                "linux.resources.blockIO.weightDevice[0].leafWeight"
            ]
        );
    }

    #[test]
    fn swappiness_and_oom_killer_are_skipped() {
        let r = Resources {
            memory: Some(16 * MIB),
            memory_swappiness: Some(10),
            oom_kill_disable: Some(true),
            ..Default::default()
        };
        assert_eq!(plan_of(r), vec![pair("memory.max", "16777216")]);
    }

    #[test]
    fn hugetlb_max_and_rsvd() {
        let r = Resources {
            hugepage_limits: vec![Hugepage {
                page_size: "1GB".into(),
                limit: 1 << 30,
            }],
            ..Default::default()
        };
        let facts = Facts {
            hugetlb: Some(Hugetlb {
                home: HugetlbHome::Unified,
                sizes: vec!["1GB".into(), "2MB".into()],
                rsvd: true,
            }),
            ..Default::default()
        };
        let writes = plan("x", &r, &facts).unwrap();
        assert_eq!(
            files(&writes),
            vec![
                ("hugetlb.1GB.max", "1073741824"),
                ("hugetlb.1GB.rsvd.max", "1073741824")
            ]
        );
        // On v2 everything is in the one hierarchy: nothing is marked for routing.
        assert!(writes.iter().all(|w| !w.unified));
    }

    #[test]
    fn realtime_and_network_are_refused_by_name() {
        let r = Resources {
            cpu_rt_runtime: Some(1000),
            ..Default::default()
        };
        let err = plan("x", &r, &Facts::default()).unwrap_err().to_string();
        assert!(
            err.starts_with("linux.resources.cpu.realtimeRuntime: cgroup v2"),
            "{err}"
        );
        let r = Resources {
            net_cls_classid: Some(1),
            ..Default::default()
        };
        let err = plan("x", &r, &Facts::default()).unwrap_err().to_string();
        assert!(
            err.starts_with("linux.resources.network.classID: "),
            "{err}"
        );
    }

    #[test]
    fn idle_burst_and_unified_files() {
        let mut r = Resources {
            cpu_idle: Some(1),
            cpu_burst: Some(5000),
            ..Default::default()
        };
        r.unified.insert("memory.high".into(), "1000000".into());
        r.unified.insert("pids.max".into(), "7".into());
        let writes = plan("x", &r, &Facts::default()).unwrap();
        assert_eq!(
            files(&writes),
            vec![
                ("cpu.max.burst", "5000"),
                ("cpu.idle", "1"),
                ("memory.high", "1000000"),
                ("pids.max", "7"),
            ]
        );
        assert_eq!(writes[2].controller, Controller::Memory);
        assert_eq!(writes[2].field, "linux.resources.unified[\"memory.high\"]");
        let mut r = Resources::default();
        r.unified.insert("cgroup.max.depth".into(), "2".into());
        let err = plan("x", &r, &Facts::default()).unwrap_err().to_string();
        assert!(
            err.starts_with("linux.resources.unified[\"cgroup.max.depth\"]: "),
            "{err}"
        );
        let mut r = Resources::default();
        r.unified.insert("../memory.max".into(), "2".into());
        let err = plan("x", &r, &Facts::default()).unwrap_err().to_string();
        assert!(err.contains("not a cgroup file name"), "{err}");
    }
}
