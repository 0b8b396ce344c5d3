//! Netlink operations as data: each function builds a [`Request`] (or a few) without touching
//! the kernel, so the messages a set-up sends are unit-tested without root, and
//! [`Netlink::apply`](crate::Netlink::apply) is the only code that performs them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::RawFd;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rustix::io::Errno;

use crate::addr::{Ipv4Net, MacAddr};
use crate::netlink::Request;

/// The loopback device's index, fixed in every namespace since Linux 3.x.
pub const LOOPBACK_INDEX: u32 = 1;

fn eexist() -> i32 {
    Errno::EXIST.raw_os_error()
}

fn enodev() -> i32 {
    Errno::NODEV.raw_os_error()
}

/// Link changes that can go in one `RTM_SETLINK`/`RTM_NEWLINK`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkSettings {
    /// New MTU.
    pub mtu: Option<u32>,
    /// New hardware address.
    pub mac: Option<MacAddr>,
    /// Index of the bridge to enslave the link to.
    pub master: Option<u32>,
    /// Bring the link up (`false` leaves its state alone).
    pub up: bool,
}

impl LinkSettings {
    fn apply_to(&self, msg: &mut LinkMessage) {
        if self.up {
            msg.header.flags |= LinkFlags::Up;
            msg.header.change_mask |= LinkFlags::Up;
        }
        if let Some(mtu) = self.mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(mac) = self.mac {
            msg.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
        }
        if let Some(master) = self.master {
            msg.attributes.push(LinkAttribute::Controller(master));
        }
    }
}

fn named_link(name: &str) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    msg
}

/// Looks a link up by name; a missing link answers `ENODEV`, which is tolerated (no reply).
pub fn get_link(name: &str) -> Request {
    Request {
        what: format!("looking up link {name}"),
        message: RouteNetlinkMessage::GetLink(named_link(name)),
        flags: 0,
        tolerate: vec![enodev()],
    }
}

/// Lists every link.
pub fn dump_links() -> Request {
    Request {
        what: "listing links".into(),
        message: RouteNetlinkMessage::GetLink(LinkMessage::default()),
        flags: NLM_F_DUMP,
        tolerate: vec![],
    }
}

/// Lists every IPv4 address.
pub fn dump_ipv4_addresses() -> Request {
    let mut msg = AddressMessage::default();
    msg.header.family = AddressFamily::Inet;
    Request {
        what: "listing addresses".into(),
        message: RouteNetlinkMessage::GetAddress(msg),
        flags: NLM_F_DUMP,
        tolerate: vec![],
    }
}

/// Lists the IPv4 routes of every table (`RT_TABLE_UNSPEC`): the main table, and those that
/// VPNs such as `wg-quick` put in tables of their own under policy rules.
pub fn dump_ipv4_routes() -> Request {
    let mut msg = RouteMessage::default();
    msg.header.address_family = AddressFamily::Inet;
    msg.header.table = RouteHeader::RT_TABLE_UNSPEC;
    Request {
        what: "listing routes".into(),
        message: RouteNetlinkMessage::GetRoute(msg),
        flags: NLM_F_DUMP,
        tolerate: vec![],
    }
}

/// Creates bridge `name`, up, with `mtu`; `EEXIST` is tolerated so the caller can check the
/// existing link instead (see [`Netlink::ensure_bridge`](crate::Netlink::ensure_bridge)).
pub fn create_bridge(name: &str, mtu: Option<u32>) -> Request {
    let mut msg = named_link(name);
    LinkSettings {
        mtu,
        up: true,
        ..Default::default()
    }
    .apply_to(&mut msg);
    msg.attributes
        .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
            InfoKind::Bridge,
        )]));
    Request {
        what: format!("creating bridge {name}"),
        message: RouteNetlinkMessage::NewLink(msg),
        flags: NLM_F_CREATE | NLM_F_EXCL,
        tolerate: vec![eexist()],
    }
}

/// Changes link `name` (looked up by name by the kernel).
pub fn set_link(name: &str, settings: &LinkSettings) -> Request {
    let mut msg = named_link(name);
    settings.apply_to(&mut msg);
    Request {
        what: format!("configuring link {name}"),
        message: RouteNetlinkMessage::SetLink(msg),
        flags: 0,
        tolerate: vec![],
    }
}

/// Changes the link with `index`; `name` is for messages only.
pub fn set_link_by_index(index: u32, name: &str, settings: &LinkSettings) -> Request {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    settings.apply_to(&mut msg);
    Request {
        what: format!("configuring link {name}"),
        message: RouteNetlinkMessage::SetLink(msg),
        flags: 0,
        tolerate: vec![],
    }
}

/// Deletes link `name`; a missing link (`ENODEV`) is tolerated.
pub fn delete_link(name: &str) -> Request {
    Request {
        what: format!("deleting link {name}"),
        message: RouteNetlinkMessage::DelLink(named_link(name)),
        flags: 0,
        tolerate: vec![enodev()],
    }
}

/// Adds `net` (address and prefix) to the link with `index`, with the broadcast address set as
/// `ip addr add … brd +` does; an existing identical address is tolerated.
pub fn add_address(index: u32, name: &str, net: Ipv4Net) -> Request {
    let mut msg = AddressMessage::default();
    msg.header.family = AddressFamily::Inet;
    msg.header.prefix_len = net.prefix;
    msg.header.scope = AddressScope::Universe;
    msg.header.index = index;
    msg.attributes
        .push(AddressAttribute::Local(IpAddr::V4(net.addr)));
    msg.attributes
        .push(AddressAttribute::Address(IpAddr::V4(net.addr)));
    if net.prefix < 31 {
        msg.attributes
            .push(AddressAttribute::Broadcast(net.broadcast()));
    }
    Request {
        what: format!("adding address {net} to {name}"),
        message: RouteNetlinkMessage::NewAddress(msg),
        flags: NLM_F_CREATE | NLM_F_EXCL,
        tolerate: vec![eexist()],
    }
}

/// Adds IPv6 address `addr/prefix` to the link with `index`, usable at once (no duplicate
/// address detection: the subnet is Berth's, each address handed out once); `EEXIST` is fine.
pub fn add_address6(index: u32, name: &str, addr: Ipv6Addr, prefix: u8) -> Request {
    let mut msg = AddressMessage::default();
    msg.header.family = AddressFamily::Inet6;
    msg.header.prefix_len = prefix;
    msg.header.scope = AddressScope::Universe;
    msg.header.index = index;
    msg.header.flags = AddressHeaderFlags::Nodad;
    msg.attributes
        .push(AddressAttribute::Address(IpAddr::V6(addr)));
    msg.attributes
        .push(AddressAttribute::Flags(AddressFlags::Nodad));
    Request {
        what: format!("adding address {addr}/{prefix} to {name}"),
        message: RouteNetlinkMessage::NewAddress(msg),
        flags: NLM_F_CREATE | NLM_F_EXCL,
        tolerate: vec![eexist()],
    }
}

/// Adds the IPv6 default route via `gateway` out of the link with `index` (main table).
pub fn add_default_route6(index: u32, name: &str, gateway: Ipv6Addr) -> Request {
    default_route(
        index,
        AddressFamily::Inet6,
        RouteAddress::Inet6(gateway),
        format!("adding IPv6 default route via {gateway} on {name}"),
    )
}

/// Removes IPv4 address `net` from the link with `index` (one that is gone already is fine).
pub fn delete_address(index: u32, name: &str, net: Ipv4Net) -> Request {
    let mut msg = AddressMessage::default();
    msg.header.family = AddressFamily::Inet;
    msg.header.prefix_len = net.prefix;
    msg.header.index = index;
    msg.attributes
        .push(AddressAttribute::Local(IpAddr::V4(net.addr)));
    Request {
        what: format!("removing address {net} from {name}"),
        message: RouteNetlinkMessage::DelAddress(msg),
        flags: 0,
        tolerate: vec![Errno::ADDRNOTAVAIL.raw_os_error()],
    }
}

/// Adds the IPv4 default route via `gateway` out of the link with `index` (main table).
pub fn add_default_route(index: u32, name: &str, gateway: Ipv4Addr) -> Request {
    default_route(
        index,
        AddressFamily::Inet,
        RouteAddress::Inet(gateway),
        format!("adding default route via {gateway} on {name}"),
    )
}

/// A default route of `family` via `gateway` out of link `index`, in the main table; one
/// that is there already is fine.
fn default_route(
    index: u32,
    family: AddressFamily,
    gateway: RouteAddress,
    what: String,
) -> Request {
    let mut msg = RouteMessage::default();
    msg.header.address_family = family;
    msg.header.destination_prefix_length = 0;
    msg.header.table = RouteHeader::RT_TABLE_MAIN;
    msg.header.protocol = RouteProtocol::Boot;
    msg.header.scope = RouteScope::Universe;
    msg.header.kind = RouteType::Unicast;
    msg.attributes.push(RouteAttribute::Gateway(gateway));
    msg.attributes.push(RouteAttribute::Oif(index));
    Request {
        what,
        message: RouteNetlinkMessage::NewRoute(msg),
        flags: NLM_F_CREATE | NLM_F_EXCL,
        tolerate: vec![eexist()],
    }
}

/// A veth pair to create: the host end in the caller's namespace (optionally enslaved to a
/// bridge and up), the peer created directly inside another namespace under its final name, so
/// it never appears on the host and needs no rename or move afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethPair {
    /// The host end's name (`veth` + 7 hex digits, like Docker's).
    pub host: String,
    /// The peer's name inside its namespace (usually `eth0`).
    pub peer: String,
    /// Descriptor of the peer's namespace (`IFLA_NET_NS_FD`); `None` keeps it here.
    pub peer_netns: Option<RawFd>,
    /// MTU of both ends.
    pub mtu: Option<u32>,
    /// The peer's MAC address.
    pub peer_mac: Option<MacAddr>,
    /// Index of the bridge the host end joins.
    pub master: Option<u32>,
}

/// Creates the pair in one `RTM_NEWLINK`: host end up and enslaved, peer named, moved, with its
/// MTU and MAC. The kernel rejects a clash on either name with `EEXIST`.
pub fn create_veth(pair: &VethPair) -> Request {
    let mut peer = named_link(&pair.peer);
    LinkSettings {
        mtu: pair.mtu,
        mac: pair.peer_mac,
        ..Default::default()
    }
    .apply_to(&mut peer);
    if let Some(fd) = pair.peer_netns {
        peer.attributes.push(LinkAttribute::NetNsFd(fd));
    }
    let mut msg = named_link(&pair.host);
    LinkSettings {
        mtu: pair.mtu,
        master: pair.master,
        up: true,
        ..Default::default()
    }
    .apply_to(&mut msg);
    msg.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Veth),
        LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
    ]));
    Request {
        what: format!("creating veth pair {} (peer {})", pair.host, pair.peer),
        message: RouteNetlinkMessage::NewLink(msg),
        flags: NLM_F_CREATE | NLM_F_EXCL,
        tolerate: vec![],
    }
}

/// Everything the container side needs once its end exists (`peer_index` in its namespace), in
/// one batch: `lo` up, the interface up, its address, and the default route (when there is a
/// gateway).
pub fn configure_container_side(
    peer_index: u32,
    peer: &str,
    address: Ipv4Net,
    gateway: Option<Ipv4Addr>,
) -> Vec<Request> {
    let up = LinkSettings {
        up: true,
        ..Default::default()
    };
    let mut plan = vec![
        set_link_by_index(LOOPBACK_INDEX, "lo", &up),
        set_link_by_index(peer_index, peer, &up),
        add_address(peer_index, peer, address),
    ];
    if let Some(gw) = gateway {
        plan.push(add_default_route(peer_index, peer, gw));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(req: &Request) -> &LinkMessage {
        match &req.message {
            RouteNetlinkMessage::NewLink(m) | RouteNetlinkMessage::SetLink(m) => m,
            other => panic!("not a link message: {other:?}"),
        }
    }

    #[test]
    fn bridge_is_created_up_with_its_mtu_and_tolerates_existing() {
        let req = create_bridge("br-x", Some(1400));
        assert_eq!(req.what, "creating bridge br-x");
        assert_eq!(req.flags, NLM_F_CREATE | NLM_F_EXCL);
        assert_eq!(req.tolerate, vec![eexist()]);
        let m = link(&req);
        assert!(m.header.flags.contains(LinkFlags::Up));
        assert!(m.attributes.contains(&LinkAttribute::IfName("br-x".into())));
        assert!(m.attributes.contains(&LinkAttribute::Mtu(1400)));
        assert!(
            m.attributes
                .contains(&LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                    InfoKind::Bridge
                )]))
        );
    }

    #[test]
    fn veth_peer_is_created_inside_the_namespace() {
        let req = create_veth(&VethPair {
            host: "veth1234567".into(),
            peer: "eth0".into(),
            peer_netns: Some(7),
            mtu: Some(1500),
            peer_mac: Some(MacAddr([2, 0x42, 10, 0, 0, 2])),
            master: Some(42),
        });
        let m = link(&req);
        assert!(m.header.flags.contains(LinkFlags::Up));
        assert!(m.attributes.contains(&LinkAttribute::Controller(42)));
        let Some(LinkAttribute::LinkInfo(info)) = m
            .attributes
            .iter()
            .find(|a| matches!(a, LinkAttribute::LinkInfo(_)))
        else {
            panic!("no link info")
        };
        assert_eq!(info[0], LinkInfo::Kind(InfoKind::Veth));
        let LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))) = &info[1] else {
            panic!("no peer")
        };
        assert!(
            peer.attributes
                .contains(&LinkAttribute::IfName("eth0".into()))
        );
        assert!(peer.attributes.contains(&LinkAttribute::NetNsFd(7)));
        assert!(peer.attributes.contains(&LinkAttribute::Mtu(1500)));
        assert!(
            peer.attributes
                .contains(&LinkAttribute::Address(vec![2, 0x42, 10, 0, 0, 2]))
        );
        assert!(!peer.attributes.contains(&LinkAttribute::Controller(42)));
    }

    #[test]
    fn container_side_is_one_batch_in_order() {
        let net: Ipv4Net = "10.200.1.2/24".parse().unwrap();
        let plan = configure_container_side(5, "eth0", net, Some(Ipv4Addr::new(10, 200, 1, 1)));
        let whats: Vec<_> = plan.iter().map(|r| r.what.as_str()).collect();
        assert_eq!(
            whats,
            [
                "configuring link lo",
                "configuring link eth0",
                "adding address 10.200.1.2/24 to eth0",
                "adding default route via 10.200.1.1 on eth0",
            ]
        );
        let RouteNetlinkMessage::NewAddress(addr) = &plan[2].message else {
            panic!()
        };
        assert_eq!((addr.header.index, addr.header.prefix_len), (5, 24));
        assert!(
            addr.attributes
                .contains(&AddressAttribute::Broadcast(Ipv4Addr::new(10, 200, 1, 255)))
        );
        let RouteNetlinkMessage::NewRoute(route) = &plan[3].message else {
            panic!()
        };
        assert_eq!(route.header.table, RouteHeader::RT_TABLE_MAIN);
        assert!(route.attributes.contains(&RouteAttribute::Oif(5)));
        assert_eq!(
            configure_container_side(5, "eth0", net, None).len(),
            3,
            "no gateway, no route"
        );
    }

    #[test]
    fn deletes_and_lookups_tolerate_missing_links() {
        assert_eq!(delete_link("veth0").tolerate, vec![enodev()]);
        assert_eq!(get_link("veth0").tolerate, vec![enodev()]);
        assert_eq!(dump_links().flags, NLM_F_DUMP);
    }
}
