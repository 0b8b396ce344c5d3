//! The container life cycle through the engine's facade, on fakes (see [`crate::fakes`]): no
//! root, no shim processes, no mounts, so these run in a second or two and on any machine.
//! Create, start, stop (and its escalation), `--rm`, restart policies with back-off, the restore
//! after a daemon restart, a bridge container's lease, veth and rules, and the events each step
//! publishes. The end-to-end tests in `tests/`
//! prove the same against the kernel; these prove the engine's own logic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::containers::WaitCondition;
use crate::fakes::network::FakeNetwork;
use crate::fakes::shim::FakeShims;
use crate::fakes::snapshotter::FakeSnapshotter;
use crate::images::ImportOptions;
use crate::{Engine, EngineConfig, EngineError, Seams, SnapshotterKind};
use berth_api_types::container::ContainerCreateRequest;
use berth_api_types::events::EventMessage;
use berth_common::ErrorKind;
use berth_common::error::HasKind;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A root dir with the fakes behind it; engines opened on it share the fakes, as daemons
/// restarted on one host share its shims.
struct Host {
    dir: tempfile::TempDir,
    shims: Arc<FakeShims>,
    snapshotter: Arc<FakeSnapshotter>,
    network: Arc<FakeNetwork>,
}

impl Host {
    fn new() -> Host {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(dir.path().join("resolv.conf"), "nameserver 127.0.0.1\n").unwrap();
        Host {
            shims: FakeShims::new(&root),
            snapshotter: Arc::new(FakeSnapshotter::new(&root.join("fake")).unwrap()),
            network: Arc::new(FakeNetwork::default()),
            dir,
        }
    }

    fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("root")
    }

    /// The default bridge's name, and the rule table's.
    fn names(&self) -> (String, String) {
        let unique = self.unique();
        (
            format!("btfake{}", &unique[unique.len().saturating_sub(6)..]),
            format!("berth_fake_{unique}"),
        )
    }

    fn unique(&self) -> String {
        self.dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(['.', '-'], "_")
            .to_lowercase()
    }

    fn open(&self) -> Arc<Engine> {
        let unique = self.unique();
        let (bridge, table) = self.names();
        let config = EngineConfig {
            root: self.root(),
            snapshotter: SnapshotterKind::Copy,
            containers: crate::containers::Settings {
                shim_exe: "/nonexistent/berth".into(),
                cgroup_parent: format!("berth-fake-{unique}"),
                cgroup_v2: false,
                host_resolv_conf: self.dir.path().join("resolv.conf"),
                nft_table: table,
                firewall: berth_net::firewall::Firewall::Nftables,
            },
            default_bridge: bridge,
            default_subnet: None,
            dns_listen: None,
            dns_suffix: "berth".into(),
            build: Default::default(),
            registries: Default::default(),
            seams: Seams {
                shims: Some(self.shims.clone()),
                snapshotter: Some(self.snapshotter.clone()),
                network: Some(self.network.clone()),
            },
        };
        Arc::new(Engine::open(&config).unwrap())
    }
}

/// An image with one small layer (what the fakes need: a config and a root file system).
fn import_image(engine: &Engine) {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    let passwd = b"root:x:0:0:root:/root:/bin/sh\n";
    header.set_size(passwd.len() as u64);
    header.set_mode(0o644);
    // Owned by whoever runs the test, so an unprivileged unpack may keep the owner.
    header.set_uid(u64::from(rustix::process::geteuid().as_raw()));
    header.set_gid(u64::from(rustix::process::getegid().as_raw()));
    header.set_cksum();
    tar.append_data(&mut header, "etc/passwd", &passwd[..])
        .unwrap();
    let bytes = tar.into_inner().unwrap();
    engine
        .image_import(
            &bytes[..],
            ImportOptions {
                reference: Some(berth_common::Reference::parse("fake:latest").unwrap()),
                ..ImportOptions::default()
            },
        )
        .unwrap();
}

fn request(cmd: &[&str], host_config: serde_json::Value) -> ContainerCreateRequest {
    let mut host_config = host_config;
    if host_config.get("NetworkMode").is_none() {
        host_config["NetworkMode"] = json!("none");
    }
    serde_json::from_value(json!({"Image": "fake:latest", "Cmd": cmd, "HostConfig": host_config}))
        .unwrap()
}

fn create(engine: &Engine, name: &str, cmd: &[&str], host_config: serde_json::Value) -> String {
    engine
        .container_create(Some(name), request(cmd, host_config))
        .unwrap()
        .id
}

/// `docker start` (blocking, as the API runs it) on a worker thread.
async fn start(engine: &Arc<Engine>, id: &str) {
    let (e, id) = (engine.clone(), id.to_string());
    tokio::task::spawn_blocking(move || e.container_start(&id))
        .await
        .unwrap()
        .unwrap();
}

fn state(engine: &Engine, id: &str) -> serde_json::Value {
    let inspect = engine.container_inspect(id, false).unwrap();
    serde_json::to_value(inspect).unwrap()["State"].clone()
}

fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The actions of the container events received so far.
fn actions(events: &mut tokio::sync::mpsc::Receiver<EventMessage>, id: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(e) = events.try_recv() {
        if e.actor.id == id {
            out.push(e.action);
        }
    }
    out
}

fn is_not_found(e: &EngineError) -> bool {
    e.kind() == ErrorKind::NotFound
}

#[tokio::test(flavor = "multi_thread")]
async fn create_start_stop_and_remove_publish_their_events() {
    let host = Host::new();
    let engine = host.open();
    import_image(&engine);
    let (_, mut events) = engine.events_subscribe(None);
    let id = create(&engine, "web", &["serve"], json!({}));
    assert_eq!(state(&engine, &id)["Status"], "created");
    start(&engine, &id).await;
    let st = state(&engine, &id);
    assert_eq!(st["Status"], "running", "{st}");
    assert!(
        st["Pid"].as_i64().unwrap() >= 10_000_000,
        "the fake's pid: {st}"
    );
    assert_eq!(
        host.snapshotter.mounts(),
        1,
        "the root file system is mounted"
    );
    // Starting again is Docker's 304.
    let e = engine.clone();
    let again = id.clone();
    let err = tokio::task::spawn_blocking(move || e.container_start(&again))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotModified, "{err}");
    engine.container_stop(&id, Some(5), None).await.unwrap();
    let st = state(&engine, &id);
    assert_eq!(st["Status"], "exited", "{st}");
    assert_eq!(st["ExitCode"], 143, "SIGTERM ended it: {st}");
    until("the root file system unmounted", || {
        host.snapshotter.mounts() == 0
    });
    engine.container_remove(&id, false, false).await.unwrap();
    assert!(is_not_found(
        &engine.container_inspect(&id, false).unwrap_err()
    ));
    // Docker's sequence: a stop is `kill` (the signal), `die`, then `stop`.
    assert_eq!(
        actions(&mut events, &id),
        ["create", "start", "kill", "die", "stop", "destroy"]
    );
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_escalates_to_sigkill_when_the_signal_is_ignored() {
    let host = Host::new();
    let engine = host.open();
    import_image(&engine);
    let (_, mut events) = engine.events_subscribe(None);
    let id = create(&engine, "stubborn", &["trap"], json!({}));
    start(&engine, &id).await;
    let begun = Instant::now();
    engine.container_stop(&id, Some(1), None).await.unwrap();
    assert!(
        begun.elapsed() >= Duration::from_millis(900),
        "waited the timeout"
    );
    assert_eq!(state(&engine, &id)["ExitCode"], 137);
    let signals: Vec<String> = {
        let mut out = Vec::new();
        while let Ok(e) = events.try_recv() {
            if e.action == "kill" {
                out.push(e.actor.attributes["signal"].clone());
            }
        }
        out
    };
    assert_eq!(signals, ["15", "9"], "the stop signal, then SIGKILL");
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_auto_remove_container_is_gone_after_its_exit_and_a_late_wait_sees_its_code() {
    let host = Host::new();
    let engine = host.open();
    import_image(&engine);
    let (_, mut events) = engine.events_subscribe(None);
    let id = create(
        &engine,
        "once",
        &["sh", "-c", "exit 3"],
        json!({"AutoRemove": true}),
    );
    let waiting = engine.container_wait(&id, WaitCondition::NextExit).unwrap();
    start(&engine, &id).await;
    let result = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(result.status_code, 3);
    until("the record removed", || {
        engine
            .container_inspect(&id, false)
            .is_err_and(|e| is_not_found(&e))
    });
    // A wait that arrives after the removal still gets the exit code.
    let late = engine
        .container_wait(&id, WaitCondition::NotRunning)
        .unwrap()
        .await
        .unwrap();
    assert_eq!(late.status_code, 3);
    until("destroy published", || {
        actions(&mut events, &id).iter().any(|a| a == "destroy")
    });
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_on_failure_policy_restarts_with_growing_back_off_then_gives_up() {
    let host = Host::new();
    let engine = host.open();
    import_image(&engine);
    let id = create(
        &engine,
        "flaky",
        &["sh", "-c", "exit 1"],
        json!({"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}}),
    );
    let begun = Instant::now();
    start(&engine, &id).await;
    until("three restarts", || host.shims.launches_of(&id) == 4);
    // Back-off doubles from 100 ms: 100 + 200 + 400 before the last launch.
    assert!(
        begun.elapsed() >= Duration::from_millis(700),
        "restarts came too fast: {:?}",
        begun.elapsed()
    );
    until("given up", || state(&engine, &id)["Status"] == "exited");
    let inspect = serde_json::to_value(engine.container_inspect(&id, false).unwrap()).unwrap();
    assert_eq!(inspect["RestartCount"], 3);
    assert_eq!(inspect["State"]["ExitCode"], 1);
    std::thread::sleep(Duration::from_millis(900));
    assert_eq!(
        host.shims.launches_of(&id),
        4,
        "no restart after the last retry"
    );
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_daemon_reattaches_records_exits_and_restarts_by_policy() {
    let host = Host::new();
    let first = host.open();
    import_image(&first);
    let kept = create(&first, "kept", &["serve"], json!({}));
    let ended = create(&first, "ended", &["serve"], json!({}));
    let lost = create(
        &first,
        "lost",
        &["serve"],
        json!({"RestartPolicy": {"Name": "always"}}),
    );
    for id in [&kept, &ended, &lost] {
        start(&first, id).await;
    }
    // The daemon goes; meanwhile one container exits and one shim is killed.
    first.shutdown();
    drop(first);
    host.shims.exit(&ended, 7);
    host.shims.crash(&lost);
    let second = host.open();
    let restoring = second.clone();
    tokio::task::spawn_blocking(move || restoring.restore_containers())
        .await
        .unwrap();
    assert_eq!(state(&second, &kept)["Status"], "running", "re-attached");
    let st = state(&second, &ended);
    assert_eq!(
        (st["Status"].clone(), st["ExitCode"].clone()),
        (json!("exited"), json!(7))
    );
    until("the `always` container restarted", || {
        host.shims.launches_of(&lost) == 2 && state(&second, &lost)["Status"] == "running"
    });
    // The re-attached container is supervised again: its exit is noticed.
    let waiting = second
        .container_wait(&kept, WaitCondition::NextExit)
        .unwrap();
    host.shims.exit(&kept, 5);
    let result = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(result.status_code, 5);
    until("the exit recorded", || {
        state(&second, &kept)["ExitCode"] == 5
    });
    second.container_stop(&lost, Some(1), None).await.unwrap();
    second.shutdown();
    assert!(Path::new(&host.root()).exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bridge_container_gets_a_lease_a_veth_and_rules_and_gives_them_back() {
    let host = Host::new();
    let (bridge, table) = host.names();
    let engine = host.open();
    import_image(&engine);
    let id = create(&engine, "web", &["serve"], json!({"NetworkMode": "bridge"}));
    start(&engine, &id).await;
    let veths = host.network.veths();
    assert_eq!(veths.len(), 1, "{veths:?}");
    let veth = veths.values().next().unwrap().clone();
    assert_eq!(veth.bridge, bridge);
    let gateway = host.network.bridges()[&bridge];
    assert_eq!(
        veth.gateway,
        Some(gateway.addr),
        "default route via the bridge"
    );
    assert!(
        gateway.contains(veth.address.addr),
        "{veth:?} in {gateway:?}"
    );
    let inspect = serde_json::to_value(engine.container_inspect(&id, false).unwrap()).unwrap();
    assert_eq!(
        inspect["NetworkSettings"]["IPAddress"],
        veth.address.addr.to_string()
    );
    let rules = host.network.rules(&table).expect("rules applied");
    assert_eq!(rules.networks.len(), 1);
    assert_eq!(rules.networks[0].bridge, bridge);
    let network = serde_json::to_value(engine.network_inspect("bridge").unwrap()).unwrap();
    assert_eq!(network["Containers"].as_object().unwrap().len(), 1);
    // The exit gives everything back: the veth and namespace, the lease.
    engine.container_stop(&id, Some(1), None).await.unwrap();
    until("the network torn down", || {
        host.network.veths().is_empty() && host.network.namespaces() == 0
    });
    let network = serde_json::to_value(engine.network_inspect("bridge").unwrap()).unwrap();
    assert_eq!(network["Containers"].as_object().unwrap().len(), 0);
    engine.container_remove(&id, false, false).await.unwrap();
    // A prune with nothing on it takes the default bridge and the rules down.
    engine.network_prune(&Default::default()).unwrap();
    assert!(host.network.bridges().is_empty());
    assert!(host.network.rules(&table).is_none());
    engine.shutdown();
}
