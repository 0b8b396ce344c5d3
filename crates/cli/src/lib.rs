//! Layer 4 of Berth: the Docker-compatible command line.
//!
//! The CLI is only a client of the API: it parses Docker's command names and flags
//! ([`args`]), asks the daemon through `berth-client` (starting one on demand, [`autostart`]),
//! and prints Docker's output formats ([`format`], [`progress`]). The binary calls
//! [`main_with`] and supplies the entry point of the long-running servers ([`Handoff`]: the
//! daemon, the registry), because only the binary links the engine and the server crates.
//!
//! Exit codes follow Docker: 0 on success, 1 when a command fails (daemon errors included),
//! 125 for command-line usage errors; commands that run a process (`run`, `start -a`, `exec`,
//! `wait`-like flows) return [`StatusError`] to exit with the process's code, or with 125/126/127
//! when `run` fails before the process runs.

// Unsafe code lives in layer 1 (design.md): never above it.
#![forbid(unsafe_code)]

pub mod args;
pub mod autostart;
pub mod commands;
pub mod credentials;
pub mod format;
pub mod output;
pub mod progress;
pub mod stdio;

pub use args::DaemonArgs;

use clap::Parser;
use clap::error::ErrorKind;

/// Exit code of a failed command.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code of a command line that does not parse (Docker's value).
pub const EXIT_USAGE: i32 = 125;

/// A failure with a specific exit status, like the docker CLI's `cli.StatusError`: the message
/// (if not empty) is printed to stderr and the process exits with `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusError {
    /// The exit status.
    pub code: i32,
    /// What to print; empty for a container's own non-zero exit, which prints nothing.
    pub message: String,
}

impl StatusError {
    /// An exit with `code` and nothing printed.
    pub fn silent(code: i32) -> StatusError {
        StatusError {
            code,
            message: String::new(),
        }
    }
}

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.message.is_empty() {
            write!(f, "exit status {}", self.code)
        } else {
            f.write_str(&self.message)
        }
    }
}

impl std::error::Error for StatusError {}

/// Parses the process arguments and runs the command; `run_daemon` is called for
/// `berth daemon`. Returns the exit code.
pub fn main_with(run_daemon: impl FnOnce(Handoff) -> i32) -> i32 {
    main_from(std::env::args_os(), run_daemon)
}

/// The commands the CLI hands back to the binary, which alone links what they run.
#[derive(Debug)]
pub enum Handoff {
    /// `berth daemon`: the engine and the API server.
    Daemon(DaemonArgs),
    /// `berth registry serve`: the distribution server.
    RegistryServe(args::RegistryServeArgs),
}

/// [`main_with`] on given arguments (the first one is the program name).
pub fn main_from<I, T>(argv: I, run_daemon: impl FnOnce(Handoff) -> i32) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match args::Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                _ => EXIT_USAGE,
            };
        }
    };
    match cli.command {
        args::Command::Daemon(d) => return run_daemon(Handoff::Daemon(d)),
        args::Command::Registry(args::RegistryCommand::Serve(r)) => {
            return run_daemon(Handoff::RegistryServe(r));
        }
        _ => {}
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return EXIT_FAILURE;
        }
    };
    let result = rt.block_on(commands::run(cli));
    // Tasks still waiting (a stdin read, a signal forwarder) must not hold the exit up.
    rt.shutdown_background();
    match result {
        Ok(()) => 0,
        Err(e) => {
            if let Some(s) = e.downcast_ref::<StatusError>() {
                if !s.message.is_empty() {
                    eprintln!("{}", s.message);
                }
                return s.code;
            }
            eprintln!("{}", error_text(&e));
            EXIT_FAILURE
        }
    }
}

/// The text printed for a failed command: Docker prints the bare message (a daemon error is
/// already `Error response from daemon: ...`), with any context chain after colons.
pub fn error_text(e: &anyhow::Error) -> String {
    // A client error's own text is complete (the socket error behind "Cannot connect" adds
    // nothing but noise); context added by commands is kept.
    match e.downcast_ref::<berth_client::ClientError>() {
        Some(c) => c.to_string(),
        None => format!("{e:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_exit_125_and_help_exits_0() {
        let never = |_: Handoff| -> i32 { panic!("daemon must not run") };
        assert_eq!(
            main_from(["berth", "images", "--badflag"], never),
            EXIT_USAGE
        );
        assert_eq!(main_from(["berth", "--help"], never), 0);
    }

    #[test]
    fn daemon_subcommand_is_handed_back() {
        let code = main_from(
            [
                "berth",
                "daemon",
                "--root",
                "/tmp/x",
                "--snapshotter",
                "copy",
            ],
            |h| {
                let Handoff::Daemon(d) = h else {
                    panic!("not the daemon: {h:?}")
                };
                assert_eq!(d.root, std::path::PathBuf::from("/tmp/x"));
                assert_eq!(d.snapshotter, "copy");
                42
            },
        );
        assert_eq!(code, 42);
    }

    #[test]
    fn daemon_errors_exit_1() {
        let dir = tempfile::tempdir().unwrap();
        let host = format!("unix://{}/none.sock", dir.path().display());
        let never = |_: Handoff| -> i32 { panic!("daemon must not run") };
        assert_eq!(
            main_from(["berth", "-H", host.as_str(), "images"], never),
            EXIT_FAILURE
        );
    }
}
