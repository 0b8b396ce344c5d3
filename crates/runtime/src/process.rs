//! One `clone` into the container's init, and everything that process does before `execve`.
//!
//! The parent prepares an [`Init`] (every path, argument and filter as ready-made C data),
//! makes a `SOCK_SEQPACKET` pair and calls `clone` once with all the `CLONE_NEW*` flags: the
//! child is already PID 1 of its namespaces, with no intermediate process and no re-exec of the
//! binary. The two sides then speak a tiny fixed-size protocol ([`Msg`]):
//!
//! 1. parent → child `GO` once it has written the id maps;
//! 2. parent → child `JOINED` once the child is in its cgroup. Moving a task into a v1 cgroup
//!    waits for an RCU grace period (several milliseconds, the biggest single cost of a start),
//!    so the parent does it while the child mounts; the child waits for `JOINED` only before
//!    it reports ready, so no user code ever runs outside the cgroup;
//! 3. child → parent `HOOKS` (only when `createRuntime` hooks exist), answered with `GO`;
//! 4. child → parent `READY` when set-up is complete, or `ERROR(step, index, errno)`;
//! 5. for `run`/`exec`, EOF when `execve` succeeds (the socket is close-on-exec) or an `ERROR`.
//!
//! The child never allocates or takes a lock that another thread of the parent might hold; its
//! errors are numbers that the parent turns into messages with [`Init::describe`].

use crate::caps::CapSets;
use crate::error::{Error, Result};
use crate::mounts::{self, Prepared};
use crate::namespaces::{Namespaces, PidJoin};
use crate::rlimits::{self, Rlimit};
use crate::seccomp::{self, Filter};
use crate::sys;
use crate::user::Identity;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The message kinds of the sync protocol.
mod kind {
    pub const GO: u32 = 1;
    pub const HOOKS: u32 = 2;
    pub const READY: u32 = 3;
    pub const ERROR: u32 = 4;
    pub const JOINED: u32 = 5;
}

/// The steps of the child, for error reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
enum Step {
    Sync = 1,
    Setns,
    UserRoot,
    Hostname,
    Domainname,
    Rootfs,
    Fds,
    Pivot,
    Sysctl,
    Mounts2,
    Console,
    Rlimit,
    Bounding,
    NoNewPrivs,
    Seccomp,
    User,
    Caps,
    Cwd,
    Gate,
    Exec,
    Loopback,
    Cgroup,
}

const STEPS: [Step; 22] = [
    Step::Sync,
    Step::Setns,
    Step::UserRoot,
    Step::Hostname,
    Step::Domainname,
    Step::Rootfs,
    Step::Fds,
    Step::Pivot,
    Step::Sysctl,
    Step::Mounts2,
    Step::Console,
    Step::Rlimit,
    Step::Bounding,
    Step::NoNewPrivs,
    Step::Seccomp,
    Step::User,
    Step::Caps,
    Step::Cwd,
    Step::Gate,
    Step::Exec,
    Step::Loopback,
    Step::Cgroup,
];

/// One protocol message: 16 bytes, sent atomically on the seqpacket socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Msg {
    kind: u32,
    step: u32,
    index: u32,
    errno: i32,
}

impl Msg {
    fn bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..4].copy_from_slice(&self.kind.to_ne_bytes());
        b[4..8].copy_from_slice(&self.step.to_ne_bytes());
        b[8..12].copy_from_slice(&self.index.to_ne_bytes());
        b[12..16].copy_from_slice(&self.errno.to_ne_bytes());
        b
    }

    fn parse(b: &[u8; 16]) -> Msg {
        let word = |i: usize| [b[i], b[i + 1], b[i + 2], b[i + 3]];
        Msg {
            kind: u32::from_ne_bytes(word(0)),
            step: u32::from_ne_bytes(word(4)),
            index: u32::from_ne_bytes(word(8)),
            errno: i32::from_ne_bytes(word(12)),
        }
    }

    fn send(&self, fd: RawFd) -> io::Result<()> {
        let b = self.bytes();
        // SAFETY: sending a local 16-byte buffer.
        let n = unsafe { libc::send(fd, b.as_ptr().cast(), b.len(), libc::MSG_NOSIGNAL) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Receives one message; `None` on EOF.
    fn recv(fd: RawFd) -> io::Result<Option<Msg>> {
        let mut b = [0u8; 16];
        let mut reset_seen = false;
        loop {
            // SAFETY: receiving into a local 16-byte buffer.
            let n = unsafe { libc::recv(fd, b.as_mut_ptr().cast(), b.len(), 0) };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // A child that exits with a message of ours unread resets the pair, and the
                // kernel reports that before the messages it sent last (its error report).
                // The report is the news: reading again (the reset is consumed) gets it, or
                // the end of the stream.
                if err.raw_os_error() == Some(libc::ECONNRESET) && !reset_seen {
                    reset_seen = true;
                    continue;
                }
                return Err(err);
            }
            if n == 0 {
                return Ok(None);
            }
            return Ok(Some(Msg::parse(&b)));
        }
    }
}

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

    fn as_ptr(&self) -> *const *const libc::c_char {
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

/// A container process that completed its set-up.
#[derive(Debug)]
pub struct Spawned {
    /// Its pid on the host.
    pub pid: i32,
    /// The parent's end of the sync socket, for [`Spawned::wait_exec`].
    sock: OwnedFd,
}

impl Spawned {
    /// Waits until the process has called `execve` (EOF) or reports why it could not.
    pub fn wait_exec(&self, init: &Init) -> Result<()> {
        match Msg::recv(self.sock.as_raw_fd()) {
            Ok(None) => Ok(()),
            Ok(Some(msg)) if msg.kind == kind::ERROR => Err(init.describe(msg)),
            Ok(Some(_)) => Err(Error::Init("unexpected message after ready".into())),
            Err(e) => Err(Error::Sys {
                step: "reading from the container's init".into(),
                source: e,
            }),
        }
    }
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

impl Init {
    /// Turns a child's error report into an [`Error`].
    fn describe(&self, msg: Msg) -> Error {
        let source = io::Error::from_raw_os_error(msg.errno);
        let i = msg.index as usize;
        let step = STEPS.iter().find(|s| **s as u32 == msg.step).copied();
        let text = match step {
            Some(Step::Sync) => "waiting for the parent".into(),
            Some(Step::Setns) => match self.ns.join.get(i) {
                Some(j) => format!("joining namespace {}", j.path),
                None => "unsharing namespaces".into(),
            },
            Some(Step::UserRoot) => "becoming root in the user namespace".into(),
            Some(Step::Hostname) => "setting the hostname".into(),
            Some(Step::Domainname) => "setting the domainname".into(),
            Some(Step::Rootfs) | Some(Step::Mounts2) => match &self.mounts {
                Some(m) => m.describe(failure_from(msg.index)),
                None => "mounting".into(),
            },
            Some(Step::Fds) => "marking inherited descriptors close-on-exec".into(),
            Some(Step::Pivot) => "pivot_root into the rootfs".into(),
            Some(Step::Sysctl) => format!(
                "writing sysctl {}",
                self.sysctls
                    .get(i)
                    .map(|(k, _)| k.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
            Some(Step::Console) => "setting up the terminal".into(),
            Some(Step::Rlimit) => format!("setting rlimit {i}"),
            Some(Step::Bounding) => "dropping the capability bounding set".into(),
            Some(Step::NoNewPrivs) => "setting no_new_privs".into(),
            Some(Step::Seccomp) => "loading the seccomp filter".into(),
            Some(Step::User) => format!(
                "switching to uid {} gid {}",
                self.identity.uid, self.identity.gid
            ),
            Some(Step::Caps) => "setting capabilities".into(),
            Some(Step::Cwd) => format!("changing to the working directory {:?}", self.cwd),
            Some(Step::Gate) => "waiting for start".into(),
            Some(Step::Loopback) => "bringing up the loopback interface".into(),
            Some(Step::Cgroup) => format!(
                "joining the cgroup {}",
                self.cgroup_tasks
                    .get(i)
                    .map(|c| c.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
            Some(Step::Exec) => {
                let prog = self
                    .argv
                    .first()
                    .map(|c| c.to_string_lossy().into_owned())
                    .unwrap_or_default();
                // Docker's wording, which clients match to pick exit codes 127 and 126.
                let message = match source.raw_os_error() {
                    Some(libc::ENOENT) | Some(libc::ENOTDIR) if prog.contains('/') => {
                        format!("exec: {prog:?}: stat {prog}: no such file or directory")
                    }
                    Some(libc::ENOENT) | Some(libc::ENOTDIR) => {
                        format!("exec: {prog:?}: executable file not found in $PATH")
                    }
                    Some(libc::EACCES) => format!("exec: {prog:?}: permission denied"),
                    _ => {
                        return Error::Sys {
                            step: format!("exec {prog:?}"),
                            source,
                        };
                    }
                };
                return Error::Exec {
                    message,
                    errno: source.raw_os_error().unwrap_or_default(),
                };
            }
            None => format!("step {}", msg.step),
        };
        Error::Sys { step: text, source }
    }
}

/// Mount failures travel as one number: phase in the high byte, index below.
fn failure_code(f: mounts::Failure) -> u32 {
    use mounts::Failure::*;
    match f {
        Propagation => 0,
        RootBind => 1,
        RootReadonly => 2,
        CgroupWait => 3,
        ParentPrivate => 4,
        Op(i) => 1 << 24 | i as u32,
        Mask(i) => 2 << 24 | i as u32,
        Readonly(i) => 3 << 24 | i as u32,
    }
}

fn failure_from(code: u32) -> mounts::Failure {
    use mounts::Failure::*;
    let i = (code & 0xff_ffff) as usize;
    match (code >> 24, code) {
        (0, 0) => Propagation,
        (0, 1) => RootBind,
        (0, 3) => CgroupWait,
        (0, 4) => ParentPrivate,
        (0, _) => RootReadonly,
        (1, _) => Op(i),
        (2, _) => Mask(i),
        _ => Readonly(i),
    }
}

/// The parent's parts of a spawn, called with the child's pid.
pub struct Callbacks<'a> {
    /// Right after `clone`, before the child may proceed (write id maps).
    pub created: &'a mut dyn FnMut(i32) -> Result<()>,
    /// While the child sets up; it will not finish before this returns (make the cgroups;
    /// move the child into those it does not join itself). The flag says whether it was
    /// created in its cgroup2 group already. Returns the bits of the `cgroup_tasks` entries the
    /// child must skip (optional hierarchies whose group could not be made): every other join
    /// that fails fails the start.
    pub setup: &'a mut dyn FnMut(i32, bool) -> Result<u32>,
    /// When the child asks for the `createRuntime` hooks.
    pub hooks: &'a mut dyn FnMut(i32) -> Result<()>,
}

/// Creates the container process, driving it through [`Callbacks`]. On any failure the child
/// is killed and reaped before the error is returned.
pub fn spawn(init: &Init, callbacks: Callbacks<'_>) -> Result<Spawned> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is a valid out-array of two ints.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    sys::check(rc).map_err(|e| Error::Sys {
        step: "creating the sync socket".into(),
        source: e,
    })?;
    // SAFETY: socketpair returned two fresh fds that nothing else owns.
    let (parent_sock, child_sock) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };

    let pid_join = init.ns.pid.as_ref().map(PidJoin::enter).transpose()?;
    let flags = init.ns.clone_flags | libc::SIGCHLD;
    let mut in_cgroup = false;
    let mut pid = -1;
    if let Some(dir) = &init.cgroup_dir {
        // SAFETY: as for the plain clone below; `clone3` with no stack is fork-like too.
        pid = unsafe { clone3_into(init.ns.clone_flags, dir.as_raw_fd()) };
        in_cgroup = pid >= 0;
    }
    if pid < 0 {
        // No cgroup to start in, or a kernel without CLONE_INTO_CGROUP (before 5.7) or one
        // refusing this group: a plain clone, and the parent moves the process.
        // SAFETY: a fork-like clone (no CLONE_VM, no new stack): the child gets a copy of the
        // address space and continues here with 0. It only runs `child_main`, which makes raw
        // syscalls on data prepared above and never returns.
        pid = unsafe {
            libc::syscall(
                libc::SYS_clone,
                flags as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        };
    }
    if pid == 0 {
        sys::close(parent_sock.as_raw_fd());
        child_main(init, child_sock.as_raw_fd());
    }
    drop(pid_join);
    drop(child_sock);
    if pid < 0 {
        return Err(Error::last_os("clone"));
    }
    let pid = pid as i32;
    let spawned = Spawned {
        pid,
        sock: parent_sock,
    };
    let result = drive(init, &spawned, in_cgroup, callbacks);
    if let Err(err) = result {
        kill_and_reap(pid);
        return Err(err);
    }
    Ok(spawned)
}

/// `clone3(CLONE_INTO_CGROUP)` without a new stack (fork-like); returns the pid (0 in the
/// child) or -1.
///
/// # Safety
/// As a `fork`: the caller must only run async-signal-safe code in the child.
unsafe fn clone3_into(ns_flags: libc::c_int, cgroup: RawFd) -> libc::c_long {
    /// `struct clone_args` (linux/sched.h), up to `cgroup` (CLONE_ARGS_SIZE_VER2).
    #[repr(C)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let args = CloneArgs {
        flags: ns_flags as u32 as u64 | CLONE_INTO_CGROUP,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: cgroup as u64,
    };
    // SAFETY: `args` is a valid clone_args of the size passed; see the function's contract.
    unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    }
}

fn drive(init: &Init, spawned: &Spawned, in_cgroup: bool, callbacks: Callbacks<'_>) -> Result<()> {
    let fd = spawned.sock.as_raw_fd();
    let go = Msg {
        kind: kind::GO,
        step: 0,
        index: 0,
        errno: 0,
    };

    let io_err = |e: io::Error| Error::Sys {
        step: "talking to the container's init".into(),
        source: e,
    };
    if let Some(value) = &init.oom_score_adj {
        // Written by the parent: a child in a new user namespace may not write its own once
        // it is non-dumpable (the file then belongs to the host's root).
        let path = format!("/proc/{}/oom_score_adj", spawned.pid);
        std::fs::write(&path, value.to_bytes()).map_err(|e| Error::Sys {
            step: "writing oom_score_adj".into(),
            source: e,
        })?;
    }
    (callbacks.created)(spawned.pid)?;
    // A failed send means the child already gave up: its report (or EOF) is read below.
    let _ = go.send(fd);
    let skipped = (callbacks.setup)(spawned.pid, in_cgroup)?;
    let joined = Msg {
        kind: kind::JOINED,
        index: skipped,
        ..go
    };
    let _ = joined.send(fd);
    let on_hooks = callbacks.hooks;
    loop {
        match Msg::recv(fd).map_err(io_err)? {
            None => {
                let status = reap(spawned.pid);
                return Err(Error::Init(format!(
                    "exited during set-up ({})",
                    describe_status(status)
                )));
            }
            Some(msg) if msg.kind == kind::HOOKS => {
                on_hooks(spawned.pid)?;
                go.send(fd).map_err(io_err)?;
            }
            Some(msg) if msg.kind == kind::READY => return Ok(()),
            Some(msg) if msg.kind == kind::ERROR => {
                reap(spawned.pid);
                return Err(init.describe(msg));
            }
            Some(msg) => return Err(Error::Init(format!("unexpected message {msg:?}"))),
        }
    }
}

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

fn describe_status(status: i32) -> String {
    if status == -1 {
        "status unknown".into()
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("exit status {}", libc::WEXITSTATUS(status))
    }
}

/// The child's side. Never returns.
fn child_main(init: &Init, sock: RawFd) -> ! {
    let err = match child_setup(init, sock).and_then(|()| seal_descriptors(init)) {
        Ok(()) if init.reaper => become_reaper(init),
        Ok(()) => (Step::Exec, 0, exec(init)),
        Err(e) => e,
    };
    let (step, index, error) = err;
    let errno = error.raw_os_error().unwrap_or(libc::EIO);
    let msg = Msg {
        kind: kind::ERROR,
        step: step as u32,
        index,
        errno,
    };
    if msg.send(sock).is_err() {
        // Nobody may be listening (a `create`d container's parent has exited): say it on stderr.
        let mut buf = [0u8; 12];
        let _ = sys::write_all(2, b"berth: container init failed at step ");
        let _ = sys::write_all(2, sys::fmt_i32(step as i32, &mut buf));
        let _ = sys::write_all(2, b", errno ");
        let _ = sys::write_all(2, sys::fmt_i32(errno, &mut buf));
        let _ = sys::write_all(2, b"\n");
    }
    let code = match (step, errno) {
        (Step::Exec, libc::ENOENT) => 127,
        (Step::Exec, _) => 126,
        _ => 1,
    };
    // SAFETY: leaving the child without running the parent's atexit handlers or destructors.
    unsafe { libc::_exit(code) }
}

type ChildResult = std::result::Result<(), (Step, u32, io::Error)>;

fn at(step: Step) -> impl Fn(io::Error) -> (Step, u32, io::Error) {
    move |e| (step, 0, e)
}

/// What the child knows of the parent's `JOINED`: whether it came, and which `cgroup_tasks`
/// entries it said to skip.
#[derive(Default)]
struct Joined {
    seen: bool,
    skip: u32,
}

/// Waits for a message of kind `want`, noting a `JOINED` that arrives first.
fn wait_for(sock: RawFd, want: u32, joined: &mut Joined) -> ChildResult {
    loop {
        match Msg::recv(sock) {
            Ok(Some(m)) if m.kind == want => {
                if want == kind::JOINED {
                    *joined = Joined {
                        seen: true,
                        skip: m.index,
                    };
                }
                return Ok(());
            }
            Ok(Some(m)) if m.kind == kind::JOINED => {
                *joined = Joined {
                    seen: true,
                    skip: m.index,
                }
            }
            Ok(_) => return Err((Step::Sync, 0, io::Error::from_raw_os_error(libc::EPIPE))),
            Err(e) => return Err((Step::Sync, 0, e)),
        }
    }
}

/// Waits (once) until the parent has moved this process into the container's cgroups, then
/// makes the cgroup namespace that must be rooted there. Allocation-free.
fn join_cgroups(
    init: &Init,
    sock: RawFd,
    joined: &mut Joined,
    late_done: &mut bool,
) -> ChildResult {
    if !joined.seen {
        wait_for(sock, kind::JOINED, joined)?;
    }
    if !*late_done {
        *late_done = true;
        if init.cgroup_join == CgroupJoin::WhenMade {
            join_own_cgroups(init, joined.skip)?;
        }
        init.ns
            .enter_late()
            .map_err(|e| (Step::Setns, init.ns.join.len() as u32 + 1, e))?;
    }
    Ok(())
}

fn child_setup(init: &Init, sock: RawFd) -> ChildResult {
    let mut joined = Joined::default();
    let mut late_done = false;
    wait_for(sock, kind::GO, &mut joined)?;
    if init.cgroup_join == CgroupJoin::AtStart {
        join_own_cgroups(init, 0)?;
    }
    init.ns
        .enter()
        .map_err(|(i, e)| (Step::Setns, i as u32, e))?;
    if init.user_ns_root {
        // SAFETY: raw credential syscalls (see user.rs for why not libc's wrappers).
        unsafe {
            for rc in [
                libc::syscall(libc::SYS_setresgid, 0, 0, 0),
                libc::syscall(libc::SYS_setresuid, 0, 0, 0),
            ] {
                if rc < 0 {
                    return Err((Step::UserRoot, 0, io::Error::last_os_error()));
                }
            }
        }
    }
    if init.ns.new_net() {
        // A fresh network namespace has `lo` down; every engine (Docker's libnetwork, CNI's
        // loopback plugin) brings it up, and programs expect 127.0.0.1 to work.
        loopback_up().map_err(at(Step::Loopback))?;
    }
    if let Some(name) = &init.hostname {
        // SAFETY: NUL-terminated buffer of the given length.
        let rc = unsafe { libc::sethostname(name.as_ptr(), name.as_bytes().len()) };
        sys::check(rc).map_err(at(Step::Hostname))?;
    }
    if let Some(name) = &init.domainname {
        // SAFETY: NUL-terminated buffer of the given length.
        let rc = unsafe { libc::setdomainname(name.as_ptr(), name.as_bytes().len()) };
        sys::check(rc).map_err(at(Step::Domainname))?;
    }
    if let Some(mounts) = &init.mounts {
        let mut wait_joined =
            || join_cgroups(init, sock, &mut joined, &mut late_done).map_err(|(_, _, e)| e);
        let root = mounts
            .setup_rootfs(&mut wait_joined)
            .map_err(|(f, e)| (Step::Rootfs, failure_code(f), e))?;
        // In the container's groups (and its cgroup namespace made) before the root changes:
        // the host's v1 hierarchies are still reachable by path, the capabilities still
        // held, and hooks see the process where it will run. (Done already, inside
        // `setup_rootfs`, when the config mounts /sys/fs/cgroup.)
        join_cgroups(init, sock, &mut joined, &mut late_done)?;
        if init.hooks_sync {
            let hooks = Msg {
                kind: kind::HOOKS,
                step: 0,
                index: 0,
                errno: 0,
            };
            hooks.send(sock).map_err(at(Step::Sync))?;
            wait_for(sock, kind::GO, &mut joined)?;
        }
        crate::pivot::pivot(root).map_err(at(Step::Pivot))?;
        sys::close(root);
        for (i, (path, value)) in init.sysctls.iter().enumerate() {
            write_file(path, value).map_err(|e| (Step::Sysctl, i as u32, e))?;
        }
        mounts
            .finish()
            .map_err(|(f, e)| (Step::Mounts2, failure_code(f), e))?;
    }
    if let Some(console) = &init.console {
        crate::console::setup_pty(console.as_raw_fd(), init.console_size)
            .map_err(at(Step::Console))?;
        sys::close(console.as_raw_fd());
    }
    rlimits::apply(&init.rlimits).map_err(|(i, e)| (Step::Rlimit, i as u32, e))?;
    if let Some(caps) = &init.caps {
        caps.drop_bounding().map_err(at(Step::Bounding))?;
    }
    if init.no_new_privs {
        // SAFETY: prctl with integer arguments.
        let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
        sys::check(rc).map_err(at(Step::NoNewPrivs))?;
    }
    if !init.no_new_privs
        && let Some(filter) = &init.seccomp
    {
        seccomp::install(filter).map_err(at(Step::Seccomp))?;
    }
    init.identity.switch().map_err(at(Step::User))?;
    if let Some(caps) = &init.caps {
        caps.apply().map_err(at(Step::Caps))?;
    }
    if let Some(mask) = init.umask {
        // SAFETY: umask cannot fail.
        unsafe { libc::umask(mask as libc::mode_t) };
    }
    // SAFETY: NUL-terminated path.
    sys::check(unsafe { libc::chdir(init.cwd.as_ptr()) }).map_err(at(Step::Cwd))?;
    reset_signals();
    // Look the program up now, while create (or exec) still waits: a missing binary is then
    // an error of that call, as with runc and Docker, not a container that dies at start.
    executable_check(init).map_err(at(Step::Exec))?;
    join_cgroups(init, sock, &mut joined, &mut late_done)?;
    let ready = Msg {
        kind: kind::READY,
        step: 0,
        index: 0,
        errno: 0,
    };
    ready.send(sock).map_err(at(Step::Sync))?;
    if let Some(gate) = &init.gate {
        // SAFETY: opening a FIFO by name under a directory fd we own; blocks until `start`.
        let fd = unsafe {
            libc::openat(
                gate.dir.as_raw_fd(),
                gate.name.as_ptr(),
                libc::O_WRONLY | libc::O_CLOEXEC,
            )
        };
        let fd = sys::check(fd).map_err(at(Step::Gate))?;
        sys::write_all(fd, b"0").map_err(at(Step::Gate))?;
        sys::close(fd);
        sys::close(gate.dir.as_raw_fd());
    }
    if init.no_new_privs
        && let Some(filter) = &init.seccomp
    {
        seccomp::install(filter).map_err(at(Step::Seccomp))?;
    }
    Ok(())
}

/// Right before `execve`: everything above stdio and the descriptors the caller passes on is
/// marked close-on-exec, so nothing the runtime, the shim or the daemon held (inherited or
/// opened without the flag) reaches the container. Allocation-free.
fn seal_descriptors(init: &Init) -> ChildResult {
    crate::hygiene::cloexec_from(3 + init.preserve_fds).map_err(at(Step::Fds))?;
    crate::hygiene::keep_open(init.preserve_fds);
    if init.die_with_parent {
        // SAFETY: prctl with integer arguments.
        let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
        sys::check(rc).map_err(at(Step::Fds))?;
    }
    Ok(())
}

/// `--init`: forks; the child execs the program (its failure is reported like a plain exec's),
/// this process stays PID 1 of the container. Returns only if the fork fails.
fn become_reaper(init: &Init) -> (Step, u32, io::Error) {
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
    loop {
        // SAFETY: `set` is initialised; the info pointer may be null.
        let sig = unsafe { libc::sigwaitinfo(&set, std::ptr::null_mut()) };
        if sig == libc::SIGCHLD {
            loop {
                let mut status = 0;
                // SAFETY: `status` is a valid out-pointer.
                let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
                if pid <= 0 {
                    break;
                }
                if pid == child {
                    // SAFETY: leaving without running destructors of the copied parent.
                    unsafe { libc::_exit(exit_code(status)) };
                }
            }
        } else if sig > 0 {
            // SAFETY: plain kill(2) of our child.
            unsafe { libc::kill(child, sig) };
        }
    }
}

/// Sets `IFF_UP` on `lo` of the current network namespace (allocation-free).
fn loopback_up() -> io::Result<()> {
    // SAFETY: a plain datagram socket, closed below.
    let fd = sys::check(unsafe {
        libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)
    })?;
    // SAFETY: ifreq is plain data; the name is NUL-terminated within IFNAMSIZ.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo\0".iter().enumerate() {
        req.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: valid fd and ifreq pointer for both ioctls.
    let result = unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) < 0 {
            Err(io::Error::last_os_error())
        } else {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        }
    };
    sys::close(fd);
    result
}

/// Whether some exec candidate exists and is executable by the process's user.
fn executable_check(init: &Init) -> io::Result<()> {
    let mut last = io::Error::from_raw_os_error(libc::ENOENT);
    for path in &init.exec_candidates {
        // SAFETY: NUL-terminated path; access(2) only inspects it.
        if unsafe { libc::access(path.as_ptr(), libc::X_OK) } == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EACCES) {
            last = err;
        }
    }
    Err(last)
}

/// Tries each candidate like `execvp`; returns the most telling error.
fn exec(init: &Init) -> io::Error {
    let mut last = io::Error::from_raw_os_error(libc::ENOENT);
    for path in &init.exec_candidates {
        // SAFETY: NULL-terminated arrays of NUL-terminated strings owned by `init`.
        unsafe { libc::execve(path.as_ptr(), init.argv.as_ptr(), init.envp.as_ptr()) };
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => {}
            Some(libc::EACCES) => last = err,
            _ => return err,
        }
    }
    last
}

/// Unblocks all signals and restores default dispositions the parent may have changed (Rust
/// ignores SIGPIPE, which `execve` would otherwise pass on).
fn reset_signals() {
    // SAFETY: an empty sigset and SIG_DFL dispositions; no pointers kept.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        for sig in [
            libc::SIGPIPE,
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGTERM,
            libc::SIGHUP,
        ] {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
}

/// Moves this (single-threaded) process into its v1 groups by writing `0` to their `tasks`
/// files (see [`CgroupJoin`]), but those whose bit is set in `skip` (optional hierarchies the
/// parent could not make a group in). Any other failure is the start's: limits that silently
/// do not apply are worse than a container that does not start. Allocation-free.
fn join_own_cgroups(init: &Init, skip: u32) -> ChildResult {
    for (i, tasks) in init.cgroup_tasks.iter().enumerate() {
        if i < 32 && skip & (1 << i) != 0 {
            continue;
        }
        write_file(tasks, c"0").map_err(|e| (Step::Cgroup, i as u32, e))?;
    }
    Ok(())
}

fn write_file(path: &CStr, value: &CStr) -> io::Result<()> {
    // SAFETY: NUL-terminated path; the fd is closed below.
    let fd = sys::check(unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) })?;
    let result = sys::write_all(fd, value.to_bytes());
    sys::close(fd);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msg_roundtrip() {
        let m = Msg {
            kind: kind::ERROR,
            step: Step::Pivot as u32,
            index: 7,
            errno: libc::EINVAL,
        };
        assert_eq!(Msg::parse(&m.bytes()), m);
    }

    #[test]
    fn failure_codes_roundtrip() {
        use mounts::Failure::*;
        for f in [
            Propagation,
            RootBind,
            RootReadonly,
            CgroupWait,
            ParentPrivate,
            Op(0),
            Op(12),
            Mask(3),
            Readonly(4),
        ] {
            assert_eq!(failure_from(failure_code(f)), f);
        }
    }

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
        assert_eq!(exit_code(3 << 8), 3);
        assert_eq!(exit_code(libc::SIGKILL), 137);
    }
}
