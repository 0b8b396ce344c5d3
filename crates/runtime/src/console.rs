//! Terminals: a pty made inside the container and its master sent over a console socket.
//!
//! This is runc's protocol, so containerd-style callers work unchanged: the caller listens on
//! a Unix socket and passes its path as `--console-socket`; the runtime connects (in the
//! parent, before `clone`, while the host's file system is visible), the container's init opens
//! `/dev/ptmx` of its own devpts instance and sends the master with `SCM_RIGHTS`, then makes
//! the slave its controlling terminal and stdio.

use crate::error::{Error, Result};
use crate::sys;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Connects to the caller's console socket.
pub fn connect(path: &Path) -> Result<OwnedFd> {
    let stream = UnixStream::connect(path).map_err(|e| Error::io("connecting to", path, e))?;
    Ok(stream.into())
}

/// Opens a pty in the current mount namespace's `/dev/ptmx`, sends the master over `socket`,
/// and makes the slave the caller's controlling terminal and stdio. Allocation-free.
pub fn setup_pty(socket: RawFd, size: Option<(u16, u16)>) -> io::Result<()> {
    // SAFETY: plain syscalls on fds this function owns; pointers are to locals.
    unsafe {
        let master = sys::check(libc::open(
            c"/dev/ptmx".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        ))?;
        let unlock: libc::c_int = 0;
        if libc::ioctl(master, libc::TIOCSPTLCK, &unlock) < 0 {
            let err = io::Error::last_os_error();
            sys::close(master);
            return Err(err);
        }
        // TIOCGPTPEER opens the slave without a path lookup (Linux 4.13+).
        let slave = libc::ioctl(master, libc::TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY);
        if slave < 0 {
            let err = io::Error::last_os_error();
            sys::close(master);
            return Err(err);
        }
        if let Some((rows, cols)) = size {
            let ws = libc::winsize {
                ws_row: rows,
                ws_col: cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            libc::ioctl(slave, libc::TIOCSWINSZ, &ws);
        }
        let sent = send_fd(socket, master, b"/dev/ptmx");
        sys::close(master);
        if let Err(err) = sent {
            sys::close(slave);
            return Err(err);
        }
        libc::setsid();
        if libc::ioctl(slave, libc::TIOCSCTTY, 0) < 0 {
            let err = io::Error::last_os_error();
            sys::close(slave);
            return Err(err);
        }
        for target in 0..3 {
            if libc::dup2(slave, target) < 0 {
                let err = io::Error::last_os_error();
                sys::close(slave);
                return Err(err);
            }
        }
        if slave > 2 {
            sys::close(slave);
        }
    }
    Ok(())
}

/// Sends `fd` with `name` as payload over a Unix socket. Allocation-free.
pub fn send_fd(socket: RawFd, fd: RawFd, name: &[u8]) -> io::Result<()> {
    #[repr(C, align(8))]
    struct Buf([u8; 64]);
    let mut cbuf = Buf([0; 64]);
    let mut iov = libc::iovec {
        iov_base: name.as_ptr() as *mut libc::c_void,
        iov_len: name.len(),
    };
    // SAFETY: msghdr and cmsg are built in local buffers large enough for one int
    // (CMSG_SPACE(4) is 24 bytes); the kernel only reads them.
    unsafe {
        let space = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as usize;
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.0.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
        if libc::sendmsg(socket, &msg, libc::MSG_NOSIGNAL) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Receives one fd sent with [`send_fd`] (for callers of `--console-socket`, and tests).
pub fn recv_fd(socket: &impl AsRawFd) -> io::Result<(OwnedFd, String)> {
    #[repr(C, align(8))]
    struct Buf([u8; 64]);
    let mut cbuf = Buf([0; 64]);
    let mut name = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: name.as_mut_ptr().cast(),
        iov_len: name.len(),
    };
    // SAFETY: buffers are local and sized as declared; the cmsg is checked before use.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.0.as_mut_ptr().cast();
        msg.msg_controllen = cbuf.0.len() as _;
        let n = libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null()
            || (*cmsg).cmsg_level != libc::SOL_SOCKET
            || (*cmsg).cmsg_type != libc::SCM_RIGHTS
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "no fd in message",
            ));
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>());
        let text = String::from_utf8_lossy(&name[..n as usize]).into_owned();
        Ok((OwnedFd::from_raw_fd(fd), text))
    }
}
