//! `docker save`: one tar that is both a docker-archive and an OCI image layout, like Docker 25+.
//!
//! Every blob goes once under `blobs/sha256/<hex>`; `index.json` + `oci-layout` make it an OCI
//! layout, `manifest.json` (+ `repositories`) make it a docker-archive whose paths point into
//! `blobs/`. Blobs are streamed through the content store's verifying reader, so a corrupted
//! blob fails the save instead of producing an archive that loads into a different image.

use crate::error::{ImageError, Result};
use crate::oci::{
    ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, DockerArchiveEntry, ImageIndex, OciLayout,
    media_types,
};
use crate::records::{ImageRecord, State};
use crate::resolve::Resolved;
use crate::store::{ImageStore, Lease};
use berth_common::{Digest, Reference};
use berth_storage::StorageError;
use berth_storage::content::VerifyingReader;
use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read, Write};

/// One image to write and the tags to write for it.
struct SaveImage {
    record: ImageRecord,
    tags: Vec<Reference>,
}

impl ImageStore {
    /// Writes the named images to `out` as one archive. A name that is a tag puts just that tag
    /// in the archive; a name that is an id puts none (Docker's behaviour). Images named twice
    /// and blobs shared between images are written once.
    pub fn save(&self, names: &[String], out: impl Write) -> Result<()> {
        if names.is_empty() {
            return Err(ImageError::InvalidArgument("no images to save".into()));
        }
        // The lease keeps removal and gc from deleting blobs while they are being streamed.
        let _lease = Lease::new(self);
        let images = self.images_to_save(names)?;
        let mut tar = tar::Builder::new(out);
        let w = |e: io::Error| ImageError::io("writing the archive", e);
        for dir in ["blobs/", "blobs/sha256/"] {
            let mut h = header(tar::EntryType::Directory, 0, 0o755);
            tar.append_data(&mut h, dir, io::empty()).map_err(w)?;
        }
        let mut written: HashSet<Digest> = HashSet::new();
        for img in &images {
            let r = &img.record;
            let blobs = [(&r.manifest, r.manifest_size), (&r.id, r.config_size)]
                .into_iter()
                .chain(r.layers.iter().map(|l| (&l.blob, l.size)));
            for (digest, size) in blobs {
                if written.insert(digest.clone()) {
                    self.append_blob(&mut tar, digest, size)?;
                }
            }
        }
        append_json(&mut tar, "index.json", &index_json(&images))?;
        append_json(&mut tar, "manifest.json", &manifest_json(&images))?;
        let layout = OciLayout {
            image_layout_version: "1.0.0".into(),
        };
        append_json(&mut tar, "oci-layout", &layout)?;
        let repositories = repositories_json(&images);
        if !repositories.is_empty() {
            append_json(&mut tar, "repositories", &repositories)?;
        }
        let mut out = tar.into_inner().map_err(w)?;
        out.flush().map_err(w)
    }

    /// Resolves the names and merges repeats.
    fn images_to_save(&self, names: &[String]) -> Result<Vec<SaveImage>> {
        let inner = self.lock();
        let mut out: Vec<SaveImage> = Vec::new();
        for name in names {
            // Like Docker, a repository named without tag saves every tag it has.
            let repo_tags = repository_tags(&inner.state, name);
            if !repo_tags.is_empty() {
                for (tag, id) in repo_tags {
                    add(&mut out, &inner.state, &id, Some(tag))?;
                }
                continue;
            }
            let resolved = self.resolve_full(&inner, name)?;
            let tag = match &resolved {
                Resolved::Ref { reference, .. } if reference.tag().is_some() => {
                    Some(reference.without_digest())
                }
                _ => None,
            };
            add(&mut out, &inner.state, resolved.id(), tag)?;
        }
        Ok(out)
    }

    /// Streams one blob into the archive, verified.
    fn append_blob<W: Write>(
        &self,
        tar: &mut tar::Builder<W>,
        digest: &Digest,
        size: u64,
    ) -> Result<()> {
        let context = format!("saving blob {digest}");
        let reader = self
            .content
            .open_blob(digest)
            .map_err(|e| ImageError::storage(&context, e))?;
        let mut h = header(tar::EntryType::Regular, size, 0o644);
        let data = ExactReader {
            inner: reader,
            remaining: size,
            digest: digest.clone(),
        };
        tar.append_data(&mut h, format!("blobs/sha256/{}", digest.hex()), data)
            .map_err(|e| ImageError::io(context, e))
    }
}

/// Adds an image (once) and a tag to the save list.
fn add(out: &mut Vec<SaveImage>, state: &State, id: &Digest, tag: Option<Reference>) -> Result<()> {
    let record = state
        .images
        .get(id)
        .ok_or_else(|| ImageError::NotFound(id.to_string()))?;
    match out.iter_mut().find(|i| i.record.id == *id) {
        Some(i) => i.tags.extend(tag.filter(|t| !i.tags.contains(t))),
        None => out.push(SaveImage {
            record: record.clone(),
            tags: tag.into_iter().collect(),
        }),
    }
    Ok(())
}

/// Every tag of the repository `name` names, when it names a repository without tag or digest.
fn repository_tags(state: &State, name: &str) -> Vec<(Reference, Digest)> {
    let Ok(r) = Reference::parse(name) else {
        return Vec::new();
    };
    if r.tag().is_some() || r.digest().is_some() {
        return Vec::new();
    }
    let repo = r.name();
    state
        .tags
        .iter()
        .filter_map(|(t, id)| Reference::parse(t).ok().map(|t| (t, id.clone())))
        .filter(|(t, _)| t.name() == repo)
        .collect()
}

/// A tar header with neutral ownership and time, so saves are reproducible.
fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn append_json<W: Write, T: serde::Serialize>(
    tar: &mut tar::Builder<W>,
    path: &str,
    value: &T,
) -> Result<()> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| ImageError::io(format!("encoding {path}"), io::Error::other(e)))?;
    let mut h = header(tar::EntryType::Regular, bytes.len() as u64, 0o644);
    tar.append_data(&mut h, path, bytes.as_slice())
        .map_err(|e| ImageError::io("writing the archive", e))
}

/// `index.json`: one entry per tag (Docker 25+ style), or one unnamed entry per untagged image.
fn index_json(images: &[SaveImage]) -> ImageIndex {
    let mut manifests = Vec::new();
    for img in images {
        let r = &img.record;
        let base =
            crate::build::descriptor(&r.manifest_media_type, r.manifest.clone(), r.manifest_size);
        if img.tags.is_empty() {
            manifests.push(base);
            continue;
        }
        for t in &img.tags {
            let mut d = base.clone();
            let mut a = BTreeMap::new();
            a.insert(ANNOTATION_IMAGE_NAME.to_string(), t.to_string());
            if let Some(tag) = t.tag() {
                a.insert(ANNOTATION_REF_NAME.to_string(), tag.to_string());
            }
            d.annotations = Some(a);
            manifests.push(d);
        }
    }
    ImageIndex {
        schema_version: 2,
        media_type: Some(media_types::OCI_INDEX.into()),
        manifests,
        annotations: None,
    }
}

/// `manifest.json`: the docker-archive view, pointing into `blobs/`.
fn manifest_json(images: &[SaveImage]) -> Vec<DockerArchiveEntry> {
    images
        .iter()
        .map(|img| DockerArchiveEntry {
            config: format!("blobs/sha256/{}", img.record.id.hex()),
            repo_tags: (!img.tags.is_empty())
                .then(|| img.tags.iter().map(Reference::familiar).collect()),
            layers: img
                .record
                .layers
                .iter()
                .map(|l| format!("blobs/sha256/{}", l.blob.hex()))
                .collect(),
        })
        .collect()
}

/// `repositories`: repository → tag → top layer, for tools that still read it.
fn repositories_json(images: &[SaveImage]) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for img in images {
        let top = img
            .record
            .layers
            .last()
            .map(|l| &l.blob)
            .unwrap_or(&img.record.id);
        for t in &img.tags {
            if let Some(tag) = t.tag() {
                out.entry(t.familiar_name())
                    .or_default()
                    .insert(tag.into(), top.hex().into());
            }
        }
    }
    out
}

/// Yields exactly `remaining` bytes of a verified blob, then reads to its end so the digest is
/// checked; a blob that is shorter, longer or altered is an error, never a silently bad archive.
struct ExactReader {
    inner: VerifyingReader,
    remaining: u64,
    digest: Digest,
}

impl ExactReader {
    fn corrupted(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            StorageError::Corrupted(self.digest.clone()),
        )
    }
}

impl Read for ExactReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.remaining == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(self.corrupted()),
            };
        }
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(self.corrupted());
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}
