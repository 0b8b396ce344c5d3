//! The wire messages: one JSON object per line, one request per connection.
//!
//! A connection carries exactly one [`Request`] line and gets one [`Response`] line back. Two
//! requests turn the connection into a stream after an [`Response::Ok`] line: [`Request::Attach`]
//! and [`Request::Exec`] (container output flows to the client, bytes from the client go to the
//! process's stdin). One request per connection keeps the single-threaded shim simple: a slow
//! `Wait` never holds up a `Kill`, and no request ids are needed.

use berth_common::ErrorKind;
use serde::{Deserialize, Serialize};

/// What the engine asks of a shim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Start the created container's process (`docker start`). The container is created when
    /// the shim starts, so `docker create` can fail early and `start` is cheap.
    Start,
    /// Send `signal` to the container's init, or with `all` to every process in its cgroup.
    Kill {
        /// The signal number.
        signal: i32,
        /// Signal every process of the container, not only its init.
        #[serde(default)]
        all: bool,
    },
    /// Block until the container has exited and its output is logged; answered with
    /// [`Response::Exited`].
    Wait,
    /// The container's status; answered with [`Response::State`].
    State,
    /// Freeze the container's cgroup.
    Pause,
    /// Thaw it.
    Resume,
    /// Resize the container's terminal (or an exec's, with `exec_id`).
    Resize {
        /// Rows.
        height: u16,
        /// Columns.
        width: u16,
        /// The exec whose terminal to resize; `None` for the container's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exec_id: Option<String>,
    },
    /// Cgroup usage figures; answered with [`Response::Stats`].
    Stats,
    /// New resource limits for the running container (`docker update`), as OCI
    /// `linux.resources` JSON.
    Update {
        /// The limits.
        resources: serde_json::Value,
    },
    /// Stream the container's output (and feed its stdin) over this connection.
    Attach(AttachRequest),
    /// Run a process in the container and stream it like [`Request::Attach`].
    Exec(ExecRequest),
    /// Block until an exec has exited; answered with [`Response::ExecExited`].
    ExecWait {
        /// The id given in [`ExecRequest::exec_id`].
        exec_id: String,
    },
    /// The daemon has recorded the exit: the shim may go once the container has exited. A
    /// created, never started container is killed first; a running one is refused.
    Shutdown,
}

/// What [`Request::Attach`] streams.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachRequest {
    /// Forward bytes from the connection to the container's stdin (needs the shim's `--stdin`).
    #[serde(default)]
    pub stdin: bool,
    /// Send the container's stdout.
    #[serde(default)]
    pub stdout: bool,
    /// Send the container's stderr.
    #[serde(default)]
    pub stderr: bool,
    /// Frame output with Docker's stdcopy header (what the API forwards for non-TTY
    /// containers); raw bytes otherwise.
    #[serde(default)]
    pub stdcopy: bool,
    /// Close the container's stdin when this client half-closes its side (Docker's
    /// `StdinOnce`, set by `docker run -i`).
    #[serde(default)]
    pub stdin_once: bool,
}

/// What [`Request::Exec`] runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecRequest {
    /// The engine's exec id, used by [`Request::ExecWait`] and [`Request::Resize`].
    pub exec_id: String,
    /// The process as OCI runtime-spec `Process` JSON (args, env, cwd, user, capabilities…).
    pub process: serde_json::Value,
    /// Give the process a terminal (overrides `process.terminal`).
    #[serde(default)]
    pub tty: bool,
    /// Keep a stdin open, fed from this connection.
    #[serde(default)]
    pub stdin: bool,
    /// Frame output with stdcopy headers (non-TTY exec over the API).
    #[serde(default)]
    pub stdcopy: bool,
}

/// The container's lifecycle status as the shim sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    /// Created, waiting for [`Request::Start`].
    Created,
    /// Its process runs.
    Running,
    /// Frozen.
    Paused,
    /// Exited (see [`ShimState::exit`]).
    Stopped,
}

/// How the container ended; also the content of `exit.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    /// The exit status, or 128 + the signal that killed it.
    pub exit_code: i32,
    /// Whether the kernel's OOM killer killed a process of the container.
    pub oom_killed: bool,
    /// When the exit was seen, RFC 3339 with nanoseconds.
    pub finished_at: String,
    /// When the container was started; `None` if it never was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
}

/// The answer to [`Request::State`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShimState {
    /// The container init's pid on the host (0 once stopped).
    pub pid: i32,
    /// The shim's own pid.
    pub shim_pid: u32,
    /// The status.
    pub status: ContainerStatus,
    /// When it was started, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// How it ended, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitInfo>,
    /// Why the container's log cannot be written (a full disk), while it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_error: Option<String>,
}

/// A snapshot of a container group's usage, as `berth-cgroups` reads it and the shim sends it
/// for `docker stats` (one struct for both). `None` means the host does not report the figure
/// (or, for the limit, that there is none: the engine then reports the host's RAM, as Docker
/// does).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Memory charged to the container, page cache included, in bytes.
    pub memory_usage: Option<u64>,
    /// The memory limit in bytes.
    pub memory_limit: Option<u64>,
    /// The highest usage seen.
    pub memory_max_usage: Option<u64>,
    /// Inactive file cache (Docker subtracts it for "MEM USAGE").
    pub memory_inactive_file: Option<u64>,
    /// OOM kills so far.
    pub oom_kills: Option<u64>,
    /// CPU time used, in nanoseconds.
    pub cpu_usage_ns: Option<u64>,
    /// Number of tasks (threads included) in the group. `pids` on the wire, as shims of
    /// earlier versions send it.
    #[serde(rename = "pids")]
    pub pids_current: Option<u64>,
}

/// What a shim answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    /// Done; for streaming requests, the stream follows.
    Ok,
    /// The answer to [`Request::Wait`].
    Exited(ExitInfo),
    /// The answer to [`Request::State`].
    State(ShimState),
    /// The answer to [`Request::Stats`].
    Stats(Stats),
    /// The answer to [`Request::ExecWait`].
    ExecExited {
        /// The exec's exit code (128 + signal when killed).
        exit_code: i32,
    },
    /// The request failed.
    Error {
        /// Which sort of failure, so the API can pick the HTTP status.
        #[serde(with = "kind_wire")]
        kind: ErrorKind,
        /// What failed, for people.
        message: String,
        /// The OS error number of the failed step, when a system call failed (the daemon picks
        /// Docker's exit codes from it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        errno: Option<i32>,
    },
}

impl Response {
    /// An error response.
    pub fn error(kind: ErrorKind, message: impl Into<String>) -> Response {
        Response::Error {
            kind,
            message: message.into(),
            errno: None,
        }
    }
}

/// What the shim writes to [`crate::CREATE_ERROR_FILE`] when it cannot create the container:
/// the message, and the errno of the step that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateError {
    /// What failed, for people.
    pub message: String,
    /// The OS error number, when a system call failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno: Option<i32>,
}

impl CreateError {
    /// Reads the file's text: the JSON form, or (from an older shim) plain text.
    pub fn parse(text: &str) -> CreateError {
        serde_json::from_str(text).unwrap_or_else(|_| CreateError {
            message: text.trim().to_string(),
            errno: None,
        })
    }
}

/// [`ErrorKind`] on the wire, as a snake_case string (the common crate stays serde-free).
mod kind_wire {
    use berth_common::ErrorKind;
    use serde::{Deserialize, Deserializer, Serializer};

    const NAMES: [(ErrorKind, &str); 8] = [
        (ErrorKind::NotFound, "not_found"),
        (ErrorKind::Conflict, "conflict"),
        (ErrorKind::InvalidArgument, "invalid_argument"),
        (ErrorKind::Forbidden, "forbidden"),
        (ErrorKind::Unauthorized, "unauthorized"),
        (ErrorKind::Corrupted, "corrupted"),
        (ErrorKind::NotModified, "not_modified"),
        (ErrorKind::Internal, "internal"),
    ];

    pub fn serialize<S: Serializer>(kind: &ErrorKind, s: S) -> Result<S::Ok, S::Error> {
        let name = NAMES
            .iter()
            .find(|(k, _)| k == kind)
            .map_or("internal", |(_, n)| n);
        s.serialize_str(name)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ErrorKind, D::Error> {
        let name = String::deserialize(d)?;
        Ok(NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map_or(ErrorKind::Internal, |(k, _)| *k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_keep_their_wire_names() {
        let s = Stats {
            pids_current: Some(3),
            ..Default::default()
        };
        let wire = serde_json::to_value(&s).unwrap();
        assert_eq!(wire["pids"], 3, "{wire}");
        let back: Stats = serde_json::from_str(r#"{"pids":7,"oom_kills":1}"#).unwrap();
        assert_eq!((back.pids_current, back.oom_kills), (Some(7), Some(1)));
    }

    #[test]
    fn requests_are_one_tagged_line() {
        let req = Request::Kill {
            signal: 15,
            all: false,
        };
        let text = serde_json::to_string(&req).unwrap();
        assert_eq!(text, r#"{"op":"kill","signal":15,"all":false}"#);
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), req);
        let attach: Request = serde_json::from_str(r#"{"op":"attach","stdout":true}"#).unwrap();
        assert_eq!(
            attach,
            Request::Attach(AttachRequest {
                stdout: true,
                ..AttachRequest::default()
            })
        );
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"op":"wait"}"#).unwrap(),
            Request::Wait
        );
    }

    #[test]
    fn responses_round_trip() {
        let resp = Response::error(ErrorKind::Conflict, "container is not running");
        let text = serde_json::to_string(&resp).unwrap();
        assert_eq!(
            text,
            r#"{"result":"error","kind":"conflict","message":"container is not running"}"#
        );
        assert_eq!(serde_json::from_str::<Response>(&text).unwrap(), resp);
        let exited = Response::Exited(ExitInfo {
            exit_code: 3,
            oom_killed: false,
            finished_at: "2024-01-02T15:04:05.000000000Z".into(),
            started_at: None,
        });
        let text = serde_json::to_string(&exited).unwrap();
        assert_eq!(serde_json::from_str::<Response>(&text).unwrap(), exited);
    }
}
