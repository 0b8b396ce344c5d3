//! Manifests, tags and referrers.
//!
//! A manifest is accepted only whole and consistent: at most [`MANIFEST_LIMIT`] bytes of JSON,
//! its digest equal to the one it is pushed under (when pushed by digest), and every blob (or,
//! for an index, every manifest) it references already in the repository — so a pulled
//! manifest never names something the registry cannot serve. A manifest with a `subject` is
//! recorded as a referrer of that digest (OCI distribution 1.1), with its `artifactType`.

use super::{
    MANIFEST_LIMIT, RegistryStore, Result, StoreError, check_name, check_tag, write_atomic,
};
use berth_common::Digest;
use serde_json::Value;
use std::fs;
use std::io;
use std::path::PathBuf;

/// A manifest as stored.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    /// Its bytes, as pushed.
    pub bytes: Vec<u8>,
    /// Its media type.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
}

/// A manifest that refers to another (its `subject`), as the referrers API lists it.
pub type Referrer = Value;

impl RegistryStore {
    pub(super) fn manifest_link(&self, repo: &str, digest: &Digest) -> PathBuf {
        self.repo_dir(repo)
            .join("_manifests/revisions")
            .join(digest.hex())
    }

    fn tag_file(&self, repo: &str, tag: &str) -> PathBuf {
        self.repo_dir(repo).join("_manifests/tags").join(tag)
    }

    fn referrers_dir(&self, repo: &str, subject: &Digest) -> PathBuf {
        self.repo_dir(repo).join("_referrers").join(subject.hex())
    }

    /// Stores a manifest pushed as `reference` (a tag or its digest) with `media_type` (the
    /// request's `Content-Type`). Returns its digest and the `subject` it names, if any.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(Digest, Option<Digest>)> {
        check_name(repo)?;
        if bytes.len() > MANIFEST_LIMIT {
            return Err(StoreError::ManifestTooLarge);
        }
        let digest = Digest::of(bytes);
        let by_digest = reference.starts_with("sha256:");
        if by_digest {
            let named: Digest = reference
                .parse()
                .map_err(|_| StoreError::DigestInvalid(reference.to_string()))?;
            if named != digest {
                return Err(StoreError::DigestInvalid(format!(
                    "{named}: the manifest hashes to {digest}"
                )));
            }
        } else {
            check_tag(reference)?;
        }
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| StoreError::ManifestInvalid(format!("not JSON: {e}")))?;
        if value.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
            return Err(StoreError::ManifestInvalid(
                "schemaVersion must be 2 (schema 1 manifests are not accepted)".into(),
            ));
        }
        let body_type = value.get("mediaType").and_then(Value::as_str);
        let media_type = match (body_type, media_type) {
            (Some(b), m) if !m.is_empty() && m != b && m != "application/json" => {
                return Err(StoreError::ManifestInvalid(format!(
                    "mediaType {b:?} does not match Content-Type {m:?}"
                )));
            }
            (Some(b), _) => b.to_string(),
            (None, m) if !m.is_empty() => m.to_string(),
            (None, _) if value.get("manifests").is_some() => {
                "application/vnd.oci.image.index.v1+json".to_string()
            }
            (None, _) => "application/vnd.oci.image.manifest.v1+json".to_string(),
        };
        if !valid_media_type(&media_type) {
            return Err(StoreError::ManifestInvalid(format!(
                "invalid media type {media_type:?}"
            )));
        }
        let is_index = value.get("manifests").is_some();
        if is_index && (value.get("config").is_some() || value.get("layers").is_some()) {
            return Err(StoreError::ManifestInvalid(
                "a manifest is an index (manifests) or an image (config, layers), not both".into(),
            ));
        }
        // What it references must be here already.
        if is_index {
            let list = value
                .get("manifests")
                .and_then(Value::as_array)
                .ok_or_else(|| StoreError::ManifestInvalid("manifests is not a list".into()))?;
            for m in list {
                let d = descriptor_digest(m)?;
                if !self.manifest_link(repo, &d).exists() {
                    return Err(StoreError::ManifestBlobUnknown(d));
                }
                self.touch(&d)?;
            }
        } else {
            let config = value
                .get("config")
                .ok_or_else(|| StoreError::ManifestInvalid("no config descriptor".into()))?;
            let mut needed = vec![descriptor_digest(config)?];
            for l in value
                .get("layers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                // Foreign layers live elsewhere (their `urls`).
                if l.get("urls").is_some() {
                    continue;
                }
                needed.push(descriptor_digest(l)?);
            }
            for d in needed {
                if self.blob_size(repo, &d)?.is_none() {
                    return Err(StoreError::ManifestBlobUnknown(d));
                }
            }
        }
        let path = self.blob_path(&digest);
        {
            let _guard = self.sweep.lock().unwrap_or_else(|p| p.into_inner());
            if path.exists() {
                let f = fs::File::options()
                    .write(true)
                    .open(&path)
                    .map_err(|e| StoreError::io(&path, e))?;
                f.set_modified(std::time::SystemTime::now())
                    .map_err(|e| StoreError::io(&path, e))?;
            } else {
                write_atomic(&self.root, &path, bytes)?;
            }
        }
        write_atomic(
            &self.root,
            &self.manifest_link(repo, &digest),
            media_type.as_bytes(),
        )?;
        if !by_digest {
            write_atomic(
                &self.root,
                &self.tag_file(repo, reference),
                digest.to_string().as_bytes(),
            )?;
        }
        let subject = match value.get("subject") {
            Some(s) => Some(descriptor_digest(s)?),
            None => None,
        };
        if let Some(subject) = &subject {
            let artifact_type = value
                .get("artifactType")
                .and_then(Value::as_str)
                .or_else(|| {
                    value
                        .get("config")
                        .and_then(|c| c.get("mediaType"))
                        .and_then(Value::as_str)
                })
                .unwrap_or("");
            let mut desc = serde_json::json!({
                "mediaType": media_type,
                "digest": digest.to_string(),
                "size": bytes.len(),
                "artifactType": artifact_type,
            });
            if let Some(a) = value.get("annotations") {
                desc["annotations"] = a.clone();
            }
            write_atomic(
                &self.root,
                &self.referrers_dir(repo, subject).join(digest.hex()),
                desc.to_string().as_bytes(),
            )?;
        }
        Ok((digest, subject))
    }

    /// The manifest `reference` (a tag or a digest) names in `repo`.
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Result<StoredManifest> {
        check_name(repo)?;
        let unknown = || StoreError::ManifestUnknown(format!("{repo}:{reference}"));
        let digest = self.resolve(repo, reference)?.ok_or_else(unknown)?;
        let media_type = match fs::read_to_string(self.manifest_link(repo, &digest)) {
            Ok(m) => m,
            Err(_) => return Err(unknown()),
        };
        let path = self.blob_path(&digest);
        let bytes = fs::read(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => unknown(),
            _ => StoreError::io(&path, e),
        })?;
        if Digest::of(&bytes) != digest {
            return Err(StoreError::Io {
                path,
                source: io::Error::new(io::ErrorKind::InvalidData, "stored manifest is corrupted"),
            });
        }
        Ok(StoredManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// The digest a tag or digest reference names, if the repository has it.
    fn resolve(&self, repo: &str, reference: &str) -> Result<Option<Digest>> {
        if reference.starts_with("sha256:") {
            let d: Digest = reference
                .parse()
                .map_err(|_| StoreError::DigestInvalid(reference.to_string()))?;
            return Ok(self.manifest_link(repo, &d).exists().then_some(d));
        }
        check_tag(reference)?;
        match fs::read_to_string(self.tag_file(repo, reference)) {
            Ok(text) => Ok(text.trim().parse().ok()),
            Err(_) => Ok(None),
        }
    }

    /// Deletes a tag, or a manifest by digest (with every tag that points at it and its
    /// entries in the referrers lists).
    pub fn delete_manifest(&self, repo: &str, reference: &str) -> Result<()> {
        check_name(repo)?;
        let unknown = || StoreError::ManifestUnknown(format!("{repo}:{reference}"));
        if !reference.starts_with("sha256:") {
            check_tag(reference)?;
            let f = self.tag_file(repo, reference);
            return fs::remove_file(&f).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => unknown(),
                _ => StoreError::io(&f, e),
            });
        }
        let digest = self.resolve(repo, reference)?.ok_or_else(unknown)?;
        let link = self.manifest_link(repo, &digest);
        fs::remove_file(&link).map_err(|e| StoreError::io(&link, e))?;
        let wanted = digest.to_string();
        for tag in self.tags(repo).unwrap_or_default() {
            let f = self.tag_file(repo, &tag);
            if fs::read_to_string(&f).is_ok_and(|t| t.trim() == wanted) {
                let _ = fs::remove_file(f);
            }
        }
        if let Ok(subjects) = fs::read_dir(self.repo_dir(repo).join("_referrers")) {
            for s in subjects.flatten() {
                let _ = fs::remove_file(s.path().join(digest.hex()));
            }
        }
        Ok(())
    }

    /// The repository's tags, sorted.
    pub fn tags(&self, repo: &str) -> Result<Vec<String>> {
        check_name(repo)?;
        let dir = self.repo_dir(repo);
        if !dir.join("_manifests").exists() && !dir.join("_layers").exists() {
            return Err(StoreError::NameUnknown(repo.to_string()));
        }
        let mut out: Vec<String> = match fs::read_dir(dir.join("_manifests/tags")) {
            Ok(entries) => entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect(),
            Err(_) => Vec::new(),
        };
        out.sort();
        Ok(out)
    }

    /// The manifests of `repo` whose `subject` is `subject`, optionally only those of one
    /// `artifact_type`.
    pub fn referrers(
        &self,
        repo: &str,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Referrer>> {
        check_name(repo)?;
        let mut out = Vec::new();
        if let Ok(entries) = fs::read_dir(self.referrers_dir(repo, subject)) {
            for e in entries.flatten() {
                let Ok(text) = fs::read_to_string(e.path()) else {
                    continue;
                };
                let Ok(desc) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if artifact_type
                    .is_some_and(|t| desc.get("artifactType").and_then(Value::as_str) != Some(t))
                {
                    continue;
                }
                out.push(desc);
            }
        }
        out.sort_by(|a, b| a["digest"].as_str().cmp(&b["digest"].as_str()));
        Ok(out)
    }
}

/// A `type/subtype` media type of RFC 6838's characters (it is sent back as a header).
fn valid_media_type(m: &str) -> bool {
    let ok = |part: &str| {
        !part.is_empty()
            && part.len() <= 127
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    matches!(m.split_once('/'), Some((t, s)) if ok(t) && ok(s))
}

/// The digest of a descriptor in a manifest.
fn descriptor_digest(d: &Value) -> Result<Digest> {
    let text = d
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| StoreError::ManifestInvalid("a descriptor has no digest".into()))?;
    text.parse()
        .map_err(|_| StoreError::ManifestInvalid(format!("invalid digest {text:?}")))
}

/// The digests a stored manifest keeps alive (its config and layers, or an index's
/// manifests), for garbage collection.
pub(super) fn references_of(bytes: &[u8]) -> Vec<Digest> {
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for key in ["manifests", "layers", "blobs"] {
        for d in value
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Ok(d) = descriptor_digest(d) {
                out.push(d);
            }
        }
    }
    if let Some(c) = value.get("config")
        && let Ok(d) = descriptor_digest(c)
    {
        out.push(d);
    }
    out
}
