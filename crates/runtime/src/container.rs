//! The container lifecycle over the state directory: create, start, run, state, kill, delete,
//! pause, resume, ps and exec.
//!
//! Every operation re-reads `state.json` and derives the status from the live system, so any
//! process (the CLI, a shim, the daemon after a restart) can drive any container. `create`
//! builds bottom-up and tears down what it made if a later step fails: state dir, cgroup, then
//! the process (whose mount namespace takes every mount with it).

use crate::caps::CapSets;
use crate::error::{Error, Result};
use crate::mounts::Prepared;
use crate::namespaces::Namespaces;
use crate::plan::{self, Facts};
use crate::process::{self, CArray, Gate, Init, Spawned};
use crate::spec::{Bundle, OCI_VERSION};
use crate::state::{self, EXEC_FIFO, Record, State, Status};
use crate::user::Identity;
use crate::{hooks, rlimits, seccomp};
use berth_cgroups::devices::{DeviceKind, DeviceRule};
use berth_cgroups::resources::{Blkio, Hugepage, InterfacePriority, Rdma, Throttle, WeightDevice};
use berth_cgroups::{Cgroup, CgroupRoot, Layout, Resources};
use oci_spec::runtime::{
    Linux, LinuxBlockIo, LinuxDeviceCgroup, LinuxDeviceType, LinuxNamespace, LinuxNamespaceType,
    LinuxThrottleDevice, Process, Spec,
};
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Options shared by `create` and `run`.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// The state root (`--root`).
    pub root: PathBuf,
    /// Where to send the pty master when `process.terminal` is set.
    pub console_socket: Option<PathBuf>,
    /// A file to write the init's pid into.
    pub pid_file: Option<PathBuf>,
    /// Descriptors `3 .. 3 + preserve_fds` of the caller are passed on to the container.
    pub preserve_fds: u32,
    /// The container's init dies (SIGKILL) when the calling process does: for a supervisor
    /// such as the shim, so that no container outlives its tracker. `berth oci` leaves it off
    /// (runc's containers outlive `runc create`).
    pub die_with_parent: bool,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            root: PathBuf::from(state::DEFAULT_ROOT),
            console_socket: None,
            pid_file: None,
            preserve_fds: 0,
            die_with_parent: false,
        }
    }
}

/// Options of `exec`.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// Where to send the pty master when the process asks for a terminal.
    pub console_socket: Option<PathBuf>,
    /// A file to write the new process's pid into.
    pub pid_file: Option<PathBuf>,
    /// Return once the process runs instead of waiting for it.
    pub detach: bool,
    /// Descriptors `3 .. 3 + preserve_fds` of the caller are passed on to the process.
    pub preserve_fds: u32,
    /// The process dies (SIGKILL) when the calling process does (see [`CreateOptions`]).
    pub die_with_parent: bool,
}

/// Removes what a failed `create` made, unless disarmed.
struct Cleanup {
    dir: Option<PathBuf>,
    cgroup: Option<Cgroup>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(cg) = self.cgroup.take() {
            let _ = cg.kill_all();
            if let Err(err) = cg.destroy() {
                tracing::warn!(error = %err, "removing the cgroup of a failed create");
            }
        }
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The cgroup path of a spec: `linux.cgroupsPath` without its leading `/`, or `berth/<id>`.
pub fn cgroup_path(spec: &Spec, id: &str) -> Result<String> {
    let given = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned());
    match given {
        None => Ok(format!("berth/{id}")),
        Some(p) if p.contains(':') => Err(Error::config(
            "linux.cgroupsPath",
            format!("{p:?}: systemd slice syntax is not supported"),
        )),
        Some(p) => {
            let trimmed = p.trim_start_matches('/').to_string();
            if trimmed.is_empty() {
                Ok(format!("berth/{id}"))
            } else {
                Ok(trimmed)
            }
        }
    }
}

/// Annotation asking for Berth's built-in init (`docker run --init`): the container's PID 1
/// stays the runtime's own code, reaping orphans and forwarding signals to the program.
pub const INIT_ANNOTATION: &str = "berth.init";

/// `linux.resources` in berth-cgroups' terms: every field is carried over, so that what the
/// host cannot apply is refused there by name. The few that are accepted without effect (see
/// [`ignored_resources`]) are for the caller to warn about.
pub fn resources(linux: Option<&Linux>) -> Result<Resources> {
    let mut r = Resources::default();
    let Some(res) = linux.and_then(|l| l.resources().as_ref()) else {
        return Ok(r);
    };
    if let Some(m) = res.memory() {
        r.memory = m.limit();
        r.memory_swap = m.swap();
        r.memory_reservation = m.reservation();
        // runc's convention: -1 (which the spec's unsigned type wraps) leaves it alone.
        r.memory_swappiness = m.swappiness().filter(|s| *s != u64::MAX);
        r.oom_kill_disable = m.disable_oom_killer();
    }
    if let Some(c) = res.cpu() {
        r.cpu_shares = c.shares();
        r.cpu_quota = c.quota();
        r.cpu_period = c.period();
        r.cpuset_cpus = c.cpus().clone();
        r.cpuset_mems = c.mems().clone();
        r.cpu_rt_runtime = c.realtime_runtime();
        r.cpu_rt_period = c.realtime_period();
        r.cpu_idle = c.idle();
        r.cpu_burst = c.burst();
    }
    if let Some(p) = res.pids() {
        r.pids_limit = Some(p.limit());
    }
    if let Some(b) = res.block_io() {
        r.blkio = Some(block_io(b)?);
    }
    for (i, h) in res.hugepage_limits().iter().flatten().enumerate() {
        let limit = u64::try_from(h.limit()).map_err(|_| {
            Error::config(
                format!("linux.resources.hugepageLimits[{i}].limit"),
                format!("{} is negative", h.limit()),
            )
        })?;
        r.hugepage_limits.push(Hugepage {
            page_size: h.page_size().clone(),
            limit,
        });
    }
    if let Some(n) = res.network() {
        r.net_cls_classid = n.class_id();
        r.net_prio_ifpriomap = n
            .priorities()
            .iter()
            .flatten()
            .map(|p| InterfacePriority {
                name: p.name().clone(),
                priority: p.priority(),
            })
            .collect();
    }
    for (device, limits) in res.rdma().iter().flatten() {
        r.rdma.insert(
            device.clone(),
            Rdma {
                hca_handles: limits.hca_handles(),
                hca_objects: limits.hca_objects(),
            },
        );
    }
    for (key, value) in res.unified().iter().flatten() {
        r.unified.insert(key.clone(), value.clone());
    }
    if let Some(devices) = res.devices() {
        r.devices = Some(
            devices
                .iter()
                .enumerate()
                .map(|(i, d)| device_rule(i, d))
                .collect::<Result<_>>()?,
        );
    }
    Ok(r)
}

/// `linux.resources.blockIO`, with device numbers checked to fit the kernel's 32 bits.
fn block_io(b: &LinuxBlockIo) -> Result<Blkio> {
    let number = |field: String, what: &str, n: i64| -> Result<u32> {
        u32::try_from(n).map_err(|_| Error::config(field, format!("{what} {n} is out of range")))
    };
    let base = "linux.resources.blockIO";
    let mut weight_device = Vec::new();
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let field = || format!("{base}.weightDevice[{i}]");
        weight_device.push(WeightDevice {
            major: number(field(), "major", d.major())?,
            minor: number(field(), "minor", d.minor())?,
            weight: d.weight(),
            leaf_weight: d.leaf_weight(),
        });
    }
    let throttles =
        |name: &str, list: &Option<Vec<LinuxThrottleDevice>>| -> Result<Vec<Throttle>> {
            list.iter()
                .flatten()
                .enumerate()
                .map(|(i, t)| {
                    let field = || format!("{base}.{name}[{i}]");
                    Ok(Throttle {
                        major: number(field(), "major", t.major())?,
                        minor: number(field(), "minor", t.minor())?,
                        rate: t.rate(),
                    })
                })
                .collect()
        };
    Ok(Blkio {
        weight: b.weight(),
        leaf_weight: b.leaf_weight(),
        weight_device,
        throttle_read_bps: throttles("throttleReadBpsDevice", b.throttle_read_bps_device())?,
        throttle_write_bps: throttles("throttleWriteBpsDevice", b.throttle_write_bps_device())?,
        throttle_read_iops: throttles("throttleReadIOPSDevice", b.throttle_read_iops_device())?,
        throttle_write_iops: throttles("throttleWriteIOPSDevice", b.throttle_write_iops_device())?,
    })
}

/// The `linux.resources` fields that are accepted but have no effect on a host with `layout`,
/// each as a message naming the field and why, for the caller to warn with (`create` and the
/// shim's update): kernel memory limits, which the kernel deprecated and runc ignores too;
/// hierarchy and pre-update checks Berth does not implement; and v1-only knobs on cgroup v2
/// ([`Resources::ignored_on`]). Everything else is applied or refused, never dropped silently.
pub fn ignored_resources(
    linux: Option<&Linux>,
    resources: &Resources,
    layout: Layout,
) -> Vec<String> {
    let mut ignored = Vec::new();
    if let Some(m) = linux
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.memory().as_ref())
    {
        let kmem = "kernel memory limits are deprecated by the kernel and not applied (as in runc)";
        if m.kernel().is_some() {
            ignored.push(format!("linux.resources.memory.kernel is ignored: {kmem}"));
        }
        if m.kernel_tcp().is_some() {
            ignored.push(format!(
                "linux.resources.memory.kernelTCP is ignored: {kmem}"
            ));
        }
        if m.use_hierarchy() == Some(false) {
            ignored.push(
                "linux.resources.memory.useHierarchy is ignored: current kernels always account \
                 memory hierarchically"
                    .to_string(),
            );
        }
        if m.check_before_update() == Some(true) {
            ignored.push(
                "linux.resources.memory.checkBeforeUpdate is ignored: Berth does not compare the \
                 usage with a new limit before writing it (the kernel reclaims or refuses)"
                    .to_string(),
            );
        }
    }
    ignored.extend(resources.ignored_on(layout).iter().map(ToString::to_string));
    ignored
}

/// One `linux.resources.devices` entry as a cgroup device rule; a missing type means all
/// devices and missing numbers any number, as the runtime spec says.
fn device_rule(index: usize, d: &LinuxDeviceCgroup) -> Result<DeviceRule> {
    let at = || format!("linux.resources.devices[{index}]");
    let kind = match d.typ() {
        None | Some(LinuxDeviceType::A) => DeviceKind::All,
        Some(LinuxDeviceType::B) => DeviceKind::Block,
        Some(LinuxDeviceType::C | LinuxDeviceType::U) => DeviceKind::Char,
        Some(LinuxDeviceType::P) => {
            return Err(Error::config(
                at(),
                "a FIFO (type p) has no device cgroup rule",
            ));
        }
    };
    let number = |n: Option<i64>, what: &str| -> Result<Option<u32>> {
        match n {
            None | Some(-1) => Ok(None),
            Some(v) => u32::try_from(v)
                .map(Some)
                .map_err(|_| Error::config(at(), format!("{what} {v} is out of range"))),
        }
    };
    let access = d.access().as_deref().unwrap_or("");
    Ok(DeviceRule {
        allow: d.allow(),
        kind,
        major: number(d.major(), "major")?,
        minor: number(d.minor(), "minor")?,
        access: DeviceRule::parse_access(access)
            .ok_or_else(|| Error::config(at(), format!("access {access:?}: use r, w and m")))?,
    })
}

/// The container's group directories for the `/sys/fs/cgroup` mount: where
/// [`Cgroup::create`] will make them (the child binds them only after the parent has).
fn cgroup_dirs(root: &CgroupRoot, path: &str) -> Vec<(String, PathBuf)> {
    if !root.layout().is_v1() {
        return root
            .unified_mount()
            .map(|m| vec![(String::new(), m.join(path))])
            .unwrap_or_default();
    }
    let mut dirs: Vec<(String, PathBuf)> = root
        .v1_hierarchies()
        .into_iter()
        .chain(root.unified_mount().map(|m| (m.to_path_buf(), Vec::new())))
        .filter_map(|(mount, _)| {
            let name = mount.file_name()?.to_string_lossy().into_owned();
            Some((name, mount.join(path)))
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Opens the group's cgroup2 directory for `CLONE_INTO_CGROUP`, making it first if needed;
/// `None` (the parent then moves the process) when there is none or it cannot be made.
fn open_cgroup_dir(cgroup: &Cgroup) -> Option<OwnedFd> {
    let dir = cgroup.prepare_unified().ok().flatten()?;
    let file = std::fs::File::open(&dir).ok()?;
    Some(file.into())
}

/// The group's v1 `tasks` files as C strings, for the child to join them (`CgroupJoin`).
fn task_files(cgroup: &Cgroup) -> Vec<CString> {
    cgroup
        .v1_task_files()
        .iter()
        .map(|p| cstring(p.as_os_str().as_bytes()))
        .collect()
}

/// The bits of the `tasks` files in `tasks` whose group does not exist: optional hierarchies
/// `Cgroup::create` could not make a group in (it says so in the log), for the container's
/// process to skip. Every other join must succeed.
fn skipped_groups(tasks: &[CString]) -> u32 {
    tasks
        .iter()
        .take(32)
        .enumerate()
        .filter(|(_, t)| {
            let path = Path::new(std::ffi::OsStr::from_bytes(t.as_bytes()));
            path.parent().is_some_and(|dir| !dir.exists())
        })
        .fold(0, |mask, (i, _)| mask | 1 << i)
}

fn cstring(s: impl AsRef<[u8]>) -> CString {
    let bytes = s.as_ref();
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    CString::new(&bytes[..end]).unwrap_or_default()
}

/// The process-level part of an [`Init`], shared by `create` and `exec`.
fn process_init(
    process: &Process,
    linux: Option<&Linux>,
    ns: Namespaces,
    console_socket: Option<&Path>,
) -> Result<Init> {
    let args = process.args().clone().unwrap_or_default();
    let env = process.env().clone().unwrap_or_default();
    let console = if process.terminal().unwrap_or(false) {
        let path = console_socket.ok_or_else(|| {
            Error::config("process.terminal", "a terminal needs --console-socket")
        })?;
        Some(crate::console::connect(path)?)
    } else {
        None
    };
    let user = process.user();
    Ok(Init {
        ns,
        oom_score_adj: process.oom_score_adj().map(|v| cstring(v.to_string())),
        rlimits: rlimits::prepare(process.rlimits().as_deref().unwrap_or_default()),
        caps: process.capabilities().as_ref().map(|c| {
            let mut sets = CapSets::from_spec(c);
            for cap in sets.drop_unraisable_ambient() {
                crate::warn::warn(format_args!(
                    "can't raise ambient capability {}: it is not in both the permitted and \
                     the inheritable set",
                    crate::caps::NAMES.get(cap as usize).unwrap_or(&"?")
                ));
            }
            sets
        }),
        no_new_privs: process.no_new_privileges().unwrap_or(false),
        seccomp: linux
            .and_then(|l| l.seccomp().as_ref())
            .map(seccomp::compile)
            .transpose()?,
        identity: Identity {
            uid: user.uid(),
            gid: user.gid(),
            groups: user.additional_gids().clone().unwrap_or_default(),
        },
        umask: user.umask(),
        cwd: cstring(process.cwd().as_os_str().as_bytes()),
        exec_candidates: process::exec_candidates(
            args.first().map(String::as_str).unwrap_or(""),
            &env,
        ),
        argv: CArray::new(&args),
        envp: CArray::new(&env),
        console,
        console_size: process
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16)),
        ..Init::default()
    })
}

/// A created container: its record, and (when this process made it) the spawned init.
struct Created {
    record: Record,
    spawned: Spawned,
    init: Init,
    /// The container's groups, kept for `run`'s own delete.
    cgroup: Option<Cgroup>,
    /// The `poststart` hooks, kept for `run` (`start` re-reads them from the bundle).
    poststart: Vec<oci_spec::runtime::Hook>,
}

/// The hooks of a spec that run during creation, while the init waits before `pivot_root`
/// (see [`spawn_init`]).
struct CreationHooks {
    /// The deprecated `prestart`, in the runtime's namespaces.
    prestart: Vec<oci_spec::runtime::Hook>,
    /// `createRuntime`, in the runtime's namespaces.
    create_runtime: Vec<oci_spec::runtime::Hook>,
    /// `createContainer`, in the container's.
    create_container: Vec<oci_spec::runtime::Hook>,
}

impl CreationHooks {
    /// Whether there is no hook to run at all (the init then does not stop for them).
    fn is_empty(&self) -> bool {
        self.prestart.is_empty()
            && self.create_runtime.is_empty()
            && self.create_container.is_empty()
    }
}

/// Creation step: the hooks the init stops for before `pivot_root`, read from the spec.
fn creation_hooks(spec: &Spec) -> CreationHooks {
    let hook_list =
        |pick: fn(&oci_spec::runtime::Hooks) -> &Option<Vec<oci_spec::runtime::Hook>>| {
            spec.hooks()
                .as_ref()
                .and_then(|h| pick(h).clone())
                .unwrap_or_default()
        };
    CreationHooks {
        prestart: hook_list(|h| h.prestart()),
        create_runtime: hook_list(|h| h.create_runtime()),
        create_container: hook_list(|h| h.create_container()),
    }
}

/// Creation step: the container's state directory (and the root above it), refused with
/// [`Error::Exists`] when a container of that id has one already.
fn make_state_dir(root: &Path, dir: &Path, id: &str) -> Result<()> {
    std::fs::create_dir_all(root).map_err(|e| Error::io("creating", root, e))?;
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(Error::Exists(id.to_string()))
        }
        Err(e) => Err(Error::io("creating", dir, e)),
    }
}

/// Creation step: the [`Init`] of a new container's process from its bundle: the mount plan,
/// the namespaces, the process part ([`process_init`]), then the host and domain names and
/// the sysctls.
fn container_init(
    bundle: &Bundle,
    process: &Process,
    namespaces: &[LinuxNamespace],
    cg_root: &CgroupRoot,
    cg_path: &str,
    console_socket: Option<&Path>,
) -> Result<Init> {
    let spec = &bundle.spec;
    let linux = spec.linux().as_ref();
    let facts = Facts {
        bundle: bundle.dir.clone(),
        cgroup_dirs: cgroup_dirs(cg_root, cg_path),
    };
    let mount_plan = plan::plan(spec, &facts).map_err(|e| Error::config("mounts", e))?;
    let ns = Namespaces::from_spec(namespaces)?;
    let new_user = ns.new_user();
    let joined_user = ns.join.iter().any(|j| j.flag == libc::CLONE_NEWUSER);
    let mut init = process_init(process, linux, ns, console_socket)?;
    init.user_ns_root = new_user || joined_user;
    init.hostname = spec
        .hostname()
        .as_ref()
        .filter(|h| !h.is_empty())
        .map(cstring);
    init.domainname = spec
        .domainname()
        .as_ref()
        .filter(|h| !h.is_empty())
        .map(cstring);
    init.mounts = Some(Prepared::new(&bundle.rootfs, &mount_plan));
    init.sysctls = linux
        .and_then(|l| l.sysctl().as_ref())
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            (
                cstring(format!("/proc/sys/{}", k.replace('.', "/"))),
                cstring(v),
            )
        })
        .collect();
    Ok(init)
}

/// Creation step: how the process gets into its `planned` groups. It joins them itself (see
/// `process::CgroupJoin`) unless it gets a new user namespace, whose root may not write the
/// host's cgroup files; and it is cloned straight into its cgroup2 group, made now for that.
fn place_in_cgroup(init: &mut Init, planned: &Cgroup) {
    if !init.user_ns_root {
        init.cgroup_join = process::CgroupJoin::WhenMade;
        init.cgroup_tasks = task_files(planned);
    }
    init.cgroup_dir = open_cgroup_dir(planned);
}

/// Creation step (`create`, or `run` with `startContainer` hooks): the exec FIFO in the state
/// directory `dir`, where the init waits for `start`, as the [`Gate`] the init opens.
fn make_start_gate(dir: &Path, linux: Option<&Linux>, new_user: bool) -> Result<Gate> {
    let fifo = dir.join(EXEC_FIFO);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .map_err(|e| Error::io("creating", &fifo, e.into()))?;
    // The init opens it for writing as the container's user, after its identity and
    // capabilities changed: writable by others (as runc makes it), owned by the container's
    // root in a new user namespace. Only the runtime (root) reads it.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o622))
        .map_err(|e| Error::io("setting the mode of", &fifo, e))?;
    if new_user {
        let host_id = |maps: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>| {
            maps.into_iter()
                .flatten()
                .find_map(|m| (m.container_id() == 0).then_some(m.host_id()))
        };
        let uid = host_id(linux.and_then(|l| l.uid_mappings().as_ref()));
        let gid = host_id(linux.and_then(|l| l.gid_mappings().as_ref()));
        std::os::unix::fs::chown(&fifo, uid, gid)
            .map_err(|e| Error::io("giving the container's root", &fifo, e))?;
    }
    let dirfd: OwnedFd = std::fs::File::open(dir)
        .map_err(|e| Error::io("opening", dir, e))?
        .into();
    Ok(Gate {
        dir: dirfd,
        name: cstring(EXEC_FIFO),
    })
}

/// Creation step: the container's record before its process exists (status `creating`,
/// no pid yet).
fn initial_record(
    id: &str,
    bundle: &Bundle,
    cg_path: &str,
    namespaces: &[LinuxNamespace],
) -> Record {
    let spec = &bundle.spec;
    Record {
        state: State {
            oci_version: OCI_VERSION.to_string(),
            id: id.to_string(),
            pid: 0,
            status: Status::Creating,
            bundle: bundle.dir.clone(),
            rootfs: bundle.rootfs.clone(),
            created: state::now_rfc3339(),
            owner: String::new(),
            annotations: spec
                .annotations()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
        },
        cgroup_path: cg_path.to_string(),
        start_time: 0,
        poststop: spec
            .hooks()
            .as_ref()
            .and_then(|h| h.poststop().clone())
            .unwrap_or_default(),
        namespaces: namespaces
            .iter()
            .map(|n| {
                let path = n.path().as_ref().map(|p| p.to_string_lossy().into_owned());
                (n.typ().to_string(), path.unwrap_or_default())
            })
            .collect(),
    }
}

/// Creation step: clones the init and drives it through its set-up: the id maps of a new user
/// namespace, the groups made (and joined) while it mounts, and the creation hooks when it
/// asks for them (given `state` with its pid). Returns the process and the groups made.
fn spawn_init(
    init: &Init,
    linux: Option<&Linux>,
    cg_root: &CgroupRoot,
    cg_path: &str,
    resources: &Resources,
    hooks: &CreationHooks,
    state: &State,
) -> Result<(Spawned, Option<Cgroup>)> {
    let new_user = init.ns.new_user();
    let uid_maps = linux
        .and_then(|l| l.uid_mappings().clone())
        .unwrap_or_default();
    let gid_maps = linux
        .and_then(|l| l.gid_mappings().clone())
        .unwrap_or_default();
    let mut on_created = |pid: i32| -> Result<()> {
        if new_user {
            crate::user::write_id_maps(pid, &uid_maps, &gid_maps)?;
        }
        Ok(())
    };
    // The groups are made while the child sets up its first mounts (it waits for them before
    // binding them, see `plan::MountPlan::cgroup_ops_start`).
    let mut made_cgroup: Option<Cgroup> = None;
    let child_joins_v1 = init.cgroup_join != process::CgroupJoin::Parent;
    let child_tasks = init.cgroup_tasks.clone();
    let mut on_setup = |pid: i32, in_unified: bool| -> Result<u32> {
        let cgroup = Cgroup::create(cg_root, cg_path, resources)?;
        made_cgroup = Some(cgroup.clone());
        cgroup.add_process_to(pid as u32, !child_joins_v1, !in_unified)?;
        Ok(skipped_groups(&child_tasks))
    };
    let hook_state = state.clone();
    let mut on_hooks = |pid: i32| -> Result<()> {
        let mut s = hook_state.clone();
        s.pid = pid;
        let json = serde_json::to_string(&s).unwrap_or_default();
        // The deprecated `prestart` first, in the runtime's namespaces, then `createRuntime`
        // there too, then `createContainer` in the container's (still before `pivot_root`).
        hooks::run("prestart", &hooks.prestart, &json)?;
        hooks::run("createRuntime", &hooks.create_runtime, &json)?;
        hooks::run_in_container("createContainer", &hooks.create_container, &json, pid)
    };
    let callbacks = process::Callbacks {
        created: &mut on_created,
        setup: &mut on_setup,
        hooks: &mut on_hooks,
    };
    let spawned = process::spawn(init, callbacks)?;
    Ok((spawned, made_cgroup))
}

/// Creation step: records the spawned init (pid, start time, `created` or `running`) in the
/// state directory `dir` and the pid file; kills it if that fails.
fn record_spawned(
    dir: &Path,
    record: &mut Record,
    spawned: &Spawned,
    gate: bool,
    opts: &CreateOptions,
) -> Result<()> {
    record.state.pid = spawned.pid;
    record.start_time = state::proc_stat(spawned.pid).map(|(t, _)| t).unwrap_or(0);
    record.state.status = if gate {
        Status::Created
    } else {
        Status::Running
    };
    let saved = state::save(dir, record).and_then(|()| match &opts.pid_file {
        Some(path) => {
            std::fs::write(path, spawned.pid.to_string()).map_err(|e| Error::io("writing", path, e))
        }
        None => Ok(()),
    });
    if let Err(err) = saved {
        process::kill_and_reap(spawned.pid);
        return Err(err);
    }
    Ok(())
}

/// Creates the container: everything is judged from the bundle first, then made bottom-up
/// (state dir, cgroup, process), each undone by [`Cleanup`] if a later step fails. With
/// `gate` the init waits at the exec FIFO for `start`.
fn create_inner(id: &str, bundle_dir: &Path, opts: &CreateOptions, gate: bool) -> Result<Created> {
    let dir = state::dir(&opts.root, id)?;
    let bundle = Bundle::load(bundle_dir)?;
    let spec = &bundle.spec;
    let linux = spec.linux().as_ref();
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::config("process", "missing"))?;
    let cg_path = cgroup_path(spec, id)?;
    let resources = resources(linux)?;
    resources.validate()?;
    let namespaces: Vec<LinuxNamespace> = linux
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    // Everything judged from the document is settled; now make things, undoing on failure.
    make_state_dir(&opts.root, &dir, id)?;
    let mut cleanup = Cleanup {
        dir: Some(dir.clone()),
        cgroup: None,
    };
    let cg_root = CgroupRoot::detect()?;
    for ignored in ignored_resources(linux, &resources, cg_root.layout()) {
        crate::warn::warn(ignored);
    }

    let mut init = container_init(
        &bundle,
        process,
        &namespaces,
        &cg_root,
        &cg_path,
        opts.console_socket.as_deref(),
    )?;
    let new_user = init.ns.new_user();
    let creation_hooks = creation_hooks(spec);
    init.hooks_sync = !creation_hooks.is_empty();
    let planned = Cgroup::planned(&cg_root, &cg_path)?;
    cleanup.cgroup = Some(planned.clone());
    place_in_cgroup(&mut init, &planned);
    init.preserve_fds = opts.preserve_fds;
    init.die_with_parent = opts.die_with_parent;
    init.reaper = spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get(INIT_ANNOTATION))
        .is_some_and(|v| v == "true");
    if gate {
        init.gate = Some(make_start_gate(&dir, linux, new_user)?);
    }

    let mut record = initial_record(id, &bundle, &cg_path, &namespaces);
    let (spawned, made_cgroup) = spawn_init(
        &init,
        linux,
        &cg_root,
        &cg_path,
        &resources,
        &creation_hooks,
        &record.state,
    )?;
    record_spawned(&dir, &mut record, &spawned, gate, opts)?;
    cleanup.dir = None;
    cleanup.cgroup = None;
    init.cgroup_dir = None;
    Ok(Created {
        record,
        spawned,
        init,
        cgroup: made_cgroup,
        poststart: spec
            .hooks()
            .as_ref()
            .and_then(|h| h.poststart().clone())
            .unwrap_or_default(),
    })
}

/// `create`: sets the container up and leaves its init waiting for [`start`]. Returns the
/// state (status `created`).
pub fn create(id: &str, bundle: &Path, opts: &CreateOptions) -> Result<State> {
    let created = create_inner(id, bundle, opts, true)?;
    Ok(created.record.state)
}

/// `run`: create and start at once, without the FIFO round trip. With `detach` it returns 0
/// as soon as the process runs; otherwise it waits, deletes the container and returns the
/// exit code (128 + signal for a killed process, as a shell reports it).
pub fn run(id: &str, bundle: &Path, opts: &CreateOptions, detach: bool) -> Result<i32> {
    // `startContainer` hooks must run after pivot_root and before the user's program: the
    // init then waits at the FIFO, as for create + start.
    let gate = Bundle::load(bundle)?
        .spec
        .hooks()
        .as_ref()
        .is_some_and(|h| h.start_container().as_ref().is_some_and(|l| !l.is_empty()));
    let created = create_inner(id, bundle, opts, gate)?;
    if gate && let Err(err) = release(&opts.root, id, &created.record) {
        process::reap(created.spawned.pid);
        let _ = delete(&opts.root, id, true);
        return Err(err);
    }
    if let Err(err) = created.spawned.wait_exec(&created.init) {
        process::reap(created.spawned.pid);
        let _ = delete(&opts.root, id, true);
        return Err(err);
    }
    run_poststart(&created.poststart, &created.record);
    if detach {
        return Ok(0);
    }
    let status = process::reap_forwarding_signals(created.spawned.pid);
    let own_pid_ns = created.init.ns.new_pid();
    remove_stopped(&opts.root, &created.record, created.cgroup, !own_pid_ns)?;
    Ok(process::exit_code(status))
}

/// The hooks `pick` chooses from the bundle's config.json, read again at `start` (the record
/// does not keep them); none when the bundle is gone.
fn bundle_hooks(
    record: &Record,
    pick: fn(&oci_spec::runtime::Hooks) -> &Option<Vec<oci_spec::runtime::Hook>>,
) -> Result<Vec<oci_spec::runtime::Hook>> {
    let config = record.state.bundle.join("config.json");
    let Ok(text) = std::fs::read_to_string(&config) else {
        return Ok(Vec::new());
    };
    let spec = crate::spec::parse(&text)?;
    Ok(spec
        .hooks()
        .as_ref()
        .and_then(|h| pick(h).clone())
        .unwrap_or_default())
}

/// The `poststart` hooks, with the state as `running`: every one runs, a failure warns.
fn run_poststart(list: &[oci_spec::runtime::Hook], record: &Record) {
    if list.is_empty() {
        return;
    }
    let mut s = record.state.clone();
    s.status = Status::Running;
    hooks::run_all_warn(
        "poststart",
        list,
        &serde_json::to_string(&s).unwrap_or_default(),
    );
}

/// Waits for the container's init to exit. When this process is its parent (it called
/// `create` or a detached `run` itself, as a shim does) the exit code is returned; otherwise
/// the status is polled until `stopped` and the code is unknown (`None`).
pub fn wait(root: &Path, id: &str) -> Result<Option<i32>> {
    let record = state::load(root, id)?;
    let pid = record.state.pid;
    let ours = state::proc_stat(pid).is_some_and(|(start, _)| start == record.start_time);
    if pid > 0 && ours {
        let raw = process::reap(pid);
        if raw != -1 {
            return Ok(Some(process::exit_code(raw)));
        }
    }
    while status(root, &record) != Status::Stopped {
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(None)
}

/// The live status of a recorded container (see the module docs of [`crate::state`]).
pub fn status(root: &Path, record: &Record) -> Status {
    let pid = record.state.pid;
    if pid <= 0 {
        return Status::Stopped;
    }
    match state::proc_stat(pid) {
        Some((start, st)) if start == record.start_time && st != 'Z' && st != 'X' => {}
        Some((start, _)) if start == record.start_time => {
            // Our own exited child: reap it so it does not linger as a zombie.
            // SAFETY: non-blocking wait on a specific pid with a valid out-pointer.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
            return Status::Stopped;
        }
        _ => return Status::Stopped,
    }
    let dir = root.join(&record.state.id);
    if dir.join(EXEC_FIFO).exists() {
        return Status::Created;
    }
    if let Ok(cg) = load_cgroup(record)
        && cg.is_frozen().unwrap_or(false)
    {
        return Status::Paused;
    }
    Status::Running
}

fn load_cgroup(record: &Record) -> Result<Cgroup> {
    Ok(Cgroup::load(&CgroupRoot::detect()?, &record.cgroup_path)?)
}

/// `state`: the public state with the live status (pid 0 once stopped, as runc prints).
pub fn state(root: &Path, id: &str) -> Result<State> {
    let record = state::load(root, id)?;
    let status = status(root, &record);
    let mut s = record.state;
    s.status = status;
    if status == Status::Stopped {
        s.pid = 0;
    }
    Ok(s)
}

/// `start`: releases a created container's init into the user's program.
pub fn start(root: &Path, id: &str) -> Result<()> {
    let record = state::load(root, id)?;
    match status(root, &record) {
        Status::Created => {}
        Status::Stopped => {
            return Err(Error::State(
                "cannot start a container that has stopped".into(),
            ));
        }
        _ => {
            return Err(Error::State(
                "cannot start an already running container".into(),
            ));
        }
    }
    release(root, id, &record)?;
    run_poststart(&bundle_hooks(&record, |h| h.poststart())?, &record);
    Ok(())
}

/// Lets a created container's init go on into the user's program: the `startContainer`
/// hooks first (in the container's namespaces, while the init waits at the FIFO; a failing one
/// kills the init, as the spec asks), then the FIFO is opened and its byte taken.
fn release(root: &Path, id: &str, record: &Record) -> Result<()> {
    let start_hooks = bundle_hooks(record, |h| h.start_container())?;
    if !start_hooks.is_empty() {
        let mut s = record.state.clone();
        s.status = Status::Created;
        let json = serde_json::to_string(&s).unwrap_or_default();
        if let Err(err) =
            hooks::run_in_container("startContainer", &start_hooks, &json, record.state.pid)
        {
            // SAFETY: signalling the container's init, ours to stop.
            unsafe { libc::kill(record.state.pid, libc::SIGKILL) };
            return Err(err);
        }
    }
    let fifo = root.join(id).join(EXEC_FIFO);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .map_err(|e| Error::io("opening", &fifo, e))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut pfd = libc::pollfd {
            fd: file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, 50) };
        if n > 0 && pfd.revents & libc::POLLIN != 0 {
            let mut b = [0u8; 1];
            // SAFETY: reading one byte into a local buffer.
            unsafe { libc::read(file.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
            break;
        }
        if status(root, record) == Status::Stopped {
            let _ = std::fs::remove_file(&fifo);
            return Err(Error::State(
                "cannot start a container that has stopped".into(),
            ));
        }
        if Instant::now() > deadline {
            return Err(Error::Init(
                "timed out waiting for the init to take the start".into(),
            ));
        }
    }
    std::fs::remove_file(&fifo).map_err(|e| Error::io("removing", &fifo, e))
}

use std::os::unix::fs::OpenOptionsExt;

/// `kill`: sends `signal` to the init, or with `all` to every process of the container.
pub fn kill(root: &Path, id: &str, signal: i32, all: bool) -> Result<()> {
    let record = state::load(root, id)?;
    if status(root, &record) == Status::Stopped {
        return Err(Error::State("container not running".into()));
    }
    let pids = if all {
        load_cgroup(&record)?
            .pids()?
            .into_iter()
            .map(|p| p as i32)
            .collect()
    } else {
        vec![record.state.pid]
    };
    for pid in pids {
        // SAFETY: sending a signal to a pid; errors are checked.
        if unsafe { libc::kill(pid, signal) } < 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::ESRCH) {
                return Err(Error::Sys {
                    step: format!("sending signal {signal} to {pid}"),
                    source: err,
                });
            }
        }
    }
    Ok(())
}

/// `delete`: removes a stopped (or created) container: its processes, cgroup and state.
/// A running or paused one needs `force`, which kills it first. Runs the `poststop` hooks.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let record = state::load(root, id)?;
    let st = status(root, &record);
    match st {
        Status::Stopped | Status::Created => {}
        _ if force => {}
        other => {
            return Err(Error::State(format!(
                "cannot delete container {id} that is not stopped: {other}"
            )));
        }
    }
    let cgroup = load_cgroup(&record).ok();
    if st != Status::Stopped {
        if let Some(cg) = &cgroup {
            let _ = cg.thaw();
            let _ = cg.kill_all();
        }
        // SAFETY: signalling the recorded init (verified by start time in `status`).
        unsafe { libc::kill(record.state.pid, libc::SIGKILL) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while status(root, &record) != Status::Stopped && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    remove_stopped(root, &record, cgroup, true)
}

/// What a `create` killed half-way leaves without a state file: a state directory, the cgroup
/// `cgroup_path` and maybe processes in it. Kills them and removes both; nothing there is not
/// an error.
pub fn delete_leftovers(root: &Path, id: &str, cgroup_path: &str) -> Result<()> {
    let dir = state::dir(root, id)?;
    // `planned`, not `load`: a group made in only some hierarchies is still removed from them.
    let cg = Cgroup::planned(&CgroupRoot::detect()?, cgroup_path)?;
    let _ = cg.thaw();
    let _ = cg.kill_all();
    cg.destroy()?;
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("removing", &dir, e)),
    }
}

/// The end of every delete: the cgroup (after killing what is left in it, unless the caller
/// knows nothing can be: an init reaped in its own pid namespace takes every member with it),
/// the `poststop` hooks, the state directory.
fn remove_stopped(
    root: &Path,
    record: &Record,
    cgroup: Option<Cgroup>,
    kill_members: bool,
) -> Result<()> {
    if let Some(cg) = cgroup {
        if kill_members {
            let _ = cg.kill_all();
        }
        cg.destroy()?;
    }
    if !record.poststop.is_empty() {
        let mut s = record.state.clone();
        s.status = Status::Stopped;
        let json = serde_json::to_string(&s).unwrap_or_default();
        hooks::run_all_warn("poststop", &record.poststop, &json);
    }
    let dir = state::dir(root, &record.state.id)?;
    std::fs::remove_dir_all(&dir).map_err(|e| Error::io("removing", &dir, e))
}

/// `pause`: freezes every process of a running container.
pub fn pause(root: &Path, id: &str) -> Result<()> {
    let record = state::load(root, id)?;
    match status(root, &record) {
        Status::Running => Ok(load_cgroup(&record)?.freeze()?),
        other => Err(Error::State(format!("container not running: {other}"))),
    }
}

/// `resume`: thaws a paused container.
pub fn resume(root: &Path, id: &str) -> Result<()> {
    let record = state::load(root, id)?;
    match status(root, &record) {
        Status::Paused => Ok(load_cgroup(&record)?.thaw()?),
        _ => Err(Error::State("container not paused".into())),
    }
}

/// `ps`: the host pids of every process in the container.
pub fn ps(root: &Path, id: &str) -> Result<Vec<u32>> {
    let record = state::load(root, id)?;
    if status(root, &record) == Status::Stopped {
        return Ok(Vec::new());
    }
    Ok(load_cgroup(&record)?.pids()?)
}

/// `exec`: runs `process` inside a running container: joins its namespaces (pid around the
/// `clone`, the others in the child, user first) and its cgroup, then applies the process's own
/// capabilities, user and the container's seccomp filter. Returns the exit code, or 0 at once
/// with `detach`.
pub fn exec(root: &Path, id: &str, process: &Process, opts: &ExecOptions) -> Result<i32> {
    let (pid, code) = exec_inner(root, id, process, opts)?;
    Ok(if opts.detach {
        let _ = pid;
        0
    } else {
        code
    })
}

/// [`exec`] with `detach` (whatever `opts` says): returns the new process's pid once it runs,
/// without a pid file (a supervisor that reaps it itself needs no file on a full disk).
pub fn exec_detached(root: &Path, id: &str, process: &Process, opts: &ExecOptions) -> Result<i32> {
    let mut opts = opts.clone();
    opts.detach = true;
    Ok(exec_inner(root, id, process, &opts)?.0)
}

/// Runs the exec; returns its pid and, unless detached, its exit code.
fn exec_inner(root: &Path, id: &str, process: &Process, opts: &ExecOptions) -> Result<(i32, i32)> {
    let record = state::load(root, id)?;
    match status(root, &record) {
        Status::Running | Status::Created => {}
        other => {
            return Err(Error::State(format!("cannot exec in a {other} container")));
        }
    }
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::config(
            "process.args",
            "must name the program to run",
        ));
    }
    let pid = record.state.pid;
    let list: Vec<LinuxNamespace> = record
        .namespaces
        .iter()
        .filter_map(|(typ, path)| {
            let t = LinuxNamespaceType::try_from(typ.as_str()).ok()?;
            let path = if path.is_empty() {
                format!("/proc/{pid}/ns/{t}")
            } else {
                path.clone()
            };
            let mut ns = LinuxNamespace::default();
            ns.set_typ(t);
            ns.set_path(Some(PathBuf::from(path)));
            Some(ns)
        })
        .collect();
    let ns = Namespaces::from_spec(&list)?;
    // The container's seccomp profile applies to exec'd processes too.
    let config = record.state.bundle.join("config.json");
    let spec = std::fs::read_to_string(&config)
        .ok()
        .map(|t| crate::spec::parse(&t))
        .transpose()?;
    let linux = spec.as_ref().and_then(|s| s.linux().as_ref());
    let mut init = process_init(process, linux, ns, opts.console_socket.as_deref())?;
    init.user_ns_root = false;
    init.preserve_fds = opts.preserve_fds;
    init.die_with_parent = opts.die_with_parent;
    let cgroup = load_cgroup(&record).ok();
    if let Some(cg) = &cgroup {
        // The exec'd process joins the v1 groups by itself before entering the container's
        // namespaces (see `process::CgroupJoin`), and starts in the cgroup2 one.
        init.cgroup_join = process::CgroupJoin::AtStart;
        // Only the groups the container has: an optional hierarchy skipped at create is
        // skipped here too; any other failure to join fails the exec.
        init.cgroup_tasks = task_files(cg);
        let skip = skipped_groups(&init.cgroup_tasks);
        init.cgroup_tasks = std::mem::take(&mut init.cgroup_tasks)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| *i >= 32 || skip & (1 << i) == 0)
            .map(|(_, t)| t)
            .collect();
        init.cgroup_dir = open_cgroup_dir(cg);
    }
    let mut on_setup = |child: i32, in_unified: bool| -> Result<u32> {
        if let Some(cg) = &cgroup
            && !in_unified
        {
            cg.add_process_to(child as u32, false, true)?;
        }
        Ok(0)
    };
    let callbacks = process::Callbacks {
        created: &mut |_| Ok(()),
        setup: &mut on_setup,
        hooks: &mut |_| Ok(()),
    };
    let spawned = process::spawn(&init, callbacks)?;
    if let Err(err) = spawned.wait_exec(&init) {
        process::reap(spawned.pid);
        return Err(err);
    }
    if let Some(path) = &opts.pid_file {
        std::fs::write(path, spawned.pid.to_string()).map_err(|e| Error::io("writing", path, e))?;
    }
    if opts.detach {
        return Ok((spawned.pid, 0));
    }
    Ok((spawned.pid, process::exit_code(process::reap(spawned.pid))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux(resources: serde_json::Value) -> Linux {
        serde_json::from_value(serde_json::json!({ "resources": resources })).unwrap()
    }

    #[test]
    fn every_resource_field_is_carried_over() {
        let l = linux(serde_json::json!({
            "memory": {"limit": 67108864, "swappiness": 0, "disableOOMKiller": true},
            "cpu": {"realtimeRuntime": 950000, "realtimePeriod": 1000000, "idle": 1, "burst": 10},
            "blockIO": {
                "weight": 300,
                "leafWeight": 500,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 200, "leafWeight": 100}],
                "throttleReadBpsDevice": [{"major": 254, "minor": 0, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{"major": 254, "minor": 0, "rate": 100}]
            },
            "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
            "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
            "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}},
            "unified": {"memory.high": "1000000"}
        }));
        let r = resources(Some(&l)).unwrap();
        assert_eq!(r.memory_swappiness, Some(0));
        assert_eq!(r.oom_kill_disable, Some(true));
        assert_eq!(
            (r.cpu_rt_runtime, r.cpu_rt_period, r.cpu_idle, r.cpu_burst),
            (Some(950_000), Some(1_000_000), Some(1), Some(10))
        );
        let b = r.blkio.as_ref().unwrap();
        assert_eq!((b.weight, b.leaf_weight), (Some(300), Some(500)));
        assert_eq!(
            b.weight_device,
            vec![WeightDevice {
                major: 8,
                minor: 0,
                weight: Some(200),
                leaf_weight: Some(100)
            }]
        );
        assert_eq!(b.throttle_read_bps[0].rate, 1_048_576);
        assert_eq!(b.throttle_write_iops[0].rate, 100);
        assert!(b.throttle_write_bps.is_empty());
        assert_eq!(
            r.hugepage_limits,
            vec![Hugepage {
                page_size: "2MB".into(),
                limit: 4_194_304
            }]
        );
        assert_eq!(r.net_cls_classid, Some(1_048_577));
        assert_eq!(r.net_prio_ifpriomap[0].name, "eth0");
        assert_eq!(r.rdma["mlx5_1"].hca_objects, Some(10_000));
        assert_eq!(r.unified["memory.high"], "1000000");
    }

    #[test]
    fn out_of_range_numbers_name_the_field() {
        let l = linux(serde_json::json!({
            "blockIO": {"throttleReadIOPSDevice": [{"major": 1, "minor": 0, "rate": 1},
                                                   {"major": -1, "minor": 0, "rate": 1}]}
        }));
        let err = resources(Some(&l)).unwrap_err().to_string();
        assert!(
            err.contains("linux.resources.blockIO.throttleReadIOPSDevice[1]: major -1"),
            "{err}"
        );
        let l = linux(serde_json::json!({"hugepageLimits": [{"pageSize": "2MB", "limit": -5}]}));
        let err = resources(Some(&l)).unwrap_err().to_string();
        assert!(
            err.contains("linux.resources.hugepageLimits[0].limit: -5 is negative"),
            "{err}"
        );
    }

    #[test]
    fn unapplied_fields_are_reported() {
        let l = linux(serde_json::json!({
            "memory": {"kernel": 1, "kernelTCP": 1, "useHierarchy": false,
                       "checkBeforeUpdate": true, "swappiness": 5}
        }));
        let r = resources(Some(&l)).unwrap();
        let v1 = ignored_resources(Some(&l), &r, Layout::Hybrid);
        assert_eq!(v1.len(), 4, "{v1:?}");
        assert!(v1[0].starts_with("linux.resources.memory.kernel is ignored"));
        assert!(v1[1].starts_with("linux.resources.memory.kernelTCP is ignored"));
        assert!(v1[2].starts_with("linux.resources.memory.useHierarchy is ignored"));
        assert!(v1[3].starts_with("linux.resources.memory.checkBeforeUpdate is ignored"));
        let v2 = ignored_resources(Some(&l), &r, Layout::Unified);
        assert_eq!(v2.len(), 5);
        assert!(v2[4].starts_with("linux.resources.memory.swappiness is ignored"));
        // -1, which the unsigned field wraps to u64::MAX, means "unchanged".
        let l = linux(serde_json::json!({"memory": {"swappiness": u64::MAX}}));
        assert_eq!(resources(Some(&l)).unwrap().memory_swappiness, None);
        assert!(ignored_resources(None, &Resources::default(), Layout::Unified).is_empty());
    }
}
