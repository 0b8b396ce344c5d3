//! The Docker SDK for Python against Berth: `tests/sdk/docker_py.py` drives
//! `containers.run`, `.logs`, `.exec_run`, `.wait`, `.remove` and volumes. CI installs the SDK
//! (scripts/install-deps.sh); elsewhere the test skips when `python3` cannot import `docker`.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Daemon, stderr, stdout};
use std::process::Command;

fn python_with_sdk() -> Option<String> {
    let python = std::env::var("BERTH_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import docker"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    ok.then_some(python)
}

#[test]
fn docker_python_sdk_runs_containers() {
    let Some(python) = python_with_sdk() else {
        common::missing_tool("python3 with the docker SDK not found");
        return;
    };
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/docker_py.py");
    let out = Command::new(python)
        .arg(script)
        .env("DOCKER_HOST", d.host())
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "docker-py script failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("docker-py OK"));
}
