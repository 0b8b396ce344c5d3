//! Connecting a container's namespace to a bridge with a veth pair, in as few netlink round
//! trips as the kernel allows: one to find the bridge, one to create the pair (peer created
//! inside the namespace, host end enslaved and up) and read back the peer's index, one inside
//! the namespace for `lo`, the interface, its address and the default route.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use rustix::io::Errno;

use crate::addr::{Ipv4Net, MacAddr, check_ifname};
use crate::error::{Error, Result};
use crate::netlink::Netlink;
use crate::netns::Netns;
use crate::plan;

/// How many fresh host names to try when one is taken.
const NAME_TRIES: usize = 4;

/// A container's interface as the engine wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerLink<'a> {
    /// The container's network namespace file.
    pub netns: &'a Path,
    /// The bridge the host end joins.
    pub bridge: &'a str,
    /// The interface's name inside the namespace (Docker: `eth0`).
    pub ifname: &'a str,
    /// The container's address and the subnet's prefix, e.g. `172.17.0.2/16`.
    pub address: Ipv4Net,
    /// The default gateway (the bridge's address); `None` for internal networks.
    pub gateway: Option<Ipv4Addr>,
    /// The interface's MAC; `None` uses [`MacAddr::from_ipv4`] like Docker.
    pub mac: Option<MacAddr>,
    /// MTU of both ends; `None` keeps the kernel's default (1500).
    pub mtu: Option<u32>,
}

/// The host end of an attached container, kept by the engine to detach it later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostVeth {
    /// The host end's name (`veth` + 7 hex digits).
    pub name: String,
    /// The host end's index on the host.
    pub index: u32,
    /// The container end's index inside the namespace.
    pub peer_index: u32,
}

/// A random host-end name like Docker's (`veth` + 7 hex digits). Random rather than derived
/// from the container id: ids sharing a prefix would clash, and nothing needs to find a veth
/// by name after a crash, since removing the namespace deletes the pair.
pub fn random_veth_name() -> String {
    let n = RandomState::new().hash_one(std::time::SystemTime::now());
    format!("veth{:07x}", n & 0x0fff_ffff)
}

impl Netlink {
    /// Creates the veth pair for `spec` (this socket must be in the host namespace) and
    /// configures the container side; on any failure the pair is deleted again.
    pub fn attach_container(&mut self, spec: &ContainerLink<'_>) -> Result<HostVeth> {
        check_ifname(spec.ifname)?;
        let netns = Netns::open(spec.netns)?;
        let bridge = self.require_link(spec.bridge)?;
        if !bridge.is_bridge() {
            return Err(Error::WrongKind {
                name: bridge.name,
                found: bridge.kind.unwrap_or_else(|| "device".into()),
                wanted: "bridge",
            });
        }
        let mac = spec.mac.unwrap_or(MacAddr::from_ipv4(spec.address.addr));
        let mut tries = 0;
        let (host, answers) = loop {
            tries += 1;
            let pair = plan::VethPair {
                host: random_veth_name(),
                peer: spec.ifname.to_string(),
                peer_netns: Some(netns.as_fd().as_raw_fd()),
                mtu: spec.mtu,
                peer_mac: Some(mac),
                master: Some(bridge.index),
            };
            match self.apply(&[plan::create_veth(&pair), plan::get_link(&pair.host)]) {
                Ok(answers) => break (pair.host, answers),
                Err(e) if e.errno() == Some(Errno::EXIST.raw_os_error()) && tries < NAME_TRIES => {
                    // Retry only if it was our random host name that clashed, not the peer's.
                    if self.link(&pair.host)?.is_none() {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        };
        let cleanup = |nl: &mut Netlink, err: Error| {
            let _ = nl.delete_link(&host);
            err
        };
        let link = match answers[1].replies.iter().find_map(|m| match m {
            netlink_packet_route::RouteNetlinkMessage::NewLink(l) => {
                crate::netlink::Link::from_message(l)
            }
            _ => None,
        }) {
            Some(l) => l,
            None => return Err(cleanup(self, Error::LinkNotFound(host.clone()))),
        };
        let Some(peer_index) = link.peer_index else {
            let err = Error::Protocol {
                what: format!("creating veth pair {host}"),
                detail: "no peer index (IFLA_LINK) on the host end".into(),
            };
            return Err(cleanup(self, err));
        };
        let inside = Netlink::open_in(&netns).and_then(|mut nl| {
            nl.apply(&plan::configure_container_side(
                peer_index,
                spec.ifname,
                spec.address,
                spec.gateway,
            ))
        });
        if let Err(e) = inside {
            return Err(cleanup(self, e));
        }
        Ok(HostVeth {
            name: host,
            index: link.index,
            peer_index,
        })
    }
}

/// Attaches the namespace at `netns` to `bridge` with `eth0` at `address`; see
/// [`Netlink::attach_container`] (which also lets the caller reuse one socket).
pub fn attach_container(
    netns: &Path,
    bridge: &str,
    address: Ipv4Net,
    gateway: Option<Ipv4Addr>,
    mac: Option<MacAddr>,
    mtu: Option<u32>,
) -> Result<HostVeth> {
    Netlink::open()?.attach_container(&ContainerLink {
        netns,
        bridge,
        ifname: "eth0",
        address,
        gateway,
        mac,
        mtu,
    })
}

/// Detaches a container by deleting its host veth (the kernel deletes the peer with it); a
/// veth already gone is fine. When the namespace is being removed anyway, skip this: the
/// kernel deletes the pair with the namespace, off the caller's path.
pub fn detach(host_veth: &str) -> Result<()> {
    Netlink::open()?.delete_link(host_veth).map(drop)
}

/// Gives interface `ifname` of the namespace at `netns` IPv6 address `addr/prefix` (an
/// `--ipv6` network), and with `gateway` the IPv6 default route through it.
pub fn add_ipv6(
    netns: &Path,
    ifname: &str,
    addr: std::net::Ipv6Addr,
    prefix: u8,
    gateway: Option<std::net::Ipv6Addr>,
) -> Result<()> {
    let ns = crate::netns::Netns::open(netns)?;
    let mut nl = Netlink::open_in(&ns)?;
    nl.add_address6(ifname, addr, prefix)?;
    if let Some(gw) = gateway {
        nl.add_default_route6(ifname, gw)?;
    }
    Ok(())
}

/// Points the default route of the namespace at `netns` via `gateway`, on whichever of its
/// interfaces has an address in the gateway's subnet: after the interface that held the route
/// left (a container disconnected from its first network), traffic out leaves by another.
pub fn route_default_via(netns: &Path, gateway: Ipv4Addr) -> Result<()> {
    let ns = crate::netns::Netns::open(netns)?;
    let mut nl = Netlink::open_in(&ns)?;
    let Some(index) = nl
        .addresses()?
        .into_iter()
        .find(|a| a.net.contains(gateway))
        .map(|a| a.index)
    else {
        return Ok(());
    };
    let Some(link) = nl.links()?.into_iter().find(|l| l.index == index) else {
        return Ok(());
    };
    nl.add_default_route(&link.name, gateway)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_names_look_like_dockers() {
        let a = random_veth_name();
        assert_eq!(a.len(), 11);
        assert!(a.starts_with("veth"));
        assert!(a[4..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(check_ifname(&a).is_ok());
        assert_ne!(a, random_veth_name());
    }
}
