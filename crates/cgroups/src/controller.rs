//! Names of cgroup controllers, shared by both versions.
//!
//! One enum rather than strings so a typo cannot silently skip a limit, and so the manager can
//! decide per controller whether failing to use it is fatal ([`Controller::is_core`]).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A cgroup controller (v1 "subsystem"), named as the kernel names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Controller {
    /// CPU bandwidth and weight (`cpu`).
    Cpu,
    /// CPU accounting, v1 only (`cpuacct`); v2 folds it into the core `cpu.stat`.
    Cpuacct,
    /// CPU and memory-node pinning (`cpuset`).
    Cpuset,
    /// Memory limits and accounting (`memory`).
    Memory,
    /// Process-count limits (`pids`).
    Pids,
    /// Freezing, v1 only; v2 has the core `cgroup.freeze` file instead.
    Freezer,
    /// Device access lists, v1 only; v2 uses eBPF programs instead.
    Devices,
    /// Block I/O, v1 name (`blkio`).
    Blkio,
    /// Block I/O, v2 name (`io`).
    Io,
    /// Huge page limits (`hugetlb`).
    Hugetlb,
    /// Network class ids, v1 only (`net_cls`).
    NetCls,
    /// Network priorities, v1 only (`net_prio`).
    NetPrio,
    /// perf_event grouping (`perf_event`).
    PerfEvent,
    /// RDMA resources (`rdma`).
    Rdma,
    /// Miscellaneous scalar resources (`misc`).
    Misc,
}

impl Controller {
    /// Every controller this crate knows, in a stable order.
    pub const ALL: [Controller; 15] = [
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Cpuset,
        Controller::Memory,
        Controller::Pids,
        Controller::Freezer,
        Controller::Devices,
        Controller::Blkio,
        Controller::Io,
        Controller::Hugetlb,
        Controller::NetCls,
        Controller::NetPrio,
        Controller::PerfEvent,
        Controller::Rdma,
        Controller::Misc,
    ];

    /// The controllers Berth enables in v2 `cgroup.subtree_control` when they are offered, so
    /// that limits can be applied to (and usage read from) containers later without re-creating
    /// their groups.
    pub const V2_ENABLE: [Controller; 6] = [
        Controller::Cpu,
        Controller::Cpuset,
        Controller::Io,
        Controller::Memory,
        Controller::Pids,
        Controller::Hugetlb,
    ];

    /// The kernel's name, as found in mount options and `cgroup.controllers`.
    pub fn name(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Cpuset => "cpuset",
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Freezer => "freezer",
            Controller::Devices => "devices",
            Controller::Blkio => "blkio",
            Controller::Io => "io",
            Controller::Hugetlb => "hugetlb",
            Controller::NetCls => "net_cls",
            Controller::NetPrio => "net_prio",
            Controller::PerfEvent => "perf_event",
            Controller::Rdma => "rdma",
            Controller::Misc => "misc",
        }
    }

    /// Parses a kernel name; `None` for mount options and names this crate does not manage.
    pub fn from_name(name: &str) -> Option<Controller> {
        Controller::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Whether a v1 group must exist in this controller's hierarchy for a container to be
    /// managed at all. Limits, accounting, freezing and killing depend on these; the others
    /// (devices, blkio, net_cls, ...) are joined best-effort, as runc does.
    pub fn is_core(self) -> bool {
        matches!(
            self,
            Controller::Cpu
                | Controller::Cpuacct
                | Controller::Cpuset
                | Controller::Memory
                | Controller::Pids
                | Controller::Freezer
        )
    }
}

impl fmt::Display for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
