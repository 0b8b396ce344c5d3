//! A fake runtime behind [`Shims`]: each "shim" is an in-process server speaking the real shim
//! protocol on the real socket path, so the engine's client, its supervisor and its restore
//! logic run unchanged, while the "container" is a small state machine scripted by its
//! command line. No namespaces, no cgroups, no root.
//!
//! The script, read from the bundle's `process.args` (joined by spaces):
//! - `exit N` anywhere: the process exits with `N` as soon as it starts;
//! - `sleep S`: it exits 0 after `S` seconds;
//! - `trap`: it ignores SIGTERM (so a stop has to escalate to SIGKILL);
//! - anything else: it runs until signalled.
//!
//! A signal ends it with `128 + signal`. As a real shim, the fake writes `exit.json` when the
//! process exits and goes away once the engine asked it to shut down; [`FakeShims::crash`]
//! makes it vanish at once, as a `kill -9` of a shim would.

use crate::EngineError;
use crate::containers::shim::{LogSettings, Shims};
use berth_common::ErrorKind;
use berth_shim_proto::{
    ContainerStatus, EXIT_FILE, ExitInfo, Request, Response, SOCKET_FILE, ShimClient, ShimState,
    Stats,
};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Pids the fakes hand out: above the kernel's `pid_max` limit, so none is ever a real process.
const FIRST_FAKE_PID: u32 = 10_000_000;
const SIGKILL: i32 = 9;
const SIGTERM: i32 = 15;

/// The fake runtime: every shim it launched, by state directory.
#[derive(Debug)]
pub struct FakeShims {
    shims_dir: PathBuf,
    runtime_root: PathBuf,
    next_pid: AtomicU32,
    shims: Mutex<HashMap<PathBuf, Arc<FakeShim>>>,
    /// Containers launched, in order (ids): what a test checks restarts with.
    launches: Mutex<Vec<String>>,
}

/// What the fake "process" does, from its command line.
#[derive(Debug, Clone, Copy, Default)]
struct Script {
    exit_at_start: Option<i32>,
    exit_after: Option<Duration>,
    ignores_term: bool,
}

impl Script {
    fn parse(args: &[String]) -> Script {
        let words: Vec<&str> = args.iter().flat_map(|a| a.split_whitespace()).collect();
        let after = |w: &str| {
            words
                .iter()
                .position(|x| *x == w)
                .and_then(|i| words.get(i + 1))
                .copied()
        };
        Script {
            exit_at_start: after("exit").and_then(|n| n.parse().ok()),
            exit_after: after("sleep")
                .and_then(|s| s.parse::<f64>().ok())
                .map(Duration::from_secs_f64),
            ignores_term: words.contains(&"trap"),
        }
    }
}

#[derive(Debug)]
struct Run {
    status: ContainerStatus,
    started_at: Option<String>,
    exit: Option<ExitInfo>,
}

/// One fake shim and its container.
#[derive(Debug)]
pub struct FakeShim {
    id: String,
    state_dir: PathBuf,
    pid: u32,
    script: Script,
    run: Mutex<Run>,
    changed: Condvar,
    /// Gone: shut down by the engine or crashed by the test.
    gone: AtomicBool,
}

impl FakeShims {
    /// A fake runtime keeping its shims' state under `root` (`shims/`, `runtime/`).
    pub fn new(root: &Path) -> Arc<FakeShims> {
        Arc::new(FakeShims {
            shims_dir: root.join("shims"),
            runtime_root: root.join("runtime"),
            next_pid: AtomicU32::new(FIRST_FAKE_PID),
            shims: Mutex::new(HashMap::new()),
            launches: Mutex::new(Vec::new()),
        })
    }

    /// How many times container `id` was launched (its first start and every restart).
    pub fn launches_of(&self, id: &str) -> usize {
        self.lock_launches().iter().filter(|l| *l == id).count()
    }

    /// Makes container `id`'s process exit with `code`, as if it ended by itself.
    pub fn exit(&self, id: &str, code: i32) {
        if let Some(shim) = self.shim_of(id) {
            shim.finish(code);
        }
    }

    /// Makes the shim of `id` vanish without a word (a `kill -9` of the shim): connections
    /// close, no exit is recorded.
    pub fn crash(&self, id: &str) {
        if let Some(shim) = self.shim_of(id) {
            shim.vanish();
        }
    }

    fn shim_of(&self, id: &str) -> Option<Arc<FakeShim>> {
        self.lock_shims().get(&self.state_dir(id)).cloned()
    }

    fn lock_shims(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Arc<FakeShim>>> {
        self.shims.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_launches(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.launches.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Shims for FakeShims {
    fn launch(
        &self,
        id: &str,
        bundle: &Path,
        _log_path: &Path,
        _log: &LogSettings,
        _stdin: bool,
    ) -> Result<(ShimClient, u32), EngineError> {
        let state = self.state_dir(id);
        if state.exists() {
            std::fs::remove_dir_all(&state).map_err(|e| EngineError::io(&state, e))?;
        }
        std::fs::create_dir_all(&state).map_err(|e| EngineError::io(&state, e))?;
        let config = bundle.join("config.json");
        let spec: serde_json::Value = std::fs::read(&config)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| EngineError::Internal(format!("fake shim: no spec at {config:?}")))?;
        let args: Vec<String> = spec["process"]["args"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let listener = UnixListener::bind(state.join(SOCKET_FILE))
            .map_err(|e| EngineError::io(state.join(SOCKET_FILE), e))?;
        let shim = Arc::new(FakeShim {
            id: id.to_string(),
            state_dir: state.clone(),
            pid: self.next_pid.fetch_add(1, Ordering::SeqCst),
            script: Script::parse(&args),
            run: Mutex::new(Run {
                status: ContainerStatus::Created,
                started_at: None,
                exit: None,
            }),
            changed: Condvar::new(),
            gone: AtomicBool::new(false),
        });
        let serving = shim.clone();
        std::thread::spawn(move || serving.serve(listener));
        let pid = shim.pid;
        self.lock_shims().insert(state.clone(), shim);
        self.lock_launches().push(id.to_string());
        Ok((ShimClient::new(&state), pid))
    }

    fn shims_dir(&self) -> &Path {
        &self.shims_dir
    }

    fn runtime_root(&self) -> &Path {
        &self.runtime_root
    }

    fn live_pid(&self, state_dir: &Path) -> Option<u32> {
        self.lock_shims()
            .get(state_dir)
            .filter(|s| !s.gone.load(Ordering::SeqCst))
            .map(|s| s.pid)
    }

    fn kill_shim(&self, pid: u32) {
        let shim = self.lock_shims().values().find(|s| s.pid == pid).cloned();
        if let Some(shim) = shim {
            shim.vanish();
        }
    }

    fn delete_runtime_state(&self, _id: &str, _cgroup_path: &str) -> Result<(), EngineError> {
        Ok(())
    }
}

impl FakeShim {
    fn lock(&self) -> std::sync::MutexGuard<'_, Run> {
        self.run.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn serve(self: Arc<Self>, listener: UnixListener) {
        for conn in listener.incoming() {
            if self.gone.load(Ordering::SeqCst) {
                return;
            }
            let Ok(conn) = conn else { return };
            let shim = self.clone();
            std::thread::spawn(move || shim.answer(conn));
        }
    }

    fn answer(self: Arc<Self>, conn: UnixStream) {
        let mut line = String::new();
        let Ok(reader) = conn.try_clone() else { return };
        if BufReader::new(reader).read_line(&mut line).is_err() {
            return;
        }
        let response = match serde_json::from_str::<Request>(&line) {
            Ok(req) => self.handle(req, &conn),
            Err(e) => Some(Response::error(
                ErrorKind::InvalidArgument,
                format!("bad request: {e}"),
            )),
        };
        if let Some(response) = response {
            let mut conn = conn;
            let mut bytes = serde_json::to_vec(&response).unwrap_or_default();
            bytes.push(b'\n');
            let _ = conn.write_all(&bytes);
        }
    }

    fn not_running(&self) -> Response {
        Response::error(
            ErrorKind::Conflict,
            format!("container {} is not running", self.id),
        )
    }

    /// The answer to `req`; `None` when the connection was kept (an attach) or dropped.
    fn handle(self: &Arc<Self>, req: Request, conn: &UnixStream) -> Option<Response> {
        match req {
            Request::Start => Some(self.start()),
            Request::Kill { signal, .. } => {
                let running = matches!(
                    self.lock().status,
                    ContainerStatus::Running | ContainerStatus::Paused
                );
                if !running {
                    return Some(self.not_running());
                }
                if !(signal == SIGTERM && self.script.ignores_term) {
                    self.finish(128 + signal);
                }
                Some(Response::Ok)
            }
            Request::Wait => {
                let run = self.lock();
                let run = self
                    .changed
                    .wait_while(run, |r| {
                        r.exit.is_none() && !self.gone.load(Ordering::SeqCst)
                    })
                    .unwrap_or_else(|p| p.into_inner());
                // A crashed shim answers nothing: the connection just closes.
                run.exit.clone().map(Response::Exited)
            }
            Request::State => {
                let run = self.lock();
                Some(Response::State(ShimState {
                    pid: self.pid as i32,
                    shim_pid: self.pid,
                    status: run.status,
                    started_at: run.started_at.clone(),
                    exit: run.exit.clone(),
                    log_error: None,
                }))
            }
            Request::Pause | Request::Resume => {
                let mut run = self.lock();
                match (run.status, &req) {
                    (ContainerStatus::Running, Request::Pause) => {
                        run.status = ContainerStatus::Paused
                    }
                    (ContainerStatus::Paused, Request::Resume) => {
                        run.status = ContainerStatus::Running
                    }
                    _ => return Some(self.not_running()),
                }
                Some(Response::Ok)
            }
            Request::Resize { .. } | Request::Update { .. } => Some(Response::Ok),
            Request::Stats => Some(Response::Stats(Stats::default())),
            Request::Attach(_) => {
                // No output: the stream stays open until the process exits.
                let mut stream = conn.try_clone().ok()?;
                let mut ok = serde_json::to_vec(&Response::Ok).ok()?;
                ok.push(b'\n');
                let _ = stream.write_all(&ok);
                let run = self.lock();
                let _run = self
                    .changed
                    .wait_while(run, |r| {
                        r.exit.is_none() && !self.gone.load(Ordering::SeqCst)
                    })
                    .unwrap_or_else(|p| p.into_inner());
                None
            }
            Request::Exec(_) | Request::ExecWait { .. } => Some(Response::error(
                ErrorKind::InvalidArgument,
                "the fake shim runs no execs",
            )),
            Request::Shutdown => {
                let status = self.lock().status;
                match status {
                    ContainerStatus::Running | ContainerStatus::Paused => Some(Response::error(
                        ErrorKind::Conflict,
                        format!("container {} is running", self.id),
                    )),
                    _ => {
                        if status == ContainerStatus::Created {
                            self.finish(128 + SIGKILL);
                        }
                        self.vanish();
                        Some(Response::Ok)
                    }
                }
            }
        }
    }

    fn start(self: &Arc<Self>) -> Response {
        {
            let mut run = self.lock();
            if run.status != ContainerStatus::Created {
                return Response::error(
                    ErrorKind::Conflict,
                    format!("container {} is already running", self.id),
                );
            }
            run.status = ContainerStatus::Running;
            run.started_at = Some(berth_common::time::now());
        }
        if let Some(code) = self.script.exit_at_start {
            let shim = self.clone();
            // Just after the answer, as a real process exits after its start.
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                shim.finish(code);
            });
        } else if let Some(after) = self.script.exit_after {
            let shim = self.clone();
            std::thread::spawn(move || {
                std::thread::sleep(after);
                shim.finish(0);
            });
        }
        Response::Ok
    }

    /// The process exits with `code` (once): recorded in `exit.json`, waiters told.
    fn finish(&self, code: i32) {
        let mut run = self.lock();
        if run.exit.is_some() || self.gone.load(Ordering::SeqCst) {
            return;
        }
        let exit = ExitInfo {
            exit_code: code,
            oom_killed: false,
            finished_at: berth_common::time::now(),
            started_at: run.started_at.clone(),
        };
        if let Ok(bytes) = serde_json::to_vec(&exit) {
            let _ = std::fs::write(self.state_dir.join(EXIT_FILE), bytes);
        }
        run.exit = Some(exit);
        run.status = ContainerStatus::Stopped;
        drop(run);
        self.changed.notify_all();
    }

    /// The shim goes: its socket disappears and every waiting connection closes.
    fn vanish(&self) {
        if self.gone.swap(true, Ordering::SeqCst) {
            return;
        }
        let socket = self.state_dir.join(SOCKET_FILE);
        // Unblocks the accept loop, which then sees `gone` and closes the listener.
        let _ = UnixStream::connect(&socket);
        let _ = std::fs::remove_file(&socket);
        let _guard = self.lock();
        self.changed.notify_all();
    }
}
