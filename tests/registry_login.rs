//! `docker login` against Berth: `POST /auth` checks credentials with the registry (Debian's
//! `docker-registry`, distribution 2.8, with htpasswd over plain HTTP on loopback, which Docker
//! too allows for a local registry), and the credentials land in Docker's `config.json`, shared
//! by `berth login`, `berth logout` and the unmodified docker CLI.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::registry::Registry;
use common::{Daemon, docker_bin, free_port, output_with_stdin, require_root, stderr, stdout};
use std::process::Command;

#[test]
fn berth_and_docker_log_in_through_the_daemon_and_share_config_json() {
    require_root("the daemon runs as root");
    let Some(registry) = Registry::start(&[("alice", "s3cret")]) else {
        return;
    };
    let d = Daemon::start();
    let config = tempfile::tempdir().unwrap();
    let server = registry.addr();

    let out = d.login(config.path(), &server, "alice", "wrong");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("401 Unauthorized"),
        "Docker's wording: {}",
        stderr(&out)
    );
    assert!(
        !config.path().join("config.json").exists()
            || !std::fs::read_to_string(config.path().join("config.json"))
                .unwrap()
                .contains(&server)
    );

    let out = d.login(config.path(), &server, "alice", "s3cret");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Login Succeeded"), "{}", stdout(&out));
    let file = config.path().join("config.json");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(saved["auths"][&server]["auth"], "YWxpY2U6czNjcmV0"); // alice:s3cret

    // berth logout forgets it; the docker CLI logs in through Berth and berth sees its entry.
    let out = d.berth_with_config(config.path(), &["logout", &server]);
    assert!(out.status.success(), "{}", stderr(&out));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert!(saved["auths"].get(&server).is_none(), "{saved}");
    let Some(docker) = docker_bin() else {
        common::missing_tool("docker CLI not installed");
        return;
    };
    let out = output_with_stdin(
        Command::new(&docker)
            .args(["login", "-u", "alice", "--password-stdin", &server])
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", config.path()),
        "s3cret\n",
    );
    assert!(out.status.success(), "docker login: {}", stderr(&out));
    assert!(stdout(&out).contains("Login Succeeded"), "{}", stdout(&out));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(saved["auths"][&server]["auth"], "YWxpY2U6czNjcmV0");
    // A wrong password through the docker CLI gets Docker's error.
    let out = output_with_stdin(
        Command::new(&docker)
            .args(["login", "-u", "alice", "--password-stdin", &server])
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", config.path()),
        "nope\n",
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("401 Unauthorized"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_registry_without_auth_accepts_any_login_and_an_absent_one_is_an_error() {
    require_root("the daemon runs as root");
    let Some(open) = Registry::start(&[]) else {
        return;
    };
    let d = Daemon::start();
    let config = tempfile::tempdir().unwrap();
    let out = d.login(config.path(), &open.addr(), "anyone", "x");
    assert!(out.status.success(), "{}", stderr(&out));
    // Nothing listens there: the error says where it tried.
    let port = free_port();
    let out = d.login(config.path(), &format!("127.0.0.1:{port}"), "a", "b");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("127.0.0.1:{port}")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_credential_helper_named_by_creds_store_keeps_the_secret() {
    require_root("the daemon runs as root");
    let Some(open) = Registry::start(&[]) else {
        return;
    };
    let d = Daemon::start();
    let config = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    let vault = bin.path().join("vault");
    // A helper speaking the docker-credential-* protocol into a file.
    let helper = bin.path().join("docker-credential-berthtest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\ncase \"$1\" in\n store) cat > {v} ;;\n get) cat {v} ;;\n erase) rm -f {v} ;;\nesac\n",
            v = vault.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        config.path().join("config.json"),
        r#"{"credsStore":"berthtest","keep":1}"#,
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    let server = open.addr();
    let out = output_with_stdin(
        d.berth_with_config_cmd(
            config.path(),
            &["login", "-u", "bob", "--password-stdin", &server],
        )
        .env("PATH", &path),
        "hunter2\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&vault).unwrap()).unwrap();
    assert_eq!(stored["Username"], "bob");
    assert_eq!(stored["Secret"], "hunter2");
    let text = std::fs::read_to_string(config.path().join("config.json")).unwrap();
    assert!(
        !text.contains("hunter2"),
        "the secret stays out of config.json: {text}"
    );
    let saved: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(saved["keep"], 1, "unknown fields are kept");
    assert_eq!(saved["auths"][&server], serde_json::json!({}));
    let out = d
        .berth_with_config_cmd(config.path(), &["logout", &server])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!vault.exists(), "logout erased it from the helper");
}
