//! `--sysctl`: only namespaced kernel parameters, and only for namespaces the container owns
//! (Docker's list: IPC ones unless `--ipc host`, `net.*` unless `--network host`).

use super::SpecError;
use std::collections::{BTreeMap, HashMap};

const IPC_KEYS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Checks the requested sysctls against the container's namespaces.
pub fn sysctls(
    requested: &BTreeMap<String, String>,
    host_network: bool,
    host_ipc: bool,
) -> Result<HashMap<String, String>, SpecError> {
    let mut out = HashMap::new();
    for (key, value) in requested {
        let ipc = IPC_KEYS.contains(&key.as_str()) || key.starts_with("fs.mqueue.");
        if ipc {
            if host_ipc {
                return Err(SpecError::Sysctl(format!(
                    "sysctl {key:?} is not allowed in host IPC namespace"
                )));
            }
        } else if key.starts_with("net.") {
            if host_network {
                return Err(SpecError::Sysctl(format!(
                    "sysctl '{key}' is not allowed in host network namespace"
                )));
            }
        } else {
            return Err(SpecError::Sysctl(format!("sysctl '{key}' is not allowed")));
        }
        out.insert(key.clone(), value.clone());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(keys: &[&str]) -> BTreeMap<String, String> {
        keys.iter()
            .map(|k| (k.to_string(), "1".to_string()))
            .collect()
    }

    #[test]
    fn sysctl_table() {
        let ok = [
            "net.ipv4.ip_forward",
            "kernel.shmmax",
            "fs.mqueue.msg_max",
            "kernel.sem",
        ];
        assert_eq!(sysctls(&map(&ok), false, false).unwrap().len(), 4);
        let cases = [
            (
                "kernel.hostname",
                false,
                false,
                "sysctl 'kernel.hostname' is not allowed",
            ),
            (
                "vm.swappiness",
                false,
                false,
                "sysctl 'vm.swappiness' is not allowed",
            ),
            (
                "net.core.somaxconn",
                true,
                false,
                "not allowed in host network namespace",
            ),
            (
                "kernel.shmmax",
                false,
                true,
                "not allowed in host IPC namespace",
            ),
        ];
        for (key, host_net, host_ipc, want) in cases {
            let e = sysctls(&map(&[key]), host_net, host_ipc)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{key}: {e}");
        }
    }
}
