//! The per-container `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf`, written into the
//! container's directory and bind-mounted over the image's files, as Docker does: the image
//! stays untouched and the files can change while the container runs (networks, later).

use crate::EngineError;
use crate::spec::EtcFiles;
use berth_api_types::container::HostConfig;
use std::path::Path;

/// The public resolvers Docker falls back to when the host has none a container can use.
const FALLBACK_NAMESERVERS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// Writes the three files into `dir` and returns their paths.
pub fn write(
    dir: &Path,
    hostname: &str,
    host: &HostConfig,
    host_resolv_conf: &str,
    ip: Option<std::net::Ipv4Addr>,
    nameserver: Option<std::net::Ipv4Addr>,
) -> Result<EtcFiles, EngineError> {
    let files = EtcFiles {
        hosts: dir.join("hosts"),
        hostname: dir.join("hostname"),
        resolv_conf: dir.join("resolv.conf"),
    };
    let host_net = host.network_mode == "host";
    write_file(&files.hostname, &format!("{hostname}\n"))?;
    let hosts = if host_net {
        // The host's own file, plus `--add-host` entries; the host is itself.
        let mut h = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        if !h.is_empty() && !h.ends_with('\n') {
            h.push('\n');
        }
        h.push_str(&host_entries(
            &host.extra_hosts,
            Some(std::net::Ipv4Addr::LOCALHOST),
        ));
        h
    } else {
        // A bridged container's gateway (its DNS server) is the host's address on its bridge.
        hosts_file(hostname, &host.extra_hosts, ip, nameserver)
    };
    write_file(&files.hosts, &hosts)?;
    write_file(
        &files.resolv_conf,
        &resolv_conf(host_resolv_conf, host, host_net, nameserver),
    )?;
    Ok(files)
}

/// The `--add-host` lines and the [`HOST_NAME`] line, with `host-gateway` as `gateway` (entries
/// naming it are left out when there is none: `--network none`).
fn host_entries(extra_hosts: &[String], gateway: Option<std::net::Ipv4Addr>) -> String {
    let mut s = String::new();
    for entry in extra_hosts {
        // `name:ip` (IPv6 addresses contain colons: split at the first one) or `name=ip`.
        let split = entry.split_once('=').or_else(|| entry.split_once(':'));
        match split {
            Some((name, "host-gateway")) => {
                if let Some(gw) = gateway {
                    s.push_str(&format!("{gw}\t{name}\n"));
                }
            }
            Some((name, ip)) => s.push_str(&format!("{ip}\t{name}\n")),
            None => {}
        }
    }
    if let Some(gw) = gateway {
        s.push_str(&format!("{gw}\t{HOST_NAME}\n"));
    }
    s
}

/// Moves the container's embedded DNS server (and `host.berth.internal`) from gateway `old`
/// to `new` in the files in `dir`, when they name it: the network that carried them was
/// disconnected. Written in place, as the files are bind-mounted into the running container.
pub fn switch_gateway(
    dir: &Path,
    old: std::net::Ipv4Addr,
    new: std::net::Ipv4Addr,
) -> Result<(), EngineError> {
    let (old, new) = (old.to_string(), new.to_string());
    for name in ["resolv.conf", "hosts"] {
        let path = dir.join(name);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let switched = replace_address(&text, &old, &new);
        if switched != text {
            write_file(&path, &switched)?;
        }
    }
    Ok(())
}

/// `text` with every whitespace-separated word equal to `old` replaced by `new`.
fn replace_address(text: &str, old: &str, new: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.contains(&old) && !line.trim_start().starts_with('#') {
            let mut l = words
                .iter()
                .map(|w| if *w == old { new } else { w })
                .collect::<Vec<_>>()
                .join(if line.contains('\t') { "\t" } else { " " });
            if line.ends_with('\n') {
                l.push('\n');
            }
            out.push_str(&l);
        } else {
            out.push_str(line);
        }
    }
    out
}

fn write_file(path: &Path, content: &str) -> Result<(), EngineError> {
    std::fs::write(path, content).map_err(|e| EngineError::io(path, e))
}

/// The name containers reach the host by (Docker Desktop's `host.docker.internal`).
pub const HOST_NAME: &str = "host.berth.internal";

/// Docker's /etc/hosts for a container: loopback names, IPv6 names, `--add-host` entries
/// (`host-gateway` is the host's address as the container sees it, `gateway`), and
/// [`HOST_NAME`]. The container's own address line joins when it gets one (networking).
pub fn hosts_file(
    hostname: &str,
    extra_hosts: &[String],
    ip: Option<std::net::Ipv4Addr>,
    gateway: Option<std::net::Ipv4Addr>,
) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    s.push_str(&host_entries(extra_hosts, gateway));
    if !hostname.is_empty() {
        // Docker's line for the container itself: its address on the network, when it has one.
        match ip {
            Some(ip) => s.push_str(&format!("{ip}\t{hostname}\n")),
            None => s.push_str(&format!("127.0.1.1\t{hostname}\n")),
        }
    }
    s
}

/// The container's resolv.conf: the host's, without loopback resolvers the container cannot
/// reach (a systemd-resolved stub), with `--dns`, `--dns-search`, `--dns-option` replacing
/// the host's entries; with no nameserver left, Docker's public fallbacks.
pub fn resolv_conf(
    host_conf: &str,
    host: &HostConfig,
    host_net: bool,
    embedded: Option<std::net::Ipv4Addr>,
) -> String {
    let mut nameservers = Vec::new();
    let mut search = Vec::new();
    let mut options = Vec::new();
    for line in host_conf.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(ns) = words.next()
                    && (host_net || !is_loopback(ns))
                {
                    nameservers.push(ns.to_string());
                }
            }
            Some("search") | Some("domain") => search = words.map(str::to_string).collect(),
            Some("options") => options.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    if let Some(ns) = embedded {
        // The network's own server answers container names and forwards the rest.
        nameservers = vec![ns.to_string()];
    }
    if !host.dns.is_empty() {
        nameservers = host.dns.clone();
    }
    if !host.dns_search.is_empty() {
        search = host
            .dns_search
            .iter()
            .filter(|s| *s != ".")
            .cloned()
            .collect();
    }
    if !host.dns_options.is_empty() {
        options = host.dns_options.clone();
    }
    if nameservers.is_empty() {
        nameservers = FALLBACK_NAMESERVERS.iter().map(|s| s.to_string()).collect();
    }
    let mut s = String::new();
    for ns in nameservers {
        s.push_str(&format!("nameserver {ns}\n"));
    }
    if !search.is_empty() {
        s.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        s.push_str(&format!("options {}\n", options.join(" ")));
    }
    s
}

fn is_loopback(addr: &str) -> bool {
    addr.parse::<std::net::IpAddr>()
        .map(|a| a.is_loopback())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moved_gateway_replaces_whole_addresses_only() {
        let text =
            "nameserver 10.1.0.1\nsearch x\n10.1.0.1\thost.berth.internal\n10.1.0.11\tother\n";
        assert_eq!(
            replace_address(text, "10.1.0.1", "10.2.0.1"),
            "nameserver 10.2.0.1\nsearch x\n10.2.0.1\thost.berth.internal\n10.1.0.11\tother\n"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("resolv.conf"), "nameserver 8.8.8.8\n").unwrap();
        switch_gateway(
            dir.path(),
            "10.1.0.1".parse().unwrap(),
            "10.2.0.1".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("resolv.conf")).unwrap(),
            "nameserver 8.8.8.8\n",
            "a --dns server is not the gateway: kept"
        );
    }

    #[test]
    fn resolv_conf_drops_stub_resolvers_and_honours_flags() {
        let host_conf =
            "# managed\nnameserver 127.0.0.53\nnameserver 10.0.0.1\nsearch lan\noptions edns0\n";
        let s = resolv_conf(host_conf, &HostConfig::default(), false, None);
        assert_eq!(s, "nameserver 10.0.0.1\nsearch lan\noptions edns0\n");
        let s = resolv_conf(
            "nameserver 127.0.0.53\n",
            &HostConfig::default(),
            false,
            None,
        );
        assert!(
            s.starts_with("nameserver 8.8.8.8\nnameserver 8.8.4.4\n"),
            "{s}"
        );
        let s = resolv_conf(
            "nameserver 127.0.0.53\n",
            &HostConfig::default(),
            true,
            None,
        );
        assert_eq!(s, "nameserver 127.0.0.53\n");
        let host = HostConfig {
            dns: vec!["1.1.1.1".into()],
            dns_search: vec!["example.org".into()],
            ..Default::default()
        };
        let s = resolv_conf(host_conf, &host, false, None);
        assert_eq!(s, "nameserver 1.1.1.1\nsearch example.org\noptions edns0\n");
        let s = resolv_conf(
            host_conf,
            &HostConfig::default(),
            false,
            Some("10.1.0.1".parse().unwrap()),
        );
        assert!(s.starts_with("nameserver 10.1.0.1\n"), "{s}");
        let s = resolv_conf(host_conf, &host, false, None);
        assert_eq!(s, "nameserver 1.1.1.1\nsearch example.org\noptions edns0\n");
    }

    #[test]
    fn hosts_has_localhost_extra_hosts_and_hostname() {
        let h = hosts_file(
            "abc",
            &["db:10.1.2.3".into(), "v6:fe80::1".into()],
            None,
            None,
        );
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.contains("10.1.2.3\tdb\n"));
        assert!(h.contains("fe80::1\tv6\n"));
        assert!(h.ends_with("127.0.1.1\tabc\n"));
        let h = hosts_file("abc", &[], Some("172.17.0.2".parse().unwrap()), None);
        assert!(h.ends_with("172.17.0.2\tabc\n"));
    }

    #[test]
    fn host_gateway_and_the_host_name() {
        let gw: std::net::Ipv4Addr = "10.9.0.1".parse().unwrap();
        let h = hosts_file("abc", &["gw:host-gateway".into()], None, Some(gw));
        assert!(h.contains("10.9.0.1\tgw\n"), "{h}");
        assert!(h.contains("10.9.0.1\thost.berth.internal\n"), "{h}");
        // Without a gateway (--network none) neither line is written.
        let h = hosts_file("abc", &["gw:host-gateway".into()], None, None);
        assert!(!h.contains("host-gateway") && !h.contains(HOST_NAME), "{h}");
    }
}
