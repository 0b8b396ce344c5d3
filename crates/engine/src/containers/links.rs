//! Legacy links (`--link name[:alias]`): the linked container's address under its name and
//! alias in /etc/hosts, and Docker's environment variables (`ALIAS_PORT_80_TCP_ADDR`, …).
//! Kept for old compose files and scripts; DNS on every network makes them unnecessary.

use super::record::ContainerRecord;
use crate::EngineError;
use std::net::Ipv4Addr;

/// What the links of a container contribute.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Linked {
    /// `name:ip` entries for /etc/hosts.
    pub hosts: Vec<String>,
    /// `KEY=value` variables.
    pub env: Vec<String>,
}

/// The alias a `--link` entry gives (`name:alias`, or the name alone).
pub fn alias_of(link: &str) -> &str {
    let link = link.trim_start_matches('/');
    match link.split_once(':') {
        Some((_, a)) => a.rsplit('/').next().unwrap_or(a),
        None => link,
    }
}

/// `(alias, container name)` of each of `rec`'s links, for DNS.
pub fn alias_pairs(rec: &ContainerRecord) -> Vec<(String, String)> {
    rec.host_config
        .links
        .iter()
        .map(|link| {
            let link = link.trim_start_matches('/');
            let name = link.split_once(':').map_or(link, |(n, _)| n);
            (alias_of(link).to_string(), name.to_string())
        })
        .collect()
}

/// Resolves `rec`'s links; `lookup` finds a running container and its address.
pub fn resolve(
    rec: &ContainerRecord,
    lookup: &dyn Fn(&str) -> Option<(ContainerRecord, Ipv4Addr)>,
) -> Result<Linked, EngineError> {
    let mut out = Linked::default();
    for link in &rec.host_config.links {
        let link = link.trim_start_matches('/');
        let (name, alias) = match link.split_once(':') {
            Some((n, a)) => (n, a.rsplit('/').next().unwrap_or(a)),
            None => (link, link),
        };
        let Some((target, ip)) = lookup(name) else {
            return Err(EngineError::InvalidArgument(format!(
                "Cannot link to a non running container: /{name} AS /{}/{alias}",
                rec.name
            )));
        };
        for host in [alias, target.name.as_str(), &target.id[..12]] {
            out.hosts.push(format!("{host}:{ip}"));
        }
        out.env.extend(env_for(alias, &rec.name, &target, ip));
    }
    Ok(out)
}

/// Docker's link variables for one link.
pub fn env_for(alias: &str, me: &str, target: &ContainerRecord, ip: Ipv4Addr) -> Vec<String> {
    let prefix: String = alias
        .to_ascii_uppercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let mut env = vec![format!("{prefix}_NAME=/{me}/{alias}")];
    let mut ports: Vec<(u16, String)> = target
        .config
        .exposed_ports
        .keys()
        .filter_map(|k| {
            let (p, proto) = k.split_once('/').unwrap_or((k.as_str(), "tcp"));
            Some((p.parse().ok()?, proto.to_string()))
        })
        .collect();
    ports.sort();
    if let Some((p, proto)) = ports.first() {
        env.push(format!("{prefix}_PORT={proto}://{ip}:{p}"));
    }
    for (p, proto) in &ports {
        let key = format!("{prefix}_PORT_{p}_{}", proto.to_ascii_uppercase());
        env.push(format!("{key}={proto}://{ip}:{p}"));
        env.push(format!("{key}_ADDR={ip}"));
        env.push(format!("{key}_PORT={p}"));
        env.push(format!("{key}_PROTO={proto}"));
    }
    for e in &target.config.env {
        if let Some((k, v)) = e.split_once('=')
            && k != "HOME"
            && k != "PATH"
            && k != "HOSTNAME"
        {
            env.push(format!("{prefix}_ENV_{k}={v}"));
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_link_variables() {
        let mut target = ContainerRecord {
            id: "0123456789abcdef".into(),
            name: "db1".into(),
            ..Default::default()
        };
        target
            .config
            .exposed_ports
            .insert("5432/tcp".into(), Default::default());
        target.config.env = vec!["PATH=/bin".into(), "PGUSER=app".into()];
        let env = env_for("db", "web", &target, "10.0.0.5".parse().unwrap());
        assert_eq!(
            env,
            [
                "DB_NAME=/web/db",
                "DB_PORT=tcp://10.0.0.5:5432",
                "DB_PORT_5432_TCP=tcp://10.0.0.5:5432",
                "DB_PORT_5432_TCP_ADDR=10.0.0.5",
                "DB_PORT_5432_TCP_PORT=5432",
                "DB_PORT_5432_TCP_PROTO=tcp",
                "DB_ENV_PGUSER=app",
            ]
        );
        let rec = ContainerRecord {
            name: "web".into(),
            host_config: berth_api_types::container::HostConfig {
                links: vec!["/db1:/web/db".into()],
                ..Default::default()
            },
            ..Default::default()
        };
        let linked = resolve(&rec, &|n| {
            assert_eq!(n, "db1");
            Some((target.clone(), "10.0.0.5".parse().unwrap()))
        })
        .unwrap();
        assert_eq!(linked.hosts[0], "db:10.0.0.5");
        assert_eq!(linked.hosts[1], "db1:10.0.0.5");
        let err = resolve(&rec, &|_| None).unwrap_err().to_string();
        assert!(err.contains("non running container"), "{err}");
    }
}
