//! The small executor: sends [`Request`]s (netlink operations described as data by
//! [`crate::plan`]) on a synchronous `NETLINK_ROUTE` socket and reads their acks.
//!
//! A batch goes out in one `sendmsg`; the kernel handles its messages in order, answering each
//! (every request carries `NLM_F_ACK`), so a whole set-up costs one round trip. Replies are
//! matched to requests by sequence number; acks are read from the raw header so an attribute
//! this version of `netlink-packet-route` cannot decode never breaks an ack.

use std::net::Ipv4Addr;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute};
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::{Socket, SocketAddr};

use crate::addr::{Ipv4Net, MacAddr};
use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::plan;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_HDRLEN: usize = 16;

/// One netlink operation, as data: what it is for (used in error messages), the message, its
/// flags, and the errnos that mean "already in the wanted state" (e.g. `EEXIST` when adding an
/// address that is there), which makes plans idempotent.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// What the request does, naming its object: "creating bridge br-x".
    pub what: String,
    /// The route-netlink message.
    pub message: RouteNetlinkMessage,
    /// `NLM_F_*` flags besides `NLM_F_REQUEST` and `NLM_F_ACK`, which are always set.
    pub flags: u16,
    /// Positive errnos treated as success.
    pub tolerate: Vec<i32>,
}

/// What the kernel answered to one request of a batch.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    /// The errno if the kernel refused the request (tolerated errnos included).
    pub errno: Option<i32>,
    /// The messages it sent back (one for a `GET` by name, many for a dump).
    pub replies: Vec<RouteNetlinkMessage>,
}

/// What we need to know about a link, decoded from an `RTM_NEWLINK` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// MTU, if reported.
    pub mtu: Option<u32>,
    /// Hardware address, if it has a 6-byte one.
    pub mac: Option<MacAddr>,
    /// The `IFLA_INFO_KIND` ("bridge", "veth", …); `None` for physical devices and `lo`.
    pub kind: Option<String>,
    /// Whether `IFF_UP` is set.
    pub up: bool,
    /// The index of the bridge (or bond) it is enslaved to.
    pub master: Option<u32>,
    /// `IFLA_LINK`: for a veth, the peer's index in the peer's namespace.
    pub peer_index: Option<u32>,
}

impl Link {
    /// Decodes a link message; `None` if it has no name (never the case for the kernel's).
    pub fn from_message(msg: &LinkMessage) -> Option<Link> {
        let mut link = Link {
            index: msg.header.index,
            name: String::new(),
            mtu: None,
            mac: None,
            kind: None,
            up: msg.header.flags.contains(LinkFlags::Up),
            master: None,
            peer_index: None,
        };
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(n) => link.name = n.clone(),
                LinkAttribute::Mtu(m) => link.mtu = Some(*m),
                LinkAttribute::Address(a) => {
                    link.mac = <[u8; 6]>::try_from(a.as_slice()).ok().map(MacAddr)
                }
                LinkAttribute::Controller(m) => link.master = Some(*m),
                LinkAttribute::Link(l) => link.peer_index = Some(*l),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        if let LinkInfo::Kind(k) = info {
                            link.kind = Some(k.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        (!link.name.is_empty()).then_some(link)
    }

    /// Whether the link is a bridge.
    pub fn is_bridge(&self) -> bool {
        self.kind.as_deref() == Some(InfoKind::Bridge.to_string().as_str())
    }
}

/// An IPv4 address on a link, decoded from an `RTM_NEWADDR` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkAddress {
    /// The link's index.
    pub index: u32,
    /// The address with its prefix.
    pub net: Ipv4Net,
}

impl LinkAddress {
    fn from_message(msg: &AddressMessage) -> Option<LinkAddress> {
        let mut local = None;
        let mut address = None;
        for attr in &msg.attributes {
            match attr {
                AddressAttribute::Local(std::net::IpAddr::V4(a)) => local = Some(*a),
                AddressAttribute::Address(std::net::IpAddr::V4(a)) => address = Some(*a),
                _ => {}
            }
        }
        let addr: Ipv4Addr = local.or(address)?;
        Some(LinkAddress {
            index: msg.header.index,
            net: Ipv4Net {
                addr,
                prefix: msg.header.prefix_len,
            },
        })
    }
}

/// A synchronous route-netlink socket, bound to the network namespace it was opened in.
#[derive(Debug)]
pub struct Netlink {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Netlink {
    /// Opens a socket in the calling thread's network namespace (the host's, for the daemon).
    pub fn open() -> Result<Netlink> {
        let what = "opening a netlink socket";
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(|e| Error::io(what, e))?;
        socket.bind_auto().map_err(|e| Error::io(what, e))?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(|e| Error::io(what, e))?;
        // Acks then carry only the failed request's header, not the whole request.
        let _ = socket.set_cap_ack(true);
        Ok(Netlink {
            socket,
            seq: 0,
            buf: vec![0; 64 * 1024],
        })
    }

    /// Opens a socket inside `netns`: a short thread enters it to create the socket, which
    /// stays bound to that namespace wherever it is used afterwards.
    pub fn open_in(netns: &Netns) -> Result<Netlink> {
        netns.run_in(Netlink::open)?
    }

    /// Sends all requests in one `sendmsg` and waits for every answer. Fails with the first
    /// request (in order) whose errno is not tolerated; all answers are read first either way,
    /// so the socket stays usable.
    pub fn apply(&mut self, requests: &[Request]) -> Result<Vec<Answer>> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let first_seq = self.seq.wrapping_add(1);
        let mut out = Vec::new();
        for req in requests {
            self.seq = self.seq.wrapping_add(1);
            let mut header = NetlinkHeader::default();
            header.flags = NLM_F_REQUEST | NLM_F_ACK | req.flags;
            header.sequence_number = self.seq;
            let mut msg = NetlinkMessage::new(header, NetlinkPayload::from(req.message.clone()));
            msg.finalize();
            let start = out.len();
            out.resize(start + msg.buffer_len().next_multiple_of(4), 0);
            msg.serialize(&mut out[start..start + msg.buffer_len()]);
        }
        let first = &requests[0].what;
        let sent = self
            .socket
            .send(&out, 0)
            .map_err(|e| Error::io(first.clone(), e))?;
        if sent != out.len() {
            return Err(Error::Protocol {
                what: first.clone(),
                detail: format!("short send ({sent} of {} bytes)", out.len()),
            });
        }

        let mut answers = vec![Answer::default(); requests.len()];
        let mut done = vec![false; requests.len()];
        let mut pending = requests.len();
        while pending > 0 {
            let n = self
                .socket
                .recv(&mut &mut self.buf[..], 0)
                .map_err(|e| Error::io(first.clone(), e))?;
            let mut off = 0;
            while off + NLMSG_HDRLEN <= n {
                let data = &self.buf[off..n];
                // `off + NLMSG_HDRLEN <= n`: the header's 16 bytes are all there.
                let len = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as usize;
                let ty = u16::from_ne_bytes([data[4], data[5]]);
                let seq = u32::from_ne_bytes([data[8], data[9], data[10], data[11]]);
                if len < NLMSG_HDRLEN || len > data.len() {
                    return Err(Error::Protocol {
                        what: first.clone(),
                        detail: format!("bad message length {len}"),
                    });
                }
                off += len.next_multiple_of(4);
                let i = seq.wrapping_sub(first_seq) as usize;
                if i >= requests.len() || done[i] {
                    continue; // a notification or a stale answer: not ours
                }
                let dump = requests[i].flags & NLM_F_DUMP == NLM_F_DUMP;
                match ty {
                    NLMSG_ERROR | NLMSG_DONE => {
                        let code = data
                            .get(NLMSG_HDRLEN..NLMSG_HDRLEN + 4)
                            .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                        // A dump ends with DONE; an ERROR during a dump also ends it.
                        if ty == NLMSG_DONE && !dump {
                            continue;
                        }
                        if code != 0 {
                            answers[i].errno = Some(-code);
                        }
                        done[i] = true;
                        pending -= 1;
                    }
                    _ => {
                        let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[..len])
                            .map_err(|e| Error::Protocol {
                                what: requests[i].what.clone(),
                                detail: e.to_string(),
                            })?;
                        if let NetlinkPayload::InnerMessage(inner) = msg.payload {
                            answers[i].replies.push(inner);
                        }
                    }
                }
            }
        }
        for (req, answer) in requests.iter().zip(&answers) {
            if let Some(errno) = answer.errno
                && !req.tolerate.contains(&errno)
            {
                return Err(Error::Netlink {
                    what: req.what.clone(),
                    errno,
                });
            }
        }
        Ok(answers)
    }

    /// Applies one request; see [`Netlink::apply`].
    pub fn apply_one(&mut self, request: Request) -> Result<Answer> {
        let mut answers = self.apply(std::slice::from_ref(&request))?;
        Ok(answers.pop().unwrap_or_default())
    }

    /// Looks a link up by name; `None` if there is none.
    pub fn link(&mut self, name: &str) -> Result<Option<Link>> {
        let answer = self.apply_one(plan::get_link(name))?;
        Ok(answer.replies.iter().find_map(link_of))
    }

    /// All links of the namespace.
    pub fn links(&mut self) -> Result<Vec<Link>> {
        let answer = self.apply_one(plan::dump_links())?;
        Ok(answer.replies.iter().filter_map(link_of).collect())
    }

    /// All IPv4 addresses of the namespace.
    pub fn addresses(&mut self) -> Result<Vec<LinkAddress>> {
        let answer = self.apply_one(plan::dump_ipv4_addresses())?;
        Ok(answer
            .replies
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => LinkAddress::from_message(a),
                _ => None,
            })
            .collect())
    }

    /// The destinations of the namespace's IPv4 routes in every table (default routes
    /// included, as `0.0.0.0/0`).
    pub fn route_destinations(&mut self) -> Result<Vec<Ipv4Net>> {
        let answer = self.apply_one(plan::dump_ipv4_routes())?;
        Ok(answer
            .replies
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => {
                    let prefix = r.header.destination_prefix_length;
                    let addr = r
                        .attributes
                        .iter()
                        .find_map(|a| match a {
                            RouteAttribute::Destination(RouteAddress::Inet(a)) => Some(*a),
                            _ => None,
                        })
                        .unwrap_or(Ipv4Addr::UNSPECIFIED);
                    Some(Ipv4Net { addr, prefix })
                }
                _ => None,
            })
            .collect())
    }

    /// Looks a link up by name, failing with [`Error::LinkNotFound`] if it does not exist.
    pub fn require_link(&mut self, name: &str) -> Result<Link> {
        self.link(name)?
            .ok_or_else(|| Error::LinkNotFound(name.to_string()))
    }

    /// Creates the bridge `name` if it is missing, and makes sure it is up with `mtu` (if
    /// given). Idempotent: an existing bridge is kept (and fixed up), a non-bridge link under
    /// that name is an error. One round trip when nothing needs fixing.
    pub fn ensure_bridge(&mut self, name: &str, mtu: Option<u32>) -> Result<Link> {
        crate::addr::check_ifname(name)?;
        let answers = self.apply(&[plan::create_bridge(name, mtu), plan::get_link(name)])?;
        let link = answers[1]
            .replies
            .iter()
            .find_map(link_of)
            .ok_or_else(|| Error::LinkNotFound(name.to_string()))?;
        if !link.is_bridge() {
            return Err(Error::WrongKind {
                name: name.to_string(),
                found: link.kind.unwrap_or_else(|| "device".into()),
                wanted: "bridge",
            });
        }
        let wrong_mtu = mtu.is_some_and(|m| link.mtu != Some(m));
        if !link.up || wrong_mtu {
            let settings = plan::LinkSettings {
                mtu: if wrong_mtu { mtu } else { None },
                up: true,
                ..Default::default()
            };
            self.apply_one(plan::set_link_by_index(link.index, name, &settings))?;
            return self.require_link(name);
        }
        Ok(link)
    }

    /// Changes a link's settings (MTU, MAC, master, up) in one request.
    pub fn set_link(&mut self, name: &str, settings: &plan::LinkSettings) -> Result<()> {
        self.apply_one(plan::set_link(name, settings)).map(drop)
    }

    /// Brings a link up.
    pub fn set_up(&mut self, name: &str) -> Result<()> {
        self.set_link(
            name,
            &plan::LinkSettings {
                up: true,
                ..Default::default()
            },
        )
    }

    /// Sets a link's MTU.
    pub fn set_mtu(&mut self, name: &str, mtu: u32) -> Result<()> {
        self.set_link(
            name,
            &plan::LinkSettings {
                mtu: Some(mtu),
                ..Default::default()
            },
        )
    }

    /// Sets a link's MAC address.
    pub fn set_mac(&mut self, name: &str, mac: MacAddr) -> Result<()> {
        self.set_link(
            name,
            &plan::LinkSettings {
                mac: Some(mac),
                ..Default::default()
            },
        )
    }

    /// Enslaves link `name` to the bridge `bridge`.
    pub fn set_master(&mut self, name: &str, bridge: &str) -> Result<()> {
        let master = self.require_link(bridge)?.index;
        self.set_link(
            name,
            &plan::LinkSettings {
                master: Some(master),
                ..Default::default()
            },
        )
    }

    /// Adds an IPv4 address (with its prefix, e.g. `10.1.2.1/24`) to link `name`; adding one
    /// that is already there succeeds.
    pub fn add_address(&mut self, name: &str, net: Ipv4Net) -> Result<()> {
        let index = self.require_link(name)?.index;
        self.apply_one(plan::add_address(index, name, net))
            .map(drop)
    }

    /// Adds IPv6 address `addr/prefix` to link `name` (see [`plan::add_address6`]).
    pub fn add_address6(&mut self, name: &str, addr: std::net::Ipv6Addr, prefix: u8) -> Result<()> {
        let index = self.require_link(name)?.index;
        self.apply_one(plan::add_address6(index, name, addr, prefix))
            .map(drop)
    }

    /// Adds the IPv6 default route via `gateway` on link `name`.
    pub fn add_default_route6(&mut self, name: &str, gateway: std::net::Ipv6Addr) -> Result<()> {
        let index = self.require_link(name)?.index;
        self.apply_one(plan::add_default_route6(index, name, gateway))
            .map(drop)
    }

    /// Removes an IPv4 address from link `name`; removing one that is not there succeeds.
    pub fn delete_address(&mut self, name: &str, net: Ipv4Net) -> Result<()> {
        let index = self.require_link(name)?.index;
        self.apply_one(plan::delete_address(index, name, net))
            .map(drop)
    }

    /// Adds the default route via `gateway` on link `name`.
    pub fn add_default_route(&mut self, name: &str, gateway: Ipv4Addr) -> Result<()> {
        let index = self.require_link(name)?.index;
        self.apply_one(plan::add_default_route(index, name, gateway))
            .map(drop)
    }

    /// Deletes a link by name (for a veth, the kernel deletes its peer too). Returns whether
    /// it existed, so clean-up paths need not look first.
    pub fn delete_link(&mut self, name: &str) -> Result<bool> {
        let answer = self.apply_one(plan::delete_link(name))?;
        Ok(answer.errno.is_none())
    }
}

fn link_of(msg: &RouteNetlinkMessage) -> Option<Link> {
    match msg {
        RouteNetlinkMessage::NewLink(l) => Link::from_message(l),
        _ => None,
    }
}
