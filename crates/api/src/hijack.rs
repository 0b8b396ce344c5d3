//! Hijacked connections: `POST /containers/{id}/attach` and `POST /exec/{id}/start` turn the
//! HTTP connection into a raw two-way byte stream, as Docker's clients expect.
//!
//! The client asks with `Connection: Upgrade` and `Upgrade: tcp`; the answer is `101 UPGRADED`
//! with the stream's content type, and after it the connection carries the container's output
//! (stdcopy-framed unless the container has a TTY) one way and its stdin the other. The shim
//! already speaks exactly that on its attach/exec sockets, so this module only pipes bytes:
//! output until the shim closes it (the process ended), input until the client half-closes
//! (then stdin is closed) or types the detach keys (then the connection ends, the process
//! keeps running).

use crate::error::ApiError;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use std::future::Future;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The default detach sequence: ctrl-p, ctrl-q.
pub const DEFAULT_DETACH_KEYS: &[u8] = &[0x10, 0x11];

/// The process's side of a hijacked connection: the engine's stdio stream (or, in tests, any
/// two-way byte stream).
pub trait ProcessIo: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> ProcessIo for T {}

/// What to pipe once the connection is upgraded.
pub struct Pipe {
    /// Bytes sent to the client before the stream's (an attach's `logs=1` replay).
    pub prelude: Vec<u8>,
    /// The process's stream; `None` ends the session after the prelude (`stream=0`).
    pub stream: Option<Box<dyn ProcessIo>>,
    /// Forward the client's bytes to the process's stdin.
    pub stdin: bool,
    /// Detach sequence, checked only on TTY streams (binary stdin could contain it).
    pub detach_keys: Option<Vec<u8>>,
    /// Called once the stream has ended, before the connection closes (exec uses it to
    /// collect the exit code so an inspect right after sees it).
    pub on_end: Option<Box<dyn FnOnce() + Send>>,
    /// Input the client sent before the stream was ready, forwarded first.
    pub early_input: Vec<u8>,
}

/// Input kept from a client while its stream is being made.
const MAX_EARLY_INPUT: usize = 64 * 1024;
/// How often a client that closed its input is checked for having gone altogether, while its
/// stream is being made.
const HANG_UP_CHECK: std::time::Duration = std::time::Duration::from_millis(500);

/// Whether the peer of `socket` closed it (not just its writing side).
fn hung_up(socket: &tokio::net::UnixStream) -> bool {
    use rustix::event::{PollFd, PollFlags, poll};
    let mut fds = [PollFd::new(socket, PollFlags::empty())];
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    poll(&mut fds, Some(&zero)).is_ok() && fds[0].revents().contains(PollFlags::HUP)
}

/// Whether the client asked for an upgrade.
pub fn wants_upgrade(req: &Request) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"))
}

/// Answers `101` and, once the client has the answer, runs `make` (which may wait, e.g. until
/// a container starts) and pipes what it returns. A client that did not ask for the upgrade
/// gets the output as a plain `200` body instead ([`without_upgrade`]).
pub fn upgrade<F, Fut>(mut req: Request, tty: bool, make: F) -> Result<Response, ApiError>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<Pipe, ApiError>> + Send + 'static,
{
    if !wants_upgrade(&req) {
        return Ok(without_upgrade(tty, make));
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(error = %e, "upgrade failed");
                return;
            }
        };
        // The daemon's own connections are unix streams: with the socket itself at hand, a
        // client that closes while its stream is being made can be told from one that only
        // closed its input (POLLHUP), so it does not leave an attach waiting forever.
        let (socket, early_bytes) = match upgraded.downcast::<TokioIo<tokio::net::UnixStream>>() {
            Ok(parts) => (Some(parts.io.into_inner()), parts.read_buf.to_vec()),
            Err(_) => {
                tracing::debug!("a hijacked connection that is not a unix stream");
                return;
            }
        };
        let Some(mut client) = socket else { return };
        // While the stream is being made (an attach waits for the container's start), the
        // client is read too: what it sends is kept for the process, and the wait ends if the
        // client goes away.
        let mut early = early_bytes;
        let made = {
            let made = make();
            tokio::pin!(made);
            let mut buf = [0u8; 4096];
            let mut input_done = false;
            loop {
                tokio::select! {
                    made = &mut made => break Some(made),
                    read = client.read(&mut buf), if !input_done && early.len() < MAX_EARLY_INPUT => match read {
                        Ok(0) => input_done = true,
                        Ok(n) => early.extend_from_slice(&buf[..n]),
                        Err(_) => break None,
                    },
                    () = tokio::time::sleep(HANG_UP_CHECK), if input_done => {
                        if hung_up(&client) {
                            break None;
                        }
                    }
                }
            }
        };
        let Some(made) = made else {
            tracing::debug!("the client left before its stream was ready");
            return;
        };
        let mut pipe = match made {
            Ok(p) => p,
            Err(e) => {
                // The status line is gone; tell the client in the stream.
                let _ = client.write_all(&error_bytes(tty, &e.message)).await;
                let _ = client.shutdown().await;
                return;
            }
        };
        pipe.early_input = early;
        if let Err(e) = run_pipe(&mut client, pipe).await {
            tracing::debug!(error = %e, "hijacked stream ended with an error");
        }
        let _ = client.shutdown().await;
    });
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(tty)),
    );
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    Ok(resp)
}

/// The stream's content type.
fn content_type(tty: bool) -> &'static str {
    if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    }
}

/// A client that did not ask for an upgrade gets what moby gives it: a `200` whose body is the
/// stream's output, until the process ends; there is no input channel (its request body was
/// the start options).
fn without_upgrade<F, Fut>(tty: bool, make: F) -> Response
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<Pipe, ApiError>> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(16);
    tokio::spawn(async move {
        let pipe = match make().await {
            Ok(p) => p,
            Err(e) => {
                let _ = tx.send(Ok(error_bytes(tty, &e.message).into())).await;
                return;
            }
        };
        let Pipe {
            prelude,
            stream,
            on_end,
            ..
        } = pipe;
        if !prelude.is_empty() && tx.send(Ok(prelude.into())).await.is_err() {
            return;
        }
        let Some(mut shim) = stream else { return };
        // No input will come: the process sees end of file on its stdin.
        let _ = shim.shutdown().await;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            tokio::select! {
                read = shim.read(&mut buf) => match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(Ok(bytes::Bytes::copy_from_slice(&buf[..n]))).await.is_err() {
                            return;
                        }
                    }
                },
                () = tx.closed() => return,
            }
        }
        if let Some(f) = on_end {
            let _ = tokio::task::spawn_blocking(f).await;
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(tty)),
    );
    resp
}

/// An error told in the stream after the status line is gone, framed as stdout when the
/// stream is multiplexed (as Docker does).
fn error_bytes(tty: bool, message: &str) -> Vec<u8> {
    let text = format!("{message}\r\n");
    let mut bytes = Vec::new();
    if tty {
        bytes.extend_from_slice(text.as_bytes());
    } else {
        berth_api_types::stdcopy::encode(
            berth_api_types::stdcopy::StdStream::Stdout,
            text.as_bytes(),
            &mut bytes,
        );
    }
    bytes
}

async fn run_pipe<C>(client: &mut C, pipe: Pipe) -> std::io::Result<()>
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if !pipe.prelude.is_empty() {
        client.write_all(&pipe.prelude).await?;
    }
    let Some(shim) = pipe.stream else {
        return Ok(());
    };
    let (mut shim_r, mut shim_w) = tokio::io::split(shim);
    let (client_r, mut client_w) = tokio::io::split(client);
    // What the client sent while the stream was being made comes first.
    let mut client_r = std::io::Cursor::new(pipe.early_input).chain(client_r);
    let detach = pipe.detach_keys.clone();
    let stdin = pipe.stdin;
    let input = async move {
        if !stdin {
            // Still read, so a client closing its side is noticed; discard what comes.
            let mut sink = [0u8; 1024];
            while client_r
                .read(&mut sink)
                .await
                .map(|n| n > 0)
                .unwrap_or(false)
            {}
            return InputEnd::Eof;
        }
        let mut buf = [0u8; 8192];
        let mut matched = 0usize;
        loop {
            let n = match client_r.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = shim_w.shutdown().await;
                    return InputEnd::Eof;
                }
                Ok(n) => n,
            };
            let mut data = &buf[..n];
            if let Some(keys) = &detach {
                // Bytes that may start the detach sequence are held back until it is decided.
                let mut out = Vec::with_capacity(n);
                for &b in data {
                    if b == keys[matched] {
                        matched += 1;
                        if matched == keys.len() {
                            // What came before the sequence still goes to the process.
                            let _ = shim_w.write_all(&out).await;
                            return InputEnd::Detached;
                        }
                    } else {
                        out.extend_from_slice(&keys[..matched]);
                        matched = 0;
                        if b == keys[0] {
                            matched = 1;
                        } else {
                            out.push(b);
                        }
                    }
                }
                if shim_w.write_all(&out).await.is_err() {
                    return InputEnd::Eof;
                }
                data = &[];
            }
            if !data.is_empty() && shim_w.write_all(data).await.is_err() {
                return InputEnd::Eof;
            }
        }
    };
    let on_end = pipe.on_end;
    let output = async {
        let r = tokio::io::copy(&mut shim_r, &mut client_w).await;
        let _ = client_w.flush().await;
        // Before the client sees the end: what it asks next (an exec's exit code) is ready.
        if let Some(f) = on_end {
            let _ = tokio::task::spawn_blocking(f).await;
        }
        // FIN: the client reads all output, then the end of the stream.
        let _ = client_w.shutdown().await;
        r
    };
    tokio::pin!(input);
    tokio::pin!(output);
    // The output ending (process gone) ends the session; the input ending only ends stdin,
    // unless it was the detach sequence.
    let mut input_done = false;
    loop {
        tokio::select! {
            r = &mut output => {
                r?;
                break;
            }
            end = &mut input, if !input_done => {
                input_done = true;
                if end == InputEnd::Detached {
                    break;
                }
            }
        }
    }
    if !input_done {
        // Let the client finish sending (it closes once it has read the FIN): closing with
        // unread input would reset the connection, and a reset can discard output in flight.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), &mut input).await;
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum InputEnd {
    Eof,
    Detached,
}

/// Parses Docker's `detachKeys` (`ctrl-p,ctrl-q`, `a,ctrl-@`); empty means the default.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, ApiError> {
    if spec.is_empty() {
        return Ok(DEFAULT_DETACH_KEYS.to_vec());
    }
    let mut out = Vec::new();
    for part in spec.split(',') {
        let bad = || ApiError::bad_request(format!("Invalid detach keys ({spec}) provided"));
        if let Some(c) = part.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [b'@'] => 0,
                [c @ b'a'..=b'z'] => c - b'a' + 1,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => return Err(bad()),
            };
            out.push(b);
        } else if part.len() == 1 {
            out.push(part.as_bytes()[0]);
        } else {
            return Err(bad());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys() {
        assert_eq!(parse_detach_keys("").unwrap(), vec![0x10, 0x11]);
        assert_eq!(parse_detach_keys("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("abc").is_err());
    }

    #[tokio::test]
    async fn pipe_forwards_both_ways_and_detaches() {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        theirs.set_nonblocking(true).unwrap();
        let theirs = tokio::net::UnixStream::from_std(theirs).unwrap();
        let (mut client, mut server_side) = tokio::io::duplex(1024);
        let task = tokio::spawn(async move {
            run_pipe(
                &mut server_side,
                Pipe {
                    prelude: Vec::new(),
                    stream: Some(Box::new(theirs)),
                    stdin: true,
                    detach_keys: Some(vec![0x10, 0x11]),
                    on_end: None,
                    early_input: b"early ".to_vec(),
                },
            )
            .await
        });
        let mut shim = ours;
        use std::io::{Read, Write};
        shim.write_all(b"out").unwrap();
        let mut got = [0u8; 3];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"out");
        client.write_all(b"a\x10b\x10\x11ignored").await.unwrap();
        task.await.unwrap().unwrap();
        let mut input = Vec::new();
        shim.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let mut buf = [0u8; 32];
        while input.len() < 9 {
            let n = shim.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            input.extend_from_slice(&buf[..n]);
        }
        assert_eq!(
            input, b"early a\x10b",
            "early input first, then the client's"
        );
    }
}
