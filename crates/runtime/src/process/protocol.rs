//! The sync-socket protocol between the runtime and the container's init: the fixed-size
//! [`Msg`], its kinds, and the numbers a child's error report is made of ([`Step`] and the
//! mount failure codes).
//!
//! Both sides use it, the child without allocating: a message is 16 bytes on a
//! `SOCK_SEQPACKET` socket, so each send and receive is one atomic syscall.

use crate::mounts;
use std::io;
use std::os::fd::RawFd;

/// The message kinds of the sync protocol.
pub(super) mod kind {
    /// Parent → child: go on (after the id maps, and after the `createRuntime` hooks).
    pub const GO: u32 = 1;
    /// Child → parent: run the `createRuntime` hooks now.
    pub const HOOKS: u32 = 2;
    /// Child → parent: set-up is complete.
    pub const READY: u32 = 3;
    /// Child → parent: a step failed (`step`, `index`, `errno`).
    pub const ERROR: u32 = 4;
    /// Parent → child: the cgroups are made, and the child is in those it does not join
    /// itself; `index` has the bits of the `cgroup_tasks` entries to skip.
    pub const JOINED: u32 = 5;
}

/// The steps of the child, for error reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(super) enum Step {
    Sync = 1,
    Setns,
    UserRoot,
    Hostname,
    Domainname,
    Rootfs,
    Fds,
    Pivot,
    Sysctl,
    Mounts2,
    Console,
    Rlimit,
    Bounding,
    NoNewPrivs,
    Seccomp,
    User,
    Caps,
    Cwd,
    Gate,
    Exec,
    Loopback,
    Cgroup,
}

/// Every [`Step`], to turn a reported number back into one.
pub(super) const STEPS: [Step; 22] = [
    Step::Sync,
    Step::Setns,
    Step::UserRoot,
    Step::Hostname,
    Step::Domainname,
    Step::Rootfs,
    Step::Fds,
    Step::Pivot,
    Step::Sysctl,
    Step::Mounts2,
    Step::Console,
    Step::Rlimit,
    Step::Bounding,
    Step::NoNewPrivs,
    Step::Seccomp,
    Step::User,
    Step::Caps,
    Step::Cwd,
    Step::Gate,
    Step::Exec,
    Step::Loopback,
    Step::Cgroup,
];

/// One protocol message: 16 bytes, sent atomically on the seqpacket socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Msg {
    /// One of the [`kind`] constants.
    pub(super) kind: u32,
    /// For `ERROR`: the [`Step`] that failed.
    pub(super) step: u32,
    /// For `ERROR`: which item of the step failed; for `JOINED`: the groups to skip.
    pub(super) index: u32,
    /// For `ERROR`: the errno.
    pub(super) errno: i32,
}

impl Msg {
    /// The message as sent: four native-endian words.
    fn bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..4].copy_from_slice(&self.kind.to_ne_bytes());
        b[4..8].copy_from_slice(&self.step.to_ne_bytes());
        b[8..12].copy_from_slice(&self.index.to_ne_bytes());
        b[12..16].copy_from_slice(&self.errno.to_ne_bytes());
        b
    }

    /// The message from its wire form.
    fn parse(b: &[u8; 16]) -> Msg {
        let word = |i: usize| [b[i], b[i + 1], b[i + 2], b[i + 3]];
        Msg {
            kind: u32::from_ne_bytes(word(0)),
            step: u32::from_ne_bytes(word(4)),
            index: u32::from_ne_bytes(word(8)),
            errno: i32::from_ne_bytes(word(12)),
        }
    }

    /// Sends the message (never raising SIGPIPE).
    pub(super) fn send(&self, fd: RawFd) -> io::Result<()> {
        let b = self.bytes();
        // SAFETY: sending a local 16-byte buffer.
        let n = unsafe { libc::send(fd, b.as_ptr().cast(), b.len(), libc::MSG_NOSIGNAL) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Receives one message; `None` on EOF.
    pub(super) fn recv(fd: RawFd) -> io::Result<Option<Msg>> {
        let mut b = [0u8; 16];
        let mut reset_seen = false;
        loop {
            // SAFETY: receiving into a local 16-byte buffer.
            let n = unsafe { libc::recv(fd, b.as_mut_ptr().cast(), b.len(), 0) };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // A child that exits with a message of ours unread resets the pair, and the
                // kernel reports that before the messages it sent last (its error report).
                // The report is the news: reading again (the reset is consumed) gets it, or
                // the end of the stream.
                if err.raw_os_error() == Some(libc::ECONNRESET) && !reset_seen {
                    reset_seen = true;
                    continue;
                }
                return Err(err);
            }
            if n == 0 {
                return Ok(None);
            }
            return Ok(Some(Msg::parse(&b)));
        }
    }
}

/// Mount failures travel as one number: phase in the high byte, index below.
pub(super) fn failure_code(f: mounts::Failure) -> u32 {
    use mounts::Failure::*;
    match f {
        Propagation => 0,
        RootBind => 1,
        RootReadonly => 2,
        CgroupWait => 3,
        ParentPrivate => 4,
        Op(i) => 1 << 24 | i as u32,
        Mask(i) => 2 << 24 | i as u32,
        Readonly(i) => 3 << 24 | i as u32,
    }
}

/// The mount failure a [`failure_code`] stands for.
pub(super) fn failure_from(code: u32) -> mounts::Failure {
    use mounts::Failure::*;
    let i = (code & 0xff_ffff) as usize;
    match (code >> 24, code) {
        (0, 0) => Propagation,
        (0, 1) => RootBind,
        (0, 3) => CgroupWait,
        (0, 4) => ParentPrivate,
        (0, _) => RootReadonly,
        (1, _) => Op(i),
        (2, _) => Mask(i),
        _ => Readonly(i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msg_roundtrip() {
        let m = Msg {
            kind: kind::ERROR,
            step: Step::Pivot as u32,
            index: 7,
            errno: libc::EINVAL,
        };
        assert_eq!(Msg::parse(&m.bytes()), m);
    }

    #[test]
    fn failure_codes_roundtrip() {
        use mounts::Failure::*;
        for f in [
            Propagation,
            RootBind,
            RootReadonly,
            CgroupWait,
            ParentPrivate,
            Op(0),
            Op(12),
            Mask(3),
            Readonly(4),
        ] {
            assert_eq!(failure_from(failure_code(f)), f);
        }
    }
}
