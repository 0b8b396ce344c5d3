//! Berth layer 1: the networking mechanisms behind Docker-like bridge networks.
//!
//! - [`Netns`]: persistent network namespaces bound to files under the engine's root;
//! - [`Netlink`]: a synchronous route-netlink socket (no tokio) that applies [`Request`]s, the
//!   operations [`plan`] builds as data (bridges, veth pairs, addresses, routes);
//! - [`attach_container`] / [`detach`]: a container's veth set-up in three round trips;
//! - [`host`]: facts about the host (default-route MTU, routes, sysctls);
//! - [`firewall`]: the NAT, forwarding and isolation rules of a [`nft::NatPlan`], through
//!   [`nft`] or, where `nft` is absent, [`iptables`].
//!
//! Everything is synchronous and needs `CAP_NET_ADMIN` (and `CAP_SYS_ADMIN` for namespaces);
//! the pure parts (plans, addresses, parsers) are tested without root.

mod addr;
mod attach;
pub mod dns;
mod error;
pub mod firewall;
pub mod host;
pub mod iptables;
mod netlink;
mod netns;
pub mod nft;
pub mod plan;
mod tool;

pub use addr::{Ipv4Net, MAX_IFNAME_LEN, MacAddr, check_ifname};
pub use attach::{
    ContainerLink, HostVeth, add_ipv6, attach_container, detach, random_veth_name,
    route_default_via,
};
pub use error::{Error, Result};
pub use netlink::{Answer, Link, LinkAddress, Netlink, Request};
pub use netns::{Netns, run_in};
