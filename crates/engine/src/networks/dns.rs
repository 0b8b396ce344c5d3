//! Names that resolve: one embedded DNS server per bridge network (on its gateway address,
//! port 53, the default network included — unlike Docker), answering container names,
//! short ids and aliases on that network and forwarding the rest to the host's resolvers;
//! and one server on a loopback address for the host, answering `<name>.<suffix>` (and
//! `<name>.<network>.<suffix>`), so the host reaches containers by name (moby#27790).
//!
//! The zone is kept in step with endpoints: added when a container is connected, removed when
//! it is disconnected, rebuilt from the records when the daemon starts. A container on several
//! networks resolves the names of all of them, whichever network's server it asks (the zone
//! knows each of its addresses as a client of those views), as under Docker's 127.0.0.11.

use super::{Endpoint, NetworkRecord, NetworkStore};
use berth_net::dns::{DnsServer, ServerView, Zone};
use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::{Mutex, MutexGuard};

/// The default suffix of host-side names (`web.berth`).
pub const DEFAULT_SUFFIX: &str = "berth";

/// DNS for all networks of a daemon.
pub struct NetworkDns {
    zone: Zone,
    upstreams: Vec<SocketAddr>,
    servers: Mutex<HashMap<String, DnsServer>>,
    host: Mutex<Option<DnsServer>>,
}

impl NetworkDns {
    /// DNS forwarding unknown names to `upstreams` (the host's resolvers).
    pub fn new(upstreams: Vec<SocketAddr>) -> NetworkDns {
        NetworkDns {
            zone: Zone::new(),
            upstreams,
            servers: Mutex::new(HashMap::new()),
            host: Mutex::new(None),
        }
    }

    fn servers(&self) -> MutexGuard<'_, HashMap<String, DnsServer>> {
        self.servers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the host resolver on `listen` for `<name>.<suffix>`; returns the bound address.
    pub fn start_host(&self, listen: SocketAddr, suffix: &str) -> std::io::Result<SocketAddr> {
        let server = DnsServer::start(
            listen,
            ServerView::Host {
                suffix: suffix.to_string(),
            },
            self.zone.clone(),
            Vec::new(),
        )?;
        let addr = server.local_addr();
        *self.host.lock().unwrap_or_else(|p| p.into_inner()) = Some(server);
        Ok(addr)
    }

    /// Serves network `net` on its gateway (once its bridge has the address).
    pub fn ensure_server(&self, net: &NetworkRecord) {
        let Some(gw) = net.gateway else {
            return;
        };
        self.zone.set_label(&net.id, Some(&net.name));
        let mut servers = self.servers();
        if servers.contains_key(&net.id) {
            return;
        }
        let listen = SocketAddr::V4(SocketAddrV4::new(gw, 53));
        match DnsServer::start(
            listen,
            ServerView::Network(net.id.clone()),
            self.zone.clone(),
            self.upstreams.clone(),
        ) {
            Ok(s) => {
                servers.insert(net.id.clone(), s);
            }
            Err(e) => tracing::warn!(network = %net.name, %listen, error = %e, "cannot serve DNS"),
        }
    }

    /// Stops serving a removed network and forgets its names.
    pub fn remove_network(&self, id: &str) {
        if let Some(s) = self.servers().remove(id) {
            s.stop();
        }
        self.zone.remove_view(id);
    }

    /// Adds an endpoint's names (container name, short id, aliases) on its network.
    pub fn add_endpoint(&self, net: &NetworkRecord, container_id: &str, ep: &Endpoint) {
        let Some(ip) = ep.ip else {
            return;
        };
        self.zone.set_v6(ip, ep.ip6);
        let short = &container_id[..container_id.len().min(12)];
        for name in std::iter::once(ep.name.as_str())
            .chain(std::iter::once(short))
            .chain(ep.aliases.iter().map(String::as_str))
        {
            if !name.is_empty() {
                self.zone.add(&net.id, &name.to_ascii_lowercase(), ip);
            }
        }
    }

    /// Removes an endpoint's names, and what it saw beyond its network.
    pub fn remove_endpoint(&self, net_id: &str, ep: &Endpoint) {
        if let Some(ip) = ep.ip {
            self.zone.set_v6(ip, None);
            self.zone.remove_ip(net_id, ip);
            self.zone.remove_client(net_id, ip);
        }
    }

    /// Makes every network of container `id` resolve the names of all its networks (asked from
    /// any of its addresses), and its links' `aliases` (alias → container name). Called when
    /// the set of its networks changes: start, connect, disconnect.
    pub fn set_container_views(
        &self,
        store: &NetworkStore,
        id: &str,
        aliases: &[(String, String)],
    ) {
        let mine: Vec<(String, std::net::Ipv4Addr)> = store
            .all()
            .iter()
            .filter_map(|n| Some((n.id.clone(), n.endpoints.get(id)?.ip?)))
            .collect();
        let views: Vec<String> = mine.iter().map(|(v, _)| v.clone()).collect();
        for (view, ip) in &mine {
            self.zone.set_client(view, *ip, views.clone(), aliases);
        }
    }

    /// Rebuilds the zone from the records (daemon start). Link aliases come back with the
    /// containers' next start; their /etc/hosts entries hold them meanwhile.
    pub fn rebuild(&self, store: &NetworkStore) {
        let mut containers = std::collections::BTreeSet::new();
        for net in store.all() {
            for (cid, ep) in &net.endpoints {
                self.add_endpoint(&net, cid, ep);
                containers.insert(cid.clone());
            }
        }
        for cid in containers {
            self.set_container_views(store, &cid, &[]);
        }
    }

    /// The zone (for tests and inspection).
    pub fn zone(&self) -> &Zone {
        &self.zone
    }
}
