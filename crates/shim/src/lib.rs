//! Layer 2 of Berth: `berth shim`, the per-container supervisor.
//!
//! The daemon is async and may be restarted (even with `kill -9`) at any time; containers must
//! not notice. So the daemon never forks a container itself: it starts one shim per container,
//! detached in its own session, and talks to it over a Unix socket with the small protocol of
//! [`berth_shim_proto`]. The shim creates the container with the runtime library, holds its
//! stdio (pipes, or a pty master), writes the json-file log, records the exit status and OOM
//! verdict in `exit.json`, and serves control requests (start, kill, wait, state, pause,
//! resume, resize, stats, attach, exec). A restarted daemon reconnects to live shims; for a
//! container that exited meanwhile it reads `exit.json`.
//!
//! The shim is single-threaded and event-driven (one `poll(2)`), with small fixed buffers, to
//! keep its resident size low: there is one per running container.
//!
//! Modules, each with one job:
//! * [`args`]: the command line;
//! * [`stdio`]: pipes, the console socket, and handing them to the runtime;
//! * [`process`]: one supervised process (pidfd, exit status, stdin queue);
//! * [`logwriter`]: json-file lines and rotation;
//! * [`conn`]: one client connection and its output queue;
//! * [`server`]: start-up, the event loop, the exit sequence (documented there);
//! * [`requests`]: what each request does;
//! * [`files`]: atomic state files; [`error`]: the error type.

// Unsafe code lives in layer 1 (design.md): never above it.
#![forbid(unsafe_code)]

pub mod args;
pub mod conn;
pub mod error;
pub mod files;
pub mod logwriter;
pub mod process;
pub mod requests;
pub mod server;
pub mod stdio;

pub use error::{Result, ShimError};

use berth_shim_proto::CREATE_ERROR_FILE;
use std::ffi::OsString;

/// Runs `berth shim` with the arguments after `shim`; returns the process exit code (0 after
/// a normal life, 1 when the container could not be created — the reason is then in
/// `<state-dir>/create-error` — and 2 for bad arguments).
pub fn shim_main(args: Vec<OsString>) -> i32 {
    // Nothing the daemon's parent left open reaches a container, and the processes this shim
    // clones stay unreadable to the container until they exec (see `berth_runtime::hygiene`).
    if let Err(err) = berth_runtime::hygiene::cloexec_inherited()
        .and_then(|()| berth_runtime::hygiene::non_dumpable())
    {
        eprintln!("berth shim: {err}");
        return 1;
    }
    // Started from a read-only view of the binary, the command name would be a descriptor
    // number; name the process for `ps`.
    let _ = rustix::thread::set_name(c"berth-shim");
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{}", args::USAGE);
        return 0;
    }
    let cfg = match args::parse(args) {
        Ok(cfg) => cfg,
        Err(err) => {
            eprintln!("{err}");
            return 2;
        }
    };
    match server::Shim::start(cfg.clone()) {
        Ok(shim) => {
            announce_ready();
            shim.run()
        }
        Err(err) => {
            tracing::error!(error = %err, id = %cfg.id, "shim start failed");
            eprintln!("berth shim: {err}");
            let path = cfg.state_dir.join(CREATE_ERROR_FILE);
            let report = berth_shim_proto::message::CreateError {
                message: err.to_string(),
                errno: err.errno(),
            };
            let text = serde_json::to_vec(&report).unwrap_or_else(|_| report.message.into());
            if let Err(e) = files::write_atomic(&path, &text) {
                eprintln!("berth shim: {e}");
            }
            let _ = files::remove(&cfg.state_dir.join(berth_shim_proto::PID_FILE));
            1
        }
    }
}

/// Tells the daemon the control socket is bound: one byte on stdout, which the daemon made a
/// pipe (it blocks on it instead of polling for the socket file), then stdout becomes
/// `/dev/null` so nothing later holds the daemon's pipe open. A shim started by hand with a
/// terminal just prints `R`.
fn announce_ready() {
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = out.write_all(b"R").and_then(|()| out.flush());
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = rustix::stdio::dup2_stdout(&null);
    }
}
