//! `HostConfig`: the host-specific half of a container's configuration (mounts, ports,
//! resources, security), plus the small objects it is made of.

use crate::nullable::or_default;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Port bindings: `"80/tcp"` → host bindings (`null` means "exposed, not published").
pub type PortMap = BTreeMap<String, Option<Vec<PortBinding>>>;

/// Resource limits. Docker embeds these in `HostConfig` (flat) and takes them alone in
/// `POST /containers/{id}/update`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Resources {
    /// Relative CPU weight (cgroup v1 shares, 2–262144; 0 = default 1024).
    #[serde(default, deserialize_with = "or_default")]
    pub cpu_shares: i64,
    /// Memory limit in bytes; 0 = unlimited.
    #[serde(default, deserialize_with = "or_default")]
    pub memory: i64,
    /// Parent cgroup.
    #[serde(default, deserialize_with = "or_default")]
    pub cgroup_parent: String,
    /// Block IO weight (10–1000; 0 = default).
    #[serde(default, deserialize_with = "or_default")]
    pub blkio_weight: u16,
    /// Per-device block IO weights.
    #[serde(default, deserialize_with = "or_default")]
    pub blkio_weight_device: Vec<WeightDevice>,
    /// Per-device read limits, bytes per second.
    #[serde(default, deserialize_with = "or_default")]
    pub blkio_device_read_bps: Vec<ThrottleDevice>,
    /// Per-device write limits, bytes per second.
    #[serde(default, deserialize_with = "or_default")]
    pub blkio_device_write_bps: Vec<ThrottleDevice>,
    /// Per-device read limits, operations per second.
    #[serde(
        rename = "BlkioDeviceReadIOps",
        default,
        deserialize_with = "or_default"
    )]
    pub blkio_device_read_iops: Vec<ThrottleDevice>,
    /// Per-device write limits, operations per second.
    #[serde(
        rename = "BlkioDeviceWriteIOps",
        default,
        deserialize_with = "or_default"
    )]
    pub blkio_device_write_iops: Vec<ThrottleDevice>,
    /// CFS period in microseconds.
    #[serde(default, deserialize_with = "or_default")]
    pub cpu_period: i64,
    /// CFS quota in microseconds per period.
    #[serde(default, deserialize_with = "or_default")]
    pub cpu_quota: i64,
    /// Real-time period in microseconds.
    #[serde(default, deserialize_with = "or_default")]
    pub cpu_realtime_period: i64,
    /// Real-time runtime in microseconds.
    #[serde(default, deserialize_with = "or_default")]
    pub cpu_realtime_runtime: i64,
    /// CPUs allowed, e.g. `0-3`, `0,1`.
    #[serde(default, deserialize_with = "or_default")]
    pub cpuset_cpus: String,
    /// Memory nodes allowed.
    #[serde(default, deserialize_with = "or_default")]
    pub cpuset_mems: String,
    /// Host devices to add.
    #[serde(default, deserialize_with = "or_default")]
    pub devices: Vec<DeviceMapping>,
    /// Device cgroup rules, e.g. `c 13:* rwm`.
    #[serde(default, deserialize_with = "or_default")]
    pub device_cgroup_rules: Vec<String>,
    /// Requests for driver-provided devices (GPUs).
    #[serde(default, deserialize_with = "or_default")]
    pub device_requests: Vec<DeviceRequest>,
    /// Deprecated kernel TCP memory limit; omitted when unset, as Docker does.
    #[serde(
        rename = "KernelMemoryTCP",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub kernel_memory_tcp: Option<i64>,
    /// Memory soft limit in bytes.
    #[serde(default, deserialize_with = "or_default")]
    pub memory_reservation: i64,
    /// Memory + swap limit in bytes; -1 = unlimited swap, 0 = default (twice `Memory`).
    #[serde(default, deserialize_with = "or_default")]
    pub memory_swap: i64,
    /// Swappiness 0–100; `None` = kernel default.
    #[serde(default)]
    pub memory_swappiness: Option<i64>,
    /// CPU quota in billionths of a CPU (`--cpus 1.5` = 1_500_000_000).
    #[serde(default, deserialize_with = "or_default")]
    pub nano_cpus: i64,
    /// Disable the OOM killer.
    #[serde(default)]
    pub oom_kill_disable: Option<bool>,
    /// Run an init as PID 1; `None` = daemon default (off). Omitted when unset, as Docker does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    /// Process limit; 0 or -1 = unlimited, `None` = unchanged.
    #[serde(default)]
    pub pids_limit: Option<i64>,
    /// Resource limits (`--ulimit`).
    #[serde(default, deserialize_with = "or_default")]
    pub ulimits: Vec<Ulimit>,
    /// Windows only.
    #[serde(default, deserialize_with = "or_default")]
    pub cpu_count: i64,
    /// Windows only.
    #[serde(default, deserialize_with = "or_default")]
    pub cpu_percent: i64,
    /// Windows only.
    #[serde(rename = "IOMaximumIOps", default, deserialize_with = "or_default")]
    pub io_maximum_iops: u64,
    /// Windows only.
    #[serde(
        rename = "IOMaximumBandwidth",
        default,
        deserialize_with = "or_default"
    )]
    pub io_maximum_bandwidth: u64,
}

/// `HostConfig`. Unset lists come back as `[]`/`null` the way the docker CLI expects; every
/// field accepts `null` on input.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    /// Bind and volume shorthands (`-v`), parsed by `shorthand::volume`.
    #[serde(default, deserialize_with = "or_default")]
    pub binds: Vec<String>,
    /// Where the CLI writes the id (client-side only).
    #[serde(rename = "ContainerIDFile", default, deserialize_with = "or_default")]
    pub container_id_file: String,
    /// Log driver and options.
    #[serde(default, deserialize_with = "or_default")]
    pub log_config: LogConfig,
    /// `bridge`, `host`, `none`, `container:<id>` or a network name; empty = `default`.
    #[serde(default, deserialize_with = "or_default")]
    pub network_mode: String,
    /// Published ports.
    #[serde(default, deserialize_with = "or_default")]
    pub port_bindings: PortMap,
    /// Restart policy.
    #[serde(default, deserialize_with = "or_default")]
    pub restart_policy: RestartPolicy,
    /// Remove the container when it exits (`--rm`).
    #[serde(default, deserialize_with = "or_default")]
    pub auto_remove: bool,
    /// Volume driver for `-v name:/path`.
    #[serde(default, deserialize_with = "or_default")]
    pub volume_driver: String,
    /// `container[:ro|rw]` entries.
    #[serde(default, deserialize_with = "or_default")]
    pub volumes_from: Vec<String>,
    /// `--mount` objects.
    #[serde(default, deserialize_with = "or_default")]
    pub mounts: Vec<Mount>,
    /// Initial console size `[height, width]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_size: Option<[u64; 2]>,
    /// Annotations passed to the runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Capabilities to add (`ALL`, `NET_ADMIN`, `CAP_NET_ADMIN`).
    #[serde(default, deserialize_with = "or_default")]
    pub cap_add: Vec<String>,
    /// Capabilities to drop.
    #[serde(default, deserialize_with = "or_default")]
    pub cap_drop: Vec<String>,
    /// `private` or `host`; empty = daemon default.
    #[serde(default, deserialize_with = "or_default")]
    pub cgroupns_mode: String,
    /// DNS servers.
    #[serde(default, deserialize_with = "or_default")]
    pub dns: Vec<String>,
    /// resolv.conf options.
    #[serde(default, deserialize_with = "or_default")]
    pub dns_options: Vec<String>,
    /// DNS search domains.
    #[serde(default, deserialize_with = "or_default")]
    pub dns_search: Vec<String>,
    /// `host:ip` entries for /etc/hosts.
    #[serde(default, deserialize_with = "or_default")]
    pub extra_hosts: Vec<String>,
    /// Extra groups (names or gids).
    #[serde(default, deserialize_with = "or_default")]
    pub group_add: Vec<String>,
    /// `private`, `shareable`, `none`, `host`, `container:<id>`.
    #[serde(default, deserialize_with = "or_default")]
    pub ipc_mode: String,
    /// Cgroup to use (`container:<id>`).
    #[serde(default, deserialize_with = "or_default")]
    pub cgroup: String,
    /// Legacy links.
    #[serde(default, deserialize_with = "or_default")]
    pub links: Vec<String>,
    /// OOM score adjustment.
    #[serde(default, deserialize_with = "or_default")]
    pub oom_score_adj: i64,
    /// `host` or `container:<id>`; empty = private.
    #[serde(default, deserialize_with = "or_default")]
    pub pid_mode: String,
    /// Full host access.
    #[serde(default, deserialize_with = "or_default")]
    pub privileged: bool,
    /// Publish every exposed port on a random host port (`-P`).
    #[serde(default, deserialize_with = "or_default")]
    pub publish_all_ports: bool,
    /// Read-only root file system.
    #[serde(default, deserialize_with = "or_default")]
    pub readonly_rootfs: bool,
    /// `no-new-privileges`, `seccomp=…`, `apparmor=…`, `label=…`.
    #[serde(default, deserialize_with = "or_default")]
    pub security_opt: Vec<String>,
    /// Storage driver options.
    #[serde(default, deserialize_with = "or_default")]
    pub storage_opt: BTreeMap<String, String>,
    /// tmpfs mounts: path → mount options (`--tmpfs`).
    #[serde(default, deserialize_with = "or_default")]
    pub tmpfs: BTreeMap<String, String>,
    /// `host` or empty.
    #[serde(rename = "UTSMode", default, deserialize_with = "or_default")]
    pub uts_mode: String,
    /// `host` or empty.
    #[serde(default, deserialize_with = "or_default")]
    pub userns_mode: String,
    /// Size of /dev/shm in bytes; 0 = 64 MiB.
    #[serde(default, deserialize_with = "or_default")]
    pub shm_size: i64,
    /// Namespaced kernel parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sysctls: Option<BTreeMap<String, String>>,
    /// OCI runtime name (always present in inspect, as Docker sends it).
    #[serde(default)]
    pub runtime: Option<String>,
    /// Windows only.
    #[serde(default, deserialize_with = "or_default")]
    pub isolation: String,
    /// Paths to mask; `None` = the default set.
    #[serde(default)]
    pub masked_paths: Option<Vec<String>>,
    /// Paths to make read-only; `None` = the default set.
    #[serde(default)]
    pub readonly_paths: Option<Vec<String>>,
    /// Resource limits (flattened, as in Docker's JSON).
    #[serde(flatten)]
    pub resources: Resources,
}

/// A `--mount` request (`HostConfig.Mounts`), also the common form `-v` shorthands parse to.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Mount {
    /// Path in the container.
    #[serde(default, deserialize_with = "or_default")]
    pub target: String,
    /// Volume name or host path; empty for tmpfs and anonymous volumes.
    #[serde(default, deserialize_with = "or_default")]
    pub source: String,
    /// `bind`, `volume`, `tmpfs`, `image`, `npipe`, `cluster`.
    #[serde(rename = "Type", default, deserialize_with = "or_default")]
    pub kind: String,
    /// Mount read-only.
    #[serde(default, deserialize_with = "or_default")]
    pub read_only: bool,
    /// macOS-only consistency hint; ignored.
    #[serde(default, deserialize_with = "or_default")]
    pub consistency: String,
    /// Options for `bind`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    /// Options for `volume`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    /// Options for `image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_options: Option<ImageOptions>,
    /// Options for `tmpfs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// Options of a bind mount.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct BindOptions {
    /// `private`, `rprivate` (default), `shared`, `rshared`, `slave`, `rslave`.
    #[serde(default, deserialize_with = "or_default")]
    pub propagation: String,
    /// Plain `bind` instead of `rbind`.
    #[serde(default, deserialize_with = "or_default")]
    pub non_recursive: bool,
    /// Create the host path when missing.
    #[serde(default, deserialize_with = "or_default")]
    pub create_mountpoint: bool,
    /// Make only the top mount read-only.
    #[serde(default, deserialize_with = "or_default")]
    pub read_only_non_recursive: bool,
    /// Fail if the mount cannot be made recursively read-only.
    #[serde(default, deserialize_with = "or_default")]
    pub read_only_force_recursive: bool,
}

/// Options of a volume mount.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeOptions {
    /// Do not copy the image's content at the target into a new volume.
    #[serde(default, deserialize_with = "or_default")]
    pub no_copy: bool,
    /// Labels for a volume created on the fly.
    #[serde(default, deserialize_with = "or_default")]
    pub labels: BTreeMap<String, String>,
    /// Driver for a volume created on the fly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<DriverConfig>,
    /// Relative path inside the volume to mount instead of its root.
    #[serde(default, deserialize_with = "or_default")]
    pub subpath: String,
}

/// A volume driver and its options.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct DriverConfig {
    /// Driver name (`local`).
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
    /// Driver options.
    #[serde(default, deserialize_with = "or_default")]
    pub options: BTreeMap<String, String>,
}

/// Options of an image mount.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ImageOptions {
    /// Relative path inside the image.
    #[serde(default, deserialize_with = "or_default")]
    pub subpath: String,
}

/// Options of a tmpfs mount.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct TmpfsOptions {
    /// Size limit in bytes; 0 = the kernel default (half of RAM).
    #[serde(default, deserialize_with = "or_default")]
    pub size_bytes: i64,
    /// Permission bits of the mount's root (e.g. `0o1777`).
    #[serde(default, deserialize_with = "or_default")]
    pub mode: u32,
    /// Extra mount options: `[["noexec"], ["uid", "1000"]]`.
    #[serde(default, deserialize_with = "or_default")]
    pub options: Vec<Vec<String>>,
}

/// When to restart a container that exited.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    /// `""`/`no`, `always`, `unless-stopped`, `on-failure`.
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
    /// For `on-failure`: give up after this many restarts (0 = never give up).
    #[serde(default, deserialize_with = "or_default")]
    pub maximum_retry_count: i64,
}

/// A resource limit (`--ulimit nofile=1024:2048`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Ulimit {
    /// `nofile`, `nproc`, `core`…
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
    /// Soft limit.
    #[serde(default, deserialize_with = "or_default")]
    pub soft: i64,
    /// Hard limit.
    #[serde(default, deserialize_with = "or_default")]
    pub hard: i64,
}

/// One host address a container port is published on.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortBinding {
    /// Host IP; empty = all addresses.
    #[serde(rename = "HostIp", default, deserialize_with = "or_default")]
    pub host_ip: String,
    /// Host port or range as a string; empty = pick one.
    #[serde(rename = "HostPort", default, deserialize_with = "or_default")]
    pub host_port: String,
}

/// Log driver and its options.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfig {
    /// Driver (`json-file`, `local`, `none`); empty = daemon default.
    #[serde(rename = "Type", default, deserialize_with = "or_default")]
    pub kind: String,
    /// Driver options (`max-size`, `max-file`).
    #[serde(default, deserialize_with = "or_default")]
    pub config: BTreeMap<String, String>,
}

/// A host device made available in the container.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceMapping {
    /// Device on the host.
    #[serde(default, deserialize_with = "or_default")]
    pub path_on_host: String,
    /// Path in the container.
    #[serde(default, deserialize_with = "or_default")]
    pub path_in_container: String,
    /// `r`, `w`, `m` combination.
    #[serde(default, deserialize_with = "or_default")]
    pub cgroup_permissions: String,
}

/// A request for devices from a device driver (`--gpus`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceRequest {
    /// Driver name.
    #[serde(rename = "Driver", default, deserialize_with = "or_default")]
    pub driver: String,
    /// Number of devices; -1 = all.
    #[serde(rename = "Count", default, deserialize_with = "or_default")]
    pub count: i64,
    /// Specific device ids.
    #[serde(rename = "DeviceIDs", default, deserialize_with = "or_default")]
    pub device_ids: Vec<String>,
    /// OR-list of AND-lists of capabilities.
    #[serde(rename = "Capabilities", default, deserialize_with = "or_default")]
    pub capabilities: Vec<Vec<String>>,
    /// Driver options.
    #[serde(rename = "Options", default, deserialize_with = "or_default")]
    pub options: BTreeMap<String, String>,
}

/// A per-device rate limit.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ThrottleDevice {
    /// Device path.
    #[serde(default, deserialize_with = "or_default")]
    pub path: String,
    /// Rate (bytes or operations per second).
    #[serde(default, deserialize_with = "or_default")]
    pub rate: u64,
}

/// A per-device block IO weight.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct WeightDevice {
    /// Device path.
    #[serde(default, deserialize_with = "or_default")]
    pub path: String,
    /// Weight.
    #[serde(default, deserialize_with = "or_default")]
    pub weight: u16,
}
