//! The Linux capabilities by name and number: one table for the runtime (names to bits for
//! `capset`) and the engine (`--cap-add ALL`, `--privileged`, the host's bounding set).

/// Capability names in kernel bit order (`CAP_CHOWN` is bit 0).
pub const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The bit of a capability name (`CAP_` prefix optional, case-insensitive).
pub fn bit(name: &str) -> Option<u32> {
    let short = match name.get(..4) {
        Some(p) if p.eq_ignore_ascii_case("cap_") => &name[4..],
        _ => name,
    };
    NAMES
        .iter()
        .position(|n| n[4..].eq_ignore_ascii_case(short))
        .map(|i| i as u32)
}

/// Every capability, sorted by name: the order Docker writes them in specs (`--privileged`,
/// `--cap-add ALL`), so specs are reproducible.
pub fn all_sorted() -> Vec<&'static str> {
    let mut all = NAMES.to_vec();
    all.sort_unstable();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_bits_and_the_sorted_set() {
        assert_eq!(bit("CAP_CHOWN"), Some(0));
        assert_eq!(bit("sys_admin"), Some(21));
        assert_eq!(bit("Cap_Chown"), Some(0));
        assert_eq!(bit("é"), None);
        assert_eq!(bit("CAP_SYS_RESOURCE"), Some(24));
        assert_eq!(bit("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(bit("CAP_NOPE"), None);
        let all = all_sorted();
        assert_eq!(all.len(), 41);
        assert_eq!(all[0], "CAP_AUDIT_CONTROL");
        assert!(all.windows(2).all(|w| w[0] < w[1]));
    }
}
