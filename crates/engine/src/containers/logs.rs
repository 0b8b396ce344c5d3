//! `docker logs` and an attach's `logs=1` replay: a container's json-file log read (and
//! followed) as a feed of lines, each tagged with its stream.
//!
//! Reading files and waiting for new lines are the engine's business; framing the lines for
//! the wire (stdcopy, or raw for a TTY) is the API's. The feed is one async task per reader:
//! file reads run on blocking threads one batch at a time, and waiting (for a slow client, or
//! for new lines to follow) holds no thread. A reader that goes away closes the channel, which
//! ends the task.

use super::Containers;
use crate::EngineError;
use berth_api_types::stdcopy::StdStream;
use berth_shim_proto::logs::{Entry, LogStream, ReadOptions, Reader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

type Result<T> = std::result::Result<T, EngineError>;

/// Log entries read per blocking batch.
const LOG_BATCH: usize = 256;
/// How long a follower waits for new lines, doubling while none come.
const FOLLOW_MIN_WAIT: Duration = Duration::from_millis(25);
const FOLLOW_MAX_WAIT: Duration = Duration::from_millis(250);
/// Lines buffered between the reader task and a slow client.
const FEED_DEPTH: usize = 64;

/// What `docker logs` asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogOptions {
    /// Lines the container wrote to stdout.
    pub stdout: bool,
    /// Lines the container wrote to stderr.
    pub stderr: bool,
    /// Prefix each line with the time it was logged (RFC 3339, nanoseconds).
    pub timestamps: bool,
    /// Keep going with new lines until the container stops.
    pub follow: bool,
    /// Only lines logged at or after this time (ns since the epoch).
    pub since: Option<i128>,
    /// Only lines logged before this time (ns since the epoch).
    pub until: Option<i128>,
    /// Only the last `n` lines.
    pub tail: Option<usize>,
}

/// One logged line as a client reads it: its text (after the timestamp, when asked for) and
/// the stream it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Stdout or stderr.
    pub stream: StdStream,
    /// The text, newline included.
    pub text: Vec<u8>,
}

/// The lines of one `docker logs`, as they are read.
pub struct LogFeed {
    /// Whether the container has a TTY (its lines go raw rather than stdcopy-framed).
    pub tty: bool,
    /// The lines; the channel closes at the end of the log (or, following, once the container
    /// stopped and nothing more came).
    pub lines: mpsc::Receiver<LogLine>,
}

/// Where a container's log is and how it is read.
struct LogSource {
    path: PathBuf,
    tty: bool,
    enabled: bool,
}

impl LogOptions {
    /// The entry as a line, or `None` for a stream the reader did not ask for.
    fn line(&self, e: &Entry) -> Option<LogLine> {
        let stream = match e.stream {
            LogStream::Stdout if self.stdout => StdStream::Stdout,
            LogStream::Stderr if self.stderr => StdStream::Stderr,
            _ => return None,
        };
        let mut text = Vec::with_capacity(e.log.len() + 32);
        if self.timestamps {
            text.extend_from_slice(e.time.as_bytes());
            text.push(b' ');
        }
        text.extend_from_slice(e.log.as_bytes());
        Some(LogLine { stream, text })
    }

    fn read_options(&self) -> ReadOptions {
        ReadOptions {
            since: self.since,
            until: self.until,
            tail: self.tail,
        }
    }
}

impl Containers {
    fn log_source(&self, key: &str) -> Result<LogSource> {
        let entry = self.store.get(key)?;
        let rec = entry.snapshot();
        Ok(LogSource {
            path: super::log_path(entry.dir(), &rec.id),
            tty: rec.config.tty,
            enabled: rec.host_config.log_config.kind != "none",
        })
    }

    /// `docker logs`: the container's log as a feed (see the module doc).
    pub fn logs(self: &Arc<Self>, key: &str, opts: LogOptions) -> Result<LogFeed> {
        if !opts.stdout && !opts.stderr {
            return Err(EngineError::InvalidArgument(
                "Bad parameters: you must choose at least one stream".into(),
            ));
        }
        let source = self.log_source(key)?;
        if !source.enabled {
            return Err(EngineError::InvalidArgument(
                "configured logging driver does not support reading".into(),
            ));
        }
        let (tx, lines) = mpsc::channel(FEED_DEPTH);
        let this = self.clone();
        let key = key.to_string();
        tokio::spawn(async move { this.feed(&key, &source.path, opts, tx).await });
        Ok(LogFeed {
            tty: source.tty,
            lines,
        })
    }

    /// The log so far, all at once (an attach's `logs=1`): empty without a json-file log.
    pub fn logged_lines(&self, key: &str, stdout: bool, stderr: bool) -> Result<Vec<LogLine>> {
        let source = self.log_source(key)?;
        if !source.enabled {
            return Ok(Vec::new());
        }
        let opts = LogOptions {
            stdout,
            stderr,
            ..LogOptions::default()
        };
        let Ok(reader) = Reader::open(&source.path, ReadOptions::default()) else {
            return Ok(Vec::new());
        };
        Ok(reader.flatten().filter_map(|e| opts.line(&e)).collect())
    }

    /// Whether the container is running (or about to restart): a follower goes on until not.
    fn still_logging(&self, key: &str) -> bool {
        self.store
            .get(key)
            .map(|e| {
                e.read(|r| {
                    r.state.status.is_running()
                        || r.state.status == super::record::Status::Restarting
                })
            })
            .unwrap_or(false)
    }

    async fn feed(&self, key: &str, path: &Path, opts: LogOptions, tx: mpsc::Sender<LogLine>) {
        let path = path.to_path_buf();
        let read_opts = opts.read_options();
        let opened = tokio::task::spawn_blocking(move || Reader::open(&path, read_opts)).await;
        let mut reader = match opened {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "opening the log");
                return;
            }
            Err(_) => return,
        };
        loop {
            let batch = tokio::task::spawn_blocking(move || {
                let got: Vec<_> = reader.by_ref().take(LOG_BATCH).collect();
                (reader, got)
            })
            .await;
            let Ok((back, got)) = batch else { return };
            reader = back;
            let done = got.len() < LOG_BATCH;
            for entry in got {
                let Ok(e) = entry else { return };
                if let Some(line) = opts.line(&e)
                    && tx.send(line).await.is_err()
                {
                    return;
                }
            }
            if done {
                break;
            }
        }
        if !opts.follow {
            return;
        }
        let mut follower = reader.into_follower();
        let mut idle = FOLLOW_MIN_WAIT;
        loop {
            let running = self.still_logging(key);
            let polled = tokio::task::spawn_blocking(move || {
                let got = follower.poll();
                (follower, got)
            })
            .await;
            let Ok((back, got)) = polled else { return };
            follower = back;
            let Ok(got) = got else { return };
            let empty = got.is_empty();
            for e in &got {
                if let Some(line) = opts.line(e)
                    && tx.send(line).await.is_err()
                {
                    return;
                }
            }
            if !running && empty {
                return;
            }
            if empty {
                tokio::select! {
                    () = tokio::time::sleep(idle) => {}
                    () = tx.closed() => return,
                }
                idle = (idle * 2).min(FOLLOW_MAX_WAIT);
            } else {
                idle = FOLLOW_MIN_WAIT;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(stream: LogStream, log: &str) -> Entry {
        Entry {
            log: log.into(),
            stream,
            time: "2026-12-02T07:00:00.000000001Z".into(),
        }
    }

    #[test]
    fn lines_keep_only_the_asked_streams_and_carry_timestamps_when_asked() {
        let opts = LogOptions {
            stdout: true,
            timestamps: true,
            ..LogOptions::default()
        };
        assert_eq!(opts.line(&entry(LogStream::Stderr, "e\n")), None);
        let line = opts.line(&entry(LogStream::Stdout, "o\n")).unwrap();
        assert_eq!(line.stream, StdStream::Stdout);
        assert_eq!(line.text, b"2026-12-02T07:00:00.000000001Z o\n");
        let plain = LogOptions {
            stderr: true,
            ..LogOptions::default()
        };
        let line = plain.line(&entry(LogStream::Stderr, "e\n")).unwrap();
        assert_eq!(
            (line.stream, line.text),
            (StdStream::Stderr, b"e\n".to_vec())
        );
    }
}
