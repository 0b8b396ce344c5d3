//! Images put together by a build: a base image's layers, optionally one new layer on top,
//! and a config the caller wrote. `docker commit` is one use (one layer, the parent's config
//! changed); each build step that changes the file system is another.
//!
//! Everything written is held by a [`Lease`] until the record is in the state document, so a
//! bad layer or a crash leaves no blob or snapshot behind, and the base's layers cannot be
//! collected while the new image is being made from them.

use crate::build::sniff_layer_media_type;
use crate::error::{ImageError, Result};
use crate::oci::{OciImageConfig, media_types};
use crate::records::{CacheRecord, ImageRecord, LayerRecord};
use crate::store::{ImageStore, Lease, NewImage};
use crate::timefmt::now_rfc3339;
use berth_common::{Digest, Reference};
use std::io::{self, Read};
use std::sync::Arc;

/// What [`ImageStore::assemble`] makes an image of.
pub struct Assembly<'a> {
    /// The image whose layers are the bottom of the new one (`None`: no layers, `FROM scratch`).
    pub base: Option<Digest>,
    /// A layer tar to add on top (uncompressed as a diff produces it; gzip and zstd are
    /// recognised too), read to the end; `None` for an image that only changes the config.
    pub layer: Option<&'a mut dyn Read>,
    /// The new image's config. Its `rootfs` is set here from the layers; its history is the
    /// caller's (one entry without `empty_layer` per layer).
    pub config: OciImageConfig,
    /// Tags to point at the new image.
    pub tags: Vec<Reference>,
    /// Keep the image out of `docker images` and `image prune`: a build step's result, which
    /// lives as long as the build cache holds it.
    pub hidden: bool,
    /// Record the image in the build cache under this key, in the same state write.
    pub cache_key: Option<String>,
    /// The writable layer (a stopped container's, by key) whose changes `layer` is: the
    /// snapshotter may move it into place instead of unpacking the tar again.
    pub adopt: Option<String>,
}

impl std::fmt::Debug for Assembly<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assembly")
            .field("base", &self.base)
            .field("layer", &self.layer.is_some())
            .field("tags", &self.tags)
            .field("hidden", &self.hidden)
            .field("cache_key", &self.cache_key)
            .finish_non_exhaustive()
    }
}

impl ImageStore {
    /// Makes the image `a` describes and returns its id. An image with the same content that
    /// exists already is reused (and shown again if it was hidden and this one is not). On any
    /// error nothing new is left in the store.
    pub fn assemble(&self, a: Assembly<'_>) -> Result<Digest> {
        let Assembly {
            base,
            layer,
            mut config,
            tags,
            hidden,
            cache_key,
            adopt,
        } = a;
        if let Some(r) = tags.iter().find(|r| r.digest().is_some()) {
            return Err(ImageError::InvalidArgument(format!(
                "refusing to create a tag with a digest reference: {}",
                r.familiar()
            )));
        }
        // Taken before the base is read: from here on its blobs and snapshots stay, even if
        // the base itself is removed meanwhile.
        let mut lease = Lease::new(self);
        let mut layers = match &base {
            Some(id) => {
                let inner = self.lock();
                inner
                    .state
                    .images
                    .get(id)
                    .map(|r| r.layers.clone())
                    .ok_or_else(|| ImageError::NotFound(id.to_string()))?
            }
            None => Vec::new(),
        };
        if let Some(layer) = layer {
            layers.push(self.add_layer(layers.last(), layer, adopt.as_deref(), &mut lease)?);
        }
        if config.rootfs.kind.is_empty() {
            config.rootfs.kind = "layers".into();
        }
        config.rootfs.diff_ids = layers.iter().map(|l| l.diff_id.clone()).collect();
        let config_bytes = serde_json::to_vec(&config)
            .map_err(|e| ImageError::io("encoding the image config", io::Error::other(e)))?;
        let config_blob = self
            .content
            .write_bytes(&config_bytes)
            .map_err(|e| ImageError::storage("storing the image config", e))?;
        lease.blob(&config_blob);
        let manifest =
            self.write_manifest(&config_blob.digest, config_blob.size, &layers, &mut lease)?;
        let now = now_rfc3339();
        let record = ImageRecord {
            id: config_blob.digest.clone(),
            config_size: config_blob.size,
            manifest: manifest.digest,
            manifest_size: manifest.size,
            manifest_media_type: media_types::OCI_MANIFEST.into(),
            size: layers.iter().map(|l| l.unpacked).sum(),
            layers,
            repo_digests: Vec::new(),
            added: now.clone(),
            last_tag_time: None,
            parent: base,
            hidden,
        };
        let id = record.id.clone();
        self.add_images_with(
            &[NewImage {
                record,
                tags,
                config: Arc::new(config),
            }],
            |state| {
                if let Some(rec) = state.images.get_mut(&id)
                    && !hidden
                {
                    rec.hidden = false;
                }
                if let Some(key) = cache_key {
                    state.cache.insert(
                        key,
                        CacheRecord {
                            image: id.clone(),
                            created: now.clone(),
                            last_used: now.clone(),
                            uses: 1,
                        },
                    );
                }
            },
        )?;
        drop(lease);
        Ok(id)
    }

    /// Stores `layer` as a blob (its diff ID computed in the same pass) and puts it on top of
    /// `top` (the writable layer `adopt` moved into place, or the tar unpacked), both held by
    /// `lease`.
    fn add_layer(
        &self,
        top: Option<&LayerRecord>,
        layer: &mut dyn Read,
        adopt: Option<&str>,
        lease: &mut Lease<'_>,
    ) -> Result<LayerRecord> {
        let (blob, diff_id) = self.store_tarball(layer)?;
        lease.blob(&blob);
        let media_type = sniff_layer_media_type(&self.content, &blob.digest)?;
        let layer_err = |source| ImageError::Layer {
            layer: "committed layer".into(),
            source,
        };
        let parent = top.map(|l| &l.chain_id);
        let adopted = match adopt {
            Some(key) => self
                .snapshotter
                .adopt_writable(key, parent, &diff_id)
                .map_err(layer_err)?,
            None => None,
        };
        let applied = match adopted {
            Some(a) => a,
            None => {
                let mut reader = self.content.open_blob(&blob.digest).map_err(layer_err)?;
                self.snapshotter
                    .apply_layer(parent, &diff_id, &mut reader)
                    .map_err(layer_err)?
            }
        };
        lease.snapshot(&applied);
        Ok(LayerRecord {
            blob: blob.digest.clone(),
            media_type: media_type.to_string(),
            size: blob.size,
            diff_id,
            chain_id: applied.chain_id,
            unpacked: applied.size,
            compressed: None,
        })
    }
}
