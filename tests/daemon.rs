//! The daemon process: one per root dir, clean shutdown, recovery after `kill -9`.

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
