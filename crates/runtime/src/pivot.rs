//! `pivot_root` into the prepared rootfs and detach the old root.
//!
//! The `pivot_root(".", ".")` trick (as runc and crun use) avoids a temporary directory inside
//! the rootfs: the old root ends up stacked under the new one at `/` and is lazily unmounted.
//! Its propagation is first set to slave so the unmount cannot reach the host.

use crate::sys;
use std::io;
use std::os::fd::RawFd;

/// Switches the calling process's root to `rootfs_fd` (an fd of the bind-mounted rootfs).
/// Allocation-free.
pub fn pivot(rootfs_fd: RawFd) -> io::Result<()> {
    // SAFETY: plain syscalls on an fd we own and static strings.
    unsafe {
        sys::check(libc::fchdir(rootfs_fd))?;
        let rc = libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr());
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    sys::mount(None, c".", None, libc::MS_SLAVE | libc::MS_REC, None)?;
    // SAFETY: static strings; detaches the old root stacked at ".".
    unsafe {
        sys::check(libc::umount2(c".".as_ptr(), libc::MNT_DETACH))?;
        sys::check(libc::chdir(c"/".as_ptr()))?;
    }
    Ok(())
}
