//! Read-only views of containers: `docker ps` rows with Docker's filters and human status
//! strings, and the full `docker inspect` record.

use super::Containers;
use super::record::{ContainerRecord, Status};
use crate::EngineError;
use berth_api_types::Filters;
use berth_api_types::container::{
    ContainerInspect, ContainerSummary, EndpointSettings, NetworkSettings, Port, SummaryHostConfig,
    SummaryNetworkSettings,
};
use berth_api_types::image::GraphDriver;
use std::collections::BTreeMap;
use std::time::SystemTime;

type Result<T> = std::result::Result<T, EngineError>;

/// Filters `GET /containers/json` accepts.
pub const LIST_FILTERS: &[&str] = &[
    "id", "name", "label", "status", "exited", "ancestor", "before", "since", "volume", "health",
    "network", "is-task", "expose", "publish",
];

/// Options of `GET /containers/json`.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Include stopped containers.
    pub all: bool,
    /// Only the `limit` newest (also includes stopped ones); 0 or less = no limit.
    pub limit: i64,
    /// Compute sizes.
    pub size: bool,
    /// Filters.
    pub filters: Filters,
}

impl Containers {
    /// `docker ps`: newest first.
    pub fn list(&self, opts: &ListOptions) -> Result<Vec<ContainerSummary>> {
        opts.filters.check_names(LIST_FILTERS)?;
        for s in opts.filters.get("status") {
            if !matches!(
                s.as_str(),
                "created" | "restarting" | "running" | "removing" | "paused" | "exited" | "dead"
            ) {
                return Err(EngineError::InvalidArgument(format!(
                    "invalid filter 'status={s}'"
                )));
            }
        }
        let mut records: Vec<ContainerRecord> =
            self.store.all().iter().map(|e| e.snapshot()).collect();
        records.reverse();
        let before = self.boundary(opts.filters.get("before"))?;
        let since = self.boundary(opts.filters.get("since"))?;
        let all = opts.all
            || opts.limit > 0
            || !opts.filters.get("status").is_empty()
            || !opts.filters.get("exited").is_empty();
        let mut out = Vec::new();
        for r in records {
            if let Some(b) = &before
                && r.created >= *b
            {
                continue;
            }
            if let Some(s) = &since
                && r.created <= *s
            {
                continue;
            }
            if !all && !r.state.status.is_running() && r.state.status != Status::Restarting {
                continue;
            }
            if !filter_match(&opts.filters, &r) {
                continue;
            }
            let mut row = summary(&r);
            row.network_settings.networks = self.endpoints(&r);
            if opts.size {
                row.size_rw = Some(self.writable_size(&r.id) as i64);
                row.size_root_fs = Some(0);
            }
            out.push(row);
            if opts.limit > 0 && out.len() as i64 >= opts.limit {
                break;
            }
        }
        Ok(out)
    }

    fn boundary(&self, values: &[String]) -> Result<Option<String>> {
        match values.first() {
            None => Ok(None),
            Some(key) => Ok(Some(self.store.get(key)?.read(|r| r.created.clone()))),
        }
    }

    fn writable_size(&self, id: &str) -> u64 {
        let dir = self.store.dir_of(id).join("rootfs");
        if !self.snapshotter.is_mounted(&dir) {
            return 0;
        }
        // The upper dir is not exposed by the snapshotter trait; the diff walk is the honest
        // measure and is what `ps -s` pays for in Docker too.
        super::changes::diff_size(self, id).unwrap_or(0)
    }

    /// Why a running container's log is losing output, from its shim; said once in the
    /// daemon's log too, the first time it is seen.
    fn log_error(&self, r: &super::record::ContainerRecord) -> Option<String> {
        if !r.state.status.is_running() {
            return None;
        }
        let error = self.shims.client(&r.id).state().ok()?.log_error?;
        let mut reported = self
            .log_errors_reported
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if reported.insert(r.id.clone()) {
            tracing::warn!(id = %r.id, error = %error, "the container's log is losing output");
        }
        Some(error)
    }

    /// `docker inspect` of a container.
    pub fn inspect(&self, key: &str, size: bool) -> Result<ContainerInspect> {
        let entry = self.store.get(key)?;
        let r = entry.snapshot();
        let dir = entry.dir();
        let mut data = BTreeMap::new();
        data.insert(
            "MergedDir".to_string(),
            dir.join("rootfs").display().to_string(),
        );
        let log_error = self.log_error(&r);
        Ok(ContainerInspect {
            log_error,
            id: r.id.clone(),
            created: r.created.clone(),
            path: r.path.clone(),
            args: r.args.clone(),
            state: r.inspect_state(),
            image: r.image_id.clone(),
            resolv_conf_path: dir.join("resolv.conf").display().to_string(),
            hostname_path: dir.join("hostname").display().to_string(),
            hosts_path: dir.join("hosts").display().to_string(),
            log_path: if r.host_config.log_config.kind == "none" {
                String::new()
            } else {
                super::log_path(dir, &r.id).display().to_string()
            },
            name: format!("/{}", r.name),
            restart_count: r.state.restart_count,
            driver: self.snapshotter.name().to_string(),
            platform: "linux".into(),
            mount_label: String::new(),
            process_label: String::new(),
            app_armor_profile: String::new(),
            exec_ids: {
                let ids = self.execs.ids_of(&r.id);
                (!ids.is_empty()).then_some(ids)
            },
            host_config: r.host_config.clone(),
            graph_driver: GraphDriver {
                name: self.snapshotter.name().to_string(),
                data,
            },
            size_rw: size.then(|| self.writable_size(&r.id) as i64),
            size_root_fs: size.then_some(0),
            mounts: r.mounts.clone(),
            config: r.config.clone(),
            network_settings: self.network_settings(&r),
        })
    }
}

impl Containers {
    /// The endpoints of a container, as inspect and `ps` show them: one per network it is on
    /// (with its address while it runs).
    fn endpoints(&self, r: &ContainerRecord) -> BTreeMap<String, EndpointSettings> {
        let mut out = BTreeMap::new();
        let primary = match super::netsetup::mode(&r.host_config.network_mode) {
            super::netsetup::Mode::Network(_) if r.left_mode_network => None,
            super::netsetup::Mode::Network(n) => Some(n),
            super::netsetup::Mode::Host => Some("host".to_string()),
            super::netsetup::Mode::None => Some("none".to_string()),
            super::netsetup::Mode::Container(_) => None,
        };
        let names: Vec<String> = primary
            .into_iter()
            .chain(r.endpoints.keys().cloned())
            .collect();
        for name in names {
            let Ok(net) = self.net.store().find(&name) else {
                continue;
            };
            let mut ep = r.endpoints.get(&name).cloned().unwrap_or_default();
            ep.network_id = net.id.clone();
            if let Some(live) = net.endpoints.get(&r.id) {
                ep.endpoint_id = live.id.clone();
                ep.mac_address = live.mac.clone();
                if let (Some(ip), Some(subnet)) = (live.ip, net.subnet) {
                    ep.ip_address = ip.to_string();
                    ep.ip_prefix_len = i64::from(subnet.prefix);
                    ep.gateway = net.gateway.map(|g| g.to_string()).unwrap_or_default();
                }
                if let (Some(ip6), Some(s6)) = (live.ip6, net.subnet6) {
                    ep.global_ipv6_address = ip6.to_string();
                    ep.global_ipv6_prefix_len = i64::from(s6.prefix);
                    ep.ipv6_gateway = net.gateway6.map(|g| g.to_string()).unwrap_or_default();
                }
                let mut dns = vec![r.name.clone(), r.id[..12].to_string()];
                dns.extend(live.aliases.iter().cloned());
                ep.dns_names = dns;
            }
            out.insert(net.name.clone(), ep);
        }
        out
    }

    /// `NetworkSettings` of inspect; Docker's deprecated top-level fields come from the
    /// default network.
    fn network_settings(&self, r: &ContainerRecord) -> NetworkSettings {
        let networks = self.endpoints(r);
        let default = networks.get("bridge").cloned().unwrap_or_default();
        NetworkSettings {
            sandbox_key: if !r.state.status.is_running() {
                String::new()
            } else if self.net.has_netns(&r.id) {
                self.net.netns_of(&r.id).display().to_string()
            } else if r.host_config.network_mode != "host" {
                format!("/proc/{}/ns/net", r.state.pid)
            } else {
                String::new()
            },
            ports: port_map(r),
            endpoint_id: default.endpoint_id.clone(),
            gateway: default.gateway.clone(),
            ip_address: default.ip_address.clone(),
            ip_prefix_len: default.ip_prefix_len,
            mac_address: default.mac_address.clone(),
            networks,
            ..Default::default()
        }
    }
}

fn filter_match(f: &Filters, r: &ContainerRecord) -> bool {
    let any = |key: &str, pred: &dyn Fn(&str) -> bool| {
        let want = f.get(key);
        want.is_empty() || want.iter().any(|w| pred(w))
    };
    any("id", &|w| r.id.starts_with(w))
        && any("name", &|w| r.name.contains(w.trim_start_matches('/')))
        && f.labels_match("label", &r.config.labels)
        && any("status", &|w| w == r.state.status.as_str())
        && any("exited", &|w| {
            r.state.status == Status::Exited && w.parse::<i64>() == Ok(r.state.exit_code)
        })
        && any("ancestor", &|w| {
            r.config.image == w
                || r.image_id == w
                || r.image_id.trim_start_matches("sha256:").starts_with(w)
                || r.config.image.split(':').next() == Some(w)
        })
        && any("volume", &|w| {
            r.mounts
                .iter()
                .any(|m| m.name == w || m.destination == w || m.source == w)
        })
        && any("health", &|w| {
            let status = r
                .state
                .health
                .as_ref()
                .map_or("none", |h| h.status.as_str());
            w == status
        })
        && any("network", &|w| w == r.host_config.network_mode)
        && any("expose", &|w| {
            r.config
                .exposed_ports
                .keys()
                .any(|p| p == w || p.split('/').next() == Some(w))
        })
        && f.get("is-task").iter().all(|w| w == "false")
        && f.get("publish").is_empty()
}

/// `NetworkSettings.Ports`: every exposed port, with its host bindings while published.
fn port_map(r: &ContainerRecord) -> berth_api_types::container::PortMap {
    let mut map: berth_api_types::container::PortMap = r
        .config
        .exposed_ports
        .keys()
        .map(|k| (k.clone(), None))
        .collect();
    for p in &r.state.ports {
        let bindings = map
            .entry(p.key())
            .or_insert(None)
            .get_or_insert_with(Vec::new);
        bindings.push(berth_api_types::container::PortBinding {
            host_ip: p.host_ip.to_string(),
            host_port: p.host_port.to_string(),
        });
        if p.v6 {
            bindings.push(berth_api_types::container::PortBinding {
                host_ip: "::".into(),
                host_port: p.host_port.to_string(),
            });
        }
    }
    map
}

/// One `ps` row.
pub fn summary(r: &ContainerRecord) -> ContainerSummary {
    let mut ports: Vec<Port> = r
        .config
        .exposed_ports
        .keys()
        .filter_map(|k| {
            let (port, proto) = k.split_once('/').unwrap_or((k.as_str(), "tcp"));
            Some(Port {
                ip: None,
                private_port: port.parse().ok()?,
                public_port: None,
                kind: proto.to_string(),
            })
        })
        .collect();
    for p in &r.state.ports {
        ports.retain(|x| !(x.private_port == p.container_port && x.public_port.is_none()));
        let kind = if p.udp { "udp" } else { "tcp" };
        ports.push(Port {
            ip: Some(p.host_ip.to_string()),
            private_port: p.container_port,
            public_port: Some(p.host_port),
            kind: kind.into(),
        });
        if p.v6 {
            ports.push(Port {
                ip: Some("::".into()),
                private_port: p.container_port,
                public_port: Some(p.host_port),
                kind: kind.into(),
            });
        }
    }
    ports.sort();
    let mut command = r.path.clone();
    for a in &r.args {
        command.push(' ');
        command.push_str(a);
    }
    ContainerSummary {
        id: r.id.clone(),
        names: vec![format!("/{}", r.name)],
        image: r.config.image.clone(),
        image_id: r.image_id.clone(),
        command,
        created: berth_shim_proto::timefmt::parse_nanos(&r.created)
            .map_or(0, |n| (n / 1_000_000_000) as i64),
        ports,
        size_rw: None,
        size_root_fs: None,
        labels: r.config.labels.clone(),
        state: r.state.status.as_str().to_string(),
        status: human_status(r, SystemTime::now()),
        host_config: SummaryHostConfig {
            network_mode: r.host_config.network_mode.clone(),
            annotations: None,
        },
        network_settings: SummaryNetworkSettings {
            networks: BTreeMap::new(),
        },
        mounts: r.mounts.clone(),
    }
}

/// Docker's `Status` column: `Up 2 minutes (healthy)`, `Exited (0) 3 seconds ago`, `Created`.
pub fn human_status(r: &ContainerRecord, now: SystemTime) -> String {
    let since = |t: &str| {
        berth_shim_proto::timefmt::parse_nanos(t)
            .map(|n| {
                let now = berth_shim_proto::timefmt::unix_nanos(now);
                std::time::Duration::from_nanos((now - n).max(0) as u64)
            })
            .unwrap_or_default()
    };
    let s = &r.state;
    match s.status {
        Status::Created => "Created".into(),
        Status::Running | Status::Paused => {
            let mut out = format!("Up {}", human_duration(since(&s.started_at)));
            if s.status == Status::Paused {
                out.push_str(" (Paused)");
            } else if let Some(h) = &s.health {
                match h.status.as_str() {
                    "starting" => out.push_str(" (health: starting)"),
                    "healthy" => out.push_str(" (healthy)"),
                    "unhealthy" => out.push_str(" (unhealthy)"),
                    _ => {}
                }
            }
            out
        }
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            s.exit_code,
            human_duration(since(&s.finished_at))
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
        Status::Exited => {
            if !s.has_been_started {
                "Created".into()
            } else {
                format!(
                    "Exited ({}) {} ago",
                    s.exit_code,
                    human_duration(since(&s.finished_at))
                )
            }
        }
    }
}

/// Docker's `units.HumanDuration`.
pub fn human_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    let hours = secs / 3600;
    if secs < 1 {
        "Less than a second".into()
    } else if secs == 1 {
        "1 second".into()
    } else if secs < 60 {
        format!("{secs} seconds")
    } else if secs / 60 == 1 {
        "About a minute".into()
    } else if secs < 3600 {
        format!("{} minutes", secs / 60)
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", hours / 24 / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_read_like_docker() {
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(Duration::from_secs(1)), "1 second");
        assert_eq!(human_duration(Duration::from_secs(59)), "59 seconds");
        assert_eq!(human_duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(600)), "10 minutes");
        assert_eq!(human_duration(Duration::from_secs(3600)), "About an hour");
        assert_eq!(human_duration(Duration::from_secs(5 * 3600)), "5 hours");
        assert_eq!(human_duration(Duration::from_secs(3 * 86400)), "3 days");
    }

    #[test]
    fn statuses() {
        let now = SystemTime::now();
        let t = berth_shim_proto::timefmt::format_nanos(
            berth_shim_proto::timefmt::unix_nanos(now) - 5_000_000_000,
        );
        let mut r = ContainerRecord::default();
        assert_eq!(human_status(&r, now), "Created");
        r.state.status = Status::Running;
        r.state.started_at = t.clone();
        assert_eq!(human_status(&r, now), "Up 5 seconds");
        r.state.health = Some(berth_api_types::container::Health {
            status: "healthy".into(),
            ..Default::default()
        });
        assert_eq!(human_status(&r, now), "Up 5 seconds (healthy)");
        r.state.status = Status::Exited;
        r.state.has_been_started = true;
        r.state.exit_code = 3;
        r.state.finished_at = t;
        assert_eq!(human_status(&r, now), "Exited (3) 5 seconds ago");
    }

    #[test]
    fn filters() {
        let mut r = ContainerRecord {
            id: "abcdef".into(),
            name: "web".into(),
            image_id: "sha256:1234".into(),
            ..Default::default()
        };
        r.config.image = "busybox:latest".into();
        r.config.labels.insert("tier".into(), "front".into());
        r.state.status = Status::Exited;
        r.state.exit_code = 2;
        let f = |pairs: &[(&str, &str)]| {
            let mut f = Filters::default();
            for (k, v) in pairs {
                f.add(*k, *v);
            }
            f
        };
        assert!(filter_match(&f(&[("name", "we")]), &r));
        assert!(!filter_match(&f(&[("name", "db")]), &r));
        assert!(filter_match(&f(&[("label", "tier=front")]), &r));
        assert!(filter_match(&f(&[("exited", "2")]), &r));
        assert!(!filter_match(&f(&[("exited", "0")]), &r));
        assert!(filter_match(&f(&[("ancestor", "busybox")]), &r));
        assert!(filter_match(&f(&[("status", "exited")]), &r));
        assert!(!filter_match(&f(&[("status", "running")]), &r));
    }
}
