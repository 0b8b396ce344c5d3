//! The daemon process: one per root dir, clean shutdown, recovery after `kill -9`.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Daemon;
use std::process::Command;

#[test]
fn a_second_daemon_on_the_same_root_fails_clearly() {
    let d = Daemon::start();
    let out = Command::new(common::berth_bin())
        .args(["daemon", "--root"])
        .arg(d.root())
        .arg("--host")
        .arg(format!(
            "unix://{}",
            d.dir.path().join("other.sock").display()
        ))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(err.contains("in use by another berth daemon"), "{err}");
    // The first daemon is unaffected.
    assert_eq!(d.http("GET", "/_ping", b"").status, 200);
}

#[test]
fn sigterm_stops_cleanly_and_removes_the_socket() {
    let mut d = Daemon::start();
    let status = d.stop_with(15);
    assert!(status.success(), "exit status {status}");
    assert!(!d.socket().exists(), "socket left behind");
    assert!(d.log().contains("SIGTERM"), "{}", d.log());
}

#[test]
fn state_survives_kill_9_and_restart() {
    let mut d = Daemon::start();
    let id = d.import_busybox("keep:me");
    d.stop_with(9);
    d.spawn();
    let out = d.ok(&["images", "-q", "--no-trunc"]);
    assert!(out.contains(&id), "{out}");
}

#[test]
fn a_host_without_nft_gets_one_clear_warning_and_no_complaint() {
    common::require_root("hiding nft needs a mount namespace");
    let dir = tempfile::Builder::new()
        .prefix("berth-test-")
        .tempdir()
        .unwrap();
    let sock = dir.path().join("berth.sock");
    let log_path = dir.path().join("daemon.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let (bridge, subnet) = common::unique_bridge();
    // nft is "uninstalled" for the daemon alone: /dev/null over it in a private mount
    // namespace (exec then fails, as for a missing binary).
    let child = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind /dev/null \"$(command -v nft || echo /usr/sbin/nft)\" && exec \"$0\" \"$@\"")
        .arg(common::berth_bin())
        .args(["daemon", "--root"])
        .arg(dir.path().join("root"))
        .arg("--host")
        .arg(format!("unix://{}", sock.display()))
        .args(["--firewall", "nftables", "--bridge", &bridge, "--bip", &subnet])
        .args(["--dns-listen", "127.0.0.1:0"])
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    // Stopped when the test ends, whether it passed or not.
    let mut child = StopOnDrop(child);
    let child = &mut child.0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // The socket file appears at bind, a moment before the daemon listens: wait for a
    // connection to be accepted, not for the file.
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(
            std::time::Instant::now() < deadline && child.try_wait().unwrap().is_none(),
            "daemon did not come up: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let info = common::http::request(&sock, "GET", "/info", &[], b"").json();
    // Paths that tidy the rules (a prune) find nothing to remove and say nothing.
    let prune = common::http::request(&sock, "POST", "/networks/prune", &[], b"");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert_eq!(prune.status, 200, "{log}");
    let warnings = info["Warnings"].to_string();
    assert!(
        warnings.contains("nftables is not installed") && warnings.contains("published ports"),
        "{warnings}"
    );
    assert_eq!(log.matches("nftables is not installed").count(), 1, "{log}");
    assert!(!log.contains("removing nftables table"), "{log}");
    assert!(!log.contains("running nft"), "{log}");
    common::unmount_under(dir.path());
}

/// A daemon the test started itself, stopped (SIGTERM, then reaped) when the test ends, so a
/// failing assertion leaves no daemon behind.
struct StopOnDrop(std::process::Child);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.0.id().to_string()])
                .status();
            let _ = self.0.wait();
        }
    }
}
