//! The `berth` binary: a thin dispatcher. Everything a user types goes to the CLI crate, which
//! only speaks the API; `berth daemon` is handed back here because only the binary may link
//! the engine and the API server together.

mod daemon;

fn main() {
    let code = berth_cli::main_with(|args| {
        daemon::run(daemon::DaemonOptions {
            host: args.host_or_default(),
            root: args.root,
            log_level: args.log_level,
            snapshotter: args.snapshotter,
        })
    });
    std::process::exit(code);
}
