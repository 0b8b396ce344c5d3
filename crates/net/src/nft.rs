//! Port publishing and NAT for bridge networks with nftables: "plan pure, apply small".
//!
//! The engine describes what it wants as data ([`NatPlan`]: its bridge networks, the published
//! ports, an optional user chain) and this module turns it into one nftables script
//! ([`render`]), pure and golden-tested, plus the sysctls the rules rely on
//! ([`NatPlan::sysctls`]). [`apply`] feeds the script to `nft -f -`, which the kernel commits
//! as ONE transaction: the rules are replaced all at once or not at all.
//!
//! # One table per daemon
//!
//! Everything lives in a single `ip` table named by the caller (`berth`, or a unique name in
//! tests). Owning a whole table means:
//!
//! - a reload of the host's firewall (`nft -f /etc/nftables.conf` flushing *its* tables,
//!   `iptables-restore`, firewalld) does not drop our rules, and ours never touch theirs;
//! - re-asserting is idempotent: the script declares the table, deletes it and declares it
//!   again with the full rule set, in one transaction, so applying the same plan twice leaves
//!   exactly one copy of each rule, and a plan with fewer ports removes the stale ones. The
//!   engine can call [`apply`] with its whole state whenever anything changes, or at start-up
//!   to repair a table someone flushed.
//!
//! The table holds these chains (priorities are the standard ones, written as numbers):
//!
//! | chain | hook, priority | job |
//! |---|---|---|
//! | `prerouting` | nat prerouting, -100 | packets from outside (and from containers) to a local, non-loopback address → `published` |
//! | `output` | nat output, -100 | packets the host itself sends to a local address (its own IPs, `127.0.0.1`) → `published` |
//! | `published` | (regular) | one `dnat` per published port, matching the host IP when one was given |
//! | `postrouting` | nat postrouting, 100 | masquerade: loopback sources going to a bridge, hairpin flows, containers leaving their bridge |
//! | `forward` | filter forward, 0 | internal networks isolated; established, DNATed and outgoing container traffic accepted |
//! | `localnet_guard` | filter prerouting, -300 | drops packets for `127.0.0.0/8` arriving on a bridge with `route_localnet=1` |
//!
//! # Loopback (`-p 127.0.0.1:8080:80`, and `localhost:8080` for `0.0.0.0`)
//!
//! The host's own connections to `127.0.0.1:PORT` are DNATed in `output`, then routed out the
//! bridge with a source of `127.0.0.1`, which the kernel only allows with
//! `net.ipv4.conf.<bridge>.route_localnet=1` ([`NatPlan::sysctls`] lists it; the engine writes
//! it with [`crate::host::sysctl_write`]); `postrouting` then masquerades the loopback source to
//! the bridge's address so the container can answer. Because `route_localnet` would also let a
//! container send packets to the host's `127.0.0.1` services through the bridge (the
//! CVE-2020-8558 pattern), `localnet_guard` drops anything for `127.0.0.0/8` arriving on such a
//! bridge before conntrack sees it (replies to the masqueraded connections are addressed to the
//! bridge's IP at that point, so they pass). Likewise `prerouting` never DNATs loopback
//! destinations, so a neighbour sending a crafted packet to `127.0.0.1:PORT` cannot reach a port
//! published on loopback only.
//!
//! # Filtering published traffic: the user table (Docker's `DOCKER-USER`)
//!
//! Since our table is deleted and re-created on every [`apply`], a chain inside it cannot keep
//! the user's rules. Instead, when [`NatPlan::user_chain`] is set, [`apply`] creates a separate
//! table, [`user_table`]`(table)` (`berth_user` for `berth`), holding that chain as a base chain
//! on the forward hook at priority -1, i.e. *before* our `forward` chain (0). It is created only
//! when the table does not exist yet; afterwards neither [`apply`] nor [`remove`] ever modifies,
//! flushes or deletes it (only [`remove_user_table`] does, for an uninstall or a test). So:
//!
//! - a `drop` there is final: the packet never reaches a container, whatever we accept later;
//! - an `accept` (or falling off the end, the chain's policy is `accept`) only ends that chain:
//!   our rules still run, so a user cannot accidentally open an internal network;
//! - the forward hook sees packets after DNAT, so rules match the container address, or the
//!   original destination through conntrack, e.g. to restrict a published port to a LAN:
//!   `nft add rule ip berth_user user ct status dnat ct original proto-dst 8080 ip saddr != 192.168.1.0/24 drop`;
//! - the host reaching its own published ports (`output` hook) is never forwarded, so it is not
//!   filtered there, like with Docker.
//!
//! # Hairpin
//!
//! A container reaching a published port through a host address (its own port or a
//! neighbour's) is DNATed back onto its bridge and masqueraded (`ct status dnat` within the
//! subnet) so the answer returns through the host. When `br_netfilter` is loaded this also
//! needs hairpin mode on the container's bridge port: see [`set_hairpin`].
//!
//! # Limits
//!
//! In nftables an `accept` is final only for the base chain it is in: a forward chain with a
//! `drop` policy in *another* table (e.g. iptables-nft's `FORWARD` set to `DROP` by ufw or an
//! old Docker) still drops container traffic, and no rule of ours can override it. The accept
//! rules in our `forward` chain keep our own chain's intent explicit; on such hosts the
//! operator has to allow the bridges there. IPv4 only. Networks are not isolated from each
//! other (only internal networks are isolated from everything).

use std::fmt::{self, Write as _};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::str::FromStr;

use crate::addr::{Ipv4Net, check_ifname};
use crate::error::{Error, Result};

/// Priority of the `localnet_guard` chain: `raw`, before conntrack, so replies still carry the
/// bridge's address and only packets really sent to `127.0.0.0/8` match.
const PRIO_RAW: i32 = -300;
/// Priority of the DNAT chains (`dstnat`).
const PRIO_DSTNAT: i32 = -100;
/// Priority of the masquerade chain (`srcnat`).
const PRIO_SRCNAT: i32 = 100;
/// Priority of our forward filter (`filter`).
const PRIO_FILTER: i32 = 0;
/// Priority of the user's forward chain: just before ours, so its drops win.
pub const USER_CHAIN_PRIORITY: i32 = -1;

/// Longest table or chain name accepted; the kernel allows 255 bytes, and [`user_table`]
/// appends a suffix.
const MAX_NAME_LEN: usize = 200;

/// A transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// The lower-case name, as Docker writes it in `80/tcp` and nft in `tcp dport`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = Error;

    /// Parses `tcp` or `udp` (any case).
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            _ => Err(Error::Invalid(format!(
                "unsupported protocol {s:?} (tcp or udp)"
            ))),
        }
    }
}

/// A bridge network as the NAT rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatNetwork {
    /// The bridge device's name, e.g. `berth0` or `br-1a2b3c4d5e6f`.
    pub bridge: String,
    /// The network's IPv4 subnet (host bits are ignored).
    pub subnet: Ipv4Net,
    /// An internal network (`docker network create --internal`): no masquerade, no forwarding
    /// to or from any other interface, no published ports.
    pub internal: bool,
    /// The IPv6 subnet of an `--ipv6` network (address, prefix length): masqueraded out and
    /// isolated like the IPv4 one, in the `ip6` table of the same name.
    pub subnet6: Option<(std::net::Ipv6Addr, u8)>,
}

/// One published port (`-p [HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO]` for one container).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublishedPort {
    /// The host address to accept on; `0.0.0.0` means every local address, `127.0.0.1` only
    /// the host itself.
    pub host_ip: Ipv4Addr,
    /// The host port (not 0: the engine picks ephemeral ports before planning).
    pub host_port: u16,
    /// The container's address on one of the plan's bridge networks.
    pub container_ip: Ipv4Addr,
    /// The port inside the container.
    pub container_port: u16,
    /// TCP or UDP.
    pub protocol: Protocol,
}

impl PublishedPort {
    /// Whether the host can reach this port on `127.0.0.1`, which needs `route_localnet`.
    fn via_loopback(&self) -> bool {
        self.host_ip.is_unspecified() || self.host_ip.is_loopback()
    }

    /// Whether two ports would take the same host socket (same protocol and port, and the same
    /// address or either on all addresses): what Docker calls "port is already allocated".
    fn clashes_with(&self, other: &PublishedPort) -> bool {
        self.protocol == other.protocol
            && self.host_port == other.host_port
            && (self.host_ip == other.host_ip
                || self.host_ip.is_unspecified()
                || other.host_ip.is_unspecified())
    }
}

/// The whole NAT state of a daemon: every bridge network and every published port. Applying a
/// plan replaces the previous one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatPlan {
    /// The bridge networks, in the order their rules should appear.
    pub networks: Vec<NatNetwork>,
    /// The published ports of all running containers.
    pub ports: Vec<PublishedPort>,
    /// The name of the user's filter chain (Docker's `DOCKER-USER`), kept in the separate
    /// [`user_table`]; `None` creates nothing. See the module documentation.
    pub user_chain: Option<String>,
}

/// A sysctl the rules need, for [`crate::host::sysctl_write`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctl {
    /// The key, dotted (`net.ipv4.ip_forward`), or with slashes when it contains an interface
    /// name with a dot (`net/ipv4/conf/br.1/route_localnet`).
    pub key: String,
    /// The value to write.
    pub value: String,
}

impl NatPlan {
    /// The sysctls the plan's rules depend on, in the order to write them:
    /// `net.ipv4.ip_forward=1` when a network is not internal (containers reach the outside
    /// and published ports through the forward path), and `route_localnet=1` on every bridge
    /// with a port the host may reach through `127.0.0.1` (see the module documentation).
    /// Only settings to turn on: nothing is ever turned back off, since other software may
    /// rely on them too.
    pub fn sysctls(&self) -> Vec<Sysctl> {
        let mut out = Vec::new();
        if self.networks.iter().any(|n| !n.internal) {
            out.push(Sysctl {
                key: "net.ipv4.ip_forward".into(),
                value: "1".into(),
            });
        }
        if self
            .networks
            .iter()
            .any(|n| !n.internal && n.subnet6.is_some())
        {
            out.push(Sysctl {
                key: "net.ipv6.conf.all.forwarding".into(),
                value: "1".into(),
            });
        }
        for net in self.localnet_bridges() {
            let key = if net.bridge.contains('.') {
                format!("net/ipv4/conf/{}/route_localnet", net.bridge)
            } else {
                format!("net.ipv4.conf.{}.route_localnet", net.bridge)
            };
            out.push(Sysctl {
                key,
                value: "1".into(),
            });
        }
        out
    }

    /// The network a container address lies in (the first, if subnets overlap).
    pub fn network_of(&self, ip: Ipv4Addr) -> Option<&NatNetwork> {
        self.networks.iter().find(|n| n.subnet.contains(ip))
    }

    /// Non-internal bridges with at least one port published on `0.0.0.0` or loopback.
    pub(crate) fn localnet_bridges(&self) -> impl Iterator<Item = &NatNetwork> {
        self.networks.iter().filter(|n| {
            !n.internal
                && self
                    .ports
                    .iter()
                    .any(|p| p.via_loopback() && n.subnet.contains(p.container_ip))
        })
    }

    /// Checks names and ports, and returns the ports without exact duplicates (Docker's port
    /// map cannot hold two identical bindings either).
    pub(crate) fn checked_ports(&self) -> Result<Vec<PublishedPort>> {
        for net in &self.networks {
            check_bridge_name(&net.bridge)?;
        }
        if let Some(chain) = &self.user_chain {
            check_name("user chain", chain)?;
        }
        let mut ports: Vec<PublishedPort> = Vec::with_capacity(self.ports.len());
        for port in &self.ports {
            if port.host_port == 0 || port.container_port == 0 {
                return Err(Error::Invalid(format!(
                    "invalid published port {}:{} -> {}:{}/{}: port 0",
                    port.host_ip,
                    port.host_port,
                    port.container_ip,
                    port.container_port,
                    port.protocol
                )));
            }
            if let Some(net) = self.network_of(port.container_ip)
                && net.internal
            {
                return Err(Error::Invalid(format!(
                    "cannot publish port {}/{} of {}: network on bridge {} is internal",
                    port.container_port, port.protocol, port.container_ip, net.bridge
                )));
            }
            if ports.contains(port) {
                continue;
            }
            if ports.iter().any(|p| p.clashes_with(port)) {
                return Err(Error::Invalid(format!(
                    "Bind for {}:{} failed: port is already allocated",
                    port.host_ip, port.host_port
                )));
            }
            ports.push(*port);
        }
        Ok(ports)
    }
}

/// The name of the user's table that goes with our `table`: `<table>_user`.
pub fn user_table(table: &str) -> String {
    format!("{table}_user")
}

/// Checks a table or chain name: nft takes them as bare identifiers (quoting is not allowed
/// there), so only ASCII letters, digits and `_`, starting with a letter, are accepted; this
/// also keeps a caller's string from ever being read as nft syntax.
pub(crate) fn check_name(what: &str, name: &str) -> Result<()> {
    let mut bytes = name.bytes();
    let ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.len() <= MAX_NAME_LEN;
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid nftables {what} name {name:?} (ASCII letters, digits and '_', starting \
             with a letter, at most {MAX_NAME_LEN} bytes)"
        )))
    }
}

/// Checks a bridge name as the kernel would, and that it can be written as an nft string.
fn check_bridge_name(name: &str) -> Result<()> {
    check_ifname(name)?;
    if name
        .bytes()
        .any(|b| b == b'"' || b == b'\\' || !b.is_ascii_graphic())
    {
        return Err(Error::Invalid(format!(
            "interface name {name:?} cannot be used in nftables rules"
        )));
    }
    Ok(())
}

/// The subnet with host bits cleared, as nft wants a prefix written.
pub(crate) fn subnet(net: &NatNetwork) -> Ipv4Net {
    Ipv4Net {
        addr: net.subnet.network(),
        prefix: net.subnet.prefix,
    }
}

/// Renders the script that replaces `table` with the rules of `plan`, in one transaction:
/// declare (so the delete cannot fail), delete, declare with everything. Pure; [`apply`] runs
/// it. The user table is not part of it (see [`render_user_table`]).
pub fn render(table: &str, plan: &NatPlan) -> Result<String> {
    check_name("table", table)?;
    let ports = plan.checked_ports()?;
    let mut s = String::new();
    // Writing to a String cannot fail.
    let mut line = |text: fmt::Arguments<'_>| {
        let _ = s.write_fmt(text);
        s.push('\n');
    };

    line(format_args!("table ip {table} {{}}"));
    line(format_args!("delete table ip {table}"));
    line(format_args!("table ip {table} {{"));

    line(format_args!("  chain localnet_guard {{"));
    line(format_args!(
        "    type filter hook prerouting priority {PRIO_RAW}; policy accept;"
    ));
    for net in plan.localnet_bridges() {
        line(format_args!(
            "    iifname \"{}\" ip daddr 127.0.0.0/8 drop",
            net.bridge
        ));
    }
    line(format_args!("  }}"));

    line(format_args!("  chain prerouting {{"));
    line(format_args!(
        "    type nat hook prerouting priority {PRIO_DSTNAT}; policy accept;"
    ));
    line(format_args!(
        "    fib daddr type local ip daddr != 127.0.0.0/8 jump published"
    ));
    line(format_args!("  }}"));

    line(format_args!("  chain output {{"));
    line(format_args!(
        "    type nat hook output priority {PRIO_DSTNAT}; policy accept;"
    ));
    line(format_args!("    fib daddr type local jump published"));
    line(format_args!("  }}"));

    line(format_args!("  chain published {{"));
    for p in &ports {
        let daddr = if p.host_ip.is_unspecified() {
            String::new()
        } else {
            format!("ip daddr {} ", p.host_ip)
        };
        line(format_args!(
            "    {daddr}{} dport {} dnat to {}:{}",
            p.protocol, p.host_port, p.container_ip, p.container_port
        ));
    }
    line(format_args!("  }}"));

    line(format_args!("  chain postrouting {{"));
    line(format_args!(
        "    type nat hook postrouting priority {PRIO_SRCNAT}; policy accept;"
    ));
    for net in plan.localnet_bridges() {
        line(format_args!(
            "    oifname \"{}\" ip saddr 127.0.0.0/8 masquerade",
            net.bridge
        ));
    }
    for net in plan.networks.iter().filter(|n| !n.internal) {
        let (br, sub) = (&net.bridge, subnet(net));
        line(format_args!(
            "    oifname \"{br}\" ip saddr {sub} ip daddr {sub} ct status dnat masquerade"
        ));
        line(format_args!(
            "    ip saddr {sub} oifname != \"{br}\" masquerade"
        ));
    }
    line(format_args!("  }}"));

    line(format_args!("  chain forward {{"));
    line(format_args!(
        "    type filter hook forward priority {PRIO_FILTER}; policy accept;"
    ));
    let internal: Vec<&NatNetwork> = plan.networks.iter().filter(|n| n.internal).collect();
    for rule in internal_rules(&internal) {
        line(format_args!("{rule}"));
    }
    line(format_args!("    ct state established,related accept"));
    let open: Vec<&NatNetwork> = plan.networks.iter().filter(|n| !n.internal).collect();
    for net in &open {
        let br = &net.bridge;
        line(format_args!("    oifname \"{br}\" ct status dnat accept"));
    }
    // Networks are isolated from each other (Docker's DOCKER-ISOLATION chains): a container
    // reaches another network's containers only by being connected to it, or through a
    // published port (accepted just above).
    for rule in isolation_rules(&open) {
        line(format_args!("{rule}"));
    }
    for net in &open {
        line(format_args!("    iifname \"{}\" accept", net.bridge));
    }
    line(format_args!("  }}"));

    line(format_args!("}}"));
    render_ip6(table, plan, &mut s);
    Ok(s)
}

/// Forward rules keeping `internal` networks' traffic on their bridges (both families).
fn internal_rules(internal: &[&NatNetwork]) -> Vec<String> {
    internal
        .iter()
        .flat_map(|n| {
            let br = &n.bridge;
            [
                format!("    iifname \"{br}\" oifname != \"{br}\" drop"),
                format!("    oifname \"{br}\" iifname != \"{br}\" drop"),
            ]
        })
        .collect()
}

/// Forward rules isolating the `open` networks from each other (Docker's DOCKER-ISOLATION
/// chains), for both families.
fn isolation_rules(open: &[&NatNetwork]) -> Vec<String> {
    open.iter()
        .filter_map(|net| {
            let others: Vec<String> = open
                .iter()
                .filter(|o| o.bridge != net.bridge)
                .map(|o| format!("\"{}\"", o.bridge))
                .collect();
            (!others.is_empty()).then(|| {
                format!(
                    "    iifname \"{}\" oifname {{ {} }} drop",
                    net.bridge,
                    others.join(", ")
                )
            })
        })
        .collect()
}

/// The `ip6` table of the same name, for `--ipv6` networks: their IPv6 subnets masqueraded
/// out of the host (unique-local addresses are not routed beyond it), internal ones kept in,
/// networks isolated from each other, as the `ip` table does for IPv4. Without IPv6 networks
/// the table is only removed (declared first, so a missing one is fine).
fn render_ip6(table: &str, plan: &NatPlan, s: &mut String) {
    let mut line = |text: String| {
        s.push_str(&text);
        s.push('\n');
    };
    line(format!("table ip6 {table} {{}}"));
    line(format!("delete table ip6 {table}"));
    let six: Vec<(&NatNetwork, String)> = plan
        .networks
        .iter()
        .filter_map(|n| n.subnet6.map(|(a, p)| (n, format!("{a}/{p}"))))
        .collect();
    if six.is_empty() {
        return;
    }
    line(format!("table ip6 {table} {{"));
    line("  chain postrouting {".into());
    line(format!(
        "    type nat hook postrouting priority {PRIO_SRCNAT}; policy accept;"
    ));
    for (net, sub) in six.iter().filter(|(n, _)| !n.internal) {
        line(format!(
            "    ip6 saddr {sub} oifname != \"{}\" masquerade",
            net.bridge
        ));
    }
    line("  }".into());
    line("  chain forward {".into());
    line(format!(
        "    type filter hook forward priority {PRIO_FILTER}; policy accept;"
    ));
    let internal: Vec<&NatNetwork> = six
        .iter()
        .filter(|(n, _)| n.internal)
        .map(|(n, _)| *n)
        .collect();
    for rule in internal_rules(&internal) {
        line(rule);
    }
    line("    ct state established,related accept".into());
    let open: Vec<&NatNetwork> = six
        .iter()
        .filter(|(n, _)| !n.internal)
        .map(|(n, _)| *n)
        .collect();
    for rule in isolation_rules(&open) {
        line(rule);
    }
    for net in &open {
        line(format!("    iifname \"{}\" accept", net.bridge));
    }
    // Nothing from outside reaches into a network unasked (published ports never go there
    // over IPv6: they are forwarded in user space to the IPv4 address).
    for net in &open {
        line(format!("    oifname \"{}\" drop", net.bridge));
    }
    line("  }".into());
    line("}".into());
}

/// Renders the script creating the user's table and its forward chain (see the module
/// documentation). Without a `policy` clause, so that even if it ran on an existing chain it
/// would not reset a policy the user chose; [`apply`] runs it only when the table is missing.
pub fn render_user_table(table: &str, chain: &str) -> Result<String> {
    check_name("table", table)?;
    check_name("user chain", chain)?;
    let user = user_table(table);
    Ok(format!(
        "table ip {user} {{\n  chain {chain} {{\n    type filter hook forward priority \
         {USER_CHAIN_PRIORITY};\n  }}\n}}\n"
    ))
}

/// Whether the `nft` tool is installed (it answers `--version`).
pub fn installed() -> bool {
    crate::tool::answers(&crate::tool::sbin("nft"))
}

/// Runs `nft ARGS`, with `stdin` fed to it when given, and returns its stdout; a failure
/// carries nft's stderr (which points at the offending line of a script).
fn run_nft(what: &str, args: &[&str], stdin: Option<&str>) -> Result<String> {
    crate::tool::run(&crate::tool::sbin("nft"), args, stdin)
        .map_err(|e| Error::io(format!("{what}: running nft"), e))?
        .map_err(|stderr| Error::Nft {
            what: what.to_string(),
            stderr,
        })
}

/// The names of the host's `ip` family tables.
pub fn tables() -> Result<Vec<String>> {
    let out = run_nft("listing nftables tables", &["list", "tables", "ip"], None)?;
    Ok(out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("table ip "))
        .map(|n| n.trim().to_string())
        .collect())
}

/// Replaces our `table` with the rules of `plan` in one `nft` transaction (idempotent), and
/// creates the user's table first if the plan names a user chain and that table does not exist
/// yet, in the same transaction. The caller applies [`NatPlan::sysctls`] and serializes calls
/// (the last plan applied wins).
pub fn apply(table: &str, plan: &NatPlan) -> Result<()> {
    let mut script = render(table, plan)?;
    if let Some(chain) = &plan.user_chain
        && !tables()?.contains(&user_table(table))
    {
        script.push_str(&render_user_table(table, chain)?);
    }
    run_nft(
        &format!("applying nftables table {table}"),
        &["-f", "-"],
        Some(&script),
    )
    .map(drop)
}

/// Deletes our `table` (declared first in the same transaction, so a missing table is fine).
/// The user's table is left alone.
pub fn remove(table: &str) -> Result<()> {
    check_name("table", table)?;
    run_nft(
        &format!("removing nftables table {table}"),
        &["-f", "-"],
        Some(&format!(
            "table ip {table} {{}}\ndelete table ip {table}\ntable ip6 {table} {{}}\ndelete table ip6 {table}\n"
        )),
    )
    .map(drop)
}

/// Deletes the user's table of `table` with the user's rules in it: for an uninstall or a test,
/// never done by the engine on its own. Missing is fine.
pub fn remove_user_table(table: &str) -> Result<()> {
    check_name("table", table)?;
    remove(&user_table(table))
}

/// Our table as `nft list table` prints it, or `None` when it does not exist: for diagnostics
/// and tests.
pub fn list(table: &str) -> Result<Option<String>> {
    check_name("table", table)?;
    if !tables()?.iter().any(|t| t == table) {
        return Ok(None);
    }
    run_nft(
        &format!("listing nftables table {table}"),
        &["list", "table", "ip", table],
        None,
    )
    .map(Some)
}

/// Turns hairpin mode on (or off) for a bridge port, i.e. a container's host-side veth, through
/// `/sys/class/net/<port>/brport/hairpin_mode`.
///
/// Needed for a container to reach its own published port through a host address (hairpin
/// NAT) when `br_netfilter` is loaded (`net.bridge.bridge-nf-call-iptables=1`, common on hosts
/// that also run Docker or Kubernetes): the DNAT then happens while the frame is being
/// *bridged*, and a bridge never sends a frame back out the port it came in by unless that port
/// is in hairpin mode. Without `br_netfilter` the flow is routed and works either way. Docker
/// sets it on every container's veth when its userland proxy is off; the engine should do the
/// same right after [`crate::attach_container`]. The cost: the container also sees its own
/// broadcasts reflected (harmless for IPv4, a reason IPv6 DAD may need care later).
pub fn set_hairpin(port: &str, on: bool) -> Result<()> {
    check_ifname(port)?;
    let path = format!("/sys/class/net/{port}/brport/hairpin_mode");
    std::fs::write(&path, if on { "1" } else { "0" }).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Invalid(format!("{port} is not a bridge port (no {path})"))
        } else {
            Error::io(format!("setting hairpin mode on {port}"), e)
        }
    })
}

/// Whether the host port is free, by binding a socket to it for a moment: lets the engine fail
/// a publish with Docker's "Bind for 0.0.0.0:8080 failed: port is already allocated" before it
/// touches any rule (with DNAT alone, a clash would silently steal the port from the host's
/// service). Binding `0.0.0.0` also fails when any address has the port. Racy by nature: it
/// answers for now, not for later.
pub fn port_free(ip: Ipv4Addr, port: u16, proto: Protocol) -> bool {
    let addr = SocketAddrV4::new(ip, port);
    match proto {
        Protocol::Tcp => TcpListener::bind(addr).is_ok(),
        Protocol::Udp => UdpSocket::bind(addr).is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> NatPlan {
        NatPlan {
            networks: vec![
                NatNetwork {
                    bridge: "berth0".into(),
                    subnet: "172.17.0.1/16".parse().unwrap(),
                    internal: false,
                    subnet6: None,
                },
                NatNetwork {
                    bridge: "br-int".into(),
                    subnet: "172.18.0.0/16".parse().unwrap(),
                    internal: true,
                    subnet6: None,
                },
            ],
            ports: vec![
                PublishedPort {
                    host_ip: Ipv4Addr::UNSPECIFIED,
                    host_port: 8080,
                    container_ip: Ipv4Addr::new(172, 17, 0, 2),
                    container_port: 80,
                    protocol: Protocol::Tcp,
                },
                PublishedPort {
                    host_ip: Ipv4Addr::new(192, 168, 1, 10),
                    host_port: 5353,
                    container_ip: Ipv4Addr::new(172, 17, 0, 3),
                    container_port: 53,
                    protocol: Protocol::Udp,
                },
            ],
            user_chain: Some("user".into()),
        }
    }

    const GOLDEN: &str = r#"table ip berth {}
delete table ip berth
table ip berth {
  chain localnet_guard {
    type filter hook prerouting priority -300; policy accept;
    iifname "berth0" ip daddr 127.0.0.0/8 drop
  }
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    fib daddr type local ip daddr != 127.0.0.0/8 jump published
  }
  chain output {
    type nat hook output priority -100; policy accept;
    fib daddr type local jump published
  }
  chain published {
    tcp dport 8080 dnat to 172.17.0.2:80
    ip daddr 192.168.1.10 udp dport 5353 dnat to 172.17.0.3:53
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    oifname "berth0" ip saddr 127.0.0.0/8 masquerade
    oifname "berth0" ip saddr 172.17.0.0/16 ip daddr 172.17.0.0/16 ct status dnat masquerade
    ip saddr 172.17.0.0/16 oifname != "berth0" masquerade
  }
  chain forward {
    type filter hook forward priority 0; policy accept;
    iifname "br-int" oifname != "br-int" drop
    oifname "br-int" iifname != "br-int" drop
    ct state established,related accept
    oifname "berth0" ct status dnat accept
    iifname "berth0" accept
  }
}
table ip6 berth {}
delete table ip6 berth
"#;

    #[test]
    fn ipv6_networks_get_an_ip6_table() {
        let mut p = plan();
        p.networks[0].subnet6 = Some(("fd00:1::".parse().unwrap(), 64));
        p.networks[1].subnet6 = Some(("fd00:2::".parse().unwrap(), 64));
        let script = render("berth", &p).unwrap();
        let ip6 = script.split("table ip6 berth {\n").nth(1).unwrap();
        assert!(
            ip6.contains("ip6 saddr fd00:1::/64 oifname != \"berth0\" masquerade"),
            "{ip6}"
        );
        assert!(
            !ip6.contains("fd00:2::/64 oifname"),
            "the internal network is not masqueraded: {ip6}"
        );
        assert!(
            ip6.contains("iifname \"br-int\" oifname != \"br-int\" drop"),
            "{ip6}"
        );
        assert!(ip6.contains("oifname \"berth0\" drop"), "{ip6}");
        assert!(
            p.sysctls()
                .iter()
                .any(|s| s.key == "net.ipv6.conf.all.forwarding")
        );
        assert!(
            !plan()
                .sysctls()
                .iter()
                .any(|s| s.key == "net.ipv6.conf.all.forwarding")
        );
    }

    #[test]
    fn small_plan_renders_the_golden_script() {
        assert_eq!(render("berth", &plan()).unwrap(), GOLDEN);
    }

    #[test]
    fn networks_are_isolated_from_each_other() {
        let mut p = plan();
        p.networks.push(NatNetwork {
            bridge: "br-a".into(),
            subnet: "172.19.0.0/16".parse().unwrap(),
            internal: false,
            subnet6: None,
        });
        let s = render("berth", &p).unwrap();
        let forward = &s[s.find("chain forward").unwrap()..];
        let lines: Vec<&str> = forward.lines().map(str::trim).collect();
        let at = |l: &str| {
            lines
                .iter()
                .position(|x| *x == l)
                .unwrap_or_else(|| panic!("{l}"))
        };
        let drop_a = at(r#"iifname "berth0" oifname { "br-a" } drop"#);
        let drop_b = at(r#"iifname "br-a" oifname { "berth0" } drop"#);
        // Published ports stay reachable from other networks; a container's own network and
        // the outside too.
        assert!(at(r#"oifname "br-a" ct status dnat accept"#) < drop_a.min(drop_b));
        assert!(at(r#"iifname "berth0" accept"#) > drop_a.max(drop_b));
    }

    #[test]
    fn empty_plan_renders_an_empty_table() {
        let s = render("t", &NatPlan::default()).unwrap();
        assert!(s.starts_with("table ip t {}\ndelete table ip t\ntable ip t {\n"));
        assert!(!s.contains("dnat to") && !s.contains("masquerade") && !s.contains("drop"));
        assert!(NatPlan::default().sysctls().is_empty());
    }

    #[test]
    fn user_table_script_has_no_policy() {
        assert_eq!(
            render_user_table("berth", "user").unwrap(),
            "table ip berth_user {\n  chain user {\n    type filter hook forward priority -1;\n  }\n}\n"
        );
        assert_eq!(user_table("berth"), "berth_user");
        assert!(render_user_table("berth", "bad name").is_err());
    }

    #[test]
    fn sysctls_cover_forwarding_and_loopback_bridges() {
        let mut p = plan();
        p.networks.push(NatNetwork {
            bridge: "br.7".into(),
            subnet: "10.7.0.0/24".parse().unwrap(),
            internal: false,
            subnet6: None,
        });
        p.ports.push(PublishedPort {
            host_ip: Ipv4Addr::LOCALHOST,
            host_port: 9000,
            container_ip: Ipv4Addr::new(10, 7, 0, 5),
            container_port: 9000,
            protocol: Protocol::Tcp,
        });
        let got: Vec<(String, String)> =
            p.sysctls().into_iter().map(|s| (s.key, s.value)).collect();
        let want = [
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv4.conf.berth0.route_localnet", "1"),
            ("net/ipv4/conf/br.7/route_localnet", "1"),
        ];
        assert_eq!(
            got,
            want.map(|(k, v)| (k.to_string(), v.to_string())).to_vec()
        );
        // Only a specific non-loopback address: no route_localnet, no loopback rules.
        let mut q = plan();
        q.ports.remove(0);
        assert_eq!(q.sysctls().len(), 1);
        let s = render("t", &q).unwrap();
        assert!(!s.contains("127.0.0.0/8 drop") && !s.contains("127.0.0.0/8 masquerade"));
        // Internal networks only: nothing to forward.
        let r = NatPlan {
            networks: vec![plan().networks[1].clone()],
            ..Default::default()
        };
        assert!(r.sysctls().is_empty());
    }

    #[test]
    fn bad_input_is_refused() {
        let p = plan();
        for table in [
            "",
            "1abc",
            "a-b",
            "a b",
            "t;flush ruleset",
            &"x".repeat(201),
        ] {
            let e = render(table, &p).unwrap_err();
            assert!(e.to_string().contains("table name"), "{table}: {e}");
        }
        let mut q = plan();
        q.networks[0].bridge = "br\"x".into();
        assert!(render("t", &q).is_err());
        let mut q = plan();
        q.networks[0].bridge = "a-very-long-bridge-name".into();
        assert!(render("t", &q).is_err());
        let mut q = plan();
        q.user_chain = Some("user chain".into());
        assert!(render("t", &q).is_err());
        let mut q = plan();
        q.ports[0].host_port = 0;
        assert!(render("t", &q).unwrap_err().to_string().contains("port 0"));
        let mut q = plan();
        q.ports[0].container_ip = Ipv4Addr::new(172, 18, 0, 2);
        let e = render("t", &q).unwrap_err();
        assert!(e.to_string().contains("br-int is internal"), "{e}");
    }

    #[test]
    fn duplicate_ports_are_merged_and_clashes_refused() {
        let mut p = plan();
        p.ports.push(p.ports[0]);
        assert_eq!(render("berth", &p).unwrap(), GOLDEN);

        // 127.0.0.1:8080 clashes with 0.0.0.0:8080 of the same protocol…
        let mut q = plan();
        q.ports.push(PublishedPort {
            host_ip: Ipv4Addr::LOCALHOST,
            container_ip: Ipv4Addr::new(172, 17, 0, 9),
            ..q.ports[0]
        });
        let e = render("t", &q).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Bind for 127.0.0.1:8080 failed: port is already allocated"
        );
        // … but not with UDP, nor another specific address.
        let mut r = plan();
        r.ports.push(PublishedPort {
            protocol: Protocol::Udp,
            ..r.ports[0]
        });
        r.ports.push(PublishedPort {
            host_ip: Ipv4Addr::new(192, 168, 1, 11),
            ..r.ports[1]
        });
        assert!(render("t", &r).is_ok());
    }

    #[test]
    fn protocols_parse_and_print() {
        assert_eq!("TCP".parse::<Protocol>().unwrap(), Protocol::Tcp);
        assert_eq!("udp".parse::<Protocol>().unwrap().to_string(), "udp");
        assert!("sctp".parse::<Protocol>().is_err());
    }

    #[test]
    fn port_free_sees_a_bound_port() {
        let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = held.local_addr().unwrap().port();
        assert!(!port_free(Ipv4Addr::LOCALHOST, port, Protocol::Tcp));
        assert!(!port_free(Ipv4Addr::UNSPECIFIED, port, Protocol::Tcp));
        drop(held);
        assert!(port_free(Ipv4Addr::LOCALHOST, port, Protocol::Tcp));
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = udp.local_addr().unwrap().port();
        assert!(!port_free(Ipv4Addr::LOCALHOST, port, Protocol::Udp));
    }
}
