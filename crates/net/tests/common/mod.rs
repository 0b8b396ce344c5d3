//! Helpers shared by the net crate's privileged tests: unique names, a free subnet no host
//! route overlaps, and drop guards that remove links and namespace files even when a test
//! fails.
#![allow(dead_code)]

use berth_net::{Ipv4Net, Netlink, Netns, host};
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Whether the test runs as root (else it says it skips).
pub fn root() -> bool {
    if rustix::process::geteuid().is_root() {
        true
    } else {
        berth_common::skip::skip("needs root");
        false
    }
}

/// A number that differs between processes, threads and calls.
pub fn unique() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    (std::process::id() << 16) ^ nanos ^ (rustix::thread::gettid().as_raw_nonzero().get() as u32)
}

/// A free /24 in 10.`second`.0.0/16 that no host route overlaps; starts at a random offset so
/// concurrent tests rarely pick the same one.
pub fn free_subnet(second: u8) -> Ipv4Net {
    let taken: Vec<Ipv4Net> = host::ipv4_routes()
        .unwrap()
        .into_iter()
        .map(|r| r.dest)
        .filter(|d| d.prefix > 0)
        .collect();
    let start = unique() % 256;
    (0..256)
        .map(|i| Ipv4Net {
            addr: Ipv4Addr::new(10, second, ((start + i) % 256) as u8, 0),
            prefix: 24,
        })
        .find(|c| !taken.iter().any(|t| t.overlaps(c)))
        .expect("a free /24")
}

/// Address `last` of a /24.
pub fn ip_in(net: Ipv4Net, last: u8) -> Ipv4Addr {
    let [a, b, c, _] = net.addr.octets();
    Ipv4Addr::new(a, b, c, last)
}

/// Deletes a link when dropped.
pub struct LinkGuard(pub String);

impl Drop for LinkGuard {
    fn drop(&mut self) {
        if let Ok(mut nl) = Netlink::open() {
            let _ = nl.delete_link(&self.0);
        }
    }
}

/// Removes a namespace file when dropped.
pub struct NetnsGuard(pub PathBuf);

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let _ = Netns::remove(&self.0);
    }
}
