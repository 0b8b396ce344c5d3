//! Which namespaces a container gets, from `--network`, `--pid`, `--ipc`, `--uts` and
//! `--cgroupns`.

use super::SpecError;
use berth_api_types::container::HostConfig;
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};
use std::path::PathBuf;

/// Whether `NetworkMode` shares the host's network stack.
pub fn is_host_network(host: &HostConfig) -> bool {
    host.network_mode == "host"
}

/// The namespace list: pid, ipc, uts, mount, network (joined at `netns` when the engine made
/// one), and cgroup on cgroup v2 (Docker's default there is a private cgroup namespace).
/// `host` modes drop the namespace; `container:<id>` modes are not supported yet.
pub fn namespaces(
    host: &HostConfig,
    cgroup_v2: bool,
    netns: Option<&PathBuf>,
) -> Result<Vec<LinuxNamespace>, SpecError> {
    for (flag, mode) in [
        ("--network", &host.network_mode),
        ("--pid", &host.pid_mode),
        ("--ipc", &host.ipc_mode),
        ("--uts", &host.uts_mode),
    ] {
        // The engine resolves `--network container:NAME` to that container's namespace and
        // passes it as `netns`; the other `container:` modes are not supported yet.
        let resolved = flag == "--network" && netns.is_some();
        if mode.starts_with("container:") && !resolved {
            return Err(SpecError::Unsupported(format!("{flag} {mode}")));
        }
    }
    let host_net = is_host_network(host);
    let ns = |typ: LinuxNamespaceType, path: Option<&PathBuf>| {
        let mut n = LinuxNamespace::default();
        n.set_typ(typ);
        n.set_path(path.cloned());
        n
    };
    let mut out = vec![ns(LinuxNamespaceType::Mount, None)];
    if host.pid_mode != "host" {
        out.push(ns(LinuxNamespaceType::Pid, None));
    }
    if host.ipc_mode != "host" {
        out.push(ns(LinuxNamespaceType::Ipc, None));
    }
    if host.uts_mode != "host" && !host_net {
        out.push(ns(LinuxNamespaceType::Uts, None));
    }
    if !host_net {
        out.push(ns(LinuxNamespaceType::Network, netns));
    }
    let cgroupns = match host.cgroupns_mode.as_str() {
        "" => cgroup_v2,
        "private" => true,
        "host" => false,
        other => {
            return Err(SpecError::Conflict(format!(
                "invalid cgroup namespace mode {other:?}: expected private or host"
            )));
        }
    };
    if cgroupns {
        out.push(ns(LinuxNamespaceType::Cgroup, None));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(host: &HostConfig, v2: bool) -> Vec<LinuxNamespaceType> {
        namespaces(host, v2, None)
            .unwrap()
            .iter()
            .map(|n| n.typ())
            .collect()
    }

    #[test]
    fn namespace_table() {
        use LinuxNamespaceType::*;
        let default = HostConfig::default();
        assert_eq!(kinds(&default, false), vec![Mount, Pid, Ipc, Uts, Network]);
        assert_eq!(
            kinds(&default, true),
            vec![Mount, Pid, Ipc, Uts, Network, Cgroup]
        );
        let host_net = HostConfig {
            network_mode: "host".into(),
            ..Default::default()
        };
        assert_eq!(kinds(&host_net, false), vec![Mount, Pid, Ipc]);
        let host_all = HostConfig {
            pid_mode: "host".into(),
            ipc_mode: "host".into(),
            uts_mode: "host".into(),
            cgroupns_mode: "host".into(),
            network_mode: "none".into(),
            ..Default::default()
        };
        assert_eq!(kinds(&host_all, true), vec![Mount, Network]);
    }

    #[test]
    fn netns_path_and_unsupported_modes() {
        let path = PathBuf::from("/run/berth/netns/abc");
        let ns = namespaces(&HostConfig::default(), false, Some(&path)).unwrap();
        let net = ns
            .iter()
            .find(|n| n.typ() == LinuxNamespaceType::Network)
            .unwrap();
        assert_eq!(net.path().as_ref(), Some(&path));
        let shared = HostConfig {
            pid_mode: "container:abc".into(),
            ..Default::default()
        };
        assert_eq!(
            namespaces(&shared, false, None).unwrap_err().to_string(),
            "--pid container:abc is not supported yet"
        );
    }
}
