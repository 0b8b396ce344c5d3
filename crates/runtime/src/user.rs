//! Users and groups: the parent writes a new user namespace's id maps; the child switches to
//! the process's uid, gid and supplementary groups.
//!
//! The child uses the raw syscalls rather than libc's wrappers on purpose: glibc's `setresuid`
//! and `setgroups` broadcast the change to every thread it knows of, and after a raw `clone`
//! its thread list still names the parent's threads, so the broadcast would wait forever.

use crate::error::{Error, Result};
use oci_spec::runtime::LinuxIdMapping;
use std::io;

/// Writes `/proc/<pid>/uid_map` and `gid_map` for a child in a new user namespace. Runs in
/// the parent, which is root on the host, so `setgroups` need not be denied first.
pub fn write_id_maps(pid: i32, uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<()> {
    for (file, maps) in [("uid_map", uids), ("gid_map", gids)] {
        let text: String = maps
            .iter()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect();
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, text).map_err(|e| Error::io("writing", path, e))?;
    }
    Ok(())
}

/// The identity the process runs as.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// User id (inside the container's user namespace, if any).
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

fn check(rc: libc::c_long) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl Identity {
    /// Switches the calling (single) thread to this identity, keeping the permitted
    /// capabilities across the uid change so the caller can set the final sets afterwards.
    /// Allocation-free.
    pub fn switch(&self) -> io::Result<()> {
        // SAFETY: raw credential syscalls with plain integer arguments and a pointer to
        // `self.groups`, valid for the call.
        unsafe {
            check(libc::syscall(
                libc::SYS_setgroups,
                self.groups.len() as libc::c_long,
                self.groups.as_ptr(),
            ))?;
            check(libc::syscall(
                libc::SYS_setresgid,
                self.gid,
                self.gid,
                self.gid,
            ))?;
            check(libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) as libc::c_long)?;
            check(libc::syscall(
                libc::SYS_setresuid,
                self.uid,
                self.uid,
                self.uid,
            ))?;
            check(libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) as libc::c_long)?;
        }
        Ok(())
    }
}
