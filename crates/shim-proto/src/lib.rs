//! Layer 1 of Berth: how the engine talks to a container's shim, and the on-disk formats the
//! shim leaves behind (json-file logs, `exit.json`).
//!
//! The engine (async, layer 3) must never link the runtime; the shim (`berth shim`, one
//! single-threaded process per container) does. This crate is the only thing they share, so it
//! stays small and synchronous: plain `std` sockets and files, no tokio. It also holds the
//! one piece of process start-up the engine needs (see [`launch`]), so the engine itself has
//! no `unsafe`. The engine runs these
//! calls on blocking threads.
//!
//! Modules, each with one job:
//! * [`message`]: the request and response types, one JSON line each way;
//! * [`client`]: [`ShimClient`], a typed client over the shim's Unix socket, plus the helpers
//!   the daemon needs without a live shim ([`client::wait_ready`], [`client::read_exit`]);
//! * [`stdcopy`]: Docker's 8-byte multiplex framing, encoder and incremental decoder;
//! * [`launch`]: starting shims detached, from a read-only view of the binary;
//! * [`logs`]: reading Docker's json-file logs across rotated files, and following them;
//! * [`timefmt`]: RFC 3339 timestamps with nanoseconds as Docker writes them in logs and state.
//!
//! ## The state directory
//!
//! The daemon gives every shim a directory; the file names are fixed here:
//! [`SOCKET_FILE`], [`PID_FILE`], [`EXIT_FILE`] and [`CREATE_ERROR_FILE`].

pub mod client;
pub mod launch;
pub mod logs;
pub mod message;
pub mod stdcopy;
pub mod timefmt;

pub use client::{ClientError, ShimClient};
pub use message::{
    AttachRequest, ContainerStatus, ExecRequest, ExitInfo, Request, Response, ShimState, Stats,
};

/// The control socket. Its existence means the container was created and the shim serves.
pub const SOCKET_FILE: &str = "shim.sock";
/// The shim's pid, written first thing at start, so the daemon can find a lost shim.
pub const PID_FILE: &str = "shim.pid";
/// The container's exit, written atomically by the shim when the container exits; it outlives
/// the shim, so a daemon restarted after `kill -9` still learns the real exit code.
pub const EXIT_FILE: &str = "exit.json";
/// Why the container could not be created (plain text); the shim exits after writing it.
pub const CREATE_ERROR_FILE: &str = "create-error";
