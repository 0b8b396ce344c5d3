//! `process.rlimits`: resource numbers and values decided in the parent, applied in the child.
//!
//! Raising a hard limit needs `CAP_SYS_RESOURCE`, which Berth's own hosts may lack (this
//! project's CI does). A request above the current hard limit is therefore lowered to it rather
//! than failing the container; the soft limit follows. Everything at or below is exact.

use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

/// One limit to set: `(resource, soft, hard)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    /// `RLIMIT_*` number.
    pub resource: u32,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// The kernel's number for an OCI rlimit type.
// The constants' type differs between libcs (u32 on glibc, c_int on musl).
#[allow(clippy::unnecessary_cast)]
pub fn resource(typ: PosixRlimitType) -> u32 {
    (match typ {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }) as u32
}

/// The limits to apply, clamped to the caller's current hard limits (see the module docs).
pub fn prepare(limits: &[PosixRlimit]) -> Vec<Rlimit> {
    limits
        .iter()
        .map(|l| {
            let resource = resource(l.typ());
            let current = current_hard(resource);
            let hard = l.hard().min(current);
            Rlimit {
                resource,
                soft: l.soft().min(hard),
                hard,
            }
        })
        .collect()
}

fn current_hard(resource: u32) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid out-pointer for the duration of the call.
    let rc = unsafe { libc::getrlimit(resource as _, &mut lim) };
    if rc < 0 { u64::MAX } else { lim.rlim_max }
}

/// Applies the limits to the calling process. Allocation-free; returns the failing index.
pub fn apply(limits: &[Rlimit]) -> Result<(), (usize, std::io::Error)> {
    for (i, l) in limits.iter().enumerate() {
        let lim = libc::rlimit {
            rlim_cur: l.soft,
            rlim_max: l.hard,
        };
        // SAFETY: `lim` is a valid rlimit for the duration of the call.
        if unsafe { libc::setrlimit(l.resource as _, &lim) } < 0 {
            return Err((i, std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::unnecessary_cast)]
    fn clamps_to_current_hard() {
        let current = current_hard(libc::RLIMIT_NOFILE as u32);
        let req = oci_spec::runtime::PosixRlimitBuilder::default()
            .typ(PosixRlimitType::RlimitNofile)
            .soft(u64::MAX)
            .hard(u64::MAX)
            .build()
            .unwrap();
        let out = prepare(&[req]);
        assert_eq!(out[0].hard, current);
        assert_eq!(out[0].soft, current);
        assert_eq!(out[0].resource, libc::RLIMIT_NOFILE as u32);
    }
}
