//! Keeping the host out of a container's reach through the processes that set it up.
//!
//! Two classic escapes go through the runtime's own process rather than through the spec:
//! * **Inherited descriptors** (the CVE-2024-21626 class): any fd the daemon, the shim or the
//!   runtime holds without close-on-exec survives `execve` into the container, and
//!   `/proc/self/fd/N/../..` then walks the host's file system. So every Berth process that
//!   starts containers marks what it inherited close-on-exec at start
//!   ([`cloexec_inherited`]), and the container's process does it again for everything above
//!   the descriptors it is meant to keep, just before `execve` ([`cloexec_from`]).
//! * **The runtime binary** (the CVE-2019-5736 precondition): between joining the container's
//!   namespaces and `execve`, a process is still the `berth` binary and is visible to the
//!   container, whose root could open `/proc/PID/exe` (and later overwrite the host's binary)
//!   or `ptrace` it while it still holds the host's privileges. A non-dumpable process
//!   ([`non_dumpable`]) refuses both to anyone without `CAP_SYS_PTRACE` in the host's user
//!   namespace; the flag is inherited by `clone` and reset by `execve`, so only the
//!   container's own program is dumpable again. (The daemon additionally starts shims from a
//!   read-only view of the binary, so even a container granted `CAP_SYS_PTRACE` cannot write
//!   it; see `berth_shim_proto::launch`.)

use std::io;

/// `CLOSE_RANGE_CLOEXEC` (linux/close_range.h).
const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;

/// Marks every descriptor from `first` up close-on-exec. Allocation-free, so the child may
/// call it between `clone` and `execve`. Falls back to a loop over the open descriptors'
/// numbers on kernels without `close_range` (before 5.11).
pub fn cloexec_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range with the CLOEXEC flag only changes descriptor flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if !matches!(err.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EINVAL)) {
        return Err(err);
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit into a local struct.
    let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur.min(1 << 20) as i32
    } else {
        1024
    };
    for fd in first as i32..max {
        // SAFETY: F_GETFD/F_SETFD on a descriptor number; EBADF for unused ones is ignored.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
    Ok(())
}

/// Closes every descriptor from `first` up (for a process that stays, like `--init`'s
/// PID 1, where close-on-exec would never fire).
pub fn close_from(first: u32) {
    // SAFETY: close_range without flags closes descriptors this process owns; nothing above
    // `first` is used afterwards by the caller.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            0 as libc::c_uint,
        )
    };
    if rc != 0 {
        for fd in first as i32..4096 {
            // SAFETY: closing descriptor numbers this process may own; EBADF is harmless.
            unsafe { libc::close(fd) };
        }
    }
}

/// Clears close-on-exec on descriptors `3 .. 3 + count`, the ones a caller asked to pass on
/// (`--preserve-fds`, systemd's `LISTEN_FDS`). Allocation-free.
pub fn keep_open(count: u32) {
    for fd in 3..3 + count as i32 {
        // SAFETY: F_GETFD/F_SETFD on a descriptor number; EBADF for unused ones is ignored.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
            }
        }
    }
}

/// Marks everything this process inherited above stdio close-on-exec: for the daemon and the
/// shim, which never mean to hand their own descriptors to a child.
pub fn cloexec_inherited() -> io::Result<()> {
    cloexec_from(3)
}

/// Makes this process (and every process it clones, until they `execve`) non-dumpable.
pub fn non_dumpable() -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    let rc = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Hands the heap's free memory back to the system (glibc's `malloc_trim`). A long-lived
/// process that served a burst (a thousand concurrent requests) keeps the peak otherwise:
/// glibc returns freed memory only from the top of each arena. Cheap when there is nothing to
/// return; the daemon calls it periodically.
pub fn trim_heap() {
    // SAFETY: malloc_trim only walks and shrinks the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The count of descriptors systemd's socket activation passes (`LISTEN_FDS`), which runc
/// also hands on to the container.
pub fn listen_fds() -> u32 {
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0)
        .min(1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn is_cloexec(fd: i32) -> bool {
        // SAFETY: F_GETFD on a descriptor this test owns.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        flags >= 0 && flags & libc::FD_CLOEXEC != 0
    }

    #[test]
    fn cloexec_marks_inherited_descriptors() {
        let file = std::fs::File::open("/dev/null").unwrap();
        let fd = file.as_raw_fd();
        // SAFETY: clearing the flag on our own descriptor.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
        assert!(!is_cloexec(fd));
        cloexec_from(fd as u32).unwrap();
        assert!(is_cloexec(fd));
    }

    #[test]
    fn listen_fds_is_bounded_and_defaults_to_zero() {
        // The test runner does not set LISTEN_FDS.
        if std::env::var_os("LISTEN_FDS").is_none() {
            assert_eq!(listen_fds(), 0);
        }
    }
}
