//! `/version` and `/info`.

use serde::{Deserialize, Serialize};

/// `Platform` of `/version`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Platform {
    /// Product name shown by `docker version` ("Server: Berth ...").
    pub name: String,
}

/// One entry of `Components` in `/version`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Component {
    /// Component name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Extra key/values (API versions, commit).
    #[serde(default)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// `GET /version`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct SystemVersion {
    /// Product.
    pub platform: Platform,
    /// Parts of the engine.
    pub components: Vec<Component>,
    /// Engine version.
    pub version: String,
    /// Newest API version served.
    pub api_version: String,
    /// Oldest API version served.
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    /// Source revision.
    pub git_commit: String,
    /// Toolchain (Docker reports its Go version; we report rustc's).
    pub go_version: String,
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`, ...
    pub arch: String,
    /// Host kernel release.
    pub kernel_version: String,
    /// Build time, RFC 3339.
    pub build_time: String,
    /// Experimental features on.
    #[serde(default)]
    pub experimental: bool,
}

/// `GET /info` (the subset Berth fills; Docker's clients treat the rest as zero values).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct SystemInfo {
    /// Daemon identity (stable per root dir).
    #[serde(rename = "ID")]
    pub id: String,
    /// All containers.
    pub containers: i64,
    /// Running containers.
    pub containers_running: i64,
    /// Paused containers.
    pub containers_paused: i64,
    /// Stopped containers.
    pub containers_stopped: i64,
    /// Images in the store.
    pub images: i64,
    /// Snapshotter name.
    pub driver: String,
    /// Snapshotter details as key/value rows.
    pub driver_status: Vec<[String; 2]>,
    /// The root dir.
    pub docker_root_dir: String,
    /// Host memory in bytes.
    pub mem_total: i64,
    /// Host CPUs.
    #[serde(rename = "NCPU")]
    pub ncpu: i64,
    /// Host OS (from os-release).
    pub operating_system: String,
    /// `linux`.
    #[serde(rename = "OSType")]
    pub os_type: String,
    /// `x86_64`, as `uname -m`.
    pub architecture: String,
    /// Host kernel release.
    pub kernel_version: String,
    /// Host name.
    pub name: String,
    /// Engine version.
    pub server_version: String,
    /// `cgroupfs`.
    pub cgroup_driver: String,
    /// `1` or `2`.
    pub cgroup_version: String,
    /// Default log driver.
    pub logging_driver: String,
    /// Default runtime name.
    pub default_runtime: String,
    /// Security features, `name=seccomp,profile=builtin` style.
    pub security_options: Vec<String>,
    /// Open file descriptors of the daemon.
    pub n_fd: i64,
    /// Tasks of the daemon (Docker reports goroutines).
    pub n_goroutines: i64,
    /// Daemon clock, RFC 3339.
    pub system_time: String,
    /// Debug logging on.
    pub debug: bool,
    /// Daemon labels.
    pub labels: Vec<String>,
    /// Experimental features on.
    pub experimental_build: bool,
    /// Index server address the CLI shows.
    pub index_server_address: String,
    /// Runtimes known, name → `{"path": ...}`.
    pub runtimes: serde_json::Map<String, serde_json::Value>,
    /// Swarm status; always inactive.
    pub swarm: serde_json::Value,
    /// Registry settings (the CLI reads `IndexConfigs`).
    pub registry_config: serde_json::Value,
    /// Plugins by type.
    pub plugins: serde_json::Value,
    /// Warnings shown at the end of `docker info`.
    pub warnings: Vec<String>,
}

/// `GET /system/df`: what the daemon's objects take on disk, in Docker's shape. `LogsSize` is
/// Berth's addition (Docker does not count container logs, which are often the biggest part).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct DiskUsage {
    /// Bytes taken by unpacked layers, each counted once.
    pub layers_size: i64,
    /// Every image, with `Containers` counted.
    #[serde(default)]
    pub images: Vec<crate::image::ImageSummary>,
    /// Every container, with `SizeRw`.
    #[serde(default)]
    pub containers: Vec<crate::container::ContainerSummary>,
    /// Every volume, with `UsageData`.
    #[serde(default)]
    pub volumes: Vec<crate::volume::Volume>,
    /// The build cache's records.
    #[serde(default)]
    pub build_cache: Vec<crate::build::BuildCache>,
    /// Bytes of container logs (json-file, rotated files included).
    #[serde(default)]
    pub logs_size: i64,
}

/// `POST /auth`: credentials to check against a registry (also the decoded `X-Registry-Auth`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AuthConfig {
    /// The user.
    #[serde(default)]
    pub username: String,
    /// The password.
    #[serde(default)]
    pub password: String,
    /// Ignored, as by Docker since 17.06.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    /// The registry (`127.0.0.1:5000`, `https://index.docker.io/v1/`).
    #[serde(default)]
    pub serveraddress: String,
    /// A token from an earlier login, instead of a password.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub identitytoken: String,
}

/// `POST /auth`'s answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct AuthResponse {
    /// `Login Succeeded`.
    pub status: String,
    /// A token to use instead of the password, when the registry gave one.
    #[serde(default)]
    pub identity_token: String,
}
