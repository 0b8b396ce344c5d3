//! Small allocation-free helpers for code that runs in the child between `clone` and `execve`.
//!
//! After a raw `clone` of a possibly multi-threaded parent, the child must not take locks that
//! another thread may have held (the allocator's, stdio's). These helpers work on caller-owned
//! buffers and raw syscalls only.

use std::ffi::CStr;
use std::io;
use std::os::fd::RawFd;

/// A `/proc/self/fd/N` path built on the stack.
pub struct FdPath {
    buf: [u8; 32],
}

impl FdPath {
    /// The magic-link path of `fd`.
    pub fn new(fd: RawFd) -> FdPath {
        let mut buf = [0u8; 32];
        let prefix = b"/proc/self/fd/";
        buf[..prefix.len()].copy_from_slice(prefix);
        let mut digits = [0u8; 12];
        let mut n = fd.max(0) as u32;
        let mut len = 0;
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for i in 0..len {
            buf[prefix.len() + i] = digits[len - 1 - i];
        }
        FdPath { buf }
    }

    /// The path as a C string.
    pub fn as_cstr(&self) -> &CStr {
        // The buffer always holds a NUL after the digits (it is 32 bytes, the text at most 25).
        CStr::from_bytes_until_nul(&self.buf).unwrap_or(c"/proc/self/fd")
    }
}

/// Turns a `-1` return into the current `errno`.
pub fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Closes `fd`, ignoring errors (used on fds the child owns).
pub fn close(fd: RawFd) {
    // SAFETY: closing an fd number this process owns; double-close is avoided by callers.
    unsafe { libc::close(fd) };
}

/// `openat2(dirfd, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`: opens a path as if
/// `dirfd` were `/`, so neither `..` nor a symlink can leave it.
pub fn open_in_root(dirfd: RawFd, path: &CStr, flags: libc::c_int) -> io::Result<RawFd> {
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
    const RESOLVE_IN_ROOT: u64 = 0x10;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: `path` is NUL-terminated and `how` a valid open_how of the size passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd,
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as RawFd)
    }
}

/// `mount(2)` with optional arguments.
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: u64,
    data: Option<&CStr>,
) -> io::Result<()> {
    let ptr = |s: Option<&CStr>| s.map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: all pointers are NUL-terminated strings or null, valid for the call.
    let rc = unsafe {
        libc::mount(
            ptr(source),
            target.as_ptr(),
            ptr(fstype),
            flags as libc::c_ulong,
            ptr(data).cast(),
        )
    };
    check(rc).map(drop)
}

/// The mount flags that a remount must keep because the kernel locks them in a user namespace
/// (`statvfs`'s `ST_*` bits have the same values as the `MS_*` ones).
pub fn locked_flags(path: &CStr) -> u64 {
    // SAFETY: an all-zero statvfs is a valid out-buffer.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated, `st` valid for writing.
    if unsafe { libc::statvfs(path.as_ptr(), &mut st) } < 0 {
        return 0;
    }
    st.f_flag
        & (libc::MS_NOSUID
            | libc::MS_NODEV
            | libc::MS_NOEXEC
            | libc::MS_NOATIME
            | libc::MS_NODIRATIME
            | libc::MS_RELATIME
            | libc::MS_RDONLY)
}

/// Writes all of `buf` to `fd`.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: `buf` is valid for `buf.len()` bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// Formats `n` into `buf`, returning the digits (for messages written without allocating).
pub fn fmt_i32(n: i32, buf: &mut [u8; 12]) -> &[u8] {
    let neg = n < 0;
    let mut v = (n as i64).unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_path() {
        assert_eq!(FdPath::new(0).as_cstr(), c"/proc/self/fd/0");
        assert_eq!(FdPath::new(1234567).as_cstr(), c"/proc/self/fd/1234567");
        let mut b = [0u8; 12];
        assert_eq!(fmt_i32(-42, &mut b), b"-42");
        assert_eq!(fmt_i32(i32::MIN, &mut b), b"-2147483648");
    }
}
