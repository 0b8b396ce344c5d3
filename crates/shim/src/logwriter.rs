//! Writes container output as Docker json-file lines, with Berth's bounded rotation.
//!
//! Output arrives in arbitrary chunks; Docker logs one entry per line, so each stream keeps its
//! unfinished line until the newline comes, the line exceeds 16 KiB (then it is written as a
//! partial entry without a trailing newline, as Docker does), or the container exits
//! ([`JsonFileWriter::flush_partial`]). When the file reaches `max_size` it is rotated:
//! `log.N-1` is dropped, `log.i` becomes `log.i+1`, `log` becomes `log.1`, and a new `log` is
//! started, so `max_files` files exist in all. With one file the log is replaced by a new empty
//! file renamed over it, so readers following it see a new inode instead of a truncation.
//! Write failures (a full disk) are reported once and otherwise ignored: the container must not
//! stop because its log cannot be written.

use crate::error::{Result, ShimError};
use berth_shim_proto::logs::{LogStream, encode_line, rotated_path};
use berth_shim_proto::timefmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The longest entry; longer lines are split into partial entries.
pub const MAX_ENTRY: usize = 16 * 1024;

/// A json-file log being written.
pub struct JsonFileWriter {
    path: PathBuf,
    max_size: u64,
    max_files: u32,
    file: File,
    size: u64,
    partial: [Vec<u8>; 2],
    line: Vec<u8>,
    /// The first write failure since the log last worked (reported once, and to the daemon
    /// through the shim's state), `None` while writing works.
    failure: Option<String>,
}

fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
        .map_err(|e| ShimError::io("opening log", path, e))
}

fn index(stream: LogStream) -> usize {
    match stream {
        LogStream::Stdout => 0,
        LogStream::Stderr => 1,
    }
}

impl JsonFileWriter {
    /// Opens (appending to) the log at `path`; `max_size` 0 means never rotate.
    pub fn open(path: &Path, max_size: u64, max_files: u32) -> Result<JsonFileWriter> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| ShimError::io("creating", dir, e))?;
        }
        let file = open_append(path)?;
        let size = file
            .metadata()
            .map_err(|e| ShimError::io("reading size of", path, e))?
            .len();
        Ok(JsonFileWriter {
            path: path.to_path_buf(),
            max_size,
            max_files: max_files.max(1),
            file,
            size,
            partial: [Vec::new(), Vec::new()],
            line: Vec::with_capacity(256),
            failure: None,
        })
    }

    /// Logs a chunk of `stream` output, one entry per complete line.
    pub fn write(&mut self, stream: LogStream, mut data: &[u8]) {
        let time = timefmt::now();
        let i = index(stream);
        while let Some(pos) = data.iter().position(|b| *b == b'\n') {
            let (line, rest) = data.split_at(pos + 1);
            if self.partial[i].is_empty() {
                self.emit(stream, line, &time);
            } else {
                let mut buf = std::mem::take(&mut self.partial[i]);
                buf.extend_from_slice(line);
                self.emit(stream, &buf, &time);
                buf.clear();
                self.partial[i] = buf;
            }
            data = rest;
        }
        self.partial[i].extend_from_slice(data);
        if self.partial[i].len() >= MAX_ENTRY {
            let buf = std::mem::take(&mut self.partial[i]);
            let whole = buf.len() - buf.len() % MAX_ENTRY;
            self.emit(stream, &buf[..whole], &time);
            self.partial[i] = buf[whole..].to_vec();
        }
    }

    /// Writes unfinished lines as partial entries (at exit).
    pub fn flush_partial(&mut self) {
        let time = timefmt::now();
        for stream in [LogStream::Stdout, LogStream::Stderr] {
            let buf = std::mem::take(&mut self.partial[index(stream)]);
            if !buf.is_empty() {
                self.emit(stream, &buf, &time);
            }
        }
    }

    /// Writes `text` as entries of at most [`MAX_ENTRY`] bytes each.
    fn emit(&mut self, stream: LogStream, text: &[u8], time: &str) {
        for chunk in text.chunks(MAX_ENTRY) {
            self.line.clear();
            encode_line(stream, chunk, time, &mut self.line);
            match self.file.write_all(&self.line) {
                Ok(()) => {
                    self.size += self.line.len() as u64;
                    if self.failure.take().is_some() {
                        tracing::info!(path = %self.path.display(), "writing the container log works again");
                    }
                }
                Err(err) => self.report(ShimError::io("writing log", &self.path.clone(), err)),
            }
            if self.max_size > 0
                && self.size >= self.max_size
                && let Err(err) = self.rotate()
            {
                self.report(err);
            }
        }
        if self.line.capacity() > 4 * MAX_ENTRY {
            self.line = Vec::with_capacity(256);
        }
    }

    fn report(&mut self, err: ShimError) {
        if self.failure.is_none() {
            tracing::warn!(error = %err, path = %self.path.display(), "writing the container log");
            self.failure = Some(err.to_string());
        }
    }

    /// Why output is being lost, while it is (lines that cannot be written are dropped).
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Shifts the files and starts a new one.
    fn rotate(&mut self) -> Result<()> {
        if self.max_files == 1 {
            let mut tmp = self.path.clone().into_os_string();
            tmp.push(".rotating");
            let tmp = PathBuf::from(tmp);
            let _ = std::fs::remove_file(&tmp);
            let file = open_append(&tmp)?;
            std::fs::rename(&tmp, &self.path)
                .map_err(|e| ShimError::io("replacing log", &self.path, e))?;
            self.file = file;
        } else {
            for n in (1..self.max_files - 1).rev() {
                let from = rotated_path(&self.path, n);
                let to = rotated_path(&self.path, n + 1);
                match std::fs::rename(&from, &to) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(ShimError::io("rotating log", &from, e)),
                }
            }
            let first = rotated_path(&self.path, 1);
            std::fs::rename(&self.path, &first)
                .map_err(|e| ShimError::io("rotating log", &self.path, e))?;
            self.file = open_append(&self.path)?;
        }
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_shim_proto::logs::{Entry, ReadOptions, Reader};

    fn read(path: &Path) -> Vec<Entry> {
        Reader::open(path, ReadOptions::default())
            .unwrap()
            .map(|e| e.unwrap())
            .collect()
    }

    #[test]
    fn splits_lines_per_stream_and_flushes_partials() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let mut w = JsonFileWriter::open(&path, 0, 3).unwrap();
        w.write(LogStream::Stdout, b"one\ntw");
        w.write(LogStream::Stderr, b"err\n");
        w.write(LogStream::Stdout, b"o\nthree");
        w.flush_partial();
        let got: Vec<(String, LogStream)> =
            read(&path).into_iter().map(|e| (e.log, e.stream)).collect();
        assert_eq!(
            got,
            [
                ("one\n".to_string(), LogStream::Stdout),
                ("err\n".to_string(), LogStream::Stderr),
                ("two\n".to_string(), LogStream::Stdout),
                ("three".to_string(), LogStream::Stdout),
            ]
        );
        let line = std::fs::read_to_string(&path).unwrap();
        let first: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
        assert!(timefmt::parse_nanos(first["time"].as_str().unwrap()).is_some());
    }

    #[test]
    fn long_lines_become_partial_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let mut w = JsonFileWriter::open(&path, 0, 3).unwrap();
        let long = vec![b'x'; MAX_ENTRY + 10];
        w.write(LogStream::Stdout, &long);
        w.write(LogStream::Stdout, b"\n");
        let got = read(&path);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].log.len(), MAX_ENTRY);
        assert_eq!(got[1].log, format!("{}\n", "x".repeat(10)));
    }

    #[test]
    fn rotates_keeping_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let mut w = JsonFileWriter::open(&path, 200, 3).unwrap();
        for i in 0..40 {
            w.write(LogStream::Stdout, format!("line {i}\n").as_bytes());
        }
        assert!(
            path.exists() && rotated_path(&path, 1).exists() && rotated_path(&path, 2).exists()
        );
        assert!(!rotated_path(&path, 3).exists());
        for n in 0..3 {
            assert!(std::fs::metadata(rotated_path(&path, n)).unwrap().len() < 300);
        }
        // What is kept is the newest lines, in order, ending with the last one.
        let got: Vec<String> = read(&path).into_iter().map(|e| e.log).collect();
        assert_eq!(got.last().unwrap(), "line 39\n");
        let nums: Vec<u32> = got
            .iter()
            .map(|l| l.trim().trim_start_matches("line ").parse().unwrap())
            .collect();
        assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "{nums:?}");
        assert!(nums.len() < 40);

        let one = dir.path().join("one.log");
        let mut w = JsonFileWriter::open(&one, 100, 1).unwrap();
        for i in 0..10 {
            w.write(LogStream::Stdout, format!("line {i}\n").as_bytes());
        }
        assert!(!rotated_path(&one, 1).exists());
        assert!(std::fs::metadata(&one).unwrap().len() < 200);
    }
}
