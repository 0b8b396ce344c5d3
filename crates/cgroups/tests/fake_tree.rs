//! The manager against fake cgroup trees made of plain files in a temp dir.
//!
//! This is how the v2 code path is exercised on hosts without a usable cgroup2 hierarchy (this
//! project's own CI machine has only `hugetlb` there): the test prepares the files the kernel
//! would offer, lets the manager run, and checks what it wrote. What the fake cannot show is the
//! kernel's reaction (validation, state changes); the live tests cover that where they can.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use berth_cgroups::resources::{Blkio, Hugepage, Throttle};
use berth_cgroups::{Cgroup, CgroupRoot, Controller, Error, Resources};
use std::fs;
use std::path::Path;

const MIB: i64 = 1 << 20;

fn put(dir: &Path, file: &str, text: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(file), text).unwrap();
}

fn get(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file)).unwrap()
}

/// Removes the plain files a fake group holds, which the kernel would do on rmdir.
fn clear_files(dir: &Path) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            fs::remove_file(entry.path()).unwrap();
        }
    }
}

/// A cgroup2 mount offering `controllers`, with `berth/x` pre-made as the kernel would make it.
fn fake_v2(root: &Path, controllers: &str) {
    for dir in [root.to_path_buf(), root.join("berth")] {
        put(&dir, "cgroup.controllers", controllers);
        put(&dir, "cgroup.subtree_control", "");
    }
    let leaf = root.join("berth/x");
    put(&leaf, "cgroup.controllers", controllers);
    put(&leaf, "cgroup.subtree_control", "");
    put(&leaf, "cgroup.procs", "");
    put(&leaf, "cgroup.freeze", "0\n");
    put(&leaf, "cgroup.events", "populated 0\nfrozen 0\n");
    put(&leaf, "cgroup.kill", "");
    put(
        &leaf,
        "cpu.stat",
        "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n",
    );
    for (file, text) in [
        ("memory.max", "max\n"),
        ("memory.swap.max", "max\n"),
        ("memory.low", "0\n"),
        ("memory.current", "4096\n"),
        ("memory.peak", "8192\n"),
        ("memory.events", "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n"),
        ("memory.stat", "anon 0\ninactive_file 1024\n"),
        ("cpu.max", "max 100000\n"),
        ("cpu.weight", "100\n"),
        ("cpuset.cpus", "\n"),
        ("cpuset.mems", "\n"),
        ("pids.max", "max\n"),
        ("pids.current", "2\n"),
    ] {
        put(&leaf, file, text);
    }
}

#[test]
fn v2_create_writes_the_plan_and_enables_controllers() {
    let tmp = tempfile::tempdir().unwrap();
    let root_dir = tmp.path();
    fake_v2(root_dir, "cpuset cpu io memory pids");
    let root = CgroupRoot::unified(root_dir);
    let resources = Resources {
        memory: Some(16 * MIB),
        memory_swap: Some(48 * MIB),
        memory_reservation: Some(8 * MIB),
        cpu_shares: Some(1024),
        cpu_quota: Some(50_000),
        cpu_period: Some(100_000),
        cpuset_cpus: Some("0".into()),
        cpuset_mems: Some("0".into()),
        pids_limit: Some(5),
        ..Default::default()
    };
    let cg = Cgroup::create(&root, "berth/x", &resources).unwrap();
    let leaf = root_dir.join("berth/x");
    assert_eq!(cg.unified_dir().unwrap(), leaf);
    assert_eq!(cg.dirs(), vec![leaf.clone()]);

    // Both ancestors had every wanted controller enabled in one write.
    assert_eq!(
        get(root_dir, "cgroup.subtree_control"),
        "+cpu +cpuset +io +memory +pids"
    );
    assert_eq!(
        get(&root_dir.join("berth"), "cgroup.subtree_control"),
        "+cpu +cpuset +io +memory +pids"
    );
    // The leaf's own subtree_control is left alone (it will hold processes).
    assert_eq!(get(&leaf, "cgroup.subtree_control"), "");

    assert_eq!(get(&leaf, "memory.max"), "16777216");
    assert_eq!(get(&leaf, "memory.swap.max"), "33554432");
    assert_eq!(get(&leaf, "memory.low"), "8388608");
    assert_eq!(get(&leaf, "cpu.weight"), "39");
    assert_eq!(get(&leaf, "cpu.max"), "50000 100000");
    assert_eq!(get(&leaf, "cpuset.cpus"), "0");
    assert_eq!(get(&leaf, "cpuset.mems"), "0");
    assert_eq!(get(&leaf, "pids.max"), "5");

    // update: only what is given changes; a period alone keeps the current quota.
    cg.update(&Resources {
        cpu_period: Some(20_000),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(get(&leaf, "cpu.max"), "50000 20000");
    cg.update(&Resources {
        memory: Some(-1),
        pids_limit: Some(-1),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(get(&leaf, "memory.max"), "max");
    assert_eq!(get(&leaf, "memory.swap.max"), "33554432");
    assert_eq!(get(&leaf, "pids.max"), "max");
    assert_eq!(get(&leaf, "cpu.weight"), "39");
}

#[test]
fn v2_processes_freeze_kill_stats() {
    let tmp = tempfile::tempdir().unwrap();
    fake_v2(tmp.path(), "cpu memory pids");
    let root = CgroupRoot::unified(tmp.path());
    let cg = Cgroup::create(&root, "berth/x", &Resources::default()).unwrap();
    let leaf = tmp.path().join("berth/x");

    cg.add_process(4242).unwrap();
    assert_eq!(get(&leaf, "cgroup.procs"), "4242");
    assert_eq!(cg.pids().unwrap(), vec![4242]);

    // The kernel would flip cgroup.events; the fake is prepared in advance.
    put(&leaf, "cgroup.events", "populated 1\nfrozen 1\n");
    cg.freeze().unwrap();
    assert_eq!(get(&leaf, "cgroup.freeze"), "1");
    assert!(cg.is_frozen().unwrap());
    put(&leaf, "cgroup.events", "populated 1\nfrozen 0\n");
    cg.thaw().unwrap();
    assert_eq!(get(&leaf, "cgroup.freeze"), "0");
    assert!(!cg.is_frozen().unwrap());

    // cgroup.kill is used when present; the (fake) kernel empties cgroup.procs.
    put(&leaf, "cgroup.procs", "");
    cg.kill_all().unwrap();
    assert_eq!(get(&leaf, "cgroup.kill"), "1");

    let stats = cg.stats().unwrap();
    assert_eq!(stats.memory_usage, Some(4096));
    assert_eq!(stats.memory_limit, None);
    assert_eq!(stats.memory_max_usage, Some(8192));
    assert_eq!(stats.memory_inactive_file, Some(1024));
    assert_eq!(stats.oom_kills, Some(1));
    assert_eq!(stats.cpu_usage_ns, Some(2_500_000));
    assert_eq!(stats.pids_current, Some(2));

    // Re-opening after a daemon restart finds the same group.
    let again = Cgroup::load(&root, "berth/x").unwrap();
    assert_eq!(again, cg);

    clear_files(&leaf);
    cg.destroy().unwrap();
    assert!(!leaf.exists());
    assert!(tmp.path().join("berth").exists(), "shared parents stay");
    cg.destroy().unwrap();
    assert!(matches!(
        Cgroup::load(&root, "berth/x"),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn v2_freeze_times_out_and_thaws_back() {
    let tmp = tempfile::tempdir().unwrap();
    fake_v2(tmp.path(), "memory");
    let root = CgroupRoot::unified(tmp.path());
    let cg = Cgroup::load(&root, "berth/x").unwrap();
    // cgroup.events keeps saying frozen 0: the wait must give up and undo the request. Takes
    // FREEZE_TIMEOUT (5 s).
    let err = cg.freeze().unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("frozen 1"), "{err}");
    assert_eq!(get(&tmp.path().join("berth/x"), "cgroup.freeze"), "0");
}

#[test]
fn v2_missing_controller_is_refused_before_any_write() {
    let tmp = tempfile::tempdir().unwrap();
    // Like this project's CI host: cgroup2 offers only hugetlb.
    fake_v2(tmp.path(), "hugetlb");
    let root = CgroupRoot::unified(tmp.path());
    let leaf = tmp.path().join("berth/x");
    let resources = Resources {
        pids_limit: Some(5),
        memory: Some(16 * MIB),
        ..Default::default()
    };
    let err = Cgroup::create(&root, "berth/x", &resources).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("linux.resources.memory.limit: "),
        "{err}"
    );
    match err.innermost() {
        Error::ControllerUnavailable { controller, detail } => {
            assert_eq!(controller, "memory");
            assert!(detail.contains("cgroup.controllers"), "{detail}");
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(get(&leaf, "memory.max"), "max\n");
    assert_eq!(get(&leaf, "pids.max"), "max\n");
    assert_eq!(get(tmp.path(), "cgroup.subtree_control"), "+hugetlb");
    // Empty resources need no controller at all.
    Cgroup::create(&root, "berth/x", &Resources::default()).unwrap();
}

#[test]
fn v2_creates_missing_directories() {
    let tmp = tempfile::tempdir().unwrap();
    put(tmp.path(), "cgroup.controllers", "memory pids");
    put(tmp.path(), "cgroup.subtree_control", "memory");
    let root = CgroupRoot::unified(tmp.path());
    // The intermediate directory has no cgroup.controllers in a fake tree: that is reported
    // with its path, after the top-level one was handled (pids enabled, memory already was).
    let err = Cgroup::create(&root, "a/b", &Resources::default()).unwrap_err();
    assert!(err.to_string().contains("a/cgroup.controllers"), "{err}");
    assert_eq!(get(tmp.path(), "cgroup.subtree_control"), "+pids");
    // The leaf was never made; the parent stays (parents are shared, their owner removes them
    // with remove_if_unused).
    assert!(!tmp.path().join("a/b").exists());
    assert!(tmp.path().join("a").is_dir());
    assert!(berth_cgroups::remove_if_unused(&root, "a").unwrap());
    assert!(!tmp.path().join("a").exists());
    let ok = Cgroup::create(&root, "top", &Resources::default()).unwrap();
    assert!(tmp.path().join("top").is_dir());
    ok.destroy().unwrap();
    assert!(!tmp.path().join("top").exists());
}

/// A legacy tree: cpu and cpuacct co-mounted, memory with swap accounting.
fn fake_v1(root: &Path) -> CgroupRoot {
    let cpu = root.join("cpu,cpuacct");
    let mounts = [
        (Controller::Memory, root.join("memory")),
        (Controller::Cpu, cpu.clone()),
        (Controller::Cpuacct, cpu),
        (Controller::Cpuset, root.join("cpuset")),
        (Controller::Pids, root.join("pids")),
        (Controller::Freezer, root.join("freezer")),
    ];
    for (_, mount) in &mounts {
        put(&mount.join("berth/x"), "cgroup.procs", "");
    }
    let mem = root.join("memory/berth/x");
    put(&mem, "memory.limit_in_bytes", "67108864\n");
    put(&mem, "memory.memsw.limit_in_bytes", "134217728\n");
    put(&mem, "memory.soft_limit_in_bytes", "9223372036854771712\n");
    put(&mem, "memory.usage_in_bytes", "1000\n");
    put(&mem, "memory.max_usage_in_bytes", "2000\n");
    put(
        &mem,
        "memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
    );
    let cpu = root.join("cpu,cpuacct/berth/x");
    for (file, text) in [
        ("cpu.shares", "1024\n"),
        ("cpu.cfs_quota_us", "-1\n"),
        ("cpu.cfs_period_us", "100000\n"),
        ("cpuacct.usage", "777\n"),
    ] {
        put(&cpu, file, text);
    }
    put(&root.join("cpuset"), "cpuset.cpus", "0-3\n");
    put(&root.join("cpuset"), "cpuset.mems", "0\n");
    for dir in [root.join("cpuset/berth"), root.join("cpuset/berth/x")] {
        put(&dir, "cpuset.cpus", "\n");
        put(&dir, "cpuset.mems", "\n");
    }
    put(&root.join("pids/berth/x"), "pids.max", "max\n");
    put(&root.join("pids/berth/x"), "pids.current", "0\n");
    put(&root.join("freezer/berth/x"), "freezer.state", "THAWED\n");
    CgroupRoot::legacy(mounts)
}

#[test]
fn v1_create_fills_every_hierarchy() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fake_v1(tmp.path());
    let resources = Resources {
        memory: Some(16 * MIB),
        memory_swap: Some(32 * MIB),
        cpu_shares: Some(512),
        cpu_quota: Some(50_000),
        pids_limit: Some(5),
        ..Default::default()
    };
    let cg = Cgroup::create(&root, "berth/x", &resources).unwrap();
    let t = tmp.path();
    assert_eq!(
        get(&t.join("memory/berth/x"), "memory.limit_in_bytes"),
        "16777216"
    );
    assert_eq!(
        get(&t.join("memory/berth/x"), "memory.memsw.limit_in_bytes"),
        "33554432"
    );
    assert_eq!(get(&t.join("cpu,cpuacct/berth/x"), "cpu.shares"), "512");
    assert_eq!(
        get(&t.join("cpu,cpuacct/berth/x"), "cpu.cfs_quota_us"),
        "50000"
    );
    assert_eq!(
        get(&t.join("cpu,cpuacct/berth/x"), "cpu.cfs_period_us"),
        "100000\n"
    );
    assert_eq!(get(&t.join("pids/berth/x"), "pids.max"), "5");
    // cpuset masks were inherited level by level.
    assert_eq!(get(&t.join("cpuset/berth"), "cpuset.cpus"), "0-3");
    assert_eq!(get(&t.join("cpuset/berth/x"), "cpuset.cpus"), "0-3");
    assert_eq!(get(&t.join("cpuset/berth/x"), "cpuset.mems"), "0");
    // Co-mounted cpu,cpuacct is one directory.
    assert_eq!(cg.dirs().len(), 5);

    cg.add_process(4242).unwrap();
    for dir in cg.dirs() {
        assert_eq!(get(&dir, "cgroup.procs"), "4242", "{}", dir.display());
    }
    assert_eq!(cg.pids().unwrap(), vec![4242]);

    cg.freeze().unwrap();
    assert_eq!(get(&t.join("freezer/berth/x"), "freezer.state"), "FROZEN");
    assert!(cg.is_frozen().unwrap());
    cg.thaw().unwrap();
    assert_eq!(get(&t.join("freezer/berth/x"), "freezer.state"), "THAWED");

    let stats = cg.stats().unwrap();
    assert_eq!(stats.memory_usage, Some(1000));
    assert_eq!(stats.memory_limit, Some(16 * MIB as u64));
    assert_eq!(stats.memory_max_usage, Some(2000));
    assert_eq!(stats.oom_kills, Some(3));
    assert_eq!(stats.cpu_usage_ns, Some(777));
    assert_eq!(stats.pids_current, Some(0));

    for dir in cg.dirs() {
        clear_files(&dir);
    }
    cg.destroy().unwrap();
    assert!(cg.dirs().iter().all(|d| !d.exists()));
}

#[test]
fn v1_without_swap_accounting_skips_memsw() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fake_v1(tmp.path());
    let mem = tmp.path().join("memory/berth/x");
    fs::remove_file(mem.join("memory.memsw.limit_in_bytes")).unwrap();
    let resources = Resources {
        memory: Some(16 * MIB),
        memory_swap: Some(32 * MIB),
        ..Default::default()
    };
    Cgroup::create(&root, "berth/x", &resources).unwrap();
    assert_eq!(get(&mem, "memory.limit_in_bytes"), "16777216");
    assert!(!mem.join("memory.memsw.limit_in_bytes").exists());
}

#[test]
fn v1_missing_pids_hierarchy_is_refused_only_when_needed() {
    let tmp = tempfile::tempdir().unwrap();
    let full = fake_v1(tmp.path());
    let mounts: Vec<_> = [Controller::Memory, Controller::Freezer]
        .into_iter()
        .map(|c| (c, full.v1_mount(c).unwrap().to_path_buf()))
        .collect();
    let root = CgroupRoot::legacy(mounts);
    let err = Cgroup::create(
        &root,
        "berth/x",
        &Resources {
            pids_limit: Some(5),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(err.innermost(), Error::ControllerUnavailable { controller, .. } if controller == "pids"),
        "{err}"
    );
    Cgroup::create(
        &root,
        "berth/x",
        &Resources {
            memory: Some(MIB * 8),
            ..Default::default()
        },
    )
    .unwrap();
}

/// [`fake_v1`] plus what this project's CI host has: a blkio hierarchy with BFQ's files only,
/// and a cgroup2 mount whose only controller is `hugetlb`. The fake group's own
/// `cgroup.controllers` lists hugetlb already (the kernel would once the parent enables it).
fn fake_hybrid(root: &Path) -> CgroupRoot {
    let v1 = fake_v1(root);
    let blkio = root.join("blkio");
    let leaf = blkio.join("berth/x");
    for file in [
        "cgroup.procs",
        "blkio.bfq.weight",
        "blkio.bfq.weight_device",
        "blkio.throttle.read_bps_device",
        "blkio.throttle.write_bps_device",
        "blkio.throttle.read_iops_device",
        "blkio.throttle.write_iops_device",
    ] {
        put(&leaf, file, "");
    }
    let unified = root.join("unified");
    put(&unified, "cgroup.controllers", "hugetlb\n");
    put(&unified, "cgroup.subtree_control", "\n");
    put(&unified.join("berth"), "cgroup.subtree_control", "\n");
    let group = unified.join("berth/x");
    put(&group, "cgroup.controllers", "hugetlb\n");
    put(&group, "cgroup.procs", "");
    for file in [
        "hugetlb.2MB.max",
        "hugetlb.2MB.rsvd.max",
        "hugetlb.2MB.current",
        "hugetlb.1GB.max",
        "hugetlb.1GB.rsvd.max",
    ] {
        put(&group, file, "max\n");
    }
    let mut mounts: Vec<(Controller, std::path::PathBuf)> = Controller::ALL
        .into_iter()
        .filter_map(|c| v1.v1_mount(c).map(|m| (c, m.to_path_buf())))
        .collect();
    mounts.push((Controller::Blkio, blkio));
    CgroupRoot::hybrid(mounts, unified)
}

fn two_mb(limit: u64) -> Hugepage {
    Hugepage {
        page_size: "2MB".into(),
        limit,
    }
}

#[test]
fn hybrid_hugetlb_goes_to_cgroup2_and_blkio_uses_bfq() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let root = fake_hybrid(t);
    let resources = Resources {
        blkio: Some(Blkio {
            weight: Some(300),
            throttle_read_bps: vec![Throttle {
                major: 254,
                minor: 0,
                rate: 1_048_576,
            }],
            ..Default::default()
        }),
        hugepage_limits: vec![two_mb(4 << 20)],
        ..Default::default()
    };
    let cg = Cgroup::create(&root, "berth/x", &resources).unwrap();
    // +hugetlb was enabled from the cgroup2 root down to the group's parent, not in the group.
    assert_eq!(
        get(&t.join("unified"), "cgroup.subtree_control"),
        "+hugetlb"
    );
    assert_eq!(
        get(&t.join("unified/berth"), "cgroup.subtree_control"),
        "+hugetlb"
    );
    let group = t.join("unified/berth/x");
    assert_eq!(get(&group, "hugetlb.2MB.max"), "4194304");
    assert_eq!(get(&group, "hugetlb.2MB.rsvd.max"), "4194304");
    assert_eq!(get(&group, "hugetlb.1GB.max"), "max\n");
    let blkio = t.join("blkio/berth/x");
    assert_eq!(get(&blkio, "blkio.bfq.weight"), "300");
    assert_eq!(
        get(&blkio, "blkio.throttle.read_bps_device"),
        "254:0 1048576"
    );
    // The process joins both, the optional blkio hierarchy and the hybrid cgroup2 group.
    cg.add_process(4242).unwrap();
    assert_eq!(get(&blkio, "cgroup.procs"), "4242");
    assert_eq!(get(&group, "cgroup.procs"), "4242");

    // A leaf weight cannot be applied without CFQ: refused by name, nothing written.
    let err = cg
        .update(&Resources {
            blkio: Some(Blkio {
                weight: Some(500),
                leaf_weight: Some(500),
                ..Default::default()
            }),
            ..Default::default()
        })
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("linux.resources.blockIO.leafWeight: "),
        "{err}"
    );
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
    assert_eq!(get(&blkio, "blkio.bfq.weight"), "300");

    // A page size the kernel has no files for is refused by index.
    let err = cg
        .update(&Resources {
            hugepage_limits: vec![
                two_mb(1),
                Hugepage {
                    page_size: "3MB".into(),
                    limit: 1,
                },
            ],
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "linux.resources.hugepageLimits[1].pageSize: 3MB is not a huge page size of this host \
         (it has 1GB, 2MB)"
    );
    assert_eq!(get(&group, "hugetlb.2MB.max"), "4194304");

    // A kernel refusal (here: the fake has no such file) names the field too.
    fs::remove_file(blkio.join("blkio.throttle.write_iops_device")).unwrap();
    let err = cg
        .update(&Resources {
            blkio: Some(Blkio {
                throttle_write_iops: vec![Throttle {
                    major: 254,
                    minor: 0,
                    rate: 100,
                }],
                ..Default::default()
            }),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("linux.resources.blockIO.throttleWriteIOPSDevice[0]: ")
            && err.contains("does not exist"),
        "{err}"
    );
}

#[test]
fn hybrid_without_hugetlb_anywhere_refuses_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fake_hybrid(tmp.path());
    put(&tmp.path().join("unified"), "cgroup.controllers", "\n");
    put(
        &tmp.path().join("unified/berth/x"),
        "cgroup.controllers",
        "\n",
    );
    let err = Cgroup::create(
        &root,
        "berth/x",
        &Resources {
            hugepage_limits: vec![two_mb(1)],
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("linux.resources.hugepageLimits: "),
        "{err}"
    );
    // Nothing was enabled where the controller is not offered.
    assert_eq!(
        get(&tmp.path().join("unified"), "cgroup.subtree_control"),
        "\n"
    );
}

#[test]
fn optional_hierarchies_are_required_when_the_resources_use_them() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let root = fake_hybrid(t);
    // No group can be made in blkio or the cgroup2 mount: their `berth` is a plain file.
    for mount in ["blkio", "unified"] {
        fs::remove_dir_all(t.join(mount).join("berth")).unwrap();
        fs::write(t.join(mount).join("berth"), "").unwrap();
    }
    // Unused, they are skipped.
    Cgroup::create(
        &root,
        "berth/x",
        &Resources {
            memory: Some(16 * MIB),
            ..Default::default()
        },
    )
    .unwrap();
    let blkio = Resources {
        blkio: Some(Blkio {
            weight: Some(300),
            ..Default::default()
        }),
        ..Default::default()
    };
    let err = Cgroup::create(&root, "berth/x", &blkio)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("linux.resources.blockIO: creating "),
        "{err}"
    );
    let huge = Resources {
        hugepage_limits: vec![two_mb(1)],
        ..Default::default()
    };
    let err = Cgroup::create(&root, "berth/x", &huge)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("linux.resources.hugepageLimits: creating "),
        "{err}"
    );
}

#[test]
fn joining_a_used_optional_hierarchy_must_work() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let root = fake_hybrid(t);
    // The fake blkio group cannot be joined (no cgroup.procs).
    fs::remove_file(t.join("blkio/berth/x/cgroup.procs")).unwrap();
    let unused = Cgroup::create(&root, "berth/x", &Resources::default()).unwrap();
    unused.add_process(4242).unwrap();
    let used = Cgroup::create(
        &root,
        "berth/x",
        &Resources {
            blkio: Some(Blkio {
                weight: Some(300),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .unwrap();
    let err = used.add_process(4242).unwrap_err().to_string();
    assert!(
        err.starts_with("linux.resources.blockIO: writing 4242"),
        "{err}"
    );
    // A handle that was loaded knows no resources and skips as before.
    Cgroup::load(&root, "berth/x")
        .unwrap()
        .add_process(4242)
        .unwrap();
}

#[test]
fn v2_io_and_hugetlb() {
    let tmp = tempfile::tempdir().unwrap();
    fake_v2(tmp.path(), "io hugetlb memory");
    let leaf = tmp.path().join("berth/x");
    for file in [
        "io.weight",
        "io.max",
        "hugetlb.2MB.max",
        "hugetlb.2MB.rsvd.max",
    ] {
        put(&leaf, file, "");
    }
    let root = CgroupRoot::unified(tmp.path());
    let resources = Resources {
        memory_swappiness: Some(10),
        blkio: Some(Blkio {
            weight: Some(300),
            leaf_weight: Some(300),
            throttle_write_bps: vec![Throttle {
                major: 8,
                minor: 0,
                rate: 4096,
            }],
            ..Default::default()
        }),
        hugepage_limits: vec![two_mb(2 << 20)],
        ..Default::default()
    };
    assert_eq!(resources.ignored_on(root.layout()).len(), 2);
    Cgroup::create(&root, "berth/x", &resources).unwrap();
    assert_eq!(get(&leaf, "io.weight"), "default 2930");
    assert_eq!(get(&leaf, "io.max"), "8:0 wbps=4096");
    assert_eq!(get(&leaf, "hugetlb.2MB.max"), "2097152");
    assert_eq!(get(&leaf, "hugetlb.2MB.rsvd.max"), "2097152");
    // io.bfq.weight is preferred when the group has it.
    put(&leaf, "io.bfq.weight", "");
    Cgroup::load(&root, "berth/x")
        .unwrap()
        .update(&Resources {
            blkio: Some(Blkio {
                weight: Some(300),
                ..Default::default()
            }),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(get(&leaf, "io.bfq.weight"), "300");
}
