//! A synchronous client of one shim's control socket, and the files the daemon reads when the
//! shim is gone.
//!
//! Every call opens its own connection (the protocol is one request per connection), so a
//! [`ShimClient`] is just a path and can be cloned and shared freely. Calls block; the async
//! engine runs them on blocking threads. Short requests get a read timeout so a wedged shim
//! cannot hang the daemon; [`ShimClient::wait`], [`ShimClient::exec_wait`] and the streams
//! do not, because waiting is their job.

use crate::message::{
    AttachRequest, CreateError, ExecRequest, ExitInfo, Request, Response, ShimState, Stats,
};
use crate::{CREATE_ERROR_FILE, EXIT_FILE, SOCKET_FILE};
use berth_common::ErrorKind;
use berth_common::error::HasKind;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a short request may take before the shim is considered wedged.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest response line accepted.
const MAX_LINE: usize = 1 << 20;

/// Why a call to a shim failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be reached: the shim is gone or not ready.
    #[error("connecting to shim socket {}: {source}", path.display())]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Reading or writing the connection failed.
    #[error("{op} shim socket {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The socket path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The shim answered something this client does not understand.
    #[error("shim at {}: {message}", path.display())]
    Protocol {
        /// The socket path.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// The shim refused or failed the request.
    #[error("{message}")]
    Shim {
        /// The shim's classification.
        kind: ErrorKind,
        /// The shim's message.
        message: String,
        /// The OS error number of the failed step, if any.
        errno: Option<i32>,
    },
    /// The shim could not create the container (from its `create-error` file).
    #[error("creating the container: {}", .0.message)]
    CreateFailed(crate::message::CreateError),
    /// The shim process died before it became ready.
    #[error("the shim (pid {0}) exited before it was ready")]
    ShimDied(u32),
    /// The shim did not become ready in time.
    #[error("the shim did not become ready within {0:?}")]
    Timeout(Duration),
}

impl ClientError {
    /// The OS error number the shim reported with its failure, if any.
    pub fn errno(&self) -> Option<i32> {
        match self {
            ClientError::Shim { errno, .. } => *errno,
            ClientError::CreateFailed(e) => e.errno,
            _ => None,
        }
    }
}

impl HasKind for ClientError {
    fn kind(&self) -> ErrorKind {
        match self {
            ClientError::Shim { kind, .. } => *kind,
            ClientError::CreateFailed(_) => ErrorKind::InvalidArgument,
            _ => ErrorKind::Internal,
        }
    }
}

/// Result of client calls.
pub type Result<T> = std::result::Result<T, ClientError>;

/// A handle on one shim, by its state directory.
#[derive(Debug, Clone)]
pub struct ShimClient {
    socket: PathBuf,
}

impl ShimClient {
    /// A client for the shim serving `state_dir`; nothing is checked until a call.
    pub fn new(state_dir: &Path) -> ShimClient {
        ShimClient {
            socket: state_dir.join(SOCKET_FILE),
        }
    }

    /// A client for the shim serving `state_dir`, after checking that it accepts connections
    /// (what a restarted daemon does to tell a live shim from a dead one).
    pub fn connect(state_dir: &Path) -> Result<ShimClient> {
        let client = ShimClient::new(state_dir);
        client.open()?;
        Ok(client)
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn open(&self) -> Result<UnixStream> {
        UnixStream::connect(&self.socket).map_err(|source| ClientError::Connect {
            path: self.socket.clone(),
            source,
        })
    }

    fn io(&self, op: &'static str) -> impl FnOnce(io::Error) -> ClientError + '_ {
        move |source| ClientError::Io {
            op,
            path: self.socket.clone(),
            source,
        }
    }

    /// Opens a connection and writes `req` on it.
    fn send(&self, req: &Request) -> Result<UnixStream> {
        let mut stream = self.open()?;
        let mut line = serde_json::to_vec(req).map_err(|e| ClientError::Protocol {
            path: self.socket.clone(),
            message: format!("encoding the request: {e}"),
        })?;
        line.push(b'\n');
        stream.write_all(&line).map_err(self.io("writing to"))?;
        Ok(stream)
    }

    /// Reads one response line from `stream`, leaving the connection positioned right after
    /// it (the line is read byte by byte so no stream data is swallowed).
    fn receive(&self, stream: &mut UnixStream) -> Result<Response> {
        let mut buf = Vec::with_capacity(128);
        let mut byte = [0u8; 1];
        loop {
            match stream.read(&mut byte) {
                Ok(0) => {
                    return Err(ClientError::Protocol {
                        path: self.socket.clone(),
                        message: "connection closed before a response".into(),
                    });
                }
                Ok(_) if byte[0] == b'\n' => break,
                Ok(_) => buf.push(byte[0]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io("reading from")(e)),
            }
            if buf.len() > MAX_LINE {
                return Err(ClientError::Protocol {
                    path: self.socket.clone(),
                    message: "response line too long".into(),
                });
            }
        }
        let resp: Response = serde_json::from_slice(&buf).map_err(|e| ClientError::Protocol {
            path: self.socket.clone(),
            message: format!("bad response {:?}: {e}", String::from_utf8_lossy(&buf)),
        })?;
        if let Response::Error {
            kind,
            message,
            errno,
        } = resp
        {
            return Err(ClientError::Shim {
                kind,
                message,
                errno,
            });
        }
        Ok(resp)
    }

    /// Sends `req` and reads the response line (see [`ShimClient::receive`]).
    fn exchange(&self, req: &Request, timeout: Option<Duration>) -> Result<(UnixStream, Response)> {
        let mut stream = self.send(req)?;
        stream
            .set_read_timeout(timeout)
            .map_err(self.io("configuring"))?;
        let resp = self.receive(&mut stream)?;
        stream
            .set_read_timeout(None)
            .map_err(self.io("configuring"))?;
        Ok((stream, resp))
    }

    fn call(&self, req: &Request, timeout: Option<Duration>) -> Result<Response> {
        self.exchange(req, timeout).map(|(_, resp)| resp)
    }

    fn expect_ok(&self, req: &Request) -> Result<()> {
        match self.call(req, Some(REQUEST_TIMEOUT))? {
            Response::Ok => Ok(()),
            other => Err(self.unexpected(other)),
        }
    }

    fn unexpected(&self, resp: Response) -> ClientError {
        ClientError::Protocol {
            path: self.socket.clone(),
            message: format!("unexpected response {resp:?}"),
        }
    }

    /// Starts the created container.
    pub fn start(&self) -> Result<()> {
        self.expect_ok(&Request::Start)
    }

    /// Sends `signal` to the init (or with `all`, to every process of the container).
    pub fn kill(&self, signal: i32, all: bool) -> Result<()> {
        self.expect_ok(&Request::Kill { signal, all })
    }

    /// Blocks until the container has exited and returns how.
    pub fn wait(&self) -> Result<ExitInfo> {
        match self.call(&Request::Wait, None)? {
            Response::Exited(info) => Ok(info),
            other => Err(self.unexpected(other)),
        }
    }

    /// The container's status.
    pub fn state(&self) -> Result<ShimState> {
        match self.call(&Request::State, Some(REQUEST_TIMEOUT))? {
            Response::State(s) => Ok(s),
            other => Err(self.unexpected(other)),
        }
    }

    /// Freezes the container.
    pub fn pause(&self) -> Result<()> {
        self.expect_ok(&Request::Pause)
    }

    /// Thaws the container.
    pub fn resume(&self) -> Result<()> {
        self.expect_ok(&Request::Resume)
    }

    /// Resizes the container's terminal, or an exec's with `exec_id`.
    pub fn resize(&self, height: u16, width: u16, exec_id: Option<&str>) -> Result<()> {
        self.expect_ok(&Request::Resize {
            height,
            width,
            exec_id: exec_id.map(str::to_string),
        })
    }

    /// Cgroup usage figures.
    pub fn stats(&self) -> Result<Stats> {
        match self.call(&Request::Stats, Some(REQUEST_TIMEOUT))? {
            Response::Stats(s) => Ok(s),
            other => Err(self.unexpected(other)),
        }
    }

    /// Applies new resource limits (OCI `linux.resources` JSON) to the running container.
    pub fn update(&self, resources: serde_json::Value) -> Result<()> {
        self.expect_ok(&Request::Update { resources })
    }

    /// Attaches: returns the connection, on which output arrives (stdcopy-framed if asked) and
    /// to which stdin bytes may be written; `shutdown(Write)` ends stdin. The shim closes it
    /// after the container exits and its output is sent.
    pub fn attach(&self, req: &AttachRequest) -> Result<UnixStream> {
        match self.exchange(&Request::Attach(req.clone()), Some(REQUEST_TIMEOUT))? {
            (stream, Response::Ok) => Ok(stream),
            (_, other) => Err(self.unexpected(other)),
        }
    }

    /// Starts a process in the container and returns its stream, as [`ShimClient::attach`].
    /// Dropping the stream does not stop the process; [`ShimClient::exec_wait`] reports its
    /// exit code.
    pub fn exec(&self, req: &ExecRequest) -> Result<UnixStream> {
        match self.exchange(&Request::Exec(req.clone()), Some(REQUEST_TIMEOUT))? {
            (stream, Response::Ok) => Ok(stream),
            (_, other) => Err(self.unexpected(other)),
        }
    }

    /// Asks for the container's exit without waiting for it: the answer arrives on the returned
    /// connection when the container exits (or the connection closes if the shim dies), so
    /// one event loop can wait on every container at once.
    pub fn send_wait(&self) -> Result<Pending> {
        Ok(Pending {
            client: self.clone(),
            stream: self.send(&Request::Wait)?,
        })
    }

    /// [`ShimClient::send_wait`] for exec `exec_id`'s exit code.
    pub fn send_exec_wait(&self, exec_id: &str) -> Result<Pending> {
        let req = Request::ExecWait {
            exec_id: exec_id.to_string(),
        };
        Ok(Pending {
            client: self.clone(),
            stream: self.send(&req)?,
        })
    }

    /// Blocks until exec `exec_id` has exited and returns its exit code.
    pub fn exec_wait(&self, exec_id: &str) -> Result<i32> {
        let req = Request::ExecWait {
            exec_id: exec_id.to_string(),
        };
        match self.call(&req, None)? {
            Response::ExecExited { exit_code } => Ok(exit_code),
            other => Err(self.unexpected(other)),
        }
    }

    /// Tells the shim the exit is recorded so it may exit (see [`Request::Shutdown`]).
    pub fn shutdown(&self) -> Result<()> {
        self.expect_ok(&Request::Shutdown)
    }
}

/// A request whose answer comes later ([`ShimClient::send_wait`]): poll its descriptor
/// (`AsFd`) for readability, then read the answer with [`Pending::exit`] or
/// [`Pending::exec_exit`].
#[derive(Debug)]
pub struct Pending {
    client: ShimClient,
    stream: UnixStream,
}

/// How long reading an answer that is announced as ready may take.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

impl std::os::fd::AsFd for Pending {
    /// The connection, to register with a poller.
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

impl Pending {
    fn answer(mut self) -> Result<Response> {
        self.stream
            .set_read_timeout(Some(ANSWER_TIMEOUT))
            .map_err(self.client.io("configuring"))?;
        self.client.receive(&mut self.stream)
    }

    /// The container's exit (a shim that died instead gives an error).
    pub fn exit(self) -> Result<ExitInfo> {
        let client = self.client.clone();
        match self.answer()? {
            Response::Exited(info) => Ok(info),
            other => Err(client.unexpected(other)),
        }
    }

    /// The exec's exit code.
    pub fn exec_exit(self) -> Result<i32> {
        let client = self.client.clone();
        match self.answer()? {
            Response::ExecExited { exit_code } => Ok(exit_code),
            other => Err(client.unexpected(other)),
        }
    }
}

/// Waits until the shim serving `state_dir` is ready (its socket accepts connections), fails
/// (its `create-error` file appears), or dies (`shim_pid`, when given, is gone or a zombie).
pub fn wait_ready(
    state_dir: &Path,
    shim_pid: Option<u32>,
    timeout: Duration,
) -> Result<ShimClient> {
    let deadline = Instant::now() + timeout;
    let client = ShimClient::new(state_dir);
    loop {
        if let Ok(text) = std::fs::read_to_string(state_dir.join(CREATE_ERROR_FILE)) {
            return Err(ClientError::CreateFailed(CreateError::parse(&text)));
        }
        if client.socket.exists() && client.open().is_ok() {
            return Ok(client);
        }
        if let Some(pid) = shim_pid
            && !process_alive(pid)
        {
            // It may have written the error just before exiting.
            if let Ok(text) = std::fs::read_to_string(state_dir.join(CREATE_ERROR_FILE)) {
                return Err(ClientError::CreateFailed(CreateError::parse(&text)));
            }
            return Err(ClientError::ShimDied(pid));
        }
        if Instant::now() >= deadline {
            return Err(ClientError::Timeout(timeout));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Whether `pid` exists and is not a zombie.
fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

/// The exit recorded in `state_dir/exit.json`, if the container has exited.
pub fn read_exit(state_dir: &Path) -> io::Result<Option<ExitInfo>> {
    let path = state_dir.join(EXIT_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The shim's pid from `state_dir/shim.pid`, if it is still alive.
pub fn live_shim_pid(state_dir: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(state_dir.join(crate::PID_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    process_alive(pid).then_some(pid)
}
