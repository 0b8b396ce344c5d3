//! Archives cross between Berth and a real Docker daemon (Debian's `docker.io`): what `docker
//! save` writes, `berth load` reads with the same image id, and what `berth save` writes,
//! `docker load` reads back. The dockerd runs on its own data root, exec root, socket and
//! containerd namespace, with no bridge and no iptables rules, and is stopped with SIGTERM
//! (after SIGKILL its containerd child lingers). Skips only when dockerd or docker is absent.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Daemon, busybox_tar, docker_bin, stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

struct Dockerd {
    dir: tempfile::TempDir,
    child: Child,
}

impl Dockerd {
    fn start() -> Option<Dockerd> {
        let bin = ["/usr/sbin/dockerd", "/usr/bin/dockerd"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())?;
        docker_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("berth-dockerd-")
            .tempdir()
            .unwrap();
        let ns = format!("berth-test-{}", std::process::id());
        let log = std::fs::File::create(dir.path().join("dockerd.log")).unwrap();
        let child = Command::new(bin)
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("--pidfile")
            .arg(dir.path().join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", dir.path().join("d.sock").display()))
            .args(["--bridge", "none", "--iptables=false", "--ip6tables=false"])
            .args([
                "--containerd-namespace",
                &ns,
                "--containerd-plugins-namespace",
                &format!("{ns}-p"),
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let d = Dockerd { dir, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if d.docker(&["version"]).status.success() {
                return Some(d);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "dockerd did not start: {}",
            std::fs::read_to_string(d.dir.path().join("dockerd.log")).unwrap_or_default()
        );
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new(docker_bin().unwrap())
            .args(args)
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.dir.path().join("d.sock").display()),
            )
            .env("DOCKER_CONFIG", self.dir.path().join("config"))
            .env_remove("DOCKER_API_VERSION")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(out.status.success(), "docker {args:?}: {}", stderr(&out));
        stdout(&out)
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        common::unmount_under(self.dir.path());
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn archives_cross_between_dockerd_and_berth() {
    let Some(docker) = Dockerd::start() else {
        common::missing_tool("dockerd or docker not installed");
        return;
    };
    let tar = busybox_tar();
    docker.ok(&["import", "-c", "CMD [\"sh\"]", path(&tar), "crossing:1"]);
    let docker_id = docker
        .ok(&["image", "inspect", "-f", "{{.Id}}", "crossing:1"])
        .trim()
        .to_string();
    let from_docker = docker.dir.path().join("from-docker.tar");
    docker.ok(&["save", "-o", path(&from_docker), "crossing:1"]);

    let berth = Daemon::start();
    let out = berth.ok(&["load", "-i", path(&from_docker)]);
    assert!(out.contains("Loaded image: crossing:1"), "{out}");
    assert_eq!(
        berth.ok(&["inspect", "-f", "{{.Id}}", "crossing:1"]).trim(),
        docker_id
    );

    let from_berth = berth.dir.path().join("from-berth.tar");
    berth.ok(&["save", "-o", path(&from_berth), "crossing:1"]);
    docker.ok(&["rmi", "crossing:1"]);
    let out = docker.ok(&["load", "-i", path(&from_berth)]);
    assert!(out.contains("crossing:1"), "{out}");
    assert_eq!(
        docker
            .ok(&["image", "inspect", "-f", "{{.Id}}", "crossing:1"])
            .trim(),
        docker_id
    );
}
