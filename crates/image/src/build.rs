//! Turning stored blobs into an image: unpacking the layers (checking each against the diff ID
//! the config declares) and writing the manifest that ties config and layers together.
//!
//! Shared by import and load, which differ only in how the blobs got into the content store.

use crate::error::{ImageError, Result};
use crate::oci::{Descriptor, ImageManifest, media_types};
use crate::records::LayerRecord;
use crate::store::{ImageStore, Lease};
use berth_common::{Digest, Sha256Writer};
use berth_storage::StorageError;
use berth_storage::content::Committed;
use berth_storage::unpack::{Compression, decompress};
use std::io::Read;

/// A layer blob already in the content store, waiting to be unpacked.
#[derive(Debug, Clone)]
pub(crate) struct LayerBlob {
    /// The blob.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// Its media type.
    pub media_type: String,
    /// How to name it in errors (its path in the archive).
    pub label: String,
}

impl ImageStore {
    /// Unpacks `layers` bottom first into the snapshotter, each checked against its diff ID.
    pub(crate) fn unpack_layers(
        &self,
        layers: &[LayerBlob],
        diff_ids: &[Digest],
        lease: &mut Lease<'_>,
    ) -> Result<Vec<LayerRecord>> {
        self.unpack_layers_reporting(layers, diff_ids, lease, &mut |_| {})
    }

    /// [`unpack_layers`](Self::unpack_layers), calling `on_layer(i)` as layer `i` is done.
    pub(crate) fn unpack_layers_reporting(
        &self,
        layers: &[LayerBlob],
        diff_ids: &[Digest],
        lease: &mut Lease<'_>,
        on_layer: &mut dyn FnMut(usize),
    ) -> Result<Vec<LayerRecord>> {
        let mut out: Vec<LayerRecord> = Vec::with_capacity(layers.len());
        for (i, (layer, diff_id)) in layers.iter().zip(diff_ids).enumerate() {
            let parent = out.last().map(|l| l.chain_id.clone());
            out.push(self.unpack_one(layer, diff_id, parent.as_ref(), lease)?);
            on_layer(i);
        }
        Ok(out)
    }

    /// Unpacks one layer on top of the snapshot `parent`, checked against `diff_id`.
    pub(crate) fn unpack_one(
        &self,
        layer: &LayerBlob,
        diff_id: &Digest,
        parent: Option<&Digest>,
        lease: &mut Lease<'_>,
    ) -> Result<LayerRecord> {
        let mut reader =
            self.content
                .open_blob(&layer.digest)
                .map_err(|source| ImageError::Layer {
                    layer: layer.label.clone(),
                    source,
                })?;
        self.unpack_one_from(layer, diff_id, parent, lease, &mut reader)
    }

    /// [`unpack_one`](Self::unpack_one) reading the blob's bytes from `reader`: a stored blob,
    /// or a download still being written (a [`berth_storage::tail::Follower`], which ends only
    /// once the blob is stored and verified).
    pub(crate) fn unpack_one_from(
        &self,
        layer: &LayerBlob,
        diff_id: &Digest,
        parent: Option<&Digest>,
        lease: &mut Lease<'_>,
        reader: &mut dyn Read,
    ) -> Result<LayerRecord> {
        let layer_err = |source| ImageError::Layer {
            layer: layer.label.clone(),
            source,
        };
        let applied = self
            .snapshotter
            .apply_layer(parent, diff_id, reader)
            .map_err(layer_err)?;
        lease.snapshot(&applied);
        // An existing snapshot was not read, so nothing checked that this blob really is
        // that layer; check it unless an image already vouches for the pair (once the blob is
        // all there: the reader may be a download still arriving).
        if !applied.created && !self.known_layer(&layer.digest, diff_id) {
            let path = self.content.blob_path(&layer.digest);
            std::io::copy(reader, &mut std::io::sink())
                .map_err(|e| layer_err(berth_storage::content::unwrap_io(e, path)))?;
            let actual = diff_id_of(&self.content, &layer.digest).map_err(layer_err)?;
            if actual != *diff_id {
                return Err(layer_err(StorageError::DiffIdMismatch {
                    expected: diff_id.clone(),
                    actual,
                }));
            }
        }
        Ok(LayerRecord {
            blob: layer.digest.clone(),
            media_type: layer.media_type.clone(),
            size: layer.size,
            diff_id: diff_id.clone(),
            chain_id: applied.chain_id,
            unpacked: applied.size,
            compressed: None,
        })
    }

    /// True when a recorded image has this blob as the layer with this diff ID.
    fn known_layer(&self, blob: &Digest, diff_id: &Digest) -> bool {
        let inner = self.lock();
        inner.state.images.values().any(|r| {
            r.layers
                .iter()
                .any(|l| l.blob == *blob && l.diff_id == *diff_id)
        })
    }

    /// Writes an OCI manifest for a config and its layers.
    pub(crate) fn write_manifest(
        &self,
        config: &Digest,
        config_size: u64,
        layers: &[LayerRecord],
        lease: &mut Lease<'_>,
    ) -> Result<Committed> {
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(media_types::OCI_MANIFEST.into()),
            config: descriptor(media_types::OCI_CONFIG, config.clone(), config_size),
            layers: layers
                .iter()
                .map(|l| descriptor(&l.media_type, l.blob.clone(), l.size))
                .collect(),
            annotations: None,
        };
        let bytes = serde_json::to_vec(&manifest)
            .map_err(|e| ImageError::io("encoding a manifest", std::io::Error::other(e)))?;
        let committed = self
            .content
            .write_bytes(&bytes)
            .map_err(|e| ImageError::storage("storing a manifest", e))?;
        lease.blob(&committed);
        Ok(committed)
    }
}

/// A descriptor with no annotations.
pub(crate) fn descriptor(media_type: &str, digest: Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.to_string(),
        digest,
        size,
        annotations: None,
        platform: None,
        urls: None,
    }
}

/// The OCI layer media type of a stored blob, from its first bytes.
pub(crate) fn sniff_layer_media_type(
    content: &berth_storage::ContentStore,
    digest: &Digest,
) -> Result<&'static str> {
    let path = content.blob_path(digest);
    let mut head = [0u8; 8];
    let mut file = std::fs::File::open(&path)
        .map_err(|e| ImageError::storage("reading a layer", StorageError::io(&path, e)))?;
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => {
                return Err(ImageError::storage(
                    "reading a layer",
                    StorageError::io(&path, e),
                ));
            }
        }
    }
    Ok(Compression::detect(&head[..n]).oci_media_type())
}

/// Hashes the uncompressed content of a stored layer blob.
fn diff_id_of(
    content: &berth_storage::ContentStore,
    blob: &Digest,
) -> Result<Digest, StorageError> {
    let path = content.blob_path(blob);
    let reader = content.open_blob(blob)?;
    let (_, mut tar) = decompress(reader).map_err(|e| StorageError::io(&path, e))?;
    let mut hasher = Sha256Writer::new(std::io::sink());
    std::io::copy(&mut tar, &mut hasher)
        .map_err(|e| berth_storage::content::unwrap_io(e, path.clone()))?;
    Ok(hasher.finish().1)
}
