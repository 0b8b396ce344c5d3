//! The runtime's waits for the processes it spawned (`run`, `exec`, failed spawns), and the
//! conventions for the wait statuses they return.
//!
//! These run in the host's runtime (a shim, `berth oci`), not in the container; the
//! container's own PID 1 loop is [`super::reaper`].

use std::io;

/// SIGKILLs and reaps a child.
pub fn kill_and_reap(pid: i32) {
    // SAFETY: signalling and waiting for our own child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    reap(pid);
}

/// Waits for child `pid` and returns its raw wait status (`-1` if it was not our child).
pub fn reap(pid: i32) -> i32 {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        return if rc < 0 { -1 } else { status };
    }
}

/// Signals a foreground `run` passes on to the container instead of dying from them, as runc
/// does: a Ctrl-C or a `kill` aimed at the runtime reaches the container's init.
const FORWARDED: [i32; 7] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
];

/// Waits for `pid` like [`reap`], forwarding [`FORWARDED`] signals to it meanwhile.
///
/// The signals (and SIGCHLD, to wake on exit) are blocked and taken synchronously with
/// `sigtimedwait`, so no handler runs and nothing here is async-signal-unsafe. Only call this
/// after the container has exec'd: a blocked mask is inherited across `clone`.
pub fn reap_forwarding_signals(pid: i32) -> i32 {
    // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise it fully.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above, both pointers are valid for the duration of the calls.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    for sig in FORWARDED.iter().chain(std::iter::once(&libc::SIGCHLD)) {
        // SAFETY: `set` is initialised and `sig` a valid signal number.
        unsafe { libc::sigaddset(&mut set, *sig) };
    }
    // SAFETY: valid pointers to initialised sets; this process is single-threaded here.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old) };
    let timeout = libc::timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    let status = loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if rc == pid {
            break status;
        }
        if rc < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            break -1;
        }
        // SAFETY: `set` is initialised, the info pointer may be null, `timeout` is valid.
        let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &timeout) };
        if sig > 0 && sig != libc::SIGCHLD {
            // SAFETY: plain kill(2) of our own child.
            unsafe { libc::kill(pid, sig) };
        }
    };
    // SAFETY: restores the mask saved above.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    status
}

/// The shell convention for a wait status: the exit code, or 128 + the signal.
pub fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

/// A wait status in words, for errors.
pub(super) fn describe_status(status: i32) -> String {
    if status == -1 {
        "status unknown".into()
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("exit status {}", libc::WEXITSTATUS(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(3 << 8), 3);
        assert_eq!(exit_code(libc::SIGKILL), 137);
    }
}
