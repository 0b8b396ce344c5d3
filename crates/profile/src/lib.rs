//! Layer 0 of Berth: Docker's default hardening as ready-made values, and a default OCI spec
//! like `runc spec`.
//!
//! It is its own crate because two layers need the same data: the runtime (`berth oci spec`,
//! tests) and the engine, which builds every container's spec but must not link the runtime.
//! The engine applies these to every container unless the user opts out (`--privileged`,
//! `--cap-add`, `--security-opt seccomp=unconfined`), so they are data here, not behaviour: the
//! capability list, the seccomp profile ([`seccomp::default_profile`]), and the masked and
//! read-only paths that hide the host's kernel interfaces under `/proc` and `/sys`.

// Unsafe code lives in layer 1 (design.md): never above it.
#![forbid(unsafe_code)]

pub mod caps;
pub mod seccomp;

/// The OCI runtime-spec version Berth writes and accepts.
pub const OCI_VERSION: &str = "1.2.0";

use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxNamespaceBuilder, LinuxNamespaceType,
    Mount, MountBuilder, PosixRlimitBuilder, PosixRlimitType, ProcessBuilder, RootBuilder, Spec,
    UserBuilder,
};
use std::collections::HashSet;

/// Docker's default capability set: what a plain `docker run` process keeps.
pub const DEFAULT_CAPS: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// Paths hidden from the container: kernel memory, keys, timers and hardware interfaces that
/// would leak host information or allow attacks.
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths made read-only: writable kernel tunables that are not namespaced.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The default capability set as an `oci-spec` set.
pub fn default_caps() -> HashSet<Capability> {
    DEFAULT_CAPS.into_iter().collect()
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    // The builder only fails on missing required fields, and every field is set here.
    MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
        .build()
        .unwrap_or_default()
}

/// The standard container mounts (runc's `spec` list): `/proc`, a `/dev` tmpfs with a private
/// devpts, `/dev/shm`, `/dev/mqueue`, read-only `/sys` and `/sys/fs/cgroup`.
pub fn default_mounts() -> Vec<Mount> {
    vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ),
    ]
}

/// A complete spec for running `args` from a `rootfs` directory next to `config.json`, with
/// Docker's hardening: its capabilities, seccomp profile, masked and read-only paths, new
/// pid/net/ipc/uts/mount/cgroup namespaces, `noNewPrivileges`, and a read-only root like
/// `runc spec`.
pub fn default_spec(args: &[String]) -> Spec {
    let caps = default_caps();
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .build()
        .unwrap_or_default();
    let process = ProcessBuilder::default()
        .terminal(false)
        .user(
            UserBuilder::default()
                .uid(0u32)
                .gid(0u32)
                .build()
                .unwrap_or_default(),
        )
        .args(args.to_vec())
        .env(vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            "TERM=xterm".to_string(),
        ])
        .cwd("/")
        .capabilities(capabilities)
        .rlimits(vec![
            PosixRlimitBuilder::default()
                .typ(PosixRlimitType::RlimitNofile)
                .hard(1024u64)
                .soft(1024u64)
                .build()
                .unwrap_or_default(),
        ])
        .no_new_privileges(true)
        .build()
        .unwrap_or_default();
    let namespaces = [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Cgroup,
    ]
    .into_iter()
    .map(|t| {
        LinuxNamespaceBuilder::default()
            .typ(t)
            .build()
            .unwrap_or_default()
    })
    .collect::<Vec<_>>();
    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .masked_paths(
            MASKED_PATHS
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        )
        .readonly_paths(
            READONLY_PATHS
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        )
        .seccomp(seccomp::default_profile(&[]))
        .build()
        .unwrap_or_default();
    let mut spec = Spec::default();
    spec.set_version(OCI_VERSION.to_string());
    spec.set_root(Some(
        RootBuilder::default()
            .path("rootfs")
            .readonly(true)
            .build()
            .unwrap_or_default(),
    ));
    spec.set_process(Some(process));
    spec.set_hostname(Some("berth".to_string()));
    spec.set_mounts(Some(default_mounts()));
    spec.set_linux(Some(linux));
    spec.set_hooks(None);
    spec.set_annotations(None);
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_roundtrips_through_json() {
        let spec = default_spec(&["sh".into()]);
        let json = serde_json::to_string(&spec).unwrap();
        let back: Spec = serde_json::from_str(&json).unwrap();
        assert_eq!(
            back.process()
                .as_ref()
                .unwrap()
                .capabilities()
                .as_ref()
                .unwrap()
                .bounding()
                .as_ref()
                .unwrap()
                .len(),
            14
        );
        assert_eq!(back.mounts().as_ref().unwrap().len(), 7);
    }
}
