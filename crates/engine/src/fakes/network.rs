//! A host network stack in memory: bridges, namespaces, veths and rule tables are entries in
//! maps, so the engine's network book-keeping (leases, endpoints, which rules exist, teardown)
//! is tested without root. A namespace is pinned as an empty file, so the engine's "does the
//! namespace exist" checks see it as they would a real one.

use crate::networks::host::{BridgeSpec, HostNetwork};
use berth_net::nft::NatPlan;
use berth_net::{ContainerLink, HostVeth, Ipv4Net};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

type Result<T> = berth_net::Result<T>;

/// One attached veth, as the fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeVeth {
    /// The namespace it leads into.
    pub netns: PathBuf,
    /// Its bridge.
    pub bridge: String,
    /// The container's address on it.
    pub address: Ipv4Net,
    /// The default route set through it.
    pub gateway: Option<Ipv4Addr>,
}

#[derive(Debug, Default)]
struct State {
    bridges: BTreeMap<String, Ipv4Net>,
    netns: BTreeSet<PathBuf>,
    veths: BTreeMap<String, FakeVeth>,
    rules: BTreeMap<String, NatPlan>,
    next_index: u32,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct FakeNetwork {
    state: Mutex<State>,
}

impl FakeNetwork {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The veths attached now, by host name.
    pub fn veths(&self) -> BTreeMap<String, FakeVeth> {
        self.lock().veths.clone()
    }

    /// The bridges that exist, with their gateway addresses.
    pub fn bridges(&self) -> BTreeMap<String, Ipv4Net> {
        self.lock().bridges.clone()
    }

    /// The rules applied to `table`, if any.
    pub fn rules(&self, table: &str) -> Option<NatPlan> {
        self.lock().rules.get(table).cloned()
    }

    /// How many namespaces are pinned.
    pub fn namespaces(&self) -> usize {
        self.lock().netns.len()
    }
}

fn missing(what: String) -> berth_net::Error {
    berth_net::Error::Invalid(format!("fake network: no {what}"))
}

impl HostNetwork for FakeNetwork {
    fn bridge_exists(&self, name: &str) -> bool {
        self.lock().bridges.contains_key(name)
    }

    fn ensure_bridge(&self, spec: &BridgeSpec<'_>) -> Result<()> {
        self.lock()
            .bridges
            .insert(spec.name.to_string(), spec.gateway);
        Ok(())
    }

    fn remove_bridge(&self, name: &str) -> Result<()> {
        let mut st = self.lock();
        st.bridges.remove(name);
        st.veths.retain(|_, v| v.bridge != name);
        Ok(())
    }

    fn create_netns(&self, path: &Path) -> Result<()> {
        std::fs::write(path, b"").map_err(|source| berth_net::Error::Io {
            what: format!("pinning the fake namespace {}", path.display()),
            source,
        })?;
        self.lock().netns.insert(path.to_path_buf());
        Ok(())
    }

    fn remove_netns(&self, path: &Path) -> Result<()> {
        let _ = std::fs::remove_file(path);
        let mut st = self.lock();
        st.netns.remove(path);
        // The kernel deletes a namespace's veths with it.
        st.veths.retain(|_, v| v.netns != path);
        Ok(())
    }

    fn attach(&self, link: &ContainerLink<'_>) -> Result<HostVeth> {
        let mut st = self.lock();
        if !st.netns.contains(link.netns) {
            return Err(missing(format!("namespace {}", link.netns.display())));
        }
        if !st.bridges.contains_key(link.bridge) {
            return Err(missing(format!("bridge {}", link.bridge)));
        }
        st.next_index += 2;
        let name = format!("vethfake{}", st.next_index);
        st.veths.insert(
            name.clone(),
            FakeVeth {
                netns: link.netns.to_path_buf(),
                bridge: link.bridge.to_string(),
                address: link.address,
                gateway: link.gateway,
            },
        );
        Ok(HostVeth {
            name,
            index: st.next_index,
            peer_index: st.next_index + 1,
        })
    }

    fn add_ipv6(
        &self,
        _netns: &Path,
        _ifname: &str,
        _addr: Ipv6Addr,
        _prefix: u8,
        _gateway: Option<Ipv6Addr>,
    ) -> Result<()> {
        Ok(())
    }

    fn route_default_via(&self, netns: &Path, gateway: Ipv4Addr) -> Result<()> {
        let mut st = self.lock();
        for v in st.veths.values_mut().filter(|v| v.netns == netns) {
            if v.address.contains(gateway) {
                v.gateway = Some(gateway);
            }
        }
        Ok(())
    }

    fn detach(&self, host_veth: &str) -> Result<()> {
        self.lock().veths.remove(host_veth);
        Ok(())
    }

    fn set_hairpin(&self, _host_veth: &str) {}

    fn default_route_mtu(&self) -> Option<u32> {
        None
    }

    fn sysctl(&self, _key: &str, _value: &str) -> Result<()> {
        Ok(())
    }

    fn apply_rules(&self, table: &str, plan: &NatPlan) -> Result<()> {
        self.lock().rules.insert(table.to_string(), plan.clone());
        Ok(())
    }

    fn remove_rules(&self, table: &str) -> Result<()> {
        self.lock().rules.remove(table);
        Ok(())
    }

    fn remove_user_rules_if_empty(&self, _table: &str) -> Result<()> {
        Ok(())
    }

    fn firewall_warning(&self) -> Option<String> {
        None
    }

    fn taken_ipv4_subnets(&self) -> Vec<Ipv4Net> {
        Vec::new()
    }
}
