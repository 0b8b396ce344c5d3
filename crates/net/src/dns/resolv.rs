//! Where the embedded server forwards names it does not know: the host's own resolvers, read
//! from `resolv.conf` text so the parsing stays pure and testable.

use std::net::{IpAddr, SocketAddr};

/// The file systemd-resolved writes with the real upstream servers (not its 127.0.0.53 stub).
pub const SYSTEMD_RESOLVED_CONF: &str = "/run/systemd/resolve/resolv.conf";

fn nameservers(text: &str) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        // A link-local IPv6 server with a zone (`fe80::1%eth0`) cannot be reached without the
        // interface index; such entries are skipped.
        let Some(Ok(ip)) = words.next().map(str::parse::<IpAddr>) else {
            continue;
        };
        let addr = SocketAddr::new(ip, 53);
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    out
}

/// The upstream servers (port 53) named by `resolv_conf`, in file order.
///
/// When all of them are loopback stubs (systemd-resolved's 127.0.0.53, dnsmasq's 127.0.0.1)
/// and `systemd_resolved` — the text of [`SYSTEMD_RESOLVED_CONF`], when the caller could read
/// it — names non-loopback servers, those are returned instead, because a stub only answers on
/// the host's loopback while the real servers are reachable from anywhere. Otherwise the
/// loopback servers are kept: the embedded server runs in the host's namespace, where they
/// answer. An empty list means "no upstream" (unknown names get NXDOMAIN).
pub fn upstreams_from_resolv_conf(
    resolv_conf: &str,
    systemd_resolved: Option<&str>,
) -> Vec<SocketAddr> {
    let servers = nameservers(resolv_conf);
    if !servers.is_empty() && servers.iter().all(|s| s.ip().is_loopback()) {
        let real: Vec<SocketAddr> = systemd_resolved
            .map(nameservers)
            .unwrap_or_default()
            .into_iter()
            .filter(|s| !s.ip().is_loopback())
            .collect();
        if !real.is_empty() {
            return real;
        }
    }
    servers
}

/// [`upstreams_from_resolv_conf`] applied to this host's `/etc/resolv.conf` and
/// [`SYSTEMD_RESOLVED_CONF`] (either may be missing), so the engine has one call to make.
pub fn host_upstreams() -> Vec<SocketAddr> {
    let main = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let resolved = std::fs::read_to_string(SYSTEMD_RESOLVED_CONF).ok();
    upstreams_from_resolv_conf(&main, resolved.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn reads_nameservers_in_order_skipping_comments_and_junk() {
        let text = "# generated\nsearch example.org\nnameserver 192.0.2.1 # primary\n\
                    ;nameserver 192.0.2.9\nnameserver   2001:db8::1\nnameserver fe80::1%eth0\n\
                    nameserver bogus\nnameserver 192.0.2.1\noptions edns0\n";
        assert_eq!(
            upstreams_from_resolv_conf(text, None),
            addrs(&["192.0.2.1:53", "[2001:db8::1]:53"])
        );
    }

    #[test]
    fn systemd_stub_falls_back_to_the_real_servers() {
        let stub = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n";
        let real = "nameserver 192.0.2.53\nnameserver 127.0.0.1\nnameserver 198.51.100.7\n";
        assert_eq!(
            upstreams_from_resolv_conf(stub, Some(real)),
            addrs(&["192.0.2.53:53", "198.51.100.7:53"])
        );
        // Without the second file (or with only loopback in it), the stub is kept.
        assert_eq!(
            upstreams_from_resolv_conf(stub, None),
            addrs(&["127.0.0.53:53"])
        );
        assert_eq!(
            upstreams_from_resolv_conf(stub, Some("nameserver 127.0.0.1\n")),
            addrs(&["127.0.0.53:53"])
        );
        // A non-loopback server in the main file means it is used as is.
        let mixed = "nameserver 127.0.0.53\nnameserver 192.0.2.1\n";
        assert_eq!(
            upstreams_from_resolv_conf(mixed, Some(real)),
            addrs(&["127.0.0.53:53", "192.0.2.1:53"])
        );
        assert!(upstreams_from_resolv_conf("", Some(real)).is_empty());
    }
}
