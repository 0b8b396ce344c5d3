//! The portable half of a container's configuration (`Config`), the create request that wraps it,
//! and the networking part of that request.

use super::HostConfig;
use crate::nullable::{Empty, or_default, str_slice};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `Config` of a container: what `docker create` says about the process, independent of the
/// host. The engine merges it with the image's config (see `berth_engine::spec`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// Hostname; empty means the first 12 characters of the id.
    #[serde(default, deserialize_with = "or_default")]
    pub hostname: String,
    /// NIS domain name.
    #[serde(default, deserialize_with = "or_default")]
    pub domainname: String,
    /// `user`, `uid`, `user:group` or `uid:gid`; empty inherits the image's.
    #[serde(default, deserialize_with = "or_default")]
    pub user: String,
    /// Whether a client will attach to stdin.
    #[serde(default, deserialize_with = "or_default")]
    pub attach_stdin: bool,
    /// Whether a client will attach to stdout.
    #[serde(default, deserialize_with = "or_default")]
    pub attach_stdout: bool,
    /// Whether a client will attach to stderr.
    #[serde(default, deserialize_with = "or_default")]
    pub attach_stderr: bool,
    /// Ports the container listens on, `{"80/tcp": {}}`.
    #[serde(default, deserialize_with = "or_default")]
    pub exposed_ports: BTreeMap<String, Empty>,
    /// Allocate a pseudo terminal.
    #[serde(default, deserialize_with = "or_default")]
    pub tty: bool,
    /// Keep stdin open.
    #[serde(default, deserialize_with = "or_default")]
    pub open_stdin: bool,
    /// Close stdin after the first attached client detaches.
    #[serde(default, deserialize_with = "or_default")]
    pub stdin_once: bool,
    /// `KEY=value` entries; a bare `KEY` removes the variable.
    #[serde(default, deserialize_with = "or_default")]
    pub env: Vec<String>,
    /// Command; `None` inherits the image's.
    #[serde(default, deserialize_with = "str_slice")]
    pub cmd: Option<Vec<String>>,
    /// Health check; `None` inherits the image's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    /// Windows-only; kept for lossless round trips.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    /// The image name as the client gave it.
    #[serde(default, deserialize_with = "or_default")]
    pub image: String,
    /// Anonymous volume mount points, `{"/data": {}}`.
    #[serde(default, deserialize_with = "or_default")]
    pub volumes: BTreeMap<String, Empty>,
    /// Working directory; empty inherits the image's (then `/`).
    #[serde(default, deserialize_with = "or_default")]
    pub working_dir: String,
    /// Entrypoint; `None` inherits the image's, `[""]` (from `--entrypoint ""`) clears it.
    #[serde(default, deserialize_with = "str_slice")]
    pub entrypoint: Option<Vec<String>>,
    /// Disable networking (old clients' `--net none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_disabled: Option<bool>,
    /// Deprecated since API 1.44 (moved to the endpoint settings); still sent by old clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// `ONBUILD` triggers (only meaningful for images).
    #[serde(default, deserialize_with = "or_default")]
    pub on_build: Option<Vec<String>>,
    /// Labels.
    #[serde(default, deserialize_with = "or_default")]
    pub labels: BTreeMap<String, String>,
    /// Stop signal, name (`SIGQUIT`) or number; `None` inherits the image's (then `SIGTERM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Seconds to wait after the stop signal before `SIGKILL`; `None` means the default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    /// Shell for the shell form of commands (images only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

/// A health check. Durations are nanoseconds; zero means "inherit" (from the image) or the
/// default.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `[]` inherit, `["NONE"]` disable, `["CMD", args…]`, `["CMD-SHELL", command]`.
    #[serde(default, deserialize_with = "or_default")]
    pub test: Vec<String>,
    /// Time between checks.
    #[serde(default, deserialize_with = "or_default")]
    pub interval: i64,
    /// Time after which a check counts as hung.
    #[serde(default, deserialize_with = "or_default")]
    pub timeout: i64,
    /// Consecutive failures before `unhealthy`.
    #[serde(default, deserialize_with = "or_default")]
    pub retries: i64,
    /// Grace period during which failures do not count.
    #[serde(default, deserialize_with = "or_default")]
    pub start_period: i64,
    /// Time between checks during the start period.
    #[serde(default, deserialize_with = "or_default")]
    pub start_interval: i64,
}

/// The body of `POST /containers/create`: the [`ContainerConfig`] fields at the top level, plus
/// `HostConfig` and `NetworkingConfig`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerCreateRequest {
    /// Portable configuration (flattened: its fields sit at the top level of the body).
    #[serde(flatten)]
    pub config: ContainerConfig,
    /// Host-specific configuration.
    #[serde(default, deserialize_with = "or_default")]
    pub host_config: HostConfig,
    /// Networks to connect at create time.
    #[serde(default, deserialize_with = "or_default")]
    pub networking_config: NetworkingConfig,
}

/// Networks a container joins when it is created.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkingConfig {
    /// Network name → endpoint settings.
    #[serde(default, deserialize_with = "or_default")]
    pub endpoints_config: BTreeMap<String, EndpointSettings>,
}

/// A container's endpoint on one network: what the client asks for at create time and what
/// inspect reports afterwards.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EndpointSettings {
    /// Requested static addresses.
    #[serde(rename = "IPAMConfig", default, deserialize_with = "or_default")]
    pub ipam_config: Option<EndpointIpamConfig>,
    /// Legacy links.
    #[serde(rename = "Links", default, deserialize_with = "or_default")]
    pub links: Vec<String>,
    /// Requested or assigned MAC address.
    #[serde(rename = "MacAddress", default, deserialize_with = "or_default")]
    pub mac_address: String,
    /// Extra DNS names on this network (`null` when none, as Docker sends it).
    #[serde(
        rename = "Aliases",
        default,
        deserialize_with = "or_default",
        serialize_with = "crate::nullable::empty_as_null"
    )]
    pub aliases: Vec<String>,
    /// Driver options.
    #[serde(rename = "DriverOpts", default, deserialize_with = "or_default")]
    pub driver_opts: BTreeMap<String, String>,
    /// Priority for choosing the default gateway.
    #[serde(rename = "GwPriority", default, deserialize_with = "or_default")]
    pub gw_priority: i64,
    /// Network id.
    #[serde(rename = "NetworkID", default, deserialize_with = "or_default")]
    pub network_id: String,
    /// Endpoint id.
    #[serde(rename = "EndpointID", default, deserialize_with = "or_default")]
    pub endpoint_id: String,
    /// IPv4 gateway.
    #[serde(rename = "Gateway", default, deserialize_with = "or_default")]
    pub gateway: String,
    /// IPv4 address.
    #[serde(rename = "IPAddress", default, deserialize_with = "or_default")]
    pub ip_address: String,
    /// IPv4 prefix length.
    #[serde(rename = "IPPrefixLen", default, deserialize_with = "or_default")]
    pub ip_prefix_len: i64,
    /// IPv6 gateway.
    #[serde(rename = "IPv6Gateway", default, deserialize_with = "or_default")]
    pub ipv6_gateway: String,
    /// IPv6 address.
    #[serde(rename = "GlobalIPv6Address", default, deserialize_with = "or_default")]
    pub global_ipv6_address: String,
    /// IPv6 prefix length.
    #[serde(
        rename = "GlobalIPv6PrefixLen",
        default,
        deserialize_with = "or_default"
    )]
    pub global_ipv6_prefix_len: i64,
    /// Names the embedded DNS answers for this endpoint.
    #[serde(rename = "DNSNames", default, deserialize_with = "or_default")]
    pub dns_names: Vec<String>,
}

/// Static addresses requested for an endpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct EndpointIpamConfig {
    /// IPv4 address.
    #[serde(rename = "IPv4Address", default, deserialize_with = "or_default")]
    pub ipv4_address: String,
    /// IPv6 address.
    #[serde(rename = "IPv6Address", default, deserialize_with = "or_default")]
    pub ipv6_address: String,
    /// Link-local addresses.
    #[serde(rename = "LinkLocalIPs", default, deserialize_with = "or_default")]
    pub link_local_ips: Vec<String>,
}

/// `POST /containers/create` response.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerCreateResponse {
    /// The new container's id.
    pub id: String,
    /// Non-fatal problems (e.g. a limit the kernel does not support); never null.
    #[serde(default, deserialize_with = "or_default")]
    pub warnings: Vec<String>,
}
