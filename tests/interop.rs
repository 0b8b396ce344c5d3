//! Archives cross between Berth and the peers: `berth save` output reads back with skopeo, and
//! `berth load` accepts what podman writes (docker-archive and oci-archive). Each test skips
//! only when its peer binary is absent (CI installs both).

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Daemon, busybox_tar, stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::Command;

fn which(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/usr/local/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

#[test]
fn skopeo_reads_archives_berth_saves() {
    let Some(skopeo) = which("skopeo") else {
        common::missing_tool("skopeo not installed");
        return;
    };
    let d = Daemon::start();
    let id = d.import_busybox("busybox:latest");
    let archive = d.dir.path().join("saved.tar");
    d.ok(&["save", "-o", archive.to_str().unwrap(), "busybox"]);
    let out = Command::new(skopeo)
        .args(["inspect", "--raw", "--config"])
        .arg(format!("docker-archive:{}", archive.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo: {}", stderr(&out));
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(config["config"]["Cmd"][0], "sh");
    // The config skopeo reads is the one whose digest is our image id.
    let digest = format!("sha256:{}", sha256_hex(&out.stdout));
    assert_eq!(digest, id);

    let out = Command::new(which("skopeo").unwrap())
        .arg("inspect")
        .arg(format!("docker-archive:{}", archive.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo: {}", stderr(&out));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        meta["Layers"].as_array().unwrap().len(),
        1,
        "{}",
        stdout(&out)
    );
    assert_eq!(meta["Os"], "linux");
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// A podman with private storage, so the test touches nothing else on the host.
fn podman(dir: &Path) -> Option<Command> {
    let bin = which("podman")?;
    let mut c = Command::new(bin);
    c.arg("--root")
        .arg(dir.join("podman-root"))
        .arg("--runroot")
        .arg(dir.join("podman-run"))
        .args([
            "--storage-driver",
            "vfs",
            "--events-backend",
            "none",
            "--cgroup-manager",
            "cgroupfs",
        ]);
    Some(c)
}

#[test]
fn berth_loads_what_podman_saves() {
    let d = Daemon::start();
    let Some(mut import) = podman(d.dir.path()) else {
        common::missing_tool("podman not installed");
        return;
    };
    let out = import
        .arg("import")
        .arg(busybox_tar())
        .arg("localhost/pbb:latest")
        .output()
        .unwrap();
    assert!(out.status.success(), "podman import: {}", stderr(&out));
    let podman_id = stdout(&out)
        .trim()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    for (format, name) in [("docker-archive", "d.tar"), ("oci-archive", "o.tar")] {
        let archive = d.dir.path().join(name);
        let out = podman(d.dir.path())
            .unwrap()
            .args(["save", "--format", format, "-o"])
            .arg(&archive)
            .arg("localhost/pbb:latest")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "podman save {format}: {}",
            stderr(&out)
        );
        let loaded = d.ok(&["load", "-i", archive.to_str().unwrap()]);
        assert!(
            loaded.contains("localhost/pbb:latest"),
            "{format}: {loaded}"
        );
        let id = d.ok(&["inspect", "-f", "{{.Id}}", "localhost/pbb:latest"]);
        assert!(
            id.trim().ends_with(podman_id.trim_start_matches("sha256:")),
            "{format}: {id} vs {podman_id}"
        );
        d.ok(&["rmi", "localhost/pbb:latest"]);
    }
    common::unmount_under(d.dir.path());
}
