//! The store's side of a push: what a tag's image consists of, in the form the registry
//! wants it (the manifest's exact bytes and each blob's file), and the repo digest a
//! finished push adds.

use crate::error::{ImageError, Result};
use crate::store::ImageStore;
use berth_common::{Digest, Reference};
use std::path::PathBuf;

/// One blob to push.
#[derive(Debug, Clone)]
pub struct PushBlob {
    /// Its digest.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// Where the content store keeps it.
    pub path: PathBuf,
}

/// One tag to push: its image's manifest, config and layers.
#[derive(Debug, Clone)]
pub struct PushSource {
    /// The tag (`127.0.0.1:5000/app:1`).
    pub reference: Reference,
    /// The image id.
    pub id: Digest,
    /// The manifest's bytes.
    pub manifest: Vec<u8>,
    /// Its media type.
    pub manifest_media_type: String,
    /// The config blob.
    pub config: PushBlob,
    /// The layer blobs, bottom first.
    pub layers: Vec<PushBlob>,
    /// Repositories the image was pulled from or pushed to (`name@digest`): candidates to
    /// mount its blobs from on the same registry.
    pub known_repos: Vec<Reference>,
}

impl ImageStore {
    /// The tags to push for `name` (with `tag`, that one; without, every tag of the
    /// repository, as `docker push -a`). An image not tagged so is Docker's `An image does
    /// not exist locally with the tag: …`.
    pub fn push_sources(&self, name: &str, tag: Option<&str>) -> Result<Vec<PushSource>> {
        let base =
            Reference::parse(name).map_err(|e| ImageError::InvalidArgument(e.to_string()))?;
        let inner = self.lock();
        let wanted: Vec<(Reference, Digest)> = match tag {
            Some(t) => {
                let r = base
                    .with_tag(t)
                    .map_err(|e| ImageError::InvalidArgument(e.to_string()))?;
                match inner.state.tag_target(&r) {
                    Some(id) => vec![(r, id.clone())],
                    None => Vec::new(),
                }
            }
            None => inner
                .state
                .tags
                .iter()
                .filter_map(|(n, id)| Reference::parse(n).ok().map(|r| (r, id.clone())))
                .filter(|(r, _)| r.name() == base.name())
                .collect(),
        };
        if wanted.is_empty() {
            return Err(ImageError::NoSuchTag(base.familiar_name()));
        }
        let mut out = Vec::with_capacity(wanted.len());
        for (reference, id) in wanted {
            let record = inner.state.images.get(&id).ok_or_else(|| {
                ImageError::NotFound(format!("No such image: {}", reference.familiar()))
            })?;
            let blob = |digest: &Digest, size: u64| PushBlob {
                digest: digest.clone(),
                size,
                path: self.content.blob_path(digest),
            };
            let manifest = self
                .content
                .read(&record.manifest)
                .map_err(|e| ImageError::storage(format!("reading the manifest of {id}"), e))?;
            out.push(PushSource {
                reference,
                id: id.clone(),
                manifest,
                manifest_media_type: record.manifest_media_type.clone(),
                config: blob(&record.id, record.config_size),
                layers: record
                    .layers
                    .iter()
                    .map(|l| blob(&l.blob, l.size))
                    .collect(),
                known_repos: record
                    .repo_digests
                    .iter()
                    .filter_map(|d| Reference::parse(d).ok())
                    .collect(),
            });
        }
        Ok(out)
    }

    /// Records that image `id` is at `repo_digest` (`name@sha256:…`) in a registry, keeping
    /// one digest per repository as Docker does.
    pub fn add_repo_digest(&self, id: &Digest, repo_digest: &Reference) -> Result<()> {
        let mut inner = self.lock();
        let mut state = inner.state.clone();
        let Some(r) = state.images.get_mut(id) else {
            return Ok(());
        };
        let name = repo_digest.name();
        let text = repo_digest.to_string();
        if r.repo_digests.contains(&text) {
            return Ok(());
        }
        r.repo_digests.retain(|d| {
            Reference::parse(d)
                .map(|x| x.name() != name)
                .unwrap_or(true)
        });
        r.repo_digests.push(text);
        self.persist(&mut inner, state)
    }
}
