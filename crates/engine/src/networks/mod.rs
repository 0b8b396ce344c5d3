//! Networks as objects: the predefined `bridge`, `host` and `none`, and user-defined bridge
//! networks, each a record (`networks/<id>.json`, atomic) with its subnet, gateway, options and
//! the address leases of its endpoints.
//!
//! This module keeps the book-keeping (names, ids, IPAM, endpoints); making links and rules on
//! the host is the `net` crate's job, called by the container life cycle.

pub mod dns;
pub mod facade;
pub mod host;
pub mod ipam;
pub mod ipam6;

use crate::EngineError;
use ipam::{Leases, Subnet};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

type Result<T> = std::result::Result<T, EngineError>;

/// The names Docker reserves.
pub const PREDEFINED: &[&str] = &["bridge", "host", "none"];
/// Holder name of a network's gateway lease.
const GATEWAY: &str = "gateway";
/// Lease holder prefix of auxiliary addresses (`aux:<host name>`).
const AUX_PREFIX: &str = "aux:";

/// One container's attachment to a network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Endpoint id.
    pub id: String,
    /// Container name (without `/`).
    pub name: String,
    /// Its address, when the network has a subnet.
    pub ip: Option<Ipv4Addr>,
    /// Its IPv6 address, on an `--ipv6` network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<std::net::Ipv6Addr>,
    /// MAC address of its interface.
    pub mac: String,
    /// Extra DNS names on this network (`--network-alias`, compose service names).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The host end of the container's veth (to detach it from a running container).
    #[serde(default)]
    pub host_veth: String,
}

/// A network record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// 64-hex id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Creation time, RFC 3339.
    pub created: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    /// No route out (`--internal`).
    #[serde(default)]
    pub internal: bool,
    /// `--attachable` (accepted, meaningless without swarm).
    #[serde(default)]
    pub attachable: bool,
    /// The subnet (bridge networks).
    #[serde(default)]
    pub subnet: Option<Subnet>,
    /// The gateway: the bridge's address.
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
    /// `--ip-range`: where container addresses come from.
    #[serde(default)]
    pub ip_range: Option<Subnet>,
    /// The Linux bridge.
    #[serde(default)]
    pub bridge: String,
    /// Driver options as given.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// IPAM driver options as given (`None`: the client sent none, shown as `null`).
    #[serde(default)]
    pub ipam_options: Option<BTreeMap<String, String>>,
    /// `--aux-address`: host name → address, reserved from the leases.
    #[serde(default)]
    pub auxiliary_addresses: BTreeMap<String, Ipv4Addr>,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Address leases.
    #[serde(default)]
    pub leases: Leases,
    /// Container id → endpoint.
    #[serde(default)]
    pub endpoints: BTreeMap<String, Endpoint>,
    /// The gateway address (with the old prefix) the bridge still carries from before a
    /// `--bip` change, to be removed from the bridge when it is next ensured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_gateway: Option<(Ipv4Addr, u8)>,
    /// The IPv6 subnet of an `--ipv6` network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet6: Option<ipam6::Subnet6>,
    /// Its IPv6 gateway (the bridge's address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<std::net::Ipv6Addr>,
    /// IPv6 address leases.
    #[serde(default)]
    pub leases6: ipam6::Leases6,
}

impl NetworkRecord {
    /// Whether containers on it get their own interface and address.
    pub fn is_bridge(&self) -> bool {
        self.driver == "bridge"
    }
}

/// What `network create` asks for, already parsed.
#[derive(Debug, Clone, Default)]
pub struct NetworkSpec {
    /// Name.
    pub name: String,
    /// `bridge` (default).
    pub driver: String,
    /// `--subnet`.
    pub subnet: Option<Subnet>,
    /// `--gateway`.
    pub gateway: Option<Ipv4Addr>,
    /// `--ip-range`.
    pub ip_range: Option<Subnet>,
    /// `--internal`.
    pub internal: bool,
    /// `--attachable`.
    pub attachable: bool,
    /// `-o`.
    pub options: BTreeMap<String, String>,
    /// `--ipam-opt`.
    pub ipam_options: Option<BTreeMap<String, String>>,
    /// `--aux-address`.
    pub auxiliary_addresses: BTreeMap<String, Ipv4Addr>,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// `--ipv6`, with the IPv6 `--subnet` and `--gateway` when given.
    pub ipv6: Option<(Option<ipam6::Subnet6>, Option<std::net::Ipv6Addr>)>,
}

/// The network records.
pub struct NetworkStore {
    dir: PathBuf,
    inner: Mutex<BTreeMap<String, NetworkRecord>>,
}

/// The bridge-name option Docker's CLI passes with `-o`.
pub const BRIDGE_NAME_OPTION: &str = "com.docker.network.bridge.name";

impl NetworkStore {
    /// Opens the store, creating the predefined networks on first use: `bridge` on
    /// `default_bridge` with `default_subnet` (or a pool subnet clear of `used`).
    pub fn open(
        dir: &Path,
        default_bridge: &str,
        default_subnet: Option<Subnet>,
        used: &[Subnet],
    ) -> Result<NetworkStore> {
        std::fs::create_dir_all(dir).map_err(|e| EngineError::io(dir, e))?;
        let mut map = BTreeMap::new();
        for e in std::fs::read_dir(dir)
            .map_err(|e| EngineError::io(dir, e))?
            .flatten()
        {
            let path = e.path();
            if path.extension().is_some_and(|x| x == "json")
                && let Some(rec) = berth_storage::atomic::read_json::<NetworkRecord>(&path)
                    .ok()
                    .flatten()
            {
                map.insert(rec.id.clone(), rec);
            }
        }
        let store = NetworkStore {
            dir: dir.to_path_buf(),
            inner: Mutex::new(map),
        };
        if let Some(want) = default_subnet {
            store.apply_default_subnet(want)?;
        }
        for name in PREDEFINED {
            if store.find(name).is_ok() {
                continue;
            }
            let spec = NetworkSpec {
                name: name.to_string(),
                driver: match *name {
                    "bridge" => "bridge",
                    "host" => "host",
                    _ => "null",
                }
                .to_string(),
                subnet: if *name == "bridge" {
                    default_subnet
                } else {
                    None
                },
                options: if *name == "bridge" {
                    [(BRIDGE_NAME_OPTION.to_string(), default_bridge.to_string())]
                        .into_iter()
                        .collect()
                } else {
                    BTreeMap::new()
                },
                ..Default::default()
            };
            store.insert(spec, used, true)?;
        }
        Ok(store)
    }

    /// `--bip` on a root whose default network has another subnet: applied (new subnet and
    /// gateway, leases reset; the bridge's address follows when it is next ensured) while no
    /// container is on that network, refused with the reason otherwise — never ignored.
    fn apply_default_subnet(&self, want: Subnet) -> Result<()> {
        let mut map = self.lock();
        if let Some(other) = map
            .values()
            .find(|n| n.name != "bridge" && n.subnet.is_some_and(|o| o.overlaps(&want)))
        {
            return Err(EngineError::Conflict(format!(
                "--bip {want} overlaps the subnet {} of network {}",
                other.subnet.map(|o| o.to_string()).unwrap_or_default(),
                other.name
            )));
        }
        let Some(rec) = map.values_mut().find(|n| n.name == "bridge") else {
            return Ok(()); // first start: the bridge network is made with it
        };
        if rec.subnet == Some(want) {
            return Ok(());
        }
        let old = rec.subnet.map(|o| o.to_string()).unwrap_or_default();
        if !rec.endpoints.is_empty() {
            let users: Vec<&str> = rec.endpoints.values().map(|e| e.name.as_str()).collect();
            return Err(EngineError::Conflict(format!(
                "--bip {want} differs from the default network's subnet {old}, which containers \
                 still use ({}): stop them to change it, or start without --bip",
                users.join(", ")
            )));
        }
        let gateway = want.default_gateway();
        let mut leases = Leases::default();
        leases
            .lease(&want, None, Some(gateway), GATEWAY)
            .map_err(|e| EngineError::InvalidArgument(format!("--bip {want}: {e}")))?;
        if let (Some(o), Some(g)) = (rec.subnet, rec.gateway) {
            rec.retired_gateway = Some((g, o.prefix));
        }
        rec.subnet = Some(want);
        rec.gateway = Some(gateway);
        rec.ip_range = None;
        rec.leases = leases;
        tracing::info!(from = %old, to = %want, "the default network takes the new --bip");
        let rec = rec.clone();
        drop(map);
        self.save(&rec)
    }

    /// Forgets the retired gateway of network `id` once the bridge no longer has it.
    pub fn clear_retired_gateway(&self, id: &str) -> Result<()> {
        let mut map = self.lock();
        let Some(rec) = map.get_mut(id) else {
            return Ok(());
        };
        if rec.retired_gateway.take().is_none() {
            return Ok(());
        }
        let rec = rec.clone();
        drop(map);
        self.save(&rec)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, NetworkRecord>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, rec: &NetworkRecord) -> Result<()> {
        Ok(berth_storage::atomic::write_json(
            &self.dir.join(format!("{}.json", rec.id)),
            rec,
        )?)
    }

    /// Saves a change of endpoints or leases only: atomic, not fsynced. A lease matters while
    /// its container runs, and a power cut ends every container (a restarted daemon drops the
    /// endpoints of containers that are gone); the fsyncs were most of a bridged start's cost.
    /// Called with the map locked, so a slower writer cannot put an older snapshot back.
    fn save_endpoints(&self, rec: &NetworkRecord) -> Result<()> {
        Ok(berth_storage::atomic::write_json_unsynced(
            &self.dir.join(format!("{}.json", rec.id)),
            rec,
        )?)
    }

    /// Finds a network by full id, name or unique id prefix (Docker's order).
    pub fn find(&self, key: &str) -> Result<NetworkRecord> {
        let map = self.lock();
        find_in(&map, key).cloned()
    }

    /// All networks, by name.
    pub fn all(&self) -> Vec<NetworkRecord> {
        let mut v: Vec<NetworkRecord> = self.lock().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Subnets in use by networks (to keep new ones clear of them).
    pub fn subnets(&self) -> Vec<Subnet> {
        self.lock().values().filter_map(|n| n.subnet).collect()
    }

    /// Creates a network record: validates the name and options, picks a subnet clear of
    /// `used` (host routes) and other networks when none is given, and leases the gateway.
    pub fn insert(
        &self,
        spec: NetworkSpec,
        used: &[Subnet],
        predefined: bool,
    ) -> Result<NetworkRecord> {
        if !predefined && PREDEFINED.contains(&spec.name.as_str()) {
            return Err(EngineError::Forbidden(format!(
                "{} is a pre-defined network and cannot be created",
                spec.name
            )));
        }
        validate_name(&spec.name)?;
        let driver = if spec.driver.is_empty() {
            "bridge".to_string()
        } else {
            spec.driver.clone()
        };
        if !predefined && driver != "bridge" {
            return Err(EngineError::NotFound(format!(
                "could not find plugin {driver} in v1 plugin registry: plugin not found"
            )));
        }
        let mut map = self.lock();
        if map.values().any(|n| n.name == spec.name) {
            return Err(EngineError::Conflict(format!(
                "network with name {} already exists",
                spec.name
            )));
        }
        let id = berth_common::id::random_id();
        let mut rec = NetworkRecord {
            id: id.clone(),
            name: spec.name.clone(),
            created: berth_shim_proto::timefmt::now(),
            driver: driver.clone(),
            internal: spec.internal,
            attachable: spec.attachable,
            options: spec.options.clone(),
            ipam_options: spec.ipam_options.clone(),
            labels: spec.labels.clone(),
            ..Default::default()
        };
        if driver == "bridge" {
            let taken: Vec<Subnet> = map.values().filter_map(|n| n.subnet).collect();
            let subnet = match spec.subnet {
                Some(s) => {
                    if let Some(other) = map
                        .values()
                        .find(|n| n.subnet.is_some_and(|o| o.overlaps(&s)))
                    {
                        return Err(EngineError::Forbidden(format!(
                            "invalid pool request: Pool overlaps with other one on this address space ({} of network {})",
                            other.subnet.map(|o| o.to_string()).unwrap_or_default(),
                            other.name
                        )));
                    }
                    s
                }
                None => {
                    let mut avoid = taken.clone();
                    avoid.extend_from_slice(used);
                    ipam::pick_subnet(&ipam::default_pools(), &avoid)
                        .map_err(|e| EngineError::Forbidden(e.to_string()))?
                }
            };
            if let Some(r) = spec.ip_range
                && !(subnet.contains(r.addr) && r.prefix >= subnet.prefix)
            {
                return Err(EngineError::InvalidArgument(format!(
                    "invalid ip-range {r}: it must be inside the subnet {subnet}"
                )));
            }
            let gateway = spec.gateway.unwrap_or_else(|| subnet.default_gateway());
            rec.leases
                .lease(&subnet, None, Some(gateway), GATEWAY)
                .map_err(|e| EngineError::InvalidArgument(format!("gateway: {e}")))?;
            for (host, addr) in &spec.auxiliary_addresses {
                if !subnet.contains(*addr) {
                    return Err(EngineError::InvalidArgument(format!(
                        "no matching subnet for aux-address {addr}"
                    )));
                }
                rec.leases
                    .lease(&subnet, None, Some(*addr), &format!("{AUX_PREFIX}{host}"))
                    .map_err(|e| {
                        EngineError::InvalidArgument(format!("aux-address {host}: {e}"))
                    })?;
            }
            rec.auxiliary_addresses = spec.auxiliary_addresses.clone();
            if let Some((subnet6, gateway6)) = spec.ipv6 {
                let s6 = subnet6.unwrap_or_else(|| ipam6::Subnet6::unique_local(&id));
                if let Some(other) = map
                    .values()
                    .find(|n| n.subnet6.is_some_and(|o| o.overlaps(&s6)))
                {
                    return Err(EngineError::Forbidden(format!(
                        "invalid pool request: Pool overlaps with other one on this address space ({s6} of network {})",
                        other.name
                    )));
                }
                let gw6 = gateway6.unwrap_or_else(|| s6.default_gateway());
                if !s6.contains(gw6) {
                    return Err(EngineError::InvalidArgument(format!(
                        "no matching subnet for gateway {gw6}"
                    )));
                }
                rec.leases6
                    .lease(&s6, Some(gw6), GATEWAY)
                    .map_err(|e| EngineError::InvalidArgument(format!("gateway: {e}")))?;
                rec.subnet6 = Some(s6);
                rec.gateway6 = Some(gw6);
            }
            rec.subnet = Some(subnet);
            rec.gateway = Some(gateway);
            rec.ip_range = spec.ip_range;
            rec.bridge = match spec.options.get(BRIDGE_NAME_OPTION) {
                Some(b) if !b.is_empty() => {
                    if b.len() > 15 {
                        return Err(EngineError::InvalidArgument(format!(
                            "bridge name {b:?} is longer than 15 characters"
                        )));
                    }
                    b.clone()
                }
                _ => format!("br-{}", &id[..12]),
            };
        }
        self.save(&rec)?;
        map.insert(id, rec.clone());
        Ok(rec)
    }

    /// Removes a network record. Predefined networks and networks with endpoints stay.
    pub fn remove(&self, key: &str) -> Result<NetworkRecord> {
        let mut map = self.lock();
        let rec = find_in(&map, key)?.clone();
        if PREDEFINED.contains(&rec.name.as_str()) {
            return Err(EngineError::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                rec.name
            )));
        }
        if !rec.endpoints.is_empty() {
            return Err(EngineError::Forbidden(format!(
                "error while removing network: network {} id {} has active endpoints",
                rec.name, rec.id
            )));
        }
        map.remove(&rec.id);
        let path = self.dir.join(format!("{}.json", rec.id));
        std::fs::remove_file(&path).map_err(|e| EngineError::io(&path, e))?;
        Ok(rec)
    }

    /// Adds an endpoint for `container` (leasing `requested` or the next address). With
    /// `save` false the record is written by the [`NetworkStore::set_host_veth`] (or
    /// [`NetworkStore::flush`]) that follows, one write instead of two on a container's start.
    pub fn connect(
        &self,
        key: &str,
        container: &str,
        name: &str,
        (requested, requested6): (Option<Ipv4Addr>, Option<std::net::Ipv6Addr>),
        aliases: Vec<String>,
        save: bool,
    ) -> Result<(NetworkRecord, Endpoint)> {
        let mut map = self.lock();
        let rec = find_in_mut(&mut map, key)?;
        if rec.endpoints.contains_key(container) {
            return Err(EngineError::Forbidden(format!(
                "endpoint with name {name} already exists in network {}",
                rec.name
            )));
        }
        let ip = match rec.subnet {
            Some(subnet) if rec.is_bridge() => {
                Some(
                    rec.leases
                        .lease(&subnet, rec.ip_range.as_ref(), requested, container)?,
                )
            }
            _ => None,
        };
        let ip6 = match rec.subnet6 {
            Some(s6) if rec.is_bridge() => match rec.leases6.lease(&s6, requested6, container) {
                Ok(a) => Some(a),
                Err(e) => {
                    rec.leases.release(container);
                    return Err(EngineError::InvalidArgument(e.to_string()));
                }
            },
            _ => None,
        };
        let ep = Endpoint {
            id: berth_common::id::random_id(),
            name: name.to_string(),
            ip,
            ip6,
            mac: ip.map(ipam::mac_for).unwrap_or_default(),
            aliases,
            host_veth: String::new(),
        };
        rec.endpoints.insert(container.to_string(), ep.clone());
        let snapshot = rec.clone();
        if save {
            self.save_endpoints(&snapshot)?;
        }
        Ok((snapshot, ep))
    }

    /// Removes `container`'s endpoint and releases its address; missing is fine (and writes
    /// nothing).
    pub fn disconnect(&self, key: &str, container: &str) -> Result<Option<Endpoint>> {
        let mut map = self.lock();
        let rec = find_in_mut(&mut map, key)?;
        let ep = rec.endpoints.remove(container);
        let released = rec.leases.release(container) | rec.leases6.release(container);
        if ep.is_some() || released {
            self.save_endpoints(rec)?;
        }
        Ok(ep)
    }

    /// Records the host veth of an endpoint (and saves the endpoint that
    /// [`NetworkStore::connect`] was told not to).
    pub fn set_host_veth(
        &self,
        key: &str,
        container: &str,
        veth: &str,
        mac: Option<String>,
    ) -> Result<()> {
        let mut map = self.lock();
        let rec = find_in_mut(&mut map, key)?;
        if let Some(ep) = rec.endpoints.get_mut(container) {
            ep.host_veth = veth.to_string();
            if let Some(mac) = mac {
                ep.mac = mac;
            }
        }
        self.save_endpoints(rec)
    }

    /// Writes a network's endpoints and leases as they are in memory.
    pub fn flush(&self, key: &str) -> Result<()> {
        let map = self.lock();
        self.save_endpoints(find_in(&map, key)?)
    }

    /// Renames a container in the endpoints it has (`docker rename`).
    pub fn rename_endpoint(&self, container: &str, new_name: &str) -> Result<()> {
        let mut changed = Vec::new();
        {
            let mut map = self.lock();
            for rec in map.values_mut() {
                if let Some(ep) = rec.endpoints.get_mut(container) {
                    ep.name = new_name.to_string();
                    changed.push(rec.clone());
                }
            }
        }
        for rec in changed {
            self.save_endpoints(&rec)?;
        }
        Ok(())
    }
}

/// [`find_in`], for a change.
fn find_in_mut<'a>(
    map: &'a mut BTreeMap<String, NetworkRecord>,
    key: &str,
) -> Result<&'a mut NetworkRecord> {
    let id = find_in(map, key)?.id.clone();
    map.get_mut(&id)
        .ok_or_else(|| EngineError::NoSuchNetwork(key.to_string()))
}

fn find_in<'a>(map: &'a BTreeMap<String, NetworkRecord>, key: &str) -> Result<&'a NetworkRecord> {
    let not_found = || EngineError::NoSuchNetwork(key.to_string());
    if key.is_empty() {
        return Err(not_found());
    }
    if let Some(r) = map.get(key) {
        return Ok(r);
    }
    if let Some(r) = map.values().find(|n| n.name == key) {
        return Ok(r);
    }
    let mut hits = map.values().filter(|n| n.id.starts_with(key));
    match (hits.next(), hits.next()) {
        (Some(r), None) => Ok(r),
        (Some(_), Some(_)) => Err(EngineError::InvalidArgument(format!(
            "network {key} is ambiguous"
        ))),
        _ => Err(not_found()),
    }
}

/// The subnets the host already uses (routes of every table, interface addresses; see
/// [`host::HostNetwork::taken_ipv4_subnets`]), so new networks keep clear of them.
pub fn host_routes(host: &dyn host::HostNetwork) -> Vec<Subnet> {
    host.taken_ipv4_subnets()
        .into_iter()
        .map(|n| {
            let s = Subnet {
                addr: n.addr,
                prefix: n.prefix,
            };
            Subnet {
                addr: Ipv4Addr::from(s.first()),
                ..s
            }
        })
        .collect()
}

/// Docker's rule for network names: anything that is not blank (`my net`, `1abc`, `a:b` and
/// `é` are all networks under Docker). Control characters are refused as well, on purpose:
/// they would corrupt every table and log line the name is printed in.
fn validate_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(EngineError::InvalidArgument(format!(
            "invalid name: {name}"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(EngineError::InvalidArgument(format!(
            "invalid network name {name:?}: control characters are not allowed"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_anything_but_blank_or_control() {
        for ok in ["my net", "1abc", "a:b", "_x", "é", "a..b"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "  ", "a\nb"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    fn store() -> (tempfile::TempDir, NetworkStore) {
        let d = tempfile::tempdir().unwrap();
        let s = NetworkStore::open(
            &d.path().join("n"),
            "bt0",
            Some("10.250.0.0/24".parse().unwrap()),
            &[],
        )
        .unwrap();
        (d, s)
    }

    #[test]
    fn host_routes_are_read() {
        // Whatever routes this host has must parse, and the default route is left out.
        let host = host::KernelNetwork {
            firewall: berth_net::firewall::Firewall::Nftables,
        };
        for r in host_routes(&host) {
            assert!(r.prefix > 0 && r.prefix <= 32, "{r}");
            assert!(r.first() != 0 || r.prefix > 0);
        }
    }

    #[test]
    fn predefined_networks_exist_once() {
        let (d, s) = store();
        let names: Vec<String> = s.all().into_iter().map(|n| n.name).collect();
        assert_eq!(names, ["bridge", "host", "none"]);
        let bridge = s.find("bridge").unwrap();
        assert_eq!(bridge.bridge, "bt0");
        assert_eq!(bridge.gateway.unwrap().to_string(), "10.250.0.1");
        drop(s);
        let s = NetworkStore::open(&d.path().join("n"), "bt0", None, &[]).unwrap();
        assert_eq!(s.all().len(), 3);
        assert_eq!(s.find("bridge").unwrap().id, bridge.id);
        assert!(matches!(s.remove("bridge"), Err(EngineError::Forbidden(_))));
        let err = s
            .insert(
                NetworkSpec {
                    name: "host".into(),
                    ..Default::default()
                },
                &[],
                false,
            )
            .unwrap_err();
        assert!(err.to_string().contains("pre-defined"));
    }

    /// What a restarted daemon reads back: an endpoint saved by `set_host_veth` after an
    /// unsaved `connect`, its release by `disconnect`; a disconnect of nothing writes nothing.
    #[test]
    fn endpoint_changes_reach_the_disk() {
        let (d, s) = store();
        let reopen = || {
            NetworkStore::open(
                &d.path().join("n"),
                "bt0",
                Some("10.250.0.0/24".parse().unwrap()),
                &[],
            )
            .unwrap()
            .find("bridge")
            .unwrap()
        };
        let (net, ep) = s
            .connect("bridge", "c1", "web", (None, None), vec![], false)
            .unwrap();
        assert!(!reopen().endpoints.contains_key("c1"), "not saved yet");
        s.set_host_veth(&net.id, "c1", "veth1234567", None).unwrap();
        let back = reopen();
        assert_eq!(back.endpoints["c1"].host_veth, "veth1234567");
        assert_eq!(back.endpoints["c1"].ip, ep.ip);
        let file = d.path().join("n").join(format!("{}.json", net.id));
        let before = std::fs::metadata(&file).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(s.disconnect("bridge", "nobody").unwrap().is_none());
        assert_eq!(
            std::fs::metadata(&file).unwrap().modified().unwrap(),
            before
        );
        assert!(s.disconnect("bridge", "c1").unwrap().is_some());
        assert!(!reopen().endpoints.contains_key("c1"));
    }

    #[test]
    fn user_networks_get_clear_subnets_and_leases() {
        let (_d, s) = store();
        let used = ["172.17.0.0/16".parse().unwrap()];
        let a = s
            .insert(
                NetworkSpec {
                    name: "front".into(),
                    ..Default::default()
                },
                &used,
                false,
            )
            .unwrap();
        assert_eq!(a.subnet.unwrap().to_string(), "172.18.0.0/16");
        assert!(a.bridge.starts_with("br-"));
        let err = s
            .insert(
                NetworkSpec {
                    name: "clash".into(),
                    subnet: Some("172.18.5.0/24".parse().unwrap()),
                    ..Default::default()
                },
                &used,
                false,
            )
            .unwrap_err();
        assert!(err.to_string().contains("overlaps"), "{err}");
        assert!(
            s.insert(
                NetworkSpec {
                    name: "front".into(),
                    ..Default::default()
                },
                &used,
                false
            )
            .is_err()
        );
        assert!(
            s.insert(
                NetworkSpec {
                    name: " ".into(),
                    ..Default::default()
                },
                &used,
                false
            )
            .is_err()
        );
        let (_, ep) = s
            .connect("front", "c1", "web", (None, None), vec!["www".into()], true)
            .unwrap();
        assert_eq!(ep.ip.unwrap().to_string(), "172.18.0.2");
        assert!(
            s.connect("front", "c1", "web", (None, None), vec![], true)
                .is_err(),
            "twice"
        );
        let err = s.remove("front").unwrap_err();
        assert!(err.to_string().contains("active endpoints"));
        s.disconnect("front", "c1").unwrap();
        let (_, ep) = s
            .connect("front", "c2", "db", (None, None), vec![], true)
            .unwrap();
        assert_eq!(
            ep.ip.unwrap().to_string(),
            "172.18.0.2",
            "released address reused"
        );
        s.disconnect("front", "c2").unwrap();
        s.remove("front").unwrap();
        assert!(s.find("front").is_err());
    }
}
