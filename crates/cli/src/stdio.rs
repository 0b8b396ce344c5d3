//! The local end of `run`, `start -a`, `attach` and `exec`: copying a hijacked connection to
//! the terminal and stdin to the connection, the way the docker CLI's `hijackedIOStreamer`
//! does.
//!
//! - Output is stdcopy-demultiplexed to stdout and stderr when the process has no TTY, copied
//!   raw otherwise; the command ends when the output ends.
//! - Stdin is read on a plain thread (a blocking read on a terminal must not keep the async
//!   runtime from finishing), and its end of file half-closes the connection so the process
//!   sees EOF while its output keeps flowing.
//! - With a TTY, the local terminal is put in raw mode (restored on drop) and the detach keys
//!   (`ctrl-p,ctrl-q` by default) are caught locally: the stream is closed and the process
//!   left running.
//! - The container's TTY follows the local terminal's size (`SIGWINCH`), and without a TTY the
//!   signals the CLI receives are forwarded to the container (`--sig-proxy`).

use anyhow::{Result, bail};
use berth_client::stdcopy::demux;
use berth_client::{Client, HijackedStream};
use std::io::{IsTerminal, Read};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// Docker's default detach sequence.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// Parses a detach-key sequence (`ctrl-p,ctrl-q`, `a,ctrl-@`) into bytes, as Docker's
/// `term.ToBytes` does.
pub fn parse_detach_keys(keys: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for key in keys.split(',') {
        if key.len() == 1 {
            out.push(key.as_bytes()[0]);
            continue;
        }
        let lower = key.to_ascii_lowercase();
        let code = lower
            .strip_prefix("ctrl-")
            .and_then(|c| match c.as_bytes() {
                [b'@'] => Some(0),
                [c @ b'a'..=b'z'] => Some(c - b'a' + 1),
                [b'['] => Some(27),
                [b'\\'] => Some(28),
                [b']'] => Some(29),
                [b'^'] => Some(30),
                [b'_'] => Some(31),
                _ => None,
            });
        match code {
            Some(c) => out.push(c),
            None => bail!("Unknown character: '{key}'"),
        }
    }
    Ok(out)
}

/// The detach bytes for a `--detach-keys` value, falling back on the default with Docker's
/// warning when the value does not parse.
pub fn detach_bytes(keys: Option<&str>) -> Vec<u8> {
    match keys.filter(|k| !k.is_empty()) {
        None => parse_detach_keys(DEFAULT_DETACH_KEYS).unwrap_or_default(),
        Some(k) => parse_detach_keys(k).unwrap_or_else(|e| {
            eprintln!("invalid detach escape keys, using default: {e}");
            parse_detach_keys(DEFAULT_DETACH_KEYS).unwrap_or_default()
        }),
    }
}

/// Watches typed input for the detach sequence. Bytes that start the sequence are held back
/// until it is clear whether they complete it; if not, they are passed on.
#[derive(Debug, Clone)]
pub struct EscapeProxy {
    keys: Vec<u8>,
    held: usize,
}

impl EscapeProxy {
    /// A proxy for `keys` (must not be empty).
    pub fn new(keys: Vec<u8>) -> EscapeProxy {
        EscapeProxy { keys, held: 0 }
    }

    /// Feeds typed bytes; returns what to send on and whether the sequence was completed
    /// (then nothing after it is sent).
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return (out, false);
        }
        for &b in input {
            if b == self.keys[self.held] {
                self.held += 1;
            } else {
                out.extend_from_slice(&self.keys[..self.held]);
                self.held = 0;
                if b == self.keys[0] {
                    self.held = 1;
                } else {
                    out.push(b);
                }
            }
            if self.held == self.keys.len() {
                self.held = 0;
                return (out, true);
            }
        }
        (out, false)
    }
}

/// Saved terminal settings of stdin; dropping this restores them.
pub struct RawTerminal {
    saved: rustix::termios::Termios,
}

impl RawTerminal {
    /// Puts stdin in raw mode if it is a terminal; `None` if it is not.
    pub fn enable() -> Result<Option<RawTerminal>> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Ok(None);
        }
        let saved = rustix::termios::tcgetattr(&stdin)?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &raw)?;
        Ok(Some(RawTerminal { saved }))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            std::io::stdin(),
            rustix::termios::OptionalActions::Now,
            &self.saved,
        );
    }
}

impl std::fmt::Debug for RawTerminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawTerminal")
    }
}

/// The size of the terminal on stdout as `(height, width)`, `None` when it is not a terminal.
pub fn terminal_size() -> Option<(u16, u16)> {
    let out = std::io::stdout();
    if !out.is_terminal() {
        return None;
    }
    let ws = rustix::termios::tcgetwinsize(&out).ok()?;
    if ws.ws_row == 0 && ws.ws_col == 0 {
        return None;
    }
    Some((ws.ws_row, ws.ws_col))
}

/// What to stream and how.
#[derive(Debug, Clone, Default)]
pub struct StreamOptions {
    /// Send local stdin.
    pub stdin: bool,
    /// stdout is attached.
    pub stdout: bool,
    /// stderr is attached.
    pub stderr: bool,
    /// The process has a TTY: raw terminal and local detach keys.
    pub tty: bool,
    /// The detach sequence (used with a TTY).
    pub detach_keys: Vec<u8>,
}

/// How a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The output ended (the process exited or the daemon closed the stream).
    Finished,
    /// The user typed the detach sequence.
    Detached,
}

/// Reads stdin on a dedicated thread, chunk by chunk; the channel closes at end of file.
fn stdin_chunks() -> mpsc::Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(4);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx.blocking_send(Ok(buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
    });
    rx
}

/// Copies raw output, flushing every chunk (a shell prompt has no newline to flush on).
async fn copy_flushing<R, W>(mut reader: R, out: &mut W) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        out.write_all(&buf[..n]).await?;
        out.flush().await?;
    }
}

/// Streams a hijacked connection to the local stdio until the output ends or the user
/// detaches.
pub async fn stream(hijacked: HijackedStream, o: &StreamOptions) -> Result<StreamEnd> {
    let _raw = if o.stdin && o.tty {
        RawTerminal::enable()?
    } else {
        None
    };
    stream_io(
        hijacked,
        o,
        if o.stdin { Some(stdin_chunks()) } else { None },
    )
    .await
}

/// [`stream`] with the input given as a channel of chunks (tests feed it directly).
pub async fn stream_io(
    hijacked: HijackedStream,
    o: &StreamOptions,
    input: Option<mpsc::Receiver<std::io::Result<Vec<u8>>>>,
) -> Result<StreamEnd> {
    let multiplexed = hijacked.is_multiplexed();
    let (reader, mut writer) = hijacked.into_split();
    let output = async move {
        let mut out = tokio::io::stdout();
        if multiplexed {
            let mut err = tokio::io::stderr();
            demux(reader, &mut out, &mut err).await?;
        } else {
            copy_flushing(reader, &mut out).await?;
        }
        anyhow::Ok(())
    };
    let detach = if o.tty && !o.detach_keys.is_empty() {
        Some(EscapeProxy::new(o.detach_keys.clone()))
    } else {
        None
    };
    let input = async move {
        let Some(mut rx) = input else {
            // Nothing to send: keep the write half open for as long as the output flows.
            std::future::pending::<()>().await;
            return StreamEnd::Finished;
        };
        let mut detach = detach;
        while let Some(chunk) = rx.recv().await {
            let Ok(chunk) = chunk else { break };
            let (data, detached) = match detach.as_mut() {
                Some(p) => p.feed(&chunk),
                None => (chunk, false),
            };
            if !data.is_empty()
                && (writer.write_all(&data).await.is_err() || writer.flush().await.is_err())
            {
                // The process is gone; its output tells the rest.
                return StreamEnd::Finished;
            }
            if detached {
                return StreamEnd::Detached;
            }
        }
        // End of input: half-close so the process reads EOF.
        let _ = writer.shutdown().await;
        StreamEnd::Finished
    };
    tokio::pin!(output);
    tokio::pin!(input);
    tokio::select! {
        r = &mut output => {
            r?;
            Ok(StreamEnd::Finished)
        }
        end = &mut input => {
            if end == StreamEnd::Detached {
                return Ok(StreamEnd::Detached);
            }
            if o.stdout || o.stderr {
                output.await?;
            }
            Ok(StreamEnd::Finished)
        }
    }
}

/// Resizes the container's (or exec's) TTY to the local terminal now and on every `SIGWINCH`.
/// The first resize is retried briefly: an exec's process may not exist yet.
pub async fn monitor_tty_size(client: Client, id: String, exec: bool) {
    async fn resize(client: &Client, id: &str, exec: bool) -> bool {
        let Some((h, w)) = terminal_size() else {
            return true;
        };
        let r = if exec {
            client.exec_resize(id, h, w).await
        } else {
            client.container_resize(id, h, w).await
        };
        r.is_ok()
    }
    for attempt in 0..10u64 {
        if resize(&client, &id, exec).await {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10 * (attempt + 1))).await;
    }
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut winch) = signal(SignalKind::window_change()) else {
            return;
        };
        while winch.recv().await.is_some() {
            resize(&client, &id, exec).await;
        }
    });
}

/// Signals forwarded to the container by `--sig-proxy` (Docker forwards all but `SIGCHLD`,
/// `SIGPIPE`, `SIGURG` and `SIGWINCH`; these are the ones a terminal user sends).
const PROXIED: &[(i32, &str)] = &[
    (libc::SIGINT, "SIGINT"),
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGHUP, "SIGHUP"),
    (libc::SIGQUIT, "SIGQUIT"),
    (libc::SIGUSR1, "SIGUSR1"),
    (libc::SIGUSR2, "SIGUSR2"),
];

/// Forwards the signals the CLI receives to the container until the returned task is aborted.
pub fn forward_signals(client: Client, id: String) -> tokio::task::JoinHandle<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, mut rx) = mpsc::unbounded_channel::<&'static str>();
    for &(num, name) in PROXIED {
        let Ok(mut s) = signal(SignalKind::from_raw(num)) else {
            continue;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            while s.recv().await.is_some() {
                if tx.send(name).is_err() {
                    break;
                }
            }
        });
    }
    tokio::spawn(async move {
        while let Some(name) = rx.recv().await {
            if let Err(e) = client.container_kill(&id, Some(name)).await {
                eprintln!("error sending signal {name}: {e}");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_like_docker() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), [16, 17]);
        assert_eq!(
            parse_detach_keys("ctrl-@,a,ctrl-[,ctrl-_").unwrap(),
            [0, b'a', 27, 31]
        );
        assert_eq!(parse_detach_keys("CTRL-A").unwrap(), [1]);
        assert_eq!(
            parse_detach_keys("ctrl-1").unwrap_err().to_string(),
            "Unknown character: 'ctrl-1'"
        );
        assert_eq!(
            parse_detach_keys("abc").unwrap_err().to_string(),
            "Unknown character: 'abc'"
        );
        assert_eq!(detach_bytes(None), [16, 17]);
        assert_eq!(detach_bytes(Some("bogus")), [16, 17]);
        assert_eq!(detach_bytes(Some("ctrl-x")), [24]);
    }

    #[test]
    fn escape_proxy_holds_prefixes_and_detects_sequences() {
        let mut p = EscapeProxy::new(vec![16, 17]);
        assert_eq!(p.feed(b"ab"), (b"ab".to_vec(), false));
        // A held ctrl-p followed by something else is passed on.
        assert_eq!(p.feed(&[16]), (vec![], false));
        assert_eq!(p.feed(b"x"), (vec![16, b'x'], false));
        // ctrl-p ctrl-p ctrl-q: the first is passed on, the rest detaches.
        assert_eq!(p.feed(&[16, 16, 17, b'z']), (vec![16], true));
        // Split across reads.
        let mut p = EscapeProxy::new(vec![16, 17]);
        assert_eq!(p.feed(b"hi\x10"), (b"hi".to_vec(), false));
        assert_eq!(p.feed(&[17]), (vec![], true));
        let mut p = EscapeProxy::new(vec![b'q']);
        assert_eq!(p.feed(b"aqb"), (b"a".to_vec(), true));
    }
}
