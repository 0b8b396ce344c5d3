//! `HEAD`/`GET /containers/{id}/archive`: the stat of a path in a container, which the daemon
//! sends base64-encoded JSON in the `X-Docker-Container-Path-Stat` header (`docker cp`).

use crate::nullable::or_default;
use serde::{Deserialize, Serialize};

/// The response header carrying a [`ContainerPathStat`].
pub const PATH_STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

/// Go's `os.ModeDir` bit of [`ContainerPathStat::mode`].
pub const MODE_DIR: u32 = 1 << 31;
/// Go's `os.ModeSymlink` bit of [`ContainerPathStat::mode`].
pub const MODE_SYMLINK: u32 = 1 << 27;

/// What `lstat` says about a path in a container. Keys are camelCase, as Docker sends them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPathStat {
    /// Base name of the path.
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
    /// Size in bytes.
    #[serde(default, deserialize_with = "or_default")]
    pub size: i64,
    /// Go `os.FileMode`: permission bits plus type bits ([`MODE_DIR`], [`MODE_SYMLINK`], …).
    #[serde(default, deserialize_with = "or_default")]
    pub mode: u32,
    /// Modification time, RFC 3339.
    #[serde(default, deserialize_with = "or_default")]
    pub mtime: String,
    /// Target of a symbolic link (the resolved path in the container); empty otherwise.
    #[serde(default, deserialize_with = "or_default")]
    pub link_target: String,
}

impl ContainerPathStat {
    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.mode & MODE_DIR != 0
    }

    /// True for a symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.mode & MODE_SYMLINK != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_docker_header_json() {
        let s: ContainerPathStat = serde_json::from_str(
            r#"{"name":"etc","size":4096,"mode":2147484141,"mtime":"2024-01-01T00:00:00Z","linkTarget":""}"#,
        )
        .unwrap();
        assert!(s.is_dir());
        assert!(!s.is_symlink());
        assert_eq!(s.mode & 0o777, 0o755);
        let v = serde_json::to_value(&s).unwrap();
        assert!(v.get("linkTarget").is_some());
    }
}
