//! Rows of `ps`, `stats`, `diff`, `top` and `port`, with the field names Docker's templates use
//! (`cli/command/formatter/container.go`, `formatter_stats.go`).

use super::table::Format;
use super::units::{bytes_size, human_duration, human_size_with_precision};
use super::{ellipsis, go_time_string};
use berth_api_types::container::{ContainerStats, ContainerSummary, Port, PortMap};
use berth_common::Reference;
use serde::Serialize;
use std::time::Duration;

/// The default `ps` table.
pub const PS_DEFAULT_FORMAT: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
/// `ps -q`.
pub const PS_QUIET_FORMAT: &str = "{{.ID}}";

/// Column titles of `ps`.
pub const PS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Names", "NAMES"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Networks", "NETWORKS"),
];

/// Picks the `ps` format for the flags, as Docker's `NewContainerFormat` does (`-s` adds the
/// size column to the default table).
pub fn ps_format(user: Option<&str>, quiet: bool, size: bool) -> Format {
    let default = if size {
        format!("{PS_DEFAULT_FORMAT}\t{{{{.Size}}}}")
    } else {
        PS_DEFAULT_FORMAT.to_string()
    };
    match user {
        Some(f) if quiet && !f.is_empty() && f != "table" => {
            Format::parse(PS_QUIET_FORMAT, &default)
        }
        _ if quiet => Format::parse(PS_QUIET_FORMAT, &default),
        Some(f) if !f.is_empty() => Format::parse(f, &default),
        _ => Format::parse(&default, &default),
    }
}

/// One `ps` row as templates see it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerRow {
    /// Short or full id.
    #[serde(rename = "ID")]
    pub id: String,
    /// Names without `/`.
    pub names: String,
    /// Image as the user named it (familiar form when truncating).
    pub image: String,
    /// Quoted command, cut at 20 characters when truncating.
    pub command: String,
    /// Creation time (`2024-01-02 15:04:05 +0000 UTC`).
    pub created_at: String,
    /// "5 seconds ago".
    pub running_for: String,
    /// `0.0.0.0:8080->80/tcp, 443/tcp`.
    pub ports: String,
    /// `running`, `exited`, …
    pub state: String,
    /// "Up 3 seconds".
    pub status: String,
    /// `2B (virtual 4.26MB)`.
    pub size: String,
    /// `a=b,c=d`.
    pub labels: String,
    /// Volume names or bind sources.
    pub mounts: String,
    /// Number of local volumes.
    pub local_volumes: String,
    /// Network names.
    pub networks: String,
}

/// Docker's `TruncateID`: drops an algorithm prefix and keeps 12 characters.
pub fn truncate_id(id: &str) -> String {
    let id = id.split_once(':').map_or(id, |(_, rest)| rest);
    id.chars().take(12).collect()
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The image column: with truncation, a short id when the image was given by id, else the
/// familiar reference without its digest.
fn image_column(c: &ContainerSummary, trunc: bool) -> String {
    if c.image.is_empty() {
        return "<no image>".into();
    }
    if !trunc {
        return c.image.clone();
    }
    let short = truncate_id(&c.image_id);
    if short == truncate_id(&c.image) {
        return short;
    }
    match Reference::parse(&c.image) {
        Ok(r) if r.digest().is_some() => {
            let name = r.familiar_name();
            match r.tag() {
                Some(t) => format!("{name}:{t}"),
                None => name,
            }
        }
        Ok(r) => r.familiar(),
        Err(_) => c.image.clone(),
    }
}

fn join_host_port(ip: &str, port: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// Docker's `DisplayablePorts`: consecutive ports grouped into ranges, published ones as
/// `ip:host->container/proto`.
pub fn displayable_ports(ports: &[Port]) -> String {
    let mut ports = ports.to_vec();
    ports.sort_by(|a, b| {
        (
            a.private_port,
            a.ip.as_deref().unwrap_or(""),
            a.public_port,
            &a.kind,
        )
            .cmp(&(
                b.private_port,
                b.ip.as_deref().unwrap_or(""),
                b.public_port,
                &b.kind,
            ))
    });
    let mut groups: Vec<(String, u16, u16)> = Vec::new();
    let mut result = Vec::new();
    let mut host_mappings = Vec::new();
    for p in &ports {
        let current = p.private_port;
        let mut key = p.kind.clone();
        if let Some(ip) = p.ip.as_deref().filter(|ip| !ip.is_empty()) {
            let public = p.public_port.unwrap_or(0);
            if public != current {
                host_mappings.push(format!(
                    "{}->{}/{}",
                    join_host_port(ip, &public.to_string()),
                    p.private_port,
                    p.kind
                ));
                continue;
            }
            key = format!("{ip}/{}", p.kind);
        }
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            None => groups.push((key, current, current)),
            Some(g) if current == g.2.wrapping_add(1) => g.2 = current,
            Some(g) => {
                result.push(form_group(&g.0, g.1, g.2));
                g.1 = current;
                g.2 = current;
            }
        }
    }
    for (k, first, last) in &groups {
        result.push(form_group(k, *first, *last));
    }
    result.extend(host_mappings);
    result.join(", ")
}

fn form_group(key: &str, start: u16, last: u16) -> String {
    let (ip, kind) = match key.rsplit_once('/') {
        Some((ip, kind)) => (ip, kind),
        None => ("", key),
    };
    let mut group = start.to_string();
    if start != last {
        group = format!("{group}-{last}");
    }
    if !ip.is_empty() {
        group = format!("{}->{group}", join_host_port(ip, &group));
    }
    format!("{group}/{kind}")
}

/// Builds the `ps` row of one container; `now` is Unix seconds.
pub fn container_row(c: &ContainerSummary, trunc: bool, now: i64) -> ContainerRow {
    let names: Vec<&str> = c.names.iter().map(|n| n.trim_start_matches('/')).collect();
    let names = if trunc {
        names
            .iter()
            .find(|n| !n.contains('/'))
            .map(|n| n.to_string())
            .unwrap_or_default()
    } else {
        names.join(",")
    };
    let command = if trunc {
        ellipsis(&c.command, 20)
    } else {
        c.command.clone()
    };
    let srw = human_size_with_precision(c.size_rw.unwrap_or(0) as f64, 3);
    let size = match c.size_root_fs {
        Some(v) if v > 0 => format!("{srw} (virtual {})", human_size_with_precision(v as f64, 3)),
        _ => srw,
    };
    let labels = c
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let mounts = c
        .mounts
        .iter()
        .map(|m| {
            let name = if m.name.is_empty() {
                &m.source
            } else {
                &m.name
            };
            if trunc {
                ellipsis(name, 15)
            } else {
                name.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    let local_volumes = c.mounts.iter().filter(|m| m.driver == "local").count();
    ContainerRow {
        id: if trunc {
            truncate_id(&c.id)
        } else {
            c.id.clone()
        },
        names,
        image: image_column(c, trunc),
        command: go_quote(&command),
        created_at: go_time_string(c.created),
        running_for: format!(
            "{} ago",
            human_duration(Duration::from_secs(
                now.saturating_sub(c.created).max(0) as u64
            ))
        ),
        ports: displayable_ports(&c.ports),
        state: c.state.clone(),
        status: c.status.clone(),
        size,
        labels,
        mounts,
        local_volumes: local_volumes.to_string(),
        networks: c
            .network_settings
            .networks
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// `docker port` lines: `80/tcp -> 0.0.0.0:8080`, or only the host addresses of `filter`
/// (`80`, `80/udp`), sorted in natural order like Docker. The error is Docker's text without
/// the ` for CONTAINER` suffix the command adds.
pub fn port_lines(ports: &PortMap, filter: Option<&str>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    if let Some(f) = filter {
        let (port, proto) = f.split_once('/').unwrap_or((f, ""));
        let proto = if proto.is_empty() { "tcp" } else { proto };
        if let Err(e) = port.parse::<u16>() {
            let why = match e.kind() {
                std::num::IntErrorKind::PosOverflow => "value out of range",
                _ => "invalid syntax",
            };
            return Err(format!(
                "Error: invalid port ({port}): strconv.ParseUint: parsing {}: {why}",
                super::containers::go_quote(port)
            ));
        }
        match ports.get(&format!("{port}/{proto}")) {
            Some(Some(bindings)) if !bindings.is_empty() => {
                out.extend(
                    bindings
                        .iter()
                        .map(|b| join_host_port(&b.host_ip, &b.host_port)),
                );
            }
            _ => return Err(format!("Error: No public port '{f}' published")),
        }
    } else {
        for (k, bindings) in ports {
            for b in bindings.iter().flatten() {
                out.push(format!(
                    "{k} -> {}",
                    join_host_port(&b.host_ip, &b.host_port)
                ));
            }
        }
    }
    out.sort_by(|a, b| super::natural_cmp(a, b));
    Ok(out)
}

/// The default `stats` table.
pub const STATS_DEFAULT_FORMAT: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// Column titles of `stats`.
pub const STATS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Container", "CONTAINER"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// One `stats` row as templates see it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatsRow {
    /// What the user named (or the short id).
    #[serde(rename = "Container")]
    pub container: String,
    /// Name without `/`.
    #[serde(rename = "Name")]
    pub name: String,
    /// Short or full id.
    #[serde(rename = "ID")]
    pub id: String,
    /// `0.25%`.
    #[serde(rename = "CPUPerc")]
    pub cpu_perc: String,
    /// `1.5MiB / 7.6GiB`.
    #[serde(rename = "MemUsage")]
    pub mem_usage: String,
    /// `0.02%`.
    #[serde(rename = "MemPerc")]
    pub mem_perc: String,
    /// `1.2kB / 0B`.
    #[serde(rename = "NetIO")]
    pub net_io: String,
    /// `0B / 0B`.
    #[serde(rename = "BlockIO")]
    pub block_io: String,
    /// Process count.
    #[serde(rename = "PIDs")]
    pub pids: String,
}

/// Figures computed from a sample, before formatting.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsFigures {
    /// CPU percentage (100 = one full CPU).
    pub cpu: f64,
    /// Memory in use without cache.
    pub mem: f64,
    /// Memory limit.
    pub mem_limit: f64,
    /// Memory percentage of the limit.
    pub mem_perc: f64,
    /// Bytes received.
    pub net_rx: f64,
    /// Bytes sent.
    pub net_tx: f64,
    /// Bytes read from block devices.
    pub blk_read: f64,
    /// Bytes written to block devices.
    pub blk_write: f64,
    /// Processes.
    pub pids: u64,
}

/// Docker's calculations (`stats_helpers.go`): CPU as the container's share of the host's
/// CPU time since the previous sample times the CPUs online.
pub fn stats_figures(s: &ContainerStats) -> StatsFigures {
    let cpu_delta =
        s.cpu_stats.cpu_usage.total_usage as f64 - s.precpu_stats.cpu_usage.total_usage as f64;
    let sys_delta = s.cpu_stats.system_cpu_usage.unwrap_or(0) as f64
        - s.precpu_stats.system_cpu_usage.unwrap_or(0) as f64;
    let online = match s.cpu_stats.online_cpus {
        Some(n) if n > 0 => n as f64,
        _ => s
            .cpu_stats
            .cpu_usage
            .percpu_usage
            .as_ref()
            .map_or(0, Vec::len) as f64,
    };
    let cpu = if sys_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / sys_delta * online * 100.0
    } else {
        0.0
    };
    let mem = s.memory_stats.usage_no_cache() as f64;
    let mem_limit = s.memory_stats.limit as f64;
    let mem_perc = if mem_limit > 0.0 {
        mem / mem_limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    for n in s.networks.iter().flat_map(|m| m.values()) {
        rx += n.rx_bytes as f64;
        tx += n.tx_bytes as f64;
    }
    let (mut read, mut write) = (0.0, 0.0);
    for e in s.blkio_stats.io_service_bytes_recursive.iter().flatten() {
        match e.op.to_ascii_lowercase().as_str() {
            "read" => read += e.value as f64,
            "write" => write += e.value as f64,
            _ => {}
        }
    }
    StatsFigures {
        cpu,
        mem,
        mem_limit,
        mem_perc,
        net_rx: rx,
        net_tx: tx,
        blk_read: read,
        blk_write: write,
        pids: s.pids_stats.current,
    }
}

/// Formats one `stats` row. `running` is false for stopped containers, whose figures Docker
/// shows as `--`.
pub fn stats_row(container: &str, s: &ContainerStats, trunc: bool, running: bool) -> StatsRow {
    let id = if trunc {
        truncate_id(&s.id)
    } else {
        s.id.clone()
    };
    let name = s.name.trim_start_matches('/').to_string();
    if !running {
        return StatsRow {
            container: container.to_string(),
            name: if name.is_empty() { "--".into() } else { name },
            id,
            cpu_perc: "--".into(),
            mem_usage: "-- / --".into(),
            mem_perc: "--".into(),
            net_io: "--".into(),
            block_io: "--".into(),
            pids: "--".into(),
        };
    }
    let f = stats_figures(s);
    StatsRow {
        container: container.to_string(),
        name,
        id,
        cpu_perc: format!("{:.2}%", f.cpu),
        mem_usage: format!("{} / {}", bytes_size(f.mem), bytes_size(f.mem_limit)),
        mem_perc: format!("{:.2}%", f.mem_perc),
        net_io: format!(
            "{} / {}",
            human_size_with_precision(f.net_rx, 3),
            human_size_with_precision(f.net_tx, 3)
        ),
        block_io: format!(
            "{} / {}",
            human_size_with_precision(f.blk_read, 3),
            human_size_with_precision(f.blk_write, 3)
        ),
        pids: f.pids.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api_types::container::{MountPoint, PortBinding};

    fn summary() -> ContainerSummary {
        ContainerSummary {
            id: "0123456789abcdef0123456789abcdef".into(),
            names: vec!["/web".into()],
            image: "busybox".into(),
            image_id: "sha256:aaaaaaaaaaaaaaaa".into(),
            command: "sh -c 'while true; do sleep 1; done'".into(),
            created: 1000,
            state: "running".into(),
            status: "Up 3 seconds".into(),
            ..Default::default()
        }
    }

    fn port(ip: Option<&str>, private: u16, public: Option<u16>, kind: &str) -> Port {
        Port {
            ip: ip.map(Into::into),
            private_port: private,
            public_port: public,
            kind: kind.into(),
        }
    }

    #[test]
    fn ps_row_like_docker() {
        let r = container_row(&summary(), true, 1005);
        assert_eq!(r.id, "0123456789ab");
        assert_eq!(r.names, "web");
        assert_eq!(r.image, "busybox");
        assert_eq!(r.command, "\"sh -c 'while true; …\"");
        assert_eq!(r.running_for, "5 seconds ago");
        assert_eq!(r.status, "Up 3 seconds");
        assert_eq!(r.created_at, "1970-01-01 00:16:40 +0000 UTC");
        assert_eq!(r.size, "0B");
        let full = container_row(&summary(), false, 1005);
        assert_eq!(full.id.len(), 32);
        assert_eq!(full.command, "\"sh -c 'while true; do sleep 1; done'\"");
    }

    #[test]
    fn image_column_variants() {
        let mut c = summary();
        c.image = "docker.io/library/busybox:latest".into();
        assert_eq!(container_row(&c, true, 0).image, "busybox:latest");
        c.image = "sha256:aaaaaaaaaaaaaaaa".into();
        assert_eq!(container_row(&c, true, 0).image, "aaaaaaaaaaaa");
        c.image = String::new();
        assert_eq!(container_row(&c, true, 0).image, "<no image>");
    }

    #[test]
    fn sizes_labels_mounts() {
        let mut c = summary();
        c.size_rw = Some(2);
        c.size_root_fs = Some(4_261_234);
        c.labels.insert("b".into(), "2".into());
        c.labels.insert("a".into(), "1".into());
        c.mounts.push(MountPoint {
            name: "0123456789abcdef0123".into(),
            driver: "local".into(),
            ..Default::default()
        });
        let r = container_row(&c, true, 0);
        assert_eq!(r.size, "2B (virtual 4.26MB)");
        assert_eq!(r.labels, "a=1,b=2");
        assert_eq!(r.mounts, "0123456789abcd…");
        assert_eq!(r.local_volumes, "1");
    }

    #[test]
    fn ports_group_like_docker() {
        assert_eq!(displayable_ports(&[]), "");
        let ports = [
            port(None, 9988, None, "tcp"),
            port(Some("0.0.0.0"), 9090, Some(80), "tcp"),
        ];
        assert_eq!(displayable_ports(&ports), "9988/tcp, 0.0.0.0:80->9090/tcp");
        let ports = [
            port(None, 80, None, "tcp"),
            port(None, 81, None, "tcp"),
            port(None, 82, None, "tcp"),
            port(None, 53, None, "udp"),
        ];
        assert_eq!(displayable_ports(&ports), "53/udp, 80-82/tcp");
        let ports = [
            port(Some("1.2.3.4"), 80, Some(80), "tcp"),
            port(Some("1.2.3.4"), 81, Some(81), "tcp"),
            port(Some("::"), 8080, Some(9000), "tcp"),
        ];
        assert_eq!(
            displayable_ports(&ports),
            "1.2.3.4:80-81->80-81/tcp, [::]:9000->8080/tcp"
        );
    }

    #[test]
    fn quoting_and_ids() {
        assert_eq!(go_quote("a\"b\\c\n\x01é"), "\"a\\\"b\\\\c\\n\\x01é\"");
        assert_eq!(truncate_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(truncate_id("abc"), "abc");
    }

    #[test]
    fn ps_formats() {
        assert_eq!(ps_format(None, true, false).template, "{{.ID}}");
        let f = ps_format(None, false, true);
        assert!(f.table);
        assert!(
            f.template.ends_with("{{.Names}}\t{{.Size}}"),
            "{}",
            f.template
        );
        assert_eq!(
            ps_format(Some("{{.Names}}"), false, false).template,
            "{{.Names}}"
        );
    }

    #[test]
    fn port_lines_like_docker() {
        let mut m = PortMap::new();
        m.insert(
            "80/tcp".into(),
            Some(vec![
                PortBinding {
                    host_ip: "0.0.0.0".into(),
                    host_port: "8080".into(),
                },
                PortBinding {
                    host_ip: "::".into(),
                    host_port: "8080".into(),
                },
            ]),
        );
        m.insert("443/tcp".into(), None);
        m.insert(
            "9/udp".into(),
            Some(vec![PortBinding {
                host_ip: "0.0.0.0".into(),
                host_port: "9".into(),
            }]),
        );
        assert_eq!(
            port_lines(&m, None).unwrap(),
            [
                "9/udp -> 0.0.0.0:9",
                "80/tcp -> 0.0.0.0:8080",
                "80/tcp -> [::]:8080"
            ]
        );
        assert_eq!(
            port_lines(&m, Some("80")).unwrap(),
            ["0.0.0.0:8080", "[::]:8080"]
        );
        assert_eq!(
            port_lines(&m, Some("443/tcp")).unwrap_err(),
            "Error: No public port '443/tcp' published"
        );
        assert_eq!(
            port_lines(&m, Some("9")).unwrap_err(),
            "Error: No public port '9' published"
        );
        assert_eq!(port_lines(&m, Some("9/udp")).unwrap(), ["0.0.0.0:9"]);
        assert_eq!(
            port_lines(&m, Some("http")).unwrap_err(),
            "Error: invalid port (http): strconv.ParseUint: parsing \"http\": invalid syntax"
        );
        // Bindings listed IPv6 first still print IPv4 first (natural order of the lines).
        let mut m = PortMap::new();
        m.insert(
            "8080/tcp".into(),
            Some(vec![
                PortBinding {
                    host_ip: "::".into(),
                    host_port: "32768".into(),
                },
                PortBinding {
                    host_ip: "0.0.0.0".into(),
                    host_port: "32768".into(),
                },
            ]),
        );
        m.insert("443/tcp".into(), Some(vec![]));
        assert_eq!(
            port_lines(&m, None).unwrap(),
            ["8080/tcp -> 0.0.0.0:32768", "8080/tcp -> [::]:32768"]
        );
    }

    #[test]
    fn stats_like_docker() {
        let raw = r#"{"id":"0123456789abcdef","name":"/web",
            "pids_stats":{"current":3},
            "cpu_stats":{"cpu_usage":{"total_usage":300},"system_cpu_usage":2000,"online_cpus":2},
            "precpu_stats":{"cpu_usage":{"total_usage":100},"system_cpu_usage":1000},
            "memory_stats":{"usage":2097152,"stats":{"inactive_file":1048576},"limit":1073741824},
            "networks":{"eth0":{"rx_bytes":1200,"tx_bytes":0}},
            "blkio_stats":{"io_service_bytes_recursive":[{"major":8,"minor":0,"op":"read","value":4096},{"major":8,"minor":0,"op":"write","value":0}]}}"#;
        let s: ContainerStats = serde_json::from_str(raw).unwrap();
        let r = stats_row("web", &s, true, true);
        assert_eq!(r.cpu_perc, "40.00%");
        assert_eq!(r.mem_usage, "1MiB / 1GiB");
        assert_eq!(r.mem_perc, "0.10%");
        assert_eq!(r.net_io, "1.2kB / 0B");
        assert_eq!(r.block_io, "4.1kB / 0B");
        assert_eq!(r.pids, "3");
        assert_eq!(r.name, "web");
        assert_eq!(r.id, "0123456789ab");
        let stopped = stats_row("web", &s, true, false);
        assert_eq!(stopped.cpu_perc, "--");
    }
}
