//! The container's standard streams: pipes (or a pty) made by the shim and given to processes
//! the runtime starts.
//!
//! The runtime's processes inherit the caller's fds 0–2 (it clones without exec, and everything
//! else the shim opens is close-on-exec). So the shim, being single-threaded, briefly puts the
//! child's ends of the pipes on its own 0–2 around the runtime call ([`with_stdio`]) and puts
//! its own back afterwards. For a terminal the runtime's console-socket protocol is used as
//! runc's callers do: the shim listens on a socket, the container's init makes the pty in its
//! own devpts and sends the master back ([`ConsoleSocket`]).

use crate::error::{Result, ShimError};
use rustix::fs::OFlags;
use rustix::pipe::PipeFlags;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

/// The shim's ends of a process's streams.
#[derive(Debug, Default)]
pub struct ParentEnds {
    /// Where stdin bytes are written (pipe write end); `None` without stdin.
    pub stdin: Option<OwnedFd>,
    /// stdout's read end.
    pub stdout: Option<OwnedFd>,
    /// stderr's read end.
    pub stderr: Option<OwnedFd>,
}

/// The child's ends, to become its fds 0, 1, 2.
#[derive(Debug)]
pub struct ChildEnds {
    stdin: OwnedFd,
    stdout: OwnedFd,
    stderr: OwnedFd,
}

/// Makes a fd non-blocking, for the event loop.
pub fn set_nonblocking(fd: impl AsFd) -> Result<()> {
    let flags = rustix::fs::fcntl_getfl(&fd).map_err(|e| ShimError::sys("reading fd flags", e))?;
    rustix::fs::fcntl_setfl(&fd, flags | OFlags::NONBLOCK)
        .map_err(|e| ShimError::sys("making a fd non-blocking", e))
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(PipeFlags::CLOEXEC).map_err(|e| ShimError::sys("creating a pipe", e))
}

/// Pipes for stdout and stderr, and for stdin when `stdin` is set (otherwise the child reads
/// `/dev/null`, as Docker's containers without `-i` do).
pub fn pipes(stdin: bool) -> Result<(ParentEnds, ChildEnds)> {
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (child_in, parent_in) = if stdin {
        let (r, w) = pipe()?;
        set_nonblocking(&w)?;
        (r, Some(w))
    } else {
        let null = std::fs::File::open("/dev/null")
            .map_err(|e| ShimError::io("opening", Path::new("/dev/null"), e))?;
        (OwnedFd::from(null), None)
    };
    set_nonblocking(&out_r)?;
    set_nonblocking(&err_r)?;
    Ok((
        ParentEnds {
            stdin: parent_in,
            stdout: Some(out_r),
            stderr: Some(err_r),
        },
        ChildEnds {
            stdin: child_in,
            stdout: out_w,
            stderr: err_w,
        },
    ))
}

/// Makes sure fds 0–2 are open (on `/dev/null` if the shim was started with them closed), so
/// that no pipe lands on them and [`with_stdio`] can save and restore them.
pub fn ensure_std_fds() -> Result<()> {
    use std::os::fd::IntoRawFd;
    for std_fd in [
        rustix::stdio::stdin(),
        rustix::stdio::stdout(),
        rustix::stdio::stderr(),
    ] {
        if rustix::io::fcntl_getfd(std_fd).is_ok() {
            continue;
        }
        // The lower std fds are open, so the lowest free number is this one: `open` takes it.
        let null = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(|e| ShimError::io("opening", Path::new("/dev/null"), e))?;
        let fd = null.into_raw_fd();
        if fd > 2 {
            return Err(ShimError::sys(
                "putting /dev/null on a closed stdio fd",
                std::io::Error::other(format!("got fd {fd}")),
            ));
        }
    }
    Ok(())
}

/// Runs `f` with `child` as the shim's fds 0–2, then restores the shim's own.
pub fn with_stdio<T>(child: Option<&ChildEnds>, f: impl FnOnce() -> T) -> Result<T> {
    let Some(child) = child else {
        return Ok(f());
    };
    let dup =
        |fd| rustix::io::fcntl_dupfd_cloexec(fd, 3).map_err(|e| ShimError::sys("saving stdio", e));
    let saved = [
        dup(rustix::stdio::stdin())?,
        dup(rustix::stdio::stdout())?,
        dup(rustix::stdio::stderr())?,
    ];
    let set = |fds: [&OwnedFd; 3]| -> Result<()> {
        rustix::stdio::dup2_stdin(fds[0]).map_err(|e| ShimError::sys("setting stdin", e))?;
        rustix::stdio::dup2_stdout(fds[1]).map_err(|e| ShimError::sys("setting stdout", e))?;
        rustix::stdio::dup2_stderr(fds[2]).map_err(|e| ShimError::sys("setting stderr", e))
    };
    set([&child.stdin, &child.stdout, &child.stderr])?;
    let out = f();
    set([&saved[0], &saved[1], &saved[2]])?;
    Ok(out)
}

/// The listening end of the console-socket protocol.
pub struct ConsoleSocket {
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    /// Listens at `path` (replacing a stale socket).
    pub fn bind(path: &Path) -> Result<ConsoleSocket> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)
            .map_err(|e| ShimError::io("binding console socket", path, e))?;
        Ok(ConsoleSocket {
            path: path.to_path_buf(),
            listener,
        })
    }

    /// The path to give the runtime.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the pty master the runtime sent; call after the runtime returned (the master is
    /// already queued on the connection by then).
    pub fn receive(&self) -> Result<OwnedFd> {
        self.listener
            .set_nonblocking(true)
            .map_err(|e| ShimError::io("configuring", &self.path, e))?;
        let (conn, _) = self
            .listener
            .accept()
            .map_err(|e| ShimError::io("accepting the pty master on", &self.path, e))?;
        conn.set_nonblocking(false)
            .map_err(|e| ShimError::io("configuring", &self.path, e))?;
        let (master, _name) = berth_runtime::console::recv_fd(&conn)
            .map_err(|e| ShimError::io("receiving the pty master on", &self.path, e))?;
        set_nonblocking(&master)?;
        Ok(master)
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
