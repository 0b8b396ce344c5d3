//! Resources → an ordered list of control-file writes.
//!
//! Planning is pure so every conversion and ordering rule is unit-tested without root or a
//! cgroup file system; the manager only resolves each [`Write`] to a path and performs it. The
//! few decisions that depend on the live group (whether swap accounting exists, the current
//! memory limit, the current CPU quota) come in as [`Facts`] the executor reads first.

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
    /// The controller whose hierarchy (v1) or whose enablement (v2) the file needs.
    pub controller: Controller,
    /// The group's path relative to the hierarchy's mount point, e.g. `berth/<id>`.
    pub path_relative: String,
    /// The control file, e.g. `memory.max`.
    pub file: String,
    /// The exact text to write.
    pub value: String,
}

impl Write {
    /// Builds a write; a shorthand for the planners.
    pub(crate) fn new(
        controller: Controller,
        path_relative: &str,
        file: &str,
        value: impl ToString,
    ) -> Write {
        Write {
            controller,
            path_relative: path_relative.to_string(),
            file: file.to_string(),
            value: value.to_string(),
        }
    }
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
