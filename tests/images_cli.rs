//! `berth` image commands end to end against a daemon on a throw-away root.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Daemon, busybox_tar, stderr, stdout};
use std::io::Write;
use std::process::Stdio;

#[test]
fn import_list_inspect_tag_history_rmi() {
    let d = Daemon::start();
    let id = d.import_busybox("busybox");
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");

    let table = d.ok(&["images"]);
    let header = table.lines().next().unwrap();
    for col in ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"] {
        assert!(header.contains(col), "{table}");
    }
    assert!(
        table.contains("busybox") && table.contains("latest") && table.contains(&id[7..19]),
        "{table}"
    );
    assert_eq!(d.ok(&["images", "-q"]).trim(), &id[7..19]);
    assert_eq!(d.ok(&["image", "ls", "-q", "--no-trunc"]).trim(), id);
    assert_eq!(
        d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .trim(),
        "busybox:latest"
    );

    assert_eq!(
        d.ok(&["image", "inspect", "--format", "{{.Id}}", "busybox"])
            .trim(),
        id
    );
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.Config.Cmd}}", "busybox"])
            .trim(),
        "[sh]"
    );
    let json: serde_json::Value =
        serde_json::from_str(&d.ok(&["image", "inspect", "busybox"])).unwrap();
    assert_eq!(json[0]["Id"], id);

    d.ok(&["tag", "busybox", "mine:v1"]);
    let tags = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        tags.contains("mine:v1") && tags.contains("busybox:latest"),
        "{tags}"
    );
    let hist = d.ok(&["history", "mine:v1"]);
    assert!(hist.contains(&id[7..19]), "{hist}");

    let err = d.fails(&["rmi", &id[7..19]]);
    assert!(err.contains("must be forced"), "{err}");
    let out = d.ok(&["rmi", "mine:v1"]);
    assert!(out.contains("Untagged: mine:v1"), "{out}");
    let out = d.ok(&["rmi", "busybox"]);
    assert!(out.contains("Deleted: ") && out.contains(&id), "{out}");
    assert_eq!(d.ok(&["images", "-q"]).trim(), "");
}

#[test]
fn import_from_stdin_with_changes_and_message() {
    let d = Daemon::start();
    let mut child = d
        .berth_cmd(&[
            "import",
            "-c",
            "ENV GREETING=hi",
            "-c",
            "WORKDIR /tmp",
            "-m",
            "from stdin",
            "-",
            "piped:1",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&common::read(&busybox_tar()))
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let fmt = "{{.Comment}}|{{.Config.WorkingDir}}|{{index .Config.Env 0}}";
    assert_eq!(
        d.ok(&["inspect", "-f", fmt, "piped:1"]).trim(),
        "from stdin|/tmp|GREETING=hi"
    );
}

#[test]
fn save_and_load_roundtrip_between_daemons() {
    let a = Daemon::start();
    let id1 = a.import_busybox("one:latest");
    let tar2 = busybox_tar();
    let id2 = a
        .ok(&[
            "import",
            "-c",
            "CMD [\"echo\",\"two\"]",
            tar2.to_str().unwrap(),
            "two:latest",
        ])
        .trim()
        .to_string();
    let archive = a.dir.path().join("both.tar");
    a.ok(&["save", "-o", archive.to_str().unwrap(), "one", "two:latest"]);

    let b = Daemon::start();
    let out = b.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(
        out.contains("Loaded image: one:latest") && out.contains("Loaded image: two:latest"),
        "{out}"
    );
    let ids = b.ok(&["images", "-q", "--no-trunc"]);
    assert!(ids.contains(&id1) && ids.contains(&id2), "{ids}");

    // stdin, quiet.
    let c = Daemon::start();
    let out = c
        .berth_cmd(&["load", "-q"])
        .stdin(std::fs::File::open(&archive).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Loaded image"), "{}", stdout(&out));
}

#[test]
fn prune_removes_dangling_images_only() {
    let d = Daemon::start();
    let first = d.import_busybox("app:latest");
    // Re-importing with a different change moves the tag; the first image becomes dangling.
    let tar = busybox_tar();
    d.ok(&[
        "import",
        "-c",
        "CMD [\"true\"]",
        tar.to_str().unwrap(),
        "app:latest",
    ]);
    let dangling = d.ok(&["images", "-q", "--no-trunc", "--filter", "dangling=true"]);
    assert_eq!(dangling.trim(), first);
    let out = d.ok(&["image", "prune", "-f"]);
    assert!(out.contains(&first), "{out}");
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert_eq!(d.ok(&["images", "-q"]).lines().count(), 1);
}

#[test]
fn missing_image_errors_like_docker() {
    let d = Daemon::start();
    let out = d.berth(&["rmi", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("No such image: nope:latest"),
        "{}",
        stderr(&out)
    );
    let out = d.berth(&["image", "inspect", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("No such image"), "{}", stderr(&out));
}

#[test]
fn version_and_info_talk_to_the_daemon() {
    let d = Daemon::start();
    let v = d.ok(&["version"]);
    assert!(v.contains("Server") && v.contains("1.50"), "{v}");
    let i = d.ok(&["info"]);
    assert!(i.contains(&d.root().display().to_string()), "{i}");
}
