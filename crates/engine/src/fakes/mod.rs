//! In-memory fakes of the engine's seams to the host ([`crate::Seams`]), for the engine tests
//! that need no root: a runtime whose shims are in-process protocol servers, a network stack
//! of maps, and a snapshotter that remembers mounts instead of making them.

pub mod network;
pub mod shim;
pub mod snapshotter;
