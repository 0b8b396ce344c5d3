//! Decoding tests with bodies shaped like the ones real clients send.

use super::*;

/// `docker run -d -p 8080:80 -v data:/data --name web -e A=1 --restart always busybox sleep 100`
/// as docker CLI v28 encodes it (Go zero values, nil slices and maps as `null`).
const DOCKER_CLI_BODY: &str = r#"{
  "Hostname": "", "Domainname": "", "User": "",
  "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
  "ExposedPorts": {"80/tcp": {}},
  "Tty": false, "OpenStdin": false, "StdinOnce": false,
  "Env": ["A=1"], "Cmd": ["sleep", "100"], "Image": "busybox",
  "Volumes": {}, "WorkingDir": "", "Entrypoint": null, "OnBuild": null, "Labels": {},
  "HostConfig": {
    "Binds": ["data:/data"], "ContainerIDFile": "",
    "LogConfig": {"Type": "", "Config": {}},
    "NetworkMode": "bridge",
    "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
    "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0},
    "AutoRemove": false, "VolumeDriver": "", "VolumesFrom": null,
    "ConsoleSize": [0, 0], "CapAdd": null, "CapDrop": null, "CgroupnsMode": "",
    "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": null, "GroupAdd": null,
    "IpcMode": "", "Cgroup": "", "Links": null, "OomScoreAdj": 0, "PidMode": "",
    "Privileged": false, "PublishAllPorts": false, "ReadonlyRootfs": false,
    "SecurityOpt": null, "UTSMode": "", "UsernsMode": "", "ShmSize": 0, "Isolation": "",
    "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0,
    "BlkioWeightDevice": [], "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [],
    "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [], "CpuPeriod": 0, "CpuQuota": 0,
    "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "",
    "Devices": [], "DeviceCgroupRules": null, "DeviceRequests": null,
    "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": null,
    "OomKillDisable": null, "PidsLimit": null, "Ulimits": [], "CpuCount": 0,
    "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
    "MaskedPaths": null, "ReadonlyPaths": null
  },
  "NetworkingConfig": {"EndpointsConfig": {"bridge": {}}}
}"#;

/// What docker-py's `containers.create("busybox", "sleep 100", ...)` sends: `None` everywhere.
const DOCKER_PY_BODY: &str = r#"{
  "Hostname": null, "Domainname": null, "ExposedPorts": null, "User": null, "Tty": false,
  "OpenStdin": false, "StdinOnce": false, "AttachStdin": false, "AttachStdout": false,
  "AttachStderr": false, "Env": null, "Cmd": "sleep 100", "Image": "busybox",
  "Volumes": null, "NetworkDisabled": false, "Entrypoint": null, "WorkingDir": null,
  "Labels": null, "StopSignal": null, "Healthcheck": null,
  "MacAddress": null, "StopTimeout": null, "Runtime": null,
  "HostConfig": {"NetworkMode": "default", "Binds": null, "PortBindings": null,
                 "RestartPolicy": null, "Init": true, "Tmpfs": {"/run": "size=1m"}},
  "NetworkingConfig": null
}"#;

#[test]
fn decodes_docker_cli_run_body() {
    let r: ContainerCreateRequest = serde_json::from_str(DOCKER_CLI_BODY).unwrap();
    assert_eq!(r.config.image, "busybox");
    assert_eq!(r.config.cmd, Some(vec!["sleep".into(), "100".into()]));
    assert_eq!(r.config.entrypoint, None);
    assert_eq!(r.config.env, vec!["A=1"]);
    assert!(r.config.exposed_ports.contains_key("80/tcp"));
    let h = &r.host_config;
    assert_eq!(h.binds, vec!["data:/data"]);
    assert_eq!(h.network_mode, "bridge");
    assert_eq!(
        h.port_bindings["80/tcp"],
        Some(vec![PortBinding {
            host_ip: String::new(),
            host_port: "8080".into()
        }])
    );
    assert_eq!(h.restart_policy.name, "always");
    assert_eq!(h.resources.pids_limit, None);
    assert_eq!(h.resources.memory_swappiness, None);
    assert!(h.cap_add.is_empty());
    assert_eq!(h.masked_paths, None);
    assert!(r.networking_config.endpoints_config.contains_key("bridge"));
}

#[test]
fn decodes_docker_py_body_full_of_nulls() {
    let r: ContainerCreateRequest = serde_json::from_str(DOCKER_PY_BODY).unwrap();
    assert_eq!(r.config.cmd, Some(vec!["sleep 100".into()]));
    assert_eq!(r.config.hostname, "");
    assert!(r.config.env.is_empty());
    assert!(r.config.labels.is_empty());
    assert_eq!(r.host_config.restart_policy, RestartPolicy::default());
    assert_eq!(r.host_config.resources.init, Some(true));
    assert_eq!(r.host_config.tmpfs["/run"], "size=1m");
    assert!(r.networking_config.endpoints_config.is_empty());
}

#[test]
fn decodes_minimal_and_empty_bodies() {
    let r: ContainerCreateRequest = serde_json::from_str(r#"{"Image":"busybox"}"#).unwrap();
    assert_eq!(r.config.image, "busybox");
    assert_eq!(r.host_config, HostConfig::default());
    let r: ContainerCreateRequest =
        serde_json::from_str(r#"{"Image":"x","Entrypoint":"","Cmd":[]}"#).unwrap();
    assert_eq!(r.config.entrypoint, Some(vec![String::new()]));
    assert_eq!(r.config.cmd, Some(vec![]));
}

#[test]
fn round_trips_create_request() {
    let r: ContainerCreateRequest = serde_json::from_str(DOCKER_CLI_BODY).unwrap();
    let back: ContainerCreateRequest =
        serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
    assert_eq!(r, back);
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["Image"], "busybox");
    assert_eq!(v["HostConfig"]["Memory"], 0);
    assert_eq!(v["ExposedPorts"]["80/tcp"], serde_json::json!({}));
}

#[test]
fn decodes_mounts_and_health() {
    let body = r#"{"Image":"x","Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":30000000000,
        "Timeout":null,"Retries":3},
        "HostConfig":{"Mounts":[{"Type":"bind","Source":"/src","Target":"/dst","ReadOnly":true,
        "BindOptions":{"Propagation":"rshared"}},
        {"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1048576,"Mode":1023,
        "Options":[["noexec"]]}}],
        "Ulimits":[{"Name":"nofile","Soft":1024,"Hard":2048}],"Sysctls":{"net.ipv4.ip_forward":"1"}}}"#;
    let r: ContainerCreateRequest = serde_json::from_str(body).unwrap();
    let hc = r.config.healthcheck.unwrap();
    assert_eq!(hc.interval, 30_000_000_000);
    assert_eq!(hc.timeout, 0);
    let m = &r.host_config.mounts;
    assert_eq!(m[0].kind, "bind");
    assert!(m[0].read_only);
    assert_eq!(m[0].bind_options.as_ref().unwrap().propagation, "rshared");
    assert_eq!(
        m[1].tmpfs_options.as_ref().unwrap().options,
        vec![vec!["noexec"]]
    );
    assert_eq!(r.host_config.resources.ulimits[0].hard, 2048);
    assert_eq!(r.host_config.sysctls.unwrap()["net.ipv4.ip_forward"], "1");
}

#[test]
fn outputs_keep_fields_clients_index() {
    let v = serde_json::to_value(ContainerSummary::default()).unwrap();
    for key in [
        "Id", "Names", "Image", "ImageID", "Command", "Created", "Ports", "Labels",
    ] {
        assert!(v.get(key).is_some(), "{key} missing");
    }
    assert_eq!(v["HostConfig"]["NetworkMode"], "");
    assert!(v["NetworkSettings"]["Networks"].is_object());
    assert!(v.get("SizeRw").is_none());

    let v = serde_json::to_value(ContainerInspect::default()).unwrap();
    assert!(v["State"].get("OOMKilled").is_some());
    assert!(v["State"].get("Health").is_none());
    assert!(v["ExecIDs"].is_null());
    assert!(v["HostConfig"]["Binds"].is_array());
    assert!(v["Config"].get("Cmd").is_some());
    let back: ContainerInspect = serde_json::from_value(v).unwrap();
    assert_eq!(back, ContainerInspect::default());

    let w = serde_json::to_value(ContainerWaitResponse::default()).unwrap();
    assert_eq!(w, serde_json::json!({"StatusCode": 0}));
    let p = serde_json::to_value(ContainerPruneResponse::default()).unwrap();
    assert!(p["ContainersDeleted"].is_null());
    let port = serde_json::to_value(Port {
        private_port: 80,
        kind: "tcp".into(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(port, serde_json::json!({"PrivatePort": 80, "Type": "tcp"}));
}

#[test]
fn decodes_update_request() {
    let u: ContainerUpdateRequest = serde_json::from_str(
        r#"{"Memory":67108864,"MemorySwap":-1,"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}}"#,
    )
    .unwrap();
    assert_eq!(u.resources.memory, 64 << 20);
    assert_eq!(u.resources.memory_swap, -1);
    assert_eq!(u.restart_policy.unwrap().maximum_retry_count, 3);
}
