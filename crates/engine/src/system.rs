//! What `/version` and `/info` report: facts about this engine and its host.

use crate::{DEFAULT_RUNTIME, Engine, EngineError, RUNTIME_NAMES};
use berth_api_types::Filters;
use berth_api_types::system::{Component, DiskUsage, Platform, SystemInfo, SystemVersion};
use berth_api_types::{API_VERSION, MIN_API_VERSION};
use serde_json::json;

/// The engine's version, from the workspace.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");

impl Engine {
    /// The `/version` document.
    pub fn version(&self) -> SystemVersion {
        let uname = rustix::system::uname();
        let mut details = serde_json::Map::new();
        details.insert("ApiVersion".into(), json!(API_VERSION));
        details.insert("MinAPIVersion".into(), json!(MIN_API_VERSION));
        details.insert("Os".into(), json!("linux"));
        details.insert("Arch".into(), json!(go_arch()));
        details.insert(
            "KernelVersion".into(),
            json!(uname.release().to_string_lossy()),
        );
        SystemVersion {
            platform: Platform {
                name: format!("Berth Engine {ENGINE_VERSION}"),
            },
            components: vec![Component {
                name: "Engine".into(),
                version: ENGINE_VERSION.into(),
                details,
            }],
            version: ENGINE_VERSION.into(),
            api_version: API_VERSION.into(),
            min_api_version: MIN_API_VERSION.into(),
            git_commit: option_env!("BERTH_GIT_COMMIT").unwrap_or("unknown").into(),
            go_version: "rust".into(),
            os: "linux".into(),
            arch: go_arch().into(),
            kernel_version: uname.release().to_string_lossy().into_owned(),
            build_time: String::new(),
            experimental: false,
        }
    }

    /// `GET /system/df`: images (with how many containers use each), containers (with their
    /// writable layer's size), volumes (size and references), the unpacked layers counted
    /// once, and the container logs.
    pub fn disk_usage(&self) -> Result<DiskUsage, EngineError> {
        let containers = self
            .containers()
            .list(&crate::containers::query::ListOptions {
                all: true,
                size: true,
                ..Default::default()
            })?;
        let mut images = self.images().list(&Filters::default(), false)?;
        for image in &mut images {
            image.containers = containers.iter().filter(|c| c.image_id == image.id).count() as i64;
            image.shared_size = 0;
        }
        let mut layers_size = 0i64;
        for chain in self.snapshotter.list()? {
            layers_size += self.snapshotter.usage(&chain).unwrap_or(0) as i64;
        }
        let records: Vec<_> = self
            .containers()
            .store()
            .all()
            .iter()
            .map(|e| e.snapshot())
            .collect();
        let mut volumes = self.volumes().list(&Filters::default())?;
        for v in &mut volumes {
            let refs = records
                .iter()
                .filter(|r| {
                    r.mounts
                        .iter()
                        .any(|m| m.kind == "volume" && m.name == v.name)
                })
                .count();
            v.usage_data = Some(berth_api_types::volume::VolumeUsageData {
                size: crate::volumes::disk_usage(std::path::Path::new(&v.mountpoint)) as i64,
                ref_count: refs as i64,
            });
        }
        let mut logs_size = 0i64;
        for r in &records {
            let dir = self.containers().store().dir_of(&r.id);
            let prefix = format!("{}-json.log", r.id);
            if let Ok(entries) = std::fs::read_dir(&dir) {
                for e in entries.flatten() {
                    if e.file_name().to_string_lossy().starts_with(&prefix) {
                        logs_size += e.metadata().map(|m| m.len() as i64).unwrap_or(0);
                    }
                }
            }
        }
        Ok(DiskUsage {
            layers_size,
            images,
            containers,
            volumes,
            build_cache: self.build_cache_usage(),
            logs_size,
        })
    }

    /// The `/info` document.
    pub fn info(&self) -> SystemInfo {
        let uname = rustix::system::uname();
        let mut runtimes = serde_json::Map::new();
        for name in RUNTIME_NAMES {
            runtimes.insert(name.into(), json!({"path": "berth"}));
        }
        SystemInfo {
            id: self.daemon_id().to_string(),
            images: self.images().count() as i64,
            driver: self.snapshotter.name().to_string(),
            driver_status: vec![["Backing Filesystem".into(), backing_fs(self.root())]],
            docker_root_dir: self.root().display().to_string(),
            mem_total: mem_total(),
            ncpu: std::thread::available_parallelism()
                .map(|n| n.get() as i64)
                .unwrap_or(1),
            operating_system: os_pretty_name(),
            os_type: "linux".into(),
            architecture: uname.machine().to_string_lossy().into_owned(),
            kernel_version: uname.release().to_string_lossy().into_owned(),
            name: uname.nodename().to_string_lossy().into_owned(),
            server_version: ENGINE_VERSION.into(),
            cgroup_driver: "cgroupfs".into(),
            cgroup_version: cgroup_version().into(),
            logging_driver: "json-file".into(),
            default_runtime: DEFAULT_RUNTIME.into(),
            security_options: vec!["name=seccomp,profile=builtin".into()],
            n_fd: std::fs::read_dir("/proc/self/fd")
                .map(|d| d.count() as i64)
                .unwrap_or(0),
            n_goroutines: std::fs::read_dir("/proc/self/task")
                .map(|d| d.count() as i64)
                .unwrap_or(0),
            system_time: berth_common::time::now_rfc3339(),
            debug: false,
            labels: vec![],
            experimental_build: false,
            index_server_address: "https://index.docker.io/v1/".into(),
            runtimes,
            swarm: json!({"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": "", "ControlAvailable": false}),
            registry_config: json!({"IndexConfigs": {}, "InsecureRegistryCIDRs": ["127.0.0.0/8"], "Mirrors": []}),
            plugins: json!({"Volume": ["local"], "Network": ["bridge", "host", "none"], "Log": ["json-file", "none"]}),
            warnings: self.containers.firewall_warning().into_iter().collect(),
            ..Default::default()
        }
    }
}

use berth_api_types::go::arch as go_arch;

fn mem_total() -> i64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn os_pretty_name() -> String {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

/// `2` on a unified hierarchy, `1` on legacy or hybrid hosts (where the core controllers are v1).
fn cgroup_version() -> &'static str {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    }
}

fn backing_fs(root: &std::path::Path) -> String {
    match rustix::fs::statfs(root) {
        Ok(s) => match s.f_type as u64 {
            0xEF53 => "extfs".into(),
            0x58465342 => "xfs".into(),
            0x9123683E => "btrfs".into(),
            0x01021994 => "tmpfs".into(),
            0x794c7630 => "overlayfs".into(),
            other => format!("{other:#x}"),
        },
        Err(_) => "unknown".into(),
    }
}
