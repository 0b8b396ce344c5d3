//! `GET /containers/{id}/json`: the full record of a container as Docker reports it.

use super::{ContainerConfig, EndpointSettings, HostConfig, PortMap};
use crate::image::GraphDriver;
use crate::nullable::or_default;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `GET /containers/{id}/json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerInspect {
    /// Full id.
    pub id: String,
    /// Creation time, RFC 3339 with nanoseconds.
    pub created: String,
    /// Executable of the main process.
    pub path: String,
    /// Its arguments.
    #[serde(default, deserialize_with = "or_default")]
    pub args: Vec<String>,
    /// Run state.
    pub state: ContainerState,
    /// `sha256:` image id.
    pub image: String,
    /// Host path of the container's resolv.conf.
    pub resolv_conf_path: String,
    /// Host path of the container's hostname file.
    pub hostname_path: String,
    /// Host path of the container's hosts file.
    pub hosts_path: String,
    /// Host path of the json-file log.
    pub log_path: String,
    /// Berth's addition: why the log at `LogPath` is losing output right now (a full disk),
    /// absent while it is written.
    #[serde(rename = "LogError", default, skip_serializing_if = "Option::is_none")]
    pub log_error: Option<String>,
    /// Name with a leading `/`.
    pub name: String,
    /// Restarts done by the restart policy.
    pub restart_count: i64,
    /// Storage driver.
    pub driver: String,
    /// `linux`.
    pub platform: String,
    /// SELinux mount label (empty).
    pub mount_label: String,
    /// SELinux process label (empty).
    pub process_label: String,
    /// AppArmor profile (empty).
    pub app_armor_profile: String,
    /// Ids of the container's exec instances; `null` when none, as Docker sends.
    #[serde(rename = "ExecIDs", default)]
    pub exec_ids: Option<Vec<String>>,
    /// Host configuration as created.
    pub host_config: HostConfig,
    /// Storage details.
    pub graph_driver: GraphDriver,
    /// Size of the writable layer (only with `?size=1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    /// Size of the root file system (only with `?size=1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
    /// Mounts in use.
    #[serde(default, deserialize_with = "or_default")]
    pub mounts: Vec<MountPoint>,
    /// Merged configuration (image defaults applied).
    pub config: ContainerConfig,
    /// Network state.
    pub network_settings: NetworkSettings,
}

/// A container's run state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerState {
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited`, `dead`.
    pub status: String,
    /// Whether the process runs (also true while paused).
    pub running: bool,
    /// Whether the container is frozen.
    pub paused: bool,
    /// Whether the restart policy is about to start it again.
    pub restarting: bool,
    /// Whether the last exit was an OOM kill.
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    /// Whether the container could not be removed.
    pub dead: bool,
    /// Host pid of the main process; 0 when not running.
    pub pid: i64,
    /// Last exit code.
    pub exit_code: i64,
    /// Why the last start failed.
    pub error: String,
    /// Last start, RFC 3339; `0001-01-01T00:00:00Z` if never.
    pub started_at: String,
    /// Last exit, RFC 3339; `0001-01-01T00:00:00Z` if never.
    pub finished_at: String,
    /// Health-check state; absent when the container has no health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// Health-check state of a container.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// `none`, `starting`, `healthy`, `unhealthy`.
    pub status: String,
    /// Consecutive failures.
    pub failing_streak: i64,
    /// Latest results, oldest first.
    #[serde(default, deserialize_with = "or_default")]
    pub log: Vec<HealthcheckResult>,
}

/// One run of a health-check probe.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct HealthcheckResult {
    /// Start, RFC 3339 with nanoseconds.
    pub start: String,
    /// End, RFC 3339 with nanoseconds.
    pub end: String,
    /// 0 healthy, 1 unhealthy, other: the probe failed to run.
    pub exit_code: i64,
    /// The probe's output (truncated).
    pub output: String,
}

/// A mount in use by a container (`Mounts` of inspect and of `/containers/json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountPoint {
    /// `bind`, `volume`, `tmpfs`.
    #[serde(rename = "Type", default, deserialize_with = "or_default")]
    pub kind: String,
    /// Volume name (volumes only).
    #[serde(rename = "Name", default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Host path (volume data dir or bind source); empty for tmpfs.
    #[serde(rename = "Source", default, deserialize_with = "or_default")]
    pub source: String,
    /// Path in the container.
    #[serde(rename = "Destination", default, deserialize_with = "or_default")]
    pub destination: String,
    /// Volume driver (volumes only).
    #[serde(rename = "Driver", default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    /// Options as the user gave them (`ro,z`).
    #[serde(rename = "Mode", default, deserialize_with = "or_default")]
    pub mode: String,
    /// Writable.
    #[serde(rename = "RW", default, deserialize_with = "or_default")]
    pub rw: bool,
    /// Propagation mode.
    #[serde(rename = "Propagation", default, deserialize_with = "or_default")]
    pub propagation: String,
}

/// `NetworkSettings` of inspect.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkSettings {
    /// Bridge name (usually empty).
    #[serde(default, deserialize_with = "or_default")]
    pub bridge: String,
    /// Network sandbox id.
    #[serde(rename = "SandboxID", default, deserialize_with = "or_default")]
    pub sandbox_id: String,
    /// Path of the network namespace.
    #[serde(default, deserialize_with = "or_default")]
    pub sandbox_key: String,
    /// Published ports (`"80/tcp": [{HostIp, HostPort}]`).
    #[serde(default, deserialize_with = "or_default")]
    pub ports: PortMap,
    /// Deprecated default-bridge endpoint id.
    #[serde(rename = "EndpointID", default, deserialize_with = "or_default")]
    pub endpoint_id: String,
    /// Deprecated default-bridge gateway.
    #[serde(default, deserialize_with = "or_default")]
    pub gateway: String,
    /// Deprecated default-bridge IPv6 address.
    #[serde(rename = "GlobalIPv6Address", default, deserialize_with = "or_default")]
    pub global_ipv6_address: String,
    /// Deprecated default-bridge IPv6 prefix length.
    #[serde(
        rename = "GlobalIPv6PrefixLen",
        default,
        deserialize_with = "or_default"
    )]
    pub global_ipv6_prefix_len: i64,
    /// Deprecated default-bridge IPv4 address.
    #[serde(rename = "IPAddress", default, deserialize_with = "or_default")]
    pub ip_address: String,
    /// Deprecated default-bridge IPv4 prefix length.
    #[serde(rename = "IPPrefixLen", default, deserialize_with = "or_default")]
    pub ip_prefix_len: i64,
    /// Deprecated default-bridge IPv6 gateway.
    #[serde(rename = "IPv6Gateway", default, deserialize_with = "or_default")]
    pub ipv6_gateway: String,
    /// Deprecated default-bridge MAC address.
    #[serde(default, deserialize_with = "or_default")]
    pub mac_address: String,
    /// Network name → endpoint.
    #[serde(default, deserialize_with = "or_default")]
    pub networks: BTreeMap<String, EndpointSettings>,
}
