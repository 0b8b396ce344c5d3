//! Container models: the create request (`Config` + `HostConfig` + `NetworkingConfig`), what
//! `docker ps` and `docker inspect` read back, and the bodies of the smaller container
//! operations.
//!
//! Input types accept `null` for every field (Go clients send `null` for nil slices and maps,
//! docker-py sends `None` for whatever it did not set); output types write Docker's zero values
//! where clients index a field without checking for it.

mod archive;
mod config;
mod host_config;
mod inspect;
mod ops;
mod stats;
mod summary;

pub use crate::nullable::Empty;
pub use archive::{ContainerPathStat, MODE_DIR, MODE_SYMLINK, PATH_STAT_HEADER};
pub use config::{
    ContainerConfig, ContainerCreateRequest, ContainerCreateResponse, EndpointIpamConfig,
    EndpointSettings, HealthConfig, NetworkingConfig,
};
pub use host_config::{
    BindOptions, DeviceMapping, DeviceRequest, DriverConfig, HostConfig, ImageOptions, LogConfig,
    Mount, PortBinding, PortMap, Resources, RestartPolicy, ThrottleDevice, TmpfsOptions, Ulimit,
    VolumeOptions, WeightDevice,
};
pub use inspect::{
    ContainerInspect, ContainerState, Health, HealthcheckResult, MountPoint, NetworkSettings,
};
pub use ops::{
    ContainerChange, ContainerPruneResponse, ContainerTopResponse, ContainerUpdateRequest,
    ContainerUpdateResponse, ContainerWaitResponse, WaitError,
};
pub use stats::{
    BlkioStatEntry, BlkioStats, ContainerStats, CpuStats, CpuUsage, MemoryStats, NetworkStats,
    PidsStats, ThrottlingData,
};
pub use summary::{ContainerSummary, Port, SummaryHostConfig, SummaryNetworkSettings};

#[cfg(test)]
mod tests;
