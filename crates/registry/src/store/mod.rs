//! The registry server's storage, as a library: repositories of manifests and tags over one
//! content-addressed blob directory, every byte verified on its way in.
//!
//! Layout under the root:
//! * `blobs/sha256/<hex>`: blob and manifest content, shared by all repositories;
//! * `repositories/<name>/_layers/<hex>`: which blobs a repository may serve (empty files);
//! * `repositories/<name>/_manifests/revisions/<hex>`: its manifests (the file holds the media
//!   type), `_manifests/tags/<tag>` (the file holds the digest);
//! * `repositories/<name>/_referrers/<subject hex>/<hex>`: the descriptor of a manifest whose
//!   `subject` is that digest (the referrers API);
//! * `uploads/<id>/{data,repo}`: uploads in progress.
//!
//! Everything is written to a temporary name and renamed, so a crash leaves whole files or
//! none. A blob reaches `blobs/` only once its bytes hashed to the digest the client named.
//! Online garbage collection ([`gc`]) runs while the registry serves: see that module for why
//! a push in flight never loses a blob.

mod gc;
mod manifests;
mod uploads;

pub use gc::GcReport;
pub use manifests::{Referrer, StoredManifest};

use berth_common::Digest;
use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// The largest manifest accepted (the distribution spec lets registries set one; 4 MiB as
/// distribution and Docker).
pub const MANIFEST_LIMIT: usize = 4 << 20;

/// What can go wrong, each with the distribution spec's error code.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A repository name outside the spec's grammar (uppercase, `..`, too long).
    #[error("invalid repository name {0:?}")]
    NameInvalid(String),
    /// A tag outside `[A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}`.
    #[error("invalid tag {0:?}")]
    TagInvalid(String),
    /// No such repository.
    #[error("repository name not known to registry: {0}")]
    NameUnknown(String),
    /// No such blob in the repository.
    #[error("blob unknown to registry: {0}")]
    BlobUnknown(Digest),
    /// No such manifest.
    #[error("manifest unknown: {0}")]
    ManifestUnknown(String),
    /// No such upload (never started, cancelled or already completed).
    #[error("blob upload unknown to registry: {0}")]
    UploadUnknown(String),
    /// Uploaded bytes do not hash to the digest given, or a malformed digest.
    #[error("provided digest did not match uploaded content: {0}")]
    DigestInvalid(String),
    /// A chunk that does not start where the upload stands.
    #[error(
        "requested range not satisfiable: the upload is at {offset}, the chunk starts at {start}"
    )]
    RangeInvalid {
        /// Bytes received so far.
        offset: u64,
        /// Where the chunk claims to start.
        start: u64,
    },
    /// A manifest that does not parse or is too large.
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    /// A manifest referencing a blob the repository lacks.
    #[error("blob unknown to registry: {0} (referenced by the manifest)")]
    ManifestBlobUnknown(Digest),
    /// Too many uploads are open at once.
    #[error("too many uploads in progress; finish or cancel some")]
    TooManyUploads,
    /// A manifest over [`MANIFEST_LIMIT`].
    #[error("manifest too large: more than {MANIFEST_LIMIT} bytes")]
    ManifestTooLarge,
    /// The disk failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

impl StoreError {
    /// The spec's error code.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::NameInvalid(_) => "NAME_INVALID",
            StoreError::TagInvalid(_) => "TAG_INVALID",
            StoreError::NameUnknown(_) => "NAME_UNKNOWN",
            StoreError::BlobUnknown(_) => "BLOB_UNKNOWN",
            StoreError::ManifestUnknown(_) => "MANIFEST_UNKNOWN",
            StoreError::UploadUnknown(_) => "BLOB_UPLOAD_UNKNOWN",
            StoreError::DigestInvalid(_) => "DIGEST_INVALID",
            StoreError::RangeInvalid { .. } => "BLOB_UPLOAD_INVALID",
            StoreError::ManifestInvalid(_) => "MANIFEST_INVALID",
            StoreError::ManifestBlobUnknown(_) => "MANIFEST_BLOB_UNKNOWN",
            StoreError::TooManyUploads => "TOOMANYREQUESTS",
            StoreError::ManifestTooLarge => "SIZE_INVALID",
            StoreError::Io { .. } => "UNKNOWN",
        }
    }

    /// The HTTP status the spec gives it.
    pub fn status(&self) -> u16 {
        match self {
            StoreError::NameInvalid(_)
            | StoreError::TagInvalid(_)
            | StoreError::DigestInvalid(_)
            | StoreError::ManifestInvalid(_)
            | StoreError::ManifestBlobUnknown(_) => 400,
            StoreError::NameUnknown(_)
            | StoreError::BlobUnknown(_)
            | StoreError::ManifestUnknown(_)
            | StoreError::UploadUnknown(_) => 404,
            StoreError::RangeInvalid { .. } => 416,
            StoreError::ManifestTooLarge => 413,
            StoreError::TooManyUploads => 429,
            StoreError::Io { .. } => 500,
        }
    }

    fn io(path: &Path, source: io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Result alias.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An upload in memory: the repository it belongs to, and its state.
type OpenUpload = (String, Arc<Mutex<uploads::Upload>>);

/// A registry's storage (see the module's documentation). `Send + Sync`.
pub struct RegistryStore {
    root: PathBuf,
    /// Held while a blob is judged and deleted by GC, and while a blob is marked as in use
    /// (its mtime refreshed): a blob is never deleted between a push seeing it and using it.
    sweep: Mutex<()>,
    /// Uploads in progress by id, with the repository each belongs to.
    uploads: Mutex<HashMap<String, OpenUpload>>,
}

impl RegistryStore {
    /// Opens (creating) a store at `root`.
    pub fn open(root: &Path) -> Result<RegistryStore> {
        for d in ["blobs/sha256", "repositories", "uploads", "tmp"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(|e| StoreError::io(&p, e))?;
        }
        Ok(RegistryStore {
            root: root.to_path_buf(),
            sweep: Mutex::new(()),
            uploads: Mutex::new(HashMap::new()),
        })
    }

    /// Where blob `digest`'s content lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    fn repo_dir(&self, repo: &str) -> PathBuf {
        self.root.join("repositories").join(repo)
    }

    fn layer_link(&self, repo: &str, digest: &Digest) -> PathBuf {
        self.repo_dir(repo).join("_layers").join(digest.hex())
    }

    /// The size of blob `digest` if repository `repo` may serve it, marking it in use (a
    /// push asking before it relies on the blob).
    pub fn blob_size(&self, repo: &str, digest: &Digest) -> Result<Option<u64>> {
        check_name(repo)?;
        if !self.layer_link(repo, digest).exists() && !self.manifest_link(repo, digest).exists() {
            return Ok(None);
        }
        self.touch(digest)
    }

    /// Links blob `digest` into `repo`, marking it in use.
    fn link_blob(&self, repo: &str, digest: &Digest) -> Result<()> {
        write_atomic(&self.root, &self.layer_link(repo, digest), b"")
    }

    /// Refreshes a blob's mtime (GC keeps blobs touched within its grace period); its size,
    /// or `None` when it does not exist.
    fn touch(&self, digest: &Digest) -> Result<Option<u64>> {
        let _guard = self.sweep.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.blob_path(digest);
        match fs::File::options().write(true).open(&path) {
            Ok(f) => {
                f.set_modified(SystemTime::now())
                    .map_err(|e| StoreError::io(&path, e))?;
                let len = f.metadata().map_err(|e| StoreError::io(&path, e))?.len();
                Ok(Some(len))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    /// Removes blob `digest` from `repo` (its content goes when GC finds nothing uses it).
    pub fn delete_blob(&self, repo: &str, digest: &Digest) -> Result<()> {
        check_name(repo)?;
        let link = self.layer_link(repo, digest);
        match fs::remove_file(&link) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StoreError::BlobUnknown(digest.clone()))
            }
            Err(e) => Err(StoreError::io(&link, e)),
        }
    }

    /// Links blob `digest` of repository `from` into `repo` without an upload (a
    /// cross-repository mount); false when `from` does not have it.
    pub fn mount(&self, repo: &str, from: &str, digest: &Digest) -> Result<bool> {
        check_name(repo)?;
        check_name(from)?;
        if self.blob_size(from, digest)?.is_none() {
            return Ok(false);
        }
        self.link_blob(repo, digest)?;
        Ok(true)
    }

    /// Every repository, sorted.
    pub fn catalog(&self) -> Result<Vec<String>> {
        let base = self.root.join("repositories");
        let mut out = Vec::new();
        walk_repos(&base, &base, &mut out)?;
        out.sort();
        Ok(out)
    }
}

/// Collects the directories under `dir` that are repositories (hold `_layers` or
/// `_manifests`).
fn walk_repos(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io(dir, e)),
    };
    let mut is_repo = false;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('_') {
            is_repo = true;
            continue;
        }
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk_repos(base, &e.path(), out)?;
        }
    }
    if is_repo && let Ok(rel) = dir.strip_prefix(base) {
        out.push(rel.to_string_lossy().to_string());
    }
    Ok(())
}

/// Checks a repository name against the distribution spec's grammar
/// (`[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most 255
/// characters): no uppercase, no `..`, no empty or `_`-led components.
pub fn check_name(name: &str) -> Result<()> {
    let bad = || StoreError::NameInvalid(name.to_string());
    if name.is_empty() || name.len() > 255 {
        return Err(bad());
    }
    for component in name.split('/') {
        let bytes = component.as_bytes();
        let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
            return Err(bad());
        }
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if alnum(b) {
                i += 1;
                continue;
            }
            // A separator run: `.`, `_`, `__` or any number of `-`, between alphanumerics.
            let run_end = (i..bytes.len())
                .find(|&j| alnum(bytes[j]))
                .unwrap_or(bytes.len());
            let sep = &component[i..run_end];
            let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
            if !ok {
                return Err(bad());
            }
            i = run_end;
        }
    }
    Ok(())
}

/// Checks a tag (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`).
pub fn check_tag(tag: &str) -> Result<()> {
    if berth_common::reference::valid_tag(tag) {
        Ok(())
    } else {
        Err(StoreError::TagInvalid(tag.to_string()))
    }
}

/// Writes `data` to `path` through a temporary file under `root/tmp` and a rename.
fn write_atomic(root: &Path, path: &Path, data: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| StoreError::io(parent, e))?;
    }
    let tmp = root.join("tmp").join(random_id());
    fs::write(&tmp, data).map_err(|e| StoreError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        StoreError::io(path, e)
    })
}

/// 32 random hex digits (upload ids, temporary names).
pub fn random_id() -> String {
    let mut buf = [0u8; 16];
    if getrandom::fill(&mut buf).is_err() {
        // No randomness from the kernel: fall back to the clock and a counter, still unique.
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let t = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return format!("{t:024x}{n:08x}");
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
