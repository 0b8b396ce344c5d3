//! The store's bookkeeping: which images exist, which blobs and snapshots they use, and which
//! tags point at them.
//!
//! Everything lives in one JSON document written atomically, so images and tags can never
//! disagree after a crash: a tag is in the file only together with the image it names. Blobs
//! and snapshots are written before the document that references them and deleted after the
//! document stops referencing them, so a crash leaves at worst unreferenced data, which
//! [`crate::ImageStore::gc`] collects.

use berth_common::{Digest, Reference};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// Current version of the state document.
pub(crate) const STATE_VERSION: u32 = 1;

/// One layer of an image, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct LayerRecord {
    /// The layer blob (possibly compressed) in the content store.
    pub blob: Digest,
    /// The blob's media type.
    pub media_type: String,
    /// The blob's size.
    pub size: u64,
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
    /// Snapshot holding this layer stack.
    pub chain_id: Digest,
    /// Bytes the layer added once unpacked.
    pub unpacked: u64,
    /// The gzip blob a push sent for this layer when `blob` is an uncompressed tar (a built
    /// or committed layer): made once, kept with the image, the same bytes every time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compressed: Option<CompressedLayer>,
}

/// A layer's gzip form, made for pushing it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct CompressedLayer {
    /// The gzip blob in the content store.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
}

/// One image, keyed by its id (the config digest).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct ImageRecord {
    /// The config digest.
    pub id: Digest,
    /// Size of the config blob.
    pub config_size: u64,
    /// The manifest blob.
    pub manifest: Digest,
    /// Size of the manifest blob.
    pub manifest_size: u64,
    /// Its media type.
    pub manifest_media_type: String,
    /// Layers, bottom first.
    pub layers: Vec<LayerRecord>,
    /// Full `name@sha256:…` references (set by pulls).
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// When the image entered this store (RFC 3339).
    pub added: String,
    /// When a tag was last set on it (RFC 3339).
    #[serde(default)]
    pub last_tag_time: Option<String>,
    /// Unpacked size: the sum of the layers' sizes.
    pub size: u64,
    /// The image this one was committed (or built) from, on this daemon: Docker's `Parent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Digest>,
    /// A build step's result, kept for the build cache: not listed by `docker images`, not
    /// removed by `image prune` (`builder prune` removes it once no cache record needs it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
}

/// One build cache entry: a build step's key (its parent, the instruction after expansion and
/// the checksum of what it copied) and the image that step made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct CacheRecord {
    /// The image the step made.
    pub image: Digest,
    /// When the step first ran (RFC 3339).
    pub created: String,
    /// When a build last used it (RFC 3339).
    pub last_used: String,
    /// How many builds used it.
    #[serde(default)]
    pub uses: u64,
}

impl ImageRecord {
    /// Chain IDs of the layers, bottom first.
    pub fn chain_ids(&self) -> Vec<Digest> {
        self.layers.iter().map(|l| l.chain_id.clone()).collect()
    }

    /// Every blob the image needs.
    pub fn blobs(&self) -> impl Iterator<Item = &Digest> {
        [&self.manifest, &self.id]
            .into_iter()
            .chain(self.layers.iter().map(|l| &l.blob))
            .chain(
                self.layers
                    .iter()
                    .filter_map(|l| l.compressed.as_ref().map(|c| &c.digest)),
            )
    }
}

/// The persisted document.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct State {
    /// Format version.
    pub version: u32,
    /// Images by id.
    pub images: BTreeMap<Digest, ImageRecord>,
    /// Full tagged references (`docker.io/library/busybox:latest`) to image ids.
    pub tags: BTreeMap<String, Digest>,
    /// The build cache: step keys to the images they made.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cache: BTreeMap<String, CacheRecord>,
}

impl State {
    /// The tags of one image, sorted.
    pub fn tags_of(&self, id: &Digest) -> Vec<Reference> {
        self.tags
            .iter()
            .filter(|(_, target)| *target == id)
            .filter_map(|(name, _)| Reference::parse(name).ok())
            .collect()
    }

    /// The image a tagged reference points at.
    pub fn tag_target(&self, r: &Reference) -> Option<&Digest> {
        self.tags.get(&r.to_string())
    }

    /// Points `r` at `id` (moving it from any other image) and stamps the tag time.
    pub fn set_tag(&mut self, r: &Reference, id: &Digest, now: &str) {
        self.tags.insert(r.without_digest().to_string(), id.clone());
        if let Some(rec) = self.images.get_mut(id) {
            rec.last_tag_time = Some(now.to_string());
        }
    }

    /// Removes a tag; returns the image it pointed at.
    pub fn remove_tag(&mut self, r: &Reference) -> Option<Digest> {
        self.tags.remove(&r.to_string())
    }

    /// Blobs referenced by any image.
    pub fn referenced_blobs(&self) -> HashSet<Digest> {
        self.images
            .values()
            .flat_map(|r| r.blobs().cloned())
            .collect()
    }

    /// Snapshots referenced by any image.
    pub fn referenced_snapshots(&self) -> HashSet<Digest> {
        self.images.values().flat_map(|r| r.chain_ids()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_move_between_images() {
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        let mut s = State::default();
        let r = Reference::parse_tagged_default("busybox").unwrap();
        s.set_tag(&r, &a, "t");
        s.set_tag(&r, &b, "t");
        assert!(s.tags_of(&a).is_empty());
        assert_eq!(s.tags_of(&b), vec![r.clone()]);
        assert_eq!(s.remove_tag(&r), Some(b));
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<State>(&json).unwrap(), s);
    }
}
