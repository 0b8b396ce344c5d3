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
use crate::plan::{self, Facts, Write, unsupported};
use crate::resources::{Blkio, Limit, Resources};

/// v1's spelling of a byte or microsecond limit: `-1` is unlimited.
fn value(limit: Limit) -> String {
    match limit {
        Limit::Unlimited => "-1".to_string(),
        Limit::Value(n) => n.to_string(),
    }
}

/// Plans the v1 writes for `resources`; see the module documentation for the ordering. A field
/// the host cannot apply (no such file per [`Facts`], or a cgroup v2-only field) is an
/// [`crate::Error::Unsupported`] naming it.
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
    let mut swap = resources.swap();
    if memory == Some(Limit::Unlimited) && swap.is_none() {
        swap = Some(Limit::Unlimited);
    }
    if !facts.swap_accounting {
        swap = None;
    }
    let memory_write = memory.map(|m| mem("limit", "memory.limit_in_bytes", value(m)));
    let swap_write = swap.map(|s| mem("swap", "memory.memsw.limit_in_bytes", value(s)));
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
        writes.push(mem(
            "reservation",
            "memory.soft_limit_in_bytes",
            value(reservation),
        ));
    }
    if let Some(swappiness) = resources.memory_swappiness {
        writes.push(mem(
            "swappiness",
            "memory.swappiness",
            swappiness.to_string(),
        ));
    }
    if let Some(disable) = resources.oom_kill_disable {
        // `0` as well, so that an update can turn the OOM killer back on.
        let v = if disable { "1" } else { "0" };
        writes.push(mem("disableOOMKiller", "memory.oom_control", v.into()));
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
        writes.push(cpu("shares", "cpu.shares", shares.to_string()));
    }
    if let Some(period) = resources.period() {
        writes.push(cpu("period", "cpu.cfs_period_us", period.to_string()));
    }
    if let Some(quota) = resources.quota() {
        writes.push(cpu("quota", "cpu.cfs_quota_us", value(quota)));
    }
    if let Some(burst) = resources.cpu_burst {
        writes.push(cpu("burst", "cpu.cfs_burst_us", burst.to_string()));
    }
    if let Some(idle) = resources.cpu_idle {
        writes.push(cpu("idle", "cpu.idle", idle.to_string()));
    }
    let rt_period = resources.rt_period();
    let rt_runtime = resources.rt_runtime();
    if (rt_period.is_some() || rt_runtime.is_some()) && !facts.cpu_rt {
        let field = if rt_runtime.is_some() {
            "linux.resources.cpu.realtimeRuntime"
        } else {
            "linux.resources.cpu.realtimePeriod"
        };
        return Err(unsupported(
            field,
            "this kernel has no real-time group scheduling (no cpu.rt_runtime_us; \
             CONFIG_RT_GROUP_SCHED is off)",
        ));
    }
    if let Some(period) = rt_period {
        writes.push(cpu(
            "realtimePeriod",
            "cpu.rt_period_us",
            period.to_string(),
        ));
    }
    if let Some(runtime) = rt_runtime {
        writes.push(cpu("realtimeRuntime", "cpu.rt_runtime_us", value(runtime)));
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
        let v = match pids {
            Limit::Unlimited => "max".to_string(),
            Limit::Value(n) => n.to_string(),
        };
        writes.push(Write::new(
            "linux.resources.pids.limit",
            Controller::Pids,
            path,
            "pids.max",
            v,
        ));
    }

    if let Some(b) = &resources.blkio {
        writes.extend(blkio(path, b, facts)?);
    }
    writes.extend(plan::hugetlb(path, resources, facts, true)?);

    if let Some(classid) = resources.net_cls_classid {
        writes.push(Write::new(
            "linux.resources.network.classID",
            Controller::NetCls,
            path,
            "net_cls.classid",
            classid,
        ));
    }
    for (i, p) in resources.net_prio_ifpriomap.iter().enumerate() {
        writes.push(Write::new(
            format!("linux.resources.network.priorities[{i}]"),
            Controller::NetPrio,
            path,
            "net_prio.ifpriomap",
            format!("{} {}", p.name, p.priority),
        ));
    }
    writes.extend(plan::rdma(path, resources));
    if !resources.unified.is_empty() {
        return Err(unsupported(
            "linux.resources.unified",
            "it needs cgroup v2, and this host drives its controllers through cgroup v1",
        ));
    }
    Ok(writes)
}

/// The blkio writes, as runc's v1 manager does them: weights to whichever of CFQ's or BFQ's
/// files the kernel has, leaf weights only where CFQ's exist, each throttle entry to its file.
fn blkio(path: &str, b: &Blkio, facts: &Facts) -> Result<Vec<Write>> {
    let base = "linux.resources.blockIO";
    let mut writes = Vec::new();
    let w =
        |field: String, file: &str, v: String| Write::new(field, Controller::Blkio, path, file, v);
    let no_leaf = "this host's blkio controller has no blkio.leaf_weight (leaf weights exist \
                   only with the CFQ scheduler, removed in Linux 5.0)";
    if let Some(weight) = b.weight() {
        let file = facts.blkio_weight_file.ok_or_else(|| {
            unsupported(
                format!("{base}.weight"),
                "this host's blkio controller has neither blkio.weight nor blkio.bfq.weight",
            )
        })?;
        writes.push(w(format!("{base}.weight"), file, weight.to_string()));
    }
    if let Some(leaf) = b.leaf_weight() {
        if !facts.blkio_leaf_weight {
            return Err(unsupported(format!("{base}.leafWeight"), no_leaf));
        }
        writes.push(w(
            format!("{base}.leafWeight"),
            "blkio.leaf_weight",
            leaf.to_string(),
        ));
    }
    for (i, d) in b.weight_device.iter().enumerate() {
        let field = format!("{base}.weightDevice[{i}]");
        if let Some(weight) = d.weight.filter(|w| *w != 0) {
            let file = facts.blkio_weight_device_file.ok_or_else(|| {
                unsupported(
                    format!("{field}.weight"),
                    "this host's blkio controller has neither blkio.weight_device nor \
                     blkio.bfq.weight_device",
                )
            })?;
            let v = format!("{}:{} {weight}", d.major, d.minor);
            writes.push(w(field.clone(), file, v));
        }
        if let Some(leaf) = d.leaf_weight.filter(|w| *w != 0) {
            if !facts.blkio_leaf_weight {
                return Err(unsupported(format!("{field}.leafWeight"), no_leaf));
            }
            let v = format!("{}:{} {leaf}", d.major, d.minor);
            writes.push(w(field, "blkio.leaf_weight_device", v));
        }
    }
    for (name, list) in b.throttles() {
        let file = match name {
            "throttleReadBpsDevice" => "blkio.throttle.read_bps_device",
            "throttleWriteBpsDevice" => "blkio.throttle.write_bps_device",
            "throttleReadIOPSDevice" => "blkio.throttle.read_iops_device",
            _ => "blkio.throttle.write_iops_device",
        };
        for (i, t) in list.iter().enumerate() {
            let v = format!("{}:{} {}", t.major, t.minor, t.rate);
            writes.push(w(format!("{base}.{name}[{i}]"), file, v));
        }
    }
    Ok(writes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Hugetlb, HugetlbHome};
    use crate::resources::{Hugepage, InterfacePriority, Rdma, Throttle, WeightDevice};

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
            ..Default::default()
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
            ..Default::default()
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

    fn err(r: &Resources, facts: &Facts) -> String {
        plan("x", r, facts).unwrap_err().to_string()
    }

    /// This project's CI host: BFQ's files only, no CFQ, no leaf weights.
    fn bfq_only() -> Facts {
        Facts {
            blkio_weight_file: Some("blkio.bfq.weight"),
            blkio_weight_device_file: Some("blkio.bfq.weight_device"),
            ..Default::default()
        }
    }

    #[test]
    fn swappiness_and_oom_killer() {
        let r = Resources {
            memory_swappiness: Some(0),
            oom_kill_disable: Some(true),
            ..Default::default()
        };
        let writes = plan("x", &r, &Facts::default()).unwrap();
        assert_eq!(
            files(&writes),
            vec![("memory.swappiness", "0"), ("memory.oom_control", "1")]
        );
        assert_eq!(writes[0].field, "linux.resources.memory.swappiness");
        assert_eq!(writes[1].field, "linux.resources.memory.disableOOMKiller");
        assert!(writes.iter().all(|w| w.controller == Controller::Memory));
        // Re-enabling is a write too, so that update can undo it.
        let r = Resources {
            oom_kill_disable: Some(false),
            ..Default::default()
        };
        let writes = plan("x", &r, &Facts::default()).unwrap();
        assert_eq!(files(&writes), vec![("memory.oom_control", "0")]);
        let r = Resources {
            memory_swappiness: Some(101),
            ..Default::default()
        };
        assert!(
            err(&r, &Facts::default())
                .starts_with("linux.resources.memory.swappiness: invalid memory swappiness")
        );
    }

    fn blkio_everything() -> Blkio {
        let dev = |rate| Throttle {
            major: 254,
            minor: 0,
            rate,
        };
        Blkio {
            weight: Some(300),
            leaf_weight: None,
            weight_device: vec![WeightDevice {
                major: 8,
                minor: 16,
                weight: Some(200),
                leaf_weight: None,
            }],
            throttle_read_bps: vec![dev(1_048_576)],
            throttle_write_bps: vec![dev(2_097_152)],
            throttle_read_iops: vec![dev(50)],
            throttle_write_iops: vec![dev(100), Throttle { major: 8, ..dev(7) }],
        }
    }

    #[test]
    fn blkio_on_a_bfq_only_host() {
        let r = Resources {
            blkio: Some(blkio_everything()),
            ..Default::default()
        };
        let writes = plan("x", &r, &bfq_only()).unwrap();
        assert_eq!(
            files(&writes),
            vec![
                ("blkio.bfq.weight", "300"),
                ("blkio.bfq.weight_device", "8:16 200"),
                ("blkio.throttle.read_bps_device", "254:0 1048576"),
                ("blkio.throttle.write_bps_device", "254:0 2097152"),
                ("blkio.throttle.read_iops_device", "254:0 50"),
                ("blkio.throttle.write_iops_device", "254:0 100"),
                ("blkio.throttle.write_iops_device", "8:0 7"),
            ]
        );
        let fields: Vec<&str> = writes.iter().map(|w| w.field.as_str()).collect();
        assert_eq!(fields[0], "linux.resources.blockIO.weight");
        assert_eq!(fields[1], "linux.resources.blockIO.weightDevice[0]");
        assert_eq!(
            fields[6],
            "linux.resources.blockIO.throttleWriteIOPSDevice[1]"
        );
        assert!(writes.iter().all(|w| w.controller == Controller::Blkio));
    }

    #[test]
    fn blkio_leaf_weights_need_cfq() {
        let mut b = blkio_everything();
        b.leaf_weight = Some(500);
        let r = Resources {
            blkio: Some(b.clone()),
            ..Default::default()
        };
        let message = err(&r, &bfq_only());
        assert!(
            message.starts_with("linux.resources.blockIO.leafWeight: ")
                && message.contains("blkio.leaf_weight"),
            "{message}"
        );
        b.leaf_weight = None;
        b.weight_device[0].leaf_weight = Some(100);
        let r = Resources {
            blkio: Some(b),
            ..Default::default()
        };
        assert!(
            err(&r, &bfq_only()).starts_with("linux.resources.blockIO.weightDevice[0].leafWeight")
        );
        // With CFQ's files both kinds of weight are written.
        let cfq = Facts {
            blkio_weight_file: Some("blkio.weight"),
            blkio_weight_device_file: Some("blkio.weight_device"),
            blkio_leaf_weight: true,
            ..Default::default()
        };
        let writes = plan("x", &r, &cfq).unwrap();
        assert_eq!(
            files(&writes)[..3],
            [
                ("blkio.weight", "300"),
                ("blkio.weight_device", "8:16 200"),
                ("blkio.leaf_weight_device", "8:16 100"),
            ]
        );
    }

    #[test]
    fn blkio_weight_without_any_weight_file_is_refused() {
        let r = Resources {
            blkio: Some(Blkio {
                weight: Some(300),
                ..Default::default()
            }),
            ..Default::default()
        };
        let message = err(&r, &Facts::default());
        assert!(
            message.starts_with("linux.resources.blockIO.weight: ")
                && message.contains("neither blkio.weight nor blkio.bfq.weight"),
            "{message}"
        );
        // Throttles alone need no weight file; weight 0 means unchanged.
        let r = Resources {
            blkio: Some(Blkio {
                weight: Some(0),
                throttle_read_bps: vec![Throttle {
                    major: 1,
                    minor: 2,
                    rate: 3,
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let writes = plan("x", &r, &Facts::default()).unwrap();
        assert_eq!(
            files(&writes),
            vec![("blkio.throttle.read_bps_device", "1:2 3")]
        );
        let r = Resources {
            blkio: Some(Blkio {
                weight: Some(5),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(
            err(&r, &bfq_only()).starts_with("linux.resources.blockIO.weight: invalid weight 5")
        );
    }

    fn hugetlb(home: HugetlbHome, rsvd: bool) -> Facts {
        Facts {
            hugetlb: Some(Hugetlb {
                home,
                sizes: vec!["1GB".into(), "2MB".into()],
                rsvd,
            }),
            ..Default::default()
        }
    }

    fn two_mb(limit: u64) -> Resources {
        Resources {
            hugepage_limits: vec![Hugepage {
                page_size: "2MB".into(),
                limit,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn hugetlb_on_v1() {
        let writes = plan("x", &two_mb(4 << 20), &hugetlb(HugetlbHome::V1, true)).unwrap();
        assert_eq!(
            files(&writes),
            vec![
                ("hugetlb.2MB.limit_in_bytes", "4194304"),
                ("hugetlb.2MB.rsvd.limit_in_bytes", "4194304"),
            ]
        );
        assert!(writes.iter().all(|w| !w.unified));
        assert_eq!(writes[0].field, "linux.resources.hugepageLimits[0]");
        let writes = plan("x", &two_mb(0), &hugetlb(HugetlbHome::V1, false)).unwrap();
        assert_eq!(files(&writes), vec![("hugetlb.2MB.limit_in_bytes", "0")]);
    }

    #[test]
    fn hugetlb_on_a_hybrid_hosts_cgroup2() {
        let writes = plan("x", &two_mb(4 << 20), &hugetlb(HugetlbHome::Unified, true)).unwrap();
        assert_eq!(
            files(&writes),
            vec![
                ("hugetlb.2MB.max", "4194304"),
                ("hugetlb.2MB.rsvd.max", "4194304"),
            ]
        );
        assert!(
            writes
                .iter()
                .all(|w| w.unified && w.controller == Controller::Hugetlb)
        );
    }

    #[test]
    fn hugetlb_sizes_and_absence_are_refused_by_name() {
        let mut r = two_mb(1);
        r.hugepage_limits[0].page_size = "3MB".into();
        let message = err(&r, &hugetlb(HugetlbHome::V1, false));
        assert_eq!(
            message,
            "linux.resources.hugepageLimits[0].pageSize: 3MB is not a huge page size of this \
             host (it has 1GB, 2MB)"
        );
        r.hugepage_limits[0].page_size = "2M".into();
        assert!(
            err(&r, &hugetlb(HugetlbHome::V1, false))
                .starts_with("linux.resources.hugepageLimits[0].pageSize: \"2M\"")
        );
        let message = err(&two_mb(1), &Facts::default());
        assert!(
            message.starts_with("linux.resources.hugepageLimits: "),
            "{message}"
        );
    }

    #[test]
    fn cpu_realtime_idle_and_burst() {
        let r = Resources {
            cpu_quota: Some(50_000),
            cpu_burst: Some(10_000),
            cpu_idle: Some(1),
            cpu_rt_period: Some(1_000_000),
            cpu_rt_runtime: Some(950_000),
            ..Default::default()
        };
        let rt = Facts {
            cpu_rt: true,
            ..Default::default()
        };
        let writes = plan("x", &r, &rt).unwrap();
        assert_eq!(
            files(&writes),
            vec![
                ("cpu.cfs_quota_us", "50000"),
                ("cpu.cfs_burst_us", "10000"),
                ("cpu.idle", "1"),
                ("cpu.rt_period_us", "1000000"),
                ("cpu.rt_runtime_us", "950000"),
            ]
        );
        assert_eq!(writes[4].field, "linux.resources.cpu.realtimeRuntime");
        assert!(err(&r, &Facts::default()).starts_with("linux.resources.cpu.realtimeRuntime: "));
    }

    #[test]
    fn network_rdma_and_unified() {
        let mut r = Resources {
            net_cls_classid: Some(0x10001),
            net_prio_ifpriomap: vec![InterfacePriority {
                name: "eth0".into(),
                priority: 5,
            }],
            ..Default::default()
        };
        r.rdma.insert(
            "mlx4_0".into(),
            Rdma {
                hca_handles: Some(2),
                hca_objects: None,
            },
        );
        let writes = plan("x", &r, &Facts::default()).unwrap();
        assert_eq!(
            files(&writes),
            vec![
                ("net_cls.classid", "65537"),
                ("net_prio.ifpriomap", "eth0 5"),
                ("rdma.max", "mlx4_0 hca_handle=2"),
            ]
        );
        assert_eq!(
            writes.iter().map(|w| w.controller).collect::<Vec<_>>(),
            vec![Controller::NetCls, Controller::NetPrio, Controller::Rdma]
        );
        let mut r = Resources::default();
        r.unified.insert("memory.high".into(), "1000000".into());
        assert!(
            err(&r, &Facts::default()).starts_with("linux.resources.unified: it needs cgroup v2")
        );
    }
}
