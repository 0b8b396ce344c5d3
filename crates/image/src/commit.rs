//! `docker commit`: a container's changes, as a layer tar, stacked on the image it was created
//! from to make a new image.
//!
//! The layer (produced by [`berth_storage::diff::write_overlay_diff`]) is stored as given while
//! its diff ID is computed in the same pass, unpacked on top of the parent's snapshot chain, and
//! recorded with a config derived from the parent's. Everything written is held by a [`Lease`],
//! so a bad layer or a crash leaves no blob or snapshot behind and a concurrent removal of the
//! parent cannot delete the layers the new image is about to share with it.

use crate::build::sniff_layer_media_type;
use crate::config_changes::apply_changes;
use crate::error::{ImageError, Result};
use crate::oci::{History, OciImageConfig, media_types};
use crate::records::{ImageRecord, LayerRecord};
use crate::store::{ImageStore, Lease, NewImage};
use crate::timefmt::now_rfc3339;
use berth_api_types::image::ImageConfig;
use berth_common::{Digest, Reference};
use std::io::{self, Read};
use std::sync::Arc;

/// What [`ImageStore::commit`] needs.
pub struct CommitOptions<'a> {
    /// Id (config digest) of the image the container was created from.
    pub parent: Digest,
    /// The container's changes: a layer tar (uncompressed as a diff produces it; gzip and zstd
    /// are recognised too). It is read to the end.
    pub layer: &'a mut dyn Read,
    /// Tag to give the new image (`docker commit CONTAINER repo[:tag]`); `latest` when it names
    /// no tag. A reference with a digest is refused.
    pub reference: Option<Reference>,
    /// Commit message (`--message`), recorded in the config and the new history entry; none
    /// when empty.
    pub comment: String,
    /// Author (`--author`), recorded in the config and the new history entry; none when empty.
    pub author: String,
    /// Dockerfile instructions to apply to the run config (`--change`), after `config`.
    pub changes: Vec<String>,
    /// The container's run config; when given it replaces the parent's before `changes`
    /// apply, when `None` the parent's is kept.
    pub config: Option<ImageConfig>,
    /// What made the layer, for `docker history` (Docker puts the container's command,
    /// its words joined by spaces); none when empty.
    pub created_by: String,
}

impl std::fmt::Debug for CommitOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitOptions")
            .field("parent", &self.parent)
            .field("reference", &self.reference)
            .field("comment", &self.comment)
            .field("author", &self.author)
            .field("changes", &self.changes)
            .field("config", &self.config)
            .field("created_by", &self.created_by)
            .finish_non_exhaustive()
    }
}

impl ImageStore {
    /// Makes a new image from `opts.parent` plus one layer (`opts.layer`) and returns its id.
    ///
    /// The new image has the parent's layers and the new one, the parent's platform, the
    /// parent's history plus one entry (`created`, `created_by`, `author`, `comment`), and the
    /// run config `opts.config` (or the parent's) with `opts.changes` applied. Bad `--change`
    /// values, an unknown parent and a digest reference are refused before the layer is read.
    /// A layer that is not a valid tar is refused ([`ImageError::Layer`], kind
    /// `InvalidArgument`); on any error nothing new is left in the store.
    pub fn commit(&self, opts: CommitOptions<'_>) -> Result<Digest> {
        let CommitOptions {
            parent,
            layer,
            reference,
            comment,
            author,
            changes,
            config,
            created_by,
        } = opts;
        if let Some(r) = &reference
            && r.digest().is_some()
        {
            return Err(ImageError::InvalidArgument(format!(
                "refusing to create a tag with a digest reference: {}",
                r.familiar()
            )));
        }
        // Taken before the parent is read: from here on its blobs and snapshots stay, even if
        // the parent itself is removed meanwhile.
        let mut lease = Lease::new(self);
        let (parent_record, parent_config) = {
            let mut inner = self.lock();
            let record = inner
                .state
                .images
                .get(&parent)
                .cloned()
                .ok_or_else(|| ImageError::NotFound(parent.to_string()))?;
            let config = self.config_of(&mut inner, &parent)?;
            (record, config)
        };
        let mut run_config = config
            .or_else(|| parent_config.config.clone())
            .unwrap_or_default();
        apply_changes(&mut run_config, &changes)?;

        let (blob, diff_id) = self.store_tarball(layer)?;
        lease.blob(&blob);
        let media_type = sniff_layer_media_type(&self.content, &blob.digest)?;
        let layer_err = |source| ImageError::Layer {
            layer: "committed layer".into(),
            source,
        };
        let mut reader = self.content.open_blob(&blob.digest).map_err(layer_err)?;
        let top = parent_record.layers.last().map(|l| &l.chain_id);
        let applied = self
            .snapshotter
            .apply_layer(top, &diff_id, &mut reader)
            .map_err(layer_err)?;
        lease.snapshot(&applied);
        let mut layers = parent_record.layers.clone();
        layers.push(LayerRecord {
            blob: blob.digest.clone(),
            media_type: media_type.to_string(),
            size: blob.size,
            diff_id: diff_id.clone(),
            chain_id: applied.chain_id,
            unpacked: applied.size,
        });

        let created = now_rfc3339();
        let non_empty = |s: String| (!s.is_empty()).then_some(s);
        let (comment, author, created_by) =
            (non_empty(comment), non_empty(author), non_empty(created_by));
        let mut new_config: OciImageConfig = (*parent_config).clone();
        new_config.created = Some(created.clone());
        new_config.author = author.clone();
        new_config.comment = comment.clone();
        new_config.config = Some(run_config);
        // These described how the parent was made (which engine, which container), not this.
        new_config.docker_version = None;
        new_config.extra.remove("container");
        new_config.extra.remove("container_config");
        if new_config.rootfs.kind.is_empty() {
            new_config.rootfs.kind = "layers".into();
        }
        new_config.rootfs.diff_ids.push(diff_id);
        new_config.history.push(History {
            created: Some(created.clone()),
            created_by,
            author,
            comment,
            empty_layer: None,
        });
        let config_bytes = serde_json::to_vec(&new_config)
            .map_err(|e| ImageError::io("encoding the image config", io::Error::other(e)))?;
        let config_blob = self
            .content
            .write_bytes(&config_bytes)
            .map_err(|e| ImageError::storage("storing the image config", e))?;
        lease.blob(&config_blob);
        let manifest =
            self.write_manifest(&config_blob.digest, config_blob.size, &layers, &mut lease)?;

        let record = ImageRecord {
            id: config_blob.digest.clone(),
            config_size: config_blob.size,
            manifest: manifest.digest,
            manifest_size: manifest.size,
            manifest_media_type: media_types::OCI_MANIFEST.into(),
            size: layers.iter().map(|l| l.unpacked).sum(),
            layers,
            repo_digests: Vec::new(),
            added: created,
            last_tag_time: None,
            parent: Some(parent.clone()),
        };
        self.add_images(&[NewImage {
            record,
            tags: reference.into_iter().collect(),
            config: Arc::new(new_config),
        }])?;
        drop(lease);
        Ok(config_blob.digest)
    }
}
