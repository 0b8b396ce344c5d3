//! The container's mounts as data: what to mount where, in which order, computed without root.
//!
//! [`plan`] turns the spec's `mounts`, `linux.devices`, masked and read-only paths and the
//! cgroup layout into a [`MountPlan`]; [`crate::mounts`] executes it in the child. Keeping the
//! two apart means the interesting decisions (option parsing, the cgroup expansion, which
//! devices a `/dev` tmpfs gets) are unit-tested here, and the executor stays a loop of syscalls.

use oci_spec::runtime::{LinuxDeviceType, Spec};
use std::path::{Path, PathBuf};

/// Mount flags as the kernel takes them (`MS_*`).
pub type MsFlags = u64;

const MS_RDONLY: u64 = libc::MS_RDONLY;
const MS_BIND: u64 = libc::MS_BIND;
const MS_REC: u64 = libc::MS_REC;
const MS_REMOUNT: u64 = libc::MS_REMOUNT;
const MS_NOSUID: u64 = libc::MS_NOSUID;
const MS_NODEV: u64 = libc::MS_NODEV;
const MS_NOEXEC: u64 = libc::MS_NOEXEC;

/// Flags that a bind mount ignores on the first `mount` and needs a remount to apply.
pub const BIND_REMOUNT_FLAGS: MsFlags = MS_RDONLY
    | MS_NOSUID
    | MS_NODEV
    | MS_NOEXEC
    | libc::MS_NOATIME
    | libc::MS_NODIRATIME
    | libc::MS_RELATIME
    | libc::MS_STRICTATIME;

/// Mount options split the way `mount(2)` wants them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Flags to set.
    pub flags: MsFlags,
    /// Propagation changes to apply after mounting, in order (`MS_PRIVATE | MS_REC`, ...).
    pub propagation: Vec<MsFlags>,
    /// Everything else, comma-joined, for the file system (`mode=755,size=65536k`).
    pub data: String,
    /// `bind` or `rbind` was given.
    pub bind: bool,
    /// A bind whose source may be missing, and is then skipped: the container's cgroup in an
    /// optional hierarchy the parent could not make (never set from a spec).
    pub optional: bool,
}

/// Splits OCI mount options into flags, propagation and file-system data (runc's table).
/// Unsupported options (`idmap`, `tmpcopyup`) are an error naming the option.
pub fn parse_options(options: &[String]) -> Result<Options, String> {
    let mut out = Options::default();
    let mut data: Vec<&str> = Vec::new();
    for opt in options {
        let (set, clear): (MsFlags, MsFlags) = match opt.as_str() {
            "defaults" => (0, 0),
            "ro" => (MS_RDONLY, 0),
            "rw" => (0, MS_RDONLY),
            "suid" => (0, MS_NOSUID),
            "nosuid" => (MS_NOSUID, 0),
            "dev" => (0, MS_NODEV),
            "nodev" => (MS_NODEV, 0),
            "exec" => (0, MS_NOEXEC),
            "noexec" => (MS_NOEXEC, 0),
            "sync" => (libc::MS_SYNCHRONOUS, 0),
            "async" => (0, libc::MS_SYNCHRONOUS),
            "dirsync" => (libc::MS_DIRSYNC, 0),
            "remount" => (MS_REMOUNT, 0),
            "mand" => (libc::MS_MANDLOCK, 0),
            "nomand" => (0, libc::MS_MANDLOCK),
            "atime" => (0, libc::MS_NOATIME),
            "noatime" => (libc::MS_NOATIME, 0),
            "diratime" => (0, libc::MS_NODIRATIME),
            "nodiratime" => (libc::MS_NODIRATIME, 0),
            "relatime" => (libc::MS_RELATIME, 0),
            "norelatime" => (0, libc::MS_RELATIME),
            "strictatime" => (libc::MS_STRICTATIME, 0),
            "nostrictatime" => (0, libc::MS_STRICTATIME),
            "bind" => {
                out.bind = true;
                (MS_BIND, 0)
            }
            "rbind" => {
                out.bind = true;
                (MS_BIND | MS_REC, 0)
            }
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                out.propagation.push(propagation_flags(opt).unwrap_or(0));
                (0, 0)
            }
            "idmap" | "ridmap" | "tmpcopyup" | "rro" | "rrw" => {
                return Err(format!("option {opt:?} is not supported"));
            }
            other => {
                data.push(other);
                (0, 0)
            }
        };
        out.flags = (out.flags | set) & !clear;
    }
    out.data = data.join(",");
    Ok(out)
}

/// The flags for a propagation keyword (`rslave` → `MS_SLAVE | MS_REC`), as used both in mount
/// options and in `linux.rootfsPropagation`.
pub fn propagation_flags(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | MS_REC,
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | MS_REC,
        _ => return None,
    })
}

/// One file-system mount (or bind) onto a container path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// What to mount: a host path for binds (absolute), the device or `none` otherwise.
    pub source: Option<PathBuf>,
    /// Where, as the container sees it (absolute).
    pub dest: PathBuf,
    /// File-system type; `None` for binds.
    pub fstype: Option<String>,
    /// Parsed options.
    pub options: Options,
}

impl Mount {
    /// Whether this is a bind mount whose flags need a second, remounting call.
    pub fn needs_bind_remount(&self) -> bool {
        self.options.bind && self.options.flags & BIND_REMOUNT_FLAGS != 0
    }
}

/// The kind of device node to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// A character device.
    Char,
    /// A block device.
    Block,
    /// A FIFO.
    Fifo,
}

/// A device node to create under the container's `/dev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Its path as the container sees it.
    pub dest: PathBuf,
    /// Character, block or FIFO.
    pub kind: DeviceKind,
    /// Major number.
    pub major: u64,
    /// Minor number.
    pub minor: u64,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// One step of the pre-`pivot_root` phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Mount (or bind) something.
    Mount(Mount),
    /// Remount an earlier mount with new flags (used to make the cgroup tmpfs read-only after
    /// its sub-directories were made).
    Remount {
        /// The mount point, as the container sees it.
        dest: PathBuf,
        /// The flags to apply (`MS_REMOUNT` is added by the executor).
        flags: MsFlags,
    },
    /// Create a device node; when `mknod` is not allowed (user namespaces) the host's node is
    /// bind-mounted instead.
    Device(Device),
    /// Create a symlink `link -> target` (e.g. `/dev/fd -> /proc/self/fd`).
    Symlink {
        /// What the link points to.
        target: PathBuf,
        /// Where the link is made, as the container sees it.
        link: PathBuf,
    },
}

/// What the executor does, in order: [`ops`](Self::ops) inside the rootfs before `pivot_root`,
/// then the masked and read-only paths after it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountPlan {
    /// Propagation applied to `/` before anything else so nothing leaks to the host.
    pub root_propagation: MsFlags,
    /// Pre-`pivot_root` steps, in order.
    pub ops: Vec<Op>,
    /// Paths hidden after `pivot_root`: directories under a read-only tmpfs, files under
    /// `/dev/null`.
    pub masked: Vec<PathBuf>,
    /// Paths re-bound read-only after `pivot_root`.
    pub readonly: Vec<PathBuf>,
    /// Remount the root read-only at the end (`root.readonly`).
    pub root_readonly: bool,
    /// Index of the first op that binds the container's cgroup directories. The executor
    /// waits there for the parent, which creates the groups while the child sets up the
    /// mounts before it (the two overlap instead of running one after the other).
    pub cgroup_ops_start: Option<usize>,
}

/// Facts from outside the spec that the plan needs.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The bundle directory, for relative bind sources.
    pub bundle: PathBuf,
    /// The container's cgroup directories on the host, as (hierarchy name, directory), e.g.
    /// `("memory", "/sys/fs/cgroup/memory/berth/x")`; a single entry with an empty name on a
    /// pure cgroup v2 host.
    pub cgroup_dirs: Vec<(String, PathBuf)>,
}

/// The default device nodes every container with a `/dev` tmpfs gets (runc's list).
pub const DEFAULT_DEVICES: [(&str, u64, u64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// Computes the mount plan for `spec`. The spec must have passed [`crate::spec::validate`].
pub fn plan(spec: &Spec, facts: &Facts) -> Result<MountPlan, String> {
    let linux = spec.linux().as_ref();
    let root_propagation = match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        None | Some("") => libc::MS_PRIVATE | MS_REC,
        Some(name) => propagation_flags(name)
            .ok_or_else(|| format!("linux.rootfsPropagation: unknown value {name:?}"))?,
    };
    let mut ops = Vec::new();
    let mut dev_tmpfs = false;
    let mut dev_pts = false;
    let mut cgroup_ops_start = None;
    let mut dev_before_cgroup = false;
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let options = parse_options(m.options().as_deref().unwrap_or_default())
            .map_err(|e| format!("mounts[{i}].options: {e}"))?;
        let fstype = m.typ().clone().filter(|t| !t.is_empty() && t != "bind");
        let dest = m.destination().clone();
        if !options.bind {
            if dest == Path::new("/dev") {
                dev_tmpfs = true;
            }
            if dest == Path::new("/dev/pts") {
                dev_pts = true;
            }
        }
        if fstype.as_deref() == Some("cgroup") || fstype.as_deref() == Some("cgroup2") {
            if cgroup_ops_start.is_none() {
                cgroup_ops_start = Some(ops.len());
                dev_before_cgroup = dev_tmpfs;
            }
            expand_cgroup(&mut ops, dest, options, facts);
            continue;
        }
        let source = m.source().clone().map(|s| {
            if options.bind && s.is_relative() {
                facts.bundle.join(s)
            } else {
                s
            }
        });
        ops.push(Op::Mount(Mount {
            source,
            dest,
            fstype: if options.bind { None } else { fstype },
            options,
        }));
    }
    // The default device nodes and /dev symlinks only need the /dev tmpfs; the spec's own
    // devices come after every mount, as before.
    let mut devs = Vec::new();
    let mut spec_devs = Vec::new();
    if dev_tmpfs {
        for (path, major, minor) in DEFAULT_DEVICES {
            devs.push(Op::Device(Device {
                dest: path.into(),
                kind: DeviceKind::Char,
                major,
                minor,
                mode: 0o666,
                uid: 0,
                gid: 0,
            }));
        }
        for (target, link) in [
            ("/proc/self/fd", "/dev/fd"),
            ("/proc/self/fd/0", "/dev/stdin"),
            ("/proc/self/fd/1", "/dev/stdout"),
            ("/proc/self/fd/2", "/dev/stderr"),
        ] {
            devs.push(Op::Symlink {
                target: target.into(),
                link: link.into(),
            });
        }
        if dev_pts {
            devs.push(Op::Symlink {
                target: "pts/ptmx".into(),
                link: "/dev/ptmx".into(),
            });
        }
    }
    for d in linux
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
    {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => DeviceKind::Char,
            LinuxDeviceType::B => DeviceKind::Block,
            LinuxDeviceType::P => DeviceKind::Fifo,
            LinuxDeviceType::A => return Err(format!("linux.devices: {:?}: type a", d.path())),
        };
        let node = Device {
            dest: d.path().clone(),
            kind,
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        // A device listed in the spec replaces the default one of the same path.
        devs.retain(|op| !matches!(op, Op::Device(old) if old.dest == node.dest));
        spec_devs.retain(|op| !matches!(op, Op::Device(old) if old.dest == node.dest));
        spec_devs.push(Op::Device(node));
    }
    // When /dev is mounted before the cgroup mount the defaults go right before it: the
    // child makes them while the parent is still creating the groups it then waits for.
    match cgroup_ops_start.as_mut() {
        Some(at) if dev_before_cgroup => {
            let n = devs.len();
            ops.splice(*at..*at, devs);
            *at += n;
        }
        _ => ops.extend(devs),
    }
    ops.extend(spec_devs);
    let paths = |list: Option<&Vec<String>>| -> Vec<PathBuf> {
        list.into_iter().flatten().map(PathBuf::from).collect()
    };
    Ok(MountPlan {
        root_propagation,
        ops,
        masked: paths(linux.and_then(|l| l.masked_paths().as_ref())),
        readonly: paths(linux.and_then(|l| l.readonly_paths().as_ref())),
        root_readonly: spec
            .root()
            .as_ref()
            .is_some_and(|r| r.readonly().unwrap_or(false)),
        cgroup_ops_start,
    })
}

/// A `cgroup` mount becomes the container's own groups, bind-mounted: on v1 a tmpfs with one
/// bind per hierarchy (then made read-only as asked), on v2 one bind of the group directory.
/// Binding works with and without a cgroup namespace and on hybrid hosts alike.
fn expand_cgroup(ops: &mut Vec<Op>, dest: PathBuf, options: Options, facts: &Facts) {
    let ro = options.flags & MS_RDONLY;
    let base = options.flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC);
    let bind = |source: &Path, dest: PathBuf| {
        Op::Mount(Mount {
            source: Some(source.to_path_buf()),
            dest,
            fstype: None,
            options: Options {
                flags: MS_BIND | base | ro,
                propagation: Vec::new(),
                data: String::new(),
                bind: true,
                optional: true,
            },
        })
    };
    if let [(name, dir)] = facts.cgroup_dirs.as_slice()
        && name.is_empty()
    {
        ops.push(bind(dir, dest));
        return;
    }
    ops.push(Op::Mount(Mount {
        source: Some("tmpfs".into()),
        dest: dest.clone(),
        fstype: Some("tmpfs".into()),
        options: Options {
            flags: base,
            propagation: Vec::new(),
            data: "mode=755".into(),
            bind: false,
            optional: false,
        },
    }));
    for (name, dir) in &facts.cgroup_dirs {
        ops.push(bind(dir, dest.join(name)));
    }
    if ro != 0 {
        ops.push(Op::Remount {
            dest,
            flags: base | ro,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> Options {
        parse_options(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn options_split() {
        let o = opts(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, MS_NOSUID | libc::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert!(!o.bind);
        let o = opts(&["rbind", "ro", "rslave"]);
        assert!(o.bind);
        assert_eq!(o.flags, MS_BIND | MS_REC | MS_RDONLY);
        assert_eq!(o.propagation, vec![libc::MS_SLAVE | MS_REC]);
        assert_eq!(opts(&["ro", "rw"]).flags, 0);
        assert!(
            parse_options(&["idmap".into()])
                .unwrap_err()
                .contains("idmap")
        );
    }

    #[test]
    fn default_spec_plan() {
        let spec = crate::profile::default_spec(&["sh".into()]);
        let facts = Facts {
            bundle: "/b".into(),
            cgroup_dirs: vec![
                ("memory".into(), "/sys/fs/cgroup/memory/berth/x".into()),
                ("pids".into(), "/sys/fs/cgroup/pids/berth/x".into()),
            ],
        };
        let plan = plan(&spec, &facts).unwrap();
        assert_eq!(plan.root_propagation, libc::MS_PRIVATE | MS_REC);
        let dests: Vec<String> = plan
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::Mount(m) => Some(m.dest.display().to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/dev/shm",
                "/dev/mqueue",
                "/sys",
                "/sys/fs/cgroup",
                "/sys/fs/cgroup/memory",
                "/sys/fs/cgroup/pids"
            ]
        );
        // The cgroup expansion starts at the tmpfs, after the six standard mounts and the six
        // default devices and five /dev symlinks (made while the parent creates the groups):
        // the child waits there for its groups.
        assert_eq!(plan.cgroup_ops_start, Some(6 + 6 + 5));
        assert!(matches!(&plan.ops[17], Op::Mount(m) if m.dest == Path::new("/sys/fs/cgroup")));
        assert!(matches!(&plan.ops[16], Op::Symlink { .. }));
        // A cgroup bind is skipped if the parent could not make that optional hierarchy's
        // group; nothing from the spec is optional.
        let optional: Vec<bool> = plan
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::Mount(m) => Some(m.options.optional),
                _ => None,
            })
            .collect();
        assert_eq!(
            optional,
            [false, false, false, false, false, false, false, true, true]
        );
        // The cgroup binds are read-only and the tmpfs is remounted read-only after them.
        assert!(
            plan.ops
                .iter()
                .any(|op| matches!(op, Op::Remount { dest, flags }
            if dest == Path::new("/sys/fs/cgroup") && flags & MS_RDONLY != 0))
        );
        let devices = plan
            .ops
            .iter()
            .filter(|op| matches!(op, Op::Device(_)))
            .count();
        assert_eq!(devices, 6);
        assert!(plan.ops.contains(&Op::Symlink {
            target: "pts/ptmx".into(),
            link: "/dev/ptmx".into()
        }));
        assert!(plan.masked.contains(&PathBuf::from("/proc/kcore")));
        assert!(plan.readonly.contains(&PathBuf::from("/proc/sys")));
    }

    #[test]
    fn relative_bind_source_is_bundle_relative() {
        let mut spec = crate::profile::default_spec(&["sh".into()]);
        let mut mounts = spec.mounts().clone().unwrap();
        mounts.push(
            oci_spec::runtime::MountBuilder::default()
                .destination("/data")
                .source("data")
                .options(vec!["rbind".to_string(), "ro".to_string()])
                .build()
                .unwrap(),
        );
        spec.set_mounts(Some(mounts));
        let facts = Facts {
            bundle: "/bundle".into(),
            cgroup_dirs: vec![(String::new(), "/sys/fs/cgroup/berth/x".into())],
        };
        let plan = plan(&spec, &facts).unwrap();
        let data = plan
            .ops
            .iter()
            .find_map(|op| match op {
                Op::Mount(m) if m.dest == Path::new("/data") => Some(m.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(data.source.as_deref(), Some(Path::new("/bundle/data")));
        assert!(data.needs_bind_remount());
        assert_eq!(data.fstype, None);
    }
}
