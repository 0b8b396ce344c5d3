//! The container's mount table: the standard kernel file systems, the per-container /etc files,
//! `--tmpfs` entries and the user's binds and volumes (already resolved to host paths by the
//! engine), ordered so parents are mounted before children.

use super::SpecError;
use berth_api_types::shorthand::tmpfs_mount_options;
use oci_spec::runtime::Mount;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a user mount is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum MountKind {
    /// A host path (`-v /host:/ctr`, `--mount type=bind`).
    #[default]
    Bind,
    /// A volume: a bind of the volume's data dir.
    Volume,
    /// A tmpfs (`--mount type=tmpfs`).
    Tmpfs,
}

/// A user mount after the engine resolved it: volumes created and located, bind sources
/// checked. [`super::build`] only turns it into OCI mount options. Serialisable because the
/// engine keeps it in the container's record and builds the spec anew at every start.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResolvedMount {
    /// Bind, volume or tmpfs.
    pub kind: MountKind,
    /// Host path (bind source or volume data dir); ignored for tmpfs.
    pub source: PathBuf,
    /// Absolute path in the container.
    pub destination: String,
    /// Mount read-only.
    pub read_only: bool,
    /// `private`, `rprivate`, `shared`, `rshared`, `slave`, `rslave`; empty = `rprivate`.
    pub propagation: String,
    /// Plain `bind` instead of `rbind`.
    pub non_recursive: bool,
    /// Extra options, appended as given (tmpfs: `size=…`, `mode=…`, `noexec`…).
    pub options: Vec<String>,
}

/// Host paths of the per-container files bind-mounted over the image's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtcFiles {
    /// Becomes /etc/hosts.
    pub hosts: PathBuf,
    /// Becomes /etc/hostname.
    pub hostname: PathBuf,
    /// Becomes /etc/resolv.conf.
    pub resolv_conf: PathBuf,
}

/// Docker's default /dev/shm size.
pub const DEFAULT_SHM_SIZE: i64 = 64 * 1024 * 1024;

/// Everything that decides the mount table.
pub(crate) struct MountPlan<'a> {
    pub privileged: bool,
    pub readonly_rootfs: bool,
    pub shm_size: i64,
    pub ipc_mode: &'a str,
    pub etc: &'a EtcFiles,
    pub tmpfs: &'a BTreeMap<String, String>,
    pub user: &'a [ResolvedMount],
}

fn mount(destination: &str, typ: &str, source: &Path, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(destination));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(source.to_path_buf()));
    m.set_options(Some(options.iter().map(|s| s.to_string()).collect()));
    m
}

/// Builds the mount list. User mounts and `--tmpfs` replace a standard mount or /etc file at
/// the same destination; user mounts are sorted by depth so `/a` comes before `/a/b`.
pub(crate) fn mounts(plan: &MountPlan<'_>) -> Result<Vec<Mount>, SpecError> {
    let ro_or_rw = |ro: bool| if ro { "ro" } else { "rw" };
    let shm_size = if plan.shm_size > 0 {
        plan.shm_size
    } else {
        DEFAULT_SHM_SIZE
    };
    let shm_size = format!("size={shm_size}");
    let sys_mode = ro_or_rw(!plan.privileged);
    // The standard mounts are the profile's (one home for their options), in Docker's order,
    // with /sys read-write for privileged containers and /dev/shm as `--ipc` and `--shm-size`
    // ask. (/dev stays a tmpfs with the runtime's default device nodes even when privileged.)
    let defaults = berth_profile::default_mounts();
    let standard_mount = |dest: &str| {
        defaults
            .iter()
            .find(|m| m.destination() == Path::new(dest))
            .cloned()
    };
    let mut standard: Vec<Mount> = [
        "/proc",
        "/dev",
        "/dev/pts",
        "/sys",
        "/sys/fs/cgroup",
        "/dev/mqueue",
    ]
    .into_iter()
    .filter_map(standard_mount)
    .map(|mut m| {
        if m.destination().starts_with("/sys") {
            let options = m
                .options()
                .iter()
                .flatten()
                .map(|o| {
                    if o == "ro" {
                        sys_mode.to_string()
                    } else {
                        o.clone()
                    }
                })
                .collect();
            m.set_options(Some(options));
        }
        m
    })
    .collect();
    match plan.ipc_mode {
        "none" => {}
        "host" => standard.push(mount(
            "/dev/shm",
            "bind",
            Path::new("/dev/shm"),
            &["rbind", "rprivate", "rw"],
        )),
        _ => {
            if let Some(mut shm) = standard_mount("/dev/shm") {
                let options = shm
                    .options()
                    .iter()
                    .flatten()
                    .map(|o| {
                        if o.starts_with("size=") {
                            shm_size.clone()
                        } else {
                            o.clone()
                        }
                    })
                    .collect();
                shm.set_options(Some(options));
                standard.push(shm);
            }
        }
    }
    let etc_mode = ro_or_rw(plan.readonly_rootfs);
    for (dest, src) in [
        ("/etc/resolv.conf", &plan.etc.resolv_conf),
        ("/etc/hostname", &plan.etc.hostname),
        ("/etc/hosts", &plan.etc.hosts),
    ] {
        standard.push(mount(dest, "bind", src, &["rbind", "rprivate", etc_mode]));
    }

    let mut user: Vec<Mount> = Vec::new();
    for (dest, opts) in plan.tmpfs {
        if !dest.starts_with('/') {
            return Err(SpecError::Mount(format!(
                "invalid mount path: '{dest}' mount path must be absolute"
            )));
        }
        let opts = tmpfs_mount_options(opts)?;
        let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
        user.push(mount(dest, "tmpfs", Path::new("tmpfs"), &opts));
    }
    for m in plan.user {
        if !m.destination.starts_with('/') {
            return Err(SpecError::Mount(format!(
                "invalid mount path: '{}' mount path must be absolute",
                m.destination
            )));
        }
        let mut opts: Vec<&str> = Vec::new();
        let (typ, source) = match m.kind {
            MountKind::Tmpfs => ("tmpfs", Path::new("tmpfs")),
            MountKind::Bind | MountKind::Volume => {
                opts.push(if m.non_recursive { "bind" } else { "rbind" });
                opts.push(if m.propagation.is_empty() {
                    "rprivate"
                } else {
                    m.propagation.as_str()
                });
                ("bind", m.source.as_path())
            }
        };
        opts.push(ro_or_rw(m.read_only));
        opts.extend(m.options.iter().map(String::as_str));
        user.push(mount(&m.destination, typ, source, &opts));
    }
    let clean = |p: &Path| p.to_string_lossy().trim_end_matches('/').to_string();
    let taken: Vec<String> = user.iter().map(|m| clean(m.destination())).collect();
    standard.retain(|m| !taken.contains(&clean(m.destination())));
    for (i, d) in taken.iter().enumerate() {
        if taken[..i].contains(d) {
            return Err(SpecError::Mount(format!("Duplicate mount point: {d}")));
        }
    }
    user.sort_by_key(|m| m.destination().components().count());
    standard.extend(user);
    Ok(standard)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn etc() -> EtcFiles {
        EtcFiles {
            hosts: "/c/hosts".into(),
            hostname: "/c/hostname".into(),
            resolv_conf: "/c/resolv.conf".into(),
        }
    }

    fn plan<'a>(
        etc: &'a EtcFiles,
        tmpfs: &'a BTreeMap<String, String>,
        user: &'a [ResolvedMount],
    ) -> MountPlan<'a> {
        MountPlan {
            privileged: false,
            readonly_rootfs: false,
            shm_size: 0,
            ipc_mode: "",
            etc,
            tmpfs,
            user,
        }
    }

    fn find<'a>(ms: &'a [Mount], dest: &str) -> Option<&'a Mount> {
        ms.iter().find(|m| m.destination() == Path::new(dest))
    }

    fn opts(m: &Mount) -> Vec<String> {
        m.options().clone().unwrap_or_default()
    }

    #[test]
    fn standard_mounts() {
        let (e, t) = (etc(), BTreeMap::new());
        let ms = mounts(&plan(&e, &t, &[])).unwrap();
        let dests: Vec<_> = ms
            .iter()
            .map(|m| m.destination().to_string_lossy().to_string())
            .collect();
        assert_eq!(
            dests,
            vec![
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/dev/shm",
                "/etc/resolv.conf",
                "/etc/hostname",
                "/etc/hosts"
            ]
        );
        assert!(opts(find(&ms, "/dev/pts").unwrap()).contains(&"ptmxmode=0666".to_string()));
        assert!(opts(find(&ms, "/dev/shm").unwrap()).contains(&"size=67108864".to_string()));
        assert!(opts(find(&ms, "/sys").unwrap()).contains(&"ro".to_string()));
        let hosts = find(&ms, "/etc/hosts").unwrap();
        assert_eq!(hosts.source().as_deref(), Some(Path::new("/c/hosts")));
        assert_eq!(opts(hosts), vec!["rbind", "rprivate", "rw"]);
    }

    #[test]
    fn options_change_standard_mounts() {
        let (e, t) = (etc(), BTreeMap::new());
        let mut p = plan(&e, &t, &[]);
        p.privileged = true;
        p.readonly_rootfs = true;
        p.shm_size = 1 << 20;
        let ms = mounts(&p).unwrap();
        assert!(opts(find(&ms, "/sys").unwrap()).contains(&"rw".to_string()));
        assert!(opts(find(&ms, "/etc/hosts").unwrap()).contains(&"ro".to_string()));
        assert!(opts(find(&ms, "/dev/shm").unwrap()).contains(&"size=1048576".to_string()));
        p.ipc_mode = "none";
        assert!(find(&mounts(&p).unwrap(), "/dev/shm").is_none());
    }

    #[test]
    fn user_mounts_replace_and_sort() {
        let e = etc();
        let t = BTreeMap::from([("/run".to_string(), "size=1m,exec".to_string())]);
        let user = vec![
            ResolvedMount {
                kind: MountKind::Volume,
                source: "/v/data/_data".into(),
                destination: "/data/sub".into(),
                ..Default::default()
            },
            ResolvedMount {
                kind: MountKind::Bind,
                source: "/src".into(),
                destination: "/data".into(),
                read_only: true,
                propagation: "rshared".into(),
                ..Default::default()
            },
            ResolvedMount {
                kind: MountKind::Bind,
                source: "/my/hosts".into(),
                destination: "/etc/hosts".into(),
                non_recursive: true,
                ..Default::default()
            },
            ResolvedMount {
                kind: MountKind::Tmpfs,
                destination: "/dev/shm".into(),
                options: vec!["size=1024".into()],
                ..Default::default()
            },
        ];
        let ms = mounts(&plan(&e, &t, &user)).unwrap();
        let data = ms
            .iter()
            .position(|m| m.destination() == Path::new("/data"))
            .unwrap();
        let sub = ms
            .iter()
            .position(|m| m.destination() == Path::new("/data/sub"))
            .unwrap();
        assert!(data < sub);
        assert_eq!(opts(&ms[data]), vec!["rbind", "rshared", "ro"]);
        assert_eq!(opts(&ms[sub]), vec!["rbind", "rprivate", "rw"]);
        let hosts: Vec<_> = ms
            .iter()
            .filter(|m| m.destination() == Path::new("/etc/hosts"))
            .collect();
        assert_eq!(hosts.len(), 1);
        assert_eq!(opts(hosts[0]), vec!["bind", "rprivate", "rw"]);
        let shm = find(&ms, "/dev/shm").unwrap();
        assert_eq!(shm.typ().as_deref(), Some("tmpfs"));
        assert_eq!(opts(shm), vec!["rw", "size=1024"]);
        assert_eq!(
            opts(find(&ms, "/run").unwrap()),
            vec!["nosuid", "nodev", "size=1048576", "exec"]
        );
    }

    #[test]
    fn mount_errors() {
        let e = etc();
        let t = BTreeMap::from([("run".to_string(), String::new())]);
        assert!(
            mounts(&plan(&e, &t, &[]))
                .unwrap_err()
                .to_string()
                .contains("'run'")
        );
        let t = BTreeMap::new();
        let dup = vec![
            ResolvedMount {
                destination: "/x".into(),
                ..Default::default()
            },
            ResolvedMount {
                destination: "/x/".into(),
                ..Default::default()
            },
        ];
        assert_eq!(
            mounts(&plan(&e, &t, &dup)).unwrap_err().to_string(),
            "Duplicate mount point: /x"
        );
        let t = BTreeMap::from([("/t".to_string(), "bogus".to_string())]);
        assert!(
            mounts(&plan(&e, &t, &[]))
                .unwrap_err()
                .to_string()
                .contains("bogus")
        );
    }
}
