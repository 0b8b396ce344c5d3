//! Loading a device program into the kernel and attaching it to a cgroup2 group (the v2 way to
//! enforce [`crate::devices`] rules), with the four `bpf(2)` commands that takes.
//!
//! The program is attached with `BPF_F_ALLOW_MULTI`, so programs on ancestor groups (systemd
//! puts its own on slices) still run: the kernel allows an access only if every one does. A
//! group that already has programs (a create retried after a crash, an update) gets the new
//! one first and loses the old ones after, so there is no moment without a filter.

use crate::devices::{DeviceRule, Insn, program};
use crate::error::{Error, Result};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// `enum bpf_cmd` values.
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
/// `BPF_PROG_TYPE_CGROUP_DEVICE`.
const PROG_TYPE_CGROUP_DEVICE: u32 = 15;
/// `BPF_CGROUP_DEVICE` attach type.
const ATTACH_CGROUP_DEVICE: u32 = 6;
/// `BPF_F_ALLOW_MULTI`.
const F_ALLOW_MULTI: u32 = 2;

/// `union bpf_attr`, as large as any command here needs; unused bytes stay zero, which the
/// kernel requires.
#[repr(C, align(8))]
struct Attr([u8; 128]);

impl Attr {
    fn new() -> Attr {
        Attr([0; 128])
    }

    fn u32_at(&mut self, offset: usize, value: u32) -> &mut Attr {
        self.0[offset..offset + 4].copy_from_slice(&value.to_ne_bytes());
        self
    }

    fn u64_at(&mut self, offset: usize, value: u64) -> &mut Attr {
        self.0[offset..offset + 8].copy_from_slice(&value.to_ne_bytes());
        self
    }

    fn read_u32(&self, offset: usize) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.0[offset..offset + 4]);
        u32::from_ne_bytes(b)
    }
}

/// Issues one `bpf(2)` command; returns its non-negative result.
fn bpf(cmd: libc::c_long, attr: &mut Attr) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a valid, fully initialised buffer of the size passed, which outlives
    // the call; the kernel reads (and for queries writes) only within it and within the
    // buffers whose addresses the caller stored in it, which also outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut Attr,
            std::mem::size_of::<Attr>(),
        )
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Takes ownership of a descriptor the kernel just returned.
fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: `fd` is a fresh descriptor returned by bpf(2) that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

fn failed(dir: &Path, what: &str, source: std::io::Error) -> Error {
    Error::Devices {
        path: dir.to_path_buf(),
        detail: format!("{what}: {source}"),
    }
}

/// Loads the program; on failure it is loaded again with the verifier's log, whose complaint
/// goes into the error (a log on every load would cost time and fail on a short buffer).
fn load(dir: &Path, insns: &[Insn]) -> Result<OwnedFd> {
    let license = CString::from(c"Apache-2.0");
    let mut log = vec![0u8; 16 * 1024];
    let mut attr = Attr::new();
    attr.u32_at(0, PROG_TYPE_CGROUP_DEVICE)
        .u32_at(4, insns.len() as u32)
        .u64_at(8, insns.as_ptr() as u64)
        .u64_at(16, license.as_ptr() as u64);
    let first = match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => return Ok(owned(fd)),
        Err(e) => e,
    };
    attr.u32_at(24, 1) // log_level
        .u32_at(28, log.len() as u32)
        .u64_at(32, log.as_mut_ptr() as u64);
    let _ = bpf(BPF_PROG_LOAD, &mut attr).map(owned);
    let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
    let verifier = String::from_utf8_lossy(&log[..end]);
    let detail = match verifier.trim() {
        "" => first.to_string(),
        v => format!("{first} ({v})"),
    };
    Err(Error::Devices {
        path: dir.to_path_buf(),
        detail: format!("loading the device program: {detail}"),
    })
}

/// Ids of the device programs attached to the group itself.
fn attached(group: &OwnedFd) -> std::io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = Attr::new();
    attr.u32_at(0, group.as_raw_fd() as u32)
        .u32_at(4, ATTACH_CGROUP_DEVICE)
        .u64_at(16, ids.as_mut_ptr() as u64)
        .u32_at(24, ids.len() as u32);
    bpf(BPF_PROG_QUERY, &mut attr)?;
    let count = attr.read_u32(24) as usize;
    ids.truncate(count.min(64));
    Ok(ids)
}

/// Replaces the device programs of the cgroup2 group at `dir` by one enforcing `rules`.
pub fn apply_device_rules(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    let group: OwnedFd = std::fs::File::open(dir)
        .map_err(|e| failed(dir, "opening the group", e))?
        .into();
    let old = attached(&group).map_err(|e| failed(dir, "listing its device programs", e))?;
    let prog = load(dir, &program(rules))?;
    let mut attr = Attr::new();
    attr.u32_at(0, group.as_raw_fd() as u32)
        .u32_at(4, prog.as_raw_fd() as u32)
        .u32_at(8, ATTACH_CGROUP_DEVICE)
        .u32_at(12, F_ALLOW_MULTI);
    bpf(BPF_PROG_ATTACH, &mut attr).map_err(|e| failed(dir, "attaching the device program", e))?;
    for id in old {
        let mut get = Attr::new();
        get.u32_at(0, id);
        let Ok(fd) = bpf(BPF_PROG_GET_FD_BY_ID, &mut get) else {
            continue; // detached meanwhile
        };
        let old_prog = owned(fd);
        let mut detach = Attr::new();
        detach
            .u32_at(0, group.as_raw_fd() as u32)
            .u32_at(4, old_prog.as_raw_fd() as u32)
            .u32_at(8, ATTACH_CGROUP_DEVICE);
        bpf(BPF_PROG_DETACH, &mut detach)
            .map_err(|e| failed(dir, "detaching an old device program", e))?;
    }
    Ok(())
}

/// How many device programs are attached to the group at `dir` (for tests and diagnostics).
pub fn device_programs(dir: &Path) -> Result<usize> {
    let group: OwnedFd = std::fs::File::open(dir)
        .map_err(|e| failed(dir, "opening the group", e))?
        .into();
    Ok(attached(&group)
        .map_err(|e| failed(dir, "listing its device programs", e))?
        .len())
}
