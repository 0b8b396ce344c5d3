//! `berth oci ...`: a runc-compatible command line over [`crate::container`].
//!
//! Flags and output follow runc so tools that drive runc (containerd-style shims, the OCI
//! runtime-tools validation suite) can drive Berth: `state` prints runc's JSON, `run` and
//! `exec` exit with the container process's code, errors exit 1 with a message on stderr.

use crate::container::{self, CreateOptions, ExecOptions};
use crate::error::{Error, Result};
use crate::state;
use clap::{Parser, Subcommand};
use oci_spec::runtime::Process;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The OCI runtime.
#[derive(Debug, Parser)]
#[command(name = "berth oci", about = "Berth's OCI runtime (runc-compatible)")]
struct Cli {
    /// Root directory for container state.
    #[arg(long, global = true, default_value = state::DEFAULT_ROOT)]
    root: PathBuf,
    /// Accepted for runc compatibility; logging goes to stderr.
    #[arg(long, global = true, hide = true)]
    log: Option<PathBuf>,
    /// Accepted for runc compatibility.
    #[arg(long, global = true, hide = true)]
    log_format: Option<String>,
    /// Accepted for runc compatibility.
    #[arg(long, global = true, hide = true)]
    debug: bool,
    /// Accepted for runc compatibility (systemd cgroup paths are not supported).
    #[arg(long, global = true, hide = true)]
    systemd_cgroup: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// The bundle directory (holding config.json).
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Unix socket to receive the pty master on, when process.terminal is true.
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// File to write the container init's pid to.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Pass on this many descriptors after stdio (3, 4, ...) to the container's process.
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    /// Accepted for runc compatibility.
    #[arg(long, hide = true)]
    no_pivot: bool,
    /// Accepted for runc compatibility.
    #[arg(long, hide = true)]
    no_new_keyring: bool,
    /// The container id.
    id: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a container; its process waits for `start`.
    Create(CreateArgs),
    /// Start a created container's process.
    Start {
        /// The container id.
        id: String,
    },
    /// Print a container's state as JSON.
    State {
        /// The container id.
        id: String,
    },
    /// Send a signal (default SIGTERM) to the container's init.
    Kill {
        /// Signal every process of the container.
        #[arg(short, long)]
        all: bool,
        /// The container id.
        id: String,
        /// Signal name or number.
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a container's resources.
    Delete {
        /// Kill a running container first.
        #[arg(short, long)]
        force: bool,
        /// With --force, when the container has no state (its creator was killed half-way):
        /// kill what is in this cgroup, remove it and whatever state directory is left.
        #[arg(long, hide = true, requires = "force")]
        cgroup: Option<String>,
        /// The container id.
        id: String,
    },
    /// Create and start a container, and wait for it unless detached.
    Run {
        #[command(flatten)]
        args: CreateArgs,
        /// Do not wait for the container to exit.
        #[arg(short, long)]
        detach: bool,
    },
    /// Run a new process in a running container.
    Exec {
        /// A process.json describing the process.
        #[arg(short, long)]
        process: Option<PathBuf>,
        /// Unix socket to receive the pty master on.
        #[arg(long)]
        console_socket: Option<PathBuf>,
        /// File to write the process's pid to.
        #[arg(long)]
        pid_file: Option<PathBuf>,
        /// Pass on this many descriptors after stdio (3, 4, ...) to the process.
        #[arg(long, default_value_t = 0)]
        preserve_fds: u32,
        /// Do not wait for the process to exit.
        #[arg(short, long)]
        detach: bool,
        /// Allocate a terminal.
        #[arg(short, long)]
        tty: bool,
        /// Working directory.
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// Extra environment variables (NAME=value).
        #[arg(short, long)]
        env: Vec<String>,
        /// uid[:gid] to run as.
        #[arg(short, long)]
        user: Option<String>,
        /// The container id.
        id: String,
        /// The command and its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// List the processes of a container.
    Ps {
        /// `table` or `json`.
        #[arg(short, long, default_value = "table")]
        format: String,
        /// The container id.
        id: String,
    },
    /// Freeze every process of a container.
    Pause {
        /// The container id.
        id: String,
    },
    /// Thaw a paused container.
    Resume {
        /// The container id.
        id: String,
    },
    /// List containers.
    List {
        /// Print only ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Write a default config.json (Docker's hardening) into the bundle.
    Spec {
        /// The bundle directory.
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
}

/// Parses a signal given as `KILL`, `SIGKILL` or `9`.
pub fn parse_signal(text: &str) -> Option<i32> {
    if let Ok(n) = text.parse::<i32>() {
        return (n > 0 && n < 65).then_some(n);
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .ok()
        .map(|s| s as i32)
}

/// Entry point for `berth oci ARGS...` (`args` start after `oci`). Returns the exit code:
/// the container's for `run` and `exec`, 1 for errors, as runc does.
pub fn oci_main(args: Vec<OsString>) -> i32 {
    crate::warn::to_stderr();
    // Every process this one clones stays non-dumpable until its execve (see `hygiene`).
    if let Err(err) = crate::hygiene::non_dumpable() {
        eprintln!("berth oci: making the runtime non-dumpable: {err}");
        return 1;
    }
    let argv = std::iter::once(OsString::from("berth oci")).chain(args);
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() { 2 } else { 0 };
        }
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("berth oci: {err}");
            1
        }
    }
}

fn create_options(root: &Path, args: &CreateArgs) -> CreateOptions {
    CreateOptions {
        root: root.to_path_buf(),
        console_socket: args.console_socket.clone(),
        pid_file: args.pid_file.clone(),
        // As runc: systemd's socket-activation descriptors come after the ones asked for.
        preserve_fds: args.preserve_fds + crate::hygiene::listen_fds(),
        die_with_parent: false,
    }
}

fn dispatch(cli: Cli) -> Result<i32> {
    let root = cli.root.as_path();
    match cli.command {
        Command::Create(args) => {
            container::create(&args.id, &args.bundle, &create_options(root, &args))?;
            Ok(0)
        }
        Command::Start { id } => container::start(root, &id).map(|()| 0),
        Command::State { id } => {
            let s = container::state(root, &id)?;
            let text = serde_json::to_string_pretty(&s).unwrap_or_default();
            println!("{text}");
            Ok(0)
        }
        Command::Kill { all, id, signal } => {
            let sig = parse_signal(&signal)
                .ok_or_else(|| Error::State(format!("unknown signal {signal:?}")))?;
            container::kill(root, &id, sig, all).map(|()| 0)
        }
        Command::Delete { force, cgroup, id } => match container::delete(root, &id, force) {
            Err(Error::NotFound(_)) if cgroup.is_some() => {
                container::delete_leftovers(root, &id, cgroup.as_deref().unwrap_or_default())
                    .map(|()| 0)
            }
            other => other.map(|()| 0),
        },
        Command::Run { args, detach } => {
            container::run(&args.id, &args.bundle, &create_options(root, &args), detach)
        }
        Command::Exec {
            process,
            console_socket,
            pid_file,
            preserve_fds,
            detach,
            tty,
            cwd,
            env,
            user,
            id,
            command,
        } => {
            let process = match process {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| Error::io("reading", &path, e))?;
                    let de = &mut serde_json::Deserializer::from_str(&text);
                    serde_path_to_error::deserialize::<_, Process>(de).map_err(|e| {
                        Error::config(format!("process.json: {}", e.path()), e.inner().to_string())
                    })?
                }
                None => exec_process(root, &id, command, tty, cwd, env, user)?,
            };
            let opts = ExecOptions {
                console_socket,
                pid_file,
                detach,
                preserve_fds,
                die_with_parent: false,
            };
            container::exec(root, &id, &process, &opts)
        }
        Command::Ps { format, id } => {
            let pids = container::ps(root, &id)?;
            if format == "json" {
                println!("{}", serde_json::to_string(&pids).unwrap_or_default());
            } else {
                println!("{:>8}  CMD", "PID");
                for pid in pids {
                    let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                        .map(|b| {
                            String::from_utf8_lossy(&b)
                                .replace('\0', " ")
                                .trim()
                                .to_string()
                        })
                        .unwrap_or_default();
                    println!("{pid:>8}  {cmd}");
                }
            }
            Ok(0)
        }
        Command::Pause { id } => container::pause(root, &id).map(|()| 0),
        Command::Resume { id } => container::resume(root, &id).map(|()| 0),
        Command::List { quiet } => {
            if !quiet {
                println!("{:<24} {:>8} {:<10} BUNDLE", "ID", "PID", "STATUS");
            }
            for id in state::list(root) {
                if quiet {
                    println!("{id}");
                } else if let Ok(s) = container::state(root, &id) {
                    println!(
                        "{:<24} {:>8} {:<10} {}",
                        s.id,
                        s.pid,
                        s.status,
                        s.bundle.display()
                    );
                }
            }
            Ok(0)
        }
        Command::Spec { bundle } => {
            let path = bundle.join("config.json");
            if path.exists() {
                return Err(Error::State(format!("{} already exists", path.display())));
            }
            let spec = crate::profile::default_spec(&["sh".to_string()]);
            let text = serde_json::to_string_pretty(&spec).unwrap_or_default();
            std::fs::write(&path, text).map_err(|e| Error::io("writing", &path, e))?;
            Ok(0)
        }
    }
}

/// The process for `exec ID CMD...`: the container's own process settings with the new args.
fn exec_process(
    root: &Path,
    id: &str,
    command: Vec<String>,
    tty: bool,
    cwd: Option<PathBuf>,
    env: Vec<String>,
    user: Option<String>,
) -> Result<Process> {
    if command.is_empty() {
        return Err(Error::config("exec", "no command given (and no --process)"));
    }
    let record = state::load(root, id)?;
    let config = record.state.bundle.join("config.json");
    let text = std::fs::read_to_string(&config).map_err(|e| Error::io("reading", &config, e))?;
    let spec = crate::spec::parse(&text)?;
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(command));
    process.set_terminal(Some(tty));
    if let Some(cwd) = cwd {
        process.set_cwd(cwd);
    }
    if !env.is_empty() {
        let mut all = process.env().clone().unwrap_or_default();
        all.extend(env);
        process.set_env(Some(all));
    }
    if let Some(user) = user {
        let (uid, gid) = user.split_once(':').unwrap_or((&user, "0"));
        let bad = || Error::config("exec --user", format!("{user:?} is not uid[:gid]"));
        let u = process.user_mut();
        u.set_uid(uid.parse().map_err(|_| bad())?);
        u.set_gid(gid.parse().map_err(|_| bad())?);
    }
    Ok(process)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("KILL"), Some(9));
        assert_eq!(parse_signal("sigterm"), Some(15));
        assert_eq!(parse_signal("9"), Some(9));
        assert_eq!(parse_signal("NOPE"), None);
        assert_eq!(parse_signal("0"), None);
    }

    #[test]
    fn parses_runc_style_arguments() {
        let cli = Cli::try_parse_from([
            "berth oci",
            "--root",
            "/tmp/r",
            "run",
            "-b",
            "/b",
            "--pid-file",
            "/p",
            "-d",
            "x",
        ])
        .unwrap();
        assert_eq!(cli.root, PathBuf::from("/tmp/r"));
        assert!(matches!(cli.command, Command::Run { detach: true, .. }));
        let cli = Cli::try_parse_from(["berth oci", "exec", "x", "sh", "-c", "echo hi"]).unwrap();
        match cli.command {
            Command::Exec { id, command, .. } => {
                assert_eq!(id, "x");
                assert_eq!(command, ["sh", "-c", "echo hi"]);
            }
            other => panic!("{other:?}"),
        }
    }
}
