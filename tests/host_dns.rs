//! The host finds containers by name with no hand wiring: `berth system install-dns` installs
//! the NSS module and the `nsswitch.conf` source, and then `getent hosts web.berth` and
//! `curl http://web.berth/` reach a container on the test's own bridge. The system files are
//! never touched: the test runs in a private mount namespace with its own copy of
//! `nsswitch.conf` bound over the real one and the module in a directory of its own (on
//! `LD_LIBRARY_PATH`). Needs root.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Daemon, berth_bin, require_root, stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The NSS module next to the berth binary, built first if a plain `cargo test` did not.
fn module() -> PathBuf {
    let path = Path::new(berth_bin())
        .parent()
        .unwrap()
        .join("libnss_berth.so.2");
    if !path.exists() {
        let out = Command::new("sh")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-nss.sh"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "building the module: {}",
            stderr(&out)
        );
    }
    assert!(path.exists(), "{} missing", path.display());
    path
}

#[test]
fn install_dns_makes_container_names_resolve_for_getent_and_curl() {
    require_root("a private mount namespace, containers on a bridge");
    let module = module();
    let mut d = Daemon::start();
    d.import_busybox("busybox:latest");
    let name = format!("web-{}", std::process::id());
    d.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo hello-from-berth > /www/index.html && httpd -f -p 80 -h /www",
    ]);
    let ip = d
        .ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &name])
        .trim()
        .to_string();
    let reg = berth_nss_file(&d);
    assert!(
        reg.exists(),
        "the daemon did not register its host resolver"
    );

    let t = tempfile::tempdir().unwrap();
    let real_nsswitch = std::fs::read_to_string("/etc/nsswitch.conf").unwrap();
    let script = format!(
        r#"set -e
cp /etc/nsswitch.conf {t}/nsswitch.conf
mount --bind {t}/nsswitch.conf /etc/nsswitch.conf
{berth} system install-dns --module {module} --lib-dir {t}/lib
export LD_LIBRARY_PATH={t}/lib
echo "--- hosts"; grep '^hosts:' /etc/nsswitch.conf
echo "--- getent"; getent hosts {name}.berth
echo "--- curl"; curl -s --max-time 5 http://{name}.berth/
echo "--- missing"; getent hosts nosuch-{name}.berth || echo "status $?"
echo "--- localhost"; getent hosts localhost | head -1
{berth} system uninstall-dns --lib-dir {t}/lib
echo "--- after"; grep '^hosts:' /etc/nsswitch.conf; ls {t}/lib
"#,
        t = t.path().display(),
        berth = berth_bin(),
        module = module.display(),
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    let section = |title: &str| {
        text.split(&format!("--- {title}\n"))
            .nth(1)
            .and_then(|s| s.split("--- ").next())
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        section("hosts").contains("files berth [!UNAVAIL=return]"),
        "{text}"
    );
    assert!(
        section("getent").starts_with(&format!("{ip} "))
            && section("getent").contains(&format!("{name}.berth")),
        "{text}"
    );
    assert_eq!(section("curl").trim(), "hello-from-berth", "{text}");
    // A name under the suffix that no container has is not found, authoritatively (status 2).
    assert_eq!(section("missing").trim(), "status 2", "{text}");
    assert!(section("localhost").contains("localhost"), "{text}");
    assert!(!section("after").contains("berth"), "{text}");
    assert_eq!(
        std::fs::read_to_string("/etc/nsswitch.conf").unwrap(),
        real_nsswitch,
        "the host's nsswitch.conf changed"
    );

    d.stop_with(15);
    assert!(!reg.exists(), "the stopped daemon left its registration");
}

fn berth_nss_file(d: &Daemon) -> PathBuf {
    berth_nss::registry::file_for(Path::new(berth_nss::registry::DIR), &d.root())
}
