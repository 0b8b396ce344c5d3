//! Archives cross between Berth and a real Docker daemon (Debian's `docker.io`): what `docker
//! save` writes, `berth load` reads with the same image id, and what `berth save` writes,
//! `docker load` reads back. The dockerd runs on its own data root, exec root, socket and
//! containerd namespace, with no bridge and no iptables rules, and is stopped with SIGTERM
//! (after SIGKILL its containerd child lingers). Skips only when dockerd or docker is absent.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::dockerd::Dockerd;
use common::{Daemon, busybox_tar};
use std::path::Path;

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
