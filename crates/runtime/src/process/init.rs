//! [`Init`]: everything the container's init will do, prepared by the parent as plain data.
//!
//! The child runs on a copy of the parent's memory and must not allocate, so every path,
//! argument, filter and descriptor it uses is in here, made beforehand (by `container`) as C
//! strings and raw values ready for the syscalls.

use crate::caps::CapSets;
use crate::mounts::Prepared;
use crate::namespaces::Namespaces;
use crate::rlimits::Rlimit;
use crate::seccomp::Filter;
use crate::user::Identity;
use std::ffi::{CStr, CString};
use std::os::fd::OwnedFd;

/// A NULL-terminated array of C strings (`argv`, `envp`) built in the parent.
#[derive(Debug, Default)]
pub struct CArray {
    strings: Vec<CString>,
    ptrs: Vec<*const libc::c_char>,
}

impl CArray {
    /// Builds the array; strings with NUL bytes are cut at the NUL.
    pub fn new<S: AsRef<str>>(items: &[S]) -> CArray {
        let strings: Vec<CString> = items
            .iter()
            .map(|s| {
                let bytes = s.as_ref().as_bytes();
                let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
                CString::new(&bytes[..end]).unwrap_or_default()
            })
            .collect();
        let mut ptrs: Vec<*const libc::c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        CArray { strings, ptrs }
    }

    /// The array for `execve`, valid as long as `self`.
    pub(super) fn as_ptr(&self) -> *const *const libc::c_char {
        self.ptrs.as_ptr()
    }

    /// The first string (the program).
    pub fn first(&self) -> Option<&CStr> {
        self.strings.first().map(|s| s.as_c_str())
    }
}

/// Where the created init waits for `start`: the exec FIFO, opened by name under a directory
/// fd taken before `pivot_root` (the state dir is on the host, outside the container's root).
#[derive(Debug)]
pub struct Gate {
    /// The state directory.
    pub dir: OwnedFd,
    /// The FIFO's name in it.
    pub name: CString,
}

/// Everything the container's init needs, prepared in the parent.
#[derive(Debug, Default)]
pub struct Init {
    /// Namespaces to create and join.
    pub ns: Namespaces,
    /// Become uid/gid 0 of a (new or joined) user namespace before anything else.
    pub user_ns_root: bool,
    /// `hostname`.
    pub hostname: Option<CString>,
    /// `domainname`.
    pub domainname: Option<CString>,
    /// The rootfs set-up; `None` for `exec` (which enters the container's mount namespace).
    pub mounts: Option<Prepared>,
    /// Whether the parent has `createRuntime` hooks to run before `pivot_root`.
    pub hooks_sync: bool,
    /// `/proc/sys/...` files and values, written after `pivot_root`.
    pub sysctls: Vec<(CString, CString)>,
    /// `oomScoreAdj` as text.
    pub oom_score_adj: Option<CString>,
    /// Limits.
    pub rlimits: Vec<Rlimit>,
    /// Capabilities; `None` leaves them as inherited.
    pub caps: Option<CapSets>,
    /// `noNewPrivileges`.
    pub no_new_privs: bool,
    /// The compiled seccomp filter.
    pub seccomp: Option<Filter>,
    /// User and groups.
    pub identity: Identity,
    /// `umask`.
    pub umask: Option<u32>,
    /// Working directory.
    pub cwd: CString,
    /// Arguments.
    pub argv: CArray,
    /// Environment.
    pub envp: CArray,
    /// Paths to try for `argv[0]`, `$PATH` already applied.
    pub exec_candidates: Vec<CString>,
    /// The console socket, when `process.terminal` is set.
    pub console: Option<OwnedFd>,
    /// Terminal size as (rows, columns).
    pub console_size: Option<(u16, u16)>,
    /// The start gate (`create`); `None` starts at once (`run`, `exec`).
    pub gate: Option<Gate>,
    /// Stay as PID 1 and run the program as its child: reap orphans and forward signals
    /// (`docker run --init`), without putting any binary into the container.
    pub reaper: bool,
    /// The cgroup2 directory to create the process in (`clone3` with `CLONE_INTO_CGROUP`), so
    /// it never migrates there. See [`CgroupJoin`] for the v1 hierarchies.
    pub cgroup_dir: Option<OwnedFd>,
    /// The cgroup v1 `tasks` files the process writes `0` to itself (see [`CgroupJoin`]);
    /// empty when the parent moves it.
    pub cgroup_tasks: Vec<CString>,
    /// When the process joins the `cgroup_tasks`.
    pub cgroup_join: CgroupJoin,
    /// Descriptors `3 .. 3 + preserve_fds` are passed on to the program (`--preserve-fds`,
    /// `LISTEN_FDS`); every other one above stdio is closed at `execve`.
    pub preserve_fds: u32,
    /// The process gets SIGKILL when the process that created it dies (a supervising shim:
    /// a container must not outlive the one process that tracks it). Set last before
    /// `execve`, since changing credentials clears it.
    pub die_with_parent: bool,
}

/// How a container process gets into its cgroup v1 groups.
///
/// Moving another process (writing its pid to `cgroup.procs`) takes the kernel's global
/// threadgroup lock for writing, whose first taker after a quiet moment waits a whole RCU
/// grace period: 15–20 ms on this kind of VM, most of a container start. A process moving
/// its own (only) thread by writing `0` to `tasks` skips that lock. So the process joins
/// itself, and only where it may not (a new user namespace: its root is not the host's)
/// does the parent move it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CgroupJoin {
    /// The parent moves the process during set-up.
    #[default]
    Parent,
    /// The process joins right after the parent's go, before entering any namespace (`exec`:
    /// the groups exist already).
    AtStart,
    /// The process joins when the parent reports the groups made (`create`: they are made
    /// while the process sets up its first mounts).
    WhenMade,
}

/// Candidate paths for `program` as `execvp` would try them, from the process's `PATH`.
pub fn exec_candidates(program: &str, env: &[String]) -> Vec<CString> {
    if program.contains('/') {
        return CString::new(program).into_iter().collect();
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':')
        .map(|dir| if dir.is_empty() { "." } else { dir })
        .filter_map(|dir| CString::new(format!("{dir}/{program}")).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates() {
        let env = vec!["PATH=/a:/b".to_string()];
        let c = exec_candidates("sh", &env);
        assert_eq!(
            c,
            [
                CString::new("/a/sh").unwrap(),
                CString::new("/b/sh").unwrap()
            ]
        );
        assert_eq!(exec_candidates("/bin/x", &env).len(), 1);
    }
}
