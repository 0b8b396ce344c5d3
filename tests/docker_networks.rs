//! Networks through the unmodified `docker` CLI (v28): `network create/ls/inspect/rm` and
//! `run --network` with `--ip`, on a bridge and subnet of the test's own. Skips only when the
//! docker client is absent.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Daemon, docker_bin, stderr, stdout, unique_bridge};
use std::process::{Command, Output, Stdio};

fn docker(d: &Daemon, args: &[&str]) -> Output {
    let config = d.dir.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    Command::new(docker_bin().unwrap())
        .args(args)
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", &config)
        .env_remove("DOCKER_API_VERSION")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(d: &Daemon, args: &[&str]) -> String {
    let out = docker(d, args);
    assert!(
        out.status.success(),
        "docker {args:?}: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

#[test]
fn docker_cli_manages_networks_and_runs_on_them() {
    if docker_bin().is_none() {
        common::missing_tool("docker client not installed");
        return;
    }
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    let (bridge, subnet) = unique_bridge();
    let prefix = subnet.trim_end_matches("0/24").to_string();
    let id = ok(
        &d,
        &[
            "network",
            "create",
            "--subnet",
            &subnet,
            "-o",
            &format!("com.docker.network.bridge.name={bridge}"),
            "dnet",
        ],
    );
    assert_eq!(id.trim().len(), 64);
    let ls = ok(&d, &["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(ls, "bridge\ndnet\nhost\nnone\n");
    assert_eq!(
        ok(
            &d,
            &[
                "network",
                "inspect",
                "-f",
                "{{(index .IPAM.Config 0).Gateway}}",
                "dnet"
            ]
        )
        .trim(),
        format!("{prefix}1")
    );
    let ip = format!("{prefix}77");
    ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "pinned",
            "--network",
            "dnet",
            "--ip",
            &ip,
            "busybox",
            "sleep",
            "60",
        ],
    );
    assert_eq!(
        ok(
            &d,
            &[
                "inspect",
                "-f",
                "{{.NetworkSettings.Networks.dnet.IPAddress}}",
                "pinned"
            ]
        )
        .trim(),
        ip
    );
    let ping = ok(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "dnet",
            "busybox",
            "ping",
            "-c1",
            "-W2",
            &ip,
        ],
    );
    assert!(ping.contains("1 packets received"), "{ping}");
    let out = docker(&d, &["network", "rm", "dnet"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("active endpoints"),
        "{}",
        stderr(&out)
    );
    // A published port, as `docker run -p` sends it, and `docker port`.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "site",
            "-p",
            &format!("127.0.0.1:{port}:80"),
            "busybox",
            "sh",
            "-c",
            "mkdir -p /www && echo via-docker > /www/index.html && httpd -f -p 80 -h /www",
        ],
    );
    assert_eq!(
        ok(&d, &["port", "site", "80"]).trim(),
        format!("127.0.0.1:{port}")
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let body = loop {
        use std::io::{Read, Write};
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if out.contains("via-docker") {
                break out;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "published port never answered"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(body.starts_with("HTTP/1."), "{body}");
    ok(&d, &["rm", "-f", "pinned", "site"]);
    ok(&d, &["network", "rm", "dnet"]);
    assert!(
        !std::path::Path::new("/sys/class/net")
            .join(&bridge)
            .exists()
    );
}

/// Issue 12.8: the shapes clients read — IPAM options as given (`null` on the default bridge),
/// auxiliary addresses kept and never leased, `Aliases` null when none, the requested MAC
/// address reported, `HostConfig.Runtime` set, an unknown network in `EndpointsConfig`
/// refused, and container events with the legacy `status`/`id`/`from`.
#[test]
fn docker_sees_dockers_network_and_endpoint_shapes() {
    if docker_bin().is_none() {
        common::missing_tool("docker client not installed");
        return;
    }
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    let (bridge, subnet) = unique_bridge();
    let prefix = subnet.trim_end_matches("0/24").to_string();
    let aux = format!("{prefix}2");
    ok(
        &d,
        &[
            "network",
            "create",
            "--subnet",
            &subnet,
            "--aux-address",
            &format!("router={aux}"),
            "-o",
            &format!("com.docker.network.bridge.name={bridge}"),
            "shapes",
        ],
    );
    let ipam = ok(
        &d,
        &["network", "inspect", "-f", "{{json .IPAM}}", "shapes"],
    );
    let ipam: serde_json::Value = serde_json::from_str(&ipam).unwrap();
    assert_eq!(ipam["Options"], serde_json::json!({}), "{ipam}");
    assert_eq!(
        ipam["Config"][0]["AuxiliaryAddresses"]["router"],
        aux.as_str(),
        "{ipam}"
    );
    let ipam = ok(
        &d,
        &[
            "network",
            "inspect",
            "-f",
            "{{json .IPAM.Options}}",
            "bridge",
        ],
    );
    assert_eq!(ipam.trim(), "null");

    // The first container on the network gets the next address after the reserved one.
    ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "first",
            "--network",
            "shapes",
            "busybox",
            "sleep",
            "60",
        ],
    );
    let ip = ok(
        &d,
        &[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.shapes.IPAddress}}",
            "first",
        ],
    );
    assert_eq!(ip.trim(), format!("{prefix}3"));
    let out = docker(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "shapes",
            "--ip",
            &aux,
            "busybox",
            "true",
        ],
    );
    assert!(!out.status.success(), "the aux address was leased");

    ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "mac",
            "--mac-address",
            "02:42:ac:11:00:99",
            "busybox",
            "sleep",
            "60",
        ],
    );
    let shown = ok(
        &d,
        &[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.bridge.MacAddress}} {{json .NetworkSettings.Networks.bridge.Aliases}} {{.HostConfig.Runtime}}",
            "mac",
        ],
    );
    assert_eq!(shown.trim(), "02:42:ac:11:00:99 null berth");
    let inside = ok(&d, &["exec", "mac", "cat", "/sys/class/net/eth0/address"]);
    assert_eq!(inside.trim(), "02:42:ac:11:00:99");

    let out = docker(
        &d,
        &[
            "create",
            "--network",
            "shapes",
            "--network",
            "nosuch",
            "busybox",
        ],
    );
    assert!(
        !out.status.success() && stderr(&out).contains("network nosuch not found"),
        "{}",
        stderr(&out)
    );
    let out = docker(&d, &["create", "--runtime", "crun", "busybox"]);
    assert!(
        stderr(&out).contains("unknown or invalid runtime name: crun"),
        "{}",
        stderr(&out)
    );

    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    let events = ok(
        &d,
        &[
            "events",
            "--since",
            "0",
            "--until",
            &until,
            "--filter",
            "container=mac",
            "--filter",
            "event=start",
            "--format",
            "{{.Status}} {{.From}} {{len .ID}}",
        ],
    );
    assert_eq!(events.trim(), "start busybox 64");
    ok(&d, &["rm", "-f", "first", "mac"]);
    ok(&d, &["network", "rm", "shapes"]);
}

/// Creates a bridge network of the test's own bridge and subnet; returns the subnet's
/// `a.b.c.` prefix.
fn own_network(d: &Daemon, name: &str) -> String {
    let (bridge, subnet) = unique_bridge();
    ok(
        d,
        &[
            "network",
            "create",
            "--subnet",
            &subnet,
            "-o",
            &format!("com.docker.network.bridge.name={bridge}"),
            name,
        ],
    );
    subnet.trim_end_matches("0/24").to_string()
}

/// The address busybox's `nslookup NAME` prints for NAME from inside `container`.
fn lookup(d: &Daemon, container: &str, name: &str) -> Option<String> {
    let out = docker(d, &["exec", container, "nslookup", name]);
    let text = stdout(&out);
    let after = text.split(&format!("Name:\t{name}")).nth(1)?;
    after
        .lines()
        .find_map(|l| l.strip_prefix("Address: "))
        .map(|a| a.trim().to_string())
}

#[test]
fn a_container_on_two_networks_finds_names_on_both_and_can_leave_its_first() {
    if docker_bin().is_none() {
        common::missing_tool("docker client not installed");
        return;
    }
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    let front = own_network(&d, "front");
    let back = own_network(&d, "back");
    let run = |name: &str, net: &str| {
        ok(
            &d,
            &[
                "run",
                "-d",
                "--name",
                name,
                "--network",
                net,
                "busybox",
                "sleep",
                "120",
            ],
        )
    };
    run("app", "back");
    run("web", "front");
    run("proxy", "front");
    let app_ip = ok(
        &d,
        &[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.back.IPAddress}}",
            "app",
        ],
    );
    let web_ip = ok(
        &d,
        &[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.front.IPAddress}}",
            "web",
        ],
    );
    assert!(app_ip.starts_with(&back) && web_ip.starts_with(&front));
    assert_eq!(lookup(&d, "proxy", "app"), None, "app is not on front yet");

    // Connected at run time, the new network's names resolve at once, the old ones still do.
    ok(&d, &["network", "connect", "back", "proxy"]);
    assert_eq!(lookup(&d, "proxy", "app").as_deref(), Some(app_ip.trim()));
    assert_eq!(lookup(&d, "proxy", "web").as_deref(), Some(web_ip.trim()));

    // A link's alias resolves on a user network.
    ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "linked",
            "--network",
            "front",
            "--link",
            "web:www",
            "busybox",
            "sleep",
            "120",
        ],
    );
    assert_eq!(lookup(&d, "linked", "www").as_deref(), Some(web_ip.trim()));
    assert_eq!(
        lookup(&d, "web", "www"),
        None,
        "the alias is the linker's alone"
    );

    // Leaving the network it was created on, while running: the way out and the DNS server
    // move to the network it is still on.
    ok(&d, &["network", "disconnect", "front", "proxy"]);
    let nets = ok(
        &d,
        &[
            "inspect",
            "-f",
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
            "proxy",
        ],
    );
    assert_eq!(nets.trim(), "back");
    let route = ok(&d, &["exec", "proxy", "ip", "route"]);
    assert!(route.contains(&format!("default via {back}1")), "{route}");
    let resolv = ok(&d, &["exec", "proxy", "cat", "/etc/resolv.conf"]);
    assert!(resolv.contains(&format!("nameserver {back}1")), "{resolv}");
    assert_eq!(lookup(&d, "proxy", "app").as_deref(), Some(app_ip.trim()));
    assert_eq!(lookup(&d, "proxy", "web"), None, "front was left");

    // It stays off that network across a restart, and can come back.
    ok(&d, &["restart", "-t", "0", "proxy"]);
    let nets = ok(
        &d,
        &[
            "inspect",
            "-f",
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
            "proxy",
        ],
    );
    assert_eq!(nets.trim(), "back");
    assert_eq!(lookup(&d, "proxy", "app").as_deref(), Some(app_ip.trim()));
    ok(&d, &["network", "connect", "front", "proxy"]);
    assert_eq!(lookup(&d, "proxy", "web").as_deref(), Some(web_ip.trim()));

    ok(&d, &["rm", "-f", "app", "web", "proxy", "linked"]);
    ok(&d, &["network", "rm", "front", "back"]);
}

#[test]
fn network_names_docker_accepts_are_accepted() {
    if docker_bin().is_none() {
        common::missing_tool("docker client not installed");
        return;
    }
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    for name in ["my net", "1abc", "a:b", "_x", "é"] {
        let prefix = own_network(&d, name);
        let ip = ok(
            &d,
            &[
                "run",
                "--rm",
                "--network",
                name,
                "busybox",
                "sh",
                "-c",
                "ip -4 -o addr show eth0",
            ],
        );
        assert!(ip.contains(&prefix), "{name}: {ip}");
        ok(&d, &["network", "rm", name]);
    }
    let out = docker(&d, &["network", "create", " "]);
    assert!(
        !out.status.success() && stderr(&out).contains("invalid name"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ipv6_networks_give_containers_ipv6_addresses_and_routes() {
    if docker_bin().is_none() {
        common::missing_tool("docker client not installed");
        return;
    }
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    let (bridge, subnet) = unique_bridge();
    // A unique-local /64 of the test's own, from the bridge's random name.
    // (Groups kept non-zero and without leading zeros, as an address is printed.)
    let group = |hex: &str, top: u16| top | u16::from_str_radix(hex, 16).unwrap();
    let prefix6 = format!(
        "fd00:{:x}:{:x}::",
        group(&bridge[2..4], 0x100),
        group(&bridge[4..8], 0x1000)
    );
    let subnet6 = format!("{prefix6}/64");
    ok(
        &d,
        &[
            "network",
            "create",
            "--ipv6",
            "--subnet",
            &subnet,
            "--subnet",
            &subnet6,
            "-o",
            &format!("com.docker.network.bridge.name={bridge}"),
            "six",
        ],
    );
    let net: serde_json::Value =
        serde_json::from_str(&ok(&d, &["network", "inspect", "-f", "{{json .}}", "six"])).unwrap();
    assert_eq!(net["EnableIPv6"], true, "{net}");
    let configs = net["IPAM"]["Config"].as_array().unwrap();
    assert_eq!(configs.len(), 2, "{net}");
    assert_eq!(configs[1]["Subnet"], subnet6.as_str(), "{net}");
    assert_eq!(
        configs[1]["Gateway"],
        format!("{prefix6}1").as_str(),
        "{net}"
    );

    for name in ["a6", "b6"] {
        ok(
            &d,
            &[
                "run",
                "-d",
                "--name",
                name,
                "--network",
                "six",
                "busybox",
                "sleep",
                "120",
            ],
        );
    }
    let v6 = |name: &str| {
        ok(
            &d,
            &["inspect", "-f", "{{.NetworkSettings.Networks.six.GlobalIPv6Address}} {{.NetworkSettings.Networks.six.GlobalIPv6PrefixLen}} {{.NetworkSettings.Networks.six.IPv6Gateway}}", name],
        )
        .trim()
        .to_string()
    };
    assert_eq!(v6("a6"), format!("{prefix6}2 64 {prefix6}1"));
    assert_eq!(v6("b6"), format!("{prefix6}3 64 {prefix6}1"));
    let addrs = ok(&d, &["exec", "a6", "ip", "-6", "addr", "show", "eth0"]);
    assert!(addrs.contains(&format!("{prefix6}2/64")), "{addrs}");
    let routes = ok(&d, &["exec", "a6", "ip", "-6", "route"]);
    assert!(
        routes.contains(&format!("default via {prefix6}1")),
        "{routes}"
    );
    // Container to container, and to the host's end of the bridge, over IPv6.
    let ping = ok(
        &d,
        &[
            "exec",
            "a6",
            "ping",
            "-6",
            "-c1",
            "-W2",
            &format!("{prefix6}3"),
        ],
    );
    assert!(ping.contains("1 packets received"), "{ping}");
    let ping = ok(
        &d,
        &[
            "exec",
            "b6",
            "ping",
            "-6",
            "-c1",
            "-W2",
            &format!("{prefix6}1"),
        ],
    );
    assert!(ping.contains("1 packets received"), "{ping}");
    // Names answer AAAA with the IPv6 address (and A with the IPv4 one).
    let aaaa = ok(&d, &["exec", "a6", "nslookup", "-type=AAAA", "b6"]);
    assert!(aaaa.contains(&format!("Address: {prefix6}3")), "{aaaa}");
    let ping = ok(&d, &["exec", "a6", "ping", "-6", "-c1", "-W2", "b6"]);
    assert!(ping.contains("1 packets received"), "{ping}");
    let listed = ok(
        &d,
        &[
            "network",
            "inspect",
            "-f",
            "{{range .Containers}}{{.IPv6Address}} {{end}}",
            "six",
        ],
    );
    assert!(listed.contains(&format!("{prefix6}2/64")), "{listed}");

    // --ipv6 without a subnet: a unique-local /64 of its own.
    let (bridge2, subnet2) = unique_bridge();
    ok(
        &d,
        &[
            "network",
            "create",
            "--ipv6",
            "--subnet",
            &subnet2,
            "-o",
            &format!("com.docker.network.bridge.name={bridge2}"),
            "six-auto",
        ],
    );
    let auto = ok(
        &d,
        &[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 1).Subnet}}",
            "six-auto",
        ],
    );
    assert!(
        auto.trim().starts_with("fd") && auto.trim().ends_with("::/64"),
        "{auto}"
    );
    // An IPv6 subnet without --ipv6 is refused with the reason.
    let out = docker(
        &d,
        &["network", "create", "--subnet", "fd00:dead::/64", "nosix"],
    );
    assert!(stderr(&out).contains("add --ipv6"), "{}", stderr(&out));

    ok(&d, &["rm", "-f", "a6", "b6"]);
    ok(&d, &["network", "rm", "six", "six-auto"]);
}

/// A network namespace standing for "the outside" (a process holding it), joined to the host
/// by a veth pair of the test's own, with IPv6 address `addr`/64 on its side and `host`/64 on
/// the host's; no route back to any container subnet. Removed on drop.
struct Outside {
    holder: std::process::Child,
    host_end: String,
}

impl Outside {
    fn new(name: &str, host: &str, addr: &str) -> Outside {
        let holder = Command::new("unshare")
            .args(["-n", "sleep", "120"])
            .spawn()
            .unwrap();
        let pid = holder.id().to_string();
        let out = Outside {
            holder,
            host_end: format!("{name}h"),
        };
        let run = |args: &[&str]| {
            let o = Command::new(args[0]).args(&args[1..]).output().unwrap();
            assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        };
        // The holder's namespace exists once it runs `sleep`.
        for _ in 0..100 {
            if std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()
                != std::fs::read_link("/proc/self/ns/net").ok()
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let peer = format!("{name}o");
        run(&[
            "ip",
            "link",
            "add",
            &out.host_end,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
        ]);
        run(&["ip", "link", "set", &peer, "netns", &pid]);
        run(&[
            "ip",
            "-6",
            "addr",
            "add",
            &format!("{host}/64"),
            "dev",
            &out.host_end,
            "nodad",
        ]);
        run(&["ip", "link", "set", &out.host_end, "up"]);
        let ns = format!("--net=/proc/{pid}/ns/net");
        run(&["nsenter", &ns, "ip", "link", "set", "lo", "up"]);
        run(&["nsenter", &ns, "ip", "link", "set", &peer, "up"]);
        run(&[
            "nsenter",
            &ns,
            "ip",
            "-6",
            "addr",
            "add",
            &format!("{addr}/64"),
            "dev",
            &peer,
            "nodad",
        ]);
        out
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_end])
            .status();
    }
}

#[test]
fn ipv6_networks_reach_out_masqueraded_and_internal_ones_do_not() {
    if docker_bin().is_none() {
        common::missing_tool("docker client not installed");
        return;
    }
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    let (bridge, subnet) = unique_bridge();
    let (ibridge, isubnet) = unique_bridge();
    let r = u16::from_str_radix(&bridge[2..6], 16).unwrap() | 0x1000;
    let outside = Outside::new(
        &format!("vx{}", &bridge[2..8]),
        &format!("fd99:{r:x}::1"),
        &format!("fd99:{r:x}::2"),
    );
    let target = format!("fd99:{r:x}::2");
    for (name, br, sub, internal) in [
        ("out6", &bridge, &subnet, false),
        ("in6", &ibridge, &isubnet, true),
    ] {
        let mut args = vec![
            "network".to_string(),
            "create".into(),
            "--ipv6".into(),
            "--subnet".into(),
            sub.to_string(),
            "-o".into(),
            format!("com.docker.network.bridge.name={br}"),
        ];
        if internal {
            args.push("--internal".into());
        }
        args.push(name.into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&d, &args);
    }
    // The outside has no route to the containers' unique-local subnet: only a masqueraded
    // packet (from the host's address facing it) gets an answer.
    let ping = ok(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "out6",
            "busybox",
            "ping",
            "-6",
            "-c1",
            "-W3",
            &target,
        ],
    );
    assert!(ping.contains("1 packets received"), "{ping}");
    let out = docker(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "in6",
            "busybox",
            "ping",
            "-6",
            "-c1",
            "-W2",
            &target,
        ],
    );
    assert!(
        !out.status.success(),
        "an internal network reached out: {}",
        stdout(&out)
    );
    drop(outside);
    ok(&d, &["network", "rm", "out6", "in6"]);
}
