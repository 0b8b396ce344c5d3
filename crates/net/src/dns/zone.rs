//! The names the embedded DNS server answers for, kept as plain data behind one shared lock so
//! the engine can change them at any moment (container start, rename, disconnect) and every
//! listener sees the change on its next query.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// One network's names: what a container attached to that network can resolve.
#[derive(Debug, Default, Clone)]
struct View {
    /// A second name for the view (e.g. the network's name when views are keyed by id), used by
    /// the host listener's `<name>.<network>.<suffix>` form.
    label: Option<String>,
    /// Lowercase name without trailing dot → addresses, in insertion order.
    names: HashMap<String, Vec<Ipv4Addr>>,
}

/// The shared, cheaply clonable table of names → IPv4 addresses, one map per network view.
///
/// Clones share the same data (an `Arc<RwLock<..>>`): the engine keeps one clone and updates it,
/// each [`DnsServer`](super::DnsServer) reads another. Names are matched case-insensitively and
/// a trailing dot is ignored, so `Web.` and `web` are the same entry. Several containers may
/// share a name (a network alias): the name then holds several addresses and the server rotates
/// their order per query.
#[derive(Debug, Default, Clone)]
pub struct Zone {
    inner: Arc<RwLock<BTreeMap<String, View>>>,
    clients: Arc<RwLock<HashMap<(String, Ipv4Addr), Client>>>,
    /// The IPv6 address of the endpoint that has IPv4 address `key` (`--ipv6` networks): an
    /// AAAA question is answered from the A answer, so aliases, client views and links need
    /// nothing of their own. IPv4 addresses are unique across the engine's networks.
    v6: Arc<RwLock<HashMap<Ipv4Addr, std::net::Ipv6Addr>>>,
}

/// What one client (a container's address on one network) sees beyond its network's view: a
/// container on several networks resolves the names of all of them (Docker's embedded server
/// answers for every network of the asking container), and its legacy links' aliases.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Client {
    /// The other views searched, in order, after the client's own.
    also: Vec<String>,
    /// Alias (normalized) → the name it stands for, looked up like any other name, so a
    /// linked container that restarts with a new address is found at its new one.
    aliases: HashMap<String, String>,
}

/// The canonical form of a name: lowercase ASCII, no trailing dot.
pub(crate) fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Zone {
    /// An empty zone, because a fresh engine knows no containers yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<String, View>> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that matters
        // more than not answering at all, so poisoning is ignored.
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<String, View>> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the addresses of `name` in `view` (an empty list removes the name), because the
    /// engine often knows the full answer, e.g. after a container restarts with a new address.
    pub fn set(&self, view: &str, name: &str, ips: Vec<Ipv4Addr>) {
        let name = normalize(name);
        if name.is_empty() {
            return;
        }
        let mut views = self.write();
        if ips.is_empty() {
            if let Some(v) = views.get_mut(view) {
                v.names.remove(&name);
            }
            return;
        }
        let mut unique = Vec::with_capacity(ips.len());
        for ip in ips {
            if !unique.contains(&ip) {
                unique.push(ip);
            }
        }
        views
            .entry(view.to_owned())
            .or_default()
            .names
            .insert(name, unique);
    }

    /// Adds one address to `name` in `view` (no duplicate), because aliases are shared: each
    /// container that joins with the alias adds its own address.
    pub fn add(&self, view: &str, name: &str, ip: Ipv4Addr) {
        let name = normalize(name);
        if name.is_empty() {
            return;
        }
        let mut views = self.write();
        let ips = views
            .entry(view.to_owned())
            .or_default()
            .names
            .entry(name)
            .or_default();
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }

    /// Removes `name` from `view` whatever its addresses, e.g. when a container is renamed.
    pub fn remove(&self, view: &str, name: &str) {
        let name = normalize(name);
        if let Some(v) = self.write().get_mut(view) {
            v.names.remove(&name);
        }
    }

    /// Removes `ip` from every name of `view` (names left without address disappear), because a
    /// container leaving a network is known by its address there, not by all its names.
    pub fn remove_ip(&self, view: &str, ip: Ipv4Addr) {
        if let Some(v) = self.write().get_mut(view) {
            v.names.retain(|_, ips| {
                ips.retain(|a| *a != ip);
                !ips.is_empty()
            });
        }
    }

    /// Records (or with `None` forgets) the IPv6 address of the endpoint at `v4`.
    pub fn set_v6(&self, v4: Ipv4Addr, v6: Option<std::net::Ipv6Addr>) {
        let mut map = self.v6.write().unwrap_or_else(PoisonError::into_inner);
        match v6 {
            Some(a) => map.insert(v4, a),
            None => map.remove(&v4),
        };
    }

    /// The IPv6 addresses of the endpoints at `v4s`, in their order (those without one left out).
    pub fn v6_of(&self, v4s: &[Ipv4Addr]) -> Vec<std::net::Ipv6Addr> {
        let map = self.v6.read().unwrap_or_else(PoisonError::into_inner);
        v4s.iter().filter_map(|a| map.get(a).copied()).collect()
    }

    /// Forgets a whole view, for when its network is removed.
    pub fn remove_view(&self, view: &str) {
        self.write().remove(view);
        self.clients_mut().retain(|(v, _), _| v != view);
    }

    fn clients_mut(&self) -> RwLockWriteGuard<'_, HashMap<(String, Ipv4Addr), Client>> {
        self.clients.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Says what the client at `ip` on `view` also resolves: the names of the views in `also`
    /// (searched in that order after its own) and `aliases` (alias → name). Empty lists forget
    /// the client, as does [`Zone::remove_client`].
    pub fn set_client(
        &self,
        view: &str,
        ip: Ipv4Addr,
        also: Vec<String>,
        aliases: &[(String, String)],
    ) {
        let key = (view.to_owned(), ip);
        let client = Client {
            also: also.into_iter().filter(|v| v != view).collect(),
            aliases: aliases
                .iter()
                .map(|(a, n)| (normalize(a), normalize(n)))
                .filter(|(a, n)| !a.is_empty() && !n.is_empty())
                .collect(),
        };
        let mut clients = self.clients_mut();
        if client == Client::default() {
            clients.remove(&key);
        } else {
            clients.insert(key, client);
        }
    }

    /// Forgets what the client at `ip` on `view` saw beyond its view (it left the network).
    pub fn remove_client(&self, view: &str, ip: Ipv4Addr) {
        self.clients_mut().remove(&(view.to_owned(), ip));
    }

    /// Gives `view` a second name (or removes it with `None`) that the host listener accepts in
    /// `<name>.<label>.<suffix>`, because views are usually keyed by network id while people
    /// type network names.
    pub fn set_label(&self, view: &str, label: Option<&str>) {
        let mut views = self.write();
        let v = views.entry(view.to_owned()).or_default();
        v.label = label.map(normalize).filter(|l| !l.is_empty());
    }

    /// The addresses of `name` in `view`, in stored (not rotated) order; empty when unknown.
    /// For the engine's own checks and for tests; the server uses the same lookup.
    pub fn lookup(&self, view: &str, name: &str) -> Vec<Ipv4Addr> {
        let name = normalize(name);
        self.read()
            .get(view)
            .and_then(|v| v.names.get(&name))
            .cloned()
            .unwrap_or_default()
    }

    /// The views' keys, sorted, so the engine can reconcile them with its networks.
    pub fn views(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    /// The host listener's lookup of `rest` (the query name with the suffix stripped): first an
    /// exact name in any view (views in key order, first match wins), then `<name>.<network>`
    /// where `<network>` is a view key or label.
    pub(crate) fn lookup_host(&self, rest: &str) -> Option<Vec<Ipv4Addr>> {
        let views = self.read();
        if let Some(ips) = views
            .values()
            .find_map(|v| v.names.get(rest).filter(|ips| !ips.is_empty()))
        {
            return Some(ips.clone());
        }
        let (name, network) = rest.rsplit_once('.')?;
        let view = views
            .get(network)
            .or_else(|| views.values().find(|v| v.label.as_deref() == Some(network)))?;
        view.names.get(name).filter(|ips| !ips.is_empty()).cloned()
    }

    /// The network listener's lookup for a client at `client` (when known): its link aliases,
    /// then an exact name in `view`, then in the client's other views; `None` when unknown.
    pub(crate) fn lookup_view(
        &self,
        view: &str,
        client: Option<Ipv4Addr>,
        name: &str,
    ) -> Option<Vec<Ipv4Addr>> {
        let extra = client.and_then(|ip| {
            self.clients
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&(view.to_owned(), ip))
                .cloned()
        });
        let views = self.read();
        let find = |n: &str| {
            std::iter::once(view)
                .chain(extra.iter().flat_map(|c| c.also.iter().map(String::as_str)))
                .find_map(|v| views.get(v)?.names.get(n).filter(|ips| !ips.is_empty()))
                .cloned()
        };
        if let Some(target) = extra.as_ref().and_then(|c| c.aliases.get(name))
            && let Some(ips) = find(target)
        {
            return Some(ips);
        }
        find(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(172, 18, 0, 2);
    const B: Ipv4Addr = Ipv4Addr::new(172, 18, 0, 3);

    #[test]
    fn names_are_case_insensitive_and_ignore_the_trailing_dot() {
        let z = Zone::new();
        z.add("n1", "Web.", A);
        assert_eq!(z.lookup("n1", "web"), vec![A]);
        assert_eq!(z.lookup("n1", "WEB."), vec![A]);
        assert!(z.lookup("n2", "web").is_empty());
    }

    #[test]
    fn add_set_remove_ip_and_views() {
        let z = Zone::new();
        z.add("n1", "db", A);
        z.add("n1", "db", A);
        z.add("n1", "db", B);
        z.add("n1", "one", A);
        assert_eq!(z.lookup("n1", "db"), vec![A, B]);
        z.remove_ip("n1", A);
        assert_eq!(z.lookup("n1", "db"), vec![B]);
        assert!(z.lookup("n1", "one").is_empty());
        z.set("n1", "db", vec![A, A]);
        assert_eq!(z.lookup("n1", "db"), vec![A]);
        z.set("n1", "db", vec![]);
        assert!(z.lookup("n1", "db").is_empty());
        z.add("n2", "x", A);
        assert_eq!(z.views(), vec!["n1".to_owned(), "n2".to_owned()]);
        z.remove_view("n2");
        assert_eq!(z.views(), vec!["n1".to_owned()]);
        z.add("n1", "x", A);
        z.remove("n1", "X");
        assert!(z.lookup("n1", "x").is_empty());
    }

    #[test]
    fn a_client_on_several_networks_sees_all_of_them_and_its_aliases() {
        let z = Zone::new();
        z.add("front", "proxy", A);
        z.add("back", "app", B);
        z.add("back", "proxy", Ipv4Addr::new(10, 0, 1, 9));
        assert_eq!(z.lookup_view("front", Some(A), "app"), None);
        z.set_client(
            "front",
            A,
            vec!["back".into()],
            &[("db".into(), "App".into())],
        );
        assert_eq!(z.lookup_view("front", Some(A), "app"), Some(vec![B]));
        assert_eq!(z.lookup_view("front", Some(A), "db"), Some(vec![B]));
        // Its own network's answer comes first.
        assert_eq!(z.lookup_view("front", Some(A), "proxy"), Some(vec![A]));
        // Other clients of the network see only the network.
        assert_eq!(z.lookup_view("front", Some(B), "app"), None);
        assert_eq!(z.lookup_view("front", None, "app"), None);
        z.remove_client("front", A);
        assert_eq!(z.lookup_view("front", Some(A), "app"), None);
        z.set_client("front", A, vec!["back".into()], &[]);
        z.remove_view("front");
        assert_eq!(z.lookup_view("front", Some(A), "app"), None);
    }

    #[test]
    fn host_lookup_first_match_then_network_form() {
        let z = Zone::new();
        z.add("aaa", "web", A);
        z.add("bbb", "web", B);
        z.set_label("bbb", Some("Back"));
        assert_eq!(z.lookup_host("web"), Some(vec![A]));
        assert_eq!(z.lookup_host("web.bbb"), Some(vec![B]));
        assert_eq!(z.lookup_host("web.back"), Some(vec![B]));
        assert_eq!(z.lookup_host("web.ccc"), None);
        assert_eq!(z.lookup_host("nope"), None);
        // A dotted alias wins over the network form.
        z.add("aaa", "api.back", A);
        assert_eq!(z.lookup_host("api.back"), Some(vec![A]));
    }
}
