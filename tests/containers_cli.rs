//! The `berth` CLI's container commands end to end against a real daemon: run and its flags
//! (hardening, limits, users, mounts, --init), ps/logs/exec/cp/diff/commit/export and the
//! smaller commands. Needs root and busybox.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Daemon, stderr, stdout};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn daemon() -> Daemon {
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    d
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn run_flags_shape_the_container() {
    let d = daemon();
    let run = |args: &[&str]| {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(args);
        d.ok(&a)
    };
    assert_eq!(run(&["busybox", "echo", "hello"]), "hello\n");
    assert_eq!(
        run(&[
            "-e",
            "A=1",
            "-w",
            "/tmp",
            "-h",
            "box",
            "busybox",
            "sh",
            "-c",
            "echo $A $PWD $(hostname)"
        ]),
        "1 /tmp box\n"
    );
    assert_eq!(run(&["-u", "nobody", "busybox", "id", "-u"]), "65534\n");
    assert_eq!(
        run(&["-u", "33:33", "--group-add", "1", "busybox", "id", "-G"]),
        "33 1\n"
    );
    assert_eq!(
        run(&["--entrypoint", "echo", "busybox", "via", "entrypoint"]),
        "via entrypoint\n"
    );
    // Hardening: default capabilities, drops, privileged, no-new-privileges, read-only root.
    let caps = |extra: &[&str]| {
        let mut a = extra.to_vec();
        a.extend_from_slice(&["busybox", "sh", "-c", "grep CapEff /proc/self/status"]);
        run(&a)
    };
    assert!(caps(&[]).contains("00000000a80425fb"), "{}", caps(&[]));
    assert!(caps(&["--cap-drop", "ALL"]).contains("0000000000000000"));
    assert!(!caps(&["--privileged"]).contains("00000000a80425fb"));
    assert_eq!(
        run(&[
            "--security-opt",
            "no-new-privileges",
            "busybox",
            "sh",
            "-c",
            "grep NoNewPrivs /proc/self/status"
        ]),
        "NoNewPrivs:\t1\n"
    );
    let out = d.berth(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        run(&[
            "--read-only",
            "--tmpfs",
            "/scratch",
            "busybox",
            "sh",
            "-c",
            "touch /scratch/x && echo ok"
        ]),
        "ok\n"
    );
    // Seccomp: the default profile refuses unshare (a user namespace needs no capability, so
    // only the filter stands in the way); unconfined allows it.
    let out = d.berth(&["run", "--rm", "busybox", "unshare", "-U", "true"]);
    assert!(
        !out.status.success(),
        "unshare allowed under the default profile"
    );
    run(&[
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "unshare",
        "-U",
        "true",
    ]);
    // Limits land in the cgroup and rlimits.
    assert_eq!(
        run(&[
            "--ulimit",
            "nofile=123:456",
            "busybox",
            "sh",
            "-c",
            "ulimit -n"
        ]),
        "123\n"
    );
    assert_eq!(
        run(&[
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "busybox",
            "cat",
            "/proc/sys/net/ipv4/ip_forward"
        ]),
        "1\n"
    );
    let id = d.ok(&[
        "run",
        "-d",
        "-m",
        "64m",
        "--pids-limit",
        "50",
        "busybox",
        "sleep",
        "100",
    ]);
    let id = id.trim();
    let mem = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/memory/berth/{id}/memory.limit_in_bytes"
    ))
    .or_else(|_| std::fs::read_to_string(format!("/sys/fs/cgroup/berth/{id}/memory.max")))
    .unwrap();
    assert_eq!(mem.trim(), "67108864");
    d.ok(&["rm", "-f", id]);
    // Networking until bridges exist: host shares the host's stack, the others get a private
    // one whose loopback works.
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(
        run(&["--network", "host", "busybox", "hostname"]),
        host_name
    );
    assert_eq!(
        run(&[
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "ping -c1 -W1 127.0.0.1 >/dev/null && echo lo"
        ]),
        "lo\n"
    );
    // Exit codes.
    assert_eq!(
        d.berth(&["run", "--rm", "busybox", "sh", "-c", "exit 9"])
            .status
            .code(),
        Some(9)
    );
    let out = d.berth(&["run", "--rm", "busybox", "no-such-binary"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        stderr(&out).contains("executable file not found"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        d.berth(&["run", "--rm", "--bogus-flag", "busybox"])
            .status
            .code(),
        Some(125)
    );
}

#[test]
fn init_reaps_orphans_and_forwards_signals() {
    let d = daemon();
    // Without --init, sh as PID 1 ignores TERM; with it the signal reaches sh (and kills it).
    let id = d.ok(&[
        "run",
        "-d",
        "--init",
        "busybox",
        "sh",
        "-c",
        "(sleep 0.1 &); (sleep 0.1 &); sleep 100",
    ]);
    let id = id.trim();
    let top = d.ok(&["exec", id, "ps", "-o", "pid,comm"]);
    assert!(top.contains("berth-init"), "{top}");
    std::thread::sleep(Duration::from_millis(500));
    let ps = d.ok(&["exec", id, "ps", "-o", "stat,comm"]);
    assert!(
        !ps.lines().any(|l| l.trim_start().starts_with('Z')),
        "zombies left: {ps}"
    );
    let start = Instant::now();
    d.ok(&["stop", "-t", "20", id]);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "TERM was not forwarded"
    );
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.State.ExitCode}}", id])
            .trim(),
        "143"
    );
}

#[test]
fn everyday_commands() {
    let d = daemon();
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-l",
        "app=demo",
        "--expose",
        "80",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; echo up; echo oops >&2; while true; do sleep 0.1; done",
    ]);
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64);
    wait_for("logs", || d.ok(&["logs", "web"]) == "up\n");
    let out = d.berth(&["logs", "web"]);
    assert_eq!(stderr(&out), "oops\n");
    assert!(
        d.ok(&["logs", "-t", "web"])
            .split(' ')
            .next()
            .unwrap()
            .contains('T')
    );

    let ps = d.ok(&["ps"]);
    let header = ps.lines().next().unwrap();
    for col in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ] {
        assert!(header.contains(col), "{header}");
    }
    assert!(ps.contains("80/tcp"), "{ps}");
    assert_eq!(d.ok(&["ps", "-q"]).trim(), &id[..12]);
    assert_eq!(d.ok(&["ps", "-q", "--no-trunc"]).trim(), id);
    assert_eq!(
        d.ok(&["ps", "--filter", "label=app=demo", "--format", "{{.Names}}"]),
        "web\n"
    );
    assert_eq!(d.ok(&["ps", "--filter", "name=nomatch", "-q"]), "");
    assert_eq!(
        d.ok(&[
            "inspect",
            "--type",
            "container",
            "--format",
            "{{.Name}} {{.Config.Labels.app}}",
            "web"
        ]),
        "/web demo\n"
    );

    // exec, top, stats, pause, rename.
    assert_eq!(
        d.ok(&["exec", "web", "cat", "/etc/hostname"]).trim(),
        &id[..12]
    );
    assert_eq!(
        d.berth(&["exec", "web", "sh", "-c", "exit 4"])
            .status
            .code(),
        Some(4)
    );
    let top = d.ok(&["top", "web"]);
    assert!(top.contains("PID") && top.contains("sleep"), "{top}");
    let stats = d.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.MemUsage}}",
        "web",
    ]);
    assert!(stats.starts_with("web "), "{stats}");
    d.ok(&["pause", "web"]);
    assert!(d.ok(&["ps", "--format", "{{.Status}}"]).contains("Paused"));
    d.ok(&["unpause", "web"]);
    d.ok(&["rename", "web", "site"]);
    assert_eq!(d.ok(&["ps", "--format", "{{.Names}}"]), "site\n");

    // cp both ways, diff, commit, export.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("page.html"), "<h1>hi</h1>").unwrap();
    d.ok(&[
        "cp",
        dir.path().join("page.html").to_str().unwrap(),
        "site:/tmp/",
    ]);
    assert_eq!(
        d.ok(&["exec", "site", "cat", "/tmp/page.html"]),
        "<h1>hi</h1>"
    );
    d.ok(&[
        "exec",
        "site",
        "sh",
        "-c",
        "mkdir -p /srv/a && echo deep > /srv/a/f && rm /bin/vi",
    ]);
    let out_dir = dir.path().join("copied");
    d.ok(&["cp", "site:/srv", out_dir.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(out_dir.join("a/f")).unwrap(),
        "deep\n"
    );
    let diff = d.ok(&["diff", "site"]);
    for line in ["A /srv", "A /srv/a/f", "D /bin/vi", "A /tmp/page.html"] {
        assert!(
            diff.lines().any(|l| l == line),
            "{line} missing from:\n{diff}"
        );
    }
    assert!(
        !diff.contains("/etc/hostname"),
        "mount points are not changes:\n{diff}"
    );
    let image = d.ok(&[
        "commit",
        "-c",
        "CMD [\"cat\", \"/srv/a/f\"]",
        "-m",
        "snap",
        "site",
        "snap:1",
    ]);
    assert!(image.trim().starts_with("sha256:"), "{image}");
    assert_eq!(d.ok(&["run", "--rm", "snap:1"]), "deep\n");
    let export = d
        .berth_cmd(&["export", "site"])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(export.status.success());
    let mut names = Vec::new();
    for e in tar::Archive::new(&export.stdout[..]).entries().unwrap() {
        names.push(e.unwrap().path().unwrap().display().to_string());
    }
    assert!(names.iter().any(|n| n.ends_with("srv/a/f")), "{names:?}");
    assert!(!names.iter().any(|n| n.ends_with("bin/vi")));

    // update, stop, wait, start, restart, kill, rm, prune.
    d.ok(&["update", "--restart", "on-failure:3", "site"]);
    assert_eq!(
        d.ok(&[
            "inspect",
            "--format",
            "{{.HostConfig.RestartPolicy.Name}}",
            "site"
        ])
        .trim(),
        "on-failure"
    );
    d.ok(&["stop", "site"]);
    assert_eq!(d.ok(&["wait", "site"]).trim(), "0");
    assert_eq!(d.ok(&["ps", "-q"]), "");
    assert!(d.ok(&["ps", "-a"]).contains("Exited (0)"));
    d.ok(&["start", "site"]);
    d.ok(&["restart", "-t", "1", "site"]);
    d.ok(&["kill", "-s", "KILL", "site"]);
    wait_for("kill", || d.ok(&["ps", "-q"]).is_empty());
    assert!(d.fails(&["rm", "nothere"]).contains("No such container"));
    d.ok(&["create", "--name", "idle", "busybox"]);
    let pruned = d.ok(&["container", "prune", "-f"]);
    assert!(pruned.contains("Total reclaimed space"), "{pruned}");
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}

#[test]
fn volumes_in_containers() {
    let d = daemon();
    // A new named volume is filled from the image's content at its mount point.
    assert!(
        d.ok(&["run", "--rm", "-v", "etc:/etc", "busybox", "ls", "/etc"])
            .contains("passwd")
    );
    assert!(
        std::fs::read_to_string(d.root().join("volumes/etc/_data/passwd"))
            .unwrap()
            .contains("root")
    );
    // Data-volume container pattern.
    d.ok(&[
        "create",
        "--name",
        "content",
        "-v",
        "/usr/share/html",
        "busybox",
    ]);
    d.ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "content",
        "busybox",
        "sh",
        "-c",
        "echo page > /usr/share/html/index.html",
    ]);
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--volumes-from",
            "content:ro",
            "busybox",
            "cat",
            "/usr/share/html/index.html"
        ]),
        "page\n"
    );
    // Anonymous volumes go with rm -v; named ones stay.
    let before = d.ok(&["volume", "ls", "-q"]);
    assert_eq!(before.lines().count(), 2, "{before}");
    d.ok(&["rm", "-v", "content"]);
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "etc\n");
    // Bind mounts, read-only.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "bound").unwrap();
    let spec = format!("{}:/mnt:ro", dir.path().display());
    assert_eq!(
        d.ok(&["run", "--rm", "-v", &spec, "busybox", "cat", "/mnt/f"]),
        "bound"
    );
    let out = d.berth(&["run", "--rm", "-v", &spec, "busybox", "touch", "/mnt/g"]);
    assert!(!out.status.success());
    let mount = format!("type=bind,source={},target=/m", dir.path().display());
    assert_eq!(
        d.ok(&["run", "--rm", "--mount", &mount, "busybox", "cat", "/m/f"]),
        "bound"
    );
    let err = d.fails(&[
        "run",
        "--rm",
        "--mount",
        "type=bind,source=/nonexistent/x,target=/m",
        "busybox",
    ]);
    assert!(err.contains("bind source path does not exist"), "{err}");
    // Local-driver options: a tmpfs volume is mounted at first use and keeps its data while
    // it exists.
    d.ok(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=1m",
        "tv",
    ]);
    let df = d.ok(&[
        "run",
        "--rm",
        "-v",
        "tv:/t",
        "busybox",
        "sh",
        "-c",
        "echo kept > /t/f; df /t | tail -1",
    ]);
    assert!(df.starts_with("tmpfs") && df.contains("1024"), "{df}");
    assert_eq!(
        d.ok(&["run", "--rm", "-v", "tv:/t", "busybox", "cat", "/t/f"]),
        "kept\n"
    );
    d.ok(&["volume", "rm", "tv"]);
    // --rm removes anonymous volumes too.
    d.ok(&["run", "--rm", "-v", "/anon", "busybox", "true"]);
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "etc\n");
    let _ = stdout;
}

#[test]
fn follow_logs_attach_and_start_attached() {
    let d = daemon();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo tick-$i; sleep 0.3; done",
    ]);
    // `logs -f` streams until the container stops, then returns.
    let started = Instant::now();
    assert_eq!(d.ok(&["logs", "-f", "ticker"]), "tick-1\ntick-2\ntick-3\n");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(d.ok(&["logs", "--tail", "1", "ticker"]), "tick-3\n");

    // `start -a` replays nothing old and streams the new run; the exit code is the
    // container's.
    d.ok(&[
        "create",
        "--name",
        "once",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 6",
    ]);
    let out = d.berth(&["start", "-a", "once"]);
    assert_eq!(out.status.code(), Some(6));
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(stderr(&out), "err\n");

    // `attach` joins a running container's output until it exits.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "late",
        "busybox",
        "sh",
        "-c",
        "sleep 0.5; echo joined; exit 2",
    ]);
    let out = d.berth(&["attach", "late"]);
    assert_eq!(stdout(&out), "joined\n");
    assert_eq!(out.status.code(), Some(2));

    // stdin through attach: `run -i` with piped input.
    let mut child = d
        .berth_cmd(&["run", "-i", "--rm", "busybox", "wc", "-l"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"1\n2\n3\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3");
}
