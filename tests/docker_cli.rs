//! The unmodified `docker` CLI (v28 on these machines) against `berth daemon`. Skips only when
//! the docker client binary is absent.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Daemon, busybox_tar, docker_bin, stderr, stdout};
use std::process::{Command, Output};

fn docker(d: &Daemon, args: &[&str]) -> Option<Output> {
    let bin = docker_bin()?;
    let config = d.dir.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    Some(
        Command::new(bin)
            .args(args)
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", &config)
            .env_remove("DOCKER_API_VERSION")
            .output()
            .expect("run docker"),
    )
}

fn ok(d: &Daemon, args: &[&str]) -> Option<String> {
    let out = docker(d, args)?;
    assert!(
        out.status.success(),
        "docker {args:?} failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    Some(stdout(&out))
}

#[test]
fn docker_cli_manages_images_on_berth() {
    let d = Daemon::start();
    let Some(v) = ok(
        &d,
        &[
            "version",
            "--format",
            "{{.Server.APIVersion}} {{.Server.Os}}",
        ],
    ) else {
        common::missing_tool("docker client not installed");
        return;
    };
    assert_eq!(v.trim(), "1.50 linux");
    let info = ok(&d, &["info", "--format", "{{.OSType}} {{.DockerRootDir}}"]).unwrap();
    assert_eq!(info.trim(), format!("linux {}", d.root().display()));
    let full_info = ok(&d, &["info"]).unwrap();
    assert!(full_info.contains("Server"), "{full_info}");

    let tar = busybox_tar();
    let id = ok(
        &d,
        &[
            "import",
            "--change",
            "CMD [\"sh\"]",
            "-m",
            "via docker",
            tar.to_str().unwrap(),
            "busybox:latest",
        ],
    )
    .unwrap();
    assert!(id.trim().starts_with("sha256:"), "{id}");
    let images = ok(&d, &["images"]).unwrap();
    assert!(
        images.contains("busybox") && images.contains("latest"),
        "{images}"
    );
    let cmd = ok(
        &d,
        &[
            "image",
            "inspect",
            "--format",
            "{{.Config.Cmd}} {{.Comment}}",
            "busybox",
        ],
    )
    .unwrap();
    assert_eq!(cmd.trim(), "[sh] via docker");

    ok(&d, &["tag", "busybox", "example.com/team/bb:v2"]).unwrap();
    let tagged = ok(&d, &["images", "--format", "{{.Repository}}:{{.Tag}}"]).unwrap();
    assert!(tagged.contains("example.com/team/bb:v2"), "{tagged}");

    let archive = d.dir.path().join("docker-saved.tar");
    ok(
        &d,
        &["save", "-o", archive.to_str().unwrap(), "busybox:latest"],
    )
    .unwrap();
    assert!(std::fs::metadata(&archive).unwrap().len() > 500_000);

    let untag = ok(&d, &["rmi", "example.com/team/bb:v2"]).unwrap();
    assert!(
        untag.contains("Untagged: example.com/team/bb:v2"),
        "{untag}"
    );
    let del = ok(&d, &["rmi", "busybox"]).unwrap();
    assert!(del.contains("Deleted:"), "{del}");
    assert_eq!(ok(&d, &["images", "-q"]).unwrap().trim(), "");

    let loaded = ok(&d, &["load", "-i", archive.to_str().unwrap()]).unwrap();
    assert!(loaded.contains("Loaded image: busybox:latest"), "{loaded}");
    let again = ok(&d, &["images", "-q", "--no-trunc"]).unwrap();
    assert_eq!(again.trim(), id.trim());

    let out = docker(&d, &["image", "inspect", "nope"]).unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).to_lowercase().contains("no such image"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn docker_swarm_leave_says_the_node_is_not_in_a_swarm() {
    let d = Daemon::start();
    let Some(bin) = common::docker_bin() else {
        common::missing_tool("docker client not installed");
        return;
    };
    let out = std::process::Command::new(bin)
        .args(["swarm", "leave", "--force"])
        .env("DOCKER_HOST", d.host())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("This node is not part of a swarm"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn system_df_counts_images_containers_volumes_and_logs() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "-v",
        "dfdata:/data",
        "busybox",
        "sh",
        "-c",
        "echo logged; sleep 100",
    ]);
    d.ok(&["run", "--name", "done", "busybox", "true"]);
    let r = d.http("GET", "/system/df", b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["Images"].as_array().unwrap().len(), 1);
    assert_eq!(v["Images"][0]["Containers"], 2);
    assert!(v["LayersSize"].as_i64().unwrap() > 0);
    assert_eq!(v["Containers"].as_array().unwrap().len(), 2);
    assert_eq!(v["Volumes"][0]["Name"], "dfdata");
    assert_eq!(v["Volumes"][0]["UsageData"]["RefCount"], 1);
    assert!(v["BuildCache"].as_array().unwrap().is_empty());
    assert!(v["LogsSize"].as_i64().unwrap() > 0, "{v}");
    let table = d.ok(&["system", "df"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("TYPE") && lines[0].contains("RECLAIMABLE"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("Images") && lines[1].contains(" 1 "),
        "{table}"
    );
    assert!(lines[2].starts_with("Containers"), "{table}");
    assert!(lines[5].starts_with("Container logs"), "{table}");
    let verbose = d.ok(&["system", "df", "-v"]);
    assert!(
        verbose.contains("dfdata") && verbose.contains("busy"),
        "{verbose}"
    );
    if let Some(out) = ok(&d, &["system", "df"]) {
        assert!(
            out.contains("Local Volumes") && out.contains("Build Cache"),
            "{out}"
        );
    }
}
