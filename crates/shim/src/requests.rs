//! The control requests: what each one does to the container, and how it is answered.
//!
//! A handler returns a [`Reply`]: an answer now (the connection then closes), a wait (the
//! connection is parked until the process exits), or a stream (an `Ok` line, then output).

use crate::conn::{Attached, Phase, Target};
use crate::error::{Result, ShimError};
use crate::process::Proc;
use crate::server::{Exec, Shim, pid_of};
use crate::stdio::{self, ConsoleSocket};
use berth_common::ErrorKind;
use berth_common::error::HasKind;
use berth_runtime::container::{self, ExecOptions};
use berth_shim_proto::{
    AttachRequest, ContainerStatus, ExecRequest, Request, Response, ShimState, timefmt,
};
use rustix::process::{Pid, Signal};

/// How a request is answered.
pub enum Reply {
    /// Answer and close.
    Now(Response),
    /// Park the connection in this phase; it is answered later.
    Later(Phase),
    /// Answer `Ok` and stream.
    Stream(Attached),
}

impl Shim {
    /// Parses and serves the request line of connection `i`.
    pub fn handle_line(&mut self, i: usize, line: Vec<u8>) {
        let req: Request = match serde_json::from_slice(&line) {
            Ok(r) => r,
            Err(e) => {
                let resp = Response::error(ErrorKind::InvalidArgument, format!("bad request: {e}"));
                self.conns[i].respond_and_close(&resp);
                return;
            }
        };
        match self.handle(req) {
            Ok(Reply::Now(resp)) => self.conns[i].respond_and_close(&resp),
            Ok(Reply::Later(phase)) => self.conns[i].phase = phase,
            Ok(Reply::Stream(attached)) => {
                self.conns[i].respond(&Response::Ok);
                self.conns[i].phase = Phase::Attached(attached);
                self.feed_stdin(i);
            }
            Err(err) => {
                let resp = Response::Error {
                    kind: err.kind(),
                    message: err.to_string(),
                    errno: err.errno(),
                };
                self.conns[i].respond_and_close(&resp);
            }
        }
    }

    fn handle(&mut self, req: Request) -> Result<Reply> {
        match req {
            Request::Start => self.start_container(),
            Request::Kill { signal, all } => self.kill(signal, all),
            Request::Wait => Ok(match &self.exit {
                Some(info) => Reply::Now(Response::Exited(info.clone())),
                None => Reply::Later(Phase::WaitExit),
            }),
            Request::State => Ok(Reply::Now(Response::State(self.state()))),
            Request::Pause => self.pause(true),
            Request::Resume => self.pause(false),
            Request::Resize {
                height,
                width,
                exec_id,
            } => self.resize(height, width, exec_id),
            Request::Stats => self.stats(),
            Request::Update { resources } => self.update(resources),
            Request::Attach(req) => Ok(self.attach(req)),
            Request::Exec(req) => self.exec(req),
            Request::ExecWait { exec_id } => {
                let e = self
                    .execs
                    .iter()
                    .find(|e| e.id == exec_id)
                    .ok_or_else(|| ShimError::NoSuchExec(exec_id.clone()))?;
                Ok(match (e.proc.finished, e.proc.exit_code) {
                    (true, Some(code)) => Reply::Now(Response::ExecExited { exit_code: code }),
                    _ => Reply::Later(Phase::WaitExec(exec_id)),
                })
            }
            Request::Shutdown => self.shutdown(),
        }
    }

    fn not_running(&self) -> ShimError {
        ShimError::Conflict(format!("container {} is not running", self.cfg.id))
    }

    /// Whether the init has exited (collecting its status first, so that no runtime call
    /// that checks the status reaps it behind the shim's back).
    fn init_gone(&mut self) -> bool {
        self.init.try_reap()
    }

    fn start_container(&mut self) -> Result<Reply> {
        match self.status {
            ContainerStatus::Created => {}
            ContainerStatus::Stopped => {
                return Err(ShimError::Conflict(format!(
                    "container {} has exited; it needs a new shim",
                    self.cfg.id
                )));
            }
            _ => {
                return Err(ShimError::Conflict(format!(
                    "container {} is already running",
                    self.cfg.id
                )));
            }
        }
        if self.init_gone() {
            return Err(ShimError::Conflict(format!(
                "container {} exited before it was started",
                self.cfg.id
            )));
        }
        container::start(&self.cfg.runtime_root, &self.cfg.id)?;
        self.status = ContainerStatus::Running;
        self.started_at = Some(timefmt::now());
        Ok(Reply::Now(Response::Ok))
    }

    fn kill(&mut self, signal: i32, all: bool) -> Result<Reply> {
        if !matches!(
            self.status,
            ContainerStatus::Running | ContainerStatus::Paused
        ) || self.init.exit_code.is_some()
        {
            return Err(self.not_running());
        }
        let sig = Signal::from_named_raw(signal)
            .ok_or_else(|| ShimError::Invalid(format!("invalid signal: {signal}")))?;
        if all {
            let cg = self.cgroup.as_ref().ok_or_else(|| {
                ShimError::Conflict("the container's cgroup is unavailable".into())
            })?;
            for pid in cg.pids()? {
                if let Some(pid) = Pid::from_raw(pid as i32) {
                    let _ = rustix::process::kill_process(pid, sig);
                }
            }
        } else {
            self.init
                .signal(sig)
                .map_err(|e| ShimError::sys(format!("sending signal {signal} to the init"), e))?;
        }
        if self.status == ContainerStatus::Paused
            && sig == Signal::KILL
            && let Some(cg) = &self.cgroup
        {
            // A frozen task only dies once thawed.
            cg.thaw()?;
            self.status = ContainerStatus::Running;
        }
        Ok(Reply::Now(Response::Ok))
    }

    /// The answer to `State`.
    pub fn state(&self) -> ShimState {
        ShimState {
            pid: if self.status == ContainerStatus::Stopped {
                0
            } else {
                self.init.pid.as_raw_nonzero().get()
            },
            shim_pid: std::process::id(),
            status: self.status,
            started_at: self.started_at.clone(),
            exit: self.exit.clone(),
            log_error: self
                .log
                .as_ref()
                .and_then(|l| l.failure())
                .map(str::to_string),
        }
    }

    fn pause(&mut self, freeze: bool) -> Result<Reply> {
        let cg = self
            .cgroup
            .as_ref()
            .ok_or_else(|| ShimError::Conflict("the container's cgroup is unavailable".into()))?;
        match (freeze, self.status) {
            (true, ContainerStatus::Running) => {
                cg.freeze()?;
                self.status = ContainerStatus::Paused;
            }
            (true, ContainerStatus::Paused) => {
                return Err(ShimError::Conflict(format!(
                    "container {} is already paused",
                    self.cfg.id
                )));
            }
            (false, ContainerStatus::Paused) => {
                cg.thaw()?;
                self.status = ContainerStatus::Running;
            }
            (false, ContainerStatus::Running) => {
                return Err(ShimError::Conflict(format!(
                    "container {} is not paused",
                    self.cfg.id
                )));
            }
            _ => return Err(self.not_running()),
        }
        Ok(Reply::Now(Response::Ok))
    }

    fn resize(&mut self, height: u16, width: u16, exec_id: Option<String>) -> Result<Reply> {
        let p: &Proc = match &exec_id {
            None => &self.init,
            Some(id) => {
                &self
                    .execs
                    .iter()
                    .find(|e| e.id == *id)
                    .ok_or_else(|| ShimError::NoSuchExec(id.clone()))?
                    .proc
            }
        };
        let pty = p.pty.as_ref().ok_or_else(|| {
            ShimError::Conflict("the process has no terminal (or it has exited)".into())
        })?;
        let size = rustix::termios::Winsize {
            ws_row: height,
            ws_col: width,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(pty, size)
            .map_err(|e| ShimError::sys("resizing the terminal", e))?;
        Ok(Reply::Now(Response::Ok))
    }

    fn stats(&mut self) -> Result<Reply> {
        if self.status == ContainerStatus::Stopped {
            return Err(self.not_running());
        }
        let cg = self
            .cgroup
            .as_ref()
            .ok_or_else(|| ShimError::Conflict("the container's cgroup is unavailable".into()))?;
        Ok(Reply::Now(Response::Stats(cg.stats()?)))
    }

    fn update(&mut self, resources: serde_json::Value) -> Result<Reply> {
        if self.status == ContainerStatus::Stopped {
            return Err(self.not_running());
        }
        let cg = self
            .cgroup
            .as_ref()
            .ok_or_else(|| ShimError::Conflict("the container's cgroup is unavailable".into()))?;
        let linux: oci_spec::runtime::LinuxResources = serde_json::from_value(resources)
            .map_err(|e| ShimError::Invalid(format!("resources: {e}")))?;
        let mut l = oci_spec::runtime::Linux::default();
        l.set_resources(Some(linux));
        let wanted = container::resources(Some(&l))?;
        for ignored in container::ignored_resources(Some(&l), &wanted, cg.root().layout()) {
            berth_runtime::warn::warn(ignored);
        }
        cg.update(&wanted)?;
        Ok(Reply::Now(Response::Ok))
    }

    fn attach(&mut self, req: AttachRequest) -> Reply {
        if self.init.finished {
            // Nothing more will come: an empty stream.
            return Reply::Now(Response::Ok);
        }
        Reply::Stream(Attached {
            target: Target::Init,
            stdin: req.stdin,
            stdout: req.stdout,
            stderr: req.stderr,
            stdcopy: req.stdcopy,
            stdin_once: req.stdin_once,
        })
    }

    fn exec(&mut self, req: ExecRequest) -> Result<Reply> {
        match self.status {
            ContainerStatus::Running => {}
            ContainerStatus::Paused => {
                return Err(ShimError::Conflict(format!(
                    "container {} is paused, unpause the container before exec",
                    self.cfg.id
                )));
            }
            _ => return Err(self.not_running()),
        }
        if self.init_gone() {
            return Err(self.not_running());
        }
        if self.execs.iter().any(|e| e.id == req.exec_id) {
            return Err(ShimError::Conflict(format!(
                "exec {} already exists",
                req.exec_id
            )));
        }
        let mut process: oci_spec::runtime::Process = serde_json::from_value(req.process)
            .map_err(|e| ShimError::Invalid(format!("exec process: {e}")))?;
        process.set_terminal(Some(req.tty));
        let dir = &self.cfg.state_dir;
        let mut opts = ExecOptions {
            console_socket: None,
            pid_file: None,
            detach: true,
            preserve_fds: 0,
            // An exec'd process must not outlive the shim that tracks it.
            die_with_parent: true,
        };
        let root = &self.cfg.runtime_root;
        let id = &self.cfg.id;
        let proc = if req.tty {
            let console = ConsoleSocket::bind(&dir.join("exec-console.sock"))?;
            opts.console_socket = Some(console.path().to_path_buf());
            let pid = pid_of(container::exec_detached(root, id, &process, &opts)?)?;
            let master = console.receive()?;
            Proc::with_pty(pid, master, req.stdin)
        } else {
            let (parent, child) = stdio::pipes(req.stdin)?;
            let pid = stdio::with_stdio(Some(&child), || {
                container::exec_detached(root, id, &process, &opts)
            })??;
            drop(child);
            Proc::with_pipes(pid_of(pid)?, parent)
        };
        self.execs.push(Exec {
            id: req.exec_id.clone(),
            proc,
            finished_at: None,
        });
        Ok(Reply::Stream(Attached {
            target: Target::Exec(req.exec_id),
            stdin: req.stdin,
            stdout: true,
            stderr: true,
            stdcopy: req.stdcopy,
            stdin_once: true,
        }))
    }

    fn shutdown(&mut self) -> Result<Reply> {
        let status = self.status;
        match status {
            ContainerStatus::Created if !self.init_gone() => {
                let _ = self.init.signal(Signal::KILL);
            }
            ContainerStatus::Running | ContainerStatus::Paused if self.init.exit_code.is_none() => {
                return Err(ShimError::Conflict(format!(
                    "container {} is running: stop it before shutting its shim down",
                    self.cfg.id
                )));
            }
            _ => {}
        }
        self.shutdown = true;
        Ok(Reply::Now(Response::Ok))
    }
}
