//! The executor: creating a container's group in every hierarchy it needs, applying a plan,
//! moving processes in, and removing the group again.
//!
//! A [`Cgroup`] is just a [`CgroupRoot`] plus a relative path such as `berth/<id>`, so it can be
//! re-opened with [`Cgroup::load`] after the daemon restarts; no state lives in memory.
//!
//! On v1 hosts the group is created in every mounted controller hierarchy. The core ones
//! (memory, cpu, cpuacct, cpuset, pids, freezer) must work; the rest (devices, blkio, net_cls,
//! ...) are best-effort, because a container that cannot be put in, say, `net_prio` is still
//! useful, while one outside `memory` would escape its limits; but a hierarchy whose controller
//! the resources use is required like a core one, since a limit on a group the container is not
//! in limits nothing. Hybrid hosts additionally get the group in their cgroup2 mount,
//! best-effort, which gives them `cgroup.kill`; it is required there too when the host's
//! `hugetlb` controller lives only on cgroup2 and huge page limits are asked for. Then `+hugetlb`
//! is enabled in the cgroup2 ancestors' `cgroup.subtree_control`, and stays enabled at the mount
//! root (harmless, and what every v2 host does).
//!
//! Whatever write fails names the `linux.resources` field that asked for it.

use crate::bpf;
use crate::controller::Controller;
use crate::detect::{CgroupRoot, Layout};
use crate::devices::{self, DeviceRule};
use crate::error::{Error, Result};
use crate::fsio;
use crate::plan::{self, Facts, Hugetlb, HugetlbHome, Write};
use crate::resources::Resources;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long [`Cgroup::destroy`] keeps retrying `rmdir` while the last tasks finish exiting
/// (`EBUSY`).
pub const DESTROY_TIMEOUT: Duration = Duration::from_secs(2);

/// v1 hierarchies in the order in which to look for a group's member list: `pids` and
/// `freezer` first because those are the ones kill and freeze act on.
const PROCS_ORDER: [Controller; 6] = [
    Controller::Pids,
    Controller::Freezer,
    Controller::Memory,
    Controller::Cpu,
    Controller::Cpuacct,
    Controller::Cpuset,
];

/// One container's cgroup, in every hierarchy the host uses.
#[derive(Debug, Clone)]
pub struct Cgroup {
    pub(crate) root: CgroupRoot,
    pub(crate) path: String,
    /// The controllers the resources given to [`Cgroup::create`] use, each with the field that
    /// uses it: their hierarchies must be made and joined. Empty for a handle from
    /// [`Cgroup::load`] or [`Cgroup::planned`], which only skip what is missing.
    needs: BTreeMap<Controller, &'static str>,
}

/// Two handles are equal when they name the same group; what a creator knew about its
/// resources does not make it a different group.
impl PartialEq for Cgroup {
    fn eq(&self, other: &Cgroup) -> bool {
        self.root == other.root && self.path == other.path
    }
}

impl Eq for Cgroup {}

impl Cgroup {
    /// Creates the group `path` (relative to each hierarchy's mount point, e.g. `berth/<id>`)
    /// and applies `resources`. An existing group is reused, as runc does, so a retried create
    /// after a crash does not fail. Missing parents (`berth`) are created and, being shared by
    /// all containers, never removed. If anything fails, the group itself is removed again.
    pub fn create(root: &CgroupRoot, path: &str, resources: &Resources) -> Result<Cgroup> {
        validate_path(path)?;
        resources.validate()?;
        let cgroup = Cgroup {
            root: root.clone(),
            path: path.to_string(),
            needs: resources.controllers(root.layout()),
        };
        let result = if root.layout().is_v1() {
            cgroup.create_v1()
        } else {
            cgroup.create_v2()
        }
        .and_then(|()| cgroup.update(resources));
        if let Err(err) = result {
            if let Err(cleanup) = cgroup.destroy() {
                tracing::warn!(path, error = %cleanup, "removing a half-created cgroup failed");
            }
            return Err(err);
        }
        tracing::debug!(path, layout = ?root.layout(), "cgroup created");
        Ok(cgroup)
    }

    /// Re-opens an existing group, e.g. when the daemon restarts and finds running containers.
    pub fn load(root: &CgroupRoot, path: &str) -> Result<Cgroup> {
        validate_path(path)?;
        let cgroup = Cgroup {
            root: root.clone(),
            path: path.to_string(),
            needs: BTreeMap::new(),
        };
        let dir = cgroup.procs_dir()?;
        if !dir.is_dir() {
            return Err(Error::NotFound { path: dir });
        }
        Ok(cgroup)
    }

    /// The group's path relative to each hierarchy.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The mounts this group lives in.
    pub fn root(&self) -> &CgroupRoot {
        &self.root
    }

    /// The group's directory in the cgroup2 hierarchy (v2 hosts, and hybrid ones best-effort).
    pub fn unified_dir(&self) -> Option<PathBuf> {
        self.root.unified_mount().map(|m| m.join(&self.path))
    }

    /// The group's directory in a v1 controller's hierarchy, when that controller is mounted.
    pub fn v1_dir(&self, controller: Controller) -> Option<PathBuf> {
        self.root.v1_mount(controller).map(|m| m.join(&self.path))
    }

    /// Every directory of this group, one per hierarchy.
    pub fn dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self
            .root
            .v1_hierarchies()
            .into_iter()
            .map(|(m, _)| m.join(&self.path))
            .collect();
        dirs.extend(self.unified_dir());
        dirs
    }

    /// Whether this group is driven through the cgroup2 hierarchy.
    pub(crate) fn is_v2(&self) -> bool {
        self.root.layout() == Layout::Unified
    }

    /// The directory whose `cgroup.procs` lists the group's members.
    pub(crate) fn procs_dir(&self) -> Result<PathBuf> {
        if self.is_v2() {
            return self
                .unified_dir()
                .ok_or_else(|| unavailable(Controller::Pids, "no cgroup2"));
        }
        PROCS_ORDER
            .iter()
            .find_map(|c| self.v1_dir(*c))
            .or_else(|| self.dirs().into_iter().next())
            .ok_or_else(|| unavailable(Controller::Pids, "no cgroup hierarchy is mounted"))
    }

    /// Moves process `pid` into the group in every hierarchy.
    pub fn add_process(&self, pid: u32) -> Result<()> {
        self.add_process_to(pid, true, true)
    }

    /// Moves process `pid` into the group in the v1 hierarchies (`v1`) and the cgroup2 one
    /// (`unified`), for a caller that got it into the others by other means (a process
    /// joining by itself, `CLONE_INTO_CGROUP`). Failing to join an optional hierarchy is only
    /// a warning, unless the resources the group was created with use its controller.
    pub fn add_process_to(&self, pid: u32, v1: bool, unified: bool) -> Result<()> {
        let value = pid.to_string();
        if v1 {
            for (mount, controllers) in self.root.v1_hierarchies() {
                let file = mount.join(&self.path).join("cgroup.procs");
                if let Err(err) = fsio::write(&file, &value) {
                    if controllers.iter().any(|c| c.is_core()) {
                        return Err(err);
                    }
                    if let Some(field) = self.needed_for(&controllers) {
                        return Err(err.for_field(field));
                    }
                    tracing::warn!(error = %err, "not joining an optional cgroup hierarchy");
                }
            }
        }
        if unified && let Some(dir) = self.unified_dir() {
            let result = fsio::write(&dir.join("cgroup.procs"), &value);
            match result {
                Err(err) if self.is_v2() => return Err(err),
                Err(err) => match self.unified_needed_for() {
                    Some(field) => return Err(err.for_field(field)),
                    None => tracing::warn!(error = %err, "not joining the hybrid cgroup2 group"),
                },
                Ok(()) => {}
            }
        }
        Ok(())
    }

    /// The field that needs one of `controllers`, if the group's resources use any.
    fn needed_for(&self, controllers: &[Controller]) -> Option<&'static str> {
        controllers.iter().find_map(|c| self.needs.get(c).copied())
    }

    /// On a hybrid host, the field that needs the cgroup2 group: huge page limits when the
    /// `hugetlb` controller is there only.
    fn unified_needed_for(&self) -> Option<&'static str> {
        if self.hugetlb_on_unified() {
            self.needs.get(&Controller::Hugetlb).copied()
        } else {
            None
        }
    }

    /// Whether huge page limits of this v1-driven group go to its cgroup2 group: the host
    /// has no v1 `hugetlb` hierarchy but a cgroup2 mount (systemd's hybrid layout).
    fn hugetlb_on_unified(&self) -> bool {
        !self.is_v2()
            && self.root.v1_mount(Controller::Hugetlb).is_none()
            && self.root.unified_mount().is_some()
    }

    /// The v1 `tasks` files of the group, through which a process can move itself (writing
    /// `0`) without the kernel's global threadgroup lock that moving another process takes.
    pub fn v1_task_files(&self) -> Vec<PathBuf> {
        self.root
            .v1_hierarchies()
            .into_iter()
            .map(|(m, _)| m.join(&self.path).join("tasks"))
            .collect()
    }

    /// A handle on group `path` without touching the file system: for cleaning up after a
    /// create that may have made only part of it ([`Cgroup::destroy`] skips what is missing).
    pub fn planned(root: &CgroupRoot, path: &str) -> Result<Cgroup> {
        validate_path(path)?;
        Ok(Cgroup {
            root: root.clone(),
            path: path.to_string(),
            needs: BTreeMap::new(),
        })
    }

    /// Makes the group's cgroup2 directory (and its parents) ahead of [`Cgroup::create`], so a
    /// process can be cloned straight into it; returns it, or `None` without a cgroup2 mount.
    pub fn prepare_unified(&self) -> Result<Option<PathBuf>> {
        let Some(dir) = self.unified_dir() else {
            return Ok(None);
        };
        create_dir_retrying(&dir).map_err(|source| Error::Create {
            path: dir.clone(),
            source,
        })?;
        Ok(Some(dir))
    }

    /// The pids of every process in the group.
    pub fn pids(&self) -> Result<Vec<u32>> {
        fsio::read_pids(&self.procs_dir()?.join("cgroup.procs"))
    }

    /// Applies new limits to the live group (`docker update`); fields left `None` keep their
    /// current values. A field the host cannot apply fails the whole update before anything
    /// is written, naming the field; a write the kernel refuses names it too.
    pub fn update(&self, resources: &Resources) -> Result<()> {
        resources.validate()?;
        if !resources.hugepage_limits.is_empty() && self.hugetlb_on_unified() {
            self.enable_in_unified_ancestors(Controller::Hugetlb)
                .map_err(|e| e.for_field("linux.resources.hugepageLimits"))?;
        }
        let facts = self.facts(resources);
        let writes = plan::plan(self.root.layout(), &self.path, resources, &facts)?;
        self.check_controllers(&writes)?;
        self.execute(&writes)?;
        match &resources.devices {
            Some(rules) => self
                .apply_devices(rules)
                .map_err(|e| e.for_field("linux.resources.devices")),
            None => Ok(()),
        }
    }

    /// Enables `controller` in the `cgroup.subtree_control` of every cgroup2 ancestor of the
    /// group, from the mount root down to its parent, so that a hybrid host's cgroup2-only
    /// controller reaches the group. Unlike [`enable_controllers`] this fails when the kernel
    /// refuses: the caller needs the controller. Nothing is done when the root does not offer
    /// it (the planner then reports the field as unsupported). It runs before planning because
    /// the group's `hugetlb.*` files, which tell the planner the valid page sizes, appear only
    /// once the controller is enabled; a request refused afterwards leaves it enabled, which is
    /// harmless (see the module documentation).
    fn enable_in_unified_ancestors(&self, controller: Controller) -> Result<()> {
        let Some(mount) = self.root.unified_mount() else {
            return Ok(());
        };
        let name = controller.name();
        let listed = |dir: &Path, file: &str| -> Result<bool> {
            let text = fsio::read(&dir.join(file))?;
            Ok(text.split_whitespace().any(|c| c == name))
        };
        if !listed(mount, "cgroup.controllers")? {
            return Ok(());
        }
        let mut ancestors = vec![mount.to_path_buf()];
        let components: Vec<&str> = self.path.split('/').collect();
        for component in &components[..components.len() - 1] {
            let next = ancestors[ancestors.len() - 1].join(component);
            ancestors.push(next);
        }
        for dir in ancestors {
            if !listed(&dir, "cgroup.subtree_control")? {
                fsio::write(&dir.join("cgroup.subtree_control"), &format!("+{name}"))?;
            }
        }
        Ok(())
    }

    /// Puts device rules in force: through the v1 `devices` controller where it is mounted,
    /// otherwise through a device program on the cgroup2 group. Either must work: a container
    /// whose rules cannot be enforced would reach every device on the host.
    fn apply_devices(&self, rules: &[DeviceRule]) -> Result<()> {
        if !self.is_v2()
            && let Some(dir) = self.v1_dir(Controller::Devices)
        {
            for (file, value) in devices::v1_writes(rules) {
                fsio::write(&dir.join(file), &value).map_err(|e| Error::Devices {
                    path: dir.clone(),
                    detail: e.to_string(),
                })?;
            }
            return Ok(());
        }
        match self.unified_dir() {
            Some(dir) if dir.is_dir() => bpf::apply_device_rules(&dir, rules),
            _ => Err(unavailable(
                Controller::Devices,
                "there is neither a v1 devices hierarchy nor a cgroup2 group for a device program",
            )),
        }
    }

    /// Removes the group from every hierarchy, sub-groups first. Groups that are already gone
    /// are not an error; `EBUSY` (tasks still exiting) is retried for [`DESTROY_TIMEOUT`]. The
    /// caller kills the members first ([`Cgroup::kill_all`]).
    ///
    /// Parent groups stay, as with runc and crun: removing and re-making a shared parent for
    /// every container doubled the cost of each start and made siblings race. Whoever owns a
    /// parent removes it when done ([`remove_if_unused`]).
    pub fn destroy(&self) -> Result<()> {
        let mut first_error = None;
        for dir in self.dirs() {
            if let Err(err) = remove_tree(&dir) {
                tracing::warn!(error = %err, "removing cgroup directory");
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// v1: a directory in every mounted hierarchy, then cpuset's inherited masks. An optional
    /// hierarchy may be skipped only when the resources do not use its controller.
    fn create_v1(&self) -> Result<()> {
        for (mount, controllers) in self.root.v1_hierarchies() {
            let dir = mount.join(&self.path);
            if let Err(source) = create_dir_retrying(&dir) {
                let err = Error::Create { path: dir, source };
                if controllers.iter().any(|c| c.is_core()) {
                    return Err(err);
                }
                if let Some(field) = self.needed_for(&controllers) {
                    return Err(err.for_field(field));
                }
                tracing::warn!(error = %err, "skipping an optional cgroup hierarchy");
                continue;
            }
            if controllers.contains(&Controller::Cpuset) {
                init_cpuset(&mount, &self.path)?;
            }
        }
        if let Some(dir) = self.unified_dir()
            && let Err(source) = create_dir_retrying(&dir)
        {
            let err = Error::Create { path: dir, source };
            if let Some(field) = self.unified_needed_for() {
                return Err(err.for_field(field));
            }
            tracing::warn!(error = %err, "not creating the hybrid cgroup2 group");
        }
        Ok(())
    }

    /// v2: one directory, with the wanted controllers enabled in every ancestor on the way.
    fn create_v2(&self) -> Result<()> {
        let Some(mount) = self.root.unified_mount() else {
            return Err(unavailable(Controller::Memory, "no cgroup2 mount"));
        };
        let mut dir = mount.to_path_buf();
        for component in self.path.split('/') {
            enable_controllers(&dir)?;
            dir.push(component);
            match std::fs::create_dir(&dir) {
                Err(source) if source.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(Error::Create { path: dir, source });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Reads what the planner needs to know about the live group, looking only at what
    /// `resources` touch (the files are few, but every container start pays for each).
    fn facts(&self, resources: &Resources) -> Facts {
        let mut facts = Facts::default();
        if let Some(dir) = self.v1_dir(Controller::Memory) {
            facts.swap_accounting = dir.join("memory.memsw.limit_in_bytes").exists();
            facts.memory_limit = fsio::read_u64(&dir.join("memory.limit_in_bytes"))
                .ok()
                .flatten();
        }
        if self.is_v2()
            && let Some(dir) = self.unified_dir()
            && let Ok(text) = fsio::read(&dir.join("cpu.max"))
        {
            facts.cpu_quota = text.split_whitespace().next().and_then(|q| q.parse().ok());
        }
        if (resources.cpu_rt_runtime.is_some() || resources.cpu_rt_period.is_some())
            && let Some(dir) = self.v1_dir(Controller::Cpu)
        {
            facts.cpu_rt = dir.join("cpu.rt_runtime_us").exists();
        }
        if resources.blkio.is_some() {
            if self.is_v2() {
                facts.io_bfq_weight = self
                    .unified_dir()
                    .is_some_and(|d| d.join("io.bfq.weight").exists());
            } else if let Some(dir) = self.v1_dir(Controller::Blkio) {
                let first =
                    |files: [&'static str; 2]| files.into_iter().find(|f| dir.join(f).exists());
                facts.blkio_weight_file = first(["blkio.weight", "blkio.bfq.weight"]);
                facts.blkio_weight_device_file =
                    first(["blkio.weight_device", "blkio.bfq.weight_device"]);
                facts.blkio_leaf_weight = dir.join("blkio.leaf_weight").exists();
            }
        }
        if !resources.hugepage_limits.is_empty() {
            facts.hugetlb = self.hugetlb_facts();
        }
        facts
    }

    /// Where the group's hugetlb files are and which page sizes they cover, read from the
    /// file names (`hugetlb.2MB.limit_in_bytes`, `hugetlb.2MB.rsvd.max`), which list exactly
    /// the sizes the kernel accepts. `None` when the group has no hugetlb controller.
    fn hugetlb_facts(&self) -> Option<Hugetlb> {
        let (home, dir) = if let Some(dir) = self.v1_dir(Controller::Hugetlb) {
            (HugetlbHome::V1, dir)
        } else if self.is_v2() || self.hugetlb_on_unified() {
            (HugetlbHome::Unified, self.unified_dir()?)
        } else {
            return None;
        };
        if home == HugetlbHome::Unified {
            let offered = fsio::read(&dir.join("cgroup.controllers")).ok()?;
            if !offered.split_whitespace().any(|c| c == "hugetlb") {
                return None;
            }
        }
        let suffix = match home {
            HugetlbHome::V1 => ".limit_in_bytes",
            HugetlbHome::Unified => ".max",
        };
        let mut facts = Hugetlb {
            home,
            sizes: Vec::new(),
            rsvd: false,
        };
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            let name = entry.file_name();
            let Some(size) = name
                .to_str()
                .and_then(|n| n.strip_prefix("hugetlb."))
                .and_then(|n| n.strip_suffix(suffix))
            else {
                continue;
            };
            match size.strip_suffix(".rsvd") {
                Some(_) => facts.rsvd = true,
                None if !size.contains('.') => facts.sizes.push(size.to_string()),
                None => {}
            }
        }
        facts.sizes.sort();
        Some(facts)
    }

    /// Fails before writing anything if a plan needs a controller the group does not have,
    /// rather than half-applying it; the error names the first field that needs it.
    fn check_controllers(&self, writes: &[Write]) -> Result<()> {
        let mut checked = BTreeSet::new();
        let mut offered_v2: Option<(PathBuf, String)> = None;
        for write in writes {
            if !checked.insert((write.controller, write.unified)) {
                continue;
            }
            let controller = write.controller;
            if self.is_v2() || write.unified {
                let (file, text) = match &mut offered_v2 {
                    Some(read) => &*read,
                    slot @ None => {
                        let file = self
                            .unified_dir()
                            .unwrap_or_default()
                            .join("cgroup.controllers");
                        let text = fsio::read(&file).map_err(|e| e.for_field(&write.field))?;
                        &*slot.insert((file, text))
                    }
                };
                if !text.split_whitespace().any(|c| c == controller.name()) {
                    let detail = format!("not listed in {}", file.display());
                    return Err(unavailable(controller, &detail).for_field(&write.field));
                }
            } else if self.root.v1_mount(controller).is_none() {
                return Err(unavailable(controller, "no v1 hierarchy for it is mounted")
                    .for_field(&write.field));
            }
        }
        Ok(())
    }

    /// Where a planned write goes.
    fn file_for(&self, write: &Write) -> Result<PathBuf> {
        let mount = if self.is_v2() || write.unified {
            self.root.unified_mount()
        } else {
            self.root.v1_mount(write.controller)
        };
        let mount = mount
            .ok_or_else(|| unavailable(write.controller, "not mounted").for_field(&write.field))?;
        Ok(mount.join(&write.path_relative).join(&write.file))
    }

    /// Performs the writes in order. A write refused with `EINVAL` is retried once after all
    /// the others, which resolves ordering constraints the planner could not see (see
    /// [`crate::plan_v1`]); a second refusal is reported. Every failure names the field the
    /// write applies; a file the kernel does not have is reported as unsupported.
    fn execute(&self, writes: &[Write]) -> Result<()> {
        let mut deferred = Vec::new();
        for write in writes {
            let file = self.file_for(write)?;
            match fsio::write(&file, &write.value) {
                Ok(()) => {}
                Err(Error::Write { source, .. })
                    if source.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) =>
                {
                    deferred.push((file, write));
                }
                Err(err) => return Err(write_failed(write, &file, err)),
            }
        }
        for (file, write) in deferred {
            fsio::write(&file, &write.value).map_err(|err| write_failed(write, &file, err))?;
        }
        Ok(())
    }
}

/// Refuses paths that are empty, absolute, or step outside the hierarchy, since they are joined
/// onto mount points of file systems the kernel trusts us with.
fn validate_path(path: &str) -> Result<()> {
    let invalid = |reason| {
        Err(Error::InvalidPath {
            path: path.to_string(),
            reason,
        })
    };
    if path.is_empty() {
        return invalid("it is empty");
    }
    if path.starts_with('/') {
        return invalid("it must be relative to the hierarchy");
    }
    if path.contains(['\0', '\n']) {
        return invalid("it contains a NUL or newline");
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return invalid("it has an empty, '.' or '..' component");
    }
    Ok(())
}

/// The error for a failed planned write: a missing control file means the kernel has no such
/// knob for this group ([`Error::Unsupported`]); anything else is the kernel's refusal, with the
/// field that asked for it.
fn write_failed(write: &Write, file: &Path, err: Error) -> Error {
    match &err {
        Error::Write { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            Error::Unsupported {
                field: write.field.clone(),
                reason: format!(
                    "{} does not exist: the kernel offers no {} for this group",
                    file.display(),
                    write.file
                ),
            }
        }
        _ => err.for_field(&write.field),
    }
}

/// The error for a controller a request needs but the host does not provide.
fn unavailable(controller: Controller, detail: &str) -> Error {
    Error::ControllerUnavailable {
        controller: controller.name().to_string(),
        detail: detail.into(),
    }
}

/// Fills empty `cpuset.cpus`/`cpuset.mems` from the parent, level by level from the mount point
/// down: a new v1 cpuset group starts with empty masks and the kernel refuses to attach tasks to
/// it (`ENOSPC`) until they are set. runc does the same.
fn init_cpuset(mount: &Path, path: &str) -> Result<()> {
    let mut parent = mount.to_path_buf();
    for component in path.split('/') {
        let dir = parent.join(component);
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let own = fsio::read(&dir.join(file))?;
            if own.trim().is_empty() {
                let inherited = fsio::read(&parent.join(file))?;
                fsio::write(&dir.join(file), inherited.trim())?;
            }
        }
        parent = dir;
    }
    Ok(())
}

/// Enables the controllers Berth wants in `dir`'s `cgroup.subtree_control`, so they appear in
/// its children. Best-effort per controller: a host may offer a controller yet refuse to
/// delegate it (e.g. a threaded subtree), and only the controllers a plan needs are checked, in
/// [`Cgroup::update`].
fn enable_controllers(dir: &Path) -> Result<()> {
    let offered = fsio::read(&dir.join("cgroup.controllers"))?;
    let subtree = dir.join("cgroup.subtree_control");
    let enabled = fsio::read(&subtree)?;
    let wanted: Vec<String> = Controller::V2_ENABLE
        .iter()
        .map(|c| c.name())
        .filter(|name| offered.split_whitespace().any(|o| o == *name))
        .filter(|name| !enabled.split_whitespace().any(|e| e == *name))
        .map(|name| format!("+{name}"))
        .collect();
    if wanted.is_empty() || fsio::write(&subtree, &wanted.join(" ")).is_ok() {
        return Ok(());
    }
    // The kernel applies all or nothing; retry one by one to enable what it will allow.
    for one in wanted {
        if let Err(err) = fsio::write(&subtree, &one) {
            tracing::warn!(error = %err, "cgroup controller not enabled");
        }
    }
    Ok(())
}

/// Removes a group directory and any sub-groups (created by a container with its own cgroup
/// namespace), deepest first. Regular files are never removed: on cgroupfs they vanish with
/// their directory, and anything else means the root is not a cgroup file system.
/// Removes up to `levels` parent groups of `dir` (such as the shared `berth` group) when they
/// have become empty, so the host is left as it was when the last container goes. Best-effort
/// by design: a parent still holding another container's group refuses with `EBUSY` or
/// `ENOTEMPTY`, and a creator racing with this removal retries (see `create_dir_retrying`).
/// Removes the group `path` (e.g. the daemon's `berth` parent) from every hierarchy where it
/// has neither members nor sub-groups; a group still in use anywhere is left everywhere.
/// Returns whether anything was removed.
pub fn remove_if_unused(root: &CgroupRoot, path: &str) -> Result<bool> {
    validate_path(path)?;
    let group = Cgroup {
        root: root.clone(),
        path: path.to_string(),
        needs: BTreeMap::new(),
    };
    let mut removed = false;
    for dir in group.dirs() {
        match std::fs::remove_dir(&dir) {
            Ok(()) => removed = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // In use (members or sub-groups): EBUSY or ENOTEMPTY.
            Err(_) => {}
        }
    }
    Ok(removed)
}

/// `create_dir_all` that tolerates a parent group being removed by [`remove_if_unused`] (or a
/// test's clean-up) between creating the parent and the child.
fn create_dir_retrying(dir: &Path) -> std::io::Result<()> {
    match std::fs::create_dir_all(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir_all(dir),
        other => other,
    }
}

fn remove_tree(dir: &Path) -> Result<()> {
    // Most groups have no sub-groups and no members left: one rmdir, no directory listing.
    match std::fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Read {
                path: dir.into(),
                source,
            });
        }
    };
    for entry in entries {
        let entry = entry.map_err(|source| Error::Read {
            path: dir.into(),
            source,
        })?;
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir {
            remove_tree(&entry.path())?;
        }
    }
    let mut last_busy = None;
    let removed = fsio::poll(DESTROY_TIMEOUT, || match std::fs::remove_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::BUSY.raw_os_error()) => {
            last_busy = Some(e);
            Ok(false)
        }
        Err(source) => Err(Error::Remove {
            path: dir.into(),
            source,
        }),
    })?;
    match (removed, last_busy) {
        (false, Some(source)) => Err(Error::Remove {
            path: dir.into(),
            source,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_validated() {
        validate_path("berth/abc").unwrap();
        validate_path("x").unwrap();
        for bad in [
            "",
            "/berth/x",
            "berth/../x",
            "berth//x",
            "berth/x/",
            "./x",
            "a\nb",
        ] {
            let err = validate_path(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidPath { .. }), "{bad:?}: {err}");
        }
    }

    #[test]
    fn load_of_a_missing_group_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let root = CgroupRoot::unified(dir.path());
        let err = Cgroup::load(&root, "berth/none").unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        use berth_common::error::HasKind;
        assert_eq!(err.kind(), berth_common::ErrorKind::NotFound);
    }

    #[test]
    fn remove_tree_tolerates_missing_and_removes_nested_dirs() {
        let dir = tempfile::tempdir().unwrap();
        remove_tree(&dir.path().join("absent")).unwrap();
        let group = dir.path().join("g");
        std::fs::create_dir_all(group.join("sub/deeper")).unwrap();
        remove_tree(&group).unwrap();
        assert!(!group.exists());
    }
}
