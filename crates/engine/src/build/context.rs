//! The build context a client sends (a tar, possibly gzipped), kept as it came: the
//! decompressed tar is written to one private file while its entries are indexed and each
//! file's content hashed on the way, never beyond a size the daemon's owner sets.
//!
//! Nothing is unpacked: creating thousands of files per build costs more than the rest of a
//! cached rebuild (ext4's inode allocator alone), and a `COPY` reads its sources straight out
//! of the stored tar at their offsets ([`ContextTree`]). Entries whose names climb out of the
//! context (`../x`) are refused; symlinks are resolved inside it. The `--secret`s the Berth
//! CLI sends beside the context go to a private directory instead and are not part of it.
//!
//! The Berth CLI can send less: with a session (see [`super::session`]) the tar starts with
//! the directory's manifest and carries only the files the daemon does not already hold; the
//! context is then the manifest over the session's pack, which the files sent are added to.

use super::session::{Session, Sessions, Stored};
use super::tree::{ContextTree, Meta, Node, NodeKind, SourceTree};
use crate::error::EngineError;
use berth_api_types::build::{ContextEntry, ContextEntryKind};
use berth_common::Sha256Writer;
use berth_storage::unpack::decompress;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the Berth CLI puts `--secret`s in the context tar.
pub(crate) const SECRETS_DIR: &str = ".berth-secrets";
/// The first entry of a session's tar: the context directory's manifest (JSON).
pub(crate) const MANIFEST: &str = ".berth-manifest";

/// One build's context; its files are removed when dropped. Beside the tar (`<id>.tar`):
/// `<id>.secrets` (the build's secrets) and `<id>.scratch` (copies for bind mounts).
pub(crate) struct ContextDir {
    tree: ContextTree,
    /// The stored tar, removed with the context (none for a session's pack, which stays).
    tar: Option<PathBuf>,
    secrets: PathBuf,
    scratch: PathBuf,
}

/// The session a build's context is sent against.
pub(crate) struct SessionRef<'a> {
    /// The daemon's sessions.
    pub sessions: &'a Sessions,
    /// The client's key.
    pub key: &'a str,
}

impl ContextDir {
    /// Stores and indexes `input` under `parent`, reading at most `limit` bytes of the
    /// (decompressed) tar; with a `session`, `input` is a manifest and the files it lacks.
    pub fn unpack(
        parent: &Path,
        id: &str,
        input: &mut dyn Read,
        limit: u64,
        session: Option<SessionRef<'_>>,
    ) -> Result<Self, EngineError> {
        std::fs::create_dir_all(parent).map_err(|e| EngineError::io(parent, e))?;
        set_private(parent)?;
        let (_, decoded) = decompress(input)
            .map_err(|e| context_error(format!("reading the build context: {e}")))?;
        let mut bounded = Bounded {
            inner: decoded,
            left: limit,
        };
        let over_limit = || {
            context_error(format!(
                "the build context is larger than the limit of {limit} bytes (the daemon's --build-context-limit)"
            ))
        };
        let secrets = parent.join(format!("{id}.secrets"));
        let scratch = parent.join(format!("{id}.scratch"));
        if let Some(s) = session {
            let received = s
                .sessions
                .with(s.key, |session| receive(&mut bounded, session, &secrets));
            return match received {
                Err(_) if bounded.left == 0 => Err(over_limit()),
                Err(e) => Err(e),
                Ok(tree) => Ok(ContextDir {
                    tree,
                    tar: None,
                    secrets,
                    scratch,
                }),
            };
        }
        let tar = parent.join(format!("{id}.tar"));
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tar)
            .map_err(|e| EngineError::io(&tar, e))?;
        let file = Arc::new(file);
        let mut dir = ContextDir {
            tree: ContextTree {
                data: file.clone(),
                nodes: BTreeMap::new(),
            },
            tar: Some(tar.clone()),
            secrets,
            scratch,
        };
        let mut tee = Tee {
            inner: bounded,
            copy: io::BufWriter::with_capacity(1 << 20, &*file),
        };
        let indexed = dir.index(&mut tee);
        let over = tee.inner.left == 0;
        let flushed = tee.copy.flush();
        match indexed {
            Err(_) if over => Err(over_limit()),
            Err(e) => Err(e),
            Ok(()) => {
                flushed.map_err(|e| EngineError::io(&tar, e))?;
                Ok(dir)
            }
        }
    }
}

/// Reads a session's tar: the manifest, then the files the session lacked (appended to its
/// pack); every other file of the manifest must be one the session holds unchanged.
fn receive(
    input: &mut dyn Read,
    session: &mut Session,
    secrets: &Path,
) -> Result<ContextTree, EngineError> {
    let mut archive = tar::Archive::new(&mut *input);
    let mut entries = archive.entries().map_err(|e| invalid_tar(&e))?;
    let manifest = match entries.next() {
        Some(Ok(first)) if first.path().is_ok_and(|p| p.to_string_lossy() == MANIFEST) => {
            read_manifest(first)?
        }
        Some(Err(e)) => return Err(invalid_tar(&e)),
        _ => {
            return Err(context_error(format!(
                "a build with a context session must send {MANIFEST} first"
            )));
        }
    };
    let mut sent: BTreeMap<String, Stored> = BTreeMap::new();
    for entry in entries {
        let mut entry = entry.map_err(|e| invalid_tar(&e))?;
        let rel = entry_path(&entry)?;
        if take_secret(secrets, &rel, &mut entry)? {
            continue;
        }
        let Some(m) = manifest
            .get(&rel)
            .filter(|m| m.kind == ContextEntryKind::File)
        else {
            return Err(invalid_tar(&format!(
                "entry {rel:?} is not a file of the context manifest"
            )));
        };
        let stored = session
            .append(&mut entry, m.stamp.clone())
            .map_err(|e| invalid_tar(&e))?;
        sent.insert(rel, stored);
    }
    io::copy(input, &mut io::sink()).map_err(|e| invalid_tar(&e))?;
    let mut files = BTreeMap::new();
    for (rel, e) in manifest
        .iter()
        .filter(|(_, e)| e.kind == ContextEntryKind::File)
    {
        let stored = match sent.remove(rel) {
            Some(s) => s,
            None => session.reusable(e).cloned().ok_or_else(|| {
                context_error(format!(
                    "the context's file {rel:?} was neither sent nor held unchanged by the daemon (it changed during the upload? build again)"
                ))
            })?,
        };
        files.insert(rel.clone(), stored);
    }
    let data = session.commit(files)?;
    // File nodes are made after the commit: it may compact the pack, which moves offsets.
    let mut nodes = BTreeMap::new();
    for (rel, e) in &manifest {
        let meta = |kind| Meta {
            kind,
            mode: e.mode & 0o7777,
            mtime: e.mtime,
        };
        let node = match e.kind {
            ContextEntryKind::Dir => Node::without_content(meta(NodeKind::Dir)),
            ContextEntryKind::Symlink => Node::without_content(Meta {
                mode: 0o777,
                ..meta(NodeKind::Symlink(e.link.clone().unwrap_or_default().into()))
            }),
            ContextEntryKind::File => {
                let Some(f) = session.stored(rel) else {
                    continue; // committed above, so always there
                };
                Node {
                    meta: meta(NodeKind::File(f.size)),
                    offset: f.offset,
                    digest: f.digest.clone(),
                }
            }
        };
        nodes.insert(rel.clone(), node);
    }
    Ok(ContextTree { data, nodes })
}

/// A session's manifest, by clean path (a path that is not one is refused).
fn read_manifest<R: Read>(
    mut entry: tar::Entry<'_, R>,
) -> Result<BTreeMap<String, ContextEntry>, EngineError> {
    let limit = berth_api_types::build::MANIFEST_LIMIT as u64;
    if entry.size() > limit {
        return Err(context_error(format!(
            "the context manifest is larger than {limit} bytes"
        )));
    }
    let mut text = Vec::new();
    entry.read_to_end(&mut text).map_err(|e| invalid_tar(&e))?;
    let entries: Vec<ContextEntry> = serde_json::from_slice(&text)
        .map_err(|e| context_error(format!("invalid context manifest: {e}")))?;
    let mut by_path = BTreeMap::new();
    for e in entries {
        if clean(&e.path).is_none_or(|r| r.is_empty() || r != e.path) {
            return Err(context_error(format!(
                "invalid context manifest: path {:?} is not a clean path inside the context",
                e.path
            )));
        }
        by_path.insert(e.path.clone(), e);
    }
    Ok(by_path)
}

/// An entry's path, cleaned; one that climbs out of the context is refused.
fn entry_path<R: Read>(entry: &tar::Entry<'_, R>) -> Result<String, EngineError> {
    let raw = entry
        .path()
        .map_err(|e| invalid_tar(&e))?
        .to_string_lossy()
        .into_owned();
    clean(&raw).ok_or_else(|| invalid_tar(&format!("entry {raw:?} climbs out of the context")))
}

/// Keeps `entry` in the build's private `secrets` directory if it is one of the secrets the
/// Berth CLI sends under [`SECRETS_DIR`]; whether it was under that directory (then it is no
/// part of the context either way).
fn take_secret<R: Read>(
    secrets: &Path,
    rel: &str,
    entry: &mut tar::Entry<'_, R>,
) -> Result<bool, EngineError> {
    let Some(id) = rel.strip_prefix(&format!("{SECRETS_DIR}/")) else {
        return Ok(false);
    };
    if entry.header().entry_type().is_file() && !id.contains('/') {
        let mut value = Vec::new();
        entry.read_to_end(&mut value).map_err(|e| invalid_tar(&e))?;
        keep_secret(secrets, id, &value)?;
    }
    Ok(true)
}

fn invalid_tar(e: &dyn std::fmt::Display) -> EngineError {
    context_error(format!("the build context is not a valid tar archive: {e}"))
}

impl ContextDir {
    /// Reads the tar's entries into the index.
    fn index(&mut self, input: &mut dyn Read) -> Result<(), EngineError> {
        let mut archive = tar::Archive::new(&mut *input);
        for entry in archive.entries().map_err(|e| invalid_tar(&e))? {
            let mut entry = entry.map_err(|e| invalid_tar(&e))?;
            let rel = entry_path(&entry)?;
            if take_secret(&self.secrets, &rel, &mut entry)? {
                continue;
            }
            let header = entry.header();
            let mode = header.mode().unwrap_or(0o644) & 0o7777;
            let mtime = header.mtime().unwrap_or(0);
            let kind = header.entry_type();
            if rel.is_empty() {
                continue;
            }
            let node = if kind.is_dir() {
                Node::without_content(Meta {
                    kind: NodeKind::Dir,
                    mode,
                    mtime,
                })
            } else if kind.is_symlink() {
                let target = entry
                    .link_name()
                    .map_err(|e| invalid_tar(&e))?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                Node::without_content(Meta {
                    kind: NodeKind::Symlink(target),
                    mode: 0o777,
                    mtime,
                })
            } else if kind.is_hard_link() {
                let target = entry
                    .link_name()
                    .map_err(|e| invalid_tar(&e))?
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let Some(node) = clean(&target).and_then(|t| self.tree.nodes.get(&t).cloned())
                else {
                    return Err(invalid_tar(&format!(
                        "hard link {rel:?} to {target:?}, which is not before it"
                    )));
                };
                node
            } else if kind.is_file() || kind == tar::EntryType::Continuous {
                let offset = entry.raw_file_position();
                let size = entry.size();
                let mut hash = Sha256Writer::new(io::sink());
                io::copy(&mut entry, &mut hash).map_err(|e| invalid_tar(&e))?;
                Node {
                    meta: Meta {
                        kind: NodeKind::File(size),
                        mode,
                        mtime,
                    },
                    offset,
                    digest: hash.finish().1.to_string(),
                }
            } else {
                continue; // devices and fifos are nothing a build copies
            };
            self.tree.nodes.insert(rel, node);
        }
        // Whatever follows the end marker is read too, so the size limit covers it.
        io::copy(input, &mut io::sink()).map_err(|e| invalid_tar(&e))?;
        Ok(())
    }

    /// The context's files.
    pub fn tree(&self) -> &ContextTree {
        &self.tree
    }

    /// The text of file `name` (a Dockerfile, `.dockerignore`), symlinks resolved inside the
    /// context; `None` when it is not there.
    pub fn read_text(&self, name: &str) -> Option<String> {
        let rel = self.tree.resolve(&clean(name)?, true)?;
        let mut text = String::new();
        self.tree.open(&rel).ok()?.read_to_string(&mut text).ok()?;
        Some(text)
    }

    /// The file of secret `id`, if the client sent it.
    pub fn secret(&self, id: &str) -> Option<PathBuf> {
        if id.is_empty() || id.contains('/') || id.starts_with('.') {
            return None;
        }
        let p = self.secrets.join(id);
        std::fs::symlink_metadata(&p)
            .is_ok_and(|m| m.is_file())
            .then_some(p)
    }

    /// A fresh private directory for the build to fill (bind mounts' sources).
    pub fn scratch_dir(&self) -> Result<PathBuf, EngineError> {
        std::fs::create_dir_all(&self.scratch).map_err(|e| EngineError::io(&self.scratch, e))?;
        set_private(&self.scratch)?;
        let dest = self.scratch.join(berth_common::id::random_id());
        std::fs::create_dir(&dest).map_err(|e| EngineError::io(&dest, e))?;
        Ok(dest)
    }

    /// A private copy of `source` (file or tree, symlinks kept) for the build to change freely.
    pub fn scratch_copy(&self, source: &Path) -> Result<PathBuf, EngineError> {
        let dest = self.scratch_dir()?.join("copy");
        let out = std::process::Command::new("cp")
            .arg("-a")
            .arg("--")
            .arg(source)
            .arg(&dest)
            .output()
            .map_err(|e| EngineError::io(source, e))?;
        if !out.status.success() {
            return Err(EngineError::io(
                source,
                io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()),
            ));
        }
        Ok(dest)
    }
}

impl Drop for ContextDir {
    fn drop(&mut self) {
        if let Some(tar) = &self.tar {
            let _ = std::fs::remove_file(tar);
        }
        for dir in [&self.secrets, &self.scratch] {
            if let Err(e) = std::fs::remove_dir_all(dir)
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(path = %dir.display(), error = %e, "removing a build context");
            }
        }
    }
}

/// Stores secret `id` in the build's private `secrets` directory.
fn keep_secret(secrets: &Path, id: &str, value: &[u8]) -> Result<(), EngineError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(secrets).map_err(|e| EngineError::io(secrets, e))?;
    set_private(secrets)?;
    let path = secrets.join(id);
    let mut f = std::fs::File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o400)
        .open(&path)
        .map_err(|e| EngineError::io(&path, e))?;
    f.write_all(value).map_err(|e| EngineError::io(&path, e))
}

/// Removes the contexts a killed daemon left behind (called at start-up).
pub(crate) fn sweep(parent: &Path) {
    if let Ok(entries) = std::fs::read_dir(parent) {
        for e in entries.flatten() {
            let p = e.path();
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
    }
}

/// `name` cleaned to a relative path (`./a//b/` → `a/b`); `None` when it climbs out.
fn clean(name: &str) -> Option<String> {
    super::sources::clean_relative(name).map(|parts| parts.join("/"))
}

fn set_private(path: &Path) -> Result<(), EngineError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| EngineError::io(path, e))
}

fn context_error(message: String) -> EngineError {
    EngineError::BuildStep { message }
}

/// A reader that fails once the limit is used up.
struct Bounded<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            self.left = 0;
            return Err(io::Error::other("build context over its size limit"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// A reader that writes what it reads to `copy`, so the stored tar has every byte at the
/// offset the archive reader saw it.
struct Tee<R, W> {
    inner: R,
    copy: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            // set_path refuses `..`; write the raw name the way a hostile client would.
            let raw = &mut h.as_old_mut().name;
            raw[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn a_context_is_indexed_read_in_place_and_goes_when_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let tar = tar_of(&[("Dockerfile", b"FROM scratch\n"), ("./a//b.txt", b"hi")]);
        let dir = ContextDir::unpack(tmp.path(), "one", &mut &tar[..], 1 << 20, None).unwrap();
        assert_eq!(dir.read_text("a/b.txt").as_deref(), Some("hi"));
        assert_eq!(
            dir.read_text("Dockerfile").as_deref(),
            Some("FROM scratch\n")
        );
        assert_eq!(
            dir.tree().known_digest("a/b.txt").unwrap(),
            berth_common::Digest::of(b"hi").to_string()
        );
        drop(dir);
        assert!(std::fs::read_dir(tmp.path()).unwrap().next().is_none());
        // Secrets are kept apart, not in the context.
        let tar = tar_of(&[
            ("Dockerfile", b"FROM scratch\n"),
            (".berth-secrets/token", b"s3"),
        ]);
        let dir = ContextDir::unpack(tmp.path(), "sec", &mut &tar[..], 1 << 20, None).unwrap();
        assert!(dir.tree().resolve(".berth-secrets/token", true).is_none());
        assert_eq!(std::fs::read(dir.secret("token").unwrap()).unwrap(), b"s3");
        assert!(dir.secret("../token").is_none() && dir.secret("nosuch").is_none());
        drop(dir);
        assert!(!tmp.path().join("sec.secrets").exists());
    }

    #[test]
    fn escaping_entries_and_oversized_contexts_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let tar = tar_of(&[("../evil", b"x")]);
        let err = ContextDir::unpack(tmp.path(), "two", &mut &tar[..], 1 << 20, None)
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("climbs out of the context"),
            "{err}"
        );
        let big = tar_of(&[("big", &[0u8; 8192])]);
        let err = ContextDir::unpack(tmp.path(), "three", &mut &big[..], 4096, None)
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("larger than the limit of 4096 bytes"),
            "{err}"
        );
    }
}
