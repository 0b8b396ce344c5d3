//! One client connection of the control socket and what it is waiting for.
//!
//! A connection first carries a request line; the answer either comes at once, later (a
//! waiter), or starts a stream (attach, exec). Output for clients is queued per connection and
//! written when the socket is writable, so one slow client never blocks the shim; a client
//! that falls [`MAX_QUEUED`] bytes behind is dropped rather than letting the shim grow.

use berth_shim_proto::Response;
use berth_shim_proto::logs::LogStream;
use berth_shim_proto::stdcopy::{self, StdStream};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

/// The most output queued for one client before it is dropped.
pub const MAX_QUEUED: usize = 4 * 1024 * 1024;
/// The longest request line.
pub const MAX_REQUEST: usize = 1024 * 1024;

/// Which process a stream or waiter is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The container's init.
    Init,
    /// An exec, by id.
    Exec(String),
}

/// An attached stream's options.
#[derive(Debug, Clone)]
pub struct Attached {
    /// The process.
    pub target: Target,
    /// Forward stdin.
    pub stdin: bool,
    /// Send stdout.
    pub stdout: bool,
    /// Send stderr.
    pub stderr: bool,
    /// Frame with stdcopy headers.
    pub stdcopy: bool,
    /// Close the process's stdin when this client ends its input.
    pub stdin_once: bool,
}

/// What a connection is doing.
#[derive(Debug, Clone)]
pub enum Phase {
    /// Reading the request line.
    Request,
    /// Waiting for the container's exit.
    WaitExit,
    /// Waiting for an exec's exit.
    WaitExec(String),
    /// Streaming.
    Attached(Attached),
    /// Answered; closes once the queue is written.
    Closing,
}

/// A client connection.
pub struct Conn {
    /// The socket (non-blocking).
    pub stream: UnixStream,
    /// Request bytes read so far (or stdin bytes that came with the request line).
    pub inbuf: Vec<u8>,
    out: Vec<u8>,
    /// The phase.
    pub phase: Phase,
    /// The client has ended its side.
    pub read_closed: bool,
    /// Broken or finished; removed at the end of the loop iteration.
    pub dead: bool,
}

impl Conn {
    /// A new connection reading its request.
    pub fn new(stream: UnixStream) -> Conn {
        Conn {
            stream,
            inbuf: Vec::new(),
            out: Vec::new(),
            phase: Phase::Request,
            read_closed: false,
            dead: false,
        }
    }

    /// Whether output is queued.
    pub fn wants_write(&self) -> bool {
        !self.out.is_empty()
    }

    /// Queues `resp` as a line.
    pub fn respond(&mut self, resp: &Response) {
        if serde_json::to_writer(&mut self.out, resp).is_ok() {
            self.out.push(b'\n');
        }
        self.flush();
    }

    /// Queues `resp` and closes after it is written.
    pub fn respond_and_close(&mut self, resp: &Response) {
        self.phase = Phase::Closing;
        self.respond(resp);
    }

    /// Stops streaming: closes once queued output is written.
    pub fn close_when_flushed(&mut self) {
        self.phase = Phase::Closing;
        self.flush();
    }

    /// Queues process output if this connection streams it.
    pub fn output(&mut self, target: &Target, stream: LogStream, data: &[u8]) {
        let Phase::Attached(a) = &self.phase else {
            return;
        };
        if a.target != *target || self.dead {
            return;
        }
        let (wanted, std) = match stream {
            LogStream::Stdout => (a.stdout, StdStream::Stdout),
            LogStream::Stderr => (a.stderr, StdStream::Stderr),
        };
        if !wanted {
            return;
        }
        if a.stdcopy {
            stdcopy::encode(std, data, &mut self.out);
        } else {
            self.out.extend_from_slice(data);
        }
        self.flush();
        if self.out.len() > MAX_QUEUED {
            tracing::warn!("dropping an attached client that does not keep up");
            self.dead = true;
        }
    }

    /// Writes as much queued output as the socket takes.
    pub fn flush(&mut self) {
        while !self.out.is_empty() && !self.dead {
            match self.stream.write(&self.out) {
                Ok(0) => self.dead = true,
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => self.dead = true,
            }
        }
        if self.out.is_empty() {
            if self.out.capacity() > 64 * 1024 {
                self.out = Vec::new();
            }
            if matches!(self.phase, Phase::Closing) {
                self.dead = true;
            }
        }
    }

    /// Reads what is available (up to 64 KiB) into `inbuf`; notes end of input.
    pub fn read_some(&mut self) {
        let mut buf = [0u8; 16 * 1024];
        for _ in 0..4 {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.read_closed = true;
                    return;
                }
                Ok(n) => self.inbuf.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.read_closed = true;
                    self.dead = true;
                    return;
                }
            }
        }
    }

    /// Takes the request line once complete (without the newline).
    pub fn take_request_line(&mut self) -> Option<Vec<u8>> {
        let pos = self.inbuf.iter().position(|b| *b == b'\n')?;
        let rest = self.inbuf.split_off(pos + 1);
        let mut line = std::mem::replace(&mut self.inbuf, rest);
        line.pop();
        Some(line)
    }
}
