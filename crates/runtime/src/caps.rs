//! Capability sets: names to bits (in the parent) and applying them (in the child).
//!
//! The five OCI sets become 64-bit masks before `clone`, so the child only makes `prctl` and
//! `capset` calls. Order matters and is the caller's: drop the bounding set while
//! `CAP_SETPCAP` is still held, switch user with `PR_SET_KEEPCAPS`, then [`CapSets::apply`]
//! the other sets and raise the ambient ones.

use crate::error::{Error, Result};
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

/// Capability names in kernel bit order (`CAP_CHOWN` is bit 0), from the one table.
pub use berth_profile::caps::NAMES;

/// The bit of a capability name (`CAP_` prefix optional, case-insensitive).
pub fn bit(name: &str) -> Option<u32> {
    berth_profile::caps::bit(name)
}

/// The bit of an `oci-spec` capability.
pub fn cap_bit(cap: &Capability) -> Option<u32> {
    let name = serde_json::to_value(cap).ok()?;
    bit(name.as_str()?)
}

/// The kernel's highest capability number (`/proc/sys/kernel/cap_last_cap`), 40 if unreadable.
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// The five sets as masks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSets {
    /// Bounding set.
    pub bounding: u64,
    /// Effective set.
    pub effective: u64,
    /// Permitted set.
    pub permitted: u64,
    /// Inheritable set.
    pub inheritable: u64,
    /// Ambient set.
    pub ambient: u64,
    /// The kernel's last capability, so bits the kernel lacks are neither dropped nor set.
    pub last: u32,
}

fn mask(set: &Option<Capabilities>, last: u32) -> u64 {
    set.iter()
        .flatten()
        .filter_map(cap_bit)
        .filter(|b| *b <= last)
        .fold(0, |m, b| m | 1 << b)
}

impl CapSets {
    /// Converts the OCI sets; capabilities newer than the kernel are ignored, as runc does.
    pub fn from_spec(caps: &LinuxCapabilities) -> CapSets {
        let last = last_cap();
        CapSets {
            bounding: mask(caps.bounding(), last),
            effective: mask(caps.effective(), last),
            permitted: mask(caps.permitted(), last),
            inheritable: mask(caps.inheritable(), last),
            ambient: mask(caps.ambient(), last),
            last,
        }
    }

    /// Takes out of the ambient set what the kernel would refuse to raise (a capability
    /// not in both the permitted and the inheritable set: `runc spec`'s own template lists
    /// ambient capabilities without inheritable ones) and returns their numbers, for the
    /// caller to warn about; runc warns and goes on too.
    pub fn drop_unraisable_ambient(&mut self) -> Vec<u32> {
        let raisable = self.permitted & self.inheritable;
        let dropped: Vec<u32> = (0..=self.last.min(63))
            .filter(|b| self.ambient & (1 << b) != 0 && raisable & (1 << b) == 0)
            .collect();
        self.ambient &= raisable;
        dropped
    }

    /// Drops every capability outside the bounding set. Allocation-free.
    pub fn drop_bounding(&self) -> std::io::Result<()> {
        for cap in 0..=self.last.min(63) {
            if self.bounding & (1 << cap) == 0 {
                // SAFETY: PR_CAPBSET_DROP takes a capability number and no pointers.
                let rc =
                    unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
                if rc < 0 {
                    let err = std::io::Error::last_os_error();
                    // EINVAL: the kernel does not know this capability.
                    if err.raw_os_error() != Some(libc::EINVAL) {
                        return Err(err);
                    }
                }
            }
        }
        Ok(())
    }

    /// Sets effective, permitted and inheritable, then raises the ambient set. Allocation-free.
    pub fn apply(&self) -> std::io::Result<()> {
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        #[derive(Clone, Copy)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        let header = Header {
            version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
            pid: 0,
        };
        let split = |m: u64| (m as u32, (m >> 32) as u32);
        let (e0, e1) = split(self.effective);
        let (p0, p1) = split(self.permitted);
        let (i0, i1) = split(self.inheritable);
        let data = [
            Data {
                effective: e0,
                permitted: p0,
                inheritable: i0,
            },
            Data {
                effective: e1,
                permitted: p1,
                inheritable: i1,
            },
        ];
        // SAFETY: header and data are valid v3 structures (two data elements) on our stack.
        let rc =
            unsafe { libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        for cap in 0..=self.last.min(63) {
            if self.ambient & (1 << cap) != 0 {
                // SAFETY: PR_CAP_AMBIENT_RAISE takes a capability number and no pointers.
                let rc = unsafe {
                    libc::prctl(
                        libc::PR_CAP_AMBIENT,
                        libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                        cap as libc::c_ulong,
                        0,
                        0,
                    )
                };
                if rc < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
        }
        Ok(())
    }
}

/// Parses a list of names (`CAP_NET_RAW`, `net_raw`) into a mask, for CLI and profile use.
pub fn mask_of(names: &[&str]) -> Result<u64> {
    names.iter().try_fold(0u64, |m, n| {
        bit(n)
            .map(|b| m | 1 << b)
            .ok_or_else(|| Error::config("capabilities", format!("unknown capability {n:?}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_bits() {
        assert_eq!(bit("CAP_CHOWN"), Some(0));
        assert_eq!(bit("sys_admin"), Some(21));
        assert_eq!(bit("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(bit("CAP_NOPE"), None);
        assert_eq!(cap_bit(&Capability::NetRaw), Some(13));
        assert_eq!(cap_bit(&Capability::AuditWrite), Some(29));
        assert_eq!(mask_of(&["CHOWN", "KILL"]).unwrap(), 1 | 1 << 5);
    }

    #[test]
    fn ambient_caps_outside_permitted_and_inheritable_are_dropped() {
        let mut sets = CapSets {
            bounding: 0b1111,
            effective: 0b1111,
            permitted: 0b0111,
            inheritable: 0b0101,
            ambient: 0b1111,
            last: 40,
        };
        assert_eq!(sets.drop_unraisable_ambient(), vec![1, 3]);
        assert_eq!(sets.ambient, 0b0101);
        assert!(sets.drop_unraisable_ambient().is_empty());
    }
}
