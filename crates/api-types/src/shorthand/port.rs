//! `-p [ip:][hostPort[-range]:]containerPort[-range][/proto]` and `--expose port[-range][/proto]`.

use super::ShorthandError;
use crate::container::{Empty, PortBinding, PortMap};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// One container port and where it is published, as one `-p` value expands to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    /// `"80/tcp"`: the key of `ExposedPorts` and `PortBindings`.
    pub port: String,
    /// Host side; an empty `host_port` means "pick one".
    pub binding: PortBinding,
}

/// Parses one `-p` value into one mapping per container port. A host range with a single
/// container port is kept as a range (`"8000-8010"`): the daemon picks a free port in it.
pub fn parse_port_spec(raw: &str) -> Result<Vec<PortMapping>, ShorthandError> {
    let (ip, host_port, container) = split_parts(raw);
    let (proto, container_port) = split_proto(container);
    let mut ip = ip.to_string();
    if let Some(inner) = ip.strip_prefix('[') {
        let Some(inner) = inner.strip_suffix(']') else {
            return Err(ShorthandError::new(format!("invalid IP address: {ip}")));
        };
        ip = inner.to_string();
    }
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        return Err(ShorthandError::new(format!("invalid IP address: {ip}")));
    }
    if container_port.is_empty() {
        return Err(ShorthandError::new(format!(
            "no port specified: {raw}<empty>"
        )));
    }
    let (start, end) = parse_range(container_port)
        .ok_or_else(|| ShorthandError::new(format!("invalid containerPort: {container_port}")))?;
    let mut host_range = None;
    if !host_port.is_empty() {
        let (hs, he) = parse_range(host_port)
            .ok_or_else(|| ShorthandError::new(format!("invalid hostPort: {host_port}")))?;
        if end - start != he - hs && end != start {
            return Err(ShorthandError::new(format!(
                "invalid ranges specified for container and host Ports: {container_port} and \
                 {host_port}"
            )));
        }
        host_range = Some((hs, he));
    }
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(ShorthandError::new(format!("invalid proto: {proto}")));
    }
    let count = u32::from(end - start) + 1;
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..count {
        let host_port = match host_range {
            None => String::new(),
            Some((hs, he)) if count == 1 && hs != he => format!("{hs}-{he}"),
            Some((hs, _)) => (u32::from(hs) + i).to_string(),
        };
        out.push(PortMapping {
            port: format!("{}/{proto}", u32::from(start) + i),
            binding: PortBinding {
                host_ip: ip.clone(),
                host_port,
            },
        });
    }
    Ok(out)
}

/// Parses all `-p` values into `Config.ExposedPorts` and `HostConfig.PortBindings`.
pub fn parse_publish(
    specs: &[String],
) -> Result<(BTreeMap<String, Empty>, PortMap), ShorthandError> {
    let mut exposed = BTreeMap::new();
    let mut bindings: PortMap = BTreeMap::new();
    for spec in specs {
        for m in parse_port_spec(spec)? {
            exposed.insert(m.port.clone(), Empty);
            bindings
                .entry(m.port)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(m.binding);
        }
    }
    Ok((exposed, bindings))
}

/// Parses one `--expose` value (`80`, `8000-8010/udp`) into `ExposedPorts` keys.
pub fn parse_expose(raw: &str) -> Result<Vec<String>, ShorthandError> {
    let (proto, port) = split_proto(raw);
    let (start, end) = parse_range(port)
        .ok_or_else(|| ShorthandError::new(format!("invalid range format for --expose: {raw}")))?;
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(ShorthandError::new(format!("invalid proto: {proto}")));
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// `ip:host:ctr` with IPv6 addresses that contain colons: the last two parts are ports.
fn split_parts(raw: &str) -> (&str, &str, &str) {
    let parts: Vec<&str> = raw.split(':').collect();
    match parts.as_slice() {
        [c] => ("", "", c),
        [h, c] => ("", h, c),
        [ip, h, c] => (ip, h, c),
        _ => {
            let n = parts.len();
            let ip_len = parts[..n - 2].iter().map(|p| p.len() + 1).sum::<usize>() - 1;
            (&raw[..ip_len], parts[n - 2], parts[n - 1])
        }
    }
}

/// `80/udp` → (`udp`, `80`); no protocol means `tcp`.
fn split_proto(raw: &str) -> (&str, &str) {
    match raw.split_once('/') {
        _ if raw.is_empty() || raw.starts_with('/') => ("", ""),
        None => ("tcp", raw),
        Some((port, "")) => ("tcp", port),
        Some((port, proto)) => (proto.split('/').next().unwrap_or(proto), port),
    }
}

/// `80` or `8000-8010`; `None` when malformed or reversed.
fn parse_range(s: &str) -> Option<(u16, u16)> {
    let (start, end) = match s.split_once('-') {
        Some((a, b)) => (a.parse::<u16>().ok()?, b.parse::<u16>().ok()?),
        None => {
            let p = s.parse::<u16>().ok()?;
            (p, p)
        }
    };
    (start <= end).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(port: &str, ip: &str, host: &str) -> PortMapping {
        PortMapping {
            port: port.into(),
            binding: PortBinding {
                host_ip: ip.into(),
                host_port: host.into(),
            },
        }
    }

    #[test]
    fn port_spec_table() {
        let cases: &[(&str, Vec<PortMapping>)] = &[
            ("80", vec![m("80/tcp", "", "")]),
            ("8080:80", vec![m("80/tcp", "", "8080")]),
            (
                "127.0.0.1:8080:80/udp",
                vec![m("80/udp", "127.0.0.1", "8080")],
            ),
            ("127.0.0.1::80", vec![m("80/tcp", "127.0.0.1", "")]),
            ("[::1]:8080:80", vec![m("80/tcp", "::1", "8080")]),
            ("::1:8080:80", vec![m("80/tcp", "::1", "8080")]),
            ("80/SCTP", vec![m("80/sctp", "", "")]),
            ("80/", vec![m("80/tcp", "", "")]),
            (
                "8000-8001:80-81",
                vec![m("80/tcp", "", "8000"), m("81/tcp", "", "8001")],
            ),
            ("8000-8010:80", vec![m("80/tcp", "", "8000-8010")]),
            ("80-81", vec![m("80/tcp", "", ""), m("81/tcp", "", "")]),
        ];
        for (input, want) in cases {
            assert_eq!(&parse_port_spec(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn port_spec_errors() {
        let cases = [
            (
                "8000-8002:80-81",
                "invalid ranges specified for container and host Ports: 80-81 and 8000-8002",
            ),
            ("x:80", "invalid hostPort: x"),
            ("80:x", "invalid containerPort: x"),
            ("70000", "invalid containerPort: 70000"),
            ("90-80", "invalid containerPort: 90-80"),
            ("80/icmp", "invalid proto: icmp"),
            ("1.2.3:80:80", "invalid IP address: 1.2.3"),
            ("8080:", "no port specified: 8080:<empty>"),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_port_spec(input).unwrap_err().to_string(),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn publish_merges_bindings() {
        let (exposed, bindings) = parse_publish(&[
            "8080:80".into(),
            "127.0.0.1:9090:80".into(),
            "53/udp".into(),
        ])
        .unwrap();
        assert_eq!(exposed.keys().collect::<Vec<_>>(), vec!["53/udp", "80/tcp"]);
        assert_eq!(bindings["80/tcp"].as_ref().unwrap().len(), 2);
        assert_eq!(bindings["53/udp"], Some(vec![PortBinding::default()]));
    }

    #[test]
    fn expose() {
        assert_eq!(parse_expose("80").unwrap(), vec!["80/tcp"]);
        assert_eq!(parse_expose("53-54/udp").unwrap(), vec!["53/udp", "54/udp"]);
        assert!(parse_expose("x").is_err());
    }
}
