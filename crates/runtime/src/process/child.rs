//! The child's side: what the container's init does between `clone` and `execve`.
//!
//! [`child_main`] runs on a copy of the parent's memory, so it keeps to raw syscalls on the
//! data prepared in the [`Init`]: no allocation, no lock another thread of the parent might have
//! held at `clone`. It takes the steps in the order the OCI spec and the kernel require
//! (namespaces, mounts, `pivot_root`, limits, privileges, identity) and reports the first
//! failure as numbers ([`Step`], index, errno) on the sync socket.

use super::protocol::{Msg, Step, failure_code, kind};
use super::reaper::become_reaper;
use super::{CgroupJoin, Init};
use crate::{rlimits, seccomp, sys};
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// The child's side. Never returns.
pub(super) fn child_main(init: &Init, sock: RawFd) -> ! {
    let err = match child_setup(init, sock).and_then(|()| seal_descriptors(init)) {
        Ok(()) if init.reaper => become_reaper(init),
        Ok(()) => (Step::Exec, 0, exec(init)),
        Err(e) => e,
    };
    let (step, index, error) = err;
    let errno = error.raw_os_error().unwrap_or(libc::EIO);
    let msg = Msg {
        kind: kind::ERROR,
        step: step as u32,
        index,
        errno,
    };
    if msg.send(sock).is_err() {
        // Nobody may be listening (a `create`d container's parent has exited): say it on stderr.
        let mut buf = [0u8; 12];
        let _ = sys::write_all(2, b"berth: container init failed at step ");
        let _ = sys::write_all(2, sys::fmt_i32(step as i32, &mut buf));
        let _ = sys::write_all(2, b", errno ");
        let _ = sys::write_all(2, sys::fmt_i32(errno, &mut buf));
        let _ = sys::write_all(2, b"\n");
    }
    let code = match (step, errno) {
        (Step::Exec, libc::ENOENT) => 127,
        (Step::Exec, _) => 126,
        _ => 1,
    };
    // SAFETY: leaving the child without running the parent's atexit handlers or destructors.
    unsafe { libc::_exit(code) }
}

/// A step's outcome: on failure, the step, the failing item's index and the error.
type ChildResult = std::result::Result<(), (Step, u32, io::Error)>;

/// Reports an error as one of `step` (index 0).
fn at(step: Step) -> impl Fn(io::Error) -> (Step, u32, io::Error) {
    move |e| (step, 0, e)
}

/// What the child knows of the parent's `JOINED`: whether it came, and which `cgroup_tasks`
/// entries it said to skip.
#[derive(Default)]
struct Joined {
    seen: bool,
    skip: u32,
}

/// Waits for a message of kind `want`, noting a `JOINED` that arrives first.
fn wait_for(sock: RawFd, want: u32, joined: &mut Joined) -> ChildResult {
    loop {
        match Msg::recv(sock) {
            Ok(Some(m)) if m.kind == want => {
                if want == kind::JOINED {
                    *joined = Joined {
                        seen: true,
                        skip: m.index,
                    };
                }
                return Ok(());
            }
            Ok(Some(m)) if m.kind == kind::JOINED => {
                *joined = Joined {
                    seen: true,
                    skip: m.index,
                }
            }
            Ok(_) => return Err((Step::Sync, 0, io::Error::from_raw_os_error(libc::EPIPE))),
            Err(e) => return Err((Step::Sync, 0, e)),
        }
    }
}

/// Waits (once) until the parent has moved this process into the container's cgroups, then
/// makes the cgroup namespace that must be rooted there. Allocation-free.
fn join_cgroups(
    init: &Init,
    sock: RawFd,
    joined: &mut Joined,
    late_done: &mut bool,
) -> ChildResult {
    if !joined.seen {
        wait_for(sock, kind::JOINED, joined)?;
    }
    if !*late_done {
        *late_done = true;
        if init.cgroup_join == CgroupJoin::WhenMade {
            join_own_cgroups(init, joined.skip)?;
        }
        init.ns
            .enter_late()
            .map_err(|e| (Step::Setns, init.ns.join.len() as u32 + 1, e))?;
    }
    Ok(())
}

/// The set-up, in order, up to the start gate; everything but the `execve` (or `--init`).
fn child_setup(init: &Init, sock: RawFd) -> ChildResult {
    let mut joined = Joined::default();
    let mut late_done = false;
    wait_for(sock, kind::GO, &mut joined)?;
    if init.cgroup_join == CgroupJoin::AtStart {
        join_own_cgroups(init, 0)?;
    }
    init.ns
        .enter()
        .map_err(|(i, e)| (Step::Setns, i as u32, e))?;
    if init.user_ns_root {
        // SAFETY: raw credential syscalls (see user.rs for why not libc's wrappers).
        unsafe {
            for rc in [
                libc::syscall(libc::SYS_setresgid, 0, 0, 0),
                libc::syscall(libc::SYS_setresuid, 0, 0, 0),
            ] {
                if rc < 0 {
                    return Err((Step::UserRoot, 0, io::Error::last_os_error()));
                }
            }
        }
    }
    if init.ns.new_net() {
        // A fresh network namespace has `lo` down; every engine (Docker's libnetwork, CNI's
        // loopback plugin) brings it up, and programs expect 127.0.0.1 to work.
        loopback_up().map_err(at(Step::Loopback))?;
    }
    if let Some(name) = &init.hostname {
        // SAFETY: NUL-terminated buffer of the given length.
        let rc = unsafe { libc::sethostname(name.as_ptr(), name.as_bytes().len()) };
        sys::check(rc).map_err(at(Step::Hostname))?;
    }
    if let Some(name) = &init.domainname {
        // SAFETY: NUL-terminated buffer of the given length.
        let rc = unsafe { libc::setdomainname(name.as_ptr(), name.as_bytes().len()) };
        sys::check(rc).map_err(at(Step::Domainname))?;
    }
    if let Some(mounts) = &init.mounts {
        let mut wait_joined =
            || join_cgroups(init, sock, &mut joined, &mut late_done).map_err(|(_, _, e)| e);
        let root = mounts
            .setup_rootfs(&mut wait_joined)
            .map_err(|(f, e)| (Step::Rootfs, failure_code(f), e))?;
        // In the container's groups (and its cgroup namespace made) before the root changes:
        // the host's v1 hierarchies are still reachable by path, the capabilities still
        // held, and hooks see the process where it will run. (Done already, inside
        // `setup_rootfs`, when the config mounts /sys/fs/cgroup.)
        join_cgroups(init, sock, &mut joined, &mut late_done)?;
        if init.hooks_sync {
            let hooks = Msg {
                kind: kind::HOOKS,
                step: 0,
                index: 0,
                errno: 0,
            };
            hooks.send(sock).map_err(at(Step::Sync))?;
            wait_for(sock, kind::GO, &mut joined)?;
        }
        crate::pivot::pivot(root).map_err(at(Step::Pivot))?;
        sys::close(root);
        for (i, (path, value)) in init.sysctls.iter().enumerate() {
            write_file(path, value).map_err(|e| (Step::Sysctl, i as u32, e))?;
        }
        mounts
            .finish()
            .map_err(|(f, e)| (Step::Mounts2, failure_code(f), e))?;
    }
    if let Some(console) = &init.console {
        crate::console::setup_pty(console.as_raw_fd(), init.console_size)
            .map_err(at(Step::Console))?;
        sys::close(console.as_raw_fd());
    }
    rlimits::apply(&init.rlimits).map_err(|(i, e)| (Step::Rlimit, i as u32, e))?;
    if let Some(caps) = &init.caps {
        caps.drop_bounding().map_err(at(Step::Bounding))?;
    }
    if init.no_new_privs {
        // SAFETY: prctl with integer arguments.
        let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
        sys::check(rc).map_err(at(Step::NoNewPrivs))?;
    }
    if !init.no_new_privs
        && let Some(filter) = &init.seccomp
    {
        seccomp::install(filter).map_err(at(Step::Seccomp))?;
    }
    init.identity.switch().map_err(at(Step::User))?;
    if let Some(caps) = &init.caps {
        caps.apply().map_err(at(Step::Caps))?;
    }
    if let Some(mask) = init.umask {
        // SAFETY: umask cannot fail.
        unsafe { libc::umask(mask as libc::mode_t) };
    }
    // SAFETY: NUL-terminated path.
    sys::check(unsafe { libc::chdir(init.cwd.as_ptr()) }).map_err(at(Step::Cwd))?;
    reset_signals();
    // Look the program up now, while create (or exec) still waits: a missing binary is then
    // an error of that call, as with runc and Docker, not a container that dies at start.
    executable_check(init).map_err(at(Step::Exec))?;
    join_cgroups(init, sock, &mut joined, &mut late_done)?;
    let ready = Msg {
        kind: kind::READY,
        step: 0,
        index: 0,
        errno: 0,
    };
    ready.send(sock).map_err(at(Step::Sync))?;
    if let Some(gate) = &init.gate {
        // SAFETY: opening a FIFO by name under a directory fd we own; blocks until `start`.
        let fd = unsafe {
            libc::openat(
                gate.dir.as_raw_fd(),
                gate.name.as_ptr(),
                libc::O_WRONLY | libc::O_CLOEXEC,
            )
        };
        let fd = sys::check(fd).map_err(at(Step::Gate))?;
        sys::write_all(fd, b"0").map_err(at(Step::Gate))?;
        sys::close(fd);
        sys::close(gate.dir.as_raw_fd());
    }
    if init.no_new_privs
        && let Some(filter) = &init.seccomp
    {
        seccomp::install(filter).map_err(at(Step::Seccomp))?;
    }
    Ok(())
}

/// Right before `execve`: everything above stdio and the descriptors the caller passes on is
/// marked close-on-exec, so nothing the runtime, the shim or the daemon held (inherited or
/// opened without the flag) reaches the container. Allocation-free.
fn seal_descriptors(init: &Init) -> ChildResult {
    crate::hygiene::cloexec_from(3 + init.preserve_fds).map_err(at(Step::Fds))?;
    crate::hygiene::keep_open(init.preserve_fds);
    if init.die_with_parent {
        // SAFETY: prctl with integer arguments.
        let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
        sys::check(rc).map_err(at(Step::Fds))?;
    }
    Ok(())
}

/// Sets `IFF_UP` on `lo` of the current network namespace (allocation-free).
fn loopback_up() -> io::Result<()> {
    // SAFETY: a plain datagram socket, closed below.
    let fd = sys::check(unsafe {
        libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)
    })?;
    // SAFETY: ifreq is plain data; the name is NUL-terminated within IFNAMSIZ.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo\0".iter().enumerate() {
        req.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: valid fd and ifreq pointer for both ioctls.
    let result = unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) < 0 {
            Err(io::Error::last_os_error())
        } else {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        }
    };
    sys::close(fd);
    result
}

/// Whether some exec candidate exists and is executable by the process's user.
fn executable_check(init: &Init) -> io::Result<()> {
    let mut last = io::Error::from_raw_os_error(libc::ENOENT);
    for path in &init.exec_candidates {
        // SAFETY: NUL-terminated path; access(2) only inspects it.
        if unsafe { libc::access(path.as_ptr(), libc::X_OK) } == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EACCES) {
            last = err;
        }
    }
    Err(last)
}

/// Tries each candidate like `execvp`; returns the most telling error.
pub(super) fn exec(init: &Init) -> io::Error {
    let mut last = io::Error::from_raw_os_error(libc::ENOENT);
    for path in &init.exec_candidates {
        // SAFETY: NULL-terminated arrays of NUL-terminated strings owned by `init`.
        unsafe { libc::execve(path.as_ptr(), init.argv.as_ptr(), init.envp.as_ptr()) };
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => {}
            Some(libc::EACCES) => last = err,
            _ => return err,
        }
    }
    last
}

/// Unblocks all signals and restores default dispositions the parent may have changed (Rust
/// ignores SIGPIPE, which `execve` would otherwise pass on).
fn reset_signals() {
    // SAFETY: an empty sigset and SIG_DFL dispositions; no pointers kept.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        for sig in [
            libc::SIGPIPE,
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGTERM,
            libc::SIGHUP,
        ] {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
}

/// Moves this (single-threaded) process into its v1 groups by writing `0` to their `tasks`
/// files (see [`CgroupJoin`]), but those whose bit is set in `skip` (optional hierarchies the
/// parent could not make a group in). Any other failure is the start's: limits that silently
/// do not apply are worse than a container that does not start. Allocation-free.
fn join_own_cgroups(init: &Init, skip: u32) -> ChildResult {
    for (i, tasks) in init.cgroup_tasks.iter().enumerate() {
        if i < 32 && skip & (1 << i) != 0 {
            continue;
        }
        write_file(tasks, c"0").map_err(|e| (Step::Cgroup, i as u32, e))?;
    }
    Ok(())
}

/// Writes `value` to the file at `path` (allocation-free).
fn write_file(path: &CStr, value: &CStr) -> io::Result<()> {
    // SAFETY: NUL-terminated path; the fd is closed below.
    let fd = sys::check(unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) })?;
    let result = sys::write_all(fd, value.to_bytes());
    sys::close(fd);
    result
}
