//! Networks through the unmodified `docker` CLI (v28): `network create/ls/inspect/rm` and
//! `run --network` with `--ip`, on a bridge and subnet of the test's own. Skips only when the
//! docker client is absent.

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
        eprintln!("docker client not installed: skipping");
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
