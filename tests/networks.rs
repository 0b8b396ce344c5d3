//! Bridge networking end to end: the default network and user networks (own bridges and
//! subnets per test), container ↔ container and host → container traffic, `--internal`,
//! `container:` mode, live connect/disconnect, clean-up, and bad input. Traffic stays on the
//! test's own bridges. Needs root and busybox.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Daemon, free_port, unique_bridge};
use std::path::Path;
use std::time::{Duration, Instant};

fn daemon() -> Daemon {
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    d
}

/// The `--bridge`/`--bip` the harness gave this daemon.
fn default_bridge(d: &Daemon) -> (String, String) {
    let a = &d.extra_args;
    let at = |flag: &str| a[a.iter().position(|x| x == flag).unwrap() + 1].clone();
    (at("--bridge"), at("--bip"))
}

/// A plain HTTP/1.0 GET from the host (over the test's own bridge); the whole response.
fn http_get(ip: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = format!("{ip}:80").parse().ok()?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n").as_bytes())
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.starts_with("HTTP/1.").then_some(out)
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn default_network_reaches_containers_from_host_and_each_other() {
    let d = daemon();
    let (bridge, bip) = default_bridge(&d);
    let prefix = bip.trim_end_matches("0/24");
    let web = d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo hello-from-web > /www/index.html && httpd -f -p 80 -h /www",
    ]);
    let web = web.trim();
    let ip = d.ok(&["inspect", "--format", "{{.NetworkSettings.IPAddress}}", web]);
    let ip = ip.trim().to_string();
    assert!(ip.starts_with(prefix), "{ip} not in {bip}");
    assert!(link_exists(&bridge), "default bridge {bridge} missing");
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.NetworkSettings.Gateway}}", web])
            .trim(),
        format!("{prefix}1")
    );
    // Host → container, over the test's bridge.
    let url = format!("http://{ip}/index.html");
    let mut body = String::new();
    wait_for("httpd", || match http_get(&ip, "/index.html") {
        Some(b) => {
            body = b;
            true
        }
        None => false,
    });
    assert!(body.ends_with("\r\n\r\nhello-from-web\n"), "{body}");
    // Container → container.
    let got = d.ok(&["run", "--rm", "busybox", "wget", "-q", "-O", "-", &url]);
    assert_eq!(got, "hello-from-web\n");
    // The container's own name is in its hosts file with its address.
    let hosts = d.ok(&["exec", "web", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{ip}\t{}", &web[..12])), "{hosts}");
    // Its endpoint goes with it: lease released, veth gone with the namespace.
    d.ok(&["rm", "-f", "web"]);
    let net = d.ok(&[
        "network",
        "inspect",
        "--format",
        "{{len .Containers}}",
        "bridge",
    ]);
    assert_eq!(net.trim(), "0");
    assert!(!d.root().join("netns").join(web).exists());
    let ip2 = d.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "ip -4 -o addr show eth0 | awk '{print $4}'",
    ]);
    assert_eq!(
        ip2.trim(),
        format!("{ip}/24"),
        "the released address is handed out again"
    );
}

#[test]
fn user_networks_internal_container_mode_and_live_connect() {
    let d = daemon();
    let (br_a, subnet_a) = unique_bridge();
    let (br_b, subnet_b) = unique_bridge();
    let net_a = d.ok(&[
        "network",
        "create",
        "--subnet",
        &subnet_a,
        "-o",
        &format!("com.docker.network.bridge.name={br_a}"),
        "--label",
        "t=1",
        "front",
    ]);
    assert_eq!(net_a.trim().len(), 64);
    d.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        &subnet_b,
        "-o",
        &format!("com.docker.network.bridge.name={br_b}"),
        "back",
    ]);
    let ls = d.ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    for line in [
        "back bridge",
        "bridge bridge",
        "front bridge",
        "host host",
        "none null",
    ] {
        assert!(ls.lines().any(|l| l == line), "{line} missing:\n{ls}");
    }
    let a_prefix = subnet_a.trim_end_matches("0/24");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "one",
        "--network",
        "front",
        "--ip",
        &format!("{a_prefix}50"),
        "busybox",
        "sleep",
        "100",
    ]);
    let two = d.ok(&[
        "run",
        "--rm",
        "--network",
        "front",
        "busybox",
        "ping",
        "-c1",
        "-W2",
        &format!("{a_prefix}50"),
    ]);
    assert!(two.contains("1 packets received"), "{two}");
    // Internal: an address, no default route.
    let routes = d.ok(&["run", "--rm", "--network", "back", "busybox", "ip", "route"]);
    assert!(!routes.contains("default"), "{routes}");
    // container: mode shares the namespace (same address).
    let shared = d.ok(&[
        "run",
        "--rm",
        "--network",
        "container:one",
        "busybox",
        "sh",
        "-c",
        "ip -4 -o addr show eth0 | awk '{print $4}'",
    ]);
    assert_eq!(shared.trim(), format!("{a_prefix}50/24"));
    // Live connect and disconnect.
    d.ok(&["network", "connect", "back", "one"]);
    let addrs = d.ok(&["exec", "one", "ip", "-4", "-o", "addr"]);
    assert!(addrs.contains("eth1"), "{addrs}");
    let err = d.fails(&["network", "connect", "back", "one"]);
    assert!(err.contains("already exists"), "{err}");
    d.ok(&["network", "disconnect", "back", "one"]);
    assert!(
        !d.ok(&["exec", "one", "ip", "-4", "-o", "addr"])
            .contains("eth1")
    );
    // In use: cannot be removed; predefined never.
    let err = d.fails(&["network", "rm", "front"]);
    assert!(err.contains("active endpoints"), "{err}");
    assert!(
        d.fails(&["network", "rm", "bridge"])
            .contains("pre-defined")
    );
    d.ok(&["rm", "-f", "one"]);
    d.ok(&["network", "rm", "front"]);
    assert!(!link_exists(&br_a), "bridge of a removed network remains");
    let pruned = d.ok(&["network", "prune", "-f"]);
    assert!(pruned.contains("back"), "{pruned}");
    assert!(!link_exists(&br_b));
}

/// Containers on different networks do not reach each other (Docker's isolation), unless
/// connected to the same one; dynamic addresses come from `--ip-range`.
#[test]
fn networks_are_isolated_and_ip_range_is_honoured() {
    let d = daemon();
    let (br_a, subnet_a) = unique_bridge();
    let (br_b, subnet_b) = unique_bridge();
    let a_prefix = subnet_a.trim_end_matches("0/24").to_string();
    d.ok(&[
        "network",
        "create",
        "--subnet",
        &subnet_a,
        "--ip-range",
        &format!("{a_prefix}128/25"),
        "-o",
        &format!("com.docker.network.bridge.name={br_a}"),
        "left",
    ]);
    d.ok(&[
        "network",
        "create",
        "--subnet",
        &subnet_b,
        "-o",
        &format!("com.docker.network.bridge.name={br_b}"),
        "right",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "target",
        "--network",
        "left",
        "busybox",
        "sleep",
        "100",
    ]);
    let ip = d.ok(&[
        "inspect",
        "--format",
        "{{.NetworkSettings.Networks.left.IPAddress}}",
        "target",
    ]);
    let ip = ip.trim().to_string();
    let last: u8 = ip.rsplit('.').next().unwrap().parse().unwrap();
    assert!(
        ip.starts_with(&a_prefix) && last >= 128,
        "{ip} outside --ip-range"
    );
    let ping = |net: &str, to: &str| {
        d.berth(&[
            "run",
            "--rm",
            "--network",
            net,
            "busybox",
            "ping",
            "-c1",
            "-W1",
            to,
        ])
    };
    let same = ping("left", &ip);
    assert!(
        same.status.success(),
        "same network: {}",
        common::stdout(&same)
    );
    let other = ping("right", &ip);
    assert!(
        !other.status.success(),
        "another network reached {ip}: {}",
        common::stdout(&other)
    );
    // Connected to both, a container reaches the target over the shared network.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "both",
        "--network",
        "right",
        "busybox",
        "sleep",
        "100",
    ]);
    d.ok(&["network", "connect", "left", "both"]);
    let out = d.ok(&["exec", "both", "ping", "-c1", "-W1", &ip]);
    assert!(out.contains("1 packets received"), "{out}");
    d.ok(&["rm", "-f", "target", "both"]);
    d.ok(&["network", "rm", "left", "right"]);
}

/// `host.berth.internal` and `--add-host NAME:host-gateway` name the host's address on the
/// container's bridge, and the host answers there.
#[test]
fn containers_reach_the_host_by_name() {
    let d = daemon();
    let (_, bip) = default_bridge(&d);
    let gateway = format!("{}1", bip.trim_end_matches("0/24"));
    let out = d.ok(&[
        "run",
        "--rm",
        "--add-host",
        "gw:host-gateway",
        "busybox",
        "sh",
        "-c",
        "cat /etc/hosts; ping -c1 -W2 host.berth.internal",
    ]);
    assert!(out.contains(&format!("{gateway}\tgw\n")), "{out}");
    assert!(
        out.contains(&format!("{gateway}\thost.berth.internal\n")),
        "{out}"
    );
    assert!(out.contains("1 packets received"), "{out}");
}

/// Removes, when dropped, the `ip raw|nat|filter` nftables tables that did not exist when it was
/// made and hold no rule (iptables-nft creates them on first use).
struct XtablesGuard(Vec<String>);

impl XtablesGuard {
    fn tables() -> Vec<String> {
        let out = std::process::Command::new("nft")
            .args(["list", "tables", "ip"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        out.lines()
            .filter_map(|l| l.strip_prefix("table ip "))
            .map(|t| t.trim().to_string())
            .collect()
    }

    fn new() -> XtablesGuard {
        XtablesGuard(Self::tables())
    }
}

impl Drop for XtablesGuard {
    fn drop(&mut self) {
        for t in ["raw", "nat", "filter"] {
            if self.0.iter().any(|x| x == t) || !Self::tables().iter().any(|x| x == t) {
                continue;
            }
            let listing = std::process::Command::new("nft")
                .args(["list", "table", "ip", t])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            let has_rules = listing.lines().map(str::trim).any(|l| {
                !(l.is_empty()
                    || l == "}"
                    || l.starts_with("table ")
                    || l.starts_with("chain ")
                    || l.starts_with("type "))
            });
            if !has_rules {
                let _ = std::process::Command::new("nft")
                    .args(["delete", "table", "ip", t])
                    .status();
            }
        }
    }
}

/// `--firewall iptables` (what a host without `nft` gets): published ports, isolation and
/// clean-up through iptables chains named after the daemon, and no nftables table.
#[test]
fn iptables_backend_publishes_isolates_and_cleans_up() {
    if std::process::Command::new("iptables")
        .arg("--version")
        .output()
        .is_err()
    {
        common::missing_tool("iptables not installed");
        return;
    }
    // iptables-nft makes the nftables tables of the xtables it touches; those this test makes
    // go again at the end if empty.
    let _xtables = XtablesGuard::new();
    let d = Daemon::start_with(&["--firewall", "iptables"]);
    d.import_busybox("busybox:latest");
    let (bridge, _) = default_bridge(&d);
    let prefix = format!("BERTH-{}-", bridge.to_ascii_uppercase());
    let rules = |table: &str| {
        let out = std::process::Command::new("iptables")
            .args(["-w", "-t", table, "-S"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let port = free_port();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "site",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo via-iptables > /www/index.html && httpd -f -p 80 -h /www",
    ]);
    let mut body = None;
    wait_for("the published port", || {
        body = get_local(port);
        body.is_some()
    });
    assert_eq!(body.unwrap(), "via-iptables\n");
    let nat = rules("nat");
    assert!(
        nat.contains(&format!(
            "-A {prefix}PUB -d 127.0.0.1/32 -p tcp -m tcp --dport {port} -j DNAT"
        )),
        "{nat}"
    );
    assert!(
        nat.contains(&format!("-A PREROUTING -j {prefix}PRE")),
        "{nat}"
    );
    let filter = rules("filter");
    assert!(filter.contains(&format!("-N {prefix}USER")), "{filter}");
    let nft = std::process::Command::new("nft")
        .args(["list", "tables"])
        .output();
    if let Ok(nft) = nft {
        let tables = String::from_utf8_lossy(&nft.stdout).into_owned();
        assert!(!tables.contains(&format!("berth_{bridge}")), "{tables}");
    }
    // A second network is isolated from the default one, in the FWD chain.
    let (br_b, subnet_b) = unique_bridge();
    d.ok(&[
        "network",
        "create",
        "--subnet",
        &subnet_b,
        "-o",
        &format!("com.docker.network.bridge.name={br_b}"),
        "other",
    ]);
    let site_ip = d.ok(&[
        "inspect",
        "--format",
        "{{.NetworkSettings.IPAddress}}",
        "site",
    ]);
    let other = d.berth(&[
        "run",
        "--rm",
        "--network",
        "other",
        "busybox",
        "ping",
        "-c1",
        "-W1",
        site_ip.trim(),
    ]);
    assert!(!other.status.success(), "{}", common::stdout(&other));
    assert!(
        rules("filter").contains(&format!("-A {prefix}FWD -i {br_b} -o {bridge} -j DROP")),
        "{}",
        rules("filter")
    );
    // Prune: no chain, no jump of ours left.
    d.ok(&["rm", "-f", "site"]);
    d.ok(&["system", "prune", "-f"]);
    for table in ["raw", "nat", "filter"] {
        let left = rules(table);
        assert!(
            !left.contains(&prefix),
            "{table} still has {prefix}*:\n{left}"
        );
    }
}

#[test]
fn network_bad_input_changes_nothing() {
    let d = daemon();
    let (_, bip) = default_bridge(&d);
    let before = d.ok(&["network", "ls", "-q"]);
    let err = d.fails(&["network", "create", "--subnet", &bip, "clash"]);
    assert!(err.contains("overlaps"), "{err}");
    let err = d.fails(&["network", "create", "--subnet", "10.1.2.3/99", "bad"]);
    assert!(err.to_lowercase().contains("invalid"), "{err}");
    let err = d.fails(&["network", "create", "host"]);
    assert!(err.contains("pre-defined"), "{err}");
    assert!(
        d.fails(&["run", "--rm", "--network", "nowhere", "busybox", "true"])
            .contains("not found")
    );
    // A published range whose host and container sides differ in length: Docker's message,
    // and no container made.
    let err = d.fails(&[
        "run",
        "-d",
        "-p",
        "18000-18002:80-81",
        "busybox",
        "sleep",
        "9",
    ]);
    assert!(
        err.contains("invalid ranges specified for container and host Ports"),
        "{err}"
    );
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert_eq!(d.ok(&["network", "ls", "-q"]), before);
}

#[test]
fn bridged_containers_survive_a_killed_daemon() {
    let mut d = daemon();
    let id = d.ok(&["run", "-d", "busybox", "sleep", "100"]);
    let id = id.trim().to_string();
    let ip = d.ok(&["inspect", "--format", "{{.NetworkSettings.IPAddress}}", &id]);
    d.stop_with(9);
    d.spawn();
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.NetworkSettings.IPAddress}}", &id]),
        ip
    );
    let ping = d.ok(&["run", "--rm", "busybox", "ping", "-c1", "-W2", ip.trim()]);
    assert!(ping.contains("1 packets received"), "{ping}");
    d.ok(&["stop", "-t", "0", &id]);
    assert!(!d.root().join("netns").join(&id).exists());
}

/// Asks the DNS server at `server` for the A records of `name` (a hand-built query, so the
/// test needs no resolver library); returns the addresses and the response code.
fn dns_query(server: &str, name: &str) -> (Vec<String>, u8) {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    sock.send_to(&q, server).unwrap();
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).unwrap();
    let r = &buf[..n];
    let rcode = r[3] & 0x0f;
    let answers = u16::from_be_bytes([r[6], r[7]]) as usize;
    // Skip the question, then read each answer (name pointer, type, class, ttl, rdlength, ip).
    let mut i = 12;
    while r[i] != 0 {
        i += r[i] as usize + 1;
    }
    i += 5;
    let mut ips = Vec::new();
    for _ in 0..answers {
        i += 2 + 2 + 2 + 4;
        let len = u16::from_be_bytes([r[i], r[i + 1]]) as usize;
        i += 2;
        if len == 4 {
            ips.push(format!("{}.{}.{}.{}", r[i], r[i + 1], r[i + 2], r[i + 3]));
        }
        i += len;
    }
    (ips, rcode)
}

#[test]
fn names_resolve_in_networks_and_from_the_host() {
    let d = daemon();
    // The default network resolves container names too (Docker's does not).
    d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo by-name > /www/index.html && httpd -f -p 80 -h /www",
    ]);
    let got = d.ok(&[
        "run",
        "--rm",
        "busybox",
        "wget",
        "-q",
        "-O",
        "-",
        "http://web/",
    ]);
    assert_eq!(got, "by-name\n");
    // A user network: aliases, round-robin over two containers with one alias.
    let (bridge, subnet) = unique_bridge();
    d.ok(&[
        "network",
        "create",
        "--subnet",
        &subnet,
        "-o",
        &format!("com.docker.network.bridge.name={bridge}"),
        "app",
    ]);
    for name in ["api1", "api2"] {
        d.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "app",
            "--network-alias",
            "api",
            "busybox",
            "sleep",
            "60",
        ]);
    }
    let look = d.ok(&[
        "run",
        "--rm",
        "--network",
        "app",
        "busybox",
        "nslookup",
        "api",
    ]);
    let prefix = subnet.trim_end_matches("0/24");
    assert_eq!(
        look.matches(&format!("Address: {prefix}")).count(),
        2,
        "{look}"
    );
    let look = d.ok(&[
        "run",
        "--rm",
        "--network",
        "app",
        "busybox",
        "nslookup",
        "api1",
    ]);
    assert!(look.contains("Name:\tapi1"), "{look}");
    // `web` lives on the default network only: not visible from `app`.
    let out = d.berth(&[
        "run",
        "--rm",
        "--network",
        "app",
        "busybox",
        "nslookup",
        "web",
    ]);
    assert!(
        !common::stdout(&out).contains("Address: 10."),
        "{}",
        common::stdout(&out)
    );
    // The host: web.berth through the daemon's loopback resolver; other names refused.
    let server = std::fs::read_to_string(d.root().join("dns.addr")).unwrap();
    let web_ip = d.ok(&[
        "inspect",
        "--format",
        "{{.NetworkSettings.IPAddress}}",
        "web",
    ]);
    let (ips, rcode) = dns_query(server.trim(), "web.berth");
    assert_eq!((ips, rcode), (vec![web_ip.trim().to_string()], 0));
    let (ips, _) = dns_query(server.trim(), "api1.app.berth");
    assert_eq!(ips.len(), 1);
    let (_, rcode) = dns_query(server.trim(), "example.com");
    assert_eq!(rcode, 5, "names outside the suffix are refused");
    // Removed containers leave the zone.
    d.ok(&["rm", "-f", "web"]);
    let (ips, rcode) = dns_query(server.trim(), "web.berth");
    assert!(ips.is_empty());
    assert_eq!(rcode, 3);
    d.ok(&["rm", "-f", "api1", "api2"]);
    d.ok(&["network", "rm", "app"]);
}

/// `GET /` over TCP to `127.0.0.1:port`, the body only.
fn get_local(port: u16) -> Option<String> {
    get_at(std::net::SocketAddr::from((
        std::net::Ipv4Addr::LOCALHOST,
        port,
    )))
}

#[test]
fn published_ports_reach_containers_and_clash_clearly() {
    let d = daemon();
    let port = free_port();
    let spec = format!("127.0.0.1:{port}:80");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "site",
        "-p",
        &spec,
        "--expose",
        "8443",
        "-P",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo published > /www/index.html && httpd -f -p 80 -h /www",
    ]);
    let mut body = None;
    wait_for("the published port", || {
        body = get_local(port);
        body.is_some()
    });
    assert_eq!(body.unwrap(), "published\n");
    // -P picked a free host port for the exposed one; `port` and `ps` show both.
    let ports = d.ok(&["port", "site"]);
    assert!(
        ports.contains(&format!("80/tcp -> 127.0.0.1:{port}")),
        "{ports}"
    );
    let auto: u16 = ports
        .lines()
        .find(|l| l.starts_with("8443/tcp"))
        .and_then(|l| l.rsplit(':').next())
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no 8443 mapping in {ports}"));
    assert!(auto >= 32768, "{auto}");
    let ps = d.ok(&["ps", "--format", "{{.Ports}}"]);
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");
    // The same host port again: Docker's error, and the second container does not run.
    let err = d.fails(&[
        "run", "-d", "--name", "dup", "-p", &spec, "busybox", "sleep", "30",
    ]);
    assert!(
        err.contains(&format!(
            "Bind for 127.0.0.1:{port} failed: port is already allocated"
        )),
        "{err}"
    );
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.State.Running}}", "dup"])
            .trim(),
        "false"
    );
    // Hairpin: a container reaches a port published on all addresses through the gateway.
    let all = free_port();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "hair",
        "-p",
        &format!("{all}:80"),
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo hairpin > /www/index.html && httpd -f -p 80 -h /www",
    ]);
    let gw = d.ok(&[
        "inspect",
        "--format",
        "{{.NetworkSettings.Gateway}}",
        "hair",
    ]);
    let url = format!("http://{}:{all}/", gw.trim());
    let mut got = String::new();
    wait_for("hairpin", || {
        let out = d.berth(&["exec", "hair", "wget", "-q", "-O", "-", &url]);
        got = common::stdout(&out);
        out.status.success()
    });
    assert_eq!(got, "hairpin\n");
    // UDP: Debian's busybox has no UDP server, so a listener joins the container's network
    // namespace (from the host, with nsenter) on the container's address and port.
    let uport = free_port();
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "udp",
        "-p",
        &format!("127.0.0.1:{uport}:9999/udp"),
        "busybox",
        "sleep",
        "60",
    ]);
    let netns = d.root().join("netns").join(id.trim());
    let got = d.dir.path().join("udp.out");
    let script = format!(
        "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 9999)); s.settimeout(10); open('{}', 'wb').write(s.recvfrom(100)[0])",
        got.display()
    );
    if let Ok(mut listener) = std::process::Command::new("nsenter")
        .arg(format!("--net={}", netns.display()))
        .args(["python3", "-c", &script])
        .spawn()
    {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        wait_for("udp datagram", || {
            let _ = udp.send_to(b"over-udp", ("127.0.0.1", uport));
            std::thread::sleep(Duration::from_millis(100));
            std::fs::read(&got).is_ok_and(|b| b == b"over-udp")
        });
        let _ = listener.kill();
        let _ = listener.wait();
    }
    // Stopping a container withdraws its rules.
    d.ok(&["rm", "-f", "site"]);
    assert!(get_local(port).is_none(), "port still forwarded after rm");
}

#[test]
fn system_prune_leaves_no_link_or_rule() {
    let d = daemon();
    let (bridge, _) = default_bridge(&d);
    let port = free_port();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "pp",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "-v",
        "/anon",
        "busybox",
        "sleep",
        "60",
    ]);
    let (user_bridge, subnet) = unique_bridge();
    d.ok(&[
        "network",
        "create",
        "--subnet",
        &subnet,
        "-o",
        &format!("com.docker.network.bridge.name={user_bridge}"),
        "spare",
    ]);
    let table = format!("berth_{bridge}");
    let tables = String::from_utf8_lossy(
        &std::process::Command::new("nft")
            .args(["list", "tables"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(tables.contains(&table), "{tables}");
    d.ok(&["stop", "-t", "0", "pp"]);
    let out = d.ok(&["system", "prune", "-f", "-a", "--volumes"]);
    assert!(
        out.contains("Deleted Containers:") && out.contains("Deleted Networks:\nspare"),
        "{out}"
    );
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "");
    assert_eq!(d.ok(&["images", "-q"]), "");
    assert!(!link_exists(&bridge), "default bridge left");
    assert!(!link_exists(&user_bridge), "user bridge left");
    let tables = String::from_utf8_lossy(
        &std::process::Command::new("nft")
            .args(["list", "tables"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(!tables.contains(&table), "rules left: {tables}");
    let links = String::from_utf8_lossy(
        &std::process::Command::new("ip")
            .args(["-o", "link"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(!links.contains(&bridge), "{links}");
}

#[test]
fn legacy_links_give_hosts_entries_and_variables() {
    let d = daemon();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "db1",
        "--expose",
        "5432",
        "-e",
        "PGUSER=app",
        "busybox",
        "sleep",
        "60",
    ]);
    let ip = d.ok(&[
        "inspect",
        "--format",
        "{{.NetworkSettings.IPAddress}}",
        "db1",
    ]);
    let out = d.ok(&[
        "run",
        "--rm",
        "--link",
        "db1:db",
        "busybox",
        "sh",
        "-c",
        "echo $DB_PORT_5432_TCP_ADDR $DB_ENV_PGUSER $DB_NAME; grep -w db /etc/hosts",
    ]);
    let mut lines = out.lines();
    let first = lines.next().unwrap();
    assert!(
        first.starts_with(&format!("{} app /", ip.trim())) && first.ends_with("/db"),
        "{first}"
    );
    assert!(out.contains(&format!("{}\tdb", ip.trim())), "{out}");
    d.ok(&["stop", "-t", "0", "db1"]);
    let err = d.fails(&["run", "--rm", "--link", "db1:db", "busybox", "true"]);
    assert!(err.contains("non running container"), "{err}");
}

/// Host networking the test adds by hand (a bridge of "another engine", a VPN's route in a
/// table of its own), removed even when the test fails.
struct HostWiring {
    links: Vec<String>,
    routes: Vec<String>,
}

impl HostWiring {
    fn ip(args: &[&str]) {
        let out = std::process::Command::new("ip")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A bridge left down (so no route shows) holding `gateway/prefix`.
    fn down_bridge_with(&mut self, name: &str, addr: &str) {
        Self::ip(&["link", "add", name, "type", "bridge"]);
        self.links.push(name.to_string());
        Self::ip(&["addr", "add", addr, "dev", name]);
    }

    /// A route to `subnet` in routing table 51820 (where `wg-quick` puts a VPN's routes).
    fn vpn_route(&mut self, subnet: &str) {
        Self::ip(&["route", "add", subnet, "dev", "lo", "table", "51820"]);
        self.routes.push(subnet.to_string());
    }
}

impl Drop for HostWiring {
    fn drop(&mut self) {
        for l in &self.links {
            let _ = std::process::Command::new("ip")
                .args(["link", "del", l])
                .status();
        }
        for r in &self.routes {
            let _ = std::process::Command::new("ip")
                .args(["route", "del", r, "dev", "lo", "table", "51820"])
                .status();
        }
    }
}

#[test]
fn new_networks_keep_clear_of_subnets_the_host_uses() {
    let d = daemon();
    let subnet_of = |name: &str| {
        d.ok(&[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Subnet}}",
            name,
        ])
        .trim()
        .to_string()
    };
    d.ok(&["network", "create", "probe"]);
    let first = subnet_of("probe");
    // The bridge exists from the create on, so other engines see the subnet taken.
    let bridge = d
        .ok(&["network", "inspect", "-f", "{{.Id}}", "probe"])
        .trim()
        .to_string();
    let bridge = format!("br-{}", &bridge[..12]);
    assert!(link_exists(&bridge), "{bridge} made at create");
    d.ok(&["network", "rm", "probe"]);
    assert!(!link_exists(&bridge));

    // Another engine's bridge, down (no route), holds that subnet: it is not taken again.
    let mut wiring = HostWiring {
        links: vec![],
        routes: vec![],
    };
    let (other, _) = unique_bridge();
    let (net, prefix) = first.split_once('/').unwrap();
    let gw = net.trim_end_matches(".0").to_string() + ".1";
    wiring.down_bridge_with(&other, &format!("{gw}/{prefix}"));
    d.ok(&["network", "create", "probe"]);
    let second = subnet_of("probe");
    assert_ne!(second, first, "took the subnet of a host bridge");
    d.ok(&["network", "rm", "probe"]);

    // A VPN routes the next one from a table of its own: skipped too.
    wiring.vpn_route(&second);
    d.ok(&["network", "create", "probe"]);
    let third = subnet_of("probe");
    assert!(
        third != first && third != second,
        "{first} {second} {third}"
    );
    d.ok(&["network", "rm", "probe"]);
}

#[test]
fn bip_given_after_the_first_start_is_applied_or_refused() {
    let mut d = daemon();
    let (bridge, old) = default_bridge(&d);
    let old_prefix = old.trim_end_matches("0/24").to_string();
    let ip = |d: &Daemon, id: &str| {
        d.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", id])
            .trim()
            .to_string()
    };
    let id = d
        .ok(&["run", "-d", "busybox", "sleep", "100"])
        .trim()
        .to_string();
    assert!(ip(&d, &id).starts_with(&old_prefix));
    d.stop_with(15);

    // With a container still on the default network, another --bip is refused, saying why.
    let (_, new) = unique_bridge();
    let new_prefix = new.trim_end_matches("0/24").to_string();
    let refused = std::process::Command::new(common::berth_bin())
        .args(["daemon", "--root"])
        .arg(d.root())
        .arg("--host")
        .arg(format!(
            "unix://{}",
            d.dir.path().join("other.sock").display()
        ))
        .args([
            "--bridge",
            &bridge,
            "--bip",
            &new,
            "--dns-listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "--bip {new} differs from the default network's subnet {old}"
        )),
        "{err}"
    );

    // Once nothing is on it, the new subnet is applied: leases, gateway, the bridge's address.
    d.spawn();
    d.ok(&["rm", "-f", &id]);
    d.stop_with(15);
    let at = d.extra_args.iter().position(|a| a == "--bip").unwrap();
    d.extra_args[at + 1] = new.clone();
    d.spawn();
    let id = d
        .ok(&["run", "-d", "busybox", "sleep", "100"])
        .trim()
        .to_string();
    assert!(ip(&d, &id).starts_with(&new_prefix), "{}", ip(&d, &id));
    let gw = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Gateway}}",
        "bridge",
    ]);
    assert_eq!(gw.trim(), format!("{new_prefix}1"));
    let addrs = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show", "dev", &bridge])
        .output()
        .unwrap();
    let addrs = String::from_utf8_lossy(&addrs.stdout);
    assert!(addrs.contains(&format!("{new_prefix}1/24")), "{addrs}");
    assert!(
        !addrs.contains(&format!("{old_prefix}1/")),
        "old address kept: {addrs}"
    );
    let ping = d.ok(&["run", "--rm", "busybox", "ping", "-c1", "-W2", &ip(&d, &id)]);
    assert!(ping.contains("1 packets received"), "{ping}");
}

/// `GET /` over TCP to `addr`, the body only.
fn get_at(addr: std::net::SocketAddr) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

#[test]
fn ports_published_on_all_addresses_answer_on_ipv6_too() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        panic!("this host has no IPv6 loopback: the test needs ::1");
    }
    let mut d = daemon();
    let port = free_port();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "web6",
        "-p",
        &format!("{port}:80"),
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo six > /www/index.html && httpd -f -p 80 -h /www",
    ]);
    let v6: std::net::SocketAddr = format!("[::1]:{port}").parse().unwrap();
    wait_for("the IPv6 side of the published port", || {
        get_at(v6).is_some_and(|b| b.trim() == "six")
    });
    assert_eq!(get_local(port).as_deref().map(str::trim), Some("six"));
    let bindings = d.ok(&["inspect", "-f", "{{json .NetworkSettings.Ports}}", "web6"]);
    let bindings: serde_json::Value = serde_json::from_str(&bindings).unwrap();
    assert_eq!(
        bindings["80/tcp"],
        serde_json::json!([
            {"HostIp": "0.0.0.0", "HostPort": port.to_string()},
            {"HostIp": "::", "HostPort": port.to_string()}
        ])
    );
    let ps = d.ok(&["ps", "--format", "{{.Ports}}", "--filter", "name=web6"]);
    assert_eq!(
        ps.trim(),
        format!("0.0.0.0:{port}->80/tcp, [::]:{port}->80/tcp")
    );
    // Bound to one IPv4 address: no IPv6 side, as with Docker.
    let port4 = free_port();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "web4",
        "-p",
        &format!("127.0.0.1:{port4}:80"),
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
    ]);
    let v6_4: std::net::SocketAddr = format!("[::1]:{port4}").parse().unwrap();
    assert!(std::net::TcpStream::connect_timeout(&v6_4, Duration::from_secs(1)).is_err());
    // Stopped, the IPv6 listener goes with the rules.
    d.ok(&["stop", "-t", "0", "web6"]);
    assert!(std::net::TcpStream::connect_timeout(&v6, Duration::from_secs(1)).is_err());
    d.ok(&["start", "web6"]);
    wait_for("the IPv6 side after a start", || get_at(v6).is_some());
    // The listener lives in the daemon: a restarted daemon listens again for the container
    // that kept running.
    d.stop_with(15);
    d.spawn();
    wait_for("the IPv6 side after a daemon restart", || {
        get_at(v6).is_some()
    });
}
