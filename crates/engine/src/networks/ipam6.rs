//! IPv6 address management for `--ipv6` networks, as pure functions over plain data: the
//! network's subnet (given, or a unique-local /64 derived from the network id, as RFC 4193
//! asks of a locally assigned prefix), its gateway (`::1` of the subnet) and the container
//! addresses leased in order from `::2`.

use super::ipam::IpamError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

/// An IPv6 network in CIDR form (`fd00:1::/64`), normalised to its network address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subnet6 {
    /// Network address.
    pub addr: Ipv6Addr,
    /// Prefix length, 0–128.
    pub prefix: u8,
}

impl Subnet6 {
    fn mask(&self) -> u128 {
        if self.prefix == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(self.prefix))
        }
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        u128::from(ip) & self.mask() == u128::from(self.addr)
    }

    /// Whether the two share an address.
    pub fn overlaps(&self, other: &Subnet6) -> bool {
        let m = self.mask() & other.mask();
        u128::from(self.addr) & m == u128::from(other.addr) & m
    }

    /// The `n`th address of the subnet, if it has that many.
    pub fn nth(&self, n: u128) -> Option<Ipv6Addr> {
        let size_bits = 128 - u32::from(self.prefix);
        if size_bits < 128 && n >> size_bits != 0 {
            return None;
        }
        Some(Ipv6Addr::from(u128::from(self.addr) | n))
    }

    /// Its conventional gateway, `::1` of the subnet.
    pub fn default_gateway(&self) -> Ipv6Addr {
        self.nth(1).unwrap_or(self.addr)
    }

    /// A unique-local /64 (`fdXX:XXXX:XXXX:0::/64`) whose 40-bit global id comes from `seed`
    /// (the network id): stable for a network, and different networks practically never meet.
    pub fn unique_local(seed: &str) -> Subnet6 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in seed.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let global = (h & 0xff_ffff_ffff) as u128;
        Subnet6 {
            addr: Ipv6Addr::from((0xfd_u128 << 120) | (global << 80)),
            prefix: 64,
        }
    }
}

impl FromStr for Subnet6 {
    type Err = IpamError;

    fn from_str(s: &str) -> Result<Subnet6, IpamError> {
        let bad = || IpamError::InvalidCidr(s.to_string());
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv6Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if prefix > 128 {
            return Err(bad());
        }
        let mut n = Subnet6 { addr, prefix };
        n.addr = Ipv6Addr::from(u128::from(addr) & n.mask());
        Ok(n)
    }
}

impl fmt::Display for Subnet6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for Subnet6 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Subnet6 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Subnet6, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The IPv6 addresses handed out on one network: address → holder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leases6 {
    /// Address → holder.
    pub taken: BTreeMap<Ipv6Addr, String>,
}

impl Leases6 {
    /// Leases `requested` (`--ip6`) or the lowest free address from `::2` to `holder`.
    pub fn lease(
        &mut self,
        subnet: &Subnet6,
        requested: Option<Ipv6Addr>,
        holder: &str,
    ) -> Result<Ipv6Addr, IpamError> {
        if let Some(ip) = requested {
            if !subnet.contains(ip) || ip == subnet.addr {
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
        // Addresses are handed out in order, so the first gap is within `taken.len() + 2`.
        for n in 1..=(self.taken.len() as u128 + 2) {
            let Some(ip) = subnet.nth(n) else { break };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_contain_and_derive() {
        let s: Subnet6 = "fd00:1:2:3::9/64".parse().unwrap();
        assert_eq!(s.to_string(), "fd00:1:2:3::/64");
        assert!(s.contains("fd00:1:2:3::abcd".parse().unwrap()));
        assert!(!s.contains("fd00:1:2:4::1".parse().unwrap()));
        assert_eq!(s.default_gateway().to_string(), "fd00:1:2:3::1");
        assert!(s.overlaps(&"fd00:1::/32".parse().unwrap()));
        assert!("fd00::/129".parse::<Subnet6>().is_err());
        let u = Subnet6::unique_local("a1b2");
        assert_eq!(u.prefix, 64);
        assert_eq!(u.addr.octets()[0], 0xfd);
        assert_eq!(u, Subnet6::unique_local("a1b2"));
        assert_ne!(u, Subnet6::unique_local("c3d4"));
    }

    #[test]
    fn leases_in_order_requested_and_released() {
        let s: Subnet6 = "fd00::/64".parse().unwrap();
        let mut l = Leases6::default();
        assert_eq!(l.lease(&s, None, "gw").unwrap().to_string(), "fd00::1");
        assert_eq!(l.lease(&s, None, "a").unwrap().to_string(), "fd00::2");
        assert_eq!(
            l.lease(&s, Some("fd00::9".parse().unwrap()), "b")
                .unwrap()
                .to_string(),
            "fd00::9"
        );
        assert!(l.lease(&s, Some("fd00::9".parse().unwrap()), "c").is_err());
        assert!(l.lease(&s, Some("fd01::9".parse().unwrap()), "c").is_err());
        assert!(l.release("a"));
        assert_eq!(l.lease(&s, None, "c").unwrap().to_string(), "fd00::2");
    }
}
