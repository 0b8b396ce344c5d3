//! The state directory: `<root>/<id>/state.json` and the exec FIFO.
//!
//! `state.json` holds runc's public state fields (what `berth oci state` prints) plus the few
//! facts the runtime needs later: the cgroup path, the init's start time (so a recycled pid is
//! not mistaken for the container) and the `poststop` hooks (the bundle may be gone by
//! `delete`). The status is never trusted from the file: [`crate::container`] derives it from
//! the process, the FIFO and the freezer each time, so it survives crashes and `kill -9`.

use crate::error::{Error, Result};
use oci_spec::runtime::Hook;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The default state root, as runc's `/run/runc`.
pub const DEFAULT_ROOT: &str = "/run/berth-oci";
/// The FIFO the created init blocks on until `start`.
pub const EXEC_FIFO: &str = "exec.fifo";
const STATE_FILE: &str = "state.json";

/// A container's lifecycle status, spelled as the OCI spec and runc do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being set up.
    Creating,
    /// Set up; the user process waits for `start`.
    Created,
    /// The user process runs.
    Running,
    /// Frozen.
    Paused,
    /// The user process has exited.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// runc's state, as printed by `state` and given to hooks on stdin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// The runtime-spec version.
    pub oci_version: String,
    /// The container id.
    pub id: String,
    /// The init's pid on the host (0 once stopped, as runc prints).
    pub pid: i32,
    /// Lifecycle status.
    pub status: Status,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339 with nanoseconds.
    pub created: String,
    /// The owner (runc prints an empty string when run by root).
    pub owner: String,
    /// The spec's annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// What is stored on disk: the public state plus private facts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// The public part.
    #[serde(flatten)]
    pub state: State,
    /// The cgroup path relative to each hierarchy.
    pub cgroup_path: String,
    /// The init's start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub start_time: u64,
    /// Hooks to run at `delete`.
    #[serde(default)]
    pub poststop: Vec<Hook>,
    /// The namespaces the container uses, as `(type, path-or-empty)`, for `exec`.
    #[serde(default)]
    pub namespaces: Vec<(String, String)>,
}

/// Checks a container id the way runc does: it becomes a directory name under the root.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

/// The directory of container `id` under `root`.
pub fn dir(root: &Path, id: &str) -> Result<PathBuf> {
    validate_id(id)?;
    Ok(root.join(id))
}

/// Writes the record atomically (temporary file, then rename).
pub fn save(dir: &Path, record: &Record) -> Result<()> {
    let tmp = dir.join(".state.json.tmp");
    let text = serde_json::to_vec(record)
        .map_err(|e| Error::io("encoding", &tmp, std::io::Error::other(e)))?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        // The record names the bundle and annotations: the runtime's state is root's alone.
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(&text))
            .map_err(|e| Error::io("writing", &tmp, e))?;
    }
    let path = dir.join(STATE_FILE);
    std::fs::rename(&tmp, &path).map_err(|e| Error::io("renaming", &path, e))
}

/// Reads the record of container `id`; a missing directory is [`Error::NotFound`].
pub fn load(root: &Path, id: &str) -> Result<Record> {
    let path = dir(root, id)?.join(STATE_FILE);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NotFound(id.to_string()));
        }
        Err(e) => return Err(Error::io("reading", &path, e)),
    };
    serde_json::from_slice(&text).map_err(|e| Error::io("parsing", &path, std::io::Error::other(e)))
}

/// Ids of all containers under `root`.
pub fn list(root: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join(STATE_FILE).exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    ids
}

/// A process's start time and state letter from `/proc/<pid>/stat`.
pub fn proc_stat(pid: i32) -> Option<(u64, char)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces; fields follow the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((start, state))
}

/// The current time in RFC 3339 with nanoseconds, as runc writes `created`.
pub use berth_common::time::now_rfc3339;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["a", "web-1", "x_y.z+1"] {
            validate_id(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn own_stat() {
        let (start, state) = proc_stat(std::process::id() as i32).unwrap();
        assert!(start > 0);
        assert!(state == 'R' || state == 'S');
    }

    #[test]
    fn roundtrip_and_public_fields() {
        let dir = tempfile::tempdir().unwrap();
        let record = Record {
            state: State {
                oci_version: "1.2.0".into(),
                id: "x".into(),
                pid: 42,
                status: Status::Created,
                bundle: "/b".into(),
                rootfs: "/b/rootfs".into(),
                created: now_rfc3339(),
                owner: String::new(),
                annotations: BTreeMap::new(),
            },
            cgroup_path: "berth/x".into(),
            start_time: 7,
            poststop: vec![],
            namespaces: vec![],
        };
        std::fs::create_dir(dir.path().join("x")).unwrap();
        save(&dir.path().join("x"), &record).unwrap();
        let back = load(dir.path(), "x").unwrap();
        assert_eq!(back.state, record.state);
        let public = serde_json::to_value(&back.state).unwrap();
        let keys: Vec<&str> = public
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "ociVersion",
                "id",
                "pid",
                "status",
                "bundle",
                "rootfs",
                "created",
                "owner"
            ]
        );
        assert!(matches!(load(dir.path(), "nope"), Err(Error::NotFound(_))));
        assert_eq!(list(dir.path()), ["x"]);
    }
}
