//! Small pure value types: IPv4 networks, MAC addresses and interface names. Kept here (and not
//! taken from a crate) because the engine needs only a handful of operations on them and every
//! one is unit-tested without root.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::error::{Error, Result};

/// An IPv4 address with a prefix length, e.g. `172.17.0.2/16`: the form an interface address and
/// a subnet are both written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Net {
    /// The address (for a subnet, usually the network address).
    pub addr: Ipv4Addr,
    /// The prefix length, 0 to 32.
    pub prefix: u8,
}

impl Ipv4Net {
    /// Builds a network, refusing prefixes longer than 32.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Self> {
        if prefix > 32 {
            return Err(Error::Invalid(format!(
                "invalid prefix length {prefix} for {addr}"
            )));
        }
        Ok(Ipv4Net { addr, prefix })
    }

    /// The netmask as a number (`/24` → `0xffffff00`).
    pub fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    /// The network address (host bits cleared).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// The broadcast address (host bits set), which the kernel wants alongside an interface
    /// address so broadcasts on the bridge work like Docker's.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    /// Whether `ip` lies inside this network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }

    /// Whether two networks share any address: what makes a candidate subnet clash with a host
    /// route.
    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        let shorter = self.prefix.min(other.prefix);
        let mask = Ipv4Net {
            addr: Ipv4Addr::UNSPECIFIED,
            prefix: shorter,
        }
        .mask();
        u32::from(self.addr) & mask == u32::from(other.addr) & mask
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = Error;

    /// Parses `a.b.c.d/n`; a bare address means `/32`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::Invalid(format!("invalid IPv4 CIDR {s:?}"));
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, p.parse::<u8>().map_err(|_| bad())?),
            None => (s, 32),
        };
        let addr = addr.parse::<Ipv4Addr>().map_err(|_| bad())?;
        Ipv4Net::new(addr, prefix).map_err(|_| bad())
    }
}

/// A 48-bit Ethernet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// Docker's MAC for a container address: `02:42` followed by the four IPv4 bytes, so the
    /// MAC is stable for an address and never clashes with a vendor's (locally administered).
    pub fn from_ipv4(ip: Ipv4Addr) -> Self {
        let [a, b, c, d] = ip.octets();
        MacAddr([0x02, 0x42, a, b, c, d])
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl FromStr for MacAddr {
    type Err = Error;

    /// Parses `aa:bb:cc:dd:ee:ff` (case-insensitive).
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::Invalid(format!("invalid MAC address {s:?}"));
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let p = parts.next().ok_or_else(bad)?;
            if p.len() != 2 {
                return Err(bad());
            }
            *byte = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}

/// The kernel's limit on interface names, without the terminating NUL (`IFNAMSIZ - 1`).
pub const MAX_IFNAME_LEN: usize = 15;

/// Checks an interface name the way the kernel will (`dev_valid_name`), so a bad name fails with
/// a message that names it instead of a bare "Invalid argument".
pub fn check_ifname(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_IFNAME_LEN
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0);
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid interface name {name:?} (1 to {MAX_IFNAME_LEN} bytes, no '/', ':' or spaces)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parses_and_computes_network_and_broadcast() {
        let n: Ipv4Net = "10.200.3.7/24".parse().unwrap();
        assert_eq!(n.addr, Ipv4Addr::new(10, 200, 3, 7));
        assert_eq!(n.network(), Ipv4Addr::new(10, 200, 3, 0));
        assert_eq!(n.broadcast(), Ipv4Addr::new(10, 200, 3, 255));
        assert_eq!(n.to_string(), "10.200.3.7/24");
        assert_eq!("1.2.3.4".parse::<Ipv4Net>().unwrap().prefix, 32);
        assert!("1.2.3.4/33".parse::<Ipv4Net>().is_err());
        assert!("1.2.3/8".parse::<Ipv4Net>().is_err());
        let all: Ipv4Net = "0.0.0.0/0".parse().unwrap();
        assert_eq!(all.mask(), 0);
        assert!(all.contains(Ipv4Addr::new(8, 8, 8, 8)));
    }

    #[test]
    fn overlap_is_symmetric_and_prefix_aware() {
        let a: Ipv4Net = "10.200.0.0/16".parse().unwrap();
        let b: Ipv4Net = "10.200.7.0/24".parse().unwrap();
        let c: Ipv4Net = "10.201.0.0/24".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c) && !c.overlaps(&a));
        assert!(b.contains(Ipv4Addr::new(10, 200, 7, 1)));
        assert!(!b.contains(Ipv4Addr::new(10, 200, 8, 1)));
    }

    #[test]
    fn mac_from_ip_matches_docker() {
        let mac = MacAddr::from_ipv4(Ipv4Addr::new(172, 17, 0, 2));
        assert_eq!(mac.to_string(), "02:42:ac:11:00:02");
        assert_eq!("02:42:AC:11:00:02".parse::<MacAddr>().unwrap(), mac);
        assert!("02:42:ac:11:00".parse::<MacAddr>().is_err());
        assert!("02:42:ac:11:00:02:03".parse::<MacAddr>().is_err());
    }

    #[test]
    fn interface_names_are_checked_like_the_kernel() {
        assert!(check_ifname("eth0").is_ok());
        assert!(check_ifname("veth0123456").is_ok());
        assert!(check_ifname("br-0123456789ab").is_ok());
        assert!(check_ifname("br-0123456789abc").is_err());
        assert!(check_ifname("").is_err());
        assert!(check_ifname("a/b").is_err());
        assert!(check_ifname("a b").is_err());
    }
}
