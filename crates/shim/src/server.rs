//! The shim's single-threaded event loop: one `poll(2)` over the control socket, the clients,
//! each supervised process's output, stdin and pidfd.
//!
//! Life of a shim:
//! 1. [`Shim::start`] writes `shim.pid`, creates the container through the runtime with pipes
//!    (or a pty) for its stdio, and binds `shim.sock` — the socket's existence is the readiness
//!    signal the daemon waits for. A failure is written to `create-error` instead.
//! 2. [`Shim::run`] serves requests ([`crate::requests`]) and copies output to the log and to
//!    attached clients until the container has exited.
//! 3. On the init's exit (pidfd readable, then `waitpid`) the shim drains the output (until the
//!    pipes reach end of file, at most [`DRAIN`]), flushes partial log lines, reads the OOM
//!    count, deletes the runtime container (cgroup and state, so the daemon can create it
//!    again), writes `exit.json` atomically, answers the waiters and closes attached streams.
//! 4. It exits once every client is served and none has been seen for [`GRACE`], or at once
//!    after a [`berth_shim_proto::Request::Shutdown`]. It removes its socket and pid file
//!    (only if they are still its own); `exit.json` stays for the daemon.
//!
//! The shim relies on SIGPIPE being ignored (Rust's runtime does this before `main`), so a
//! client or process that goes away is an `EPIPE`, not a dead shim.

use crate::args::{Config, LogDriver};
use crate::conn::{Conn, Phase, Target};
use crate::error::{Result, ShimError};
use crate::files;
use crate::logwriter::JsonFileWriter;
use crate::process::{Proc, STDIN_HIGH_WATER};
use crate::stdio::{self, ConsoleSocket};
use berth_cgroups::{Cgroup, CgroupRoot};
use berth_runtime::container::{self, CreateOptions};
use berth_shim_proto::logs::LogStream;
use berth_shim_proto::{
    CREATE_ERROR_FILE, ContainerStatus, EXIT_FILE, ExitInfo, PID_FILE, Response, SOCKET_FILE,
    timefmt,
};
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::process::Pid;
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long output is drained after a process exits before it is considered complete (a
/// process outside the container's pid namespace may keep a pipe open).
pub const DRAIN: Duration = Duration::from_secs(2);
/// How long an idle shim lingers after the container exited, for a daemon to collect the exit.
pub const GRACE: Duration = Duration::from_secs(2);
/// The exit-polling period on kernels without pidfds.
const FALLBACK_POLL: Duration = Duration::from_millis(100);
/// How long a finished exec is remembered for [`berth_shim_proto::Request::ExecWait`].
const EXEC_RETENTION: Duration = Duration::from_secs(600);

/// A process started with `exec`.
pub struct Exec {
    /// The engine's id.
    pub id: String,
    /// The process.
    pub proc: Proc,
    /// When it finished.
    pub finished_at: Option<Instant>,
}

/// Which supervised process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// The container's init.
    Init,
    /// `execs[i]`.
    Exec(usize),
}

/// Which output fd of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    Stdout,
    Stderr,
    Pty,
}

#[derive(Debug, Clone, Copy)]
enum Token {
    Listener,
    Pidfd(Who),
    Out(Who, Output),
    Stdin(Who),
    Conn(usize),
}

/// The shim's whole state.
pub struct Shim {
    /// The command line.
    pub cfg: Config,
    listener: UnixListener,
    socket_id: Option<(u64, u64)>,
    /// The container's init.
    pub init: Proc,
    /// The lifecycle status (`Stopped` only once the exit is fully recorded).
    pub status: ContainerStatus,
    /// When `start` succeeded.
    pub started_at: Option<String>,
    /// The recorded exit.
    pub exit: Option<ExitInfo>,
    /// The container's cgroup, for pause, stats, kill-all and the OOM verdict.
    pub cgroup: Option<Cgroup>,
    /// The json-file log, when the driver keeps one.
    pub(crate) log: Option<JsonFileWriter>,
    /// Client connections.
    pub conns: Vec<Conn>,
    /// Exec'd processes.
    pub execs: Vec<Exec>,
    /// The daemon asked the shim to go once the container is gone.
    pub shutdown: bool,
    last_activity: Instant,
}

/// Undoes a create if the shim cannot go on to serve it.
struct CreatedGuard<'a> {
    cfg: &'a Config,
    armed: bool,
}

impl Drop for CreatedGuard<'_> {
    fn drop(&mut self) {
        if self.armed
            && let Err(err) = container::delete(&self.cfg.runtime_root, &self.cfg.id, true)
        {
            tracing::warn!(error = %err, "removing the container after a failed shim start");
        }
    }
}

fn bundle_wants_terminal(bundle: &Path) -> Result<bool> {
    let path = bundle.join("config.json");
    let text = std::fs::read(&path).map_err(|e| ShimError::io("reading", &path, e))?;
    let doc: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| ShimError::Invalid(format!("{}: {e}", path.display())))?;
    Ok(doc["process"]["terminal"].as_bool().unwrap_or(false))
}

/// The pid the runtime reports, as a rustix pid.
pub fn pid_of(raw: i32) -> Result<Pid> {
    Pid::from_raw(raw).ok_or_else(|| ShimError::Conflict(format!("the runtime reported pid {raw}")))
}

impl Shim {
    /// Creates the container and binds the control socket (see the module docs).
    pub fn start(cfg: Config) -> Result<Shim> {
        let dir = &cfg.state_dir;
        std::fs::create_dir_all(dir).map_err(|e| ShimError::io("creating", dir, e))?;
        stdio::ensure_std_fds()?;
        // Already detached by the daemon normally; make sure a terminal's signals never reach us.
        let _ = rustix::process::setsid();
        files::write_atomic(
            &dir.join(PID_FILE),
            std::process::id().to_string().as_bytes(),
        )?;
        files::remove(&dir.join(EXIT_FILE))?;
        files::remove(&dir.join(CREATE_ERROR_FILE))?;
        let socket = dir.join(SOCKET_FILE);
        if socket.exists() {
            if UnixStream::connect(&socket).is_ok() {
                return Err(ShimError::Conflict(format!(
                    "another shim already serves {}",
                    socket.display()
                )));
            }
            files::remove(&socket)?;
        }
        let log = match cfg.log_driver {
            LogDriver::JsonFile => Some(JsonFileWriter::open(
                &cfg.log_path,
                cfg.log_max_size,
                cfg.log_max_files,
            )?),
            LogDriver::None => None,
        };
        let terminal = bundle_wants_terminal(&cfg.bundle)?;
        let mut opts = CreateOptions {
            root: cfg.runtime_root.clone(),
            console_socket: None,
            pid_file: None,
            preserve_fds: 0,
            // The container dies with its shim: a container nobody tracks could hold its
            // address and cgroup forever (the daemon then cleans up what is left).
            die_with_parent: true,
        };
        let mut guard = CreatedGuard {
            cfg: &cfg,
            armed: false,
        };
        let init = if terminal {
            let console = ConsoleSocket::bind(&dir.join("console.sock"))?;
            opts.console_socket = Some(console.path().to_path_buf());
            let state = container::create(&cfg.id, &cfg.bundle, &opts)?;
            guard.armed = true;
            let master = console.receive()?;
            Proc::with_pty(pid_of(state.pid)?, master, cfg.stdin)
        } else {
            let (parent, child) = stdio::pipes(cfg.stdin)?;
            let state = stdio::with_stdio(Some(&child), || {
                container::create(&cfg.id, &cfg.bundle, &opts)
            })??;
            guard.armed = true;
            drop(child);
            Proc::with_pipes(pid_of(state.pid)?, parent)
        };
        let cgroup = berth_runtime::state::load(&cfg.runtime_root, &cfg.id)
            .map_err(ShimError::from)
            .and_then(|record| {
                let root = CgroupRoot::detect()?;
                Ok(Cgroup::load(&root, &record.cgroup_path)?)
            });
        let cgroup = match cgroup {
            Ok(cg) => Some(cg),
            Err(err) => {
                tracing::warn!(error = %err, "the container's cgroup is unavailable");
                None
            }
        };
        let listener =
            UnixListener::bind(&socket).map_err(|e| ShimError::io("binding", &socket, e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| ShimError::io("configuring", &socket, e))?;
        guard.armed = false;
        drop(guard);
        Ok(Shim {
            socket_id: files::identity(&socket),
            listener,
            init,
            status: ContainerStatus::Created,
            started_at: None,
            exit: None,
            cgroup,
            log,
            conns: Vec::new(),
            execs: Vec::new(),
            shutdown: false,
            last_activity: Instant::now(),
            cfg,
        })
    }

    /// Serves until the container has exited and its clients are served; returns the shim's
    /// exit code.
    pub fn run(mut self) -> i32 {
        loop {
            self.check_exits();
            self.drop_dead_conns();
            if self.should_exit() {
                break;
            }
            let timeout = self.timeout();
            let ready = match self.poll_once(timeout) {
                Ok(r) => r,
                Err(err) => {
                    tracing::error!(%err, "poll failed");
                    std::thread::sleep(FALLBACK_POLL);
                    continue;
                }
            };
            for (token, events) in ready {
                self.dispatch(token, events);
            }
        }
        self.cleanup();
        0
    }

    /// The process `who` names.
    pub fn proc_mut(&mut self, who: Who) -> &mut Proc {
        match who {
            Who::Init => &mut self.init,
            Who::Exec(i) => &mut self.execs[i].proc,
        }
    }

    fn target_of(&self, who: Who) -> Target {
        match who {
            Who::Init => Target::Init,
            Who::Exec(i) => Target::Exec(self.execs[i].id.clone()),
        }
    }

    /// The process a stream targets, if it still exists.
    pub fn who_of(&self, target: &Target) -> Option<Who> {
        match target {
            Target::Init => Some(Who::Init),
            Target::Exec(id) => self.execs.iter().position(|e| e.id == *id).map(Who::Exec),
        }
    }

    fn should_exit(&self) -> bool {
        self.init.finished
            && self.execs.iter().all(|e| e.proc.finished)
            && self.conns.is_empty()
            && (self.shutdown || self.last_activity.elapsed() >= GRACE)
    }

    fn timeout(&self) -> Option<Duration> {
        let mut t: Option<Duration> = None;
        let mut at = |d: Duration| t = Some(t.map_or(d, |x| x.min(d)));
        let procs = std::iter::once(&self.init).chain(self.execs.iter().map(|e| &e.proc));
        for p in procs {
            if p.exit_code.is_none() && p.pidfd.is_none() {
                at(FALLBACK_POLL);
            }
            if let (Some((_, when)), false) = (p.exited, p.finished) {
                at(DRAIN.saturating_sub(when.elapsed()));
            }
        }
        if self.init.finished && self.conns.is_empty() {
            at(GRACE.saturating_sub(self.last_activity.elapsed()));
        }
        t
    }

    fn conn_wants_read(&self, c: &Conn) -> bool {
        if c.read_closed || c.dead {
            return false;
        }
        match &c.phase {
            Phase::Request | Phase::WaitExit | Phase::WaitExec(_) => true,
            Phase::Attached(a) => match self.who_of(&a.target) {
                Some(Who::Init) => self.init.stdin_buf.len() < STDIN_HIGH_WATER,
                Some(Who::Exec(i)) => self.execs[i].proc.stdin_buf.len() < STDIN_HIGH_WATER,
                None => true,
            },
            Phase::Closing => false,
        }
    }

    fn poll_once<'a>(
        &'a self,
        timeout: Option<Duration>,
    ) -> std::io::Result<Vec<(Token, PollFlags)>> {
        let mut fds: Vec<PollFd<'a>> = Vec::with_capacity(8 + self.conns.len());
        let mut tokens = Vec::with_capacity(fds.capacity());
        fds.push(PollFd::new(&self.listener, PollFlags::IN));
        tokens.push(Token::Listener);
        let procs = std::iter::once((Who::Init, &self.init)).chain(
            self.execs
                .iter()
                .enumerate()
                .map(|(i, e)| (Who::Exec(i), &e.proc)),
        );
        for (who, p) in procs {
            let mut add = |fd: &'a Option<OwnedFd>, flags: PollFlags, token: Token| {
                if let Some(fd) = fd {
                    fds.push(PollFd::new(fd, flags));
                    tokens.push(token);
                }
            };
            add(&p.pidfd, PollFlags::IN, Token::Pidfd(who));
            add(&p.stdout, PollFlags::IN, Token::Out(who, Output::Stdout));
            add(&p.stderr, PollFlags::IN, Token::Out(who, Output::Stderr));
            let pty_flags = if p.stdin_buf.is_empty() {
                PollFlags::IN
            } else {
                PollFlags::IN | PollFlags::OUT
            };
            add(&p.pty, pty_flags, Token::Out(who, Output::Pty));
            if p.stdin_target_pending().is_some() {
                add(&p.stdin, PollFlags::OUT, Token::Stdin(who));
            }
        }
        for (i, c) in self.conns.iter().enumerate() {
            let mut flags = PollFlags::empty();
            if self.conn_wants_read(c) {
                flags |= PollFlags::IN;
            }
            if c.wants_write() {
                flags |= PollFlags::OUT;
            }
            fds.push(PollFd::new(&c.stream, flags));
            tokens.push(Token::Conn(i));
        }
        let ts = timeout.map(|d| Timespec {
            tv_sec: d.as_secs() as _,
            tv_nsec: d.subsec_nanos() as _,
        });
        match rustix::event::poll(&mut fds, ts.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        }
        Ok(tokens
            .into_iter()
            .zip(fds.iter().map(|f| f.revents()))
            .filter(|(_, r)| !r.is_empty())
            .collect())
    }

    fn dispatch(&mut self, token: Token, events: PollFlags) {
        let readable = events.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR);
        match token {
            Token::Listener => self.accept(),
            Token::Pidfd(who) => {
                self.proc_mut(who).try_reap();
            }
            Token::Out(who, out) => {
                if out == Output::Pty && events.contains(PollFlags::OUT) {
                    self.proc_mut(who).flush_stdin();
                }
                if readable {
                    self.read_output(who, out);
                }
            }
            Token::Stdin(who) => self.proc_mut(who).flush_stdin(),
            Token::Conn(i) => {
                if events.contains(PollFlags::OUT) {
                    self.conns[i].flush();
                }
                if readable && self.conn_wants_read(&self.conns[i]) {
                    self.on_conn_readable(i);
                } else if events.intersects(PollFlags::HUP | PollFlags::ERR)
                    && !self.conns[i].wants_write()
                    && self.conns[i].read_closed
                {
                    self.conns[i].dead = true;
                }
            }
        }
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_ok() {
                        self.conns.push(Conn::new(stream));
                        self.last_activity = Instant::now();
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    fn read_output(&mut self, who: Who, out: Output) {
        let mut buf = [0u8; 32 * 1024];
        let p = self.proc_mut(who);
        let slot = match out {
            Output::Stdout => &mut p.stdout,
            Output::Stderr => &mut p.stderr,
            Output::Pty => &mut p.pty,
        };
        let Some(fd) = slot else {
            return;
        };
        let n = match rustix::io::read(&*fd, &mut buf) {
            Ok(0) => {
                *slot = None;
                return;
            }
            Ok(n) => n,
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => return,
            Err(_) => {
                // EIO on a pty master once the last slave is closed.
                *slot = None;
                return;
            }
        };
        let stream = match out {
            Output::Stderr => LogStream::Stderr,
            _ => LogStream::Stdout,
        };
        let data = &buf[..n];
        if who == Who::Init
            && let Some(log) = &mut self.log
        {
            log.write(stream, data);
        }
        let target = self.target_of(who);
        for c in &mut self.conns {
            c.output(&target, stream, data);
        }
    }

    fn on_conn_readable(&mut self, i: usize) {
        self.conns[i].read_some();
        match self.conns[i].phase.clone() {
            Phase::Request => {
                if let Some(line) = self.conns[i].take_request_line() {
                    self.handle_line(i, line);
                } else if self.conns[i].read_closed
                    || self.conns[i].inbuf.len() > crate::conn::MAX_REQUEST
                {
                    self.conns[i].dead = true;
                }
            }
            Phase::Attached(_) => self.feed_stdin(i),
            _ => self.conns[i].inbuf.clear(),
        }
    }

    /// Moves stdin bytes a streaming client sent to its process; ends stdin at the client's
    /// end of input when it attached with `stdin_once`.
    pub fn feed_stdin(&mut self, i: usize) {
        let Phase::Attached(a) = self.conns[i].phase.clone() else {
            return;
        };
        let data = std::mem::take(&mut self.conns[i].inbuf);
        let eof = self.conns[i].read_closed || self.conns[i].dead;
        let Some(who) = self.who_of(&a.target) else {
            return;
        };
        let p = self.proc_mut(who);
        if !a.stdin || !p.stdin_open || p.exit_code.is_some() {
            return;
        }
        p.stdin_buf.extend_from_slice(&data);
        if eof && a.stdin_once {
            p.stdin_close_pending = true;
        }
        p.flush_stdin();
    }

    fn drop_dead_conns(&mut self) {
        let before = self.conns.len();
        for i in 0..self.conns.len() {
            if self.conns[i].dead && !self.conns[i].read_closed {
                // Gone without ending its input: treat as end of input.
                self.conns[i].read_closed = true;
                self.feed_stdin(i);
            }
        }
        self.conns.retain(|c| !c.dead);
        if self.conns.len() != before {
            self.last_activity = Instant::now();
        }
    }

    fn check_exits(&mut self) {
        let now = Instant::now();
        self.execs.retain(|e| {
            e.finished_at
                .is_none_or(|t| now.duration_since(t) < EXEC_RETENTION)
        });
        let drained = |p: &Proc| {
            p.exited
                .is_some_and(|(_, at)| p.outputs_closed() || at.elapsed() >= DRAIN)
        };
        if self.init.pidfd.is_none() {
            self.init.try_reap();
        }
        if !self.init.finished && drained(&self.init) {
            self.finish_init();
        }
        for i in 0..self.execs.len() {
            if self.execs[i].proc.pidfd.is_none() {
                self.execs[i].proc.try_reap();
            }
            if !self.execs[i].proc.finished && drained(&self.execs[i].proc) {
                self.finish_exec(i);
            }
        }
    }

    fn finish_init(&mut self) {
        let p = &mut self.init;
        p.finished = true;
        p.stdout = None;
        p.stderr = None;
        p.pty = None;
        p.stdin = None;
        p.stdin_open = false;
        let finished_nanos = p.exited.map_or_else(timefmt::now_nanos, |(n, _)| n);
        let exit_code = p.exit_code.unwrap_or(255);
        if let Some(log) = &mut self.log {
            log.flush_partial();
        }
        let oom_killed = self
            .cgroup
            .as_ref()
            .and_then(|cg| cg.stats().ok())
            .and_then(|s| s.oom_kills)
            .is_some_and(|n| n > 0);
        if let Err(err) = container::delete(&self.cfg.runtime_root, &self.cfg.id, true) {
            tracing::warn!(error = %err, "deleting the exited container");
        }
        // The runtime leaves parent groups; the last container of the daemon's parent (e.g.
        // `berth`) takes it along, so a host without containers has no Berth cgroup.
        if let Some(cg) = &self.cgroup
            && let Some((parent, _)) = cg.path().rsplit_once('/')
        {
            let _ = berth_cgroups::remove_if_unused(cg.root(), parent);
        }
        let info = ExitInfo {
            exit_code,
            oom_killed,
            finished_at: timefmt::format_nanos(finished_nanos),
            started_at: self.started_at.clone(),
        };
        let path = self.cfg.state_dir.join(EXIT_FILE);
        match serde_json::to_vec(&info) {
            Ok(bytes) => {
                if let Err(err) = files::write_atomic(&path, &bytes) {
                    tracing::error!(error = %err, "recording the exit");
                }
            }
            Err(err) => tracing::error!(%err, "encoding the exit"),
        }
        self.exit = Some(info.clone());
        self.status = ContainerStatus::Stopped;
        self.last_activity = Instant::now();
        for c in &mut self.conns {
            match &c.phase {
                Phase::WaitExit => c.respond_and_close(&Response::Exited(info.clone())),
                Phase::Attached(a) if a.target == Target::Init => c.close_when_flushed(),
                _ => {}
            }
        }
    }

    fn finish_exec(&mut self, i: usize) {
        let e = &mut self.execs[i];
        e.proc.finished = true;
        e.proc.stdout = None;
        e.proc.stderr = None;
        e.proc.pty = None;
        e.proc.stdin = None;
        e.finished_at = Some(Instant::now());
        let code = e.proc.exit_code.unwrap_or(255);
        let target = Target::Exec(e.id.clone());
        for c in &mut self.conns {
            match &c.phase {
                Phase::WaitExec(id) if *id == e.id => {
                    c.respond_and_close(&Response::ExecExited { exit_code: code })
                }
                Phase::Attached(a) if a.target == target => c.close_when_flushed(),
                _ => {}
            }
        }
    }

    fn cleanup(&mut self) {
        let dir = &self.cfg.state_dir;
        let socket = dir.join(SOCKET_FILE);
        if self.socket_id.is_some() && files::identity(&socket) == self.socket_id {
            let _ = files::remove(&socket);
        }
        let pid_file = dir.join(PID_FILE);
        let ours = std::fs::read_to_string(&pid_file)
            .is_ok_and(|t| t.trim() == std::process::id().to_string());
        if ours {
            let _ = files::remove(&pid_file);
        }
    }
}
