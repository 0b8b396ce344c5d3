//! Reading an image archive (docker-archive, Docker 25+ OCI-compatible archive, podman's
//! docker-archive, oci-archive) in one streaming pass.
//!
//! Entries are never extracted to disk by their names: every regular file that is not a small
//! metadata file goes straight into the content store (so memory does not grow with image size)
//! and is remembered as `path → digest`; metadata (`manifest.json`, `index.json`, configs named
//! `*.json`, `repositories`, `oci-layout`) is kept in memory. Entry names are only used as keys,
//! and names that climb out of the archive (`../../etc/x`) are refused outright.

use crate::error::{ImageError, Result};
use crate::store::Lease;
use berth_api_types::progress::JsonMessage;
use berth_common::Digest;
use berth_storage::{ContentStore, StorageError};
use std::collections::HashMap;
use std::io::{self, Read, Write};

/// Metadata files larger than this are stored as blobs instead of kept in memory.
const META_LIMIT: u64 = 8 << 20;
/// Metadata kept in memory for one archive, in all: far above what real archives carry
/// (a few KiB per image), low enough that a hostile archive cannot exhaust memory.
const META_TOTAL_LIMIT: u64 = 64 << 20;
/// Copy buffer for entries.
const COPY_BUF: usize = 1 << 20;
/// How often (bytes) a layer's progress is reported.
const PROGRESS_STEP: u64 = 4 << 20;
/// How many symlinks a lookup follows before giving up.
const MAX_LINKS: usize = 16;

/// A file of the archive stored in the content store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    /// Its digest.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
}

/// What a path of the archive holds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Entry<'a> {
    /// A file stored as a blob.
    Blob(&'a Stored),
    /// A small metadata file kept in memory.
    Meta(&'a [u8]),
}

/// Everything learnt from one pass over an archive.
#[derive(Debug, Default)]
pub(crate) struct ArchiveContents {
    files: HashMap<String, Stored>,
    meta: HashMap<String, Vec<u8>>,
    links: HashMap<String, String>,
}

impl ArchiveContents {
    /// What `path` (relative to the archive root, `./` allowed) holds, following links.
    pub fn lookup(&self, path: &str) -> Option<Entry<'_>> {
        let mut path = clean(path)?;
        for _ in 0..MAX_LINKS {
            if let Some(s) = self.files.get(&path) {
                return Some(Entry::Blob(s));
            }
            if let Some(m) = self.meta.get(&path) {
                return Some(Entry::Meta(m));
            }
            path = self.links.get(&path)?.clone();
        }
        None
    }

    /// A metadata file's bytes.
    pub fn meta(&self, path: &str) -> Option<&[u8]> {
        match self.lookup(path) {
            Some(Entry::Meta(m)) => Some(m),
            _ => None,
        }
    }

    /// The file an OCI layout stores for `digest` (`blobs/sha256/<hex>`).
    pub fn blob(&self, digest: &Digest) -> Option<&Stored> {
        match self.lookup(&format!("blobs/sha256/{}", digest.hex())) {
            Some(Entry::Blob(s)) => Some(s),
            _ => None,
        }
    }
}

/// Normalises an archive path: drops `.` and empty components, resolves `..`; `None` when the
/// path climbs above the archive root.
pub(crate) fn clean(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// True for files kept in memory rather than stored.
fn is_meta(path: &str, size: u64) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    size <= META_LIMIT
        && !path.starts_with("blobs/")
        && (name.ends_with("json") || matches!(name, "repositories" | "oci-layout" | "VERSION"))
}

/// The short id Docker shows for a layer being loaded.
fn progress_id(path: &str) -> String {
    let mut it = path.rsplit('/');
    let name = it.next().unwrap_or(path);
    let base = match name {
        "layer.tar" => it.next().unwrap_or(name),
        _ => name.strip_suffix(".tar").unwrap_or(name),
    };
    base.chars().take(12).collect()
}

/// Records whether the last read of the underlying stream hit its end, which tells a complete
/// tar (ended by a zero block, so the reader stops before EOF) from one cut at an entry boundary.
struct EofTracker<R> {
    inner: R,
    hit_eof: bool,
}

impl<R: Read> Read for EofTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if !buf.is_empty() {
            self.hit_eof = n == 0;
        }
        Ok(n)
    }
}

/// Maps an error reading the archive to a message users understand.
fn read_error(e: io::Error, during: &str) -> ImageError {
    let msg = e.to_string();
    if e.kind() == io::ErrorKind::UnexpectedEof
        || msg.contains("EOF")
        || msg.contains("entire block")
        || msg.contains("future member")
    {
        ImageError::archive(format!("unexpected end of archive{during}"))
    } else {
        ImageError::archive(format!("{}{msg}", during.trim_start_matches(" while ")))
    }
}

/// Reads the whole archive, storing files as it goes. Blobs it creates are noted in `lease`,
/// which deletes them again if the load fails.
pub(crate) fn read_archive(
    content: &ContentStore,
    input: impl Read,
    lease: &mut Lease<'_>,
    progress: &mut dyn FnMut(JsonMessage),
) -> Result<ArchiveContents> {
    let mut out = ArchiveContents::default();
    let mut tracker = EofTracker {
        inner: input,
        hit_eof: false,
    };
    let mut buf = vec![0u8; COPY_BUF];
    let mut meta_total = 0u64;
    {
        let mut archive = tar::Archive::new(&mut tracker);
        let entries = archive.entries().map_err(|e| read_error(e, ""))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| read_error(e, ""))?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let path = clean(&raw).ok_or_else(|| {
                ImageError::archive(format!("entry {raw:?} points outside the archive"))
            })?;
            let kind = entry.header().entry_type();
            if kind.is_symlink() || kind.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let joined = if kind.is_hard_link() || target.starts_with('/') {
                    target
                } else {
                    match path.rsplit_once('/') {
                        Some((dir, _)) => format!("{dir}/{target}"),
                        None => target,
                    }
                };
                // A link leading outside the archive simply resolves to nothing.
                if let Some(t) = clean(&joined) {
                    out.links.insert(path, t);
                }
                continue;
            }
            if !(kind.is_file() || kind.is_contiguous()) || path.is_empty() {
                continue;
            }
            let size = entry.size();
            if is_meta(&path, size) {
                meta_total += size;
                if meta_total > META_TOTAL_LIMIT {
                    return Err(ImageError::archive(format!(
                        "{path}: the archive holds more than {META_TOTAL_LIMIT} bytes of metadata"
                    )));
                }
                let mut data = Vec::with_capacity(size as usize);
                entry
                    .read_to_end(&mut data)
                    .map_err(|e| read_error(e, &format!(" while reading {path}")))?;
                if data.len() as u64 != size {
                    return Err(read_error(
                        io::ErrorKind::UnexpectedEof.into(),
                        &format!(" while reading {path}"),
                    ));
                }
                out.meta.insert(path, data);
                continue;
            }
            let stored = store_entry(content, &mut entry, &path, size, &mut buf, progress)?;
            lease.blob(&stored);
            out.files.insert(
                path,
                Stored {
                    digest: stored.digest,
                    size: stored.size,
                },
            );
        }
    }
    if tracker.hit_eof {
        return Err(ImageError::archive(
            "unexpected end of archive: the tar stream ends without its end-of-archive marker",
        ));
    }
    Ok(out)
}

/// Streams one entry into the content store, verifying `blobs/sha256/<hex>` names.
fn store_entry(
    content: &ContentStore,
    entry: &mut impl Read,
    path: &str,
    size: u64,
    buf: &mut [u8],
    progress: &mut dyn FnMut(JsonMessage),
) -> Result<berth_storage::content::Committed> {
    let expected = path
        .strip_prefix("blobs/sha256/")
        .and_then(|hex| Digest::from_hex(hex).ok());
    let mut ingest = content
        .ingest()
        .map_err(|e| ImageError::storage(format!("storing {path}"), e))?;
    let id = progress_id(path);
    let mut done = 0u64;
    let mut next_report = 0u64;
    let mut report = None;
    loop {
        let n = match entry.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e, &format!(" while reading {path}"))),
        };
        if report.is_none() {
            // JSON blobs (manifests, configs) are not layers; only layers get a progress bar.
            report = Some(buf[0] != b'{');
        }
        ingest.write_all(&buf[..n]).map_err(|e| {
            ImageError::storage(format!("storing {path}"), StorageError::io(path, e))
        })?;
        done += n as u64;
        if report == Some(true) && done >= next_report && done < size {
            progress(JsonMessage::progress(
                "Loading layer",
                &id,
                done,
                Some(size),
            ));
            next_report = done + PROGRESS_STEP;
        }
    }
    if done != size {
        return Err(read_error(
            io::ErrorKind::UnexpectedEof.into(),
            &format!(" while reading {path}"),
        ));
    }
    if report == Some(true) {
        progress(JsonMessage::progress(
            "Loading layer",
            &id,
            done,
            Some(size),
        ));
    }
    ingest.commit(expected.as_ref()).map_err(|e| match e {
        StorageError::DigestMismatch { actual, .. } => ImageError::archive(format!(
            "{path}: digest mismatch: its content hashes to {actual}"
        )),
        e => ImageError::storage(format!("storing {path}"), e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_and_escapes_refused() {
        assert_eq!(clean("./a//b/./c").as_deref(), Some("a/b/c"));
        assert_eq!(clean("a/../b").as_deref(), Some("b"));
        assert_eq!(clean("../../etc/x"), None);
        assert_eq!(clean("/abs/x").as_deref(), Some("abs/x"));
    }

    #[test]
    fn progress_ids_are_short() {
        assert_eq!(progress_id("0123456789abcdef/layer.tar"), "0123456789ab");
        assert_eq!(progress_id("blobs/sha256/0123456789abcdef"), "0123456789ab");
        assert_eq!(progress_id("0123456789abcdef.tar"), "0123456789ab");
    }

    #[test]
    fn metadata_is_recognised() {
        assert!(is_meta("manifest.json", 10));
        assert!(is_meta("abc/json", 10));
        assert!(is_meta("repositories", 10));
        assert!(!is_meta("blobs/sha256/abc", 10));
        assert!(!is_meta("abc/layer.tar", 10));
        assert!(!is_meta("big.json", META_LIMIT + 1));
    }
}
