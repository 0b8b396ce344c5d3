//! OCI hooks: programs run by the runtime at lifecycle points, given the state on stdin.
//!
//! `prestart` and `createRuntime` run after the namespaces exist but before `pivot_root` (the
//! child waits for them), `poststart` after the user process started, `poststop` when the
//! container is deleted. A failing `prestart` or `createRuntime` hook fails the operation; a
//! failing `poststart` or `poststop` hook is a warning and the rest still run, as the runtime
//! spec asks.

use crate::error::{Error, Result};
use oci_spec::runtime::Hook;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `hooks` in order with `state` (the state JSON) on their stdin.
pub fn run(kind: &'static str, hooks: &[Hook], state: &str) -> Result<()> {
    for hook in hooks {
        run_one(kind, hook, state, &[])?;
    }
    Ok(())
}

/// Runs `hooks` in order inside the namespaces of process `pid` (the container's init), as
/// the spec asks of `createContainer` and `startContainer`: the hook process joins every
/// namespace of the init that differs from the runtime's (the user namespace first), so its
/// path resolves and it runs in the container's mount namespace — before `pivot_root` for
/// `createContainer` (the host's tree plus the container's mounts), after it for
/// `startContainer` (the container's root). A pid namespace applies to children only, so the
/// hook process forks once more after joining it: the hook itself runs inside, and sees the
/// container's `/proc`.
pub fn run_in_container(kind: &'static str, hooks: &[Hook], state: &str, pid: i32) -> Result<()> {
    if hooks.is_empty() {
        return Ok(());
    }
    let enter = namespaces_of(pid).map_err(|e| Error::Hook {
        kind,
        path: hooks[0].path().clone(),
        reason: format!("opening the container's namespaces: {e}"),
    })?;
    for hook in hooks {
        run_one(kind, hook, state, &enter)?;
    }
    Ok(())
}

/// Descriptors of the namespaces of `pid` that are not the runtime's own, user first and
/// pid last, each marked whether it is the pid namespace.
fn namespaces_of(pid: i32) -> std::io::Result<Vec<(bool, std::os::fd::OwnedFd)>> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    // The pid namespace last: the hook process forks after joining it (`enter_namespaces`).
    for kind in ["user", "mnt", "uts", "ipc", "net", "cgroup", "pid"] {
        let theirs = format!("/proc/{pid}/ns/{kind}");
        let mine = std::fs::metadata(format!("/proc/self/ns/{kind}"))?;
        let file = std::fs::File::open(&theirs)?;
        let md = file.metadata()?;
        if (md.dev(), md.ino()) != (mine.dev(), mine.ino()) {
            out.push((kind == "pid", file.into()));
        }
    }
    Ok(out)
}

/// Runs every hook of `hooks` with `state` on stdin, whatever the others did: a failure is a
/// warning (see [`crate::warn`]), never the operation's failure (`poststart`, `poststop`).
pub fn run_all_warn(kind: &'static str, hooks: &[Hook], state: &str) {
    for hook in hooks {
        if let Err(err) = run_one(kind, hook, state, &[]) {
            crate::warn::warn(err);
        }
    }
}

/// Joins `fds` (between fork and exec of a hook). After a pid namespace, forks: the child goes
/// on to exec the hook inside it, this process waits and exits with the child's status (and
/// the child dies with it, should the runtime kill it for a timeout).
fn enter_namespaces(fds: &[(bool, std::os::fd::RawFd)]) -> std::io::Result<()> {
    let mut forks = false;
    for (pid_ns, fd) in fds {
        // SAFETY: setns on a descriptor this process holds.
        if unsafe { libc::setns(*fd, 0) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        forks |= *pid_ns;
    }
    if !forks {
        return Ok(());
    }
    // SAFETY: fork in a single-threaded child (between fork and exec).
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if child == 0 {
        // SAFETY: prctl with integer arguments.
        unsafe {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            )
        };
        return Ok(());
    }
    // This process never execs, so the descriptors marked close-on-exec stay open here:
    // among them the write end of the hook's stdin, whose EOF the hook may wait for.
    // SAFETY: close_range(2) with integer arguments.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child into a local.
        let rc = unsafe { libc::waitpid(child, &mut status, 0) };
        let interrupted = std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR);
        if rc == child || (rc < 0 && !interrupted) {
            break;
        }
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    // SAFETY: ending this intermediate process without running the parent's exit handlers.
    unsafe { libc::_exit(code) }
}

fn run_one(
    kind: &'static str,
    hook: &Hook,
    state: &str,
    enter: &[(bool, std::os::fd::OwnedFd)],
) -> Result<()> {
    let fail = |reason: String| Error::Hook {
        kind,
        path: hook.path().clone(),
        reason,
    };
    let mut cmd = Command::new(hook.path());
    if let Some(args) = hook.args() {
        if let Some(arg0) = args.first() {
            cmd.arg0(arg0);
        }
        cmd.args(args.iter().skip(1));
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    if !enter.is_empty() {
        let fds: Vec<(bool, std::os::fd::RawFd)> = enter
            .iter()
            .map(|(pid, fd)| (*pid, std::os::fd::AsRawFd::as_raw_fd(fd)))
            .collect();
        // SAFETY: between fork and exec the closure only calls setns(2) on descriptors opened
        // before the fork, fork(2), waitpid(2), prctl(2) and _exit(2): async-signal-safe, no
        // allocation.
        unsafe {
            cmd.pre_exec(move || enter_namespaces(&fds));
        }
    }
    let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine.
        let _ = stdin.write_all(state.as_bytes());
    }
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        // A timeout beyond what an `Instant` holds is none.
        .and_then(|t| Instant::now().checked_add(Duration::from_secs(t as u64)));
    loop {
        match child.try_wait().map_err(|e| fail(e.to_string()))? {
            Some(status) if status.success() => return Ok(()),
            Some(status) => return Err(fail(format!("exited with {status}"))),
            None => {}
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!(
                "timed out after {}s",
                hook.timeout().unwrap_or(0)
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
