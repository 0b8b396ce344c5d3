//! One row of `GET /containers/json` (`docker ps`).

use super::{EndpointSettings, MountPoint};
use crate::nullable::or_default;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One row of `GET /containers/json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerSummary {
    /// Full id.
    pub id: String,
    /// Names, each with a leading `/`.
    #[serde(default, deserialize_with = "or_default")]
    pub names: Vec<String>,
    /// The image as the user named it.
    pub image: String,
    /// `sha256:` image id.
    #[serde(rename = "ImageID")]
    pub image_id: String,
    /// Command line, joined with spaces.
    pub command: String,
    /// Creation time, Unix seconds.
    pub created: i64,
    /// Exposed and published ports.
    #[serde(default, deserialize_with = "or_default")]
    pub ports: Vec<Port>,
    /// Size of the writable layer (only with `?size=1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    /// Size of the root file system (only with `?size=1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
    /// Labels.
    #[serde(default, deserialize_with = "or_default")]
    pub labels: BTreeMap<String, String>,
    /// `created`, `running`, `paused`, `restarting`, `exited`, `removing`, `dead`.
    pub state: String,
    /// Human status: `Up 2 minutes`, `Exited (0) 3 seconds ago`.
    pub status: String,
    /// The one host-config fact `ps` shows.
    pub host_config: SummaryHostConfig,
    /// Networks.
    pub network_settings: SummaryNetworkSettings,
    /// Mounts.
    #[serde(default, deserialize_with = "or_default")]
    pub mounts: Vec<MountPoint>,
}

/// A port of a `ps` row.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Port {
    /// Host address, absent when not published.
    #[serde(rename = "IP", default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Container port.
    #[serde(rename = "PrivatePort")]
    pub private_port: u16,
    /// Host port, absent when not published.
    #[serde(
        rename = "PublicPort",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub public_port: Option<u16>,
    /// `tcp`, `udp`, `sctp`.
    #[serde(rename = "Type")]
    pub kind: String,
}

/// `HostConfig` of a `ps` row.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct SummaryHostConfig {
    /// Network mode.
    #[serde(default, deserialize_with = "or_default")]
    pub network_mode: String,
    /// Annotations, omitted when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// `NetworkSettings` of a `ps` row.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct SummaryNetworkSettings {
    /// Network name → endpoint.
    #[serde(default, deserialize_with = "or_default")]
    pub networks: BTreeMap<String, EndpointSettings>,
}
