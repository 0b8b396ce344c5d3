//! Privileged tests: real bridges, namespaces and veth pairs. Each test uses its own names
//! (bridge `bt<hex>`, namespace files in a temp dir, a free /24 in 10.200.0.0/16) and removes
//! everything through drop guards, even when it fails. Skipped when not root.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use berth_common::{ErrorKind, error::HasKind};
use berth_net::{ContainerLink, Error, Ipv4Net, MacAddr, Netlink, Netns, host};

mod common;
use common::{LinkGuard, NetnsGuard, root, unique};

fn free_subnet() -> Ipv4Net {
    common::free_subnet(200)
}

fn host_ip(net: Ipv4Net, last: u8) -> Ipv4Addr {
    common::ip_in(net, last)
}

fn ping_from(netns: &Path, ip: Ipv4Addr) -> bool {
    Command::new("nsenter")
        .arg(format!("--net={}", netns.display()))
        .args(["/bin/busybox", "ping", "-c1", "-W1", &ip.to_string()])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn host_link_names() -> Vec<String> {
    Netlink::open()
        .unwrap()
        .links()
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect()
}

/// Waits for links to disappear: a namespace's veth pairs go when the kernel destroys it,
/// asynchronously after the last reference is dropped.
fn wait_gone(names: &[&str]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<String> = host_link_names()
            .into_iter()
            .filter(|n| names.contains(&n.as_str()))
            .collect();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_namespaces_ping_each_other_over_a_bridge() {
    if !root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bridge = format!("bt{:08x}", unique());
    let subnet = free_subnet();
    let gateway = host_ip(subnet, 1);

    let mut nl = Netlink::open().unwrap();
    let _bridge_guard = LinkGuard(bridge.clone());
    let br = nl.ensure_bridge(&bridge, Some(1500)).unwrap();
    assert!(br.is_bridge() && br.up);
    nl.add_address(&bridge, Ipv4Net::new(gateway, 24).unwrap())
        .unwrap();

    let mut veths = Vec::new();
    let mut guards = Vec::new();
    let mut paths = Vec::new();
    for (i, last) in [(0, 2u8), (1, 3u8)] {
        let path = dir.path().join(format!("ns{i}"));
        guards.push(NetnsGuard(path.clone()));
        let t0 = Instant::now();
        Netns::create(&path).unwrap();
        let t1 = Instant::now();
        let veth = nl
            .attach_container(&ContainerLink {
                netns: &path,
                bridge: &bridge,
                ifname: "eth0",
                address: Ipv4Net::new(host_ip(subnet, last), 24).unwrap(),
                gateway: Some(gateway),
                mac: None,
                mtu: Some(1400),
            })
            .unwrap();
        eprintln!("netns create {:?}, attach {:?}", t1 - t0, t1.elapsed());
        veths.push(LinkGuard(veth.name.clone()));
        let host_end = nl.require_link(&veth.name).unwrap();
        assert_eq!(host_end.master, Some(br.index));
        assert_eq!(host_end.mtu, Some(1400));
        assert!(host_end.up);
        paths.push((path, veth));
    }

    // Inside: lo and eth0 up, the address, the MAC derived from it, nothing else.
    let ns = Netns::open(&paths[0].0).unwrap();
    let mut inside = Netlink::open_in(&ns).unwrap();
    let eth0 = inside.require_link("eth0").unwrap();
    assert!(eth0.up);
    assert_eq!(eth0.mtu, Some(1400));
    assert_eq!(eth0.mac, Some(MacAddr::from_ipv4(host_ip(subnet, 2))));
    assert_eq!(eth0.index, paths[0].1.peer_index);
    assert!(inside.require_link("lo").unwrap().up);
    assert!(
        inside.addresses().unwrap().iter().any(
            |a| a.index == eth0.index && a.net == Ipv4Net::new(host_ip(subnet, 2), 24).unwrap()
        )
    );
    drop(inside);
    drop(ns);

    assert!(ping_from(&paths[0].0, host_ip(subnet, 3)), "ns0 → ns1");
    assert!(ping_from(&paths[1].0, host_ip(subnet, 2)), "ns1 → ns0");
    assert!(ping_from(&paths[1].0, gateway), "ns1 → bridge");

    // Detach the first explicitly; let the second go with its namespace.
    let first = paths[0].1.name.clone();
    let second = paths[1].1.name.clone();
    berth_net::detach(&first).unwrap();
    berth_net::detach(&first).unwrap(); // already gone: fine
    assert!(!host_link_names().contains(&first));
    drop(paths);
    drop(guards);
    assert!(nl.delete_link(&bridge).unwrap());
    assert!(!nl.delete_link(&bridge).unwrap());
    let left = wait_gone(&[&first, &second, &bridge]);
    assert!(left.is_empty(), "leftover links: {left:?}");
    drop(veths);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn bridges_are_idempotent_and_errors_name_the_link() {
    if !root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bridge = format!("bt{:08x}", unique());
    let _guard = LinkGuard(bridge.clone());
    let mut nl = Netlink::open().unwrap();
    let a = nl.ensure_bridge(&bridge, Some(1450)).unwrap();
    nl.set_link(
        &bridge,
        &berth_net::plan::LinkSettings {
            mtu: Some(1300),
            ..Default::default()
        },
    )
    .unwrap();
    let b = nl.ensure_bridge(&bridge, Some(1450)).unwrap();
    assert_eq!(a.index, b.index);
    assert_eq!(b.mtu, Some(1450), "ensure_bridge fixes the MTU");

    let net = Ipv4Net::new(host_ip(free_subnet(), 1), 24).unwrap();
    nl.add_address(&bridge, net).unwrap();
    nl.add_address(&bridge, net).unwrap();

    // A veth under the name is not a bridge.
    let ns_path = dir.path().join("ns");
    let _ns = NetnsGuard(ns_path.clone());
    Netns::create(&ns_path).unwrap();
    let veth = nl
        .attach_container(&ContainerLink {
            netns: &ns_path,
            bridge: &bridge,
            ifname: "eth0",
            address: Ipv4Net::new(host_ip(net, 2), 24).unwrap(),
            gateway: None,
            mac: Some("02:00:00:00:00:09".parse().unwrap()),
            mtu: None,
        })
        .unwrap();
    let _veth = LinkGuard(veth.name.clone());
    let err = nl.ensure_bridge(&veth.name, None).unwrap_err();
    assert!(matches!(err, Error::WrongKind { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::Conflict);

    // The peer name is taken inside the namespace: the kernel's errno, naming the pair.
    let err = nl
        .attach_container(&ContainerLink {
            netns: &ns_path,
            bridge: &bridge,
            ifname: "eth0",
            address: Ipv4Net::new(host_ip(net, 3), 24).unwrap(),
            gateway: None,
            mac: None,
            mtu: None,
        })
        .unwrap_err();
    assert!(err.to_string().contains("File exists"), "{err}");
    assert!(err.to_string().contains("creating veth pair veth"), "{err}");
    assert_eq!(err.kind(), ErrorKind::Conflict);

    let err = nl.set_up("bt-does-not-ex").unwrap_err();
    assert_eq!(
        err.to_string(),
        "configuring link bt-does-not-ex: No such device"
    );
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(matches!(
        nl.add_address("bt-does-not-ex", net),
        Err(Error::LinkNotFound(_))
    ));
}

#[test]
fn namespaces_are_created_entered_and_removed() {
    if !root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ns");
    let _guard = NetnsGuard(path.clone());
    let ns = Netns::create(&path).unwrap();
    assert_eq!(ns.path(), path);
    let err = Netns::create(&path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");

    // A fresh namespace has only lo, down; the thread that ran there is gone, ours unmoved.
    let links = ns.run_in(|| Netlink::open()?.links()).unwrap().unwrap();
    assert!(links.iter().any(|l| l.name == "lo" && !l.up));
    assert!(links.iter().all(|l| l.name != "eth0"));
    let inside = berth_net::run_in(&path, || {
        std::fs::read_link("/proc/thread-self/ns/net").unwrap()
    })
    .unwrap();
    assert_ne!(
        inside,
        std::fs::read_link("/proc/thread-self/ns/net").unwrap()
    );
    drop(ns);

    Netns::remove(&path).unwrap();
    Netns::remove(&path).unwrap();
    assert!(!path.exists());
    assert!(matches!(Netns::open(&path), Err(Error::NetnsNotFound(_))));
    // An empty file (what a crash between create and mount leaves) is not a namespace.
    std::fs::write(&path, b"").unwrap();
    assert!(matches!(Netns::open(&path), Err(Error::NetnsNotFound(_))));
    Netns::remove(&path).unwrap();
}

#[test]
fn host_facts() {
    let routes = host::ipv4_routes().unwrap();
    if let Some(def) = host::default_route(&routes)
        && root()
    {
        let mtu = host::default_route_mtu().unwrap();
        assert!(mtu.is_some_and(|m| m >= 576), "{def:?} {mtu:?}");
    }
    assert!(host::sysctl_read("net.ipv4.ip_forward").is_ok());
    if root() {
        let v = host::sysctl_read("net.ipv4.ip_forward").unwrap();
        host::sysctl_write("net.ipv4.ip_forward", &v).unwrap();
    }
}
