//! `--device`: finding on the host the device nodes a container asks for.
//!
//! Docker's rules: the host path is resolved through symlinks; a device node maps to one node
//! (at the container path, or the same path); a directory maps every device below it, keeping
//! the relative paths (`--device /dev/snd`); anything else is an error naming the mapping. The
//! nodes' numbers and modes become `linux.devices` entries and allow rules (see
//! `spec::devices`), so a mapping grants exactly the devices it names.

use crate::EngineError;
use crate::spec::{self, HostDevice};
use berth_api_types::container::DeviceMapping;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

type Result<T> = std::result::Result<T, EngineError>;

/// Directory levels followed below a mapped directory (`/dev` itself is shallow).
const MAX_DEPTH: usize = 8;

fn gather_error(path: &str, reason: impl std::fmt::Display) -> EngineError {
    let reason = reason.to_string();
    // Docker's clients show the OS's words alone, without Rust's "(os error N)".
    let reason = match reason.rfind(" (os error ") {
        Some(i) => &reason[..i],
        None => &reason,
    };
    EngineError::InvalidArgument(format!(
        "error gathering device information while adding custom device \"{path}\": {reason}"
    ))
}

/// Resolves every mapping to the host devices it names.
pub fn gather(mappings: &[DeviceMapping]) -> Result<Vec<HostDevice>> {
    let mut out = Vec::new();
    for m in mappings {
        let permissions = spec::check_permissions(&m.cgroup_permissions)?;
        let resolved =
            std::fs::canonicalize(&m.path_on_host).map_err(|e| gather_error(&m.path_on_host, e))?;
        let target = if m.path_in_container.is_empty() {
            m.path_on_host.clone()
        } else {
            m.path_in_container.clone()
        };
        if !target.starts_with('/') {
            return Err(EngineError::InvalidArgument(format!(
                "{target} is not an absolute path"
            )));
        }
        let md = std::fs::metadata(&resolved).map_err(|e| gather_error(&m.path_on_host, e))?;
        if md.is_dir() {
            let before = out.len();
            walk(&resolved, Path::new(&target), &permissions, 0, &mut out)?;
            if out.len() == before {
                return Err(gather_error(
                    &m.path_on_host,
                    "no device nodes in directory",
                ));
            }
        } else {
            let device = node(&md, &target, &permissions)
                .ok_or_else(|| gather_error(&m.path_on_host, "not a device node"))?;
            out.push(device);
        }
    }
    Ok(out)
}

/// The device at `md`, to appear at `target`; `None` when it is not a device node.
fn node(md: &std::fs::Metadata, target: &str, permissions: &str) -> Option<HostDevice> {
    let ft = md.file_type();
    if !ft.is_block_device() && !ft.is_char_device() {
        return None;
    }
    let rdev = md.rdev();
    Some(HostDevice {
        path_in_container: target.to_string(),
        block: ft.is_block_device(),
        major: rustix::fs::major(rdev) as i64,
        minor: rustix::fs::minor(rdev) as i64,
        file_mode: md.mode(),
        uid: md.uid(),
        gid: md.gid(),
        permissions: permissions.to_string(),
    })
}

fn walk(
    dir: &Path,
    target: &Path,
    permissions: &str,
    depth: usize,
    out: &mut Vec<HostDevice>,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| gather_error(&dir.to_string_lossy(), e))?;
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let Some(name) = path.file_name() else {
            continue;
        };
        let Ok(md) = std::fs::symlink_metadata(&path) else {
            continue; // gone meanwhile
        };
        let to = target.join(name);
        if md.is_dir() {
            walk(&path, &to, permissions, depth + 1, out)?;
        } else if let Some(d) = node(&md, &to.to_string_lossy(), permissions) {
            out.push(d);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(host: &str, ctr: &str, perms: &str) -> DeviceMapping {
        DeviceMapping {
            path_on_host: host.into(),
            path_in_container: ctr.into(),
            cgroup_permissions: perms.into(),
        }
    }

    #[test]
    fn a_node_maps_to_itself_or_the_given_path() {
        let d = gather(&[mapping("/dev/null", "", "")]).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(
            (
                d[0].path_in_container.as_str(),
                d[0].block,
                d[0].major,
                d[0].minor
            ),
            ("/dev/null", false, 1, 3)
        );
        assert_eq!(d[0].permissions, "rwm");
        let d = gather(&[mapping("/dev/zero", "/dev/nothing", "r")]).unwrap();
        assert_eq!(d[0].path_in_container, "/dev/nothing");
        assert_eq!(d[0].permissions, "r");
    }

    #[test]
    fn bad_mappings_say_which_and_why() {
        let e = gather(&[mapping("/dev/berth-none", "", "")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("adding custom device \"/dev/berth-none\"") && e.contains("No such file"),
            "{e}"
        );
        let e = gather(&[mapping("/etc/hostname", "", "")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a device node"), "{e}");
        let e = gather(&[mapping("/dev/null", "", "rx")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid device mode"), "{e}");
        let e = gather(&[mapping("/dev/null", "dev/x", "")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an absolute path"), "{e}");
    }

    #[test]
    fn a_directory_maps_the_devices_below_it() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/null", dir.path().join("link")).unwrap();
        std::fs::write(dir.path().join("file"), "").unwrap();
        // Symlinks and files inside a mapped directory are not devices.
        let e = gather(&[mapping(dir.path().to_str().unwrap(), "/dev/x", "")]).unwrap_err();
        assert!(e.to_string().contains("no device nodes"), "{e}");
    }
}
