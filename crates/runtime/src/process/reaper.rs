//! `--init` (the `berth.init` annotation): the container's init stays PID 1 and runs the
//! program as its child, reaping orphans and forwarding signals.
//!
//! It is a tiny init of the runtime's own code instead of a binary put into the container:
//! after the fork it closes every descriptor, hides the host command line from `ps`, and
//! loops on signals taken synchronously until the program exits.

use super::Init;
use super::child::exec;
use super::protocol::Step;
use super::wait::exit_code;
use crate::sys;
use std::io;

/// `--init`: forks; the child execs the program (its failure is reported like a plain exec's),
/// this process stays PID 1 of the container. Returns only if the fork fails.
pub(super) fn become_reaper(init: &Init) -> (Step, u32, io::Error) {
    // SAFETY: the container's init is single-threaded; the child only execs or reports.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return (Step::Exec, 0, io::Error::last_os_error());
    }
    if child == 0 {
        return (Step::Exec, 0, exec(init));
    }
    // The parent's copy of the sync socket must go, or the runtime never sees the exec; and
    // this process never execs, so nothing it holds may stay open (close-on-exec would never
    // fire): the container could read it through /proc/1/fd.
    crate::hygiene::close_from(3);
    rename_self(b"berth-init");
    reap_as_init(child)
}

/// Makes `ps` in the container show `name` for PID 1 instead of the supervisor's command
/// line (which names host paths): the command-line memory is overwritten in place (the kernel
/// reads `/proc/PID/cmdline` from it) and the thread name set.
fn rename_self(name: &[u8]) {
    let mut stat = [0u8; 1024];
    // SAFETY: NUL-terminated path; the fd is closed below.
    let fd = unsafe {
        libc::open(
            c"/proc/self/stat".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return;
    }
    // SAFETY: reading into a local buffer of the given size.
    let n = unsafe { libc::read(fd, stat.as_mut_ptr().cast(), stat.len()) };
    sys::close(fd);
    if n <= 0 {
        return;
    }
    let text = &stat[..n as usize];
    let Some(close) = text.iter().rposition(|b| *b == b')') else {
        return;
    };
    // Fields after the command name start at field 3; arg_start and arg_end are 48 and 49.
    let mut fields = text[close + 1..]
        .split(|b| *b == b' ')
        .filter(|f| !f.is_empty());
    let field =
        |f: Option<&[u8]>| -> Option<usize> { std::str::from_utf8(f?).ok()?.trim().parse().ok() };
    let start = field(fields.nth(45));
    let end = field(fields.next());
    if let (Some(start), Some(end)) = (start, end)
        && end > start
    {
        let len = end - start;
        // SAFETY: [arg_start, arg_end) is this process's own argument memory, mapped and
        // writable (the initial stack); nothing else reads it after start-up.
        unsafe {
            let p = start as *mut u8;
            std::ptr::write_bytes(p, 0, len);
            std::ptr::copy_nonoverlapping(name.as_ptr(), p, name.len().min(len - 1));
        }
    }
    let mut comm = [0u8; 16];
    comm[..name.len().min(15)].copy_from_slice(&name[..name.len().min(15)]);
    // SAFETY: a NUL-terminated 16-byte buffer.
    unsafe { libc::prctl(libc::PR_SET_NAME, comm.as_ptr()) };
}

/// PID 1's loop: all signals taken synchronously; SIGCHLD reaps every child (orphans
/// included), anything else goes to the program. Exits with the program's status (128 + the
/// signal if it was killed), which ends the container.
fn reap_as_init(child: i32) -> ! {
    // SAFETY: sigset_t is plain data, initialised by sigfillset; pointers are valid.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe {
        libc::sigfillset(&mut set);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    // A program that exited before the signals were blocked sent a SIGCHLD nobody queued
    // (its default action is to be discarded): reap once before the first wait, or PID 1
    // would wait for it forever.
    reap(child);
    loop {
        // SAFETY: `set` is initialised; the info pointer may be null.
        let sig = unsafe { libc::sigwaitinfo(&set, std::ptr::null_mut()) };
        if sig == libc::SIGCHLD {
            reap(child);
        } else if sig > 0 {
            // SAFETY: plain kill(2) of our child.
            unsafe { libc::kill(child, sig) };
        }
    }
}

/// Reaps every child that has exited; leaves with the program's status once it is one.
fn reap(child: i32) {
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return;
        }
        if pid == child {
            // SAFETY: leaving without running destructors of the copied parent.
            unsafe { libc::_exit(exit_code(status)) };
        }
    }
}
