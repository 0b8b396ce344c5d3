//! `--cap-add`, `--cap-drop` and `--privileged` applied to the default capability set, with
//! the rules of moby's `TweakCapabilities`.

use super::SpecError;

/// Every capability the kernel defines, as the OCI spec names them.
pub const ALL_CAPABILITIES: &[&str] = &[
    "CAP_AUDIT_CONTROL",
    "CAP_AUDIT_READ",
    "CAP_AUDIT_WRITE",
    "CAP_BLOCK_SUSPEND",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_KILL",
    "CAP_LEASE",
    "CAP_LINUX_IMMUTABLE",
    "CAP_MAC_ADMIN",
    "CAP_MAC_OVERRIDE",
    "CAP_MKNOD",
    "CAP_NET_ADMIN",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_RAW",
    "CAP_PERFMON",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYSLOG",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_CHROOT",
    "CAP_SYS_MODULE",
    "CAP_SYS_NICE",
    "CAP_SYS_PACCT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_WAKE_ALARM",
];

/// `net_admin`, `NET_ADMIN`, `cap_net_admin` → `CAP_NET_ADMIN`; `all` → `ALL`.
fn normalize(name: &str) -> Result<String, SpecError> {
    let upper = name.to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if ALL_CAPABILITIES.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(SpecError::UnknownCapability(full))
    }
}

/// The capability set of a container: everything when privileged; else `defaults` minus
/// `drop` plus `add`, where `ALL` in `add` starts from every capability and `ALL` in `drop`
/// keeps only `add`. Sorted, so specs are reproducible.
pub fn capabilities(
    defaults: &[String],
    add: &[String],
    drop: &[String],
    privileged: bool,
) -> Result<Vec<String>, SpecError> {
    if privileged {
        return Ok(ALL_CAPABILITIES.iter().map(|s| s.to_string()).collect());
    }
    let add = add
        .iter()
        .map(|c| normalize(c))
        .collect::<Result<Vec<_>, _>>()?;
    let drop = drop
        .iter()
        .map(|c| normalize(c))
        .collect::<Result<Vec<_>, _>>()?;
    let mut caps: Vec<String> = if add.iter().any(|c| c == "ALL") {
        ALL_CAPABILITIES.iter().map(|s| s.to_string()).collect()
    } else if drop.iter().any(|c| c == "ALL") {
        Vec::new()
    } else {
        defaults
            .iter()
            .map(|c| normalize(c))
            .collect::<Result<Vec<_>, _>>()?
    };
    caps.retain(|c| !drop.contains(c));
    for c in add {
        if c != "ALL" && !caps.contains(&c) {
            caps.push(c);
        }
    }
    caps.sort();
    caps.dedup();
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn capability_table() {
        let defaults = s(&["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"]);
        let cases: &[(&[&str], &[&str], Vec<String>)] = &[
            (&[], &[], s(&["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"])),
            (
                &["net_admin"],
                &["NET_RAW"],
                s(&["CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN"]),
            ),
            (
                &["CAP_SYS_ADMIN"],
                &["cap_kill"],
                s(&["CAP_CHOWN", "CAP_NET_RAW", "CAP_SYS_ADMIN"]),
            ),
            (&["chown"], &["ALL"], s(&["CAP_CHOWN"])),
            (&[], &["all"], s(&[])),
            (
                &["kill"],
                &["kill"],
                s(&["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"]),
            ),
        ];
        for (add, drop, want) in cases {
            let got = capabilities(&defaults, &s(add), &s(drop), false).unwrap();
            assert_eq!(&got, want, "add {add:?} drop {drop:?}");
        }
        let all = capabilities(&defaults, &s(&["ALL"]), &s(&["sys_admin"]), false).unwrap();
        assert_eq!(all.len(), ALL_CAPABILITIES.len() - 1);
        assert!(!all.contains(&"CAP_SYS_ADMIN".to_string()));
        let privileged = capabilities(&defaults, &[], &s(&["ALL"]), true).unwrap();
        assert_eq!(privileged.len(), ALL_CAPABILITIES.len());
    }

    #[test]
    fn unknown_capability_is_named() {
        let e = capabilities(&[], &s(&["bogus"]), &[], false).unwrap_err();
        assert_eq!(e.to_string(), "unknown capability: \"CAP_BOGUS\"");
    }
}
