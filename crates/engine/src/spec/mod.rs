//! Docker configuration → OCI runtime spec, as a pure function.
//!
//! `docker create` hands the engine an image config and a create request; the runtime wants an
//! OCI `config.json`. Everything in between — Docker's merge of image defaults, user lookup in
//! the image's /etc/passwd, the default hardening, capability arithmetic, resource limits,
//! namespaces, mounts — lives here and does no I/O: the engine reads files (passwd, group,
//! seccomp profiles), creates volumes and per-container /etc files, and passes the results in
//! a [`SpecInput`]. That keeps every Docker rule testable as a table without root.
//!
//! Not covered yet (the engine should refuse or ignore them): `container:<id>` namespace modes,
//! the host's devices for `--privileged` (/dev is a tmpfs with the runtime's default nodes; the
//! device rules allow everything), block IO device limits, user namespaces, AppArmor/SELinux
//! labels.

mod caps;
mod devices;
mod error;
mod merge;
mod mounts;
mod namespaces;
mod resources;
mod seccomp;
mod security;
mod signal;
mod sysctl;
pub(crate) mod user;

pub use caps::{all_capabilities, capabilities};
pub use devices::{HostDevice, check_permissions, parse_cgroup_rule};
pub use error::SpecError;
pub use merge::{command_line, merge_config};
pub use mounts::{DEFAULT_SHM_SIZE, EtcFiles, MountKind, ResolvedMount};
pub use namespaces::is_host_network;
pub use resources::{linux_resources, rlimits};
pub use seccomp::parse_docker_seccomp;
pub use security::{SeccompChoice, SecurityOpts, parse_security_opts};
pub use signal::{parse_signal, stop_signal, stop_timeout};
pub use sysctl::sysctls;
pub use user::{ResolvedUser, resolve_user};

use berth_api_types::container::ContainerCreateRequest;
use berth_api_types::image::ImageConfig;
use oci_spec::runtime::{
    BoxBuilder, Capabilities, Capability, Linux, LinuxCapabilities, LinuxSeccomp, Process, Root,
    Spec, User,
};
use std::collections::HashMap;
use std::path::PathBuf;

/// `PATH` when neither the image nor the request sets one (Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Sysctls Docker sets in every container with its own network namespace, unless asked
/// otherwise.
pub const UNPRIVILEGED_NET_SYSCTLS: [(&str, &str); 2] = [
    ("net.ipv4.ping_group_range", "0 2147483647"),
    ("net.ipv4.ip_unprivileged_port_start", "0"),
];

/// Annotation that asks the runtime for its built-in init (a reaper as PID 1 that forwards
/// signals), set for `--init`.
pub const INIT_ANNOTATION: &str = "berth.init";

/// The default security profile, filled by the engine from the runtime's defaults so this
/// module does not depend on the runtime crate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hardening {
    /// Capabilities of an unprivileged container (`CAP_CHOWN`…).
    pub default_capabilities: Vec<String>,
    /// The default seccomp filter; `None` runs without one. The runtime's default profile
    /// depends on the capabilities, so the engine computes them first with [`capabilities`].
    pub seccomp: Option<LinuxSeccomp>,
    /// Paths hidden from the container (`/proc/kcore`…).
    pub masked_paths: Vec<String>,
    /// Paths made read-only (`/proc/sys`…).
    pub readonly_paths: Vec<String>,
    /// Capabilities the daemon itself holds; "all" (`--privileged`, `--cap-add ALL`) means
    /// these. Empty: no limit.
    pub host_capabilities: Vec<String>,
}

/// Everything [`build`] needs, gathered (and any I/O done) by the engine.
#[derive(Debug, Clone, Default)]
pub struct SpecInput {
    /// Full container id; its first 12 characters are the default hostname.
    pub id: String,
    /// The image's run-time defaults.
    pub image: ImageConfig,
    /// The create request as the client sent it.
    pub request: ContainerCreateRequest,
    /// Host path of the assembled root file system.
    pub rootfs: PathBuf,
    /// User mounts (binds, volumes, tmpfs from `--mount`) resolved to host paths.
    pub mounts: Vec<ResolvedMount>,
    /// Per-container hosts, hostname and resolv.conf files.
    pub etc_files: EtcFiles,
    /// The image's /etc/passwd, if it has one.
    pub passwd: Option<String>,
    /// The image's /etc/group, if it has one.
    pub group: Option<String>,
    /// Cgroup path for the runtime.
    pub cgroups_path: Option<PathBuf>,
    /// Whether the host runs cgroup v2 (then containers get a cgroup namespace by default).
    pub cgroup_v2: bool,
    /// Network namespace to join (made by the engine for bridge networks); `None` = a new one.
    pub network_namespace: Option<PathBuf>,
    /// The host's hostname, which `--network host` containers see.
    pub host_hostname: String,
    /// The default hardening.
    pub hardening: Hardening,
    /// `--device` nodes, as found on the host.
    pub devices: Vec<HostDevice>,
}

/// Builds the OCI spec for a container.
pub fn build(input: &SpecInput) -> Result<Spec, SpecError> {
    let host = &input.request.host_config;
    match host.userns_mode.as_str() {
        "" | "host" => {}
        other => return Err(SpecError::UsernsMode(other.to_string())),
    }
    let config = merge_config(&input.image, &input.request.config);
    let args = command_line(&config);
    if args.is_empty() {
        return Err(SpecError::NoCommand);
    }
    let host_net = is_host_network(host);
    let hostname = if !config.hostname.is_empty() {
        config.hostname.clone()
    } else if host_net {
        input.host_hostname.clone()
    } else {
        input.id.chars().take(12).collect()
    };
    let cwd = if config.working_dir.is_empty() {
        "/".to_string()
    } else {
        config.working_dir.clone()
    };
    if !cwd.starts_with('/') {
        return Err(SpecError::WorkingDir(cwd));
    }
    let user = resolve_user(
        &config.user,
        &host.group_add,
        input.passwd.as_deref(),
        input.group.as_deref(),
    )?;
    let env = environment(&config.env, &hostname, config.tty, &user.home);
    let security = parse_security_opts(&host.security_opt)?;
    let mut caps = capabilities(
        &input.hardening.default_capabilities,
        &host.cap_add,
        &host.cap_drop,
        host.privileged,
    )?;
    let wants_all = host.privileged || host.cap_add.iter().any(|c| c.eq_ignore_ascii_case("ALL"));
    if wants_all && !input.hardening.host_capabilities.is_empty() {
        caps.retain(|c| input.hardening.host_capabilities.contains(c));
    }
    if !(-1000..=1000).contains(&host.oom_score_adj) {
        return Err(SpecError::Resources(format!(
            "Invalid value {}, range for oom score adj is [-1000, 1000]",
            host.oom_score_adj
        )));
    }

    let mut process = Process::default();
    process.set_terminal(Some(config.tty));
    let console = match host.console_size {
        Some([h, w]) if h > 0 && w > 0 => Some(
            BoxBuilder::default()
                .height(h)
                .width(w)
                .build()
                .map_err(|e| SpecError::Resources(format!("console size: {e}")))?,
        ),
        _ => None,
    };
    process.set_console_size(console);
    let mut oci_user = User::default();
    oci_user.set_uid(user.uid);
    oci_user.set_gid(user.gid);
    oci_user
        .set_additional_gids((!user.additional_gids.is_empty()).then_some(user.additional_gids));
    process.set_user(oci_user);
    process.set_args(Some(args));
    process.set_env(Some(env));
    process.set_cwd(PathBuf::from(cwd));
    process.set_capabilities(Some(oci_capabilities(&caps)?));
    let limits = rlimits(&host.resources.ulimits)?;
    process.set_rlimits((!limits.is_empty()).then_some(limits));
    process.set_no_new_privileges(Some(security.no_new_privileges));
    process.set_oom_score_adj((host.oom_score_adj != 0).then_some(host.oom_score_adj as i32));
    process.set_apparmor_profile(None);
    process.set_selinux_label(None);

    let mut root = Root::default();
    root.set_path(input.rootfs.clone());
    root.set_readonly(Some(host.readonly_rootfs));

    let mount_list = mounts::mounts(&mounts::MountPlan {
        privileged: host.privileged,
        readonly_rootfs: host.readonly_rootfs,
        shm_size: host.shm_size,
        ipc_mode: &host.ipc_mode,
        etc: &input.etc_files,
        tmpfs: &host.tmpfs,
        user: &input.mounts,
    })?;

    let mut linux = Linux::default();
    linux.set_namespaces(Some(namespaces::namespaces(
        host,
        input.cgroup_v2,
        input.network_namespace.as_ref(),
    )?));
    linux.set_resources(Some(linux_resources(
        &host.resources,
        host.privileged,
        &input.devices,
    )?));
    linux.set_cgroups_path(input.cgroups_path.clone());
    let mut sysctl = sysctls(
        &host.sysctls.clone().unwrap_or_default(),
        host_net,
        host.ipc_mode == "host",
    )?;
    if !host_net && !host.network_mode.starts_with("container:") {
        // As Docker (20.10+): in its own network namespace a container's users may ping
        // (ICMP datagram sockets) and bind low ports without privileges; neither reaches
        // beyond the namespace.
        for (key, value) in UNPRIVILEGED_NET_SYSCTLS {
            sysctl
                .entry(key.to_string())
                .or_insert_with(|| value.to_string());
        }
    }
    linux.set_sysctl((!sysctl.is_empty()).then_some(sysctl));
    linux.set_seccomp(if host.privileged {
        None
    } else {
        match &security.seccomp {
            SeccompChoice::Default => input.hardening.seccomp.clone(),
            SeccompChoice::Unconfined => None,
            SeccompChoice::Profile(json) => {
                Some(parse_docker_seccomp(json, &caps, std::env::consts::ARCH)?)
            }
        }
    });
    let confined_paths = !host.privileged && !security.unconfined_paths;
    let masked = host
        .masked_paths
        .clone()
        .unwrap_or_else(|| input.hardening.masked_paths.clone());
    let readonly = host
        .readonly_paths
        .clone()
        .unwrap_or_else(|| input.hardening.readonly_paths.clone());
    linux.set_masked_paths(Some(if confined_paths { masked } else { Vec::new() }));
    linux.set_readonly_paths(Some(if confined_paths { readonly } else { Vec::new() }));
    linux.set_devices((!input.devices.is_empty()).then(|| devices::linux_devices(&input.devices)));
    linux.set_uid_mappings(None);
    linux.set_gid_mappings(None);

    let mut annotations: HashMap<String, String> = host
        .annotations
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if host.resources.init == Some(true) {
        annotations.insert(INIT_ANNOTATION.to_string(), "true".to_string());
    }

    let mut spec = Spec::default();
    spec.set_version("1.2.0".to_string());
    spec.set_root(Some(root));
    spec.set_mounts(Some(mount_list));
    spec.set_process(Some(process));
    spec.set_hostname((!host_net && host.uts_mode != "host").then_some(hostname));
    spec.set_domainname((!config.domainname.is_empty()).then(|| config.domainname.clone()));
    spec.set_annotations((!annotations.is_empty()).then_some(annotations));
    spec.set_hooks(None);
    spec.set_linux(Some(linux));
    Ok(spec)
}

/// The process environment in Docker's order: `PATH`, `HOSTNAME`, `TERM` (with a TTY), then the
/// merged config env replacing or removing (bare `KEY`) entries; `HOME` last if still unset.
fn environment(config_env: &[String], hostname: &str, tty: bool, home: &str) -> Vec<String> {
    let mut env = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={hostname}"),
    ];
    if tty {
        env.push("TERM=xterm".to_string());
    }
    for entry in config_env {
        let key = merge::env_key(entry);
        let pos = env.iter().position(|e| merge::env_key(e) == key);
        match (entry.contains('='), pos) {
            (true, Some(i)) => env[i] = entry.clone(),
            (true, None) => env.push(entry.clone()),
            (false, Some(i)) => {
                env.remove(i);
            }
            (false, None) => {}
        }
    }
    if !env.iter().any(|e| merge::env_key(e) == "HOME") {
        env.push(format!("HOME={home}"));
    }
    env
}

/// The same set as bounding, effective and permitted capabilities (as Docker does; the kernel
/// clears effective and permitted for non-root users at exec).
fn oci_capabilities(caps: &[String]) -> Result<LinuxCapabilities, SpecError> {
    let set: Capabilities = caps
        .iter()
        .map(|c| {
            serde_json::from_value::<Capability>(serde_json::Value::String(c.clone()))
                .map_err(|_| SpecError::UnknownCapability(c.clone()))
        })
        .collect::<Result<_, _>>()?;
    let mut out = LinuxCapabilities::default();
    out.set_bounding(Some(set.clone()));
    out.set_effective(Some(set.clone()));
    out.set_permitted(Some(set));
    out.set_inheritable(None);
    out.set_ambient(None);
    Ok(out)
}

#[cfg(test)]
mod tests;
