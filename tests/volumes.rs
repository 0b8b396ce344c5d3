//! Volumes end to end: the API, the berth CLI and the unmodified docker CLI against a real
//! `berth daemon`. Containers do not use volumes yet, so every volume is unused here.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Daemon, docker_bin, stderr, stdout};
use std::path::Path;
use std::process::Command;

#[test]
fn cli_create_list_inspect_remove_prune() {
    let d = Daemon::start();
    assert_eq!(d.ok(&["volume", "create", "data"]).trim(), "data");
    // Creating an existing name returns it unchanged.
    assert_eq!(d.ok(&["volume", "create", "data"]).trim(), "data");
    let anon = d
        .ok(&["volume", "create", "--label", "k=v"])
        .trim()
        .to_string();
    assert_eq!(anon.len(), 64, "{anon}");

    let table = d.ok(&["volume", "ls"]);
    let mut lines = table.lines();
    assert_eq!(lines.next(), Some("DRIVER    VOLUME NAME"));
    let rest: Vec<&str> = lines.collect();
    assert_eq!(rest.len(), 2, "{table}");
    assert!(rest.contains(&"local     data"), "{table}");
    let mut quiet: Vec<String> = d
        .ok(&["volume", "ls", "-q"])
        .lines()
        .map(str::to_string)
        .collect();
    quiet.sort();
    let mut want = vec![anon.clone(), "data".to_string()];
    want.sort();
    assert_eq!(quiet, want);
    assert_eq!(
        d.ok(&["volume", "ls", "-q", "-f", "label=k=v"]).trim(),
        anon
    );
    assert_eq!(
        d.ok(&[
            "volume",
            "ls",
            "--format",
            "{{.Name}} {{.Driver}}",
            "-f",
            "name=dat"
        ])
        .trim(),
        "data local"
    );

    let inspect: serde_json::Value =
        serde_json::from_str(&d.ok(&["volume", "inspect", "data"])).unwrap();
    let v = &inspect[0];
    assert_eq!(v["Name"], "data");
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert!(v["Labels"].is_object() && v["Options"].is_object(), "{v}");
    assert!(v["CreatedAt"].as_str().unwrap().contains('T'), "{v}");
    let mp = v["Mountpoint"].as_str().unwrap();
    assert_eq!(Path::new(mp), d.root().join("volumes/data/_data"));
    assert!(Path::new(mp).is_dir());
    assert!(d.root().join("volumes/data/volume.json").is_file());
    assert_eq!(
        d.ok(&["volume", "inspect", "-f", "{{.Name}}", anon.as_str()])
            .trim(),
        anon
    );
    let anon_inspect: serde_json::Value =
        serde_json::from_str(&d.ok(&["volume", "inspect", anon.as_str()])).unwrap();
    assert_eq!(anon_inspect[0]["Labels"]["com.docker.volume.anonymous"], "");

    // Prune: only anonymous volumes unless -a.
    std::fs::write(
        d.root().join("volumes").join(&anon).join("_data/f"),
        b"hello",
    )
    .unwrap();
    let out = d.ok(&["volume", "prune", "-f"]);
    assert_eq!(
        out,
        format!("Deleted Volumes:\n{anon}\n\nTotal reclaimed space: 5B\n")
    );
    assert_eq!(d.ok(&["volume", "ls", "-q"]).trim(), "data");
    d.ok(&["volume", "create", "other"]);
    let out = d.ok(&["volume", "prune", "-a", "-f"]);
    assert!(out.contains("data") && out.contains("other"), "{out}");
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "");

    // rm prints names, continues past errors and exits 1.
    d.ok(&["volume", "create", "a1"]);
    let out = d.berth(&["volume", "rm", "missing", "a1"]);
    assert!(!out.status.success());
    assert_eq!(stdout(&out), "a1\n");
    assert!(
        stderr(&out).contains("get missing: no such volume"),
        "{}",
        stderr(&out)
    );
    assert!(!d.root().join("volumes/a1").exists());
}

#[test]
fn cli_errors() {
    let d = Daemon::start();
    let e = d.fails(&["volume", "rm", "nope"]);
    assert!(e.contains("no such volume"), "{e}");
    let e = d.fails(&["volume", "inspect", "nope"]);
    assert!(e.contains("no such volume"), "{e}");
    let e = d.fails(&["volume", "create", "bad/name"]);
    assert!(e.contains("includes invalid characters"), "{e}");
    let e = d.fails(&["volume", "create", "-d", "x", "v1"]);
    assert!(e.contains("volume driver \"x\" not found"), "{e}");
    let e = d.fails(&[
        "volume",
        "create",
        "-o",
        "type=none",
        "-o",
        "o=bind",
        "-o",
        "device=/nonexistent/berth-test",
        "v2",
    ]);
    assert!(e.contains("no such file or directory"), "{e}");
    let out = d.ok(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=100m",
        "t1",
    ]);
    assert_eq!(out.trim(), "t1");
    let opts = d.ok(&["volume", "inspect", "-f", "{{json .Options}}", "t1"]);
    assert_eq!(
        opts.trim(),
        r#"{"device":"tmpfs","o":"size=100m","type":"tmpfs"}"#
    );
}

#[test]
fn api_endpoints() {
    let d = Daemon::start();
    let r = d.http(
        "POST",
        "/v1.50/volumes/create",
        br#"{"Name":"api1","Labels":{"a":"b"}}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["Name"], "api1");
    let r = d.http("POST", "/volumes/create", b"{not json");
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("invalid JSON")
    );
    let r = d.http("POST", "/volumes/create", br#"{"Name":"x/y"}"#);
    assert_eq!(r.status, 400);
    let r = d.http("GET", "/volumes", b"");
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["Volumes"].as_array().unwrap().len(), 1);
    assert!(j["Warnings"].is_array());
    let r = d.http(
        "GET",
        "/volumes?filters=%7B%22label%22%3A%7B%22a%3Dc%22%3Atrue%7D%7D",
        b"",
    );
    assert_eq!(r.json()["Volumes"].as_array().unwrap().len(), 0);
    let r = d.http("GET", "/volumes/api1", b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["Labels"]["a"], "b");
    let r = d.http("GET", "/volumes/nope", b"");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "get nope: no such volume");
    let r = d.http("POST", "/volumes/prune", b"");
    assert_eq!(r.status, 200);
    assert!(r.json()["VolumesDeleted"].is_null());
    let r = d.http("DELETE", "/volumes/api1?force=0", b"");
    assert_eq!(r.status, 204, "{}", r.text());
    let r = d.http("DELETE", "/volumes/api1", b"");
    assert_eq!(r.status, 404);
}

#[test]
fn docker_cli_manages_volumes_on_berth() {
    let Some(bin) = docker_bin() else {
        common::missing_tool("docker client not installed");
        return;
    };
    let d = Daemon::start();
    let config = d.dir.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    let docker = |args: &[&str]| {
        let out = Command::new(&bin)
            .args(args)
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", &config)
            .env_remove("DOCKER_API_VERSION")
            .output()
            .expect("run docker");
        assert!(
            out.status.success(),
            "docker {args:?} failed:\n{}\n{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    };
    assert_eq!(docker(&["volume", "create", "data"]).trim(), "data");
    let ls = docker(&["volume", "ls"]);
    assert!(ls.starts_with("DRIVER    VOLUME NAME\n"), "{ls}");
    assert!(ls.contains("local     data"), "{ls}");
    let inspect: serde_json::Value =
        serde_json::from_str(&docker(&["volume", "inspect", "data"])).unwrap();
    assert_eq!(inspect[0]["Name"], "data");
    assert_eq!(
        Path::new(inspect[0]["Mountpoint"].as_str().unwrap()),
        d.root().join("volumes/data/_data")
    );
    assert_eq!(docker(&["volume", "rm", "data"]).trim(), "data");
    assert!(docker(&["volume", "ls", "-q"]).trim().is_empty());
}
