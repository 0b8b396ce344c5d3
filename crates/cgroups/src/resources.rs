//! The limits a container asks for, as plain data with Docker's semantics.
//!
//! The engine maps Docker's `HostConfig` (or an OCI spec's `linux.resources`) onto this struct;
//! the planners map it onto files. Keeping the numbers as Docker spells them (swap as the
//! memory+swap total, `-1` for unlimited) means the engine does no arithmetic of its own and the
//! version-specific conversions live in exactly one place each.
//!
//! Nothing asked for is dropped in silence: a field the host's cgroup version has no knob for is
//! either refused by the planners ([`crate::Error::Unsupported`]) or, where Docker and runc
//! accept it anyway (swappiness on cgroup v2), listed by [`Resources::ignored_on`] so the caller
//! can warn. Errors name the OCI `linux.resources` field, the one spelling every caller shares
//! (the engine reaches this crate through an OCI spec too).

use crate::controller::Controller;
use crate::detect::Layout;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The smallest CFS period and quota the kernel accepts, in microseconds (1 ms).
pub const MIN_CFS_US: u64 = 1_000;
/// The largest CFS period the kernel accepts, in microseconds (1 s).
pub const MAX_CFS_PERIOD_US: u64 = 1_000_000;

/// Resource limits for one cgroup. Every field is optional: `None` (and, as in runc, `0`) leaves
/// the current value alone, which is what makes the same struct usable for `docker update`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Resources {
    /// Memory limit in bytes; `-1` removes the limit.
    pub memory: Option<i64>,
    /// Docker's `--memory-swap`: the limit on memory plus swap together, in bytes; `-1` allows
    /// unlimited swap; equal to `memory` means no swap at all. The engine applies Docker's
    /// default (twice `memory` when only `memory` is given) before it gets here.
    pub memory_swap: Option<i64>,
    /// Soft limit (`--memory-reservation`) in bytes; `-1` removes it.
    pub memory_reservation: Option<i64>,
    /// Relative CPU weight in v1 "shares" (Docker's `--cpu-shares`, default 1024); converted to
    /// `cpu.weight` on v2.
    pub cpu_shares: Option<u64>,
    /// CFS quota in microseconds per period; `-1` removes it.
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds (1000 to 1000000).
    pub cpu_period: Option<u64>,
    /// CPUs the group may run on, in the kernel's list syntax (`0-2,4`).
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the group may allocate from, same syntax.
    pub cpuset_mems: Option<String>,
    /// Maximum number of tasks; `0` or `-1` removes the limit (Docker's convention).
    pub pids_limit: Option<i64>,
    /// Device access rules (see [`crate::devices`]), replacing the group's current ones;
    /// `None` leaves them alone.
    pub devices: Option<Vec<crate::devices::DeviceRule>>,
    /// The group's swappiness, 0 to 100 (`memory.swappiness`); cgroup v1 only, v2 has no
    /// per-group value (see [`Resources::ignored_on`]).
    pub memory_swappiness: Option<u64>,
    /// `true` disables the OOM killer for the group, `false` re-enables it
    /// (`memory.oom_control`); cgroup v1 only.
    pub oom_kill_disable: Option<bool>,
    /// Real-time runtime per period in microseconds (`cpu.rt_runtime_us`, `-1` unlimited);
    /// v1 with `CONFIG_RT_GROUP_SCHED` only. `0` leaves it unchanged.
    pub cpu_rt_runtime: Option<i64>,
    /// Real-time period in microseconds (`cpu.rt_period_us`); `0` leaves it unchanged.
    pub cpu_rt_period: Option<u64>,
    /// `1` makes the group SCHED_IDLE (`cpu.idle`), `0` undoes it.
    pub cpu_idle: Option<i64>,
    /// CFS burst in microseconds (`cpu.cfs_burst_us` on v1, `cpu.max.burst` on v2).
    pub cpu_burst: Option<u64>,
    /// Block I/O weights and throttles.
    pub blkio: Option<Blkio>,
    /// Huge page limits, one per page size.
    pub hugepage_limits: Vec<Hugepage>,
    /// The `net_cls.classid` to tag the group's packets with (v1 `net_cls` only).
    pub net_cls_classid: Option<u32>,
    /// Per-interface priorities (`net_prio.ifpriomap`, v1 `net_prio` only).
    pub net_prio_ifpriomap: Vec<InterfacePriority>,
    /// RDMA limits per device (`rdma.max`).
    pub rdma: BTreeMap<String, Rdma>,
    /// Raw cgroup v2 files to write (`linux.resources.unified`), after everything else.
    pub unified: BTreeMap<String, String>,
}

/// Block I/O limits, in the OCI/runc shape: weights on the v1 scale (10 to 1000, converted for
/// v2's `io.weight`), throttles per device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Blkio {
    /// The group's weight; `0` leaves it unchanged.
    pub weight: Option<u16>,
    /// The weight of the group's own tasks against its children (CFQ only); `0` unchanged.
    pub leaf_weight: Option<u16>,
    /// Per-device weights.
    pub weight_device: Vec<WeightDevice>,
    /// Read limits in bytes per second.
    pub throttle_read_bps: Vec<Throttle>,
    /// Write limits in bytes per second.
    pub throttle_write_bps: Vec<Throttle>,
    /// Read limits in operations per second.
    pub throttle_read_iops: Vec<Throttle>,
    /// Write limits in operations per second.
    pub throttle_write_iops: Vec<Throttle>,
}

/// One device's weight (and CFQ leaf weight).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WeightDevice {
    /// The device's major number.
    pub major: u32,
    /// The device's minor number.
    pub minor: u32,
    /// Its weight; `0` or `None` leaves it unchanged.
    pub weight: Option<u16>,
    /// Its leaf weight; `0` or `None` leaves it unchanged.
    pub leaf_weight: Option<u16>,
}

/// One device's rate limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Throttle {
    /// The device's major number.
    pub major: u32,
    /// The device's minor number.
    pub minor: u32,
    /// The limit per second; `0` removes it (as on v1).
    pub rate: u64,
}

/// A limit on one huge page size.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Hugepage {
    /// The page size as the kernel's hugetlb files spell it: `2MB`, `1GB`, `64KB`.
    pub page_size: String,
    /// The limit in bytes.
    pub limit: u64,
}

/// A priority for one network interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct InterfacePriority {
    /// The interface name.
    pub name: String,
    /// Its priority.
    pub priority: u32,
}

/// RDMA limits for one device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Rdma {
    /// The maximum number of HCA handles.
    pub hca_handles: Option<u32>,
    /// The maximum number of HCA objects.
    pub hca_objects: Option<u32>,
}

/// A requested field that this layout has no knob for and that is accepted anyway (as Docker
/// and runc do), so the caller must warn about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    /// The OCI field, e.g. `linux.resources.memory.swappiness`.
    pub field: String,
    /// Why it has no effect.
    pub reason: &'static str,
}

impl std::fmt::Display for Ignored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is ignored: {}", self.field, self.reason)
    }
}

/// The smallest and largest blkio weight (v1's scale, which OCI uses everywhere).
pub const BLKIO_WEIGHT: std::ops::RangeInclusive<u16> = 10..=1000;

/// Whether `size` is spelled as the kernel's hugetlb file names spell page sizes: digits and
/// `KB`, `MB` or `GB` (runc's check).
pub fn is_page_size(size: &str) -> bool {
    let digits = size
        .strip_suffix("KB")
        .or_else(|| size.strip_suffix("MB"))
        .or_else(|| size.strip_suffix("GB"));
    digits.is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// A limit after normalisation: what the planners switch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// No limit (`max` on v2, `-1` on v1).
    Unlimited,
    /// A finite value.
    Value(u64),
}

impl Resources {
    /// Checks that the fields are consistent with each other, with Docker's messages where
    /// Docker has one, so a bad request fails before anything is written.
    pub fn validate(&self) -> Result<()> {
        let invalid = |msg: &str| Err(Error::InvalidResources(msg.to_string()));
        for (name, value) in [
            ("memory", self.memory),
            ("memory swap", self.memory_swap),
            ("memory reservation", self.memory_reservation),
            ("CPU quota", self.cpu_quota),
        ] {
            if let Some(v) = value
                && v < -1
            {
                return Err(Error::InvalidResources(format!(
                    "invalid {name} value {v}: use -1 for unlimited"
                )));
            }
        }
        if let Some(Limit::Value(swap)) = self.swap() {
            match self.memory() {
                Some(Limit::Value(memory)) if swap < memory => {
                    return invalid(
                        "Minimum memoryswap limit should be larger than memory limit, see usage",
                    );
                }
                Some(Limit::Value(_)) => {}
                _ => {
                    return invalid(
                        "You should always set the Memory limit when using Memoryswap limit, see \
                         usage",
                    );
                }
            }
        }
        if let Some(period) = self.cpu_period
            && period != 0
            && !(MIN_CFS_US..=MAX_CFS_PERIOD_US).contains(&period)
        {
            return invalid(
                "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1 second \
                 (i.e. 1000000)",
            );
        }
        if let Some(Limit::Value(quota)) = self.quota()
            && quota < MIN_CFS_US
        {
            return invalid("CPU cfs quota can not be less than 1ms (i.e. 1000)");
        }
        if let Some(s) = self.memory_swappiness
            && s > 100
        {
            return Err(Error::InvalidResources(format!(
                "linux.resources.memory.swappiness: invalid memory swappiness value: {s} (valid \
                 range is 0-100)"
            )));
        }
        if let Some(b) = &self.blkio {
            b.validate()?;
        }
        for (i, h) in self.hugepage_limits.iter().enumerate() {
            if !is_page_size(&h.page_size) {
                return Err(Error::InvalidResources(format!(
                    "linux.resources.hugepageLimits[{i}].pageSize: {:?} is not a page size \
                     such as 2MB or 1GB",
                    h.page_size
                )));
            }
        }
        for key in self.unified.keys() {
            if key.is_empty() || key.contains(['/', '\0', '\n']) || key.starts_with('.') {
                return Err(Error::InvalidResources(format!(
                    "linux.resources.unified[{key:?}]: not a cgroup file name"
                )));
            }
        }
        Ok(())
    }

    /// The controllers these resources need on `layout`, each with the first field that needs
    /// it. A group must exist (and a process be joined) in those hierarchies, optional ones
    /// included: a blkio limit on a group the process is not in limits nothing.
    pub fn controllers(&self, layout: Layout) -> BTreeMap<Controller, &'static str> {
        let v1 = layout.is_v1();
        let mut needs = BTreeMap::new();
        let mut need = |controller, field, wanted: bool| {
            if wanted {
                needs.entry(controller).or_insert(field);
            }
        };
        let memory = self.memory().is_some() || self.swap().is_some();
        need(Controller::Memory, "linux.resources.memory.limit", memory);
        need(
            Controller::Memory,
            "linux.resources.memory.reservation",
            self.reservation().is_some(),
        );
        need(
            Controller::Memory,
            "linux.resources.memory.swappiness",
            v1 && self.memory_swappiness.is_some(),
        );
        need(
            Controller::Memory,
            "linux.resources.memory.disableOOMKiller",
            v1 && self.oom_kill_disable.is_some(),
        );
        let cpu = self.shares().is_some()
            || self.quota().is_some()
            || self.period().is_some()
            || self.cpu_idle.is_some()
            || self.cpu_burst.is_some()
            || self.rt_runtime().is_some()
            || self.rt_period().is_some();
        need(Controller::Cpu, "linux.resources.cpu", cpu);
        let cpuset = self.cpuset_cpus.is_some() || self.cpuset_mems.is_some();
        need(Controller::Cpuset, "linux.resources.cpu.cpus", cpuset);
        need(
            Controller::Pids,
            "linux.resources.pids.limit",
            self.pids().is_some(),
        );
        need(
            Controller::Devices,
            "linux.resources.devices",
            v1 && self.devices.is_some(),
        );
        let io = if v1 {
            Controller::Blkio
        } else {
            Controller::Io
        };
        let blkio = self.blkio.as_ref().is_some_and(|b| !b.is_empty());
        need(io, "linux.resources.blockIO", blkio);
        need(
            Controller::Hugetlb,
            "linux.resources.hugepageLimits",
            !self.hugepage_limits.is_empty(),
        );
        need(
            Controller::NetCls,
            "linux.resources.network.classID",
            v1 && self.net_cls_classid.is_some(),
        );
        need(
            Controller::NetPrio,
            "linux.resources.network.priorities",
            v1 && !self.net_prio_ifpriomap.is_empty(),
        );
        need(
            Controller::Rdma,
            "linux.resources.rdma",
            !self.rdma.is_empty(),
        );
        needs
    }

    /// The fields that have no effect on `layout` but are accepted, as Docker and runc accept
    /// them: cgroup v2 has no per-group swappiness, cannot turn the OOM killer off, and has no
    /// leaf weights. The planners skip them there; the caller warns with these.
    pub fn ignored_on(&self, layout: Layout) -> Vec<Ignored> {
        let mut ignored = Vec::new();
        if layout.is_v1() {
            return ignored;
        }
        let mut add = |field: String, reason| ignored.push(Ignored { field, reason });
        if self.memory_swappiness.is_some() {
            add(
                "linux.resources.memory.swappiness".into(),
                "cgroup v2 has no per-group swappiness (the host's vm.swappiness applies)",
            );
        }
        if self.oom_kill_disable == Some(true) {
            add(
                "linux.resources.memory.disableOOMKiller".into(),
                "cgroup v2 cannot disable the OOM killer",
            );
        }
        if let Some(b) = &self.blkio {
            let leaf = "cgroup v2 has no leaf weights";
            if b.leaf_weight.is_some_and(|w| w != 0) {
                add("linux.resources.blockIO.leafWeight".into(), leaf);
            }
            for (i, d) in b.weight_device.iter().enumerate() {
                if d.leaf_weight.is_some_and(|w| w != 0) {
                    add(
                        format!("linux.resources.blockIO.weightDevice[{i}].leafWeight"),
                        leaf,
                    );
                }
            }
        }
        ignored
    }

    /// Whether nothing at all is requested (creating a group only to track and kill processes).
    pub fn is_empty(&self) -> bool {
        *self == Resources::default()
    }

    /// The memory limit, `None` when unchanged.
    pub(crate) fn memory(&self) -> Option<Limit> {
        signed_limit(self.memory)
    }

    /// The memory+swap total, `None` when unchanged.
    pub(crate) fn swap(&self) -> Option<Limit> {
        signed_limit(self.memory_swap)
    }

    /// The soft limit, `None` when unchanged.
    pub(crate) fn reservation(&self) -> Option<Limit> {
        signed_limit(self.memory_reservation)
    }

    /// The CFS quota, `None` when unchanged.
    pub(crate) fn quota(&self) -> Option<Limit> {
        signed_limit(self.cpu_quota)
    }

    /// The CFS period, `None` when unchanged.
    pub(crate) fn period(&self) -> Option<u64> {
        self.cpu_period.filter(|p| *p != 0)
    }

    /// The CPU shares, `None` when unchanged.
    pub(crate) fn shares(&self) -> Option<u64> {
        self.cpu_shares.filter(|s| *s != 0)
    }

    /// The real-time runtime, `None` when unchanged.
    pub(crate) fn rt_runtime(&self) -> Option<Limit> {
        signed_limit(self.cpu_rt_runtime)
    }

    /// The real-time period, `None` when unchanged.
    pub(crate) fn rt_period(&self) -> Option<u64> {
        self.cpu_rt_period.filter(|p| *p != 0)
    }

    /// The pids limit, `None` when unchanged; zero and negatives mean unlimited as in Docker.
    pub(crate) fn pids(&self) -> Option<Limit> {
        self.pids_limit.map(|p| match u64::try_from(p) {
            Ok(n) if n > 0 => Limit::Value(n),
            _ => Limit::Unlimited,
        })
    }
}

impl Blkio {
    /// Whether nothing is asked for (every weight unchanged, no throttle).
    pub fn is_empty(&self) -> bool {
        self.weight().is_none()
            && self.leaf_weight().is_none()
            && self.weight_device.is_empty()
            && self.throttles().all(|(_, list)| list.is_empty())
    }

    /// The group weight, `None` when unchanged.
    pub(crate) fn weight(&self) -> Option<u16> {
        self.weight.filter(|w| *w != 0)
    }

    /// The leaf weight, `None` when unchanged.
    pub(crate) fn leaf_weight(&self) -> Option<u16> {
        self.leaf_weight.filter(|w| *w != 0)
    }

    /// The four throttle lists with their OCI names, in runc's order.
    pub(crate) fn throttles(&self) -> impl Iterator<Item = (&'static str, &[Throttle])> {
        [
            ("throttleReadBpsDevice", self.throttle_read_bps.as_slice()),
            ("throttleWriteBpsDevice", self.throttle_write_bps.as_slice()),
            ("throttleReadIOPSDevice", self.throttle_read_iops.as_slice()),
            (
                "throttleWriteIOPSDevice",
                self.throttle_write_iops.as_slice(),
            ),
        ]
        .into_iter()
    }

    /// Refuses weights outside [`BLKIO_WEIGHT`], naming the field.
    fn validate(&self) -> Result<()> {
        let check = |field: String, w: Option<u16>| match w {
            Some(w) if w != 0 && !BLKIO_WEIGHT.contains(&w) => Err(Error::InvalidResources(
                format!("{field}: invalid weight {w} (valid range is 10-1000)"),
            )),
            _ => Ok(()),
        };
        let base = "linux.resources.blockIO";
        check(format!("{base}.weight"), self.weight)?;
        check(format!("{base}.leafWeight"), self.leaf_weight)?;
        for (i, d) in self.weight_device.iter().enumerate() {
            check(format!("{base}.weightDevice[{i}].weight"), d.weight)?;
            check(
                format!("{base}.weightDevice[{i}].leafWeight"),
                d.leaf_weight,
            )?;
        }
        Ok(())
    }
}

/// Maps runc's convention (`0` unchanged, negative unlimited) onto [`Limit`].
fn signed_limit(value: Option<i64>) -> Option<Limit> {
    match value? {
        0 => None,
        v => Some(u64::try_from(v).map_or(Limit::Unlimited, Limit::Value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(r: Resources) -> String {
        r.validate().unwrap_err().to_string()
    }

    #[test]
    fn default_is_empty_and_valid() {
        assert!(Resources::default().is_empty());
        Resources::default().validate().unwrap();
    }

    #[test]
    fn swap_must_not_be_below_memory() {
        let r = Resources {
            memory: Some(100),
            memory_swap: Some(50),
            ..Default::default()
        };
        assert!(message(r).starts_with("Minimum memoryswap limit"));
        let ok = Resources {
            memory: Some(100),
            memory_swap: Some(100),
            ..Default::default()
        };
        ok.validate().unwrap();
    }

    #[test]
    fn swap_needs_memory() {
        let r = Resources {
            memory_swap: Some(50),
            ..Default::default()
        };
        assert!(message(r).starts_with("You should always set the Memory limit"));
        let r = Resources {
            memory: Some(-1),
            memory_swap: Some(50),
            ..Default::default()
        };
        assert!(message(r).starts_with("You should always set the Memory limit"));
        // Unlimited swap needs no memory limit.
        Resources {
            memory_swap: Some(-1),
            ..Default::default()
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn cfs_ranges() {
        let r = Resources {
            cpu_period: Some(999),
            ..Default::default()
        };
        assert!(message(r).contains("cfs period"));
        let r = Resources {
            cpu_period: Some(1_000_001),
            ..Default::default()
        };
        assert!(message(r).contains("cfs period"));
        let r = Resources {
            cpu_quota: Some(500),
            ..Default::default()
        };
        assert!(message(r).contains("cfs quota"));
        Resources {
            cpu_quota: Some(-1),
            cpu_period: Some(1000),
            ..Default::default()
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn negative_values_other_than_minus_one_are_rejected() {
        let r = Resources {
            memory: Some(-2),
            ..Default::default()
        };
        assert!(message(r).contains("invalid memory value -2"));
    }

    #[test]
    fn normalisation() {
        let r = Resources {
            memory: Some(0),
            memory_swap: Some(-1),
            cpu_shares: Some(0),
            pids_limit: Some(0),
            ..Default::default()
        };
        assert_eq!(r.memory(), None);
        assert_eq!(r.swap(), Some(Limit::Unlimited));
        assert_eq!(r.shares(), None);
        assert_eq!(r.pids(), Some(Limit::Unlimited));
        let r = Resources {
            pids_limit: Some(5),
            ..Default::default()
        };
        assert_eq!(r.pids(), Some(Limit::Value(5)));
    }

    #[test]
    fn serde_round_trip_uses_camel_case() {
        let r = Resources {
            memory: Some(1 << 20),
            cpuset_cpus: Some("0".into()),
            ..Default::default()
        };
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"memory\":1048576"));
        assert!(json.contains("\"cpusetCpus\":\"0\""));
        let back: Resources = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        let partial: Resources = serde_json::from_str(r#"{"pidsLimit":5}"#).unwrap();
        assert_eq!(partial.pids_limit, Some(5));
    }

    #[test]
    fn page_sizes() {
        for ok in ["2MB", "1GB", "64KB", "16GB"] {
            assert!(is_page_size(ok), "{ok}");
        }
        for bad in ["", "MB", "2M", "2mb", "2 MB", "2MB ", "x2MB", "2TB"] {
            assert!(!is_page_size(bad), "{bad}");
        }
    }

    #[test]
    fn new_fields_are_validated_by_name() {
        let r = Resources {
            blkio: Some(Blkio {
                weight_device: vec![WeightDevice {
                    weight: Some(1001),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(message(r).starts_with("linux.resources.blockIO.weightDevice[0].weight: "));
        let r = Resources {
            hugepage_limits: vec![Hugepage {
                page_size: "huge".into(),
                limit: 1,
            }],
            ..Default::default()
        };
        assert!(message(r).starts_with("linux.resources.hugepageLimits[0].pageSize: "));
        let mut r = Resources::default();
        r.unified.insert("a/b".into(), "1".into());
        assert!(message(r).starts_with("linux.resources.unified[\"a/b\"]: "));
    }

    /// Every field set, for the checks that must cover all of them.
    fn everything() -> Resources {
        let t = vec![Throttle {
            major: 1,
            minor: 1,
            rate: 1,
        }];
        let mut r = Resources {
            memory: Some(1 << 24),
            memory_swap: Some(1 << 25),
            memory_reservation: Some(1 << 23),
            cpu_shares: Some(512),
            cpu_quota: Some(50_000),
            cpu_period: Some(100_000),
            cpuset_cpus: Some("0".into()),
            cpuset_mems: Some("0".into()),
            pids_limit: Some(5),
            devices: Some(Vec::new()),
            memory_swappiness: Some(1),
            oom_kill_disable: Some(true),
            cpu_rt_runtime: Some(1),
            cpu_rt_period: Some(1),
            cpu_idle: Some(1),
            cpu_burst: Some(1),
            blkio: Some(Blkio {
                weight: Some(100),
                leaf_weight: Some(100),
                weight_device: vec![WeightDevice {
                    major: 1,
                    minor: 1,
                    weight: Some(100),
                    leaf_weight: Some(100),
                }],
                throttle_read_bps: t.clone(),
                throttle_write_bps: t.clone(),
                throttle_read_iops: t.clone(),
                throttle_write_iops: t,
            }),
            hugepage_limits: vec![Hugepage {
                page_size: "2MB".into(),
                limit: 1,
            }],
            net_cls_classid: Some(1),
            net_prio_ifpriomap: vec![InterfacePriority {
                name: "lo".into(),
                priority: 1,
            }],
            ..Default::default()
        };
        r.rdma.insert(
            "d".into(),
            Rdma {
                hca_handles: Some(1),
                hca_objects: Some(1),
            },
        );
        r
    }

    #[test]
    fn controllers_cover_every_planned_write() {
        use crate::plan::{Facts, Hugetlb, HugetlbHome};
        let facts = |home| Facts {
            cpu_rt: true,
            blkio_weight_file: Some("blkio.weight"),
            blkio_weight_device_file: Some("blkio.weight_device"),
            blkio_leaf_weight: true,
            hugetlb: Some(Hugetlb {
                home,
                sizes: vec!["2MB".into()],
                rsvd: true,
            }),
            ..Default::default()
        };
        let r = everything();
        let writes = crate::plan::plan(Layout::Hybrid, "x", &r, &facts(HugetlbHome::V1)).unwrap();
        let needed = r.controllers(Layout::Hybrid);
        for w in &writes {
            assert!(needed.contains_key(&w.controller), "{w:?}");
        }
        assert!(needed.contains_key(&Controller::Devices));
        // v2 refuses what it has no knob for; the rest is covered too.
        let mut v2 = r.clone();
        v2.cpu_rt_runtime = None;
        v2.cpu_rt_period = None;
        v2.net_cls_classid = None;
        v2.net_prio_ifpriomap.clear();
        v2.unified.insert("memory.high".into(), "1".into());
        let writes =
            crate::plan::plan(Layout::Unified, "x", &v2, &facts(HugetlbHome::Unified)).unwrap();
        let needed = v2.controllers(Layout::Unified);
        for w in &writes {
            assert!(needed.contains_key(&w.controller), "{w:?}");
        }
        assert!(needed.contains_key(&Controller::Io));
        assert!(!needed.contains_key(&Controller::Blkio));
        assert!(!needed.contains_key(&Controller::Devices));
        assert!(Resources::default().controllers(Layout::Hybrid).is_empty());
        assert_eq!(
            r.controllers(Layout::Legacy).get(&Controller::Hugetlb),
            Some(&"linux.resources.hugepageLimits")
        );
    }

    #[test]
    fn ignored_fields_per_layout() {
        let r = everything();
        for layout in [Layout::Hybrid, Layout::Legacy] {
            assert!(r.ignored_on(layout).is_empty());
        }
        let ignored: Vec<String> = r
            .ignored_on(Layout::Unified)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(ignored.len(), 4, "{ignored:?}");
        assert!(ignored[0].starts_with("linux.resources.memory.swappiness is ignored: "));
        assert!(ignored[1].starts_with("linux.resources.memory.disableOOMKiller is ignored"));
        assert!(ignored[2].starts_with("linux.resources.blockIO.leafWeight is ignored"));
        assert!(ignored[3].starts_with("linux.resources.blockIO.weightDevice[0].leafWeight"));
        // Keeping the OOM killer on is what v2 does anyway.
        let on = Resources {
            oom_kill_disable: Some(false),
            ..Default::default()
        };
        assert!(on.ignored_on(Layout::Unified).is_empty());
    }
}
