//! `berth registry serve`, the OCI distribution server, against real clients: the docker
//! CLI (through `berth daemon` and through a private Debian dockerd, so Docker's own client
//! stack is proven too), skopeo over TLS with basic auth and tokens, and raw HTTP for the
//! protocol's corners (chunked uploads out of order, a reused upload, ranges, pagination,
//! referrers, read-only mode). Garbage collection runs while pushes are in flight and loses
//! nothing they reference.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine as _;
use common::dockerd::Dockerd;
use common::registry::{BerthRegistry, Hostile, LayerMode, ManifestMode, header, raw_http};
use common::{Daemon, busybox_tar, docker_bin, output_with_stdin, require_root, stderr, stdout};
use std::process::Command;

fn skopeo_present() -> bool {
    if std::path::Path::new("/usr/bin/skopeo").exists() {
        return true;
    }
    common::missing_tool("skopeo not installed");
    false
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[test]
fn the_docker_cli_pushes_and_pulls_through_berth_and_strangers_cannot_push() {
    require_root("the daemon runs as root");
    let Some(docker) = docker_bin() else {
        common::missing_tool("docker CLI not installed");
        return;
    };
    let registry = BerthRegistry::start(&[("alice", "s3cret")], &[]);
    let addr = registry.addr();
    // A stranger's push (no credentials) is refused with a challenge.
    let (status, headers, body) = raw_http(
        registry.port(),
        "POST",
        "/v2/team/app/blobs/uploads/",
        &[],
        b"",
    );
    assert_eq!(status, 401, "{}", String::from_utf8_lossy(&body));
    assert!(header(&headers, "www-authenticate").is_some_and(|c| c.starts_with("Basic ")));
    assert!(String::from_utf8_lossy(&body).contains("UNAUTHORIZED"));

    let d = Daemon::start();
    let config = tempfile::tempdir().unwrap();
    let image = format!("{addr}/team/app:1");
    let id = d.import_busybox(&image);
    let docker = |args: &[&str]| {
        Command::new(&docker)
            .args(args)
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", config.path())
            .output()
            .unwrap()
    };
    let out = docker(&["push", &image]);
    assert!(!out.status.success(), "an anonymous push must fail");
    let out = output_with_stdin(
        Command::new(docker_bin().unwrap())
            .args(["login", "-u", "alice", "--password-stdin", &addr])
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", config.path()),
        "s3cret\n",
    );
    assert!(out.status.success(), "docker login: {}", stderr(&out));
    let out = docker(&["push", &image]);
    assert!(out.status.success(), "docker push: {}", stderr(&out));
    assert!(
        stdout(&out).contains("1: digest: sha256:"),
        "{}",
        stdout(&out)
    );
    assert!(docker(&["rmi", &image]).status.success());
    let out = docker(&["pull", &image]);
    assert!(out.status.success(), "docker pull: {}", stderr(&out));
    let out = docker(&[
        "run",
        "--rm",
        &image,
        "busybox",
        "echo",
        "from berth registry",
    ]);
    assert_eq!(
        stdout(&out).trim(),
        "from berth registry",
        "{}",
        stderr(&out)
    );
    let out = docker(&["image", "inspect", "--format", "{{.Id}}", &image]);
    assert_eq!(stdout(&out).trim(), id);
    // `docker search HOST/text` asks the registry's /v1/search through the daemon.
    let out = docker(&["search", &format!("{addr}/team")]);
    assert!(out.status.success(), "docker search: {}", stderr(&out));
    assert!(stdout(&out).starts_with("NAME"), "{}", stdout(&out));
    assert!(stdout(&out).contains("team/app"), "{}", stdout(&out));
    let out = d.berth_with_config(
        config.path(),
        &[
            "search",
            "--format",
            "{{.Name}}",
            &format!("{addr}/nothing-like-it"),
        ],
    );
    assert!(out.status.success(), "berth search: {}", stderr(&out));
    assert_eq!(stdout(&out), "");
    // The blobs on the server are exactly the bytes they are named after.
    for e in std::fs::read_dir(registry.root().join("blobs/sha256")).unwrap() {
        let e = e.unwrap();
        let bytes = std::fs::read(e.path()).unwrap();
        assert_eq!(
            berth_common::Digest::of(&bytes).hex(),
            e.file_name().to_string_lossy()
        );
    }
}

#[test]
fn a_private_dockerd_pushes_to_and_pulls_from_berth_registry() {
    require_root("dockerd runs as root");
    let Some(dockerd) = Dockerd::start() else {
        common::missing_tool("dockerd or docker not installed");
        return;
    };
    let registry = BerthRegistry::start(&[("bob", "pw")], &[]);
    let addr = registry.addr();
    let tar = busybox_tar();
    let image = format!("{addr}/docker/bb:1");
    let id = dockerd
        .ok(&[
            "import",
            "--change",
            "CMD [\"sh\"]",
            tar.to_str().unwrap(),
            &image,
        ])
        .trim()
        .to_string();
    // dockerd speaks plain HTTP to a loopback registry, as Docker does by default.
    let out = dockerd.docker(&["login", "-u", "bob", "-p", "pw", &addr]);
    assert!(out.status.success(), "docker login: {}", stderr(&out));
    let out = dockerd.docker(&["push", &image]);
    assert!(out.status.success(), "dockerd push: {}", stderr(&out));
    dockerd.ok(&["rmi", &image]);
    let out = dockerd.docker(&["pull", &image]);
    assert!(out.status.success(), "dockerd pull: {}", stderr(&out));
    let got = dockerd.ok(&["image", "inspect", "--format", "{{.Id}}", &image]);
    assert_eq!(got.trim(), id);

    // An image berth built (plain layers, pushed as gzip) is one Docker's own stack pulls:
    // the same layers, and the built file in them.
    let d = Daemon::start();
    let config = tempfile::tempdir().unwrap();
    d.import_busybox("busybox");
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN echo built by berth > /built.txt\n",
    )
    .unwrap();
    let built = format!("{addr}/berth/app:1");
    d.ok(&["build", "-q", "-t", &built, ctx.path().to_str().unwrap()]);
    let out = d.login(config.path(), &addr, "bob", "pw");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = d.berth_with_config(config.path(), &["push", &built]);
    assert!(out.status.success(), "berth push: {}", stderr(&out));
    let out = dockerd.docker(&["pull", &built]);
    assert!(
        out.status.success(),
        "dockerd pull of a berth build: {}",
        stderr(&out)
    );
    let layers = |text: String| text.trim().to_string();
    assert_eq!(
        layers(dockerd.ok(&[
            "image",
            "inspect",
            "--format",
            "{{json .RootFS.Layers}}",
            &built
        ])),
        layers(d.ok(&[
            "image",
            "inspect",
            "--format",
            "{{json .RootFS.Layers}}",
            &built
        ])),
    );
    let container = dockerd.ok(&["create", &built]).trim().to_string();
    let out = dockerd.docker(&["cp", &format!("{container}:/built.txt"), "-"]);
    assert!(out.status.success(), "docker cp: {}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("built by berth"),
        "the built layer's file, as a tar: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    dockerd.ok(&["rm", &container]);
}

#[test]
fn skopeo_copies_inspects_lists_and_deletes_over_tls_with_tokens() {
    require_root("the daemon runs as root");
    if !skopeo_present() {
        return;
    }
    let registry =
        BerthRegistry::start(&[("alice", "s3cret")], &["--tls", "self-signed", "--token"]);
    let addr = registry.addr();
    // The certificate made on first start, laid out as a certs.d directory.
    let certs = tempfile::tempdir().unwrap();
    let host_dir = certs.path().join(&addr);
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::copy(
        registry.root().join("tls/cert.pem"),
        host_dir.join("ca.crt"),
    )
    .unwrap();
    let d = Daemon::start();
    let archive = d.dir.path().join("bb.tar");
    d.import_busybox("bb:1");
    d.ok(&["save", "-o", archive.to_str().unwrap(), "bb:1"]);
    let skopeo = |args: &[&str]| Command::new("skopeo").args(args).output().unwrap();
    let cert_dir = host_dir.to_str().unwrap();
    let dest = format!("docker://{addr}/s/bb:1");
    let out = skopeo(&[
        "copy",
        "--dest-cert-dir",
        cert_dir,
        "--dest-creds",
        "alice:wrong",
        &format!("docker-archive:{}", archive.display()),
        &dest,
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("incorrect username or password"),
        "{}",
        stderr(&out)
    );
    let out = skopeo(&[
        "copy",
        "--dest-cert-dir",
        cert_dir,
        "--dest-creds",
        "alice:s3cret",
        &format!("docker-archive:{}", archive.display()),
        &dest,
    ]);
    assert!(out.status.success(), "skopeo copy: {}", stderr(&out));
    let out = skopeo(&[
        "inspect",
        "--cert-dir",
        cert_dir,
        "--creds",
        "alice:s3cret",
        &dest,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Os"], "linux");
    let out = skopeo(&[
        "list-tags",
        "--cert-dir",
        cert_dir,
        "--creds",
        "alice:s3cret",
        &format!("docker://{addr}/s/bb"),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Tags"], serde_json::json!(["1"]));
    // Without the CA, TLS is refused: the certificate is not trusted by accident.
    let out = skopeo(&["inspect", "--creds", "alice:s3cret", &dest]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("certificate"), "{}", stderr(&out));
    // Berth's own client pulls over the same TLS and token flow, trusting the CA by certs.d.
    let d2 = Daemon::start_with(&["--registry-certs-dir", certs.path().to_str().unwrap()]);
    let config = tempfile::tempdir().unwrap();
    let out = d2.login(config.path(), &addr, "alice", "s3cret");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = d2.berth_with_config(config.path(), &["pull", &format!("{addr}/s/bb:1")]);
    assert!(
        out.status.success(),
        "berth pull over TLS: {}",
        stderr(&out)
    );
    let out = skopeo(&[
        "delete",
        "--cert-dir",
        cert_dir,
        "--creds",
        "alice:s3cret",
        &dest,
    ]);
    assert!(out.status.success(), "skopeo delete: {}", stderr(&out));
    let out = skopeo(&[
        "inspect",
        "--cert-dir",
        cert_dir,
        "--creds",
        "alice:s3cret",
        &dest,
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("manifest unknown"),
        "{}",
        stderr(&out)
    );
}

/// Pushes one blob in one request; its digest.
fn push_blob(port: u16, auth: &str, repo: &str, data: &[u8]) -> String {
    let digest = berth_common::Digest::of(data).to_string();
    let (status, _, body) = raw_http(
        port,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
        &[("Authorization", auth)],
        data,
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    digest
}

fn image_manifest(config: &str, config_len: usize, layer: &str, layer_len: usize) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{config_len}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":{layer_len}}}]}}"#
    )
}

#[test]
fn the_protocol_corners_answer_with_the_spec_codes() {
    let registry = BerthRegistry::start(&[("alice", "s3cret")], &[]);
    let port = registry.port();
    let auth = basic("alice", "s3cret");
    let h = [("Authorization", auth.as_str())];

    // A chunked upload: in order it grows, out of order it is 416, reused after completion 404.
    let (status, headers, _) = raw_http(port, "POST", "/v2/corner/blobs/uploads/", &h, b"");
    assert_eq!(status, 202);
    let location = header(&headers, "location").unwrap().to_string();
    let data = b"0123456789abcdef";
    let (status, headers, _) = raw_http(
        port,
        "PATCH",
        &location,
        &[
            h[0],
            ("Content-Range", "0-7"),
            ("Content-Type", "application/octet-stream"),
        ],
        &data[..8],
    );
    assert_eq!(status, 202);
    assert_eq!(header(&headers, "range"), Some("0-7"));
    let (status, _, body) = raw_http(
        port,
        "PATCH",
        &location,
        &[h[0], ("Content-Range", "12-15")],
        &data[12..],
    );
    assert_eq!(status, 416, "{}", String::from_utf8_lossy(&body));
    let (status, _, _) = raw_http(
        port,
        "PATCH",
        &location,
        &[h[0], ("Content-Range", "8-15")],
        &data[8..],
    );
    assert_eq!(status, 202);
    let (status, headers, _) = raw_http(port, "GET", &location, &h, b"");
    assert_eq!(status, 204);
    assert_eq!(header(&headers, "range"), Some("0-15"));
    let layer = berth_common::Digest::of(data).to_string();
    let wrong = berth_common::Digest::of(b"nope").to_string();
    let (status, _, body) = raw_http(port, "PUT", &format!("{location}?digest={wrong}"), &h, b"");
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("DIGEST_INVALID"));
    // The failed completion ended the session; a fresh one completes.
    let (status, _, body) = raw_http(port, "PUT", &format!("{location}?digest={layer}"), &h, b"");
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("BLOB_UPLOAD_UNKNOWN"));
    let layer = push_blob(port, &auth, "corner", data);
    // Ranged reads of a blob.
    let (status, headers, body) = raw_http(
        port,
        "GET",
        &format!("/v2/corner/blobs/{layer}"),
        &[h[0], ("Range", "bytes=4-9")],
        b"",
    );
    assert_eq!(status, 206);
    assert_eq!(body, b"456789");
    assert_eq!(header(&headers, "content-range"), Some("bytes 4-9/16"));
    let (status, _, _) = raw_http(
        port,
        "GET",
        &format!("/v2/corner/blobs/{layer}"),
        &[h[0], ("Range", "bytes=99-")],
        b"",
    );
    assert_eq!(status, 416);

    // Manifests: tags with pagination, a referrer, limits on names, tags and size.
    let config = push_blob(port, &auth, "corner", b"{}");
    let m = image_manifest(&config, 2, &layer, 16);
    for tag in ["a", "b", "c"] {
        let (status, _, body) = raw_http(
            port,
            "PUT",
            &format!("/v2/corner/manifests/{tag}"),
            &[
                h[0],
                ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
            ],
            m.as_bytes(),
        );
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    }
    let (status, headers, body) = raw_http(port, "GET", "/v2/corner/tags/list?n=2", &h, b"");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["tags"], serde_json::json!(["a", "b"]));
    assert!(
        header(&headers, "link")
            .is_some_and(|l| l.contains("last=b") && l.contains("rel=\"next\""))
    );
    let (_, _, body) = raw_http(port, "GET", "/v2/corner/tags/list?n=2&last=b", &h, b"");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["tags"], serde_json::json!(["c"]));
    let (_, _, body) = raw_http(port, "GET", "/v2/_catalog", &h, b"");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["repositories"], serde_json::json!(["corner"]));

    let subject = berth_common::Digest::of(m.as_bytes()).to_string();
    let sig = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.dev.cosign.simplesigning.v1+json","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{config}","size":2}},"layers":[],"subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{subject}","size":{}}}}}"#,
        m.len()
    );
    let sig_digest = berth_common::Digest::of(sig.as_bytes()).to_string();
    let (status, headers, body) = raw_http(
        port,
        "PUT",
        &format!("/v2/corner/manifests/{sig_digest}"),
        &[
            h[0],
            ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
        ],
        sig.as_bytes(),
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert_eq!(header(&headers, "oci-subject"), Some(subject.as_str()));
    let (_, headers, body) = raw_http(
        port,
        "GET",
        &format!(
            "/v2/corner/referrers/{subject}?artifactType=application/vnd.dev.cosign.simplesigning.v1%2Bjson"
        ),
        &h,
        b"",
    );
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["manifests"][0]["digest"], sig_digest.as_str(), "{v}");
    assert_eq!(
        header(&headers, "oci-filters-applied"),
        Some("artifactType")
    );
    let (_, _, body) = raw_http(
        port,
        "GET",
        &format!("/v2/corner/referrers/{subject}?artifactType=other"),
        &h,
        b"",
    );
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["manifests"], serde_json::json!([]));

    let cases: Vec<(String, Vec<u8>, u16, &str)> = vec![
        (
            "/v2/Corner/manifests/a".into(),
            m.clone().into_bytes(),
            400,
            "NAME_INVALID",
        ),
        (
            "/v2/a/../b/manifests/a".into(),
            m.clone().into_bytes(),
            400,
            "NAME_INVALID",
        ),
        (
            format!("/v2/corner/manifests/{}", "t".repeat(129)),
            m.clone().into_bytes(),
            400,
            "TAG_INVALID",
        ),
        (
            "/v2/corner/manifests/big".into(),
            vec![b' '; (4 << 20) + 1],
            413,
            "SIZE_INVALID",
        ),
        (
            "/v2/corner/manifests/broken".into(),
            image_manifest(
                &config,
                2,
                &berth_common::Digest::of(b"absent").to_string(),
                6,
            )
            .into_bytes(),
            400,
            "MANIFEST_BLOB_UNKNOWN",
        ),
    ];
    for (path, body, want, code) in cases {
        let (status, _, answer) = raw_http(
            port,
            "PUT",
            &path,
            &[
                h[0],
                ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
            ],
            &body,
        );
        assert_eq!(status, want, "{path}: {}", String::from_utf8_lossy(&answer));
        assert!(
            String::from_utf8_lossy(&answer).contains(code),
            "{path}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    // Deleting by digest takes its tags.
    let (status, _, _) = raw_http(
        port,
        "DELETE",
        &format!("/v2/corner/manifests/{subject}"),
        &h,
        b"",
    );
    assert_eq!(status, 202);
    let (status, _, body) = raw_http(port, "GET", "/v2/corner/manifests/a", &h, b"");
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("MANIFEST_UNKNOWN"));

    // Read-only mode refuses every write.
    let ro = BerthRegistry::start(&[("alice", "s3cret")], &["--read-only"]);
    let (status, _, body) = raw_http(ro.port(), "POST", "/v2/x/blobs/uploads/", &h, b"");
    assert_eq!(status, 405);
    assert!(String::from_utf8_lossy(&body).contains("UNSUPPORTED"));
}

#[test]
fn garbage_collection_while_pushing_keeps_every_pushed_image_and_collects_orphans() {
    // GC every second, with a grace period longer than any push here takes.
    let registry = BerthRegistry::start(
        &[("alice", "s3cret")],
        &["--gc-interval", "1", "--gc-grace", "30"],
    );
    let port = registry.port();
    let auth = basic("alice", "s3cret");
    let h = [("Authorization", auth.as_str())];
    let config = push_blob(port, &auth, "gc", b"{}");
    let start = std::time::Instant::now();
    let mut pushed = Vec::new();
    let mut n = 0u32;
    // For three seconds, push images whose layer goes up well before the manifest does.
    while start.elapsed() < std::time::Duration::from_secs(3) {
        n += 1;
        let data = format!("layer number {n}").repeat(1000).into_bytes();
        let layer = push_blob(port, &auth, "gc", &data);
        std::thread::sleep(std::time::Duration::from_millis(150));
        let m = image_manifest(&config, 2, &layer, data.len());
        let (status, _, body) = raw_http(
            port,
            "PUT",
            &format!("/v2/gc/manifests/t{n}"),
            &[
                h[0],
                ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
            ],
            m.as_bytes(),
        );
        assert_eq!(
            status,
            201,
            "push {n} while GC runs: {}",
            String::from_utf8_lossy(&body)
        );
        pushed.push((n, layer, data));
    }
    assert!(n >= 5, "only {n} pushes");
    for (n, layer, data) in &pushed {
        let (status, _, body) = raw_http(port, "GET", &format!("/v2/gc/blobs/{layer}"), &h, b"");
        assert_eq!(status, 200, "layer of t{n} lost");
        assert_eq!(&body, data);
    }
    drop(registry);

    // Without a grace period, what no manifest references goes at the next run.
    let registry = BerthRegistry::start(
        &[("alice", "s3cret")],
        &["--gc-interval", "1", "--gc-grace", "0"],
    );
    let port = registry.port();
    let kept_layer = push_blob(port, &auth, "gc", b"kept");
    let config = push_blob(port, &auth, "gc", b"{}");
    let m = image_manifest(&config, 2, &kept_layer, 4);
    let (status, _, _) = raw_http(
        port,
        "PUT",
        "/v2/gc/manifests/keep",
        &[
            h[0],
            ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
        ],
        m.as_bytes(),
    );
    assert_eq!(status, 201);
    let orphan = push_blob(port, &auth, "gc", b"orphan");
    let orphan_path = registry.root().join("blobs/sha256").join(&orphan[7..]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while orphan_path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the orphan was never collected"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (status, _, _) = raw_http(port, "GET", &format!("/v2/gc/blobs/{kept_layer}"), &h, b"");
    assert_eq!(status, 200, "a referenced layer was collected");
    let (status, _, _) = raw_http(port, "GET", &format!("/v2/gc/blobs/{orphan}"), &h, b"");
    assert_eq!(status, 404);
}

#[test]
fn berths_client_uploads_in_chunks_to_both_servers() {
    use berth_registry::auth::{Credentials, Endpoints};
    use berth_registry::distribution::Session;
    let ours = BerthRegistry::start(&[("alice", "s3cret")], &[]);
    let theirs = common::registry::Registry::start(&[]);
    let data: Vec<u8> = (0..(3 << 20) + 123).map(|i| (i * 7 % 251) as u8).collect();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &data).unwrap();
    let digest = berth_common::Digest::of(&data);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut hosts = vec![(ours.addr(), true)];
    if let Some(t) = &theirs {
        hosts.push((t.addr(), false));
    }
    for (host, auth) in hosts {
        rt.block_on(async {
            let http = berth_registry::HttpClient::new();
            let creds = auth.then(|| Credentials {
                username: "alice".into(),
                password: "s3cret".into(),
            });
            let s = Session::open(
                &http,
                &Endpoints::default(),
                &host,
                "chunks/test",
                creds,
                true,
            )
            .await
            .unwrap();
            assert_eq!(s.blob_size(&digest).await.unwrap(), None);
            // 1 MiB chunks: four PATCHes with their Content-Range, then the closing PUT.
            s.upload_chunked(&digest, file.path(), data.len() as u64, 1 << 20)
                .await
                .unwrap_or_else(|e| panic!("{host}: {e}"));
            assert_eq!(s.blob_size(&digest).await.unwrap(), Some(data.len() as u64));
            let mut body = s.blob(&digest, 1 << 20).await.unwrap();
            assert_eq!(body.start, 1 << 20);
            let mut rest = Vec::new();
            while let Some(b) = body.next().await.unwrap() {
                rest.extend_from_slice(&b);
            }
            assert_eq!(rest, &data[1 << 20..], "{host}: a ranged read");
        });
    }
}

#[test]
fn an_expired_token_is_refreshed_once_and_a_refusal_after_that_is_the_error() {
    use berth_registry::auth::{Credentials, Endpoints};
    use berth_registry::distribution::{DistError, Session};
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.json");
    std::fs::write(
        &rules,
        r#"[{"account":"alice","repository":"*","actions":["*"]},{"account":"bob","repository":"*","actions":["pull"]}]"#,
    )
    .unwrap();
    let registry = BerthRegistry::start(
        &[("alice", "s3cret"), ("bob", "pw")],
        &[
            "--token",
            "--token-ttl",
            "1",
            "--access",
            rules.to_str().unwrap(),
        ],
    );
    let host = registry.addr();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = berth_registry::HttpClient::new();
        let alice = Credentials {
            username: "alice".into(),
            password: "s3cret".into(),
        };
        let s = Session::open(
            &http,
            &Endpoints::default(),
            &host,
            "t/app",
            Some(alice),
            true,
        )
        .await
        .unwrap();
        let data = b"a blob pushed with a token";
        let d = berth_common::Digest::of(data);
        let body = berth_registry::http::RequestBody::Bytes(bytes::Bytes::from_static(data));
        s.upload(&d, &body, None).await.unwrap();
        // The token has expired by now: the next request is refused once, a new token is
        // fetched, and it goes through.
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        assert_eq!(s.blob_size(&d).await.unwrap(), Some(data.len() as u64));

        // Bob may pull but not push: his refreshed token still does not grant it.
        let bob = Credentials {
            username: "bob".into(),
            password: "pw".into(),
        };
        let s = Session::open(
            &http,
            &Endpoints::default(),
            &host,
            "t/app",
            Some(bob),
            true,
        )
        .await
        .unwrap();
        assert_eq!(s.blob_size(&d).await.unwrap(), Some(data.len() as u64));
        let err = s.upload(&d, &body, None).await.unwrap_err();
        assert!(matches!(err, DistError::Unauthorized(_)), "{err}");
    });
}

/// `openssl ARGS` in `dir`, which must succeed.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
}

#[test]
fn a_registry_requiring_client_certificates_takes_those_of_certs_d() {
    require_root("the daemon runs as root");
    if Command::new("openssl").arg("version").output().is_err() {
        common::missing_tool("openssl not installed");
        return;
    }
    // A CA, and a client certificate it signed.
    let pki = tempfile::tempdir().unwrap();
    let p = pki.path();
    openssl(
        p,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=berth-test-ca",
        ],
    );
    openssl(
        p,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "client.key",
            "-out",
            "client.csr",
            "-subj",
            "/CN=berth-test-client",
        ],
    );
    std::fs::write(
        p.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    openssl(
        p,
        &[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "client.cert",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
        ],
    );
    let registry = BerthRegistry::start(
        &[("alice", "s3cret")],
        &[
            "--tls",
            "self-signed",
            "--tls-client-ca",
            p.join("ca.pem").to_str().unwrap(),
        ],
    );
    let addr = registry.addr();
    // certs.d for it: the server's CA, and (in one of them) the client's pair.
    let with_cert = tempfile::tempdir().unwrap();
    let without = tempfile::tempdir().unwrap();
    for dir in [with_cert.path(), without.path()] {
        let host = dir.join(&addr);
        std::fs::create_dir_all(&host).unwrap();
        std::fs::copy(registry.root().join("tls/cert.pem"), host.join("ca.crt")).unwrap();
    }
    let host = with_cert.path().join(&addr);
    std::fs::copy(p.join("client.cert"), host.join("client.cert")).unwrap();
    std::fs::copy(p.join("client.key"), host.join("client.key")).unwrap();
    let login = |d: &Daemon, config: &std::path::Path| d.login(config, &addr, "alice", "s3cret");
    let config = tempfile::tempdir().unwrap();
    let d = Daemon::start_with(&["--registry-certs-dir", without.path().to_str().unwrap()]);
    let out = login(&d, config.path());
    assert!(!out.status.success(), "no client certificate, no TLS");
    let err = stderr(&out).to_lowercase();
    assert!(
        err.contains("certificate") || err.contains("alert"),
        "a TLS refusal: {err}"
    );
    drop(d);
    let d = Daemon::start_with(&["--registry-certs-dir", with_cert.path().to_str().unwrap()]);
    let out = login(&d, config.path());
    assert!(
        out.status.success(),
        "login with a client certificate: {}",
        stderr(&out)
    );
    let image = format!("{addr}/mtls/bb:1");
    d.import_busybox(&image);
    let berth = |args: &[&str]| d.berth_with_config(config.path(), args);
    let out = berth(&["push", &image]);
    assert!(
        out.status.success(),
        "push over mutual TLS: {}",
        stderr(&out)
    );
    assert!(berth(&["rmi", &image]).status.success());
    let out = berth(&["pull", &image]);
    assert!(
        out.status.success(),
        "pull over mutual TLS: {}",
        stderr(&out)
    );
}

/// `berth registry serve` as a container (the static binary bind-mounted into busybox) on a
/// bridge of the test's own daemon: a registry off loopback, reached over plain HTTP only by a
/// daemon that lists it with `--insecure-registry` (here as a CIDR), never by one that does not.
#[test]
fn a_registry_off_loopback_is_spoken_to_in_plain_http_only_when_listed_insecure() {
    require_root("the daemons and the registry's container run as root");
    let strict = Daemon::start();
    strict.import_busybox("busybox:latest");
    let auth = tempfile::tempdir().unwrap();
    let out = Command::new("htpasswd")
        .args(["-nbB", "alice", "s3cret"])
        .output()
        .expect("htpasswd (apache2-utils) runs");
    assert!(out.status.success(), "htpasswd: {}", stderr(&out));
    std::fs::write(auth.path().join("htpasswd"), &out.stdout).unwrap();
    let bin = std::fs::canonicalize(common::berth_bin()).unwrap();
    strict.ok(&[
        "run",
        "-d",
        "--name",
        "registry",
        "-v",
        &format!("{}:/berth:ro", bin.display()),
        "-v",
        &format!("{}:/auth:ro", auth.path().display()),
        "busybox:latest",
        "/berth",
        "registry",
        "serve",
        "--addr",
        "0.0.0.0:5000",
        "--root",
        "/data",
        "--htpasswd",
        "/auth/htpasswd",
    ]);
    let ip = strict
        .ok(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.IPAddress}}",
            "registry",
        ])
        .trim()
        .to_string();
    assert!(ip.starts_with("10."), "a bridge address: {ip:?}");
    let server = format!("{ip}:5000");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(&server).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the registry's container never listened: {}",
            strict.ok(&["logs", "registry"])
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let subnet = strict
        .extra_args
        .iter()
        .skip_while(|a| *a != "--bip")
        .nth(1)
        .cloned()
        .unwrap();
    let login = |d: &Daemon, config: &std::path::Path| d.login(config, &server, "alice", "s3cret");
    let image = format!("{server}/team/bb:1");
    strict.ok(&["tag", "busybox:latest", &image]);

    // Not listed: only https is tried, and the answer says so.
    let config = tempfile::tempdir().unwrap();
    let out = login(&strict, config.path());
    assert!(
        !out.status.success(),
        "a plain-HTTP login off loopback must fail"
    );
    assert!(
        stderr(&out).contains(&format!("https://{server}/v2/"))
            && stderr(&out).contains("server gave HTTP response to HTTPS client"),
        "names the https address it tried, in Docker's words: {}",
        stderr(&out)
    );
    let out = strict.berth(&["push", &image]);
    assert!(
        !out.status.success(),
        "a plain-HTTP push off loopback must fail"
    );
    assert!(
        stderr(&out).contains(&format!("https://{server}"))
            && stderr(&out).contains("server gave HTTP response to HTTPS client"),
        "{}",
        stderr(&out)
    );

    // Listed by its subnet: login, push, pull and run over plain HTTP.
    let insecure = Daemon::start_with(&["--insecure-registry", &subnet]);
    insecure.import_busybox(&image);
    let out = login(&insecure, config.path());
    assert!(out.status.success(), "login: {}", stderr(&out));
    let berth = |args: &[&str]| insecure.berth_with_config(config.path(), args);
    let out = berth(&["push", &image]);
    assert!(out.status.success(), "push: {}", stderr(&out));
    assert!(stdout(&out).contains(": Pushed"), "{}", stdout(&out));
    assert!(berth(&["rmi", &image]).status.success());
    let out = berth(&["pull", &image]);
    assert!(out.status.success(), "pull: {}", stderr(&out));
    let out = berth(&["run", "--rm", &image, "busybox", "echo", "over plain http"]);
    assert_eq!(stdout(&out).trim(), "over plain http", "{}", stderr(&out));

    // A malformed value is refused when the daemon starts.
    // (Bounded and on a root of its own, should the flag ever be taken.)
    let scratch = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .arg("10")
        .arg(common::berth_bin())
        .arg("daemon")
        .arg("--root")
        .arg(scratch.path().join("root"))
        .arg("--host")
        .arg(format!("unix://{}/berth.sock", scratch.path().display()))
        .args(["--insecure-registry", "http://reg.lan/"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("neither host[:port] nor a CIDR"),
        "{}",
        stderr(&out)
    );
}

/// A layer kept as a plain tar (imported here, as a build's or a commit's) reaches the
/// registry gzip-compressed, as `docker push` sends it: the manifest names the gzip blob,
/// the blob unpacks to the config's diff ID, a second push finds it there, and the gzip form
/// leaves the store with the image.
#[test]
fn a_plain_layer_is_pushed_gzip_compressed_and_its_gzip_form_goes_with_the_image() {
    use std::io::Read as _;
    require_root("the daemon runs as root");
    let registry = BerthRegistry::start(&[("alice", "s3cret")], &[]);
    let d = Daemon::start();
    let config = tempfile::tempdir().unwrap();
    let image = format!("{}/team/gz:1", registry.addr());
    let id = d.import_busybox(&image);
    let before = d.blobs();
    let out = d.login(config.path(), &registry.addr(), "alice", "s3cret");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = d.berth_with_config(config.path(), &["push", &image]);
    assert!(out.status.success(), "push: {}", stderr(&out));
    let auth = basic("alice", "s3cret");
    let accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
    let (status, _, body) = raw_http(
        registry.port(),
        "GET",
        "/v2/team/gz/manifests/1",
        &[("Authorization", &auth), ("Accept", accept)],
        b"",
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let manifest: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let layer = &manifest["layers"][0];
    assert!(
        layer["mediaType"].as_str().unwrap().ends_with("gzip"),
        "a gzip media type: {manifest}"
    );
    let digest = layer["digest"].as_str().unwrap().to_string();
    let (status, _, blob) = raw_http(
        registry.port(),
        "GET",
        &format!("/v2/team/gz/blobs/{digest}"),
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(status, 200);
    assert_eq!(&blob[..2], &[0x1f, 0x8b], "gzip bytes");
    assert_eq!(blob.len() as u64, layer["size"].as_u64().unwrap());
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&blob[..])
        .read_to_end(&mut tar)
        .unwrap();
    let inspect: serde_json::Value =
        serde_json::from_str(&d.ok(&["image", "inspect", &image])).unwrap();
    assert_eq!(
        berth_common::Digest::of(&tar).to_string(),
        inspect[0]["RootFS"]["Layers"][0].as_str().unwrap(),
        "the gzip blob is the layer"
    );
    let pushed = format!(
        "{}/team/gz@{}",
        registry.addr(),
        berth_common::Digest::of(&body)
    );
    assert!(
        inspect[0]["RepoDigests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == &serde_json::json!(pushed)),
        "the pushed manifest's digest is recorded: {inspect}"
    );
    let kept: Vec<String> = d
        .blobs()
        .into_iter()
        .filter(|b| !before.contains(b))
        .collect();
    assert_eq!(
        kept,
        [format!("sha256/{}", digest.trim_start_matches("sha256:"))],
        "the gzip form is kept beside the plain layer"
    );
    // Pushed again (and to another repository): nothing is compressed or sent anew.
    let out = d.berth_with_config(config.path(), &["push", &image]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Layer already exists"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains(&format!("1: digest: {}", berth_common::Digest::of(&body))),
        "the same manifest: {}",
        stdout(&out)
    );
    // Another daemon pulls and runs it.
    let other = Daemon::start();
    let out = other.login(config.path(), &registry.addr(), "alice", "s3cret");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = other.berth_with_config(config.path(), &["pull", &image]);
    assert!(out.status.success(), "pull: {}", stderr(&out));
    assert_eq!(
        other
            .ok(&["image", "inspect", "-f", "{{.Id}}", &image])
            .trim(),
        id
    );
    let out = other.berth(&["run", "--rm", &image, "busybox", "echo", "gzip layer"]);
    assert_eq!(stdout(&out).trim(), "gzip layer", "{}", stderr(&out));
    // A build there on the pulled (gzip) base: the base goes as it is, the new layer as gzip.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {image}\nCOPY note.txt /note.txt\n"),
    )
    .unwrap();
    std::fs::write(ctx.path().join("note.txt"), "on top\n").unwrap();
    let built = format!("{}/team/gz:2", registry.addr());
    other.ok(&["build", "-q", "-t", &built, ctx.path().to_str().unwrap()]);
    let out = other.berth_with_config(config.path(), &["push", &built]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (status, _, body2) = raw_http(
        registry.port(),
        "GET",
        "/v2/team/gz/manifests/2",
        &[("Authorization", &auth), ("Accept", accept)],
        b"",
    );
    assert_eq!(status, 200);
    let manifest2: serde_json::Value = serde_json::from_slice(&body2).unwrap();
    assert_eq!(
        manifest2["layers"][0]["digest"],
        digest.as_str(),
        "the base as it is"
    );
    assert!(
        manifest2["layers"][1]["mediaType"]
            .as_str()
            .unwrap()
            .ends_with("gzip"),
        "{manifest2}"
    );

    // A pulled image whose layer is a plain tar is pushed as pulled: the same manifest digest.
    let plain = Hostile::start(LayerMode::Honest, ManifestMode::Image);
    let out = d.berth_with_config(config.path(), &["pull", &plain.image()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pulled = d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{index .RepoDigests 0}}",
        &plain.image(),
    ]);
    let pulled_digest = pulled.trim().rsplit('@').next().unwrap().to_string();
    let copy = format!("{}/team/plain:1", registry.addr());
    d.ok(&["tag", &plain.image(), &copy]);
    let out = d.berth_with_config(config.path(), &["push", &copy]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("1: digest: {pulled_digest}")),
        "pushed byte for byte: {} (pulled as {pulled_digest})",
        stdout(&out)
    );

    // Removing the image removes its gzip form too.
    d.ok(&["rmi", &image]);
    assert!(
        !d.blobs()
            .iter()
            .any(|b| b.ends_with(digest.trim_start_matches("sha256:"))),
        "{:?}",
        d.blobs()
    );
}
