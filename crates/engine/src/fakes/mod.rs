//! In-memory fakes of the engine's seams to the host ([`crate::Seams`]), for the engine tests
//! that need no root: a runtime whose shims are in-process protocol servers, and a snapshotter
//! that remembers mounts instead of making them.

pub mod shim;
pub mod snapshotter;
