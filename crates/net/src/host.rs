//! Facts about the host's network the engine needs to choose settings like Docker does: the
//! default-route interface's MTU (containers get the same), the IPv4 routes (a new bridge
//! subnet must not clash with any), and a sysctl writer (`net.ipv4.ip_forward=1`,
//! `net/ipv4/conf/<if>/route_localnet`).

use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::addr::Ipv4Net;
use crate::error::{Error, Result};
use crate::netlink::Netlink;

/// One IPv4 route of the main table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRoute {
    /// The output interface's name.
    pub iface: String,
    /// The destination network (`0.0.0.0/0` for a default route).
    pub dest: Ipv4Net,
    /// The next hop, if the route goes through a gateway.
    pub gateway: Option<Ipv4Addr>,
    /// The route's metric (lower wins).
    pub metric: u32,
}

const RTF_UP: u32 = 0x1;
const RTF_GATEWAY: u32 = 0x2;

/// Parses `/proc/net/route` (the main table's IPv4 routes, addresses as native-endian hex of
/// the network-order bytes). Malformed lines are skipped. Reading the file is cheaper than a
/// netlink dump and covers the table that matters for subnet clashes, as Docker's check does.
pub fn parse_proc_net_route(text: &str) -> Vec<HostRoute> {
    let hex = |s: &str| u32::from_str_radix(s, 16).ok();
    let ip = |v: u32| Ipv4Addr::from(v.to_ne_bytes());
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            let (dest, gw, flags) = (hex(f[1])?, hex(f[2])?, hex(f[3])?);
            let metric = f[6].parse().ok()?;
            let mask = ip(hex(f[7])?);
            if flags & RTF_UP == 0 {
                return None;
            }
            let prefix = u32::from(mask).leading_ones() as u8;
            Some(HostRoute {
                iface: f[0].to_string(),
                dest: Ipv4Net {
                    addr: ip(dest),
                    prefix,
                },
                gateway: (flags & RTF_GATEWAY != 0).then(|| ip(gw)),
                metric,
            })
        })
        .collect()
}

/// The host's IPv4 routes (main table), from `/proc/net/route`.
pub fn ipv4_routes() -> Result<Vec<HostRoute>> {
    let text = std::fs::read_to_string("/proc/net/route")
        .map_err(|e| Error::io("reading /proc/net/route", e))?;
    Ok(parse_proc_net_route(&text))
}

/// Every IPv4 subnet the host already uses, which a new bridge must keep clear of: route
/// destinations of all routing tables (a VPN's policy-routed table included; default routes
/// left out, they overlap everything) and the subnets of addresses assigned to interfaces
/// (another engine's bridge that is down has no route, but still its address). Falls back to
/// the main table in `/proc/net/route` where netlink cannot be used.
pub fn taken_ipv4_subnets() -> Vec<Ipv4Net> {
    let from_netlink = crate::Netlink::open().and_then(|mut nl| {
        let mut taken = nl.route_destinations()?;
        taken.extend(nl.addresses()?.into_iter().map(|a| a.net));
        Ok(taken)
    });
    let all = match from_netlink {
        Ok(t) => t,
        Err(_) => ipv4_routes()
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.dest)
            .collect(),
    };
    let mut out: Vec<Ipv4Net> = all
        .into_iter()
        .filter(|n| n.prefix > 0 && !n.addr.is_loopback())
        .collect();
    out.sort_by_key(|n| (u32::from(n.addr), n.prefix));
    out.dedup();
    out
}

/// The default route with the lowest metric, if any.
pub fn default_route(routes: &[HostRoute]) -> Option<&HostRoute> {
    routes
        .iter()
        .filter(|r| r.dest.prefix == 0)
        .min_by_key(|r| r.metric)
}

/// The MTU of the interface the default route leaves by, which is what Docker gives its
/// bridge and containers when none is configured; `None` without a default route.
pub fn default_route_mtu() -> Result<Option<u32>> {
    let routes = ipv4_routes()?;
    let Some(route) = default_route(&routes) else {
        return Ok(None);
    };
    Ok(Netlink::open()?.link(&route.iface)?.and_then(|l| l.mtu))
}

/// The first subnet of `/prefix` inside `pool` that overlaps none of `taken` (host routes,
/// other networks' subnets); how a new bridge network avoids the host's own networks.
pub fn first_free_subnet(pool: Ipv4Net, prefix: u8, taken: &[Ipv4Net]) -> Option<Ipv4Net> {
    if prefix < pool.prefix || prefix > 32 {
        return None;
    }
    let start = u32::from(pool.network());
    let step = 1u64 << (32 - u32::from(prefix));
    let count = 1u64 << u32::from(prefix - pool.prefix);
    (0..count)
        .map(|i| Ipv4Net {
            addr: Ipv4Addr::from((u64::from(start) + i * step) as u32),
            prefix,
        })
        .find(|cand| !taken.iter().any(|t| t.overlaps(cand)))
}

/// The `/proc/sys` file of a sysctl key: dotted keys (`net.ipv4.ip_forward`) have their dots
/// turned into slashes; keys that already contain a slash (`net/ipv4/conf/eth0.100/...`,
/// needed when an interface name has a dot) are taken as they are.
pub fn sysctl_path(key: &str) -> PathBuf {
    let rel = if key.contains('/') {
        key.trim_start_matches('/').to_string()
    } else {
        key.replace('.', "/")
    };
    PathBuf::from("/proc/sys").join(rel)
}

/// Reads a sysctl (trailing newline removed).
pub fn sysctl_read(key: &str) -> Result<String> {
    let path = sysctl_path(key);
    std::fs::read_to_string(&path)
        .map(|s| s.trim_end().to_string())
        .map_err(|e| Error::io(format!("reading sysctl {key}"), e))
}

/// Sets a sysctl, e.g. `sysctl_write("net.ipv4.ip_forward", "1")`. Skips the write when the
/// value is already set, so it is cheap to call on every network set-up.
pub fn sysctl_write(key: &str, value: &str) -> Result<()> {
    if sysctl_read(key).is_ok_and(|v| v == value) {
        return Ok(());
    }
    std::fs::write(sysctl_path(key), value)
        .map_err(|e| Error::io(format!("setting sysctl {key}={value}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(ip: [u8; 4]) -> String {
        format!("{:08X}", u32::from_ne_bytes(ip))
    }

    #[test]
    fn proc_net_route_is_parsed() {
        let text = format!(
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
             eth0\t{}\t{}\t0003\t0\t0\t100\t{}\t0\t0\t0\n\
             eth0\t{}\t{}\t0001\t0\t0\t100\t{}\t0\t0\t0\n\
             wlan0\t{}\t{}\t0003\t0\t0\t600\t{}\t0\t0\t0\n\
             down0\t{}\t{}\t0000\t0\t0\t0\t{}\t0\t0\t0\n",
            hex([0, 0, 0, 0]),
            hex([192, 168, 1, 1]),
            hex([0, 0, 0, 0]),
            hex([192, 168, 1, 0]),
            hex([0, 0, 0, 0]),
            hex([255, 255, 255, 0]),
            hex([0, 0, 0, 0]),
            hex([10, 0, 0, 1]),
            hex([0, 0, 0, 0]),
            hex([10, 9, 0, 0]),
            hex([0, 0, 0, 0]),
            hex([255, 255, 0, 0]),
        );
        let routes = parse_proc_net_route(&text);
        assert_eq!(routes.len(), 3, "the route without RTF_UP is dropped");
        assert_eq!(routes[0].gateway, Some(Ipv4Addr::new(192, 168, 1, 1)));
        assert_eq!(routes[1].dest, "192.168.1.0/24".parse().unwrap());
        assert_eq!(routes[1].gateway, None);
        assert_eq!(default_route(&routes).unwrap().iface, "eth0");
    }

    #[test]
    fn free_subnets_skip_overlapping_routes() {
        let pool: Ipv4Net = "10.200.0.0/16".parse().unwrap();
        let taken: Vec<Ipv4Net> = ["10.200.0.0/23", "10.200.2.128/25"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(
            first_free_subnet(pool, 24, &taken),
            Some("10.200.3.0/24".parse().unwrap())
        );
        let all: Ipv4Net = "0.0.0.0/0".parse().unwrap();
        assert_eq!(first_free_subnet(pool, 24, &[all]), None);
        assert_eq!(first_free_subnet(pool, 8, &[]), None);
    }

    #[test]
    fn sysctl_keys_map_to_proc_sys() {
        assert_eq!(
            sysctl_path("net.ipv4.ip_forward"),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            sysctl_path("net/ipv4/conf/eth0.100/route_localnet"),
            PathBuf::from("/proc/sys/net/ipv4/conf/eth0.100/route_localnet")
        );
    }
}
