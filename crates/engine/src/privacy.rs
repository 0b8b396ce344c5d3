//! The root dir is private: other users of the host must not reach what it holds.
//!
//! It holds container file systems (an unprivileged host user who can walk into a rootfs can
//! run a setuid-root binary a container left there: the CVE-2021-41091 class), and records
//! and OCI specs with every `-e` secret in them. As Docker does, the root and the directories
//! below it that hold such things are `0710` owned by root, and records and specs are written
//! `0600` (the storage layer's atomic writes). [`secure_root`] runs at every daemon start, so a
//! root made by an older Berth, or loosened by hand, is repaired too.

use crate::EngineError;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Mode of the root and of the directories under it.
pub const PRIVATE_DIR: u32 = 0o710;
/// Mode of records and specs.
pub const PRIVATE_FILE: u32 = 0o600;

/// The root's top-level directories; each one holds container data or state.
const TOP_DIRS: [&str; 11] = [
    "containers",
    "overlay2",
    "copy",
    "volumes",
    "content",
    "images",
    "runtime",
    "shims",
    "networks",
    "netns",
    "tmp",
];

/// Files in a container's directory that carry its configuration (and so its secrets).
const CONTAINER_FILES: [&str; 2] = ["container.json", "config.json"];

fn chmod(path: &Path, mode: u32) -> Result<(), EngineError> {
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(EngineError::io(path, e)),
    }
}

/// Creates `root` if needed and makes it and what it holds private (see the module docs).
pub fn secure_root(root: &Path) -> Result<(), EngineError> {
    std::fs::create_dir_all(root).map_err(|e| EngineError::io(root, e))?;
    chmod(root, PRIVATE_DIR)?;
    for dir in TOP_DIRS {
        chmod(&root.join(dir), PRIVATE_DIR)?;
    }
    // Records written before files were made 0600.
    if let Ok(entries) = std::fs::read_dir(root.join("containers")) {
        for entry in entries.flatten() {
            chmod(&entry.path(), PRIVATE_DIR)?;
            for file in CONTAINER_FILES {
                chmod(&entry.path().join(file), PRIVATE_FILE)?;
            }
        }
    }
    for dir in ["runtime", "shims"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
            for entry in entries.flatten() {
                chmod(&entry.path(), PRIVATE_DIR)?;
            }
        }
    }
    for file in ["engine-id", "berth.lock", "dns.addr"] {
        chmod(&root.join(file), PRIVATE_FILE)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn an_old_open_root_is_repaired() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        let ctr = root.join("containers/abc");
        std::fs::create_dir_all(&ctr).unwrap();
        std::fs::create_dir_all(root.join("overlay2/writable")).unwrap();
        std::fs::write(ctr.join("config.json"), "{}").unwrap();
        std::fs::write(ctr.join("hosts"), "127.0.0.1 localhost").unwrap();
        for p in [&root, &ctr, &root.join("overlay2")] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(
            ctr.join("config.json"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        secure_root(&root).unwrap();
        assert_eq!(mode(&root), 0o710);
        assert_eq!(mode(&root.join("containers")), 0o710);
        assert_eq!(mode(&ctr), 0o710);
        assert_eq!(mode(&root.join("overlay2")), 0o710);
        assert_eq!(mode(&ctr.join("config.json")), 0o600);
        // Files bind-mounted into the container keep their mode: its users read them.
        assert_eq!(mode(&ctr.join("hosts")) & 0o044, 0o044);
    }
}
