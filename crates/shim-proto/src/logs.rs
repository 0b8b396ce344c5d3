//! Docker's json-file logs: the entry format, the rotation naming, and reading them back.
//!
//! The shim writes `<log>` and rotates it to `<log>.1`, `<log>.2`, … (`.1` is the newest
//! rotated file). The engine reads logs straight from these files, so `docker logs` works
//! whether or not the shim still runs: [`Reader`] yields entries oldest → newest across all the
//! files with `since`/`until`/`tail` filters, and [`Follower`] continues from where a reader
//! stopped, across rotations: it notices the path now names another inode, drains the old file,
//! and opens the new one. With `max-file 1` the shim replaces the file by a new one renamed
//! over it (rather than truncating), so that case is a rotation too; in-place truncation is
//! still noticed when the file shrinks below the read position.
//!
//! Everything here is synchronous and polling-based; the engine calls it on blocking threads.

use crate::timefmt;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Which output stream an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    /// Standard output (and everything from a TTY).
    Stdout,
    /// Standard error.
    Stderr,
}

impl LogStream {
    /// The name used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }
}

/// One json-file line: `{"log":"text\n","stream":"stdout","time":"…Z"}`. A `log` without a
/// trailing newline is a partial line (longer than 16 KiB, or the last output before exit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The text, newline included.
    pub log: String,
    /// The stream.
    pub stream: LogStream,
    /// When the shim read it, RFC 3339 with nanoseconds.
    pub time: String,
}

impl Entry {
    /// The time as nanoseconds since the epoch (`None` if unparsable).
    pub fn time_nanos(&self) -> Option<i128> {
        timefmt::parse_nanos(&self.time)
    }
}

#[derive(Serialize)]
struct EntryRef<'a> {
    log: &'a str,
    stream: &'a str,
    time: &'a str,
}

/// Encodes one entry as a json-file line (newline included), into `out`. Invalid UTF-8 is
/// replaced with U+FFFD, as Docker's Go encoder does.
pub fn encode_line(stream: LogStream, text: &[u8], time: &str, out: &mut Vec<u8>) {
    let log = String::from_utf8_lossy(text);
    let entry = EntryRef {
        log: &log,
        stream: stream.as_str(),
        time,
    };
    // Serialising strings into a Vec cannot fail.
    if serde_json::to_writer(&mut *out, &entry).is_ok() {
        out.push(b'\n');
    }
}

/// The path of rotated file number `n` (`n = 0` is the live file).
pub fn rotated_path(path: &Path, n: u32) -> PathBuf {
    if n == 0 {
        return path.to_path_buf();
    }
    let mut s = path.as_os_str().to_os_string();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Filters for [`Reader`].
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Only entries at or after this time (ns since the epoch).
    pub since: Option<i128>,
    /// Only entries before this time (ns since the epoch).
    pub until: Option<i128>,
    /// Only the last `n` entries (after the time filters).
    pub tail: Option<usize>,
}

impl ReadOptions {
    fn admits(&self, e: &Entry) -> bool {
        if self.since.is_none() && self.until.is_none() {
            return true;
        }
        let Some(t) = e.time_nanos() else {
            return false;
        };
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
}

/// Opens the files of a log oldest first; the live file is last (absent files are skipped).
fn open_all(path: &Path) -> io::Result<Vec<(PathBuf, File)>> {
    let mut n = 1;
    while rotated_path(path, n).exists() {
        n += 1;
    }
    let mut files = Vec::new();
    for i in (0..n).rev() {
        let p = rotated_path(path, i);
        match File::open(&p) {
            Ok(f) => files.push((p, f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(files)
}

/// Reads complete lines of one file; a trailing partial line (being written) is left unread so
/// a [`Follower`] can pick it up.
struct LineFile {
    path: PathBuf,
    reader: BufReader<File>,
    pos: u64,
    partial: Vec<u8>,
}

impl LineFile {
    fn new(path: PathBuf, file: File, pos: u64) -> LineFile {
        LineFile {
            path,
            reader: BufReader::with_capacity(16 * 1024, file),
            pos,
            partial: Vec::new(),
        }
    }

    /// The next complete entry, `None` at the current end of the file. Lines that are not
    /// entries are skipped.
    fn next_entry(&mut self) -> io::Result<Option<Entry>> {
        loop {
            let n = self.reader.read_until(b'\n', &mut self.partial)?;
            if n == 0 {
                return Ok(None);
            }
            self.pos += n as u64;
            if self.partial.last() != Some(&b'\n') {
                continue; // EOF inside a line: keep it for later.
            }
            let line = std::mem::take(&mut self.partial);
            if let Ok(e) = serde_json::from_slice::<Entry>(&line) {
                return Ok(Some(e));
            }
        }
    }

    fn inode(&self) -> io::Result<(u64, u64)> {
        let m = self.reader.get_ref().metadata()?;
        Ok((m.dev(), m.ino()))
    }
}

/// Entries of a log, oldest first, across its rotated files. All files are opened up front,
/// so a rotation while reading loses nothing.
pub struct Reader {
    path: PathBuf,
    opts: ReadOptions,
    files: VecDeque<LineFile>,
    tail: Option<VecDeque<Entry>>,
}

impl Reader {
    /// Opens the log at `path` (the live file's path). A log that does not exist yet reads as
    /// empty.
    pub fn open(path: &Path, opts: ReadOptions) -> io::Result<Reader> {
        let files = open_all(path)?
            .into_iter()
            .map(|(p, f)| LineFile::new(p, f, 0))
            .collect();
        let mut reader = Reader {
            path: path.to_path_buf(),
            opts,
            files,
            tail: None,
        };
        if let Some(n) = reader.opts.tail {
            let mut last = VecDeque::with_capacity(n.min(4096));
            while let Some(e) = reader.next_raw()? {
                if n == 0 {
                    continue;
                }
                if last.len() == n {
                    last.pop_front();
                }
                last.push_back(e);
            }
            reader.tail = Some(last);
        }
        Ok(reader)
    }

    /// The next admitted entry, reading files in order; keeps the last file open at its end.
    fn next_raw(&mut self) -> io::Result<Option<Entry>> {
        loop {
            let Some(file) = self.files.front_mut() else {
                return Ok(None);
            };
            match file.next_entry()? {
                Some(e) if self.opts.admits(&e) => return Ok(Some(e)),
                Some(_) => continue,
                None if self.files.len() > 1 => {
                    self.files.pop_front();
                }
                None => return Ok(None),
            }
        }
    }

    /// Turns an exhausted reader into a follower that continues exactly where it stopped (for
    /// `logs -f`: read the history, then follow). `until` still applies; `tail` does not.
    pub fn into_follower(mut self) -> Follower {
        let current = self.files.pop_back();
        let opts = ReadOptions {
            tail: None,
            ..self.opts
        };
        Follower {
            path: self.path,
            opts,
            current,
        }
    }
}

impl Iterator for Reader {
    type Item = io::Result<Entry>;

    fn next(&mut self) -> Option<io::Result<Entry>> {
        if let Some(tail) = &mut self.tail {
            return tail.pop_front().map(Ok);
        }
        self.next_raw().transpose()
    }
}

/// Follows a log as it grows, across rotation and truncation, by polling.
pub struct Follower {
    path: PathBuf,
    opts: ReadOptions,
    current: Option<LineFile>,
}

impl Follower {
    /// Follows `path` from its current end (new entries only).
    pub fn from_end(path: &Path, opts: ReadOptions) -> io::Result<Follower> {
        let current = match File::open(path) {
            Ok(mut f) => {
                let pos = f.seek(SeekFrom::End(0))?;
                Some(LineFile::new(path.to_path_buf(), f, pos))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        Ok(Follower {
            path: path.to_path_buf(),
            opts: ReadOptions { tail: None, ..opts },
            current,
        })
    }

    /// Entries written since the last call (possibly none); never blocks.
    pub fn poll(&mut self) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        loop {
            if let Some(file) = &mut self.current {
                while let Some(e) = file.next_entry()? {
                    if self.opts.admits(&e) {
                        out.push(e);
                    }
                }
            }
            // At the end of the open file: has the path moved on to another file?
            let meta = match std::fs::metadata(&self.path) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
                Err(e) => return Err(e),
            };
            match &mut self.current {
                Some(file) if file.inode()? == (meta.dev(), meta.ino()) => {
                    if meta.len() < file.pos {
                        // Truncated in place (max-file 1): start over.
                        file.reader.seek(SeekFrom::Start(0))?;
                        file.pos = 0;
                        file.partial.clear();
                        continue;
                    }
                    return Ok(out);
                }
                Some(file) => {
                    // Rotated: the old file is complete now; drain it, then switch.
                    while let Some(e) = file.next_entry()? {
                        if self.opts.admits(&e) {
                            out.push(e);
                        }
                    }
                    reopen(&mut self.current, &self.path)?;
                }
                None => reopen(&mut self.current, &self.path)?,
            }
        }
    }

    /// Waits up to `timeout` for new entries, polling every `interval`; returns what arrived
    /// (empty when nothing did).
    pub fn wait(&mut self, timeout: Duration, interval: Duration) -> io::Result<Vec<Entry>> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.poll()?;
            if !got.is_empty() || Instant::now() >= deadline {
                return Ok(got);
            }
            std::thread::sleep(interval.min(deadline.saturating_duration_since(Instant::now())));
        }
    }

    /// The file being followed.
    pub fn path(&self) -> &Path {
        self.current.as_ref().map_or(&self.path, |f| &f.path)
    }
}

/// Opens the file now at `path` from its start.
fn reopen(current: &mut Option<LineFile>, path: &Path) -> io::Result<()> {
    match File::open(path) {
        Ok(f) => {
            *current = Some(LineFile::new(path.to_path_buf(), f, 0));
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            *current = None;
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn line(text: &str, stream: LogStream, nanos: i128) -> Vec<u8> {
        let mut out = Vec::new();
        encode_line(
            stream,
            text.as_bytes(),
            &timefmt::format_nanos(nanos),
            &mut out,
        );
        out
    }

    fn append(path: &Path, bytes: &[u8]) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(bytes).unwrap();
    }

    fn texts(entries: impl IntoIterator<Item = io::Result<Entry>>) -> Vec<String> {
        entries.into_iter().map(|e| e.unwrap().log).collect()
    }

    #[test]
    fn encodes_docker_lines() {
        let mut out = Vec::new();
        encode_line(
            LogStream::Stderr,
            b"a\"b\n",
            "2024-01-02T15:04:05.000000001Z",
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"log\":\"a\\\"b\\n\",\"stream\":\"stderr\",\"time\":\"2024-01-02T15:04:05.000000001Z\"}\n"
        );
    }

    #[test]
    fn reads_rotated_files_oldest_first_with_filters() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("c.log");
        append(
            &rotated_path(&log, 2),
            &line("one\n", LogStream::Stdout, 1_000),
        );
        append(
            &rotated_path(&log, 1),
            &line("two\n", LogStream::Stderr, 2_000),
        );
        append(&log, &line("three\n", LogStream::Stdout, 3_000));
        append(&log, b"{\"log\":\"partial"); // being written
        let all = Reader::open(&log, ReadOptions::default()).unwrap();
        assert_eq!(texts(all), ["one\n", "two\n", "three\n"]);
        let tail = Reader::open(
            &log,
            ReadOptions {
                tail: Some(2),
                ..ReadOptions::default()
            },
        )
        .unwrap();
        assert_eq!(texts(tail), ["two\n", "three\n"]);
        let window = Reader::open(
            &log,
            ReadOptions {
                since: Some(2_000),
                until: Some(3_000),
                tail: None,
            },
        )
        .unwrap();
        assert_eq!(texts(window), ["two\n"]);
        let none = Reader::open(
            &log,
            ReadOptions {
                tail: Some(0),
                ..ReadOptions::default()
            },
        )
        .unwrap();
        assert_eq!(none.count(), 0);
        let missing = Reader::open(&dir.path().join("nope"), ReadOptions::default()).unwrap();
        assert_eq!(missing.count(), 0);
    }

    #[test]
    fn follows_across_rotation_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("c.log");
        append(&log, &line("old\n", LogStream::Stdout, 1));
        let mut reader = Reader::open(&log, ReadOptions::default()).unwrap();
        assert_eq!(reader.next().unwrap().unwrap().log, "old\n");
        assert!(reader.next().is_none());
        let mut f = reader.into_follower();
        assert!(f.poll().unwrap().is_empty());
        // A partial line completes later.
        let full = line("a\n", LogStream::Stdout, 2);
        append(&log, &full[..5]);
        assert!(f.poll().unwrap().is_empty());
        append(&log, &full[5..]);
        append(&log, &line("b\n", LogStream::Stdout, 3));
        let got: Vec<String> = f.poll().unwrap().into_iter().map(|e| e.log).collect();
        assert_eq!(got, ["a\n", "b\n"]);
        // Rotate: the tail of the old file is written just before the rename.
        append(&log, &line("c\n", LogStream::Stdout, 4));
        std::fs::rename(&log, rotated_path(&log, 1)).unwrap();
        append(&log, &line("d\n", LogStream::Stderr, 5));
        let got: Vec<String> = f.poll().unwrap().into_iter().map(|e| e.log).collect();
        assert_eq!(got, ["c\n", "d\n"]);
        // Truncate in place (max-file 1), then write less than before.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&log)
            .unwrap()
            .set_len(0)
            .unwrap();
        assert!(f.poll().unwrap().is_empty());
        append(&log, &line("e\n", LogStream::Stdout, 6));
        let got: Vec<String> = f
            .wait(Duration::from_secs(1), Duration::from_millis(5))
            .unwrap()
            .into_iter()
            .map(|e| e.log)
            .collect();
        assert_eq!(got, ["e\n"]);
        // Replaced by a new file renamed over it (how the shim rotates with max-file 1).
        let fresh = dir.path().join("fresh");
        append(&fresh, &line("g\n", LogStream::Stdout, 8));
        std::fs::rename(&fresh, &log).unwrap();
        assert_eq!(f.poll().unwrap()[0].log, "g\n");
        let mut from_end = Follower::from_end(&log, ReadOptions::default()).unwrap();
        assert!(from_end.poll().unwrap().is_empty());
        append(&log, &line("f\n", LogStream::Stdout, 7));
        assert_eq!(from_end.poll().unwrap()[0].log, "f\n");
    }
}
