//! The engine's seam to the host's network stack: bridges, namespaces, veths, routes and the
//! packet filter.
//!
//! Everything the engine decides about networks (records, leases, names, which rules exist)
//! stays in the engine; what touches the kernel goes through [`HostNetwork`]. The real one,
//! [`KernelNetwork`], is netlink and nft/iptables through `berth-net`; engine tests put an
//! in-memory fake behind the trait, so a bridge-mode container's life cycle runs without root.

use berth_net::nft::NatPlan;
use berth_net::{ContainerLink, HostVeth, Ipv4Net, Netlink, Netns};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

type Result<T> = berth_net::Result<T>;

/// A bridge as the engine wants it: up, with its gateway address (and the IPv6 one).
#[derive(Debug, Clone, Copy)]
pub struct BridgeSpec<'a> {
    /// The Linux bridge's name.
    pub name: &'a str,
    /// The gateway address and the subnet's prefix.
    pub gateway: Ipv4Net,
    /// An address the bridge kept from an earlier subnet (`--bip` changed), to remove.
    pub retired: Option<Ipv4Net>,
    /// The IPv6 gateway and prefix of an `--ipv6` network.
    pub gateway6: Option<(Ipv6Addr, u8)>,
}

/// What the engine asks of the host's network stack (see the module documentation).
pub trait HostNetwork: Send + Sync + std::fmt::Debug {
    /// Whether a link named `name` exists.
    fn bridge_exists(&self, name: &str) -> bool;
    /// Makes the bridge as `spec` says (missing parts added, nothing else of it touched).
    fn ensure_bridge(&self, spec: &BridgeSpec<'_>) -> Result<()>;
    /// Deletes the bridge `name` (missing is fine).
    fn remove_bridge(&self, name: &str) -> Result<()>;
    /// Creates a network namespace pinned at `path`.
    fn create_netns(&self, path: &Path) -> Result<()>;
    /// Removes the namespace pinned at `path` (its veths go with it).
    fn remove_netns(&self, path: &Path) -> Result<()>;
    /// Connects a namespace to a bridge with a veth pair, addressed and routed.
    fn attach(&self, link: &ContainerLink<'_>) -> Result<HostVeth>;
    /// Adds an IPv6 address (and default route) to an interface in a namespace.
    fn add_ipv6(
        &self,
        netns: &Path,
        ifname: &str,
        addr: Ipv6Addr,
        prefix: u8,
        gateway: Option<Ipv6Addr>,
    ) -> Result<()>;
    /// Points the namespace's default route at `gateway`.
    fn route_default_via(&self, netns: &Path, gateway: Ipv4Addr) -> Result<()>;
    /// Deletes a container's host veth (its peer goes with it).
    fn detach(&self, host_veth: &str) -> Result<()>;
    /// Lets traffic leave a bridge port it came in by (a container reaching its own published
    /// port through the host).
    fn set_hairpin(&self, host_veth: &str);
    /// The MTU of the host's default route, for new veths.
    fn default_route_mtu(&self) -> Option<u32>;
    /// Sets a sysctl (forwarding, the rules' needs); failures are the caller's to ignore.
    fn sysctl(&self, key: &str, value: &str) -> Result<()>;
    /// Renders `plan` into the packet filter's table `table`, in one transaction.
    fn apply_rules(&self, table: &str, plan: &NatPlan) -> Result<()>;
    /// Removes the table `table`.
    fn remove_rules(&self, table: &str) -> Result<()>;
    /// Removes the user table of `table` if the user put no rule in it.
    fn remove_user_rules_if_empty(&self, table: &str) -> Result<()>;
    /// Why rules cannot work on this host (the packet-filter tool is missing).
    fn firewall_warning(&self) -> Option<String>;
    /// The IPv4 subnets the host already uses (routes, interface addresses), which new
    /// networks keep clear of.
    fn taken_ipv4_subnets(&self) -> Vec<Ipv4Net>;
}

/// The host's own stack: netlink, namespaces and the packet-filter tool.
#[derive(Debug, Clone, Copy)]
pub struct KernelNetwork {
    /// nftables or iptables.
    pub firewall: berth_net::firewall::Firewall,
}

impl HostNetwork for KernelNetwork {
    fn bridge_exists(&self, name: &str) -> bool {
        !name.is_empty() && Path::new("/sys/class/net").join(name).exists()
    }

    fn ensure_bridge(&self, spec: &BridgeSpec<'_>) -> Result<()> {
        let mut nl = Netlink::open()?;
        let link = nl.ensure_bridge(spec.name, None)?;
        let addresses = nl.addresses()?;
        // The address the bridge kept from its earlier subnet goes; no other address is
        // touched: the bridge may be the user's own (`--bridge br0`).
        if let Some(old) = spec.retired
            && addresses
                .iter()
                .any(|a| a.index == link.index && a.net == old)
        {
            nl.delete_address(spec.name, old)?;
        }
        if !addresses
            .iter()
            .any(|a| a.index == link.index && a.net == spec.gateway)
        {
            nl.add_address(spec.name, spec.gateway)?;
        }
        if let Some((gw6, prefix)) = spec.gateway6 {
            nl.add_address6(spec.name, gw6, prefix)?;
        }
        nl.set_up(spec.name)
    }

    fn remove_bridge(&self, name: &str) -> Result<()> {
        Netlink::open()?.delete_link(name).map(drop)
    }

    fn create_netns(&self, path: &Path) -> Result<()> {
        Netns::create(path).map(drop)
    }

    fn remove_netns(&self, path: &Path) -> Result<()> {
        Netns::remove(path)
    }

    fn attach(&self, link: &ContainerLink<'_>) -> Result<HostVeth> {
        Netlink::open()?.attach_container(link)
    }

    fn add_ipv6(
        &self,
        netns: &Path,
        ifname: &str,
        addr: Ipv6Addr,
        prefix: u8,
        gateway: Option<Ipv6Addr>,
    ) -> Result<()> {
        berth_net::add_ipv6(netns, ifname, addr, prefix, gateway)
    }

    fn route_default_via(&self, netns: &Path, gateway: Ipv4Addr) -> Result<()> {
        berth_net::route_default_via(netns, gateway)
    }

    fn detach(&self, host_veth: &str) -> Result<()> {
        berth_net::detach(host_veth)
    }

    fn set_hairpin(&self, host_veth: &str) {
        let _ = berth_net::nft::set_hairpin(host_veth, true);
    }

    fn default_route_mtu(&self) -> Option<u32> {
        berth_net::host::default_route_mtu().ok().flatten()
    }

    fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        berth_net::host::sysctl_write(key, value)
    }

    fn apply_rules(&self, table: &str, plan: &NatPlan) -> Result<()> {
        self.firewall.apply(table, plan)
    }

    fn remove_rules(&self, table: &str) -> Result<()> {
        self.firewall.remove(table)
    }

    fn remove_user_rules_if_empty(&self, table: &str) -> Result<()> {
        self.firewall.remove_user_if_empty(table).map(drop)
    }

    fn firewall_warning(&self) -> Option<String> {
        self.firewall.missing_warning()
    }

    fn taken_ipv4_subnets(&self) -> Vec<Ipv4Net> {
        berth_net::host::taken_ipv4_subnets()
    }
}
