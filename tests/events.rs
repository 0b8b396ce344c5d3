//! `berth events` and `docker events` against `berth daemon`: image and volume actions are
//! replayed in order with Docker's types and actions.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Daemon, docker_bin, stderr, stdout};
use std::process::Command;

fn now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

#[test]
fn events_replay_image_and_volume_actions() {
    let d = Daemon::start();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let start = now();
    let id = d.import_busybox("ev:1");
    d.ok(&["tag", "ev:1", "ev:2"]);
    d.ok(&["rmi", "ev:2"]);
    d.ok(&["volume", "create", "evvol"]);
    d.ok(&["volume", "rm", "evvol"]);
    let end = now();

    let out = d.ok(&[
        "events",
        "--since",
        &start,
        "--until",
        &end,
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.ID}}",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            format!("image import {id}"),
            format!("image tag {id}"),
            format!("image untag {id}"),
            "volume create evvol".to_string(),
            "volume destroy evvol".to_string(),
        ],
        "{out}"
    );

    // Default format: RFC 3339 nanos, type, action, id, attributes.
    let out = d.ok(&[
        "events",
        "--since",
        &start,
        "--until",
        &end,
        "-f",
        "event=tag",
    ]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.trim_end()
            .ends_with(&format!("image tag {id} (name=ev:2)")),
        "{out}"
    );

    // Filters by type; json format decodes.
    let out = d.ok(&[
        "events",
        "--since",
        &start,
        "--until",
        &end,
        "--filter",
        "type=volume",
        "--format",
        "json",
    ]);
    assert_eq!(out.lines().count(), 2, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(v["Type"], "volume");
    assert_eq!(v["Actor"]["ID"], "evvol");

    // The real docker CLI, when installed.
    let Some(bin) = docker_bin() else {
        common::missing_tool("docker client not installed");
        return;
    };
    let config = d.dir.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    let out = Command::new(bin)
        .args([
            "events",
            "--since",
            &start,
            "--until",
            &end,
            "--format",
            "{{.Type}} {{.Action}}",
        ])
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", &config)
        .env_remove("DOCKER_API_VERSION")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "image import",
            "image tag",
            "image untag",
            "volume create",
            "volume destroy"
        ],
        "{text}"
    );
}
