//! Resolving container paths inside the rootfs without ever leaving it.
//!
//! A rootfs is untrusted data: an image can ship `etc -> ../../../host/etc`. Two guards apply:
//! * before anything is created, [`check_in_root`] walks every mount destination on the host
//!   the way the kernel would and rejects one whose symlinks climb above the rootfs, so a
//!   malicious bundle gets a clear error;
//! * when mounting, the child opens each destination with `openat2(RESOLVE_IN_ROOT)` relative
//!   to the rootfs (see [`crate::mounts`]), so even a link swapped in meanwhile resolves inside.
//!
//! Absolute link targets (`/var/run -> /run`, common in images) are read as the container
//! sees them: relative to the rootfs, as `RESOLVE_IN_ROOT` does.

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

/// The kernel's limit on symlinks followed in one lookup.
const MAX_LINKS: usize = 40;

/// Walks `dest` (a container path) inside `root` on the host. Missing components are fine
/// (they will be created); a symlink whose target climbs above the rootfs is an error.
/// Returns the resolved path relative to the rootfs.
pub fn check_in_root(root: &Path, dest: &Path) -> Result<PathBuf, String> {
    // Components still to walk, in reverse so `pop` yields the next one.
    let mut pending: Vec<std::ffi::OsString> =
        dest.components().rev().filter_map(component_name).collect();
    let mut resolved: Vec<std::ffi::OsString> = Vec::new();
    let mut links = 0;
    while let Some(name) = pending.pop() {
        if name == ".." {
            if resolved.pop().is_none() {
                return Err(format!("{} escapes the rootfs", dest.display()));
            }
            continue;
        }
        if name == "." {
            continue;
        }
        let here: PathBuf = resolved.iter().collect();
        let host = root.join(&here).join(&name);
        match std::fs::symlink_metadata(&host) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(format!(
                        "{}: too many levels of symbolic links",
                        dest.display()
                    ));
                }
                let target = std::fs::read_link(&host).map_err(|e| format!("{host:?}: {e}"))?;
                if target.is_absolute() {
                    resolved.clear();
                } else if climbs_out(&resolved, &target) {
                    return Err(format!(
                        "{} escapes the rootfs through the symlink /{} -> {}",
                        dest.display(),
                        here.join(&name).display(),
                        target.display()
                    ));
                }
                pending.extend(target.components().rev().filter_map(component_name));
            }
            Ok(_) => resolved.push(name),
            // Missing from here on: the rest will be created as plain directories.
            Err(_) => {
                resolved.push(name);
                while let Some(rest) = pending.pop() {
                    if rest == ".." {
                        return Err(format!("{} escapes the rootfs", dest.display()));
                    }
                    resolved.push(rest);
                }
            }
        }
    }
    Ok(resolved.iter().collect())
}

/// Whether a relative link `target` met at depth `base` climbs above the root.
fn climbs_out(base: &[std::ffi::OsString], target: &Path) -> bool {
    let mut depth = base.len() as isize;
    for c in target.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

/// A path component as a name, with the root dropped and `.`/`..` kept as text.
fn component_name(c: Component<'_>) -> Option<std::ffi::OsString> {
    match c {
        Component::Normal(n) => Some(n.to_os_string()),
        Component::ParentDir => Some(OsStr::new("..").to_os_string()),
        Component::CurDir => Some(OsStr::new(".").to_os_string()),
        Component::RootDir | Component::Prefix(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn plain_and_missing() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        assert_eq!(
            check_in_root(root.path(), Path::new("/etc/x/y")).unwrap(),
            Path::new("etc/x/y")
        );
    }

    #[test]
    fn absolute_link_stays_inside() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("run")).unwrap();
        std::fs::create_dir(root.path().join("var")).unwrap();
        symlink("/run", root.path().join("var/run")).unwrap();
        assert_eq!(
            check_in_root(root.path(), Path::new("/var/run/x")).unwrap(),
            Path::new("run/x")
        );
    }

    #[test]
    fn relative_link_out_is_refused() {
        let root = tempfile::tempdir().unwrap();
        symlink("../../../../etc", root.path().join("evil")).unwrap();
        let err = check_in_root(root.path(), Path::new("/evil/passwd")).unwrap_err();
        assert!(
            err.contains("escapes the rootfs through the symlink /evil"),
            "{err}"
        );
        assert!(check_in_root(root.path(), Path::new("/../x")).is_err());
    }

    #[test]
    fn link_loop() {
        let root = tempfile::tempdir().unwrap();
        symlink("b", root.path().join("a")).unwrap();
        symlink("a", root.path().join("b")).unwrap();
        assert!(
            check_in_root(root.path(), Path::new("/a"))
                .unwrap_err()
                .contains("too many")
        );
    }
}
