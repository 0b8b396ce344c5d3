//! `berth build` end to end: Dockerfiles built from contexts on disk against a daemon on a
//! throw-away root, each instruction's effect checked in the image (config and files, by
//! running the image), the cache's hits and misses, and the bad inputs.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Daemon, LoopbackServer, free_port, require_root, stderr, stdout};
use std::path::Path;

/// A context directory with these files.
fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    dir
}

fn build(d: &Daemon, dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["build"];
    args.extend_from_slice(extra);
    args.push(dir.to_str().unwrap());
    d.berth(&args)
}

fn build_ok(d: &Daemon, dir: &Path, extra: &[&str]) -> String {
    let out = build(d, dir, extra);
    assert!(
        out.status.success(),
        "build failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

fn inspect(d: &Daemon, image: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&d.ok(&["image", "inspect", image])).unwrap();
    v[0].clone()
}

/// Containers of the store (build steps must leave none).
fn container_count(d: &Daemon) -> usize {
    d.ok(&["ps", "-aq"]).lines().count()
}

#[test]
fn every_metadata_instruction_lands_in_the_config() {
    require_root("builds run steps in containers");
    let d = Daemon::start();
    d.import_busybox("busybox");
    let ctx = context(&[(
        "Dockerfile",
        r#"ARG BASE=busybox
FROM ${BASE}
ARG VERSION=1.0
ENV APP_HOME=/srv/app PATH_EXTRA="with space"
LABEL org.example.version=$VERSION "quoted key"=yes
WORKDIR $APP_HOME
WORKDIR sub
USER 1000:1000
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --retries=2 CMD ["true"]
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo triggered
ENTRYPOINT ["/bin/echo"]
CMD ["hello"]
"#,
    )]);
    let out = build_ok(
        &d,
        ctx.path(),
        &["-t", "meta:1", "--build-arg", "VERSION=2.5"],
    );
    assert!(
        out.contains("Step 1/16 : ARG BASE=busybox") || out.contains("Step 1/"),
        "{out}"
    );
    assert!(out.contains("Successfully tagged meta:1"), "{out}");
    let img = inspect(&d, "meta:1");
    let c = &img["Config"];
    let env: Vec<String> = serde_json::from_value(c["Env"].clone()).unwrap();
    assert!(env.contains(&"APP_HOME=/srv/app".to_string()), "{env:?}");
    assert!(
        env.contains(&"PATH_EXTRA=with space".to_string()),
        "{env:?}"
    );
    assert_eq!(c["Labels"]["org.example.version"], "2.5");
    assert_eq!(c["Labels"]["quoted key"], "yes");
    assert_eq!(c["WorkingDir"], "/srv/app/sub");
    assert_eq!(c["User"], "1000:1000");
    assert!(c["ExposedPorts"].get("8080/tcp").is_some(), "{c}");
    assert!(c["ExposedPorts"].get("53/udp").is_some(), "{c}");
    assert!(c["Volumes"].get("/data").is_some(), "{c}");
    assert_eq!(c["StopSignal"], "SIGTERM");
    assert_eq!(c["Healthcheck"]["Test"], serde_json::json!(["CMD", "true"]));
    assert_eq!(c["Healthcheck"]["Interval"], 5_000_000_000i64);
    assert_eq!(c["Shell"], serde_json::json!(["/bin/sh", "-ec"]));
    assert_eq!(c["OnBuild"], serde_json::json!(["RUN echo triggered"]));
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/echo"]));
    assert_eq!(c["Cmd"], serde_json::json!(["hello"]));
    // The image runs with what it was given.
    assert_eq!(
        d.ok(&["run", "--rm", "--user", "0", "meta:1"]).trim(),
        "hello"
    );
    // An image built FROM it runs its ONBUILD trigger first.
    let child = context(&[(
        "Dockerfile",
        "FROM meta:1\nUSER 0\nRUN test \"$(pwd)\" = /srv/app/sub\n",
    )]);
    let out = build_ok(&d, child.path(), &["-t", "child"]);
    assert!(out.contains("triggered"), "{out}");
    assert_eq!(
        inspect(&d, "child")["Config"]["OnBuild"],
        serde_json::Value::Null
    );
    assert_eq!(container_count(&d), 0, "build steps left containers");
}

#[test]
fn run_copy_and_add_change_the_files_and_the_cache_follows_the_content() {
    require_root("builds run steps in containers");
    let d = Daemon::start();
    d.import_busybox("busybox");
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\n\
             COPY app/ /app/\n\
             COPY --chown=1000:1000 --chmod=600 one.txt /owned/one.txt\n\
             COPY *.md /docs/\n\
             ADD bundle.tar /opt/\n\
             COPY <<EOF /etc/motd\nhello $$HOSTNAME\nEOF\n\
             WORKDIR /app\n\
             RUN echo built > stamp && ls /app > /listing\n\
             RUN [\"/bin/sh\", \"-c\", \"echo exec-form >> stamp\"]\n",
        ),
        ("app/main.sh", "echo main"),
        ("app/lib/util.sh", "echo util"),
        ("one.txt", "one"),
        ("a.md", "A"),
        ("b.md", "B"),
    ]);
    // A tar for ADD to unpack.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o644);
    b.append_data(&mut h, "pkg/inner.txt", &b"inside"[..])
        .unwrap();
    std::fs::write(ctx.path().join("bundle.tar"), b.into_inner().unwrap()).unwrap();

    let first = build_ok(&d, ctx.path(), &["-t", "files"]);
    assert!(!first.contains("Using cache"), "{first}");
    let run = |cmd: &str| d.ok(&["run", "--rm", "files", "sh", "-c", cmd]);
    assert_eq!(
        run("cat /app/main.sh /app/lib/util.sh"),
        "echo mainecho util"
    );
    assert_eq!(
        run("stat -c '%u:%g %a' /owned/one.txt").trim(),
        "1000:1000 600"
    );
    assert_eq!(run("cat /docs/a.md /docs/b.md"), "AB");
    assert_eq!(run("cat /opt/pkg/inner.txt"), "inside");
    assert!(run("cat /etc/motd").starts_with("hello "), "heredoc");
    assert_eq!(run("cat /app/stamp"), "built\nexec-form\n");
    assert!(run("cat /listing").contains("main.sh"));
    let history = d.ok(&["history", "--no-trunc", "files"]);
    assert!(history.contains("echo built"), "{history}");

    // Nothing changed: every step is a cache hit and the image is the same.
    let id = inspect(&d, "files")["Id"].clone();
    let again = build_ok(&d, ctx.path(), &["-t", "files"]);
    assert_eq!(again.matches("Using cache").count(), 8, "{again}");
    assert_eq!(inspect(&d, "files")["Id"], id);

    // A touched file (same content, new mtime) keeps the cache.
    let f = std::fs::File::options()
        .write(true)
        .open(ctx.path().join("one.txt"))
        .unwrap();
    f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
    let touched = build_ok(&d, ctx.path(), &["-t", "files"]);
    assert_eq!(touched.matches("Using cache").count(), 8, "{touched}");

    // A changed file invalidates its COPY and everything after it, not what came before.
    std::fs::write(ctx.path().join("one.txt"), "changed").unwrap();
    let changed = build_ok(&d, ctx.path(), &["-t", "files"]);
    assert_eq!(changed.matches("Using cache").count(), 1, "{changed}");
    assert_eq!(run("cat /owned/one.txt"), "changed");

    // --no-cache runs everything.
    let fresh = build_ok(&d, ctx.path(), &["--no-cache", "-t", "files"]);
    assert!(!fresh.contains("Using cache"), "{fresh}");
    assert_eq!(container_count(&d), 0, "build steps left containers");
}

#[test]
fn build_args_dockerignore_and_dockerfile_edits_decide_the_cache() {
    require_root("builds run steps in containers");
    let d = Daemon::start();
    d.import_busybox("busybox");
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nARG FLAVOUR=plain\nRUN echo $FLAVOUR > /flavour\nCOPY . /ctx/\n",
        ),
        (".dockerignore", "secrets/**\n*.key\n!keep.key\n"),
        ("secrets/deep/token", "s3cr3t"),
        ("server.key", "private"),
        ("keep.key", "public"),
        ("src/code.txt", "code"),
    ]);
    let hits = |out: &str| out.matches("Using cache").count();
    build_ok(&d, ctx.path(), &["-t", "ctx"]);
    let listing = d.ok(&["run", "--rm", "ctx", "find", "/ctx"]);
    assert!(
        listing.contains("/ctx/keep.key") && listing.contains("/ctx/src/code.txt"),
        "{listing}"
    );
    assert!(
        !listing.contains("secrets") && !listing.contains("server.key"),
        "{listing}"
    );
    assert_eq!(d.ok(&["run", "--rm", "ctx", "cat", "/flavour"]), "plain\n");

    // An ignored file changing changes nothing.
    std::fs::write(ctx.path().join("server.key"), "other").unwrap();
    assert_eq!(hits(&build_ok(&d, ctx.path(), &["-t", "ctx"])), 2);
    // A build arg misses from the RUN on.
    let out = build_ok(
        &d,
        ctx.path(),
        &["-t", "ctx", "--build-arg", "FLAVOUR=spicy"],
    );
    assert_eq!(hits(&out), 0, "{out}");
    assert_eq!(d.ok(&["run", "--rm", "ctx", "cat", "/flavour"]), "spicy\n");
    // .dockerignore edits change what COPY . sees.
    // (Ignoring the Dockerfile keeps it out of `COPY .`, as with Docker.)
    std::fs::write(ctx.path().join(".dockerignore"), "secrets/**\nDockerfile\n").unwrap();
    let out = build_ok(&d, ctx.path(), &["-t", "ctx"]);
    assert_eq!(hits(&out), 1, "{out}");
    let listing = d.ok(&["run", "--rm", "ctx", "find", "/ctx"]);
    assert!(listing.contains("server.key"), "{listing}");
    // A Dockerfile edit misses from the edited line on.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nARG FLAVOUR=plain\nRUN echo $FLAVOUR > /flavour\nCOPY . /ctx/\nENV EDITED=1\n",
    )
    .unwrap();
    let out = build_ok(&d, ctx.path(), &["-t", "ctx"]);
    assert_eq!(hits(&out), 2, "{out}");
}

#[test]
fn multi_stage_builds_copy_from_stages_and_skip_what_the_target_does_not_need() {
    require_root("builds run steps in containers");
    let d = Daemon::start();
    d.import_busybox("busybox");
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox AS builder\n\
         RUN mkdir /out && echo artefact > /out/bin\n\
         FROM busybox AS unused\n\
         RUN echo never-runs\n\
         FROM scratch AS final\n\
         COPY --from=builder /out/bin /bin-copy\n\
         COPY --from=busybox /bin/busybox /busybox\n\
         CMD [\"/busybox\", \"cat\", \"/bin-copy\"]\n",
    )]);
    let out = build_ok(&d, ctx.path(), &["-t", "multi"]);
    assert!(!out.contains("never-runs"), "the unused stage ran:\n{out}");
    assert_eq!(d.ok(&["run", "--rm", "multi"]), "artefact\n");
    // --target stops at a stage.
    let out = build_ok(&d, ctx.path(), &["-t", "first", "--target", "builder"]);
    assert!(out.contains("Using cache"), "{out}");
    assert_eq!(
        d.ok(&["run", "--rm", "first", "cat", "/out/bin"]),
        "artefact\n"
    );
    let err = stderr(&build(&d, ctx.path(), &["--target", "nosuch"]));
    assert!(
        err.contains("target stage \"nosuch\" could not be found"),
        "{err}"
    );
}

#[test]
fn bad_dockerfiles_and_failing_steps_are_clear_errors_that_leave_nothing() {
    require_root("builds run steps in containers");
    let d = Daemon::start();
    d.import_busybox("busybox");
    let cases: &[(&str, &str)] = &[
        (
            "FROM busybox\nRUNN echo\n",
            "Dockerfile:2: unknown instruction: RUNN",
        ),
        (
            "FROM busybox\nCOPY ../secret /x\n",
            "outside the build context",
        ),
        ("FROM busybox\nCOPY --from=nosuch /a /b\n", "nosuch"),
        (
            "FROM busybox\nCOPY missing.txt /x\n",
            "\"missing.txt\" not found",
        ),
        ("FROM busybox\nRUN <<EOF\necho never closed\n", "Dockerfile"),
        ("FROM nosuchimage\n", "nosuchimage"),
    ];
    for (text, expected) in cases {
        let ctx = context(&[("Dockerfile", text)]);
        let out = build(&d, ctx.path(), &[]);
        assert!(!out.status.success(), "{text} built");
        let err = stderr(&out);
        assert!(err.contains(expected), "{text}: {err}");
    }
    let blobs_before = d.blobs();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo partial > /f && echo to-stderr >&2 && exit 3\n",
    )]);
    let out = build(&d, ctx.path(), &["-t", "broken"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("returned a non-zero code: 3") && err.contains("exit 3"),
        "{err}"
    );
    assert!(
        err.contains("to-stderr"),
        "the error lacks the step's output: {err}"
    );
    assert_eq!(container_count(&d), 0, "the failed step left its container");
    assert_eq!(d.blobs(), blobs_before, "the failed step left a layer");
    assert!(
        d.fails(&["image", "inspect", "broken"])
            .contains("No such image")
    );
}

#[test]
fn a_daemon_killed_mid_build_leaves_nothing_and_the_build_resumes_from_the_cache() {
    require_root("builds run steps in containers");
    let mut d = Daemon::start();
    d.import_busybox("busybox");
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo first > /a\nARG NAP=60\nRUN sleep $NAP\n",
    )]);
    let mut client = d
        .berth_cmd(&["build", "-t", "resumed", ctx.path().to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the sleeping step's container, then kill the daemon under it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let running = d.ok(&["ps", "--no-trunc", "--format", "{{.Command}}"]);
        if running.contains("sleep") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the step never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    d.stop_with(9);
    let _ = client.wait();
    d.spawn();
    // The killed build's step container goes with the restore; its context is swept.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while container_count(&d) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the step container stayed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let contexts = d.root().join("build/contexts");
    let left: Vec<_> = std::fs::read_dir(&contexts)
        .map(|r| r.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "contexts left: {left:?}");
    let sleepers = std::process::Command::new("pgrep")
        .args(["-f", "sleep 60"])
        .output()
        .unwrap();
    assert!(
        stdout(&sleepers).trim().is_empty(),
        "the step's process survived"
    );
    // The step that finished before the kill is reused.
    let out = build_ok(&d, ctx.path(), &["-t", "resumed", "--build-arg", "NAP=0"]);
    assert_eq!(out.matches("Using cache").count(), 1, "{out}");
    assert_eq!(d.ok(&["run", "--rm", "resumed", "cat", "/a"]), "first\n");
}

/// A tar whose one entry has exactly this raw name (`set_path` would refuse `..`).
fn raw_tar(name: &str, data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, data).unwrap();
    b.into_inner().unwrap()
}

#[test]
fn hostile_and_oversized_contexts_are_refused_through_the_api() {
    require_root("the daemon runs as root");
    let d = Daemon::start_with(&["--build-context-limit", "65536"]);
    d.import_busybox("busybox");
    let escaping = raw_tar("../../escaped", b"x");
    let resp = d.http("POST", "/build?t=evil", &escaping);
    assert_eq!(resp.status, 200, "the error comes in the stream");
    let body = String::from_utf8_lossy(&resp.body).into_owned();
    assert!(
        body.contains("errorDetail") && body.contains("not a valid tar"),
        "{body}"
    );
    assert!(!d.root().join("build/escaped").exists());
    assert!(!d.root().join("escaped").exists());

    let mut big = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(1 << 20);
    h.set_mode(0o644);
    big.append_data(&mut h, "big.bin", &vec![0u8; 1 << 20][..])
        .unwrap();
    let resp = d.http("POST", "/build", &big.into_inner().unwrap());
    let body = String::from_utf8_lossy(&resp.body).into_owned();
    assert!(
        body.contains("larger than the limit of 65536 bytes"),
        "{body}"
    );

    let resp = d.http(
        "POST",
        "/build?buildargs=%7Bnot-json",
        &raw_tar("Dockerfile", b"FROM busybox\n"),
    );
    assert_eq!(resp.status, 400, "{}", String::from_utf8_lossy(&resp.body));
    let resp = d.http(
        "POST",
        "/build?version=2",
        &raw_tar("Dockerfile", b"FROM busybox\n"),
    );
    assert_eq!(resp.status, 400);
    // A gzipped context builds.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &raw_tar("Dockerfile", b"FROM busybox\nENV GZ=1\n"))
        .unwrap();
    let resp = d.http("POST", "/build?t=gz", &gz.finish().unwrap());
    let body = String::from_utf8_lossy(&resp.body).into_owned();
    assert!(body.contains("\"aux\":{\"ID\":\"sha256:"), "{body}");
    assert_eq!(container_count(&d), 0);
}

#[test]
fn run_mounts_see_caches_binds_and_secrets_that_never_reach_the_image() {
    require_root("builds run steps in containers");
    let d = Daemon::start();
    d.import_busybox("busybox");
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\n\
             RUN --mount=type=cache,target=/cache sh -c 'echo run >> /cache/log; wc -l < /cache/log > /runs'\n\
             RUN --mount=type=tmpfs,target=/scratch sh -c 'echo x > /scratch/f && grep -q \" /scratch tmpfs \" /proc/mounts'\n\
             RUN --mount=type=bind,source=data,target=/data cp /data/in.txt /copied\n\
             RUN --mount=type=secret,id=token,required sh -c 'sha256sum /run/secrets/token | cut -d\" \" -f1 > /secret-sum'\n",
        ),
        ("data/in.txt", "bound"),
        (".dockerignore", "token.txt\n"),
        ("token.txt", "s3cr3t-value"),
    ]);
    let secret = ctx.path().join("token.txt");
    let secret_flag = format!("id=token,src={}", secret.display());
    build_ok(&d, ctx.path(), &["-t", "mounts", "--secret", &secret_flag]);
    let run = |cmd: &str| d.ok(&["run", "--rm", "mounts", "sh", "-c", cmd]);
    assert_eq!(run("cat /runs").trim(), "1");
    assert_eq!(run("cat /copied"), "bound");
    let sum = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"s3cr3t-value"));
    assert_eq!(
        run("cat /secret-sum").trim(),
        sum,
        "the step did not see the secret"
    );
    for gone in ["/cache", "/scratch", "/data", "/run/secrets"] {
        assert_eq!(
            run(&format!("test -e {gone} && echo present || echo absent")).trim(),
            "absent",
            "{gone} was committed"
        );
    }
    // The cache mount kept its contents for the next build (which runs the step again).
    build_ok(
        &d,
        ctx.path(),
        &["-t", "mounts", "--no-cache", "--secret", &secret_flag],
    );
    assert_eq!(run("cat /runs").trim(), "2");
    // The secret is in no layer, no config and no history.
    for blob in d.blobs() {
        let bytes = std::fs::read(d.root().join("content/blobs").join(&blob)).unwrap();
        assert!(
            !bytes.windows(12).any(|w| w == b"s3cr3t-value"),
            "the secret is in blob {blob}"
        );
    }
    let history = d.ok(&["history", "--no-trunc", "mounts"]);
    assert!(!history.contains("s3cr3t-value"), "{history}");
    // A required secret that was not given fails the step, saying which.
    let err = stderr(&build(&d, ctx.path(), &["--no-cache"]));
    assert!(err.contains("secret token is required"), "{err}");
    assert_eq!(container_count(&d), 0);
    // builder prune removes the cache mount too.
    d.ok(&["builder", "prune", "-af"]);
    assert!(
        std::fs::read_dir(d.root().join("build/cache-mounts"))
            .map(|r| r.count())
            .unwrap_or(0)
            == 0
    );
}

#[test]
fn independent_stages_run_at_the_same_time() {
    require_root("builds run steps in containers");
    let d = Daemon::start();
    d.import_busybox("busybox");
    // Each stage waits (up to 20 s) for the other's mark in a shared cache mount: run one after
    // the other, the first would give up.
    let wait_for = |mine: &str, other: &str| {
        format!(
            "RUN --mount=type=cache,target=/sync,id=rendezvous sh -c 'touch /sync/{mine}; i=0; while [ ! -e /sync/{other} ]; do i=$((i+1)); [ $i -gt 200 ] && exit 9; sleep 0.1; done; echo {mine} > /{mine}'\n"
        )
    };
    let dockerfile = format!(
        "FROM busybox AS left\n{}FROM busybox AS right\n{}FROM busybox\nCOPY --from=left /left /left\nCOPY --from=right /right /right\n",
        wait_for("left", "right"),
        wait_for("right", "left"),
    );
    let ctx = context(&[("Dockerfile", &dockerfile)]);
    let out = build_ok(&d, ctx.path(), &["-t", "parallel"]);
    // The output still reads stage by stage, in order.
    let left = out.find("Step 2/7").unwrap();
    let right = out.find("Step 4/7").unwrap();
    assert!(left < right, "{out}");
    assert_eq!(
        d.ok(&["run", "--rm", "parallel", "cat", "/left", "/right"]),
        "left\nright\n"
    );
}

#[test]
fn deletions_in_a_step_hold_in_the_image() {
    require_root("builds run steps in containers");
    let d = Daemon::start();
    d.import_busybox("busybox");
    // A step's writable layer becomes its layer's snapshot as it is: its whiteouts (a removed
    // file) and opaque directories (a directory removed and made again) must hide what is below.
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN rm /bin/ls && mkdir -p /d && echo x > /d/f\nRUN rm -r /d && mkdir /d && echo y > /d/g\n",
    )]);
    build_ok(&d, ctx.path(), &["-t", "deleted"]);
    let out = d.ok(&[
        "run",
        "--rm",
        "deleted",
        "sh",
        "-c",
        "test -e /bin/ls && echo ls-present; ls /d",
    ]);
    assert_eq!(out, "g\n");
}

/// The sending line's "N of M files changed".
fn changed_files(out: &str) -> String {
    let line = out
        .lines()
        .find(|l| l.starts_with("Sending build context to Berth daemon"))
        .unwrap_or_else(|| panic!("no incremental sending line in:\n{out}"));
    line.split('(')
        .nth(1)
        .unwrap()
        .trim_end_matches(')')
        .to_string()
}

#[test]
fn a_rebuild_sends_only_the_files_that_changed_and_trusts_no_timestamp_alone() {
    require_root("builds run steps in containers");
    let d = Daemon::start();
    d.import_busybox("busybox");
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY tree/ /tree/\nCOPY top.txt /top.txt\n",
        ),
        ("tree/a.txt", "alpha"),
        ("tree/b.txt", "bravo"),
        ("top.txt", "top"),
    ]);
    // Files changed in the last two seconds are always sent; let these settle.
    let settle = || std::thread::sleep(std::time::Duration::from_millis(2200));
    settle();
    let out = build_ok(&d, ctx.path(), &["-t", "inc"]);
    assert_eq!(changed_files(&out), "4 of 4 files changed", "{out}");
    let out = build_ok(&d, ctx.path(), &["-t", "inc"]);
    assert_eq!(changed_files(&out), "0 of 4 files changed", "{out}");
    assert_eq!(out.matches("Using cache").count(), 2, "{out}");
    // Each of the three steps is timed when the next one starts or the build ends.
    assert_eq!(out.matches(" ---> done in ").count(), 3, "{out}");

    // An edit is sent (it is fresh) and its COPY runs again with the new contents.
    std::fs::write(ctx.path().join("tree/a.txt"), "ALPHA").unwrap();
    let out = build_ok(&d, ctx.path(), &["-t", "inc"]);
    assert_eq!(changed_files(&out), "1 of 4 files changed", "{out}");
    assert_eq!(d.ok(&["run", "--rm", "inc", "cat", "/tree/a.txt"]), "ALPHA");

    // Same size, mtime put back: the ctime in the stamp still tells it changed.
    let b = ctx.path().join("tree/b.txt");
    let old = std::fs::metadata(&b).unwrap().modified().unwrap();
    settle();
    std::fs::write(&b, "BRAVO").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&b)
        .unwrap()
        .set_modified(old)
        .unwrap();
    settle();
    let out = build_ok(&d, ctx.path(), &["-t", "inc"]);
    assert!(
        changed_files(&out).starts_with("1 of 4") || changed_files(&out).starts_with("2 of 4"),
        "{out}"
    );
    assert_eq!(d.ok(&["run", "--rm", "inc", "cat", "/tree/b.txt"]), "BRAVO");

    // A removed file leaves the context; the session is cache that prune takes.
    std::fs::remove_file(ctx.path().join("tree/a.txt")).unwrap();
    build_ok(&d, ctx.path(), &["-t", "inc"]);
    let out = d.berth(&["run", "--rm", "inc", "cat", "/tree/a.txt"]);
    assert!(!out.status.success(), "a.txt should be gone from the image");
    let df = d.ok(&["system", "df", "-v"]);
    assert!(df.contains("source.local"), "{df}");
    d.ok(&["builder", "prune", "-af"]);
    let sessions = d.root().join("build/sessions");
    assert_eq!(
        std::fs::read_dir(&sessions).map_or(0, |r| r.count()),
        0,
        "builder prune leaves no session"
    );
    // After the prune the whole context goes again and the build still works.
    let out = build_ok(&d, ctx.path(), &["-t", "inc"]);
    assert_eq!(changed_files(&out), "3 of 3 files changed", "{out}");
}

#[test]
fn hostile_session_uploads_are_refused_and_keep_nothing() {
    require_root("the daemon runs as root");
    let d = Daemon::start();
    d.import_busybox("busybox");
    let key = "a".repeat(64);
    let manifest = serde_json::json!([
        {"path": "Dockerfile", "kind": "file", "mode": 420, "mtime": 0, "size": 13}
    ]);
    // The daemon asks for every file it does not hold.
    let resp = d.http(
        "POST",
        &format!("/build/context?session={key}"),
        manifest.to_string().as_bytes(),
    );
    assert_eq!(resp.status, 200);
    let need: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(need["need"], serde_json::json!(["Dockerfile"]));
    let session_tar = |entries: &[(&str, &[u8])]| {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    };
    let expect_error = |body: &[u8], what: &str| {
        let resp = d.http("POST", &format!("/build?session={key}"), body);
        let text = String::from_utf8_lossy(&resp.body).into_owned();
        assert!(
            text.contains("errorDetail") && text.contains(what),
            "{text}"
        );
    };
    let m = manifest.to_string();
    // No manifest first; a file the manifest does not name; a manifest path out of the context;
    // a file neither sent nor held.
    expect_error(
        &session_tar(&[("Dockerfile", b"FROM busybox\n")]),
        "must send .berth-manifest first",
    );
    expect_error(
        &session_tar(&[(".berth-manifest", m.as_bytes()), ("other", b"x")]),
        "not a file of the context manifest",
    );
    let escaping = r#"[{"path":"../x","kind":"file","mode":420,"mtime":0,"size":1}]"#;
    expect_error(
        &session_tar(&[(".berth-manifest", escaping.as_bytes())]),
        "not a clean path inside the context",
    );
    expect_error(
        &session_tar(&[(".berth-manifest", m.as_bytes())]),
        "neither sent nor held",
    );
    // A manifest of a big tree (60,000 paths, some 5 MB of JSON) is taken whole.
    let big: Vec<serde_json::Value> = (0..60_000)
        .map(|i| serde_json::json!({"path": format!("node_modules/pkg{i}/index.js"), "kind": "file", "mode": 420, "mtime": 0, "size": 1}))
        .collect();
    let big = serde_json::to_vec(&big).unwrap();
    assert!(big.len() > 4 << 20);
    let resp = d.http("POST", &format!("/build/context?session={key}"), &big);
    assert_eq!(
        resp.status,
        200,
        "{}",
        String::from_utf8_lossy(&resp.body[..200.min(resp.body.len())])
    );
    let need: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(need["need"].as_array().unwrap().len(), 60_000);
    let resp = d.http("POST", "/build/context?session=..%2Fup", b"[]");
    assert_eq!(resp.status, 400, "{}", String::from_utf8_lossy(&resp.body));
    // A well-formed upload builds.
    let resp = d.http(
        "POST",
        &format!("/build?session={key}&t=ok"),
        &session_tar(&[
            (".berth-manifest", m.as_bytes()),
            ("Dockerfile", b"FROM busybox\n"),
        ]),
    );
    let text = String::from_utf8_lossy(&resp.body).into_owned();
    assert!(text.contains("\"aux\":{\"ID\":\"sha256:"), "{text}");
    assert!(!d.root().join("x").exists() && !d.root().join("build/x").exists());
}

/// Runs git in `dir`, failing the test when it fails.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    stdout(&out)
}

/// A git daemon serving the repositories under `base` on a loopback port (git-daemon itself,
/// not `git daemon`, whose wrapper would outlive a kill).
fn serve_git(base: &Path) -> LoopbackServer {
    let port = free_port();
    let exec_path = git(base, &["--exec-path"]);
    LoopbackServer::spawn(
        std::process::Command::new(Path::new(exec_path.trim()).join("git-daemon"))
            .args(["--export-all", "--reuseaddr", "--listen=127.0.0.1"])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base),
        port,
    )
}

#[test]
fn a_git_repository_builds_at_a_ref_and_subdirectory() {
    require_root("builds run steps in containers");
    let d = Daemon::start();
    d.import_busybox("busybox");
    let base = tempfile::tempdir().unwrap();
    let work = base.path().join("work");
    std::fs::create_dir_all(work.join("app")).unwrap();
    git(&work, &["init", "-q"]);
    std::fs::write(work.join("app/Dockerfile"), "FROM busybox\nCOPY msg /msg\n").unwrap();
    std::fs::write(work.join("app/msg"), "v1").unwrap();
    std::fs::write(work.join("Dockerfile"), "FROM busybox\nCOPY . /repo/\n").unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-qm", "one"]);
    git(&work, &["tag", "v1"]);
    let first = git(&work, &["rev-parse", "HEAD"]).trim().to_string();
    std::fs::write(work.join("app/msg"), "v2").unwrap();
    git(&work, &["commit", "-qam", "two"]);
    git(base.path(), &["clone", "-q", "--bare", "work", "repo.git"]);
    let server = serve_git(base.path());
    let url = format!("git://127.0.0.1:{}/repo.git", server.port);

    build_ok(&d, Path::new(&format!("{url}#main:app")), &["-t", "g:main"]);
    assert_eq!(d.ok(&["run", "--rm", "g:main", "cat", "/msg"]), "v2");
    build_ok(&d, Path::new(&format!("{url}#v1:app")), &["-t", "g:tag"]);
    assert_eq!(d.ok(&["run", "--rm", "g:tag", "cat", "/msg"]), "v1");
    // A commit the server does not serve by name is found in the full history.
    build_ok(
        &d,
        Path::new(&format!("{url}#{first}:app")),
        &["-t", "g:commit"],
    );
    assert_eq!(d.ok(&["run", "--rm", "g:commit", "cat", "/msg"]), "v1");
    // `remote=` makes the daemon clone it (what the Python SDK sends for a git path).
    let resp = d.http(
        "POST",
        &format!(
            "/build?t=g:remote&remote={}",
            berth_registry::auth::query_escape(&format!("{url}#v1:app"))
        ),
        b"",
    );
    let body = String::from_utf8_lossy(&resp.body).into_owned();
    assert!(body.contains("\"aux\":{\"ID\":\"sha256:"), "{body}");
    assert_eq!(d.ok(&["run", "--rm", "g:remote", "cat", "/msg"]), "v1");
    // The whole repository: its .git stays out of the context.
    build_ok(&d, Path::new(&url), &["-t", "g:root"]);
    let listing = d.ok(&["run", "--rm", "g:root", "ls", "-a", "/repo"]);
    assert!(
        listing.contains("app") && !listing.contains(".git"),
        "{listing}"
    );

    for (spec, wanted) in [
        (format!("{url}#nosuch:app"), "nosuch"),
        (format!("{url}#main:../.."), "not a directory inside"),
        (format!("{url}#main:missing"), "is not a directory inside"),
    ] {
        let out = build(&d, Path::new(&spec), &[]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains(wanted), "{spec}: {}", stderr(&out));
    }
    // The checkouts are gone.
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("berth-git-context-")
        })
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_locked_cache_mount_makes_parallel_stages_take_turns() {
    require_root("builds run steps in containers");
    let d = Daemon::start();
    d.import_busybox("busybox");
    // Both stages run at once (nothing orders them); each fails if the other is inside.
    let turn = |who: &str| {
        format!(
            "RUN --mount=type=cache,id=turns,target=/c,sharing=locked sh -c 'echo {who}; test ! -e /c/busy && touch /c/busy && sleep 1 && rm /c/busy && echo {who} > /done'\n"
        )
    };
    let dockerfile = format!(
        "FROM busybox AS a\n{}FROM busybox AS b\n{}FROM busybox\nCOPY --from=a /done /a\nCOPY --from=b /done /b\n",
        turn("a"),
        turn("b")
    );
    let ctx = context(&[("Dockerfile", &dockerfile)]);
    build_ok(&d, ctx.path(), &["-t", "turns"]);
    assert_eq!(d.ok(&["run", "--rm", "turns", "cat", "/a", "/b"]), "a\nb\n");
}

/// A Python web server on a loopback port serving `dir` (over TLS with `tls` = (cert, key)).
fn serve_web(dir: &Path, tls: Option<(&Path, &Path)>) -> LoopbackServer {
    let port = free_port();
    let wrap = match tls {
        None => String::new(),
        Some((cert, key)) => format!(
            "c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain({:?}, {:?}); s.socket = c.wrap_socket(s.socket, server_side=True); ",
            cert.display().to_string(),
            key.display().to_string()
        ),
    };
    let script = format!(
        "import functools, http.server, ssl\nh = functools.partial(http.server.SimpleHTTPRequestHandler, directory={:?})\ns = http.server.ThreadingHTTPServer(('127.0.0.1', {port}), h)\n{wrap}\ns.serve_forever()\n",
        dir.display().to_string()
    );
    LoopbackServer::spawn(
        std::process::Command::new("python3").arg("-c").arg(script),
        port,
    )
}

#[test]
fn add_downloads_urls_over_http_and_https_checked_and_keyed_by_content() {
    require_root("builds run steps in containers");
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("file.txt"), "downloaded\n").unwrap();
    let cert = files.path().join("cert.pem");
    let key = files.path().join("key.pem");
    // A private CA and a certificate for 127.0.0.1 it signed.
    let made = std::process::Command::new("sh")
        .arg("-ec")
        .arg(
            "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=berth-test-ca -keyout ca.key -out ca.pem
             openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout key.pem -out leaf.csr
             echo subjectAltName=IP:127.0.0.1 > leaf.ext
             openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile leaf.ext -out cert.pem",
        )
        .current_dir(files.path())
        .output()
        .unwrap();
    assert!(made.status.success(), "openssl: {}", stderr(&made));
    let http = serve_web(files.path(), None);
    let https = serve_web(files.path(), Some((&cert, &key)));
    // The daemon trusts the test's certificate the way a host trusts a private CA.
    let ca = files.path().join("ca.pem");
    let d = Daemon::start_with_env(&[("SSL_CERT_FILE", ca.to_str().unwrap())]);
    d.import_busybox("busybox");
    let good = berth_common::Digest::of(b"downloaded\n").hex().to_string();
    let dockerfile = format!(
        "FROM busybox\nADD http://127.0.0.1:{p}/file.txt /dl/\nADD --chmod=644 https://127.0.0.1:{s}/file.txt /tls.txt\nADD --checksum=sha256:{good} http://127.0.0.1:{p}/file.txt?x=1 /checked.txt\n",
        p = http.port,
        s = https.port
    );
    let ctx = context(&[("Dockerfile", &dockerfile)]);
    build_ok(&d, ctx.path(), &["-t", "dl"]);
    let check = |cmd: &str| d.ok(&["run", "--rm", "dl", "sh", "-c", cmd]);
    assert_eq!(
        check("cat /dl/file.txt /tls.txt /checked.txt"),
        "downloaded\n".repeat(3)
    );
    assert_eq!(check("stat -c '%a' /dl/file.txt /tls.txt"), "600\n644\n");
    // Same content: all cached; changed content: the ADDs run again.
    let out = build_ok(&d, ctx.path(), &["-t", "dl"]);
    assert_eq!(out.matches("Using cache").count(), 3, "{out}");
    std::fs::write(files.path().join("file.txt"), "changed!!!\n").unwrap();
    let out = build(&d, ctx.path(), &["-t", "dl"]);
    assert!(
        !out.status.success(),
        "the pinned checksum no longer matches"
    );
    assert!(stderr(&out).contains("digest mismatch"), "{}", stderr(&out));
    // The new content missed the cache: the first two ADDs ran again before the third failed.
    assert_eq!(
        stdout(&out).matches("Using cache").count(),
        0,
        "{}",
        stdout(&out)
    );
    let unpinned = ctx.path().join("Dockerfile");
    std::fs::write(
        &unpinned,
        dockerfile.lines().take(3).collect::<Vec<_>>().join("\n"),
    )
    .unwrap();
    build_ok(&d, ctx.path(), &["-t", "dl"]);
    assert_eq!(check("cat /dl/file.txt"), "changed!!!\n");

    // A context at a URL, a tar or a lone Dockerfile, which the daemon fetches (`remote=`).
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (name, data) in [
        ("Dockerfile", &b"FROM busybox\nCOPY hello /hello\n"[..]),
        ("hello", b"from a tarball\n"),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        tar.append_data(&mut h, name, data).unwrap();
    }
    let gz = tar.into_inner().unwrap().finish().unwrap();
    std::fs::write(files.path().join("ctx.tar.gz"), gz).unwrap();
    std::fs::write(
        files.path().join("Dockerfile.txt"),
        "FROM busybox\nENV LONE=1\n",
    )
    .unwrap();
    let tarball = format!("http://127.0.0.1:{}/ctx.tar.gz", http.port);
    build_ok(&d, Path::new(&tarball), &["-t", "remote:tar"]);
    assert_eq!(
        d.ok(&["run", "--rm", "remote:tar", "cat", "/hello"]),
        "from a tarball\n"
    );
    let lone = format!("https://127.0.0.1:{}/Dockerfile.txt", https.port);
    build_ok(&d, Path::new(&lone), &["-t", "remote:lone"]);
    let env = inspect(&d, "remote:lone")["Config"]["Env"].to_string();
    assert!(env.contains("LONE=1"), "{env}");
    let resp = d.http("POST", "/build?remote=ftp%3A%2F%2Fx", b"");
    assert_eq!(resp.status, 200);
    assert!(String::from_utf8_lossy(&resp.body).contains("neither a git repository"));

    let missing = context(&[(
        "Dockerfile",
        &format!(
            "FROM busybox\nADD http://127.0.0.1:{}/nosuch /x\n",
            http.port
        ),
    )]);
    let out = build(&d, missing.path(), &[]);
    assert!(stderr(&out).contains("404"), "{}", stderr(&out));
    // A daemon that does not trust the certificate refuses the download.
    let untrusting = Daemon::start();
    untrusting.import_busybox("busybox");
    let tls_only = context(&[(
        "Dockerfile",
        &format!(
            "FROM busybox\nADD https://127.0.0.1:{}/file.txt /x\n",
            https.port
        ),
    )]);
    let out = build(&untrusting, tls_only.path(), &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("certificate"), "{}", stderr(&out));
    assert_eq!(container_count(&d), 0);
}

#[test]
fn platforms_this_host_cannot_run_are_refused_and_scratch_takes_the_one_asked() {
    require_root("builds run steps in containers");
    let d = Daemon::start();
    d.import_busybox("busybox");
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let host = format!("linux/{arch}");
    let other = if host.ends_with("arm64") {
        "linux/amd64"
    } else {
        "linux/arm64"
    };
    let ctx = context(&[
        ("Dockerfile", "FROM busybox\nRUN true\n"),
        ("data.txt", "x"),
    ]);
    // The host's own platform builds; another is refused up front, by name.
    build_ok(&d, ctx.path(), &["--platform", &host, "-t", "native"]);
    let out = build(&d, ctx.path(), &["--platform", other]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("cannot build for {other}")),
        "{}",
        stderr(&out)
    );
    // FROM --platform: a local image of another platform is not silently used.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM --platform={other} busybox\nRUN true\n"),
    )
    .unwrap();
    let out = build(&d, ctx.path(), &[]);
    assert!(
        stderr(&out).contains("the base image is linux/"),
        "{}",
        stderr(&out)
    );
    // A scratch stage becomes an image of the platform asked (only copies fill it)...
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM --platform={other} scratch\nCOPY data.txt /\n"),
    )
    .unwrap();
    build_ok(&d, ctx.path(), &["-t", "foreign"]);
    let img = inspect(&d, "foreign");
    assert_eq!(
        format!(
            "{}/{}",
            img["Os"].as_str().unwrap(),
            img["Architecture"].as_str().unwrap()
        ),
        other
    );
    // ...and a RUN in it is refused with the reason, not an exec format error.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM --platform={other} scratch\nCOPY data.txt /\nRUN true\n"),
    )
    .unwrap();
    let out = build(&d, ctx.path(), &[]);
    assert!(
        stderr(&out).contains("cannot run on this"),
        "{}",
        stderr(&out)
    );
    assert_eq!(container_count(&d), 0);
}

#[test]
fn bind_mounts_from_a_stage_are_read_only_views_and_never_lead_to_the_host() {
    require_root("builds run steps in containers");
    let d = Daemon::start();
    d.import_busybox("busybox");
    // A file on the host a symlink in a stage names: a bind must find the stage's own path
    // (which does not exist), never this one.
    let marker = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(marker.path(), "host secret").unwrap();
    let dockerfile = format!(
        "FROM busybox AS builder\n\
         RUN mkdir /out && echo made > /out/result && ln -s {} /out/leak\n\
         FROM busybox\n\
         RUN --mount=type=bind,from=builder,source=/out,target=/in sh -c 'cat /in/result > /got; touch /in/new 2>/dev/null && echo writable > /ro || echo read-only > /ro'\n\
         RUN --mount=type=bind,from=builder,source=/out,target=/in,rw sh -c 'echo scribble > /in/result && cat /in/result > /rw'\n\
         RUN --mount=type=bind,from=builder,source=/out,target=/in cat /in/result > /after\n",
        marker.path().display()
    );
    let ctx = context(&[("Dockerfile", &dockerfile)]);
    build_ok(&d, ctx.path(), &["-t", "binds"]);
    let run = |cmd: &str| d.ok(&["run", "--rm", "binds", "sh", "-c", cmd]);
    assert_eq!(run("cat /got").trim(), "made");
    assert_eq!(
        run("cat /ro").trim(),
        "read-only",
        "a bind without rw is read-only"
    );
    assert_eq!(run("cat /rw").trim(), "scribble", "rw lets the step write");
    assert_eq!(
        run("cat /after").trim(),
        "made",
        "an rw bind's writes go nowhere"
    );
    assert_eq!(
        run("test -e /in && echo present || echo absent").trim(),
        "absent"
    );
    assert_eq!(container_count(&d), 0, "no helper container is left");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let root = d.root().display().to_string();
    assert!(
        !mounts.lines().any(|l| l.contains(&root)),
        "a stage's root is still mounted: {}",
        mounts
            .lines()
            .filter(|l| l.contains(&root))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The stage's symlink to a host path is resolved inside the stage: not found there.
    let leak = format!(
        "FROM busybox AS builder\n\
         RUN mkdir /out && ln -s {} /out/leak\n\
         FROM busybox\n\
         RUN --mount=type=bind,from=builder,source=/out/leak,target=/leak cat /leak > /leaked\n",
        marker.path().display()
    );
    let ctx = context(&[("Dockerfile", &leak)]);
    let out = build(&d, ctx.path(), &["-t", "leak"]);
    assert!(
        !out.status.success(),
        "a bind followed a symlink to the host: {}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
    assert_eq!(container_count(&d), 0, "no helper container is left");
}
