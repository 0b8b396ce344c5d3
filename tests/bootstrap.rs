//! `berth image bootstrap`: a Debian base image from the archive's signed packages (Debian's
//! debootstrap, from the mirror apt uses on this host), reproducible to the layer digest, with
//! its provenance in labels; a keyring that does not sign the archive fails the bootstrap.
//! Each bootstrap of bookworm minbase takes about 30 s here.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Daemon, require_root, stderr, stdout};

fn have_debootstrap() -> bool {
    ["/usr/sbin/debootstrap", "/usr/bin/debootstrap"]
        .iter()
        .any(|p| std::path::Path::new(p).exists())
}

fn layers(d: &Daemon, image: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&d.ok(&["image", "inspect", image])).unwrap();
    v[0]["RootFS"]["Layers"].clone()
}

#[test]
fn two_bootstraps_of_the_same_packages_give_the_same_layer() {
    require_root("debootstrap installs packages as root");
    if !have_debootstrap() {
        common::missing_tool("debootstrap not installed");
        return;
    }
    let d = Daemon::start();
    for name in ["deb:one", "deb:two"] {
        let out = d.berth(&["image", "bootstrap", "--suite", "bookworm", name]);
        assert!(
            out.status.success(),
            "bootstrap failed:\n{}\n{}",
            stdout(&out),
            stderr(&out)
        );
    }
    let one = layers(&d, "deb:one");
    assert_eq!(one.as_array().unwrap().len(), 1, "{one}");
    assert_eq!(one, layers(&d, "deb:two"), "the bootstraps differ");

    let v: serde_json::Value =
        serde_json::from_str(&d.ok(&["image", "inspect", "deb:one"])).unwrap();
    let labels = &v[0]["Config"]["Labels"];
    assert_eq!(labels["org.debian.suite"], "bookworm");
    assert_eq!(labels["org.debian.variant"], "minbase");
    assert!(
        labels["org.debian.mirror"]
            .as_str()
            .unwrap()
            .starts_with("http"),
        "{labels}"
    );
    let packages = labels["org.debian.packages"].as_str().unwrap();
    assert!(
        packages.contains("apt=") && packages.contains("base-files="),
        "{packages}"
    );
    assert_eq!(v[0]["Config"]["Cmd"], serde_json::json!(["bash"]));

    let version = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "deb:one",
        "cat",
        "/etc/debian_version",
    ]);
    assert!(version.starts_with("12."), "{version}");
    // Nothing of apt's downloads, logs or the machine id is in the image (the container's
    // resolv.conf and hostname are Berth's mounts, so they are not looked at here).
    let leftovers = d.ok(&[
        "run", "--rm", "--network", "none", "deb:one", "sh", "-c",
        "ls /var/lib/apt/lists /var/cache/apt/archives | grep -v partial; cat /etc/machine-id; ls /var/log",
    ]);
    assert!(
        leftovers
            .lines()
            .all(|l| l.trim().is_empty() || l.ends_with(':')),
        "leftovers in the image:\n{leftovers}"
    );
}

#[test]
fn a_keyring_that_does_not_sign_the_archive_fails_the_bootstrap() {
    require_root("debootstrap installs packages as root");
    if !have_debootstrap() {
        common::missing_tool("debootstrap not installed");
        return;
    }
    let d = Daemon::start();
    let removed = "/usr/share/keyrings/debian-archive-removed-keys.gpg";
    let out = d.berth(&["image", "bootstrap", "--keyring", removed, "deb:unsigned"]);
    assert!(
        !out.status.success(),
        "a bootstrap with the wrong keys succeeded"
    );
    let err = stderr(&out);
    assert!(err.contains("debootstrap failed"), "{err}");
    assert!(
        d.fails(&["image", "inspect", "deb:unsigned"])
            .contains("No such image")
    );
    let out = d.berth(&[
        "image",
        "bootstrap",
        "--keyring",
        "/nonexistent.gpg",
        "deb:x",
    ]);
    assert!(
        stderr(&out).contains("debian-archive-keyring"),
        "{}",
        stderr(&out)
    );
}
