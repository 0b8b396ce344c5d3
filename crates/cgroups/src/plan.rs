//! Resources → an ordered list of control-file writes.
//!
//! Planning is pure so every conversion and ordering rule is unit-tested without root or a
//! cgroup file system; the manager only resolves each [`Write`] to a path and performs it. The
//! few decisions that depend on the live group (whether swap accounting exists, the current
//! memory limit, the current CPU quota, which blkio and hugetlb files the kernel offers) come in
//! as [`Facts`] the executor reads first.
//!
//! Every write carries the OCI field it applies, so whatever the kernel refuses is reported
//! against what the user wrote.

use crate::controller::Controller;
use crate::detect::Layout;
use crate::error::Result;
use crate::resources::Resources;
use crate::{plan_v1, plan_v2};
use std::collections::BTreeSet;

/// One write of `value` to the control `file` of the group at `path_relative` in the hierarchy
/// of `controller` (on v2 all controllers share the one hierarchy; the controller then says which
/// one must be enabled for the file to exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// The OCI field this write applies, e.g. `linux.resources.memory.limit`, for messages.
    pub field: String,
    /// The controller whose hierarchy (v1) or whose enablement (v2) the file needs.
    pub controller: Controller,
    /// The group's path relative to the hierarchy's mount point, e.g. `berth/<id>`.
    pub path_relative: String,
    /// The control file, e.g. `memory.max`.
    pub file: String,
    /// The exact text to write.
    pub value: String,
    /// Goes to the group in the cgroup2 hierarchy even though the layout is driven as v1: a
    /// hybrid host whose `hugetlb` is only on cgroup2.
    pub unified: bool,
}

impl Write {
    /// Builds a write; a shorthand for the planners.
    pub(crate) fn new(
        field: impl Into<String>,
        controller: Controller,
        path_relative: &str,
        file: &str,
        value: impl ToString,
    ) -> Write {
        Write {
            field: field.into(),
            controller,
            path_relative: path_relative.to_string(),
            file: file.to_string(),
            value: value.to_string(),
            unified: false,
        }
    }

    /// The same write, routed to the cgroup2 group (see [`Write::unified`]).
    pub(crate) fn in_unified(mut self) -> Write {
        self.unified = true;
        self
    }
}

/// Where a group's huge page limits are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HugetlbHome {
    /// The v1 `hugetlb` hierarchy (`hugetlb.<size>.limit_in_bytes`).
    V1,
    /// The cgroup2 group (`hugetlb.<size>.max`): v2 hosts, and hybrid ones whose `hugetlb` is
    /// on cgroup2 only.
    Unified,
}

/// What the group's hugetlb controller offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hugetlb {
    /// Which hierarchy holds the files.
    pub home: HugetlbHome,
    /// The page sizes it has files for, as spelled in them (`2MB`, `1GB`).
    pub sizes: Vec<String>,
    /// Whether it has reservation limits (`hugetlb.<size>.rsvd.*`, Linux 5.7+), which runc
    /// sets along with the fault limits.
    pub rsvd: bool,
}

/// What the executor reads from the live group before planning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// v1: whether `memory.memsw.limit_in_bytes` exists. Kernels booted without swap
    /// accounting lack it, and Docker then silently ignores `--memory-swap`; so do we.
    pub swap_accounting: bool,
    /// v1: the group's current `memory.limit_in_bytes`, which decides the order of the memory
    /// and memsw writes. `None` (unknown) is treated as unlimited, which is what a new group has.
    pub memory_limit: Option<u64>,
    /// v2: the quota half of the current `cpu.max` (`None` for `max` or unknown), kept when
    /// only the period changes because v2 cannot set one without the other.
    pub cpu_quota: Option<u64>,
    /// v1: whether the group has `cpu.rt_runtime_us` (kernels with `CONFIG_RT_GROUP_SCHED`).
    pub cpu_rt: bool,
    /// v1: the group weight file, `blkio.weight` (CFQ) or `blkio.bfq.weight` (BFQ); `None`
    /// when the kernel offers neither.
    pub blkio_weight_file: Option<&'static str>,
    /// v1: the per-device weight file, `blkio.weight_device` or `blkio.bfq.weight_device`.
    pub blkio_weight_device_file: Option<&'static str>,
    /// v1: whether `blkio.leaf_weight` exists (CFQ only, gone since Linux 5.0).
    pub blkio_leaf_weight: bool,
    /// v2: whether the group has `io.bfq.weight`, which takes the v1 scale and is preferred
    /// to `io.weight`, as runc does.
    pub io_bfq_weight: bool,
    /// The hugetlb controller the group can use, `None` when there is none.
    pub hugetlb: Option<Hugetlb>,
}

/// Plans the writes that apply `resources` to the group at `path_relative`, for the cgroup
/// version the layout uses for its core controllers (hybrid hosts are planned as v1).
///
/// Fails with [`crate::Error::InvalidResources`] when the resources are inconsistent.
pub fn plan(
    layout: Layout,
    path_relative: &str,
    resources: &Resources,
    facts: &Facts,
) -> Result<Vec<Write>> {
    if layout.is_v1() {
        plan_v1::plan(path_relative, resources, facts)
    } else {
        plan_v2::plan(path_relative, resources, facts)
    }
}

/// The controllers a plan touches, which must be present (v1) or enabled (v2) before applying.
pub fn controllers(writes: &[Write]) -> BTreeSet<Controller> {
    writes.iter().map(|w| w.controller).collect()
}

/// The error for a field this host has no way to apply.
pub(crate) fn unsupported(field: impl Into<String>, reason: impl Into<String>) -> crate::Error {
    crate::Error::Unsupported {
        field: field.into(),
        reason: reason.into(),
    }
}

/// The hugetlb writes of both versions: checks each page size against what the group offers,
/// then plans the fault limit and, where the kernel has them, the reservation limit, in the
/// home's spelling. `driven_as_v1` marks cgroup2 writes of a v1-driven (hybrid) group as
/// [`Write::unified`].
pub(crate) fn hugetlb(
    path: &str,
    resources: &Resources,
    facts: &Facts,
    driven_as_v1: bool,
) -> Result<Vec<Write>> {
    let mut writes = Vec::new();
    if resources.hugepage_limits.is_empty() {
        return Ok(writes);
    }
    let Some(h) = &facts.hugetlb else {
        return Err(unsupported(
            "linux.resources.hugepageLimits",
            "this host offers no hugetlb cgroup controller to the group",
        ));
    };
    let suffix = match h.home {
        HugetlbHome::V1 => "limit_in_bytes",
        HugetlbHome::Unified => "max",
    };
    for (i, limit) in resources.hugepage_limits.iter().enumerate() {
        let field = format!("linux.resources.hugepageLimits[{i}]");
        if !h.sizes.contains(&limit.page_size) {
            return Err(unsupported(
                format!("{field}.pageSize"),
                format!(
                    "{} is not a huge page size of this host (it has {})",
                    limit.page_size,
                    if h.sizes.is_empty() {
                        "none".to_string()
                    } else {
                        h.sizes.join(", ")
                    }
                ),
            ));
        }
        let mut files = vec![format!("hugetlb.{}.{suffix}", limit.page_size)];
        if h.rsvd {
            files.push(format!("hugetlb.{}.rsvd.{suffix}", limit.page_size));
        }
        for file in files {
            let w = Write::new(&field, Controller::Hugetlb, path, &file, limit.limit);
            writes.push(if h.home == HugetlbHome::Unified && driven_as_v1 {
                w.in_unified()
            } else {
                w
            });
        }
    }
    Ok(writes)
}

/// The RDMA writes, the same on both versions: one `rdma.max` line per device with the limits
/// given (a device with none asks for nothing).
pub(crate) fn rdma(path: &str, resources: &Resources) -> Vec<Write> {
    let mut writes = Vec::new();
    for (device, limits) in &resources.rdma {
        let mut line = device.clone();
        if let Some(h) = limits.hca_handles {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = limits.hca_objects {
            line.push_str(&format!(" hca_object={o}"));
        }
        if line.len() > device.len() {
            writes.push(Write::new(
                format!("linux.resources.rdma[{device:?}]"),
                Controller::Rdma,
                path,
                "rdma.max",
                line,
            ));
        }
    }
    writes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hybrid_plans_as_v1_and_unified_as_v2() {
        let r = Resources {
            memory: Some(1 << 20),
            ..Default::default()
        };
        let facts = Facts::default();
        let v1 = plan(Layout::Hybrid, "b/x", &r, &facts).unwrap();
        assert_eq!(v1[0].file, "memory.limit_in_bytes");
        assert_eq!(v1[0].field, "linux.resources.memory.limit");
        let legacy = plan(Layout::Legacy, "b/x", &r, &facts).unwrap();
        assert_eq!(legacy, v1);
        let v2 = plan(Layout::Unified, "b/x", &r, &facts).unwrap();
        assert_eq!(v2[0].file, "memory.max");
        assert_eq!(controllers(&v2), BTreeSet::from([Controller::Memory]));
    }

    #[test]
    fn empty_resources_plan_nothing() {
        for layout in [Layout::Unified, Layout::Hybrid, Layout::Legacy] {
            assert!(
                plan(layout, "x", &Resources::default(), &Facts::default())
                    .unwrap()
                    .is_empty()
            );
        }
    }
}
