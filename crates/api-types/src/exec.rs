//! Exec models: `POST /containers/{id}/exec`, `POST /exec/{id}/start`, `GET /exec/{id}/json`.

use crate::nullable::{or_default, str_slice};
use serde::{Deserialize, Serialize};

/// `POST /containers/{id}/exec` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ExecConfig {
    /// Attach stdin.
    #[serde(default, deserialize_with = "or_default")]
    pub attach_stdin: bool,
    /// Attach stdout.
    #[serde(default, deserialize_with = "or_default")]
    pub attach_stdout: bool,
    /// Attach stderr.
    #[serde(default, deserialize_with = "or_default")]
    pub attach_stderr: bool,
    /// Initial console size `[height, width]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_size: Option<[u64; 2]>,
    /// Key sequence that detaches (`ctrl-p,ctrl-q`).
    #[serde(default, deserialize_with = "or_default")]
    pub detach_keys: String,
    /// Allocate a pseudo terminal.
    #[serde(default, deserialize_with = "or_default")]
    pub tty: bool,
    /// Extra `KEY=value` entries on top of the container's environment.
    #[serde(default, deserialize_with = "or_default")]
    pub env: Vec<String>,
    /// The command; required (a string is accepted as a one-element list).
    #[serde(default, deserialize_with = "str_slice")]
    pub cmd: Option<Vec<String>>,
    /// Run with all capabilities.
    #[serde(default, deserialize_with = "or_default")]
    pub privileged: bool,
    /// User; empty = the container's.
    #[serde(default, deserialize_with = "or_default")]
    pub user: String,
    /// Working directory; empty = the container's.
    #[serde(default, deserialize_with = "or_default")]
    pub working_dir: String,
}

/// `POST /exec/{id}/start` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ExecStartConfig {
    /// Return at once instead of streaming.
    #[serde(default, deserialize_with = "or_default")]
    pub detach: bool,
    /// Whether the exec has a TTY (affects stream framing).
    #[serde(default, deserialize_with = "or_default")]
    pub tty: bool,
    /// Initial console size `[height, width]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_size: Option<[u64; 2]>,
}

/// `GET /exec/{id}/json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExecInspect {
    /// Whether it can be removed (always false while the container exists).
    #[serde(rename = "CanRemove")]
    pub can_remove: bool,
    /// Detach key sequence.
    #[serde(rename = "DetachKeys")]
    pub detach_keys: String,
    /// Exec id.
    #[serde(rename = "ID")]
    pub id: String,
    /// Whether the process runs.
    #[serde(rename = "Running")]
    pub running: bool,
    /// Exit code; `null` until the process has exited.
    #[serde(rename = "ExitCode")]
    pub exit_code: Option<i64>,
    /// What runs.
    #[serde(rename = "ProcessConfig")]
    pub process_config: ExecProcessConfig,
    /// stdin attached.
    #[serde(rename = "OpenStdin")]
    pub open_stdin: bool,
    /// stderr attached.
    #[serde(rename = "OpenStderr")]
    pub open_stderr: bool,
    /// stdout attached.
    #[serde(rename = "OpenStdout")]
    pub open_stdout: bool,
    /// Owning container id.
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    /// Host pid; 0 when not running.
    #[serde(rename = "Pid")]
    pub pid: i64,
}

/// `ProcessConfig` of an exec (lower-case keys, as Docker sends them).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ExecProcessConfig {
    /// Runs privileged.
    #[serde(default, deserialize_with = "or_default")]
    pub privileged: bool,
    /// User.
    #[serde(default, deserialize_with = "or_default")]
    pub user: String,
    /// Has a TTY.
    #[serde(default, deserialize_with = "or_default")]
    pub tty: bool,
    /// Executable.
    #[serde(default, deserialize_with = "or_default")]
    pub entrypoint: String,
    /// Arguments.
    #[serde(default, deserialize_with = "or_default")]
    pub arguments: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_config_from_docker_cli_and_docker_py() {
        let cli = r#"{"User":"","Privileged":false,"Tty":true,"ConsoleSize":[24,80],
            "AttachStdin":true,"AttachStderr":true,"AttachStdout":true,"DetachKeys":"",
            "Env":null,"WorkingDir":"","Cmd":["sh"]}"#;
        let c: ExecConfig = serde_json::from_str(cli).unwrap();
        assert_eq!(c.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(c.console_size, Some([24, 80]));
        assert!(c.env.is_empty());
        let py = r#"{"AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"Tty":false,
            "Cmd":"echo hi","Privileged":false,"User":"","Environment":null,"Env":null,
            "WorkingDir":null,"DetachKeys":null}"#;
        let c: ExecConfig = serde_json::from_str(py).unwrap();
        assert_eq!(c.cmd, Some(vec!["echo hi".to_string()]));
        assert_eq!(c.working_dir, "");
        let s: ExecStartConfig = serde_json::from_str(r#"{"Detach":false,"Tty":null}"#).unwrap();
        assert!(!s.tty);
    }

    #[test]
    fn exec_inspect_sends_null_exit_code_while_running() {
        let v = serde_json::to_value(ExecInspect::default()).unwrap();
        assert!(v["ExitCode"].is_null());
        assert!(v["ProcessConfig"]["arguments"].is_array());
    }
}
