//! Published ports (`-p`, `-P`): host ports chosen and checked, then every bridge network and
//! every running container's ports rendered into the daemon's own nftables table in one
//! transaction (so a reload of other rules never drops ours and the whole set can be
//! re-asserted at any time, as at daemon start).

use super::record::ContainerRecord;
use crate::EngineError;
use crate::networks::NetworkStore;
use crate::networks::host::HostNetwork;
use berth_net::Ipv4Net;
use berth_net::nft::{self, NatNetwork, NatPlan, Protocol, PublishedPort};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};

type Result<T> = std::result::Result<T, EngineError>;

/// The first port of the range picked for `-P` and `-p 80` (Linux's default ephemeral range).
const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;

/// One published port of a container, as recorded and shown (`NetworkSettings.Ports`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
pub struct Published {
    /// Host address (`0.0.0.0` for all).
    pub host_ip: Ipv4Addr,
    /// Host port.
    pub host_port: u16,
    /// Container port.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub udp: bool,
    /// Also listening on `[::]` (see `proxy6`).
    #[serde(default)]
    pub v6: bool,
}

impl Published {
    /// `80/tcp`.
    pub fn key(&self) -> String {
        format!(
            "{}/{}",
            self.container_port,
            if self.udp { "udp" } else { "tcp" }
        )
    }
}

/// The daemon's port rules.
pub struct PortPublisher {
    table: String,
    host: Arc<dyn HostNetwork>,
    state: Mutex<BTreeMap<String, (Ipv4Addr, Vec<Published>)>>,
    proxy6: super::proxy6::Proxy6,
}

fn parse_key(key: &str) -> Result<(u16, bool)> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let port: u16 = port
        .parse()
        .map_err(|_| EngineError::InvalidArgument(format!("invalid port: {key}")))?;
    match proto {
        "tcp" => Ok((port, false)),
        "udp" => Ok((port, true)),
        other => Err(EngineError::InvalidArgument(format!(
            "unsupported protocol {other} in {key}"
        ))),
    }
}

impl PortPublisher {
    /// Rules go to nftables table `table` (one per daemon), or iptables chains named after it.
    pub fn new(table: &str, host: Arc<dyn HostNetwork>) -> PortPublisher {
        PortPublisher {
            table: table.to_string(),
            host,
            state: Mutex::new(BTreeMap::new()),
            proxy6: Default::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, (Ipv4Addr, Vec<Published>)>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The host ports a container asks for, with free ones picked for unspecified host ports
    /// and `-P`. A port in use (by anything) is refused with Docker's message.
    pub fn allocate(&self, rec: &ContainerRecord) -> Result<Vec<Published>> {
        let host = &rec.host_config;
        let mut wanted: Vec<(String, String, String)> = Vec::new();
        for (key, bindings) in &host.port_bindings {
            for b in bindings.iter().flatten() {
                wanted.push((key.clone(), b.host_ip.clone(), b.host_port.clone()));
            }
        }
        if host.publish_all_ports {
            for key in rec.config.exposed_ports.keys() {
                if !host.port_bindings.contains_key(key) {
                    wanted.push((key.clone(), String::new(), String::new()));
                }
            }
        }
        let mut taken: BTreeSet<(u16, bool)> = self
            .lock()
            .values()
            .flat_map(|(_, ps)| ps.iter().map(|p| (p.host_port, p.udp)))
            .collect();
        let mut out = Vec::new();
        for (key, ip, port) in wanted {
            let (container_port, udp) = parse_key(&key)?;
            let host_ip: Ipv4Addr = if ip.is_empty() || ip == "::" {
                Ipv4Addr::UNSPECIFIED
            } else {
                ip.parse().map_err(|_| {
                    EngineError::InvalidArgument(format!("invalid host IP {ip:?} for port {key}"))
                })?
            };
            let proto = if udp { Protocol::Udp } else { Protocol::Tcp };
            let free = |p: u16, taken: &BTreeSet<(u16, bool)>| {
                !taken.contains(&(p, udp)) && nft::port_free(host_ip, p, proto)
            };
            let candidates: Vec<u16> = if port.is_empty() {
                EPHEMERAL.collect()
            } else if let Some((lo, hi)) = port.split_once('-') {
                let lo: u16 = lo.parse().map_err(|_| bad_port(&port))?;
                let hi: u16 = hi.parse().map_err(|_| bad_port(&port))?;
                (lo..=hi).collect()
            } else {
                vec![port.parse().map_err(|_| bad_port(&port))?]
            };
            let pick = candidates
                .iter()
                .copied()
                .find(|p| *p != 0 && free(*p, &taken));
            let Some(host_port) = pick else {
                return Err(EngineError::Conflict(format!(
                    "Bind for {host_ip}:{} failed: port is already allocated",
                    if port.is_empty() {
                        "0".into()
                    } else {
                        port.clone()
                    }
                )));
            };
            taken.insert((host_port, udp));
            out.push(Published {
                host_ip,
                host_port,
                container_port,
                udp,
                v6: false,
            });
        }
        out.sort();
        Ok(out)
    }

    /// Adds a running container's ports (at `ip`) and re-asserts the rules, then listens on
    /// IPv6 for those published on all addresses; returns the ports as published (`v6` set
    /// where the IPv6 side listens).
    pub fn publish(
        &self,
        id: &str,
        ip: Ipv4Addr,
        ports: Vec<Published>,
        nets: &NetworkStore,
    ) -> Result<Vec<Published>> {
        self.lock().insert(id.to_string(), (ip, ports.clone()));
        self.apply(nets)?;
        Ok(self.proxy6.start(id, ip, &ports))
    }

    /// Removes a container's ports (if it had any) and re-asserts the rules.
    pub fn unpublish(&self, id: &str, nets: &NetworkStore) {
        self.proxy6.stop(id);
        if self.lock().remove(id).is_some()
            && let Err(e) = self.apply(nets)
        {
            tracing::warn!(error = %e, "updating the port rules");
        }
    }

    /// Renders every bridge network and published port into the table, in one transaction,
    /// and sets the sysctls the rules need.
    pub fn apply(&self, nets: &NetworkStore) -> Result<()> {
        let networks: Vec<NatNetwork> = nets
            .all()
            .into_iter()
            .filter(|n| n.is_bridge() && self.host.bridge_exists(&n.bridge))
            .filter_map(|n| {
                let s = n.subnet?;
                Some(NatNetwork {
                    bridge: n.bridge.clone(),
                    subnet: Ipv4Net::new(s.addr, s.prefix).ok()?,
                    internal: n.internal,
                    subnet6: n.subnet6.map(|s6| (s6.addr, s6.prefix)),
                })
            })
            .collect();
        let ports: Vec<PublishedPort> = self
            .lock()
            .values()
            .flat_map(|(ip, ps)| {
                ps.iter().map(move |p| PublishedPort {
                    host_ip: p.host_ip,
                    host_port: p.host_port,
                    container_ip: *ip,
                    container_port: p.container_port,
                    protocol: if p.udp { Protocol::Udp } else { Protocol::Tcp },
                })
            })
            .collect();
        let plan = NatPlan {
            networks,
            ports,
            user_chain: Some("filter".into()),
        };
        if plan.networks.is_empty() {
            return self
                .host
                .remove_rules(&self.table)
                .map_err(EngineError::from);
        }
        for s in plan.sysctls() {
            let _ = self.host.sysctl(&s.key, &s.value);
        }
        self.host
            .apply_rules(&self.table, &plan)
            .map_err(EngineError::from)
    }

    /// Drops our tables when no network needs rules any more (`system prune`): the main table
    /// always, the user table only if the user put no rule in it.
    pub fn remove_if_unused(&self, nets: &NetworkStore) {
        let _ = self.apply(nets);
        let _ = self.host.remove_user_rules_if_empty(&self.table);
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }
}

fn bad_port(p: &str) -> EngineError {
    EngineError::InvalidArgument(format!("invalid host port: {p:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse() {
        assert_eq!(parse_key("80/tcp").unwrap(), (80, false));
        assert_eq!(parse_key("53/udp").unwrap(), (53, true));
        assert_eq!(parse_key("8080").unwrap(), (8080, false));
        assert!(parse_key("x/tcp").is_err());
        assert!(parse_key("80/sctp").is_err());
    }

    #[test]
    fn allocation_picks_free_ports_and_refuses_taken_ones() {
        let p = PortPublisher::new(
            "berth_unit_test",
            Arc::new(crate::networks::host::KernelNetwork {
                firewall: berth_net::firewall::Firewall::Nftables,
            }),
        );
        let mut rec = ContainerRecord::default();
        let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let busy_port = busy.local_addr().unwrap().port();
        rec.host_config.port_bindings.insert(
            "80/tcp".into(),
            Some(vec![berth_api_types::container::PortBinding {
                host_ip: "127.0.0.1".into(),
                host_port: busy_port.to_string(),
            }]),
        );
        let err = p.allocate(&rec).unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "127.0.0.1:{busy_port} failed: port is already allocated"
            )),
            "{err}"
        );
        rec.host_config.port_bindings.insert(
            "80/tcp".into(),
            Some(vec![berth_api_types::container::PortBinding {
                host_ip: "127.0.0.1".into(),
                host_port: String::new(),
            }]),
        );
        rec.config
            .exposed_ports
            .insert("53/udp".into(), Default::default());
        rec.host_config.publish_all_ports = true;
        let got = p.allocate(&rec).unwrap();
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|g| EPHEMERAL.contains(&g.host_port)));
        assert!(got.iter().any(|g| g.udp && g.container_port == 53));
    }
}
