//! Layer 1 of Berth: the built-in OCI runtime, from a bundle's `config.json` to a running,
//! isolated process, and the runc-compatible `berth oci` command line over it.
//!
//! Start-up latency is the figure Berth competes on, so the design avoids runc's process
//! dance: the parent prepares everything as plain data (mount plan, seccomp BPF, capability
//! masks, C strings), then a single `clone` with all the namespace flags makes the container's
//! init directly; it executes the prepared steps with raw syscalls and reports over a seqpacket
//! socket. No re-exec of the binary, no intermediate process, no Go-style nsenter stage.
//!
//! Modules, each with one job:
//! * [`spec`] loads and validates a bundle (every error before anything is created);
//! * [`plan`] computes the mounts as data; [`resolve`] keeps paths inside the rootfs;
//! * [`namespaces`], [`mounts`], [`pivot`], [`caps`], [`seccomp`], [`rlimits`], [`user`],
//!   [`console`] are the mechanisms; [`process`] runs them in order in the child;
//! * [`state`] and [`container`] implement the lifecycle; [`hooks`] the OCI hooks;
//! * [`hygiene`] keeps descriptors and the runtime binary out of the container's reach;
//! * [`profile`] holds Docker's default hardening; [`cli`] is `berth oci`.
//!
//! Everything is synchronous and single-threaded; the async daemon never calls this directly
//! (its per-container shim does).

pub mod caps;
pub mod cli;
pub mod console;
pub mod container;
pub mod error;
pub mod hooks;
pub mod hygiene;
pub mod mounts;
pub mod namespaces;
pub mod pivot;
pub mod plan;
pub mod process;
/// Docker's default hardening, shared with the engine through its own crate.
pub use berth_profile as profile;
pub mod resolve;
pub mod rlimits;
pub mod seccomp;
pub mod spec;
pub mod state;
mod sys;
pub mod syscall_table;
pub mod user;
pub mod warn;

pub use cli::oci_main;
pub use container::{CreateOptions, ExecOptions};
pub use error::{Error, Result};
pub use spec::Bundle;
pub use state::{State, Status};
