//! A process the shim supervises (the container's init or an exec): its pid and pidfd, the
//! shim's ends of its streams, pending stdin, and its exit.
//!
//! The exit is noticed through a pidfd (readable once the process has exited; no signal
//! handler, no SIGCHLD races with the runtime's own `waitpid` calls) and collected with
//! `waitpid(WNOHANG)`. Kernels without `pidfd_open` fall back to polling `waitpid` on a short
//! timer.

use crate::stdio::ParentEnds;
use berth_shim_proto::timefmt;
use rustix::process::{Pid, PidfdFlags, Signal, WaitOptions};
use std::os::fd::OwnedFd;
use std::time::Instant;

/// How many bytes of stdin may wait for the process before the shim stops reading clients.
pub const STDIN_HIGH_WATER: usize = 64 * 1024;

/// One supervised process.
#[derive(Debug)]
pub struct Proc {
    /// Host pid.
    pub pid: Pid,
    /// Readable when the process has exited; `None` on kernels without pidfds.
    pub pidfd: Option<OwnedFd>,
    /// stdout read end (pipes mode).
    pub stdout: Option<OwnedFd>,
    /// stderr read end (pipes mode).
    pub stderr: Option<OwnedFd>,
    /// The pty master (terminal mode): output is read and stdin written here.
    pub pty: Option<OwnedFd>,
    /// The stdin pipe's write end (pipes mode with stdin).
    pub stdin: Option<OwnedFd>,
    /// Whether clients may write stdin (pipe open, or a pty and stdin was asked for).
    pub stdin_open: bool,
    /// Bytes waiting to be written to stdin.
    pub stdin_buf: Vec<u8>,
    /// Close stdin once `stdin_buf` is written.
    pub stdin_close_pending: bool,
    /// The exit code once reaped.
    pub exit_code: Option<i32>,
    /// When the exit was seen (ns since the epoch, and monotonic for the drain deadline).
    pub exited: Option<(i128, Instant)>,
    /// Output drained and everything after the exit done.
    pub finished: bool,
}

impl Proc {
    /// Supervises `pid` with pipe ends.
    pub fn with_pipes(pid: Pid, ends: ParentEnds) -> Proc {
        let stdin_open = ends.stdin.is_some();
        Proc::new(pid, ends.stdout, ends.stderr, None, ends.stdin, stdin_open)
    }

    /// Supervises `pid` with a pty master.
    pub fn with_pty(pid: Pid, master: OwnedFd, stdin: bool) -> Proc {
        Proc::new(pid, None, None, Some(master), None, stdin)
    }

    fn new(
        pid: Pid,
        stdout: Option<OwnedFd>,
        stderr: Option<OwnedFd>,
        pty: Option<OwnedFd>,
        stdin: Option<OwnedFd>,
        stdin_open: bool,
    ) -> Proc {
        let pidfd = match rustix::process::pidfd_open(pid, PidfdFlags::empty()) {
            Ok(fd) => Some(fd),
            Err(err) => {
                tracing::debug!(%err, "pidfd_open unavailable; polling waitpid");
                None
            }
        };
        Proc {
            pid,
            pidfd,
            stdout,
            stderr,
            pty,
            stdin,
            stdin_open,
            stdin_buf: Vec::new(),
            stdin_close_pending: false,
            exit_code: None,
            exited: None,
            finished: false,
        }
    }

    /// Collects the exit status if the process has exited; returns whether it has.
    pub fn try_reap(&mut self) -> bool {
        if self.exit_code.is_some() {
            return true;
        }
        let code = match rustix::process::waitpid(Some(self.pid), WaitOptions::NOHANG) {
            Ok(None) => return false,
            Ok(Some((_, status))) => {
                if let Some(code) = status.exit_status() {
                    code
                } else if let Some(sig) = status.terminating_signal() {
                    128 + sig
                } else {
                    return false; // stopped or continued: still alive
                }
            }
            Err(rustix::io::Errno::INTR) => return false,
            Err(err) => {
                // ECHILD: someone else reaped it (the runtime's status check can); the code
                // is lost.
                tracing::warn!(%err, pid = self.pid.as_raw_nonzero(), "exit status lost");
                255
            }
        };
        self.exit_code = Some(code);
        self.exited = Some((timefmt::now_nanos(), Instant::now()));
        self.pidfd = None;
        true
    }

    /// Whether every output fd has reached end of file.
    pub fn outputs_closed(&self) -> bool {
        self.stdout.is_none() && self.stderr.is_none() && self.pty.is_none()
    }

    /// Sends `signal` to the process (through the pidfd when there is one, so a recycled pid
    /// is never hit).
    pub fn signal(&self, signal: Signal) -> rustix::io::Result<()> {
        match &self.pidfd {
            Some(fd) => rustix::process::pidfd_send_signal(fd, signal),
            None => rustix::process::kill_process(self.pid, signal),
        }
    }

    /// Writes pending stdin; closes it when asked and drained, or when the reader is gone.
    pub fn flush_stdin(&mut self) {
        let target = if self.pty.is_some() {
            self.pty.as_ref()
        } else {
            self.stdin.as_ref()
        };
        if let Some(fd) = target {
            while !self.stdin_buf.is_empty() {
                match rustix::io::write(fd, &self.stdin_buf) {
                    Ok(n) => {
                        self.stdin_buf.drain(..n);
                    }
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(rustix::io::Errno::AGAIN) => break,
                    Err(_) => {
                        // EPIPE: nobody reads stdin any more.
                        self.stdin_buf.clear();
                        self.stdin = None;
                        self.stdin_open = false;
                        break;
                    }
                }
            }
        } else {
            self.stdin_buf.clear();
        }
        if self.stdin_buf.is_empty() {
            if self.stdin_buf.capacity() > STDIN_HIGH_WATER {
                self.stdin_buf = Vec::new();
            }
            if self.stdin_close_pending {
                self.stdin = None;
                self.stdin_open = false;
                self.stdin_close_pending = false;
            }
        }
    }

    /// The fd that stdin is written to while bytes are pending.
    pub fn stdin_target_pending(&self) -> Option<&OwnedFd> {
        if self.stdin_buf.is_empty() {
            return None;
        }
        if self.pty.is_some() {
            None
        } else {
            self.stdin.as_ref()
        }
    }
}
