//! Container life cycle through the raw Engine API, where the interesting part is the daemon
//! itself: a `kill -9` of the daemon while containers run, restart policies with back-off and
//! across daemon restarts, bounded logs, events, bad requests. Needs root and busybox.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Daemon;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn create(d: &Daemon, name: &str, body: Value) -> String {
    let r = d.http(
        "POST",
        &format!("/containers/create?name={name}"),
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 201, "create {name}: {}", r.text());
    r.json()["Id"].as_str().unwrap().to_string()
}

fn start(d: &Daemon, id: &str) {
    let r = d.http("POST", &format!("/containers/{id}/start"), b"");
    assert_eq!(r.status, 204, "start: {}", r.text());
}

fn inspect(d: &Daemon, id: &str) -> Value {
    let r = d.http("GET", &format!("/containers/{id}/json"), b"");
    assert_eq!(r.status, 200, "inspect: {}", r.text());
    r.json()
}

fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn busybox(cmd: &[&str]) -> Value {
    json!({"Image": "busybox", "Cmd": cmd})
}

#[test]
fn containers_survive_a_killed_daemon() {
    let mut d = Daemon::start();
    d.import_busybox("busybox:latest");
    let runner = create(&d, "runner", busybox(&["sleep", "1000"]));
    let quitter = create(&d, "quitter", busybox(&["sh", "-c", "sleep 1; exit 3"]));
    start(&d, &runner);
    start(&d, &quitter);
    let pid = inspect(&d, &runner)["State"]["Pid"].as_i64().unwrap();
    assert!(pid > 0);

    d.stop_with(9);
    // The daemon is gone; the containers are not. The quitter exits meanwhile.
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    std::thread::sleep(Duration::from_millis(1500));
    d.spawn();

    let st = &inspect(&d, &runner)["State"];
    assert_eq!(st["Status"], "running", "{st}");
    assert_eq!(
        st["Pid"].as_i64().unwrap(),
        pid,
        "same process, re-attached"
    );
    wait_until("quitter's exit", Duration::from_secs(10), || {
        inspect(&d, &quitter)["State"]["Status"] == "exited"
    });
    assert_eq!(inspect(&d, &quitter)["State"]["ExitCode"], 3);

    // The re-attached container is fully controllable: stop records its real exit.
    let r = d.http("POST", &format!("/containers/{runner}/stop?t=1"), b"");
    assert_eq!(r.status, 204, "{}", r.text());
    let st = &inspect(&d, &runner)["State"];
    assert_eq!(st["Status"], "exited");
    assert_eq!(
        st["ExitCode"], 137,
        "sleep ignores nothing but dies of SIGKILL as PID 1"
    );
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn restart_policies_apply_with_backoff_and_at_daemon_start() {
    let mut d = Daemon::start();
    d.import_busybox("busybox:latest");
    let mut flaky = busybox(&["sh", "-c", "exit 1"]);
    flaky["HostConfig"] = json!({"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}});
    let flaky = create(&d, "flaky", flaky);
    start(&d, &flaky);
    wait_until("two restarts", Duration::from_secs(15), || {
        let st = inspect(&d, &flaky);
        st["RestartCount"] == 2 && st["State"]["Status"] == "exited"
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(inspect(&d, &flaky)["RestartCount"], 2, "gave up after 2");

    let mut always = busybox(&["sleep", "1000"]);
    always["HostConfig"] = json!({"RestartPolicy": {"Name": "always"}});
    let always = create(&d, "always", always);
    let mut unless = busybox(&["sleep", "1000"]);
    unless["HostConfig"] = json!({"RestartPolicy": {"Name": "unless-stopped"}});
    let unless = create(&d, "unless", unless);
    let mut bounce = busybox(&["sleep", "1000"]);
    bounce["HostConfig"] = json!({"RestartPolicy": {"Name": "always"}});
    let bounce = create(&d, "bounce", bounce);
    for id in [&always, &unless, &bounce] {
        start(&d, id);
    }
    // A crash (not a user stop) restarts an `always` container.
    let pid = inspect(&d, &bounce)["State"]["Pid"].as_i64().unwrap();
    let _ = std::process::Command::new("kill")
        .arg("-9")
        .arg(pid.to_string())
        .status();
    wait_until("bounce restarted", Duration::from_secs(10), || {
        let st = inspect(&d, &bounce);
        st["State"]["Status"] == "running" && st["RestartCount"] == 1
    });
    // User stops are remembered.
    for id in [&always, &unless] {
        let r = d.http("POST", &format!("/containers/{id}/stop?t=0"), b"");
        assert_eq!(r.status, 204);
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(inspect(&d, &always)["State"]["Status"], "exited");

    d.stop_with(15);
    d.spawn();
    wait_until(
        "always restarted with the daemon",
        Duration::from_secs(10),
        || inspect(&d, &always)["State"]["Status"] == "running",
    );
    assert_eq!(inspect(&d, &unless)["State"]["Status"], "exited");
    assert_eq!(inspect(&d, &bounce)["State"]["Status"], "running");
}

#[test]
fn logs_are_bounded_and_readable() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    let mut body = busybox(&[
        "sh",
        "-c",
        "i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); done; echo bye >&2",
    ]);
    body["HostConfig"] =
        json!({"LogConfig": {"Type": "json-file", "Config": {"max-size": "2k", "max-file": "2"}}});
    let id = create(&d, "chatty", body);
    start(&d, &id);
    let r = d.http("POST", &format!("/containers/{id}/wait"), b"");
    assert_eq!(r.json()["StatusCode"], 0);
    let log_path = inspect(&d, &id)["LogPath"].as_str().unwrap().to_string();
    let dir = std::path::Path::new(&log_path).parent().unwrap();
    let logs: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("-json.log"))
        .collect();
    assert!(logs.len() <= 2, "{} log files kept", logs.len());
    for l in &logs {
        assert!(
            l.metadata().unwrap().len() < 4096,
            "a log file grew past its bound"
        );
    }
    let r = d.http(
        "GET",
        &format!("/containers/{id}/logs?stdout=1&stderr=1&tail=2"),
        b"",
    );
    assert_eq!(r.status, 200);
    let frames = berth_frames(&r.body);
    assert_eq!(
        frames,
        vec![(1, "line-399\n".to_string()), (2, "bye\n".to_string())]
    );
    let r = d.http("GET", &format!("/containers/{id}/logs?stderr=1"), b"");
    assert_eq!(berth_frames(&r.body), vec![(2, "bye\n".to_string())]);
    let r = d.http("GET", &format!("/containers/{id}/logs"), b"");
    assert_eq!(r.status, 400, "no stream chosen");
}

/// Decodes stdcopy frames into (stream, text).
fn berth_frames(mut data: &[u8]) -> Vec<(u8, String)> {
    let mut out = Vec::new();
    while data.len() >= 8 {
        let len = u32::from_be_bytes([data[4], data[5], data[6], data[7]]) as usize;
        out.push((
            data[0],
            String::from_utf8_lossy(&data[8..8 + len]).into_owned(),
        ));
        data = &data[8 + len..];
    }
    out
}

#[test]
fn container_events_and_bad_requests() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    let id = create(&d, "ev", busybox(&["true"]));
    start(&d, &id);
    let r = d.http("POST", &format!("/containers/{id}/wait"), b"");
    assert_eq!(r.json()["StatusCode"], 0);
    let r = d.http("DELETE", &format!("/containers/{id}"), b"");
    assert_eq!(r.status, 204);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let r = d.http(
        "GET",
        &format!("/events?since=0&until={now}&filters=%7B%22type%22%3A%5B%22container%22%5D%7D"),
        b"",
    );
    let actions: Vec<String> = r
        .text()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["Action"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        actions,
        ["create", "start", "die", "destroy"],
        "{}",
        r.text()
    );

    // Bad input: clear errors, nothing created.
    let r = d.http("POST", "/containers/create", b"{not json");
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("invalid JSON")
    );
    let r = d.http("POST", "/containers/create", br#"{"Image":"nope"}"#);
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "No such image: nope");
    let r = d.http(
        "POST",
        "/containers/create?name=a%20b",
        br#"{"Image":"busybox"}"#,
    );
    assert_eq!(r.status, 400);
    let bad_restart =
        json!({"Image": "busybox", "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}});
    let r = d.http(
        "POST",
        "/containers/create",
        bad_restart.to_string().as_bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let bad_cap = json!({"Image": "busybox", "HostConfig": {"CapAdd": ["NOT_A_CAP"]}});
    let r = d.http("POST", "/containers/create", bad_cap.to_string().as_bytes());
    assert_eq!(r.status, 400, "{}", r.text());
    let r = d.http("GET", "/containers/json?all=1", b"");
    assert_eq!(r.json(), json!([]));
    let r = d.http("POST", "/containers/nope/start", b"");
    assert_eq!(r.status, 404);
    // Name clash.
    create(&d, "twin", busybox(&["true"]));
    let r = d.http(
        "POST",
        "/containers/create?name=twin",
        br#"{"Image":"busybox"}"#,
    );
    assert_eq!(r.status, 409);
    // Starting a running container: 304.
    let id = create(&d, "runs", busybox(&["sleep", "100"]));
    start(&d, &id);
    let r = d.http("POST", &format!("/containers/{id}/start"), b"");
    assert_eq!(r.status, 304);
}

#[test]
fn health_stop_signal_oom_and_live_update() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    // Health: healthy once the probe passes, unhealthy after `Retries` failures.
    let mut body = busybox(&["sh", "-c", "touch /tmp/ok; sleep 100"]);
    body["Healthcheck"] =
        json!({"Test": ["CMD-SHELL", "test -f /tmp/ok"], "Interval": 200_000_000, "Retries": 2});
    let id = create(&d, "doc", body);
    start(&d, &id);
    wait_until("healthy", Duration::from_secs(10), || {
        inspect(&d, &id)["State"]["Health"]["Status"] == "healthy"
    });
    let r = d.http(
        "POST",
        &format!("/containers/{id}/exec"),
        br#"{"Cmd":["rm","/tmp/ok"]}"#,
    );
    let exec = r.json()["Id"].as_str().unwrap().to_string();
    let r = d.http(
        "POST",
        &format!("/exec/{exec}/start"),
        br#"{"Detach":true}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    wait_until("unhealthy", Duration::from_secs(10), || {
        inspect(&d, &id)["State"]["Health"]["Status"] == "unhealthy"
    });
    let st = inspect(&d, &id);
    assert!(st["State"]["Health"]["FailingStreak"].as_i64().unwrap() >= 2);
    let ps = d.http(
        "GET",
        "/containers/json?filters=%7B%22health%22%3A%5B%22unhealthy%22%5D%7D",
        b"",
    );
    assert_eq!(ps.json().as_array().unwrap().len(), 1);

    // A live update reaches the cgroup.
    let r = d.http(
        "POST",
        &format!("/containers/{id}/update"),
        br#"{"Memory":134217728}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let limit = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/memory/berth/{id}/memory.limit_in_bytes"
    ))
    .or_else(|_| std::fs::read_to_string(format!("/sys/fs/cgroup/berth/{id}/memory.max")))
    .unwrap();
    assert_eq!(limit.trim(), "134217728");
    assert_eq!(inspect(&d, &id)["HostConfig"]["Memory"], 134217728);

    // The stop signal is the container's own.
    let mut body = busybox(&[
        "sh",
        "-c",
        "trap 'exit 9' USR1; while true; do sleep 0.1; done",
    ]);
    body["StopSignal"] = json!("SIGUSR1");
    let id = create(&d, "usr1", body);
    start(&d, &id);
    std::thread::sleep(Duration::from_millis(300));
    let r = d.http("POST", &format!("/containers/{id}/stop?t=10"), b"");
    assert_eq!(r.status, 204);
    assert_eq!(inspect(&d, &id)["State"]["ExitCode"], 9);

    // An OOM kill is recorded as such.
    let mut body = busybox(&["sh", "-c", "x=a; while true; do x=$x$x; done"]);
    body["HostConfig"] = json!({"Memory": 16 * 1024 * 1024, "MemorySwap": 16 * 1024 * 1024});
    let id = create(&d, "hog", body);
    start(&d, &id);
    let r = d.http("POST", &format!("/containers/{id}/wait"), b"");
    assert_eq!(r.json()["StatusCode"], 137);
    assert_eq!(inspect(&d, &id)["State"]["OOMKilled"], true);
}

#[test]
fn prune_of_the_build_cache_exec_without_upgrade_and_kill_that_waits() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    // `docker system prune` calls it: an empty cache's answer, not a 404.
    let r = d.http("POST", "/build/prune", b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["SpaceReclaimed"], 0);
    let id = create(&d, "execs", busybox(&["sleep", "1000"]));
    start(&d, &id);
    // An exec started without asking for an upgrade gets its output as the body, as moby's.
    let r = d.http(
        "POST",
        &format!("/containers/{id}/exec"),
        json!({"Cmd": ["sh", "-c", "echo out; echo err >&2; exit 4"], "AttachStdout": true, "AttachStderr": true})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let exec = r.json()["Id"].as_str().unwrap().to_string();
    let r = d.http("POST", &format!("/exec/{exec}/start"), b"{}");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("Content-Type"),
        Some("application/vnd.docker.multiplexed-stream")
    );
    let frames = berth_frames(&r.body);
    assert_eq!(frames, [(1, "out\n".to_string()), (2, "err\n".to_string())]);
    let r = d.http("GET", &format!("/exec/{exec}/json"), b"");
    assert_eq!(r.json()["ExitCode"], 4);
    // SIGKILL returns once the container has exited: inspect right after sees it, and an
    // `rm` right after works.
    let r = d.http("POST", &format!("/containers/{id}/kill"), b"");
    assert_eq!(r.status, 204, "{}", r.text());
    let state = inspect(&d, &id)["State"].clone();
    assert_eq!(state["Status"], "exited", "{state}");
    assert_eq!(state["ExitCode"], 137);
    let r = d.http("DELETE", &format!("/containers/{id}"), b"");
    assert_eq!(r.status, 204, "{}", r.text());
}

#[test]
fn an_enormous_stop_timeout_is_no_deadline_not_a_panic() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    // The init traps SIGTERM (it exits at once), so the huge timeout never has to run out.
    let id = create(
        &d,
        "patient",
        busybox(&[
            "sh",
            "-c",
            "trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done",
        ]),
    );
    start(&d, &id);
    wait_until("the trap", Duration::from_secs(20), || {
        d.http("GET", &format!("/containers/{id}/logs?stdout=1"), b"")
            .body
            .windows(5)
            .any(|w| w == b"ready")
    });
    let r = d.http(
        "POST",
        &format!("/containers/{id}/stop?t=9223372036854775807"),
        b"",
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(inspect(&d, &id)["State"]["Status"], "exited");
    // The daemon is still there.
    assert_eq!(d.http("GET", "/_ping", b"").status, 200);
}

#[test]
fn waits_end_at_a_restart_and_attach_replays_logs_of_an_exited_container() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    // A wait on a container that restarts (policy always) returns at its next exit.
    let mut body = busybox(&["sh", "-c", "sleep 0.5; exit 3"]);
    body["HostConfig"] = json!({"RestartPolicy": {"Name": "always"}});
    let id = create(&d, "again", body);
    start(&d, &id);
    let r = d.http("POST", &format!("/containers/{id}/wait"), b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["StatusCode"], 3, "{}", r.text());
    let r = d.http("POST", &format!("/containers/{id}/stop?t=0"), b"");
    assert!(r.status == 204 || r.status == 304, "{}", r.text());

    // attach?logs=1&stream=0 on an exited container: its logs, then the end.
    let id = create(&d, "said", busybox(&["sh", "-c", "echo one; echo two >&2"]));
    start(&d, &id);
    let r = d.http("POST", &format!("/containers/{id}/wait"), b"");
    assert_eq!(r.json()["StatusCode"], 0);
    let r = common::http::request(
        &d.socket(),
        "POST",
        &format!("/containers/{id}/attach?logs=1&stream=0&stdout=1&stderr=1"),
        &[("Connection", "Upgrade"), ("Upgrade", "tcp")],
        b"",
    );
    assert_eq!(r.status, 101);
    assert_eq!(
        berth_frames(&r.body),
        [(1, "one\n".to_string()), (2, "two\n".to_string())]
    );
}

#[test]
fn the_exec_start_request_decides_the_framing() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    let id = create(&d, "framing", busybox(&["sleep", "1000"]));
    start(&d, &id);
    let run = |create_tty: bool, start_tty: bool| {
        let r = d.http(
            "POST",
            &format!("/containers/{id}/exec"),
            json!({"Cmd": ["echo", "hi"], "AttachStdout": true, "Tty": create_tty})
                .to_string()
                .as_bytes(),
        );
        let exec = r.json()["Id"].as_str().unwrap().to_string();
        let r = d.http(
            "POST",
            &format!("/exec/{exec}/start"),
            json!({"Tty": start_tty}).to_string().as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        (
            r.header("Content-Type").unwrap_or_default().to_string(),
            r.body,
        )
    };
    // A terminal, but a framed stream: the start said Tty false (as Docker does).
    let (kind, body) = run(true, false);
    assert_eq!(kind, "application/vnd.docker.multiplexed-stream");
    assert_eq!(berth_frames(&body), [(1, "hi\r\n".to_string())]);
    // No terminal, but a raw stream: the start said Tty true.
    let (kind, body) = run(false, true);
    assert_eq!(kind, "application/vnd.docker.raw-stream");
    assert_eq!(body, b"hi\n");
}

#[test]
fn a_legacy_link_can_be_removed() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    let db = create(&d, "db", busybox(&["sleep", "100"]));
    start(&d, &db);
    let mut body = busybox(&["sleep", "100"]);
    body["HostConfig"] = json!({"Links": ["db:dbalias"]});
    let web = create(&d, "web", body);
    let r = d.http("DELETE", "/containers/web/nosuch?link=1", b"");
    assert_eq!(r.status, 404, "{}", r.text());
    let r = d.http("DELETE", "/containers/web/dbalias?link=1", b"");
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(inspect(&d, &web)["HostConfig"]["Links"], json!([]));
}

#[test]
fn one_shot_stats_carry_two_samples_and_the_network_counters() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    let mut body = busybox(&["sh", "-c", "while :; do :; done"]);
    body["HostConfig"] = json!({"NanoCpus": 500_000_000});
    let id = create(&d, "burn", body);
    start(&d, &id);
    std::thread::sleep(Duration::from_millis(500));
    let s = d
        .http("GET", &format!("/containers/{id}/stats?stream=false"), b"")
        .json();
    let total = |k: &str| s[k]["cpu_usage"]["total_usage"].as_u64().unwrap_or(0) as f64;
    let system = |k: &str| s[k]["system_cpu_usage"].as_u64().unwrap_or(0) as f64;
    assert!(
        total("precpu_stats") > 0.0,
        "precpu_stats filled: {}",
        s["precpu_stats"]
    );
    assert_ne!(s["preread"], "0001-01-01T00:00:00Z");
    let cpus = s["cpu_stats"]["online_cpus"].as_f64().unwrap();
    let percent = (total("cpu_stats") - total("precpu_stats"))
        / (system("cpu_stats") - system("precpu_stats"))
        * cpus
        * 100.0;
    // Held at half a CPU by --cpus 0.5 (Docker's formula, as `docker stats` computes it).
    assert!((30.0..70.0).contains(&percent), "CPU {percent:.1} %");
    let eth0 = &s["networks"]["eth0"];
    assert!(
        eth0["tx_bytes"].as_u64().is_some(),
        "per-interface counters: {}",
        s["networks"]
    );
    assert!(s["networks"].get("lo").is_none());
    // one-shot: one sample, at once.
    let s = d
        .http(
            "GET",
            &format!("/containers/{id}/stats?stream=false&one-shot=true"),
            b"",
        )
        .json();
    assert_eq!(s["preread"], "0001-01-01T00:00:00Z");
}

#[test]
fn a_commit_names_its_parent_and_does_not_need_a_pause() {
    let d = Daemon::start();
    let image = d.import_busybox("busybox:latest");
    let id = create(
        &d,
        "maker",
        busybox(&["sh", "-c", "echo made > /made; sleep 0.3"]),
    );
    start(&d, &id);
    // Committed as it exits: pausing may fail then, and Docker commits anyway.
    std::thread::sleep(Duration::from_millis(250));
    for round in 0..3 {
        let r = d.http(
            "POST",
            &format!("/commit?container={id}&repo=made&tag=v{round}&pause=1"),
            b"",
        );
        assert_eq!(r.status, 201, "round {round}: {}", r.text());
        std::thread::sleep(Duration::from_millis(100));
    }
    let made = d.http("GET", "/images/made:v0/json", b"").json();
    assert_eq!(made["Parent"], image.as_str(), "{made}");
    let list = d.http("GET", "/images/json", b"").json();
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|i| {
            i["RepoTags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|x| x == "made:v0"))
        })
        .unwrap()
        .clone();
    assert_eq!(row["ParentId"], image.as_str());
}

/// A process that cannot run fails its start with the reason the kernel gave the runtime,
/// carried as data: a program that does not exist is the request's fault (400) with Docker's
/// exit code 127, one that may not be executed 400 with 126; an exec gets the same codes.
#[test]
fn failed_starts_and_execs_carry_the_kernels_reason() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    for (name, cmd, wording, code) in [
        (
            "missing",
            "no-such-program",
            "executable file not found",
            127,
        ),
        ("denied", "/etc/passwd", "permission denied", 126),
    ] {
        let id = create(&d, name, busybox(&[cmd]));
        let r = d.http("POST", &format!("/containers/{id}/start"), b"");
        assert_eq!(r.status, 400, "{name}: {}", r.text());
        let message = r.json()["message"].as_str().unwrap().to_string();
        assert!(message.contains(wording), "{name}: {message}");
        assert_eq!(inspect(&d, &id)["State"]["ExitCode"], code, "{name}");
    }
    let runner = create(&d, "runner", busybox(&["sleep", "1000"]));
    start(&d, &runner);
    for (cmd, code) in [("no-such-program", 127), ("/etc/passwd", 126)] {
        let r = d.http(
            "POST",
            &format!("/containers/{runner}/exec"),
            json!({"Cmd": [cmd]}).to_string().as_bytes(),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        let exec = r.json()["Id"].as_str().unwrap().to_string();
        let r = d.http(
            "POST",
            &format!("/exec/{exec}/start"),
            br#"{"Detach": true}"#,
        );
        assert_eq!(r.status, 400, "{cmd}: {}", r.text());
        let r = d.http("GET", &format!("/exec/{exec}/json"), b"");
        assert_eq!(r.json()["ExitCode"], code, "{cmd}");
    }
    let r = d.http("DELETE", &format!("/containers/{runner}?force=1"), b"");
    assert_eq!(r.status, 204, "{}", r.text());
}
