//! The network noun of the engine's facade: Docker's request and resource models in, records
//! and events under, `network` events out.

use crate::networks::ipam::Subnet;
use crate::networks::{NetworkRecord, NetworkSpec};
use crate::{Engine, EngineError};
use berth_api_types::Filters;
use berth_api_types::events::EventType;
use berth_api_types::network::{
    EndpointResource, Ipam, IpamConfig, Network, NetworkCreateRequest, NetworkPruneResponse,
};
use std::net::Ipv4Addr;

type Result<T> = std::result::Result<T, EngineError>;

/// Filters `GET /networks` accepts.
pub const NETWORK_FILTERS: &[&str] =
    &["driver", "id", "label", "name", "scope", "type", "dangling"];

fn parse_subnet(s: &str) -> Result<Subnet> {
    Ok(s.parse::<Subnet>()?)
}

fn parse_ip(s: &str) -> Result<Ipv4Addr> {
    s.parse()
        .map_err(|_| EngineError::InvalidArgument(format!("invalid IP address: {s}")))
}

/// The API's view of a network record.
pub fn network_resource(rec: &NetworkRecord) -> Network {
    let mut config = match (rec.subnet, rec.gateway) {
        (Some(s), gw) => vec![IpamConfig {
            subnet: s.to_string(),
            ip_range: rec.ip_range.map(|r| r.to_string()).unwrap_or_default(),
            gateway: gw.map(|g| g.to_string()).unwrap_or_default(),
            auxiliary_addresses: rec
                .auxiliary_addresses
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect(),
        }],
        _ => Vec::new(),
    };
    if let Some(s6) = rec.subnet6 {
        config.push(IpamConfig {
            subnet: s6.to_string(),
            gateway: rec.gateway6.map(|g| g.to_string()).unwrap_or_default(),
            ..Default::default()
        });
    }
    Network {
        name: rec.name.clone(),
        id: rec.id.clone(),
        created: rec.created.clone(),
        scope: "local".into(),
        driver: rec.driver.clone(),
        enable_ipv4: true,
        enable_ipv6: rec.subnet6.is_some(),
        ipam: Ipam {
            driver: "default".into(),
            options: rec.ipam_options.clone(),
            config,
        },
        internal: rec.internal,
        attachable: rec.attachable,
        containers: rec
            .endpoints
            .iter()
            .map(|(cid, ep)| {
                (
                    cid.clone(),
                    EndpointResource {
                        name: ep.name.clone(),
                        endpoint_id: ep.id.clone(),
                        mac_address: ep.mac.clone(),
                        ipv4_address: match (ep.ip, rec.subnet) {
                            (Some(ip), Some(s)) => format!("{ip}/{}", s.prefix),
                            _ => String::new(),
                        },
                        ipv6_address: match (ep.ip6, rec.subnet6) {
                            (Some(ip), Some(s)) => format!("{ip}/{}", s.prefix),
                            _ => String::new(),
                        },
                    },
                )
            })
            .collect(),
        options: rec.options.clone(),
        labels: rec.labels.clone(),
        ..Default::default()
    }
}

impl Engine {
    fn network_event(&self, action: &str, rec: &NetworkRecord, extra: &[(&str, String)]) {
        let mut attrs = vec![("name", rec.name.clone()), ("type", rec.driver.clone())];
        attrs.extend(extra.iter().cloned());
        self.events
            .emit(EventType::Network, action, &rec.id, &attrs);
    }

    /// `POST /networks/create`.
    pub fn network_create(&self, req: NetworkCreateRequest) -> Result<Network> {
        if req.name.is_empty() {
            return Err(EngineError::InvalidArgument(
                "network name is required".into(),
            ));
        }
        let ipam = req.ipam.clone().unwrap_or_default();
        // One IPv4 and (with --ipv6) one IPv6 pool, told apart by their subnets.
        let (v6, v4): (Vec<_>, Vec<_>) = ipam
            .config
            .iter()
            .cloned()
            .partition(|c| c.subnet.contains(':') || c.gateway.contains(':'));
        if v4.len() > 1 || v6.len() > 1 {
            return Err(EngineError::InvalidArgument(
                "only one IPv4 and one IPv6 subnet per network are supported".into(),
            ));
        }
        let ipv6 = match (req.enable_ipv6 == Some(true), v6.first()) {
            (false, Some(c)) => {
                return Err(EngineError::InvalidArgument(format!(
                    "IPv6 subnet {} given to a network without IPv6: add --ipv6",
                    c.subnet
                )));
            }
            (false, None) => None,
            (true, c) => {
                let c = c.cloned().unwrap_or_default();
                let subnet6 = (!c.subnet.is_empty())
                    .then(|| {
                        c.subnet
                            .parse::<crate::networks::ipam6::Subnet6>()
                            .map_err(|_| {
                                EngineError::InvalidArgument(format!(
                                    "invalid CIDR address: {}",
                                    c.subnet
                                ))
                            })
                    })
                    .transpose()?;
                let gateway6 = (!c.gateway.is_empty())
                    .then(|| {
                        c.gateway.parse::<std::net::Ipv6Addr>().map_err(|_| {
                            EngineError::InvalidArgument(format!(
                                "invalid IP address: {}",
                                c.gateway
                            ))
                        })
                    })
                    .transpose()?;
                Some((subnet6, gateway6))
            }
        };
        let cfg = v4.first().cloned().unwrap_or_default();
        let subnet = (!cfg.subnet.is_empty())
            .then(|| parse_subnet(&cfg.subnet))
            .transpose()?;
        let gateway = (!cfg.gateway.is_empty())
            .then(|| parse_ip(&cfg.gateway))
            .transpose()?;
        let ip_range = (!cfg.ip_range.is_empty())
            .then(|| parse_subnet(&cfg.ip_range))
            .transpose()?;
        if let (Some(s), Some(g)) = (subnet, gateway)
            && !s.contains(g)
        {
            return Err(EngineError::InvalidArgument(format!(
                "no matching subnet for gateway {g}"
            )));
        }
        if gateway.is_some() && subnet.is_none() {
            return Err(EngineError::InvalidArgument(
                "a gateway needs a subnet (--subnet)".into(),
            ));
        }
        let rec = self.networks.insert(
            NetworkSpec {
                name: req.name.clone(),
                driver: req.driver.clone(),
                subnet,
                gateway,
                ip_range,
                internal: req.internal,
                attachable: req.attachable,
                options: req.options.clone(),
                ipam_options: ipam.options.clone(),
                auxiliary_addresses: cfg
                    .auxiliary_addresses
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), parse_ip(v)?)))
                    .collect::<Result<_>>()?,
                labels: req.labels.clone(),
                ipv6,
            },
            &crate::networks::host_routes(self.containers.net().host().as_ref()),
            false,
        )?;
        // The bridge is made now, as Docker does: its address and route then show on the
        // host, so another engine (or a VPN) picking a subnet keeps clear of this one.
        let existed = self.containers.net().host().bridge_exists(&rec.bridge);
        if rec.is_bridge()
            && let Err(e) = self.containers.net().ensure_bridge(&rec)
        {
            let _ = self.networks.remove(&rec.id);
            if !existed {
                // Only a link made here goes: a bridge the user named is theirs.
                self.containers.net().remove_bridge(&rec);
            }
            return Err(e);
        }
        self.network_event("create", &rec, &[]);
        Ok(network_resource(&rec))
    }

    /// `GET /networks`.
    pub fn network_list(&self, filters: &Filters) -> Result<Vec<Network>> {
        filters.check_names(NETWORK_FILTERS)?;
        let any = |key: &str, pred: &dyn Fn(&str) -> bool| {
            let want = filters.get(key);
            want.is_empty() || want.iter().any(|w| pred(w))
        };
        Ok(self
            .networks
            .all()
            .iter()
            .filter(|n| {
                any("driver", &|w| w == n.driver)
                    && any("id", &|w| n.id.starts_with(w))
                    && any("name", &|w| n.name.contains(w))
                    && any("scope", &|w| w == "local")
                    && any("type", &|w| {
                        let predefined = crate::networks::PREDEFINED.contains(&n.name.as_str());
                        (w == "builtin") == predefined
                    })
                    && any("dangling", &|w| {
                        (w == "true" || w == "1") == n.endpoints.is_empty()
                    })
                    && filters.labels_match("label", &n.labels)
            })
            .map(network_resource)
            .collect())
    }

    /// `GET /networks/{id}`.
    pub fn network_inspect(&self, key: &str) -> Result<Network> {
        Ok(network_resource(&self.networks.find(key)?))
    }

    /// `DELETE /networks/{id}`: the record, then its bridge.
    pub fn network_remove(&self, key: &str) -> Result<()> {
        let rec = self.networks.remove(key)?;
        if rec.is_bridge() {
            self.containers.net().remove_bridge(&rec);
            self.containers.tidy_network_rules();
        }
        self.network_event("destroy", &rec, &[]);
        Ok(())
    }

    /// `POST /networks/prune`: user networks without endpoints.
    pub fn network_prune(&self, filters: &Filters) -> Result<NetworkPruneResponse> {
        filters.check_names(&["label", "label!", "until"])?;
        let mut deleted = Vec::new();
        for n in self.networks.all() {
            if crate::networks::PREDEFINED.contains(&n.name.as_str())
                || !n.endpoints.is_empty()
                || !filters.labels_match("label", &n.labels)
            {
                continue;
            }
            if self.network_remove(&n.id).is_ok() {
                deleted.push(n.name.clone());
            }
        }
        // The default bridge is made again on demand: when nothing uses it, a prune leaves
        // no Berth link, DNS server or rule behind.
        if let Ok(default) = self.networks.find("bridge")
            && default.endpoints.is_empty()
            && self.containers.net().host().bridge_exists(&default.bridge)
        {
            self.containers.net().remove_bridge(&default);
        }
        self.containers.tidy_network_rules();
        Ok(NetworkPruneResponse {
            networks_deleted: Some(deleted),
        })
    }
}

impl Engine {
    /// `POST /networks/{id}/connect`: a running container gets a new interface at once; a
    /// stopped one is connected at its next start.
    pub fn network_connect(
        &self,
        key: &str,
        req: berth_api_types::network::NetworkConnectRequest,
    ) -> Result<()> {
        let net = self.networks.find(key)?;
        let entry = self.containers.store().get(&req.container)?;
        let rec = entry.snapshot();
        if net.endpoints.contains_key(&rec.id) || rec.endpoints.contains_key(&net.name) {
            return Err(EngineError::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                rec.name, net.name
            )));
        }
        if !net.is_bridge()
            || !matches!(
                crate::containers::netsetup::mode(&rec.host_config.network_mode),
                crate::containers::netsetup::Mode::Network(_)
            )
        {
            return Err(EngineError::Forbidden(format!(
                "container cannot be disconnected from host network or connected to host network: {}",
                net.name
            )));
        }
        let settings = req.endpoint_config.clone().unwrap_or_default();
        let is_mode_network = self.is_mode_network(&rec, &net);
        let rec = entry.update(|r| {
            r.endpoints.insert(net.name.clone(), settings);
            if is_mode_network {
                r.left_mode_network = false;
            }
            r.clone()
        })?;
        let net_setup = self.containers.net();
        if rec.state.status.is_running() && net_setup.has_netns(&rec.id) {
            let used = self
                .networks
                .all()
                .iter()
                .filter(|n| n.endpoints.contains_key(&rec.id))
                .count();
            let ifname = format!("eth{used}");
            if let Err(e) = net_setup.connect_one(
                &rec,
                &net_setup.netns_of(&rec.id),
                &net.name,
                &ifname,
                // A container that had left every network gets its way out back.
                used == 0,
            ) {
                let _ = entry.update(|r| r.endpoints.remove(&net.name));
                let _ = self.networks.disconnect(&net.id, &rec.id);
                return Err(e);
            }
            net_setup.refresh_views(&rec);
            self.containers.sync_network_rules();
        }
        self.network_event("connect", &net, &[("container", rec.id.clone())]);
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`.
    pub fn network_disconnect(
        &self,
        key: &str,
        req: berth_api_types::network::NetworkDisconnectRequest,
    ) -> Result<()> {
        let net = self.networks.find(key)?;
        let entry = match self.containers.store().get(&req.container) {
            Ok(e) => e,
            Err(e) if req.force => {
                // A container gone without its endpoint: drop the endpoint by id or name.
                let stale = net
                    .endpoints
                    .iter()
                    .find(|(id, ep)| id.starts_with(&req.container) || ep.name == req.container)
                    .map(|(id, _)| id.clone());
                if let Some(id) = stale {
                    self.networks.disconnect(&net.id, &id)?;
                    return Ok(());
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let rec = entry.snapshot();
        let primary = self.is_mode_network(&rec, &net);
        if !net.endpoints.contains_key(&rec.id) && !rec.endpoints.contains_key(&net.name) {
            return Err(EngineError::Forbidden(format!(
                "container {} is not connected to network {}",
                rec.id, net.name
            )));
        }
        let running = rec.state.status.is_running();
        let rec = entry.update(|r| {
            r.endpoints.remove(&net.name);
            // Leaving the network it was created on: it is not joined again at the next
            // start (until `network connect` brings it back).
            if primary {
                r.left_mode_network = true;
            }
            r.clone()
        })?;
        if net.endpoints.contains_key(&rec.id) {
            let net_setup = self.containers.net();
            net_setup.disconnect_one(&rec.id, &net.id)?;
            net_setup.refresh_views(&rec);
            if running && net_setup.has_netns(&rec.id) {
                self.reroute_after_leaving(&rec, &net);
            }
        }
        self.network_event("disconnect", &net, &[("container", rec.id.clone())]);
        Ok(())
    }

    /// Whether `net` is the network `rec` was created on (its network mode).
    fn is_mode_network(
        &self,
        rec: &crate::containers::record::ContainerRecord,
        net: &NetworkRecord,
    ) -> bool {
        match crate::containers::netsetup::mode(&rec.host_config.network_mode) {
            crate::containers::netsetup::Mode::Network(n) => {
                self.networks.find(&n).is_ok_and(|m| m.id == net.id)
            }
            _ => false,
        }
    }

    /// After a running container left `left`: when that network carried its default route
    /// and DNS server, both move to the first network it is still on, so traffic out and
    /// name lookups keep working (the resolv.conf is rewritten in place: it is bind-mounted).
    fn reroute_after_leaving(
        &self,
        rec: &crate::containers::record::ContainerRecord,
        left: &NetworkRecord,
    ) {
        let Some(old_gw) = left.gateway else {
            return;
        };
        let Some(next) = self
            .networks
            .all()
            .into_iter()
            .find(|n| n.endpoints.contains_key(&rec.id) && !n.internal && n.gateway.is_some())
        else {
            return;
        };
        let Some(new_gw) = next.gateway else {
            return;
        };
        let netns = self.containers.net().netns_of(&rec.id);
        if let Err(e) = self
            .containers
            .net()
            .host()
            .route_default_via(&netns, new_gw)
        {
            // Already routed through another network (it was not the first): nothing to move.
            tracing::debug!(container = %rec.id, error = %e, "default route kept");
        }
        let dir = self.containers.store().dir_of(&rec.id);
        if let Err(e) = crate::containers::etc::switch_gateway(&dir, old_gw, new_gw) {
            tracing::warn!(container = %rec.id, error = %e, "moving the DNS server in resolv.conf");
        }
    }
}
