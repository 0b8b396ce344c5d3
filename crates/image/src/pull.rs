//! The store's side of a pull: the registry client (in the engine) fetches, this module
//! keeps.
//!
//! A pull holds a [`TransferLease`] from its first byte to its last, so garbage collection leaves
//! alone the blobs it has downloaded but not yet recorded, and a pull that fails (a digest
//! mismatch, a killed connection) takes its new blobs and snapshots with it. The manifest and
//! config are stored only after they were checked against their digests; layers arrive
//! through the content store's resumable [`berth_storage::content::Partial`] downloads and are
//! unpacked here as they stream in, each checked against the diff ID its config declares.

use crate::build::LayerBlob;
use crate::error::{ImageError, Result};
use crate::oci::OciImageConfig;
use crate::records::ImageRecord;
use crate::store::{ImageStore, Lease, NewImage};
use crate::timefmt::now_rfc3339;
use berth_common::{Digest, Reference};
use berth_storage::content::Committed;
use std::sync::Arc;

/// One layer of a pulled image, in the content store.
#[derive(Debug, Clone)]
pub struct PulledLayer {
    /// The blob.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// Its media type, from the manifest.
    pub media_type: String,
}

/// An image whose blobs are all stored, ready to be unpacked and recorded.
#[derive(Debug, Clone)]
pub struct PulledImage {
    /// The image manifest's bytes, exactly as the registry sent them.
    pub manifest: Vec<u8>,
    /// Its media type.
    pub manifest_media_type: String,
    /// The config blob's bytes (checked against the manifest's config digest already).
    pub config: Vec<u8>,
    /// The layers, bottom first.
    pub layers: Vec<PulledLayer>,
    /// The tag to point at it (`None` for a pull by digest).
    pub tag: Option<Reference>,
    /// `name@sha256:…` of what was pulled (the index's digest for a multi-platform image).
    pub repo_digest: Reference,
}

/// A pull or push in progress (see the module's documentation): blobs stay while it lives.
pub struct TransferLease<'a> {
    store: &'a ImageStore,
    lease: Lease<'a>,
    /// Layers unpacked so far, bottom first.
    unpacked: Vec<crate::records::LayerRecord>,
}

/// How the unpacker names a pulled layer.
fn blob_of(layer: &PulledLayer) -> LayerBlob {
    LayerBlob {
        digest: layer.digest.clone(),
        size: layer.size,
        media_type: layer.media_type.clone(),
        label: format!("layer {}", layer.digest),
    }
}

impl ImageStore {
    /// Starts a pull or a push.
    pub fn begin_transfer(&self) -> TransferLease<'_> {
        TransferLease {
            store: self,
            lease: Lease::new(self),
            unpacked: Vec::new(),
        }
    }
}

impl TransferLease<'_> {
    /// True when the store already has blob `digest` (that layer need not be fetched).
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.store.content.contains(digest)
    }

    /// Notes a blob this pull stored, to be removed if the pull fails.
    pub fn stored(&mut self, c: &Committed) {
        self.lease.blob(c);
    }

    /// Unpacks the next layer (bottom first, on the ones before) from its stored blob,
    /// checked against `diff_id`: for a layer that was here already, or whose download could
    /// not be followed ([`unpack_next_streaming`](Self::unpack_next_streaming) is the usual way).
    pub fn unpack_next(&mut self, layer: &PulledLayer, diff_id: &Digest) -> Result<()> {
        let parent = self.unpacked.last().map(|l| l.chain_id.clone());
        let record =
            self.store
                .unpack_one(&blob_of(layer), diff_id, parent.as_ref(), &mut self.lease)?;
        self.unpacked.push(record);
        Ok(())
    }

    /// [`unpack_next`](Self::unpack_next) while the layer is still downloading: `download`
    /// follows its partial file and ends only once the blob was verified and stored, so the
    /// layer is unpacked as it streams in and recorded only if its bytes were the blob's.
    pub fn unpack_next_streaming(
        &mut self,
        layer: &PulledLayer,
        diff_id: &Digest,
        download: &mut berth_storage::tail::Follower,
    ) -> Result<()> {
        let parent = self.unpacked.last().map(|l| l.chain_id.clone());
        let record = self.store.unpack_one_from(
            &blob_of(layer),
            diff_id,
            parent.as_ref(),
            &mut self.lease,
            download,
        )?;
        self.unpacked.push(record);
        Ok(())
    }

    /// Unpacks the layers not unpacked yet (reporting each one done through `on_layer`), stores
    /// manifest and config, and records the image with its tag and repo digest in one write.
    /// Returns the image id.
    pub fn finish(mut self, image: PulledImage, on_layer: &mut dyn FnMut(usize)) -> Result<Digest> {
        let store = self.store;
        let what = format!("{}", image.repo_digest);
        let config = OciImageConfig::from_slice(&image.config, &what)?;
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != image.layers.len() {
            return Err(ImageError::archive(format!(
                "{what}: the config lists {} layers (rootfs.diff_ids) but the manifest has {}",
                diff_ids.len(),
                image.layers.len()
            )));
        }
        if self
            .unpacked
            .iter()
            .zip(&image.layers)
            .any(|(u, l)| u.blob != l.digest)
        {
            return Err(ImageError::archive(format!(
                "{what}: the layers unpacked are not the manifest's"
            )));
        }
        let done = self.unpacked.len();
        for (i, (layer, diff_id)) in image.layers.iter().zip(diff_ids).enumerate().skip(done) {
            self.unpack_next(layer, diff_id)?;
            on_layer(i);
        }
        let layers = std::mem::take(&mut self.unpacked);
        let config_blob = store
            .content
            .write_bytes(&image.config)
            .map_err(|e| ImageError::storage("storing the config", e))?;
        self.lease.blob(&config_blob);
        let manifest_blob = store
            .content
            .write_bytes(&image.manifest)
            .map_err(|e| ImageError::storage("storing the manifest", e))?;
        self.lease.blob(&manifest_blob);
        let repo_digest = image.repo_digest.to_string();
        let record = ImageRecord {
            id: config_blob.digest.clone(),
            config_size: config_blob.size,
            manifest: manifest_blob.digest,
            manifest_size: manifest_blob.size,
            manifest_media_type: image.manifest_media_type,
            size: layers.iter().map(|l| l.unpacked).sum(),
            layers,
            repo_digests: vec![repo_digest.clone()],
            added: now_rfc3339(),
            last_tag_time: None,
            parent: None,
            hidden: false,
        };
        let id = record.id.clone();
        let new = NewImage {
            record,
            tags: image.tag.into_iter().collect(),
            config: Arc::new(config),
        };
        store.add_images_with(std::slice::from_ref(&new), |state| {
            // An image already here (pulled under another name, or loaded) gains the digest.
            if let Some(r) = state.images.get_mut(&id) {
                if !r.repo_digests.contains(&repo_digest) {
                    // One repo digest per repository, as Docker keeps them.
                    let repo = image.repo_digest.name();
                    r.repo_digests.retain(|d| {
                        Reference::parse(d)
                            .map(|x| x.name() != repo)
                            .unwrap_or(true)
                    });
                    r.repo_digests.push(repo_digest.clone());
                }
                r.hidden = false;
            }
        })?;
        Ok(id)
    }
}
