//! Containers through the unmodified `docker` CLI (v28) against `berth daemon`: run (attached,
//! detached, `--rm`, `-i`, `-t`), ps, logs, exec (plain and with a pty), stop/start/restart,
//! rm -f, inspect, wait, volumes across containers. Needs root and busybox; skips only when the
//! docker client is absent.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Daemon, docker_bin, stderr, stdout};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Docker {
    d: Daemon,
}

impl Docker {
    /// A daemon with the busybox image, or `None` when docker is not installed.
    fn start() -> Option<Docker> {
        docker_bin()?;
        let d = Daemon::start();
        d.import_busybox("busybox:latest");
        Some(Docker { d })
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let config = self.d.dir.path().join("docker-config");
        std::fs::create_dir_all(&config).unwrap();
        let mut c = Command::new(docker_bin().unwrap());
        c.args(args)
            .env("DOCKER_HOST", self.d.host())
            .env("DOCKER_CONFIG", &config)
            .env_remove("DOCKER_API_VERSION")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run docker")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed ({}):\n{}\n{}",
            out.status,
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    /// Runs `docker ARGS` inside a pseudo terminal (util-linux `script`), feeding `input`.
    fn in_pty(&self, args: &str, input: &str) -> Output {
        let config = self.d.dir.path().join("docker-config");
        let line = format!("{} {args}", docker_bin().unwrap().display());
        let mut c = Command::new("script");
        c.args(["-qec", &line, "/dev/null"])
            .env("DOCKER_HOST", self.d.host())
            .env("DOCKER_CONFIG", &config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("script");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            // Let the remote shell start before typing, as a person would.
            std::thread::sleep(Duration::from_millis(700));
            stdin.write_all(input.as_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(700));
        }
        child.wait_with_output().unwrap()
    }
}

#[test]
fn docker_run_prints_output_and_exit_codes() {
    let Some(dk) = Docker::start() else {
        common::missing_tool("docker client not installed");
        return;
    };
    assert_eq!(dk.ok(&["run", "--rm", "busybox", "echo", "hi"]), "hi\n");
    let out = dk.run(&["run", "--rm", "busybox", "sh", "-c", "echo err >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stderr(&out), "err\n");
    // --rm removed both containers.
    assert_eq!(dk.ok(&["ps", "-aq"]), "");
    // stdin with -i.
    let mut child = dk
        .cmd(&["run", "-i", "--rm", "busybox", "tr", "a-z", "A-Z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"shout\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "SHOUT\n");
    // An unknown command fails like Docker (127) and leaves a created container behind.
    let out = dk.run(&["run", "--name", "bad", "busybox", "no-such-cmd"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    let out = dk.run(&["run", "--rm", "no-such-image"]);
    assert_eq!(out.status.code(), Some(125));
}

#[test]
fn docker_manages_a_detached_container() {
    let Some(dk) = Docker::start() else {
        common::missing_tool("docker client not installed");
        return;
    };
    let id = dk.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-l",
        "tier=front",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; echo started; while true; do sleep 0.1; done",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    let ps = dk.ok(&["ps", "--format", "{{.Names}} {{.Status}} {{.Labels}}"]);
    assert!(ps.starts_with("web Up "), "{ps}");
    assert!(ps.contains("tier=front"), "{ps}");
    wait_for(|| dk.ok(&["logs", "web"]) == "started\n");
    assert_eq!(
        dk.ok(&["exec", "web", "cat", "/etc/hostname"]).trim(),
        &id[..12]
    );
    let out = dk.run(&["exec", "web", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(
        dk.ok(&["exec", "-u", "nobody", "web", "id", "-u"]).trim(),
        "65534"
    );
    assert_eq!(
        dk.ok(&[
            "exec",
            "-e",
            "X=1",
            "-w",
            "/tmp",
            "web",
            "sh",
            "-c",
            "echo $X $PWD"
        ])
        .trim(),
        "1 /tmp"
    );
    dk.ok(&["stop", "web"]);
    assert_eq!(
        dk.ok(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
            "web"
        ])
        .trim(),
        "exited 0"
    );
    assert_eq!(dk.ok(&["ps", "-q"]), "");
    dk.ok(&["start", "web"]);
    dk.ok(&["restart", "-t", "1", "web"]);
    assert_eq!(
        dk.ok(&["inspect", "--format", "{{.State.Running}}", "web"])
            .trim(),
        "true"
    );
    let out = dk.run(&["rm", "web"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("container is running"),
        "{}",
        stderr(&out)
    );
    dk.ok(&["rm", "-f", "web"]);
    assert_eq!(dk.ok(&["ps", "-aq"]), "");

    let id = dk.ok(&["run", "-d", "busybox", "sh", "-c", "sleep 0.2; exit 4"]);
    assert_eq!(dk.ok(&["wait", id.trim()]).trim(), "4");
}

#[test]
fn docker_exec_and_run_with_a_terminal() {
    let Some(dk) = Docker::start() else {
        common::missing_tool("docker client not installed");
        return;
    };
    if Command::new("script").arg("--version").output().is_err() {
        common::missing_tool("script(1) missing");
        return;
    }
    dk.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    let out = dk.in_pty("exec -it box sh", "tty; echo sum-$((40+2)); exit 5\n");
    let text = stdout(&out);
    assert!(text.contains("/dev/pts/"), "{text}");
    assert!(text.contains("sum-42"), "{text}");
    assert_eq!(out.status.code(), Some(5), "{text}");
    let out = dk.in_pty("run --rm -it busybox sh -c 'tty; echo $TERM'", "");
    let text = stdout(&out);
    assert!(text.contains("/dev/pts/0"), "{text}");
    assert!(text.contains("xterm"), "{text}");

    // The detach keys of the client's config end an exec session and leave the shell running.
    std::fs::write(
        dk.d.dir.path().join("docker-config/config.json"),
        r#"{"detachKeys": "ctrl-x,x"}"#,
    )
    .unwrap();
    let out = dk.in_pty(
        "exec -it box sh -c 'echo $$ > /exec.pid; exec sleep 600'",
        "\x18x",
    );
    let text = stdout(&out) + &stderr(&out);
    assert!(text.contains("read escape sequence"), "{text}");
    let pid = dk.ok(&["exec", "box", "cat", "/exec.pid"]);
    let ps = dk.ok(&["exec", "box", "ps", "-o", "pid,args"]);
    assert!(
        ps.lines()
            .any(|l| l.trim_start().starts_with(pid.trim()) && l.contains("sleep 600")),
        "the detached exec still runs:\n{ps}"
    );
}

#[test]
fn docker_cp_both_ways() {
    let Some(dk) = Docker::start() else {
        common::missing_tool("docker client not installed");
        return;
    };
    dk.ok(&["run", "-d", "--name", "files", "busybox", "sleep", "1000"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("site")).unwrap();
    std::fs::write(dir.path().join("site/index.html"), "<p>hi</p>").unwrap();
    let src = dir.path().join("site");
    dk.ok(&["cp", src.to_str().unwrap(), "files:/srv"]);
    assert_eq!(
        dk.ok(&["exec", "files", "cat", "/srv/index.html"]),
        "<p>hi</p>"
    );
    dk.ok(&[
        "exec",
        "files",
        "sh",
        "-c",
        "echo made-inside > /tmp/out.txt",
    ]);
    let dest = dir.path().join("out.txt");
    dk.ok(&["cp", "files:/tmp/out.txt", dest.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "made-inside\n");
    let out = dk.run(&["cp", "files:/no/such", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Could not find the file"),
        "{}",
        stderr(&out)
    );
    // A stopped container too.
    dk.ok(&["stop", "-t", "0", "files"]);
    dk.ok(&[
        "cp",
        "files:/srv/index.html",
        dir.path().join("again.html").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("again.html")).unwrap(),
        "<p>hi</p>"
    );
}

#[test]
fn docker_volumes_keep_data_across_containers() {
    let Some(dk) = Docker::start() else {
        common::missing_tool("docker client not installed");
        return;
    };
    dk.ok(&[
        "run",
        "--rm",
        "-v",
        "vol:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    assert_eq!(
        dk.ok(&[
            "run",
            "--rm",
            "-v",
            "vol:/data:ro",
            "busybox",
            "cat",
            "/data/f"
        ]),
        "kept\n"
    );
    let out = dk.run(&[
        "run",
        "--rm",
        "-v",
        "vol:/data:ro",
        "busybox",
        "touch",
        "/data/g",
    ]);
    assert!(!out.status.success(), "read-only volume was writable");
    // In use by a container: cannot be removed.
    dk.ok(&["create", "--name", "holder", "-v", "vol:/data", "busybox"]);
    let out = dk.run(&["volume", "rm", "vol"]);
    assert!(
        stderr(&out).contains("volume is in use"),
        "{}",
        stderr(&out)
    );
    dk.ok(&["rm", "holder"]);
    dk.ok(&["volume", "rm", "vol"]);
}

/// Issue 12.10: `top` passes ps options and fills STIME, inspect shows the swap limit Docker
/// derives, `diff` leaves out the runtime's mount points, `image prune` names each id once.
#[test]
fn docker_top_inspect_diff_and_prune_match_docker() {
    let Some(dk) = Docker::start() else {
        common::missing_tool("docker client not installed");
        return;
    };
    dk.ok(&[
        "run", "-d", "--name", "top", "-m", "64m", "busybox", "sleep", "300",
    ]);
    let top = dk.ok(&["top", "top", "-o", "pid,args"]);
    let mut lines = top.lines();
    let titles: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(titles, ["PID", "COMMAND"], "{top}");
    let row = lines.next().expect("the sleep process");
    assert!(row.ends_with("sleep 300"), "{top}");
    let top = dk.ok(&["top", "top"]);
    let row = top.lines().nth(1).unwrap();
    let stime = row.split_whitespace().nth(4).unwrap();
    assert!(
        stime.len() == 5 && stime.as_bytes()[2] == b':',
        "STIME as HH:MM: {top}"
    );
    assert_eq!(
        dk.ok(&[
            "inspect",
            "--format",
            "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}",
            "top"
        ]),
        format!("{} {}\n", 64 << 20, 128 << 20)
    );
    let out = dk.run(&["update", "-m", "200m", "top"]);
    assert!(
        !out.status.success() && stderr(&out).contains("update the memoryswap at the same time"),
        "{}",
        stderr(&out)
    );
    dk.ok(&["update", "-m", "200m", "--memory-swap", "400m", "top"]);
    assert_eq!(
        dk.ok(&["inspect", "--format", "{{.HostConfig.MemorySwap}}", "top"]),
        format!("{}\n", 400 << 20)
    );
    dk.ok(&["exec", "top", "touch", "/made"]);
    let diff = dk.ok(&["diff", "top"]);
    assert!(diff.contains("A /made"), "{diff}");
    for hidden in ["/dev", "/proc", "/sys", "/etc"] {
        assert!(
            !diff.lines().any(|l| l.ends_with(&format!(" {hidden}"))),
            "{hidden} in diff:\n{diff}"
        );
    }
    dk.ok(&["rm", "-f", "top"]);

    // Two images sharing their only layer: prune deletes the layer once.
    dk.ok(&["tag", "busybox", "copy:1"]);
    dk.ok(&[
        "commit",
        "--change",
        "LABEL x=1",
        "--pause=false",
        &dk.ok(&["create", "busybox"]).trim()[..12],
        "other:1",
    ]);
    dk.ok(&["container", "prune", "-f"]);
    let pruned = dk.ok(&["image", "prune", "-a", "-f"]);
    let ids: Vec<&str> = pruned
        .lines()
        .filter(|l| l.starts_with("deleted: "))
        .collect();
    assert!(!ids.is_empty(), "{pruned}");
    for (n, id) in ids.iter().enumerate() {
        assert!(!ids[..n].contains(id), "{id} twice:\n{pruned}");
    }
}

fn wait_for(mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "condition not met in time");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn docker_kill_returns_once_the_container_has_exited() {
    let Some(dk) = Docker::start() else {
        common::missing_tool("docker client not installed");
        return;
    };
    for round in 0..5 {
        let name = format!("k{round}");
        dk.ok(&["run", "-d", "--name", &name, "busybox", "sleep", "100"]);
        dk.ok(&["kill", &name]);
        // No wait: the exit is recorded before kill answers, and rm needs no -f.
        let state = dk.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            &name,
        ]);
        assert_eq!(state.trim(), "exited 137", "round {round}");
        dk.ok(&["rm", &name]);
    }
}
