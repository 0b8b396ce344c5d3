//! Layer 1 of Berth: putting containers into cgroups, on cgroup v1 and v2 alike.
//!
//! Users run Berth on whatever their host mounts: most have the unified cgroup v2 hierarchy, some
//! still run legacy v1 or systemd's "hybrid" mix (v1 controllers plus a mostly empty cgroup2
//! mount). The layout is therefore detected at run time rather than assumed, and hybrid hosts are
//! driven through their v1 controllers instead of being refused.
//!
//! The crate follows the project's "plan pure, apply small" rule:
//! * [`detect`] reads the mount table into a [`CgroupRoot`] (which tests can point at a fake tree);
//! * [`resources`] describes limits as plain data with Docker's semantics;
//! * [`plan`] turns resources into an ordered list of file writes, one module per version
//!   ([`plan_v1`], [`plan_v2`]), testable without root;
//! * [`manager`] is the small executor: create, join, update, destroy;
//! * [`devices`] turns device rules into v1 writes or a cgroup2 eBPF program, which [`bpf`]
//!   loads and attaches;
//! * [`control`] freezes, thaws and kills everything in a group;
//! * [`stats`] reads usage figures back.
//!
//! Everything here is synchronous and blocking (short sysfs writes and brief polls); async
//! callers should run it on a blocking thread.

pub mod bpf;
pub mod control;
pub mod controller;
pub mod detect;
pub mod devices;
pub mod error;
mod fsio;
pub mod manager;
pub mod plan;
pub mod plan_v1;
pub mod plan_v2;
pub mod resources;
pub mod stats;

pub use controller::Controller;
pub use detect::{CgroupRoot, Layout};
pub use error::{Error, Result};
pub use manager::{Cgroup, remove_if_unused};
pub use plan::{Facts, Write, plan};
pub use resources::Resources;
pub use stats::Stats;
