//! Bad input gets a clear error and loses nothing: each case checks the message and that the
//! store (blobs and image list) is exactly as it was before.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Daemon, read, stderr};
use std::io::Write;
use std::process::Stdio;

/// A tar with one regular file whose raw name is written as is (the `tar` crate's path setter
/// refuses `..`, which is exactly what these tests need to send).
fn tar_with_raw_name(name: &str, data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_old();
    let bytes = name.as_bytes();
    h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, data).unwrap();
    b.into_inner().unwrap()
}

fn load_bytes(d: &Daemon, data: &[u8]) -> std::process::Output {
    let mut child = d
        .berth_cmd(&["load"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(data);
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn truncated_archive_is_refused_and_store_unchanged() {
    let d = Daemon::start();
    d.import_busybox("base:1");
    let archive = d.dir.path().join("a.tar");
    d.ok(&["save", "-o", archive.to_str().unwrap(), "base:1"]);
    d.ok(&["rmi", "base:1"]);
    let before = (d.blobs(), d.ok(&["images", "-q"]));
    let full = read(&archive);
    let out = load_bytes(&d, &full[..full.len() / 2]);
    assert!(!out.status.success(), "truncated load succeeded");
    let err = stderr(&out).to_lowercase();
    assert!(
        err.contains("unexpected end") || err.contains("truncated") || err.contains("missing"),
        "{err}"
    );
    assert_eq!((d.blobs(), d.ok(&["images", "-q"])), before);
    // The full archive still loads.
    let out = load_bytes(&d, &full);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn garbage_and_escaping_names_are_refused() {
    let d = Daemon::start();
    let before = d.blobs();
    let out = load_bytes(
        &d,
        b"this is not a tar archive at all, not even close........",
    );
    assert!(!out.status.success());
    assert!(!stderr(&out).is_empty());
    let evil = tar_with_raw_name("../../etc/berth-evil", b"owned");
    let out = load_bytes(&d, &evil);
    assert!(!out.status.success());
    assert!(!std::path::Path::new("/etc/berth-evil").exists());
    assert_eq!(d.blobs(), before);
}

#[test]
fn rootfs_escaping_the_snapshot_is_refused_on_import() {
    let d = Daemon::start();
    let marker = format!("berth-escape-{}", std::process::id());
    let evil = tar_with_raw_name(&format!("../../../../../../tmp/{marker}"), b"owned");
    let path = d.dir.path().join("evil.tar");
    std::fs::write(&path, evil).unwrap();
    let before = d.blobs();
    let out = d.berth(&["import", path.to_str().unwrap(), "evil:1"]);
    assert!(!out.status.success(), "import of an escaping tar succeeded");
    assert!(
        stderr(&out).contains("escape") || stderr(&out).contains(".."),
        "{}",
        stderr(&out)
    );
    assert!(
        !std::path::Path::new("/tmp").join(&marker).exists(),
        "file written outside the snapshot"
    );
    assert_eq!(d.blobs(), before);
    assert_eq!(d.ok(&["images", "-q"]).trim(), "");
}

#[test]
fn bad_tags_are_refused() {
    let d = Daemon::start();
    d.import_busybox("good:1");
    for bad in ["UPPER:case", "a:b:c", "bad tag"] {
        let err = d.fails(&["tag", "good:1", bad]);
        assert!(err.contains("invalid"), "{bad}: {err}");
    }
    assert_eq!(
        d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .trim(),
        "good:1"
    );
}

#[test]
fn kill_9_during_load_then_restart_is_consistent() {
    let mut d = Daemon::start();
    d.import_busybox("big:1");
    let archive = d.dir.path().join("big.tar");
    d.ok(&["save", "-o", archive.to_str().unwrap(), "big:1"]);
    d.ok(&["rmi", "big:1"]);
    let empty = d.blobs();
    // Send half the archive on a raw connection and leave the request open, then kill -9.
    let data = read(&archive);
    let mut s = std::os::unix::net::UnixStream::connect(d.socket()).unwrap();
    write!(s, "POST /images/load HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n", data.len()).unwrap();
    s.write_all(&data[..data.len() / 2]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    d.stop_with(9);
    drop(s);
    d.spawn();
    assert_eq!(d.ok(&["images", "-q"]).trim(), "");
    assert_eq!(d.blobs(), empty, "half-loaded blobs survived the restart");
    assert_eq!(
        common::list_files(&d.root().join("content/ingest")),
        Vec::<String>::new()
    );
    let out = d.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains("big:1"), "{out}");
}

#[test]
fn errors_clients_match_on_use_dockers_words() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    let create = |host: serde_json::Value| {
        d.http(
            "POST",
            "/containers/create",
            serde_json::json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": host})
                .to_string()
                .as_bytes(),
        )
    };
    let ncpu = std::thread::available_parallelism().unwrap().get();
    let r = create(serde_json::json!({"NanoCpus": (ncpu as i64 + 1) * 1_000_000_000}));
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains(&format!(
            "range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )),
        "{}",
        r.text()
    );
    let r = create(serde_json::json!({"CpusetCpus": "0-511"}));
    assert_eq!(r.status, 400);
    assert!(
        r.text()
            .contains("Requested CPUs are not available - requested 0-511"),
        "{}",
        r.text()
    );
    let r = create(serde_json::json!({"LogConfig": {"Type": "fluentd"}}));
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("error looking up logging plugin fluentd"),
        "{}",
        r.text()
    );
    let r = create(
        serde_json::json!({"NetworkMode": "host", "PortBindings": {"80/tcp": [{"HostPort": "8080"}]}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.json()["Warnings"],
        serde_json::json!(["Published ports are discarded when using host network mode"])
    );
    // A pull of something the registry lacks is a 404 (which the SDKs map to their
    // image-not-found error) in Docker's words, before any progress is streamed.
    let registry = common::registry::Hostile::start(
        common::registry::LayerMode::Honest,
        common::registry::ManifestMode::Image,
    );
    let r = d.http(
        "POST",
        &format!(
            "/images/create?fromImage=127.0.0.1:{}/nosuch&tag=latest",
            registry.port
        ),
        b"",
    );
    assert_eq!(r.status, 404);
    assert!(
        r.text().contains(&format!(
            "manifest for 127.0.0.1:{}/nosuch:latest not found: manifest unknown",
            registry.port
        )),
        "{}",
        r.text()
    );
}
