//! With no daemon answering and no explicit host, the CLI starts one in the background on the
//! given root, waits for it, and runs the command; with an explicit host it never does.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{berth_bin, stderr, stdout};
use std::process::Command;
use std::time::{Duration, Instant};

/// Stops the daemon recorded in `<root>/berth.lock` and waits for it, whatever the test did.
struct StopDaemon(std::path::PathBuf);

impl Drop for StopDaemon {
    fn drop(&mut self) {
        let Ok(pid) = std::fs::read_to_string(self.0.join("berth.lock")) else {
            return;
        };
        let pid = pid.trim().to_string();
        if pid.is_empty() {
            return;
        }
        let _ = Command::new("kill").arg("-TERM").arg(&pid).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::path::Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        common::unmount_under(&self.0);
    }
}

#[test]
fn the_cli_starts_a_daemon_on_demand() {
    let dir = tempfile::Builder::new()
        .prefix("berth-autostart-")
        .tempdir()
        .unwrap();
    let root = dir.path().join("root");
    let _stop = StopDaemon(root.clone());
    let out = Command::new(berth_bin())
        .args(["--root", root.to_str().unwrap(), "images", "-q"])
        .env_remove("BERTH_HOST")
        .env_remove("BERTH_ROOT")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "");
    assert!(
        root.join("berth.sock").exists(),
        "daemon socket not created"
    );
    assert!(root.join("daemon.log").exists(), "daemon log not created");
    let said = stderr(&out);
    assert_eq!(said.lines().count(), 1, "one line on stderr: {said}");
    assert!(
        said.contains(&format!("started a daemon for {}", root.display()))
            && said.contains(&root.join("daemon.log").display().to_string()),
        "{said}"
    );
    // A second command reuses the running daemon, silently.
    let out = Command::new(berth_bin())
        .args([
            "--root",
            root.to_str().unwrap(),
            "info",
            "--format",
            "{{.DockerRootDir}}",
        ])
        .env_remove("BERTH_HOST")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), root.display().to_string());
    assert_eq!(stderr(&out), "", "a running daemon is not announced");
}

#[test]
fn an_explicit_host_is_never_started() {
    let dir = tempfile::tempdir().unwrap();
    let host = format!("unix://{}/nobody.sock", dir.path().display());
    let out = Command::new(berth_bin())
        .args([
            "-H",
            &host,
            "--root",
            dir.path().join("root").to_str().unwrap(),
            "images",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !dir.path().join("root").exists(),
        "a daemon was started for an explicit host"
    );
    assert!(stderr(&out).contains("nobody.sock"), "{}", stderr(&out));
}
