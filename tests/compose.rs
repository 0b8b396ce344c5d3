//! Debian's docker-compose (1.29.2, a pure Engine-API client) brings a two-service stack up
//! against Berth, shows it in `ps` and `logs`, the client service reaches the web service by
//! its service name, and `down -v` removes everything. Skips only when docker-compose is
//! absent.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Daemon, stderr, stdout, unique_bridge};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn compose(d: &Daemon, dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(common::compose_v1().expect("docker-compose 1.x"))
        .args(["-p", "stack"])
        .args(args)
        .current_dir(dir)
        .env("DOCKER_HOST", d.host())
        .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
        .output()
        .expect("docker-compose")
}

#[test]
fn docker_compose_stack_up_ps_logs_down() {
    if common::compose_v1().is_none() {
        common::missing_tool("docker-compose 1.x not installed");
        return;
    }
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    let dir = tempfile::tempdir().unwrap();
    let (bridge, subnet) = unique_bridge();
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        format!(
            r#"version: "3.8"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo from-web > /www/index.html && httpd -f -p 80 -h /www"]
    volumes:
      - data:/data
  client:
    image: busybox
    depends_on: [web]
    command: ["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://web/ && break; sleep 0.3; done; sleep 60"]
volumes:
  data: {{}}
networks:
  default:
    driver_opts:
      com.docker.network.bridge.name: {bridge}
    ipam:
      config:
        - subnet: {subnet}
"#
        ),
    )
    .unwrap();
    let up = compose(&d, dir.path(), &["up", "-d"]);
    assert!(up.status.success(), "up: {}\n{}", stdout(&up), stderr(&up));
    let ps = compose(&d, dir.path(), &["ps"]);
    let text = stdout(&ps);
    assert!(
        text.contains("stack_web_1") && text.contains("stack_client_1"),
        "{text}"
    );
    assert!(text.contains("Up"), "{text}");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let logs = compose(&d, dir.path(), &["logs", "client"]);
        if stdout(&logs).contains("from-web") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "client never reached web: {}",
            stdout(&logs)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // A changed service is recreated: docker-compose 1.29 reads the old image's
    // `ContainerConfig` (API 1.41) to carry its volumes over, and crashed without it.
    let yml = std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap();
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        yml.replace(
            "  web:\n    image: busybox\n",
            "  web:\n    image: busybox\n    environment: [CHANGED=1]\n",
        ),
    )
    .unwrap();
    let again = compose(&d, dir.path(), &["up", "-d"]);
    assert!(
        again.status.success(),
        "recreate: {}\n{}",
        stdout(&again),
        stderr(&again)
    );
    assert!(stderr(&again).contains("Recreating"), "{}", stderr(&again));
    let env = d.ok(&["inspect", "--format", "{{.Config.Env}}", "stack_web_1"]);
    assert!(env.contains("CHANGED=1"), "{env}");
    let down = compose(&d, dir.path(), &["down", "-v", "-t", "1"]);
    assert!(
        down.status.success(),
        "down: {}\n{}",
        stdout(&down),
        stderr(&down)
    );
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "");
    assert_eq!(
        d.ok(&["network", "ls", "--format", "{{.Name}}"]),
        "bridge\nhost\nnone\n"
    );
    assert!(
        !std::path::Path::new("/sys/class/net")
            .join(&bridge)
            .exists()
    );
}
