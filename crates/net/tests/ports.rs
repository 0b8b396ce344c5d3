//! Privileged tests of port publishing with nftables: each test uses its own table
//! (`berth_test_<pid>_<n>`), and the end-to-end test its own bridge (`bp<hex>`), namespace and
//! a free /24 in 10.201.0.0/16; drop guards remove them even when a test fails. Traffic stays on
//! loopback and the test's bridge. Skipped when not root or without `nft`.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use berth_net::nft::{self, NatNetwork, NatPlan, Protocol, PublishedPort};
use berth_net::{ContainerLink, Ipv4Net, Netlink, Netns, host};

mod common;
use common::{LinkGuard, NetnsGuard, ip_in, unique};

fn free_subnet() -> Ipv4Net {
    common::free_subnet(201)
}

fn usable() -> bool {
    if !rustix::process::geteuid().is_root() {
        berth_common::skip::skip("needs root");
        return false;
    }
    if nft::tables().is_err() {
        berth_common::skip::skip("nft is not usable");
        return false;
    }
    true
}

fn unique_table() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "berth_test_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes our table and its user table when dropped.
struct TableGuard(String);

impl Drop for TableGuard {
    fn drop(&mut self) {
        let _ = nft::remove(&self.0);
        let _ = nft::remove_user_table(&self.0);
    }
}

fn sample_plan() -> NatPlan {
    NatPlan {
        networks: vec![
            NatNetwork {
                bridge: "bpx0".into(),
                subnet: "10.201.250.0/24".parse().unwrap(),
                internal: false,
                subnet6: None,
            },
            NatNetwork {
                bridge: "bpx1".into(),
                subnet: "10.201.251.0/24".parse().unwrap(),
                internal: true,
                subnet6: None,
            },
        ],
        ports: vec![
            PublishedPort {
                host_ip: Ipv4Addr::LOCALHOST,
                host_port: 18080,
                container_ip: Ipv4Addr::new(10, 201, 250, 2),
                container_port: 80,
                protocol: Protocol::Tcp,
            },
            PublishedPort {
                host_ip: Ipv4Addr::new(10, 201, 250, 1),
                host_port: 15353,
                container_ip: Ipv4Addr::new(10, 201, 250, 3),
                container_port: 53,
                protocol: Protocol::Udp,
            },
        ],
        user_chain: Some("user".into()),
    }
}

#[test]
fn tables_are_applied_idempotently_and_removed() {
    if !usable() {
        return;
    }
    let table = unique_table();
    let _guard = TableGuard(table.clone());
    let plan = sample_plan();
    assert_eq!(nft::list(&table).unwrap(), None);

    nft::apply(&table, &plan).unwrap();
    let first = nft::list(&table).unwrap().expect("table exists");
    for want in [
        "ip daddr 127.0.0.1 tcp dport 18080 dnat to 10.201.250.2:80",
        "ip daddr 10.201.250.1 udp dport 15353 dnat to 10.201.250.3:53",
        "fib daddr type local jump published",
        "oifname \"bpx0\" ip saddr 127.0.0.0/8 masquerade",
        "ct status dnat masquerade",
        "ip saddr 10.201.250.0/24 oifname != \"bpx0\" masquerade",
        "iifname \"bpx1\" oifname != \"bpx1\" drop",
        "ct state established,related accept",
        "iifname \"bpx0\" ip daddr 127.0.0.0/8 drop",
    ] {
        assert!(first.contains(want), "missing {want:?} in:\n{first}");
    }
    assert!(nft::tables().unwrap().contains(&nft::user_table(&table)));

    // The user adds a rule to their chain; re-applying neither duplicates ours nor drops theirs.
    let user = nft::user_table(&table);
    let out = Command::new("nft")
        .args([
            "add", "rule", "ip", &user, "user", "tcp", "dport", "9", "drop",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    nft::apply(&table, &plan).unwrap();
    nft::apply(&table, &plan).unwrap();
    let again = nft::list(&table).unwrap().unwrap();
    assert_eq!(first, again, "re-applying changes nothing");
    assert_eq!(again.matches("dnat to").count(), 2);
    let user_rules = Command::new("nft")
        .args(["list", "table", "ip", &user])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&user_rules.stdout).contains("tcp dport 9 drop"));

    // A smaller plan replaces the rules: the stale port goes.
    let mut smaller = plan.clone();
    smaller.ports.truncate(1);
    nft::apply(&table, &smaller).unwrap();
    let listed = nft::list(&table).unwrap().unwrap();
    assert_eq!(listed.matches("dnat to").count(), 1);
    assert!(!listed.contains("15353"));

    // Removal: ours goes (twice is fine), the user's stays until removed on purpose.
    nft::remove(&table).unwrap();
    nft::remove(&table).unwrap();
    assert_eq!(nft::list(&table).unwrap(), None);
    assert!(nft::tables().unwrap().contains(&user));
    nft::remove_user_table(&table).unwrap();
    assert!(!nft::tables().unwrap().contains(&user));
}

#[test]
fn nft_errors_carry_its_stderr() {
    if !usable() {
        return;
    }
    let table = unique_table();
    let _guard = TableGuard(table.clone());
    // A user chain named like an nft keyword passes our name check but not nft's parser.
    let mut plan = sample_plan();
    plan.user_chain = Some("counter".into());
    let err = nft::apply(&table, &plan).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!("applying nftables table {table}")),
        "{text}"
    );
    assert!(text.contains("Error"), "{text}");
    assert!(matches!(err, berth_net::Error::Nft { .. }));
    // Nothing was committed: the transaction is all or nothing.
    assert_eq!(nft::list(&table).unwrap(), None);
}

fn free_port(ip: Ipv4Addr) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn fetch(addr: SocketAddrV4) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr.into(), Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.shutdown(Shutdown::Write)?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[test]
fn published_ports_reach_a_container_from_loopback_and_the_host() {
    if !usable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bridge = format!("bp{:08x}", unique());
    let subnet = free_subnet();
    let gateway = ip_in(subnet, 1);
    let container = ip_in(subnet, 2);
    let table = unique_table();

    let mut nl = Netlink::open().unwrap();
    let _bridge_guard = LinkGuard(bridge.clone());
    nl.ensure_bridge(&bridge, None).unwrap();
    nl.add_address(&bridge, Ipv4Net::new(gateway, 24).unwrap())
        .unwrap();
    let ns_path = dir.path().join("ns");
    let _ns_guard = NetnsGuard(ns_path.clone());
    Netns::create(&ns_path).unwrap();
    let veth = nl
        .attach_container(&ContainerLink {
            netns: &ns_path,
            bridge: &bridge,
            ifname: "eth0",
            address: Ipv4Net::new(container, 24).unwrap(),
            gateway: Some(gateway),
            mac: None,
            mtu: None,
        })
        .unwrap();
    let _veth_guard = LinkGuard(veth.name.clone());
    // What the engine does after each attach, so hairpin NAT works under br_netfilter too.
    nft::set_hairpin(&veth.name, true).unwrap();
    assert_eq!(
        std::fs::read_to_string(format!("/sys/class/net/{}/brport/hairpin_mode", veth.name))
            .unwrap()
            .trim(),
        "1"
    );
    assert!(
        nft::set_hairpin(&bridge, true).is_err(),
        "a bridge is not a port"
    );

    // The "container": a listener created inside the namespace (a socket stays in the
    // namespace it was created in), served from a host thread; it answers with the peer's
    // address so the test sees the masquerade.
    let listener = berth_net::run_in(&ns_path, || TcpListener::bind((Ipv4Addr::UNSPECIFIED, 80)))
        .unwrap()
        .unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let peer = conn
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default();
            let _ = writeln!(conn, "hi from {peer}");
        }
    });

    // A port free now (another test may take the one the kernel offered in between: pick again).
    let lo_port = (0..50)
        .map(|_| free_port(Ipv4Addr::LOCALHOST))
        .find(|p| nft::port_free(Ipv4Addr::LOCALHOST, *p, Protocol::Tcp))
        .expect("a free loopback port");
    let gw_port = free_port(gateway);
    assert!(nft::port_free(Ipv4Addr::LOCALHOST, lo_port, Protocol::Tcp));
    let plan = NatPlan {
        networks: vec![NatNetwork {
            bridge: bridge.clone(),
            subnet,
            internal: false,
            subnet6: None,
        }],
        ports: vec![
            PublishedPort {
                host_ip: Ipv4Addr::LOCALHOST,
                host_port: lo_port,
                container_ip: container,
                container_port: 80,
                protocol: Protocol::Tcp,
            },
            PublishedPort {
                host_ip: gateway,
                host_port: gw_port,
                container_ip: container,
                container_port: 80,
                protocol: Protocol::Tcp,
            },
        ],
        user_chain: None,
    };
    // ip_forward is not needed for the host's own connections; leave the host's setting alone.
    for s in plan.sysctls() {
        if s.key.contains("route_localnet") {
            host::sysctl_write(&s.key, &s.value).unwrap();
        }
    }
    let _table_guard = TableGuard(table.clone());
    nft::apply(&table, &plan).unwrap();

    let via_lo = fetch(SocketAddrV4::new(Ipv4Addr::LOCALHOST, lo_port)).unwrap();
    assert_eq!(
        via_lo,
        format!("hi from {gateway}\n"),
        "loopback is masqueraded"
    );
    let via_gw = fetch(SocketAddrV4::new(gateway, gw_port)).unwrap();
    assert_eq!(via_gw, format!("hi from {gateway}\n"));
    // Hairpin: the container reaches its own published port through the host's address,
    // masqueraded so the answer comes back through the host (needs forwarding on).
    if host::sysctl_read("net.ipv4.ip_forward").unwrap() == "1" {
        let hairpin = berth_net::run_in(&ns_path, || fetch(SocketAddrV4::new(gateway, gw_port)))
            .unwrap()
            .unwrap();
        assert_eq!(
            hairpin,
            format!("hi from {gateway}\n"),
            "hairpin is masqueraded"
        );
    }
    // Ports published on one address only are not reachable on another.
    assert!(fetch(SocketAddrV4::new(Ipv4Addr::LOCALHOST, gw_port)).is_err());

    // Removing the table unpublishes.
    nft::remove(&table).unwrap();
    assert!(fetch(SocketAddrV4::new(Ipv4Addr::LOCALHOST, lo_port)).is_err());
}
