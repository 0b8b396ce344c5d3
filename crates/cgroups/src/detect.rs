//! Finding out which cgroup layout the host has, and where each hierarchy is mounted.
//!
//! Mount points are read from `/proc/self/mountinfo` rather than assumed: distributions differ
//! (`cpu,cpuacct` co-mounted or separate, `net_cls,net_prio` together, cgroup2 at
//! `/sys/fs/cgroup` or at `/sys/fs/cgroup/unified`), and containers-in-containers see other
//! paths again. The result, [`CgroupRoot`], is plain data so tests can build one that points at
//! a fake tree in a temporary directory.

use crate::controller::Controller;
use crate::error::{Error, Result};
use berth_common::mountinfo::unescape;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The mount table every process can read about itself.
pub const MOUNTINFO: &str = "/proc/self/mountinfo";

/// Where systemd and most distributions mount cgroups; preferred when a hierarchy is mounted
/// more than once.
const CGROUP_DIR: &str = "/sys/fs/cgroup";

/// Which cgroup versions the host uses for the controllers Berth needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Pure cgroup v2: one hierarchy, usually at `/sys/fs/cgroup`.
    Unified,
    /// systemd's hybrid mode: the core controllers on v1, plus a cgroup2 mount (typically
    /// `/sys/fs/cgroup/unified`) holding few or no controllers. Driven as v1; the group is also
    /// created in the cgroup2 mount best-effort so `cgroup.kill` can be used there.
    Hybrid,
    /// Only v1 hierarchies.
    Legacy,
}

impl Layout {
    /// Whether limits go through v1 controller hierarchies.
    pub fn is_v1(self) -> bool {
        !matches!(self, Layout::Unified)
    }
}

/// The cgroup mounts Berth drives: which layout, where the cgroup2 hierarchy is, and where each
/// v1 controller is mounted (co-mounted controllers share a mount point).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupRoot {
    layout: Layout,
    unified: Option<PathBuf>,
    v1: BTreeMap<Controller, PathBuf>,
}

impl CgroupRoot {
    /// Detects the host's layout from [`MOUNTINFO`].
    pub fn detect() -> Result<CgroupRoot> {
        let text = std::fs::read_to_string(MOUNTINFO).map_err(|source| Error::Read {
            path: MOUNTINFO.into(),
            source,
        })?;
        CgroupRoot::from_mountinfo(&text).ok_or(Error::NoCgroups {
            path: MOUNTINFO.into(),
        })
    }

    /// Derives the layout from the text of a `mountinfo` file; `None` when it lists no cgroup
    /// file system at all.
    ///
    /// The host counts as v1 ([`Layout::Hybrid`] or [`Layout::Legacy`]) when any controller
    /// that limits resources (`memory`, `cpu`, `cpuset`, `pids`) is mounted as v1. A lone v1
    /// `net_cls` or named hierarchy (VPN tools and old systemd leave those behind on v2 hosts)
    /// does not turn a unified host into a hybrid one; such v1 mounts are then ignored.
    pub fn from_mountinfo(text: &str) -> Option<CgroupRoot> {
        let mut unified: Option<(bool, PathBuf)> = None;
        let mut v1: BTreeMap<Controller, (bool, PathBuf)> = BTreeMap::new();
        for entry in text.lines().filter_map(MountEntry::parse) {
            let preferred = entry.root == "/" && entry.mount_point.starts_with(CGROUP_DIR);
            match entry.fs_type.as_str() {
                "cgroup2" => {
                    let exact = entry.mount_point == Path::new(CGROUP_DIR);
                    let better = match &unified {
                        None => true,
                        Some((was_preferred, path)) => {
                            (exact && path != Path::new(CGROUP_DIR))
                                || (preferred && !was_preferred)
                        }
                    };
                    if better {
                        unified = Some((preferred, entry.mount_point.clone()));
                    }
                }
                "cgroup" => {
                    for controller in entry
                        .super_options
                        .iter()
                        .filter_map(|o| Controller::from_name(o))
                    {
                        let replace = match v1.get(&controller) {
                            None => true,
                            Some((was_preferred, _)) => preferred && !was_preferred,
                        };
                        if replace {
                            v1.insert(controller, (preferred, entry.mount_point.clone()));
                        }
                    }
                }
                _ => {}
            }
        }
        let unified = unified.map(|(_, path)| path);
        let v1: BTreeMap<Controller, PathBuf> = v1.into_iter().map(|(c, (_, p))| (c, p)).collect();
        let core_on_v1 = [
            Controller::Memory,
            Controller::Cpu,
            Controller::Cpuset,
            Controller::Pids,
        ]
        .iter()
        .any(|c| v1.contains_key(c));
        match (core_on_v1, unified) {
            (true, Some(unified)) => Some(CgroupRoot {
                layout: Layout::Hybrid,
                unified: Some(unified),
                v1,
            }),
            (true, None) => Some(CgroupRoot {
                layout: Layout::Legacy,
                unified: None,
                v1,
            }),
            (false, Some(unified)) => Some(CgroupRoot::unified(unified)),
            (false, None) => None,
        }
    }

    /// A pure cgroup v2 root at `mount` (tests point this at a fake tree; on a hybrid host it
    /// drives the cgroup2 mount directly).
    pub fn unified(mount: impl Into<PathBuf>) -> CgroupRoot {
        CgroupRoot {
            layout: Layout::Unified,
            unified: Some(mount.into()),
            v1: BTreeMap::new(),
        }
    }

    /// A v1-only root with the given controller mount points (co-mounted controllers repeat the
    /// same path).
    pub fn legacy(mounts: impl IntoIterator<Item = (Controller, PathBuf)>) -> CgroupRoot {
        CgroupRoot {
            layout: Layout::Legacy,
            unified: None,
            v1: mounts.into_iter().collect(),
        }
    }

    /// A hybrid root: v1 controllers plus a cgroup2 mount used only for process tracking.
    pub fn hybrid(
        mounts: impl IntoIterator<Item = (Controller, PathBuf)>,
        unified: impl Into<PathBuf>,
    ) -> CgroupRoot {
        CgroupRoot {
            layout: Layout::Hybrid,
            unified: Some(unified.into()),
            v1: mounts.into_iter().collect(),
        }
    }

    /// The same v1 mounts without the cgroup2 side, i.e. as [`Layout::Legacy`]; lets a hybrid
    /// host exercise the pure-v1 code paths.
    pub fn without_unified(&self) -> CgroupRoot {
        CgroupRoot {
            layout: Layout::Legacy,
            unified: None,
            v1: self.v1.clone(),
        }
    }

    /// The detected layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Where the cgroup2 hierarchy is mounted, if it is.
    pub fn unified_mount(&self) -> Option<&Path> {
        self.unified.as_deref()
    }

    /// Where a v1 controller is mounted; `None` on unified hosts or when it is not mounted.
    pub fn v1_mount(&self, controller: Controller) -> Option<&Path> {
        if self.layout.is_v1() {
            self.v1.get(&controller).map(PathBuf::as_path)
        } else {
            None
        }
    }

    /// Each distinct v1 mount point with the controllers mounted there, so co-mounted
    /// controllers (`cpu,cpuacct`) get one directory, not two attempts at the same one.
    pub fn v1_hierarchies(&self) -> Vec<(PathBuf, Vec<Controller>)> {
        let mut by_mount: BTreeMap<&Path, Vec<Controller>> = BTreeMap::new();
        if self.layout.is_v1() {
            for (controller, mount) in &self.v1 {
                by_mount
                    .entry(mount.as_path())
                    .or_default()
                    .push(*controller);
            }
        }
        by_mount
            .into_iter()
            .map(|(mount, cs)| (mount.to_path_buf(), cs))
            .collect()
    }
}

/// The fields of one `mountinfo` line this module needs.
#[derive(Debug, PartialEq, Eq)]
struct MountEntry {
    /// The directory of the mounted file system that appears at the mount point.
    root: String,
    mount_point: PathBuf,
    fs_type: String,
    super_options: Vec<String>,
}

impl MountEntry {
    /// Parses `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTS`;
    /// malformed lines are skipped rather than failing detection.
    fn parse(line: &str) -> Option<MountEntry> {
        let fields: Vec<&str> = line.split(' ').collect();
        let sep = fields.iter().position(|f| *f == "-")?;
        if sep < 6 {
            return None;
        }
        let fs_type = fields.get(sep + 1)?;
        let super_options = fields.get(sep + 3).copied().unwrap_or("");
        Some(MountEntry {
            root: unescape(fields[3]),
            mount_point: PathBuf::from(unescape(fields[4])),
            fs_type: (*fs_type).to_string(),
            super_options: super_options.split(',').map(str::to_string).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine's table: every controller on its own v1 mount, cgroup2 with only hugetlb.
    const HYBRID_SEPARATE: &str = "\
23 1 0:21 / /sys rw,nosuid - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// A Debian 10 style table: co-mounted cpu,cpuacct and net_cls,net_prio, no cgroup2.
    const LEGACY_COMOUNTED: &str = "\
25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
28 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
31 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
32 25 0:29 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,net_cls,net_prio
33 25 0:30 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory
34 25 0:31 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,pids
";

    const UNIFIED: &str = "\
26 23 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    #[test]
    fn this_machine_is_hybrid_with_separate_mounts() {
        let root = CgroupRoot::from_mountinfo(HYBRID_SEPARATE).unwrap();
        assert_eq!(root.layout(), Layout::Hybrid);
        assert_eq!(
            root.unified_mount(),
            Some(Path::new("/sys/fs/cgroup/unified"))
        );
        assert_eq!(
            root.v1_mount(Controller::Memory),
            Some(Path::new("/sys/fs/cgroup/memory"))
        );
        assert_eq!(
            root.v1_mount(Controller::Cpuacct),
            Some(Path::new("/sys/fs/cgroup/cpuacct"))
        );
        assert_eq!(
            root.v1_mount(Controller::Pids),
            Some(Path::new("/sys/fs/cgroup/pids"))
        );
        assert_eq!(root.v1_mount(Controller::NetCls), None);
        // name=systemd is a named hierarchy, not a controller.
        assert_eq!(root.v1_hierarchies().len(), 8);
    }

    #[test]
    fn co_mounted_controllers_share_one_hierarchy() {
        let root = CgroupRoot::from_mountinfo(LEGACY_COMOUNTED).unwrap();
        assert_eq!(root.layout(), Layout::Legacy);
        assert_eq!(root.unified_mount(), None);
        let cpu = Path::new("/sys/fs/cgroup/cpu,cpuacct");
        assert_eq!(root.v1_mount(Controller::Cpu), Some(cpu));
        assert_eq!(root.v1_mount(Controller::Cpuacct), Some(cpu));
        assert_eq!(
            root.v1_mount(Controller::NetPrio),
            Some(Path::new("/sys/fs/cgroup/net_cls,net_prio"))
        );
        let hierarchies = root.v1_hierarchies();
        assert_eq!(hierarchies.len(), 4);
        assert!(hierarchies.contains(&(
            cpu.to_path_buf(),
            vec![Controller::Cpu, Controller::Cpuacct]
        )));
    }

    #[test]
    fn unified_host() {
        let root = CgroupRoot::from_mountinfo(UNIFIED).unwrap();
        assert_eq!(root.layout(), Layout::Unified);
        assert_eq!(root.unified_mount(), Some(Path::new("/sys/fs/cgroup")));
        assert!(root.v1_hierarchies().is_empty());
    }

    #[test]
    fn stray_v1_net_cls_does_not_make_a_unified_host_hybrid() {
        let text =
            format!("{UNIFIED}90 26 0:50 / /sys/fs/cgroup/net_cls rw - cgroup cgroup rw,net_cls\n");
        let root = CgroupRoot::from_mountinfo(&text).unwrap();
        assert_eq!(root.layout(), Layout::Unified);
        assert_eq!(root.v1_mount(Controller::NetCls), None);
    }

    #[test]
    fn no_cgroups_at_all() {
        assert_eq!(
            CgroupRoot::from_mountinfo("23 1 0:21 / /sys rw - sysfs sysfs rw\n"),
            None
        );
        assert_eq!(CgroupRoot::from_mountinfo(""), None);
    }

    #[test]
    fn preferred_mount_wins_over_bind_mounts_elsewhere() {
        let text = "\
50 1 0:30 /docker/abc /mnt/mem rw - cgroup cgroup rw,memory
51 1 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
52 1 0:31 / /mnt/u2 rw - cgroup2 cgroup2 rw
53 1 0:31 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw
";
        let root = CgroupRoot::from_mountinfo(text).unwrap();
        assert_eq!(
            root.v1_mount(Controller::Memory),
            Some(Path::new("/sys/fs/cgroup/memory"))
        );
        assert_eq!(root.unified_mount(), Some(Path::new("/sys/fs/cgroup")));
    }

    #[test]
    fn escaped_mount_points_and_optional_fields() {
        let line = "60 1 0:40 / /tmp/my\\040cg rw shared:3 master:1 - cgroup2 none rw";
        let entry = MountEntry::parse(line).unwrap();
        assert_eq!(entry.mount_point, PathBuf::from("/tmp/my cg"));
        assert_eq!(entry.fs_type, "cgroup2");
        assert_eq!(unescape("a\\134b\\011"), "a\\b\t");
        assert_eq!(unescape("trailing\\04"), "trailing\\04");
        assert!(MountEntry::parse("garbage").is_none());
    }

    #[test]
    fn detect_on_this_host_finds_something() {
        // Any Linux host running the tests has some cgroup mount.
        let root = CgroupRoot::detect().unwrap();
        if root.layout().is_v1() {
            assert!(!root.v1_hierarchies().is_empty());
        } else {
            assert!(root.unified_mount().is_some());
        }
    }
}
