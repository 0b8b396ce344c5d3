//! Loading a bundle and checking its `config.json` before anything is created.
//!
//! Everything that can be decided from the document alone is checked here, so a bad bundle
//! fails with one clear message (`config.json: linux.namespaces[5].type: ...`) instead of a
//! half-made container. Parsing goes through `serde_path_to_error` for the same reason: a typo
//! in a capability or namespace name is reported with the JSON path where it sits.

use crate::error::{Error, Result};
use crate::resolve;
use crate::seccomp;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The OCI runtime-spec version this runtime writes into state and generated specs.
pub use berth_profile::OCI_VERSION;

/// A bundle ready to run: its directory, parsed configuration and absolute rootfs path.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The bundle directory, absolute.
    pub dir: PathBuf,
    /// The parsed and validated configuration.
    pub spec: Spec,
    /// `root.path` resolved against the bundle and canonicalised.
    pub rootfs: PathBuf,
}

impl Bundle {
    /// Reads `dir/config.json`, validates it and checks the file system facts it depends on
    /// (the rootfs exists; no mount destination leaves the rootfs through a symlink).
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = std::fs::canonicalize(dir).map_err(|e| Error::io("opening bundle", dir, e))?;
        let config = dir.join("config.json");
        let text =
            std::fs::read_to_string(&config).map_err(|e| Error::io("reading", &config, e))?;
        let spec = parse(&text)?;
        Bundle::from_spec(dir, spec)
    }

    /// Validates an already parsed `spec` for the bundle at `dir` (absolute).
    pub fn from_spec(dir: PathBuf, spec: Spec) -> Result<Bundle> {
        validate(&spec)?;
        let root = spec
            .root()
            .as_ref()
            .map(|r| r.path().clone())
            .unwrap_or_default();
        let joined = dir.join(&root);
        let rootfs = std::fs::canonicalize(&joined).map_err(|e| {
            Error::config(
                "root.path",
                format!("rootfs {} is not usable: {e}", joined.display()),
            )
        })?;
        if !rootfs.is_dir() {
            return Err(Error::config(
                "root.path",
                format!("rootfs {} is not a directory", rootfs.display()),
            ));
        }
        for (i, m) in spec.mounts().iter().flatten().enumerate() {
            resolve::check_in_root(&rootfs, m.destination())
                .map_err(|reason| Error::config(format!("mounts[{i}].destination"), reason))?;
        }
        Ok(Bundle { dir, spec, rootfs })
    }
}

/// Parses a `config.json` text, reporting the JSON path of the first problem.
pub fn parse(text: &str) -> Result<Spec> {
    // The plain parse is the fast path (path tracking costs on every field of a long seccomp
    // profile); only a document that fails is parsed again to say where.
    if let Ok(spec) = serde_json::from_str(text) {
        return Ok(spec);
    }
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let path = if path == "." {
            "(root)".to_string()
        } else {
            path
        };
        Error::config(path, err.into_inner().to_string())
    })
}

/// Whether `version` is an OCI runtime-spec version this runtime implements (1.0 to 1.2, with
/// or without a pre-release suffix such as `1.0.2-dev`).
pub fn supported_version(version: &str) -> bool {
    let core = version.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || p.parse::<u32>().is_err())
    {
        return false;
    }
    parts[0] == "1" && parts[1].parse::<u32>().is_ok_and(|minor| minor <= 2)
}

/// The pure checks: everything that can be judged from the document alone.
pub fn validate(spec: &Spec) -> Result<()> {
    if !supported_version(spec.version()) {
        return Err(Error::config(
            "ociVersion",
            format!(
                "unsupported version {:?} (this runtime implements 1.0.0 to 1.2.x)",
                spec.version()
            ),
        ));
    }
    match spec.root() {
        Some(root) if !root.path().as_os_str().is_empty() => {}
        _ => {
            return Err(Error::config(
                "root.path",
                "missing: a bundle needs a rootfs",
            ));
        }
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::config("process", "missing"))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::config(
            "process.args",
            "must name the program to run",
        ));
    }
    if !process.cwd().is_absolute() {
        return Err(Error::config(
            "process.cwd",
            format!("{:?} is not an absolute path", process.cwd()),
        ));
    }
    for (i, rl) in process.rlimits().iter().flatten().enumerate() {
        if rl.soft() > rl.hard() {
            return Err(Error::config(
                format!("process.rlimits[{i}]"),
                format!(
                    "soft limit {} is above the hard limit {}",
                    rl.soft(),
                    rl.hard()
                ),
            ));
        }
    }
    for (i, env) in process.env().iter().flatten().enumerate() {
        if !env.contains('=') || env.contains('\0') {
            return Err(Error::config(
                format!("process.env[{i}]"),
                format!("{env:?} is not NAME=value"),
            ));
        }
    }
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::config("linux", "missing: only Linux containers are supported"))?;
    validate_namespaces(spec)?;
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !m.destination().is_absolute() {
            return Err(Error::config(
                format!("mounts[{i}].destination"),
                format!("{:?} is not an absolute path", m.destination()),
            ));
        }
        crate::plan::parse_options(m.options().as_deref().unwrap_or_default())
            .map_err(|reason| Error::config(format!("mounts[{i}].options"), reason))?;
        let bind = m.typ().as_deref() == Some("bind")
            || m.options()
                .iter()
                .flatten()
                .any(|o| o == "bind" || o == "rbind");
        if !bind && m.typ().as_deref().is_none_or(str::is_empty) {
            return Err(Error::config(
                format!("mounts[{i}].type"),
                "missing for a non-bind mount",
            ));
        }
        if bind && m.source().is_none() {
            return Err(Error::config(
                format!("mounts[{i}].source"),
                "missing for a bind mount",
            ));
        }
    }
    for (name, list) in [
        ("maskedPaths", linux.masked_paths()),
        ("readonlyPaths", linux.readonly_paths()),
    ] {
        for (i, p) in list.iter().flatten().enumerate() {
            if !p.starts_with('/') {
                return Err(Error::config(
                    format!("linux.{name}[{i}]"),
                    format!("{p:?} is not an absolute path"),
                ));
            }
        }
    }
    for key in linux.sysctl().iter().flatten().map(|(k, _)| k) {
        if key.is_empty()
            || key.contains("..")
            || key.starts_with(['.', '/'])
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
        {
            return Err(Error::config(
                format!("linux.sysctl.{key}"),
                "not a valid sysctl name",
            ));
        }
    }
    if let Some(seccomp) = linux.seccomp() {
        seccomp::compile(seccomp)?;
    }
    if let Some(hooks) = spec.hooks() {
        for (name, list) in [
            ("prestart", hooks.prestart()),
            ("createRuntime", hooks.create_runtime()),
            ("createContainer", hooks.create_container()),
            ("startContainer", hooks.start_container()),
            ("poststart", hooks.poststart()),
            ("poststop", hooks.poststop()),
        ] {
            for (i, h) in list.iter().flatten().enumerate() {
                if !h.path().is_absolute() {
                    return Err(Error::config(
                        format!("hooks.{name}[{i}].path"),
                        format!("{:?} is not an absolute path", h.path()),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Namespace rules: no duplicates, a mount namespace is required (pivot_root must not touch
/// the host), new user namespaces need mappings, and a few combinations are unsupported.
fn validate_namespaces(spec: &Spec) -> Result<()> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let mut seen = HashSet::new();
    let namespaces = linux.namespaces().as_deref().unwrap_or_default();
    for (i, ns) in namespaces.iter().enumerate() {
        let at = format!("linux.namespaces[{i}]");
        if !seen.insert(ns.typ()) {
            return Err(Error::config(
                at,
                format!("namespace {} is listed twice", ns.typ()),
            ));
        }
        if ns.typ() == LinuxNamespaceType::Time {
            return Err(Error::config(
                format!("{at}.type"),
                "the time namespace is not supported",
            ));
        }
        if let Some(path) = ns.path()
            && !path.is_absolute()
        {
            return Err(Error::config(
                format!("{at}.path"),
                format!("{path:?} is not an absolute path"),
            ));
        }
    }
    let find = |t: LinuxNamespaceType| namespaces.iter().find(|n| n.typ() == t);
    match find(LinuxNamespaceType::Mount) {
        // A new one, or an existing one joined by path (the container then pivots inside it,
        // as with runc; the runtime's own is refused when the path is opened).
        Some(_) => {}
        None => {
            return Err(Error::config(
                "linux.namespaces",
                "a mount namespace is required (pivot_root must not change the host's root)",
            ));
        }
    }
    let user = find(LinuxNamespaceType::User);
    if let Some(user) = user {
        if user.path().is_none() {
            let uid = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty());
            let gid = linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
            if !uid || !gid {
                return Err(Error::config(
                    "linux.uidMappings",
                    "a new user namespace needs both uidMappings and gidMappings",
                ));
            }
        } else if find(LinuxNamespaceType::Pid).is_some_and(|p| p.path().is_none()) {
            return Err(Error::config(
                "linux.namespaces",
                "a new pid namespace inside a joined user namespace is not supported",
            ));
        }
    } else if linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(Error::config(
            "linux.uidMappings",
            "given without a user namespace",
        ));
    }
    // A joined uts namespace is fine: the hostname is set inside it, as runc does.
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty())
        && find(LinuxNamespaceType::Uts).is_none()
    {
        return Err(Error::config(
            "hostname",
            "setting a hostname needs a private uts namespace",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> serde_json::Value {
        serde_json::to_value(crate::profile::default_spec(&["true".into()])).unwrap()
    }

    fn check(v: serde_json::Value) -> Result<()> {
        let spec = parse(&v.to_string())?;
        validate(&spec)
    }

    #[test]
    fn versions() {
        for ok in ["1.0.0", "1.0.2-dev", "1.1.0", "1.2.1", "1.2.0+dev"] {
            assert!(supported_version(ok), "{ok}");
        }
        for bad in ["", "1", "1.3.0", "2.0.0", "0.9.0", "one.two.three", "1.0"] {
            assert!(!supported_version(bad), "{bad}");
        }
    }

    #[test]
    fn default_spec_is_valid() {
        check(base()).unwrap();
    }

    #[test]
    fn bad_version() {
        let mut v = base();
        v["ociVersion"] = "3.1.4".into();
        let err = check(v).unwrap_err().to_string();
        assert!(
            err.starts_with("config.json: ociVersion: unsupported version"),
            "{err}"
        );
    }

    #[test]
    fn unknown_namespace_type_has_path() {
        let mut v = base();
        v["linux"]["namespaces"][1]["type"] = "bogus".into();
        let err = check(v).unwrap_err().to_string();
        assert!(err.contains("linux.namespaces[1].type"), "{err}");
    }

    #[test]
    fn time_namespace_unsupported() {
        let mut v = base();
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "time"}));
        let err = check(v).unwrap_err().to_string();
        assert!(err.contains("time namespace is not supported"), "{err}");
    }

    #[test]
    fn mount_namespace_required() {
        let mut v = base();
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "mount");
        assert!(
            check(v)
                .unwrap_err()
                .to_string()
                .contains("mount namespace is required")
        );
    }

    #[test]
    fn relative_destination() {
        let mut v = base();
        v["mounts"][0]["destination"] = "proc".into();
        let err = check(v).unwrap_err().to_string();
        assert!(err.contains("mounts[0].destination"), "{err}");
    }

    /// A name no architecture knows is skipped, as runc does, so profiles written for other
    /// kernels or architectures load; an empty name list is still an error.
    #[test]
    fn unknown_syscall_is_skipped() {
        let mut v = base();
        v["linux"]["seccomp"]["syscalls"][3]["names"][0] = "fooo".into();
        check(v).unwrap();
        let mut v = base();
        v["linux"]["seccomp"]["syscalls"][3]["names"] = serde_json::json!([]);
        let err = check(v).unwrap_err().to_string();
        assert_eq!(
            err,
            "config.json: linux.seccomp.syscalls[3].names: is empty"
        );
    }

    #[test]
    fn user_namespace_needs_maps() {
        let mut v = base();
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "user"}));
        assert!(check(v).unwrap_err().to_string().contains("uidMappings"));
    }

    #[test]
    fn missing_rootfs() {
        let dir = tempfile::tempdir().unwrap();
        let spec = parse(&base().to_string()).unwrap();
        let err = Bundle::from_spec(dir.path().to_path_buf(), spec)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("config.json: root.path: rootfs"), "{err}");
    }
}
