//! Blob uploads: started, fed in order (monolithic, chunked with `Content-Range`, or
//! streamed), and completed only when the bytes hash to the digest the client names.
//!
//! The hash runs as the bytes arrive, so completing a multi-gigabyte upload does not read it
//! again; after a restart an upload's hash is rebuilt from its file on first use. A completed
//! or cancelled upload is gone: using its id again is `BLOB_UPLOAD_UNKNOWN`.

use super::{RegistryStore, Result, StoreError, check_name, random_id};
use berth_common::Digest;
use sha2::{Digest as _, Sha256};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Uploads open at once (each holds a file descriptor); more are refused until some end.
const MAX_OPEN_UPLOADS: usize = 4096;

/// An upload in progress.
pub(super) struct Upload {
    repo: String,
    file: File,
    path: PathBuf,
    hasher: Sha256,
    offset: u64,
    done: bool,
}

impl RegistryStore {
    fn upload_dir(&self, id: &str) -> PathBuf {
        self.root.join("uploads").join(id)
    }

    /// Starts an upload into `repo`; its id.
    pub fn start_upload(&self, repo: &str) -> Result<String> {
        check_name(repo)?;
        let id = random_id();
        let dir = self.upload_dir(&id);
        fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        let repo_file = dir.join("repo");
        fs::write(&repo_file, repo).map_err(|e| StoreError::io(&repo_file, e))?;
        let path = dir.join("data");
        let file = File::create(&path).map_err(|e| StoreError::io(&path, e))?;
        let upload = Upload {
            repo: repo.to_string(),
            file,
            path,
            hasher: Sha256::new(),
            offset: 0,
            done: false,
        };
        let mut map = self.uploads.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_OPEN_UPLOADS {
            drop(map);
            let _ = fs::remove_dir_all(&dir);
            return Err(StoreError::TooManyUploads);
        }
        map.insert(id.clone(), (repo.to_string(), Arc::new(Mutex::new(upload))));
        Ok(id)
    }

    /// The upload `id` of `repo`, from memory or, after a restart, from its files. The map's
    /// lock is never held while an upload's own lock is taken, and the other way round.
    fn upload(&self, repo: &str, id: &str) -> Result<Arc<Mutex<Upload>>> {
        let unknown = || StoreError::UploadUnknown(id.to_string());
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(unknown());
        }
        let mut map = self.uploads.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((owner, u)) = map.get(id) {
            return if owner == repo {
                Ok(u.clone())
            } else {
                Err(unknown())
            };
        }
        if map.len() >= MAX_OPEN_UPLOADS {
            return Err(StoreError::TooManyUploads);
        }
        let dir = self.upload_dir(id);
        let owner = fs::read_to_string(dir.join("repo")).map_err(|_| unknown())?;
        if owner != repo {
            return Err(unknown());
        }
        let path = dir.join("data");
        let mut file = File::options()
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|_| unknown())?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut offset = 0u64;
        loop {
            let n = file.read(&mut buf).map_err(|e| StoreError::io(&path, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            offset += n as u64;
        }
        let u = Arc::new(Mutex::new(Upload {
            repo: repo.to_string(),
            file,
            path,
            hasher,
            offset,
            done: false,
        }));
        map.insert(id.to_string(), (repo.to_string(), u.clone()));
        Ok(u)
    }

    /// Forgets upload `id` in memory (its file, if any, stays for [`Self::gc`]).
    pub(super) fn forget_upload(&self, id: &str) {
        self.uploads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// Bytes upload `id` has received.
    pub fn upload_offset(&self, repo: &str, id: &str) -> Result<u64> {
        let u = self.upload(repo, id)?;
        let u = u.lock().unwrap_or_else(|p| p.into_inner());
        Ok(u.offset)
    }

    /// Appends `data` to upload `id`. `start`, when the client sent a `Content-Range`, must
    /// be where the upload stands (a chunk out of order is refused: 416). Returns the new
    /// offset.
    pub fn append(&self, repo: &str, id: &str, start: Option<u64>, data: &[u8]) -> Result<u64> {
        let u = self.upload(repo, id)?;
        let mut u = u.lock().unwrap_or_else(|p| p.into_inner());
        if u.done {
            return Err(StoreError::UploadUnknown(id.to_string()));
        }
        if let Some(start) = start
            && start != u.offset
        {
            return Err(StoreError::RangeInvalid {
                offset: u.offset,
                start,
            });
        }
        let path = u.path.clone();
        u.file
            .write_all(data)
            .map_err(|e| StoreError::io(&path, e))?;
        u.hasher.update(data);
        u.offset += data.len() as u64;
        Ok(u.offset)
    }

    /// Completes upload `id` as blob `digest`: the bytes must hash to it (else the upload is
    /// discarded and nothing stored). The blob is linked into the repository; its size.
    pub fn finish_upload(&self, repo: &str, id: &str, digest: &str) -> Result<u64> {
        let u = self.upload(repo, id)?;
        let result = {
            let mut u = u.lock().unwrap_or_else(|p| p.into_inner());
            if u.done {
                return Err(StoreError::UploadUnknown(id.to_string()));
            }
            u.done = true;
            self.commit(&mut u, digest)
        };
        self.forget_upload(id);
        let _ = fs::remove_dir_all(self.upload_dir(id));
        result
    }

    fn commit(&self, u: &mut Upload, digest: &str) -> Result<u64> {
        let expected: Digest = digest
            .parse()
            .map_err(|_| StoreError::DigestInvalid(digest.to_string()))?;
        let actual = hex_digest(u.hasher.clone());
        if actual != expected.hex() {
            return Err(StoreError::DigestInvalid(format!(
                "{expected}: the upload hashes to sha256:{actual}"
            )));
        }
        u.file.sync_all().map_err(|e| StoreError::io(&u.path, e))?;
        let target = self.blob_path(&expected);
        {
            // Under the sweep lock: GC must not judge the blob between rename and link.
            let _guard = self.sweep.lock().unwrap_or_else(|p| p.into_inner());
            if target.exists() {
                let f = File::options()
                    .write(true)
                    .open(&target)
                    .map_err(|e| StoreError::io(&target, e))?;
                f.set_modified(std::time::SystemTime::now())
                    .map_err(|e| StoreError::io(&target, e))?;
            } else {
                fs::rename(&u.path, &target).map_err(|e| StoreError::io(&target, e))?;
                // Its mtime is the last chunk's; GC's grace counts from now.
                u.file
                    .set_modified(std::time::SystemTime::now())
                    .map_err(|e| StoreError::io(&target, e))?;
            }
        }
        self.link_blob(&u.repo, &expected)?;
        Ok(u.offset)
    }

    /// Cancels upload `id`.
    pub fn cancel_upload(&self, repo: &str, id: &str) -> Result<()> {
        let u = self.upload(repo, id)?;
        u.lock().unwrap_or_else(|p| p.into_inner()).done = true;
        self.forget_upload(id);
        let dir = self.upload_dir(id);
        fs::remove_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))
    }
}

/// The hex sha256 a hasher holds.
pub(super) fn hex_digest(h: Sha256) -> String {
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
