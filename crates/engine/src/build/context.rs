//! The build context a client sends (a tar, possibly gzipped), unpacked into a private
//! directory of the daemon, never beyond a size the daemon's owner sets.
//!
//! Entries that would land outside the directory (`../x`, absolute links followed) are
//! refused by the extractor, so the context a build reads is exactly what was sent and
//! nothing else on the host.

use crate::error::EngineError;
use berth_storage::unpack::{WhiteoutMode, apply_tar, decompress};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Where the Berth CLI puts `--secret`s in the context tar; moved out of the context before
/// anything reads it, so no `COPY` can reach them.
pub(crate) const SECRETS_DIR: &str = ".berth-secrets";

/// Where one build's context is unpacked; removed (with what is in it) when dropped. Beside
/// it: `<id>.secrets` (the build's secrets) and `<id>.scratch` (copies for `rw` bind mounts).
pub(crate) struct ContextDir {
    path: PathBuf,
    secrets: PathBuf,
    scratch: PathBuf,
}

impl ContextDir {
    /// Unpacks `input` into a fresh directory under `parent`, reading at most `limit` bytes of
    /// the (decompressed) tar.
    pub fn unpack(
        parent: &Path,
        id: &str,
        input: &mut dyn Read,
        limit: u64,
    ) -> Result<Self, EngineError> {
        let path = parent.join(id);
        std::fs::create_dir_all(parent).map_err(|e| EngineError::io(parent, e))?;
        std::fs::create_dir(&path).map_err(|e| EngineError::io(&path, e))?;
        let dir = ContextDir {
            secrets: path.with_extension("secrets"),
            scratch: path.with_extension("scratch"),
            path,
        };
        set_private(&dir.path)?;
        let (_, decoded) = decompress(input)
            .map_err(|e| context_error(format!("reading the build context: {e}")))?;
        let mut bounded = Bounded {
            inner: decoded,
            left: limit,
            limit,
        };
        match apply_tar(&mut bounded, &dir.path, WhiteoutMode::Delete) {
            Ok(_) => {
                let sent = dir.path.join(SECRETS_DIR);
                if sent.is_dir() {
                    std::fs::rename(&sent, &dir.secrets).map_err(|e| EngineError::io(&sent, e))?;
                    set_private(&dir.secrets)?;
                }
                Ok(dir)
            }
            Err(_) if bounded.left == 0 => Err(context_error(format!(
                "the build context is larger than the limit of {} bytes (the daemon's --build-context-limit)",
                limit
            ))),
            Err(e) => Err(context_error(format!(
                "the build context is not a valid tar archive: {e}"
            ))),
        }
    }

    /// The unpacked context.
    pub fn path(&self) -> &Path {
        &self.path
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

    /// A private copy of `source` (file or tree, symlinks kept) for the build to change freely.
    pub fn scratch_copy(&self, source: &Path) -> Result<PathBuf, EngineError> {
        std::fs::create_dir_all(&self.scratch).map_err(|e| EngineError::io(&self.scratch, e))?;
        set_private(&self.scratch)?;
        let dest = self.scratch.join(berth_common::id::random_id());
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
        for dir in [&self.path, &self.secrets, &self.scratch] {
            if let Err(e) = std::fs::remove_dir_all(dir)
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(path = %dir.display(), error = %e, "removing a build context");
            }
        }
    }
}

/// Removes the contexts a killed daemon left behind (called at start-up).
pub(crate) fn sweep(parent: &Path) {
    if let Ok(entries) = std::fs::read_dir(parent) {
        for e in entries.flatten() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn set_private(path: &Path) -> Result<(), EngineError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| EngineError::io(path, e))
}

fn context_error(message: String) -> EngineError {
    EngineError::BuildStep { message }
}

/// A reader that fails once more than `limit` bytes went through.
struct Bounded<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            self.left = 0;
            return Err(io::Error::other(format!(
                "build context over {} bytes",
                self.limit
            )));
        }
        self.left -= n as u64;
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
    fn a_context_unpacks_and_goes_when_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let tar = tar_of(&[("Dockerfile", b"FROM scratch\n"), ("a/b.txt", b"hi")]);
        let dir = ContextDir::unpack(tmp.path(), "one", &mut &tar[..], 1 << 20).unwrap();
        assert_eq!(std::fs::read(dir.path().join("a/b.txt")).unwrap(), b"hi");
        let path = dir.path().to_path_buf();
        drop(dir);
        assert!(!path.exists());
        // Secrets leave the context before anything reads it.
        let tar = tar_of(&[
            ("Dockerfile", b"FROM scratch\n"),
            (".berth-secrets/token", b"s3"),
        ]);
        let dir = ContextDir::unpack(tmp.path(), "sec", &mut &tar[..], 1 << 20).unwrap();
        assert!(!dir.path().join(".berth-secrets").exists());
        assert_eq!(std::fs::read(dir.secret("token").unwrap()).unwrap(), b"s3");
        assert!(dir.secret("../token").is_none() && dir.secret("nosuch").is_none());
        drop(dir);
        assert!(!tmp.path().join("sec.secrets").exists());
    }

    #[test]
    fn escaping_entries_and_oversized_contexts_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let tar = tar_of(&[("../evil", b"x")]);
        let err = ContextDir::unpack(tmp.path(), "two", &mut &tar[..], 1 << 20)
            .err()
            .unwrap();
        assert!(err.to_string().contains("not a valid tar"), "{err}");
        assert!(!tmp.path().join("evil").exists());
        let big = tar_of(&[("big", &[0u8; 8192])]);
        let err = ContextDir::unpack(tmp.path(), "three", &mut &big[..], 4096)
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("larger than the limit of 4096 bytes"),
            "{err}"
        );
    }
}
