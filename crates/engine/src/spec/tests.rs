//! End-to-end tests of [`build`]: small inputs, the spec fields that matter.

use super::*;
use berth_api_types::container::{ContainerConfig, HostConfig, Resources, Ulimit};
use oci_spec::runtime::{LinuxNamespaceType, LinuxSeccompAction, PosixRlimitType};
use std::collections::BTreeMap;
use std::path::Path;

const ID: &str = "0123456789abcdef0123456789abcdef";
const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
const GROUP: &str = "root:x:0:\nwheel:x:10:app\napp:x:1000:\n";

fn input() -> SpecInput {
    SpecInput {
        id: ID.into(),
        image: ImageConfig {
            cmd: Some(vec!["sh".into()]),
            env: Some(vec!["PATH=/img/bin".into(), "IMG=1".into()]),
            ..Default::default()
        },
        rootfs: "/r/rootfs".into(),
        etc_files: EtcFiles {
            hosts: "/c/hosts".into(),
            hostname: "/c/hostname".into(),
            resolv_conf: "/c/resolv.conf".into(),
        },
        passwd: Some(PASSWD.into()),
        group: Some(GROUP.into()),
        cgroups_path: Some("/berth/abc".into()),
        host_hostname: "myhost".into(),
        hardening: Hardening {
            default_capabilities: vec!["CAP_CHOWN".into(), "CAP_KILL".into()],
            seccomp: Some(LinuxSeccomp::default()),
            masked_paths: vec!["/proc/kcore".into()],
            readonly_paths: vec!["/proc/sys".into()],
            host_capabilities: Vec::new(),
        },
        ..Default::default()
    }
}

#[test]
fn privileged_gets_only_what_the_host_has() {
    let mut i = with(
        ContainerConfig {
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        },
        HostConfig {
            privileged: true,
            ..Default::default()
        },
    );
    i.hardening.host_capabilities = vec!["CAP_CHOWN".into(), "CAP_SYS_ADMIN".into()];
    let spec = build(&i).unwrap();
    let bounding = spec
        .process()
        .as_ref()
        .unwrap()
        .capabilities()
        .as_ref()
        .unwrap()
        .bounding()
        .clone()
        .unwrap();
    assert_eq!(bounding.len(), 2);
}

fn with(config: ContainerConfig, host: HostConfig) -> SpecInput {
    let mut i = input();
    i.request.config = config;
    i.request.host_config = host;
    i
}

fn process(spec: &Spec) -> &Process {
    spec.process().as_ref().unwrap()
}

fn linux(spec: &Spec) -> &Linux {
    spec.linux().as_ref().unwrap()
}

fn caps(spec: &Spec) -> Vec<String> {
    let mut v: Vec<String> = process(spec)
        .capabilities()
        .as_ref()
        .unwrap()
        .bounding()
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| {
            serde_json::to_value(c)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    v.sort();
    v
}

#[test]
fn default_container() {
    let spec = build(&input()).unwrap();
    let p = process(&spec);
    assert_eq!(p.args().as_deref(), Some(&["sh".to_string()][..]));
    assert_eq!(
        p.env().as_deref().unwrap(),
        &[
            "PATH=/img/bin",
            "HOSTNAME=0123456789ab",
            "IMG=1",
            "HOME=/root"
        ]
    );
    assert_eq!(p.cwd(), Path::new("/"));
    assert_eq!((p.user().uid(), p.user().gid()), (0, 0));
    assert_eq!(p.terminal(), Some(false));
    assert_eq!(p.no_new_privileges(), Some(false));
    assert_eq!(p.rlimits(), &None);
    assert_eq!(caps(&spec), vec!["CAP_CHOWN", "CAP_KILL"]);
    assert_eq!(spec.hostname().as_deref(), Some("0123456789ab"));
    assert_eq!(spec.root().as_ref().unwrap().path(), Path::new("/r/rootfs"));
    assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(false));
    assert_eq!(spec.annotations(), &None);
    let l = linux(&spec);
    assert_eq!(l.cgroups_path().as_deref(), Some(Path::new("/berth/abc")));
    assert!(l.seccomp().is_some());
    assert_eq!(
        l.masked_paths().as_deref(),
        Some(&["/proc/kcore".to_string()][..])
    );
    assert_eq!(
        l.readonly_paths().as_deref(),
        Some(&["/proc/sys".to_string()][..])
    );
    let ns: Vec<_> = l.namespaces().iter().flatten().map(|n| n.typ()).collect();
    assert!(ns.contains(&LinuxNamespaceType::Network));
    assert!(!ns.contains(&LinuxNamespaceType::Cgroup));
    let dests: Vec<_> = spec
        .mounts()
        .iter()
        .flatten()
        .map(|m| m.destination().clone())
        .collect();
    assert!(dests.contains(&"/etc/hosts".into()));
    assert!(dests.contains(&"/dev/shm".into()));
    // The spec serializes to the JSON a runtime reads.
    let json = serde_json::to_value(&spec).unwrap();
    assert_eq!(json["process"]["user"]["uid"], 0);
    assert_eq!(json["hostname"], "0123456789ab");
}

#[test]
fn request_overrides() {
    let config = ContainerConfig {
        hostname: "web".into(),
        domainname: "example.org".into(),
        user: "app".into(),
        working_dir: "/srv".into(),
        env: vec!["IMG".into(), "A=1".into(), "PATH=/mine".into()],
        entrypoint: Some(vec!["/bin/echo".into()]),
        cmd: Some(vec!["hi".into()]),
        tty: true,
        ..Default::default()
    };
    let host = HostConfig {
        group_add: vec!["5000".into()],
        readonly_rootfs: true,
        oom_score_adj: 500,
        console_size: Some([24, 80]),
        annotations: Some(BTreeMap::from([("a".into(), "b".into())])),
        resources: Resources {
            init: Some(true),
            ulimits: vec![Ulimit {
                name: "nofile".into(),
                soft: 10,
                hard: 20,
            }],
            ..Default::default()
        },
        ..Default::default()
    };
    let spec = build(&with(config, host)).unwrap();
    let p = process(&spec);
    assert_eq!(p.args().as_deref().unwrap(), &["/bin/echo", "hi"]);
    assert_eq!(
        p.env().as_deref().unwrap(),
        &[
            "PATH=/mine",
            "HOSTNAME=web",
            "TERM=xterm",
            "A=1",
            "HOME=/home/app"
        ]
    );
    assert_eq!(p.cwd(), Path::new("/srv"));
    assert_eq!((p.user().uid(), p.user().gid()), (1000, 1000));
    assert_eq!(p.user().additional_gids().as_deref(), Some(&[10, 5000][..]));
    assert_eq!(p.terminal(), Some(true));
    assert_eq!(
        p.console_size().map(|b| (b.height(), b.width())),
        Some((24, 80))
    );
    assert_eq!(p.oom_score_adj(), Some(500));
    let rl = p.rlimits().as_ref().unwrap();
    assert_eq!(
        (rl[0].typ(), rl[0].soft(), rl[0].hard()),
        (PosixRlimitType::RlimitNofile, 10, 20)
    );
    assert_eq!(spec.hostname().as_deref(), Some("web"));
    assert_eq!(spec.domainname().as_deref(), Some("example.org"));
    assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));
    let ann = spec.annotations().as_ref().unwrap();
    assert_eq!(ann[INIT_ANNOTATION], "true");
    assert_eq!(ann["a"], "b");
}

#[test]
fn privileged_and_security_opts() {
    let host = HostConfig {
        privileged: true,
        ..Default::default()
    };
    let spec = build(&with(ContainerConfig::default(), host)).unwrap();
    assert_eq!(caps(&spec).len(), all_capabilities().len());
    let l = linux(&spec);
    assert!(l.seccomp().is_none());
    assert_eq!(l.masked_paths().as_deref(), Some(&[][..]));
    assert_eq!(l.readonly_paths().as_deref(), Some(&[][..]));

    let host = HostConfig {
        cap_add: vec!["net_admin".into()],
        cap_drop: vec!["CHOWN".into()],
        security_opt: vec!["no-new-privileges".into(), "seccomp=unconfined".into()],
        ..Default::default()
    };
    let spec = build(&with(ContainerConfig::default(), host)).unwrap();
    assert_eq!(caps(&spec), vec!["CAP_KILL", "CAP_NET_ADMIN"]);
    assert_eq!(process(&spec).no_new_privileges(), Some(true));
    assert!(linux(&spec).seccomp().is_none());

    let host = HostConfig {
        security_opt: vec![
            r#"seccomp={"defaultAction":"SCMP_ACT_LOG","syscalls":[]}"#.into(),
            "systempaths=unconfined".into(),
        ],
        masked_paths: Some(vec!["/x".into()]),
        ..Default::default()
    };
    let spec = build(&with(ContainerConfig::default(), host)).unwrap();
    let s = linux(&spec).seccomp().as_ref().unwrap();
    assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActLog);
    assert_eq!(linux(&spec).masked_paths().as_deref(), Some(&[][..]));

    let host = HostConfig {
        masked_paths: Some(vec!["/x".into()]),
        ..Default::default()
    };
    let spec = build(&with(ContainerConfig::default(), host)).unwrap();
    assert_eq!(
        linux(&spec).masked_paths().as_deref(),
        Some(&["/x".to_string()][..])
    );
}

#[test]
fn host_network_and_resources() {
    let host = HostConfig {
        network_mode: "host".into(),
        sysctls: Some(BTreeMap::from([("kernel.shmmax".into(), "1".into())])),
        resources: Resources {
            memory: 64 << 20,
            nano_cpus: 500_000_000,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut i = with(ContainerConfig::default(), host);
    i.cgroup_v2 = true;
    i.network_namespace = Some("/ignored".into());
    let spec = build(&i).unwrap();
    assert_eq!(spec.hostname(), &None);
    assert!(
        process(&spec)
            .env()
            .as_ref()
            .unwrap()
            .contains(&"HOSTNAME=myhost".to_string())
    );
    let l = linux(&spec);
    let ns: Vec<_> = l.namespaces().iter().flatten().map(|n| n.typ()).collect();
    assert!(!ns.contains(&LinuxNamespaceType::Network));
    assert!(!ns.contains(&LinuxNamespaceType::Uts));
    assert!(ns.contains(&LinuxNamespaceType::Cgroup));
    assert_eq!(l.sysctl().as_ref().unwrap()["kernel.shmmax"], "1");
    let r = l.resources().as_ref().unwrap();
    assert_eq!(r.memory().as_ref().unwrap().swap(), Some(128 << 20));
    assert_eq!(r.cpu().as_ref().unwrap().quota(), Some(50_000));
}

#[test]
fn build_errors() {
    let mut no_cmd = input();
    no_cmd.image.cmd = None;
    let cases: Vec<(SpecInput, &str)> = vec![
        (no_cmd, "No command specified"),
        (
            with(
                ContainerConfig {
                    entrypoint: Some(vec![String::new()]),
                    ..Default::default()
                },
                HostConfig::default(),
            ),
            "No command specified",
        ),
        (
            with(
                ContainerConfig {
                    user: "nobody".into(),
                    ..Default::default()
                },
                HostConfig::default(),
            ),
            "unable to find user nobody: no matching entries in passwd file",
        ),
        (
            with(
                ContainerConfig {
                    working_dir: "rel".into(),
                    ..Default::default()
                },
                HostConfig::default(),
            ),
            "the working directory 'rel' is invalid",
        ),
        (
            with(
                ContainerConfig::default(),
                HostConfig {
                    cap_add: vec!["FLY".into()],
                    ..Default::default()
                },
            ),
            "unknown capability: \"CAP_FLY\"",
        ),
        (
            with(
                ContainerConfig::default(),
                HostConfig {
                    security_opt: vec!["x=y".into()],
                    ..Default::default()
                },
            ),
            "invalid --security-opt 2",
        ),
        (
            with(
                ContainerConfig::default(),
                HostConfig {
                    network_mode: "host".into(),
                    sysctls: Some(BTreeMap::from([("net.ipv4.ip_forward".into(), "1".into())])),
                    ..Default::default()
                },
            ),
            "not allowed in host network namespace",
        ),
        (
            with(
                ContainerConfig::default(),
                HostConfig {
                    oom_score_adj: 2000,
                    ..Default::default()
                },
            ),
            "range for oom score adj",
        ),
        (
            with(
                ContainerConfig::default(),
                HostConfig {
                    resources: Resources {
                        memory: 10,
                        ..Default::default()
                    },
                    ..Default::default()
                },
            ),
            "Minimum memory limit",
        ),
        (
            with(
                ContainerConfig::default(),
                HostConfig {
                    security_opt: vec![r#"seccomp={"defaultAction":"NOPE"}"#.into()],
                    ..Default::default()
                },
            ),
            "decoding seccomp profile failed",
        ),
    ];
    for (input, want) in cases {
        let e = build(&input).unwrap_err().to_string();
        assert!(e.contains(want), "want {want:?}, got {e:?}");
    }
}

#[test]
fn environment_rules() {
    assert_eq!(
        environment(&["HOSTNAME=x".into(), "PATH".into()], "h", false, "/"),
        vec!["HOSTNAME=x", "HOME=/"]
    );
    assert_eq!(
        environment(&["HOME=/h".into()], "h", true, "/root"),
        vec![
            format!("PATH={DEFAULT_PATH}"),
            "HOSTNAME=h".into(),
            "TERM=xterm".into(),
            "HOME=/h".into()
        ]
    );
}
