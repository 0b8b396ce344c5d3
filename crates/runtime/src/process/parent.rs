//! The parent's side: [`spawn`] makes the sync socket and the one `clone`, then drives the
//! child through its set-up, running the caller's [`Callbacks`] (id maps, cgroups, hooks) at
//! the points the protocol sets.
//!
//! Any failure kills and reaps the child before it is returned, so a failed spawn leaves no
//! process behind.

use super::Init;
use super::child::child_main;
use super::protocol::{Msg, kind};
use super::wait::{describe_status, kill_and_reap, reap};
use crate::error::{Error, Result};
use crate::namespaces::PidJoin;
use crate::sys;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A container process that completed its set-up.
#[derive(Debug)]
pub struct Spawned {
    /// Its pid on the host.
    pub pid: i32,
    /// The parent's end of the sync socket, for [`Spawned::wait_exec`].
    sock: OwnedFd,
}

impl Spawned {
    /// Waits until the process has called `execve` (EOF) or reports why it could not.
    pub fn wait_exec(&self, init: &Init) -> Result<()> {
        match Msg::recv(self.sock.as_raw_fd()) {
            Ok(None) => Ok(()),
            Ok(Some(msg)) if msg.kind == kind::ERROR => Err(init.describe(msg)),
            Ok(Some(_)) => Err(Error::Init("unexpected message after ready".into())),
            Err(e) => Err(Error::Sys {
                step: "reading from the container's init".into(),
                source: e,
            }),
        }
    }
}

/// The parent's parts of a spawn, called with the child's pid.
pub struct Callbacks<'a> {
    /// Right after `clone`, before the child may proceed (write id maps).
    pub created: &'a mut dyn FnMut(i32) -> Result<()>,
    /// While the child sets up; it will not finish before this returns (make the cgroups;
    /// move the child into those it does not join itself). The flag says whether it was
    /// created in its cgroup2 group already. Returns the bits of the `cgroup_tasks` entries the
    /// child must skip (optional hierarchies whose group could not be made): every other join
    /// that fails fails the start.
    pub setup: &'a mut dyn FnMut(i32, bool) -> Result<u32>,
    /// When the child asks for the `createRuntime` hooks.
    pub hooks: &'a mut dyn FnMut(i32) -> Result<()>,
}

/// Creates the container process, driving it through [`Callbacks`]. On any failure the child
/// is killed and reaped before the error is returned.
pub fn spawn(init: &Init, callbacks: Callbacks<'_>) -> Result<Spawned> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is a valid out-array of two ints.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    sys::check(rc).map_err(|e| Error::Sys {
        step: "creating the sync socket".into(),
        source: e,
    })?;
    // SAFETY: socketpair returned two fresh fds that nothing else owns.
    let (parent_sock, child_sock) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };

    let pid_join = init.ns.pid.as_ref().map(PidJoin::enter).transpose()?;
    let flags = init.ns.clone_flags | libc::SIGCHLD;
    let mut in_cgroup = false;
    let mut pid = -1;
    if let Some(dir) = &init.cgroup_dir {
        // SAFETY: as for the plain clone below; `clone3` with no stack is fork-like too.
        pid = unsafe { clone3_into(init.ns.clone_flags, dir.as_raw_fd()) };
        in_cgroup = pid >= 0;
    }
    if pid < 0 {
        // No cgroup to start in, or a kernel without CLONE_INTO_CGROUP (before 5.7) or one
        // refusing this group: a plain clone, and the parent moves the process.
        // SAFETY: a fork-like clone (no CLONE_VM, no new stack): the child gets a copy of the
        // address space and continues here with 0. It only runs `child_main`, which makes raw
        // syscalls on data prepared above and never returns.
        pid = unsafe {
            libc::syscall(
                libc::SYS_clone,
                flags as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        };
    }
    if pid == 0 {
        sys::close(parent_sock.as_raw_fd());
        child_main(init, child_sock.as_raw_fd());
    }
    drop(pid_join);
    drop(child_sock);
    if pid < 0 {
        return Err(Error::last_os("clone"));
    }
    let pid = pid as i32;
    let spawned = Spawned {
        pid,
        sock: parent_sock,
    };
    let result = drive(init, &spawned, in_cgroup, callbacks);
    if let Err(err) = result {
        kill_and_reap(pid);
        return Err(err);
    }
    Ok(spawned)
}

/// `clone3(CLONE_INTO_CGROUP)` without a new stack (fork-like); returns the pid (0 in the
/// child) or -1.
///
/// # Safety
/// As a `fork`: the caller must only run async-signal-safe code in the child.
unsafe fn clone3_into(ns_flags: libc::c_int, cgroup: RawFd) -> libc::c_long {
    /// `struct clone_args` (linux/sched.h), up to `cgroup` (CLONE_ARGS_SIZE_VER2).
    #[repr(C)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let args = CloneArgs {
        flags: ns_flags as u32 as u64 | CLONE_INTO_CGROUP,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: cgroup as u64,
    };
    // SAFETY: `args` is a valid clone_args of the size passed; see the function's contract.
    unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    }
}

/// The parent's half of the protocol after `clone`: `oom_score_adj`, the `created` callback
/// and `GO`, the `setup` callback and `JOINED`, then the hooks on request until the child is
/// ready, fails or exits.
fn drive(init: &Init, spawned: &Spawned, in_cgroup: bool, callbacks: Callbacks<'_>) -> Result<()> {
    let fd = spawned.sock.as_raw_fd();
    let go = Msg {
        kind: kind::GO,
        step: 0,
        index: 0,
        errno: 0,
    };

    let io_err = |e: io::Error| Error::Sys {
        step: "talking to the container's init".into(),
        source: e,
    };
    if let Some(value) = &init.oom_score_adj {
        // Written by the parent: a child in a new user namespace may not write its own once
        // it is non-dumpable (the file then belongs to the host's root).
        let path = format!("/proc/{}/oom_score_adj", spawned.pid);
        std::fs::write(&path, value.to_bytes()).map_err(|e| Error::Sys {
            step: "writing oom_score_adj".into(),
            source: e,
        })?;
    }
    (callbacks.created)(spawned.pid)?;
    // A failed send means the child already gave up: its report (or EOF) is read below.
    let _ = go.send(fd);
    let skipped = (callbacks.setup)(spawned.pid, in_cgroup)?;
    let joined = Msg {
        kind: kind::JOINED,
        index: skipped,
        ..go
    };
    let _ = joined.send(fd);
    let on_hooks = callbacks.hooks;
    loop {
        match Msg::recv(fd).map_err(io_err)? {
            None => {
                let status = reap(spawned.pid);
                return Err(Error::Init(format!(
                    "exited during set-up ({})",
                    describe_status(status)
                )));
            }
            Some(msg) if msg.kind == kind::HOOKS => {
                on_hooks(spawned.pid)?;
                go.send(fd).map_err(io_err)?;
            }
            Some(msg) if msg.kind == kind::READY => return Ok(()),
            Some(msg) if msg.kind == kind::ERROR => {
                reap(spawned.pid);
                return Err(init.describe(msg));
            }
            Some(msg) => return Err(Error::Init(format!("unexpected message {msg:?}"))),
        }
    }
}
