//! The store's side of a push: what a tag's image consists of, in the form the registry
//! wants it (the manifest's exact bytes and each blob's file), and the repo digest a
//! finished push adds.
//!
//! Layers a build or a commit made are kept as plain tars (so they unpack and hash without a
//! decoder); a registry gets them gzip-compressed, as `docker push` sends them. The gzip form
//! is made once per layer, kept in the content store beside it and named in the layer's
//! record (so it lives and dies with the image), and is the same bytes whenever it is made
//! again (no timestamp in the header), so a second push, or a push after the form was
//! collected, finds the registry already holding it. The pushed manifest is the stored one
//! with those layers' descriptors changed, every other field kept.

use crate::error::{ImageError, Result};
use crate::oci::media_types;
use crate::records::CompressedLayer;
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
    /// Its media type, as the manifest names it.
    pub media_type: String,
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
    /// The manifest is a registry's (the image was pulled, and no push here compressed its
    /// layers): it is pushed byte for byte, so the image keeps the digest it was pulled with.
    pub as_pulled: bool,
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
            let blob = |digest: &Digest, size: u64, media_type: &str| PushBlob {
                digest: digest.clone(),
                size,
                path: self.content.blob_path(digest),
                media_type: media_type.to_string(),
            };
            let manifest = self
                .content
                .read(&record.manifest)
                .map_err(|e| ImageError::storage(format!("reading the manifest of {id}"), e))?;
            let config_type = serde_json::from_slice::<serde_json::Value>(&manifest)
                .ok()
                .and_then(|m| m["config"]["mediaType"].as_str().map(str::to_string))
                .unwrap_or_else(|| media_types::OCI_CONFIG.to_string());
            out.push(PushSource {
                reference,
                id: id.clone(),
                manifest,
                manifest_media_type: record.manifest_media_type.clone(),
                config: blob(&record.id, record.config_size, &config_type),
                layers: record
                    .layers
                    .iter()
                    .map(|l| blob(&l.blob, l.size, &l.media_type))
                    .collect(),
                known_repos: record
                    .repo_digests
                    .iter()
                    .filter_map(|d| Reference::parse(d).ok())
                    .collect(),
                as_pulled: !record.repo_digests.is_empty()
                    && record.layers.iter().all(|l| l.compressed.is_none()),
            });
        }
        Ok(out)
    }

    /// Turns `source`'s uncompressed layers into their gzip form (made now, or found from an
    /// earlier push) and its manifest into the one naming them; a source without such
    /// layers, or a pulled image's ([`PushSource::as_pulled`]), is left as it is, manifest
    /// bytes included. Compresses several layers at once.
    pub fn compress_for_push(&self, source: &mut PushSource) -> Result<()> {
        let plain: Vec<usize> = (0..source.layers.len())
            .filter(|&i| gzip_media_type(&source.layers[i].media_type).is_some())
            .collect();
        if plain.is_empty() || source.as_pulled {
            return Ok(());
        }
        let known: Vec<Option<CompressedLayer>> = {
            let inner = self.lock();
            plain
                .iter()
                .map(|&i| {
                    let blob = &source.layers[i].digest;
                    inner
                        .state
                        .images
                        .values()
                        .flat_map(|r| &r.layers)
                        .filter(|l| l.blob == *blob)
                        .filter_map(|l| l.compressed.as_ref())
                        .find(|c| self.content.contains(&c.digest))
                        .cloned()
                })
                .collect()
        };
        let next = std::sync::atomic::AtomicUsize::new(0);
        let slots: Vec<std::sync::Mutex<Option<Result<CompressedLayer>>>> =
            known.iter().map(|_| std::sync::Mutex::new(None)).collect();
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(plain.len());
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if k >= plain.len() {
                            break;
                        }
                        let made = match &known[k] {
                            Some(c) => Ok(c.clone()),
                            None => self.gzip_blob(&source.layers[plain[k]].digest),
                        };
                        *slots[k].lock().unwrap_or_else(|p| p.into_inner()) = Some(made);
                    }
                });
            }
        });
        let made: Vec<Result<CompressedLayer>> = slots
            .into_iter()
            .map(|slot| {
                slot.into_inner()
                    .unwrap_or_else(|p| p.into_inner())
                    .unwrap_or_else(|| {
                        Err(ImageError::Corrupted {
                            id: source.id.to_string(),
                            reason: "a layer was left uncompressed".into(),
                        })
                    })
            })
            .collect();
        // What was made is recorded even when another layer failed, so it is referenced
        // (and reused by the next push) rather than left for the start-up GC.
        {
            let mut inner = self.lock();
            let mut state = inner.state.clone();
            let mut changed = false;
            for (&i, twin) in plain.iter().zip(&made) {
                let Ok(twin) = twin else { continue };
                let blob = &source.layers[i].digest;
                for layer in state.images.values_mut().flat_map(|r| r.layers.iter_mut()) {
                    if layer.blob == *blob && layer.compressed.as_ref() != Some(twin) {
                        layer.compressed = Some(twin.clone());
                        changed = true;
                    }
                }
            }
            if changed {
                self.persist(&mut inner, state)?;
            }
        }
        let twins = made.into_iter().collect::<Result<Vec<_>>>()?;
        let corrupted = |reason: String| ImageError::Corrupted {
            id: source.id.to_string(),
            reason,
        };
        let mut manifest: serde_json::Value = serde_json::from_slice(&source.manifest)
            .map_err(|e| corrupted(format!("its manifest: {e}")))?;
        for (&i, twin) in plain.iter().zip(twins) {
            let layer = &mut source.layers[i];
            let descriptor = manifest["layers"]
                .get_mut(i)
                .filter(|d| d["digest"].as_str() == Some(&layer.digest.to_string()))
                .ok_or_else(|| {
                    corrupted(format!(
                        "its manifest does not list layer {} at {i}",
                        layer.digest
                    ))
                })?;
            let media_type = gzip_media_type(&layer.media_type)
                .unwrap_or(media_types::OCI_LAYER_GZIP)
                .to_string();
            descriptor["digest"] = twin.digest.to_string().into();
            descriptor["size"] = twin.size.into();
            descriptor["mediaType"] = media_type.clone().into();
            *layer = PushBlob {
                path: self.content.blob_path(&twin.digest),
                digest: twin.digest,
                size: twin.size,
                media_type,
            };
        }
        source.manifest =
            serde_json::to_vec(&manifest).map_err(|e| corrupted(format!("its manifest: {e}")))?;
        Ok(())
    }

    /// Stores the gzip form of blob `digest` (read verified) and says what it is.
    fn gzip_blob(&self, digest: &Digest) -> Result<CompressedLayer> {
        let what = || format!("compressing layer {digest}");
        let mut reader = self
            .content
            .open_blob(digest)
            .map_err(|e| ImageError::storage(what(), e))?;
        let ingest = self
            .content
            .ingest()
            .map_err(|e| ImageError::storage(what(), e))?;
        let mut gzip = flate2::GzBuilder::new()
            .mtime(0)
            .write(ingest, flate2::Compression::default());
        let path = self.content.blob_path(digest);
        std::io::copy(&mut reader, &mut gzip).map_err(|e| {
            ImageError::storage(what(), berth_storage::content::unwrap_io(e, path.clone()))
        })?;
        let ingest = gzip
            .finish()
            .map_err(|e| ImageError::storage(what(), berth_storage::StorageError::io(&path, e)))?;
        let committed = ingest
            .commit(None)
            .map_err(|e| ImageError::storage(what(), e))?;
        Ok(CompressedLayer {
            digest: committed.digest,
            size: committed.size,
        })
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

/// The gzip media type an uncompressed layer of `media_type` is pushed as; `None` for a layer
/// already compressed (or one that is not distributed).
fn gzip_media_type(media_type: &str) -> Option<&'static str> {
    match media_type {
        media_types::OCI_LAYER => Some(media_types::OCI_LAYER_GZIP),
        media_types::DOCKER_LAYER => Some(media_types::DOCKER_LAYER_GZIP),
        _ => None,
    }
}
