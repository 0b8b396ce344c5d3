//! IPv4 address management, as pure functions over plain data: subnets picked from Docker's
//! default pools without clashing with the host's routes or other networks, and container
//! addresses leased from a subnet (or its `--ip-range`) and released.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 network in CIDR form (`172.18.0.0/16`), normalised to its network address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subnet {
    /// Network address.
    pub addr: Ipv4Addr,
    /// Prefix length, 0–32.
    pub prefix: u8,
}

/// Why an address or subnet could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    /// Not a CIDR.
    #[error("invalid CIDR address: {0}")]
    InvalidCidr(String),
    /// Not an IPv4 address.
    #[error("invalid IP address: {0}")]
    InvalidAddress(String),
    /// Every candidate pool is taken.
    #[error("all predefined address pools have been fully subnetted")]
    PoolsExhausted,
    /// No free address left in the range.
    #[error("no available IPv4 addresses on this network's address pools: {0}")]
    Exhausted(String),
    /// A requested address is outside the subnet or taken.
    #[error("{0}")]
    Unavailable(String),
}

impl Subnet {
    /// The mask as a number.
    pub fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    /// First address (the network address).
    pub fn first(&self) -> u32 {
        u32::from(self.addr) & self.mask()
    }

    /// Last address (broadcast).
    pub fn last(&self) -> u32 {
        self.first() | !self.mask()
    }

    /// Whether `ip` is in this subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == self.first()
    }

    /// Whether the two subnets share any address.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.first() <= other.last() && other.first() <= self.last()
    }

    /// The usual gateway: the first host address.
    pub fn default_gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.first() + 1)
    }
}

impl FromStr for Subnet {
    type Err = IpamError;
    fn from_str(s: &str) -> Result<Subnet, IpamError> {
        let bad = || IpamError::InvalidCidr(s.to_string());
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        let mut n = Subnet { addr, prefix };
        n.addr = Ipv4Addr::from(n.first());
        Ok(n)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Subnet, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Docker's default pools: `172.17.0.0/16` … `172.31.0.0/16`, then `192.168.0.0/16` cut into
/// /20s.
pub fn default_pools() -> Vec<Subnet> {
    let mut out: Vec<Subnet> = (17..=31)
        .map(|b| Subnet {
            addr: Ipv4Addr::new(172, b, 0, 0),
            prefix: 16,
        })
        .collect();
    for c in (0..=240).step_by(16) {
        out.push(Subnet {
            addr: Ipv4Addr::new(192, 168, c as u8, 0),
            prefix: 20,
        });
    }
    out
}

/// The first pool that overlaps neither a used subnet (other networks, host routes) nor…
/// anything else in `used`.
pub fn pick_subnet(pools: &[Subnet], used: &[Subnet]) -> Result<Subnet, IpamError> {
    pools
        .iter()
        .find(|p| !used.iter().any(|u| u.overlaps(p)))
        .copied()
        .ok_or(IpamError::PoolsExhausted)
}

/// The addresses handed out on one network: address → holder (container id, or a reserved
/// marker for the gateway).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leases {
    /// Address → holder.
    pub taken: BTreeMap<Ipv4Addr, String>,
}

impl Leases {
    /// Leases `requested` (`--ip`) or the next free address of `range` (the subnet when
    /// `None`) to `holder`. Network, broadcast and taken addresses are never handed out.
    pub fn lease(
        &mut self,
        subnet: &Subnet,
        range: Option<&Subnet>,
        requested: Option<Ipv4Addr>,
        holder: &str,
    ) -> Result<Ipv4Addr, IpamError> {
        if let Some(ip) = requested {
            if !subnet.contains(ip)
                || u32::from(ip) == subnet.first()
                || u32::from(ip) == subnet.last()
            {
                return Err(IpamError::Unavailable(format!(
                    "invalid address {ip}: it does not belong to any of this network's subnets"
                )));
            }
            if let Some(h) = self.taken.get(&ip)
                && h != holder
            {
                return Err(IpamError::Unavailable(format!(
                    "Address already in use: {ip}"
                )));
            }
            self.taken.insert(ip, holder.to_string());
            return Ok(ip);
        }
        let r = range.unwrap_or(subnet);
        let lo = r.first().max(subnet.first() + 1);
        let hi = r.last().min(subnet.last() - 1);
        for n in lo..=hi {
            let ip = Ipv4Addr::from(n);
            if let std::collections::btree_map::Entry::Vacant(slot) = self.taken.entry(ip) {
                slot.insert(holder.to_string());
                return Ok(ip);
            }
        }
        Err(IpamError::Exhausted(subnet.to_string()))
    }

    /// Releases every address `holder` has.
    pub fn release(&mut self, holder: &str) -> bool {
        let before = self.taken.len();
        self.taken.retain(|_, h| h != holder);
        self.taken.len() != before
    }
}

/// A MAC address derived from the IPv4 address, as Docker does (`02:42:` + the 4 bytes), so
/// a container keeps its MAC with its address.
pub fn mac_for(ip: Ipv4Addr) -> String {
    berth_net::MacAddr::from_ipv4(ip).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Subnet {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_parsing_and_overlap() {
        assert_eq!(n("172.18.5.4/16").to_string(), "172.18.0.0/16");
        assert!(n("10.0.0.0/8").overlaps(&n("10.1.2.0/24")));
        assert!(!n("10.0.0.0/24").overlaps(&n("10.0.1.0/24")));
        assert!(n("10.0.0.0/24").contains("10.0.0.200".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Subnet>().is_err());
        assert!("bogus".parse::<Subnet>().is_err());
        assert_eq!(n("10.0.0.0/24").default_gateway().to_string(), "10.0.0.1");
    }

    #[test]
    fn pools_skip_what_is_used() {
        let pools = default_pools();
        assert_eq!(pick_subnet(&pools, &[]).unwrap(), n("172.17.0.0/16"));
        let used = [n("172.17.0.0/16"), n("172.16.0.0/12")];
        assert_eq!(pick_subnet(&pools, &used).unwrap(), n("192.168.0.0/20"));
        let all: Vec<Subnet> = vec![n("0.0.0.0/0")];
        assert_eq!(pick_subnet(&pools, &all), Err(IpamError::PoolsExhausted));
    }

    #[test]
    fn leases_hand_out_release_and_refuse() {
        let net = n("10.9.0.0/29");
        let mut l = Leases::default();
        let gw = l
            .lease(&net, None, Some(net.default_gateway()), "gateway")
            .unwrap();
        assert_eq!(gw.to_string(), "10.9.0.1");
        let a = l.lease(&net, None, None, "a").unwrap();
        assert_eq!(a.to_string(), "10.9.0.2");
        let err = l.lease(&net, None, Some(a), "b").unwrap_err();
        assert!(err.to_string().contains("already in use"), "{err}");
        assert!(
            l.lease(&net, None, Some("10.9.1.1".parse().unwrap()), "b")
                .is_err()
        );
        for h in ["b", "c", "d", "e"] {
            l.lease(&net, None, None, h).unwrap();
        }
        assert!(matches!(
            l.lease(&net, None, None, "f"),
            Err(IpamError::Exhausted(_))
        ));
        l.release("a");
        assert_eq!(l.lease(&net, None, None, "f").unwrap(), a);
        let range = n("10.9.0.4/30");
        let mut l = Leases::default();
        assert_eq!(
            l.lease(&net, Some(&range), None, "x").unwrap().to_string(),
            "10.9.0.4"
        );
        assert_eq!(mac_for("172.17.0.2".parse().unwrap()), "02:42:ac:11:00:02");
    }
}
