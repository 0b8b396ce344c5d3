//! `docker load`: images from an archive, all or nothing.
//!
//! After [`crate::archive::read_archive`] has stored every file, the archive's own description
//! is turned into plans: `manifest.json` (docker-archive in all its variants: legacy
//! `<id>/layer.tar`, Docker 25+ `blobs/sha256/…`, podman's `<hex>.tar`) or, failing that,
//! `index.json` (oci-archive). Each plan is then unpacked (layers checked against the
//! config's diff IDs), and finally all images and tags are recorded in one atomic write. Any
//! error before that write drops the [`Lease`], which deletes every blob and snapshot the load
//! created, so the store is exactly as before.

use crate::archive::{ArchiveContents, Entry, Stored, read_archive};
use crate::build::{LayerBlob, sniff_layer_media_type};
use crate::error::{ImageError, Result};
use crate::oci::{
    ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, ANNOTATION_REFERENCE_TYPE, Descriptor,
    DockerArchiveEntry, ImageIndex, ImageManifest, OciImageConfig, Platform, media_types,
};
use crate::records::ImageRecord;
use crate::store::{ImageStore, Lease, NewImage, with_default_tag};
use crate::timefmt::now_rfc3339;
use berth_api_types::progress::JsonMessage;
use berth_common::{Digest, Reference};
use berth_storage::unpack::decompress;
use std::io::Read;
use std::sync::Arc;

/// Largest manifest, index or config read into memory.
const MAX_JSON: u64 = 16 << 20;
/// How deep indexes may nest.
const MAX_DEPTH: usize = 4;

/// One image a load brought in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    /// The image id.
    pub id: Digest,
    /// The tags it received (none for an image saved by id).
    pub tags: Vec<Reference>,
}

impl LoadedImage {
    /// The lines Docker prints: `Loaded image: busybox:latest` per tag, or
    /// `Loaded image ID: sha256:…` for an untagged image.
    pub fn messages(&self) -> Vec<String> {
        if self.tags.is_empty() {
            vec![format!("Loaded image ID: {}", self.id)]
        } else {
            self.tags
                .iter()
                .map(|t| format!("Loaded image: {}", t.familiar()))
                .collect()
        }
    }
}

/// What to build for one image of the archive.
#[derive(Debug)]
struct Plan {
    /// Where the image is described, for errors (`manifest.json entry 1`).
    source: String,
    /// The config blob.
    config: Stored,
    /// The layer blobs, bottom first.
    layers: Vec<LayerBlob>,
    /// Tags to give it.
    tags: Vec<Reference>,
    /// A manifest from the archive to keep (OCI layouts), else one is written.
    manifest: Option<(Stored, String)>,
}

impl ImageStore {
    /// Loads every image of `archive` (plain, gzip or zstd tar), reporting layer progress and
    /// `Loaded image…` lines through `progress`. On error nothing is added to the store.
    pub fn load(
        &self,
        archive: impl Read,
        progress: &mut dyn FnMut(JsonMessage),
    ) -> Result<Vec<LoadedImage>> {
        let mut lease = Lease::new(self);
        let (_, input) =
            decompress(archive).map_err(|e| ImageError::io("reading the archive", e))?;
        let contents = read_archive(&self.content, input, &mut lease, progress)?;
        let plans = self.plan(&contents, &mut lease)?;
        if plans.is_empty() {
            return Err(ImageError::archive("it contains no images"));
        }
        let mut new = Vec::with_capacity(plans.len());
        for plan in plans {
            new.push(self.build_image(plan, &mut lease)?);
        }
        let moved = self.moved_tags(&new);
        self.add_images(&new)?;
        drop(lease);
        for line in moved {
            progress(JsonMessage::stream(line));
        }

        let mut loaded: Vec<LoadedImage> = Vec::new();
        for img in new {
            match loaded.iter_mut().find(|l| l.id == img.record.id) {
                Some(l) => {
                    for t in img.tags {
                        if !l.tags.contains(&t) {
                            l.tags.push(t);
                        }
                    }
                }
                None => loaded.push(LoadedImage {
                    id: img.record.id,
                    tags: img.tags,
                }),
            }
        }
        for l in &loaded {
            for m in l.messages() {
                progress(JsonMessage::stream(format!("{m}\n")));
            }
        }
        Ok(loaded)
    }

    /// Docker's notice for each tag a load takes from another image, which becomes dangling.
    fn moved_tags(&self, new: &[NewImage]) -> Vec<String> {
        let inner = self.lock();
        let mut out = Vec::new();
        for img in new {
            for tag in &img.tags {
                let tag = with_default_tag(tag);
                if let Some(old) = inner
                    .state
                    .tag_target(&tag)
                    .filter(|old| **old != img.record.id)
                {
                    out.push(format!(
                        "The image {} already exists, renaming the old one with ID {old} to empty string\n",
                        tag.familiar()
                    ));
                }
            }
        }
        out
    }

    /// Reads the archive's description into plans.
    fn plan(&self, contents: &ArchiveContents, lease: &mut Lease<'_>) -> Result<Vec<Plan>> {
        let has_manifest_json = contents.meta("manifest.json").is_some();
        let oci = match contents.meta("index.json") {
            // With a manifest.json (Docker 25+), the index only lets us keep the archive's
            // manifests; a problem with it must not stop what Docker itself would load.
            Some(index) if has_manifest_json => {
                self.oci_plans(contents, index).unwrap_or_else(|e| {
                    tracing::debug!(error = %e, "ignoring index.json of a docker-archive");
                    Vec::new()
                })
            }
            Some(index) => self.oci_plans(contents, index)?,
            None => Vec::new(),
        };
        let Some(manifest_json) = contents.meta("manifest.json") else {
            if contents.meta("index.json").is_some() {
                return Ok(oci);
            }
            return Err(ImageError::archive(
                "no manifest.json or index.json found: not a docker-archive or oci-archive",
            ));
        };
        let entries: Vec<DockerArchiveEntry> = serde_json::from_slice(manifest_json)
            .map_err(|e| ImageError::archive(format!("manifest.json: {e}")))?;
        let mut plans = Vec::with_capacity(entries.len());
        for (i, entry) in entries.into_iter().enumerate() {
            let source = format!("manifest.json entry {i}");
            let config = match contents.lookup(&entry.config) {
                Some(Entry::Blob(s)) => s.clone(),
                Some(Entry::Meta(bytes)) => self.store_config(&entry.config, bytes, lease)?,
                None => {
                    return Err(ImageError::archive(format!(
                        "{source}: config {} is not in the archive",
                        entry.config
                    )));
                }
            };
            let mut layers = Vec::with_capacity(entry.layers.len());
            for path in &entry.layers {
                let Some(Entry::Blob(s)) = contents.lookup(path) else {
                    return Err(ImageError::archive(format!(
                        "{source}: layer {path} is not in the archive"
                    )));
                };
                let media_type = sniff_layer_media_type(&self.content, &s.digest)?;
                layers.push(LayerBlob {
                    digest: s.digest.clone(),
                    size: s.size,
                    media_type: media_type.to_string(),
                    label: path.clone(),
                });
            }
            let mut tags = Vec::new();
            for t in entry.repo_tags.unwrap_or_default() {
                let r = Reference::parse_tagged_default(&t).map_err(|e| {
                    ImageError::archive(format!("{source}: invalid tag {t:?}: {e}"))
                })?;
                tags.push(r);
            }
            // Keep the archive's own manifest (Docker 25+) when it describes the same image.
            let same = oci.iter().find(|p| {
                p.config == config
                    && p.layers.len() == layers.len()
                    && p.layers
                        .iter()
                        .zip(&layers)
                        .all(|(a, b)| a.digest == b.digest)
            });
            let (layers, manifest) = match same {
                Some(p) => (p.layers.clone(), p.manifest.clone()),
                None => (layers, None),
            };
            plans.push(Plan {
                source,
                config,
                layers,
                tags,
                manifest,
            });
        }
        Ok(plans)
    }

    /// Stores a config kept in memory; a `<hex>.json` name must match its content.
    fn store_config(&self, path: &str, bytes: &[u8], lease: &mut Lease<'_>) -> Result<Stored> {
        let c = self
            .content
            .write_bytes(bytes)
            .map_err(|e| ImageError::storage(format!("storing {path}"), e))?;
        lease.blob(&c);
        let name = path.rsplit('/').next().unwrap_or(path);
        if let Some(hex) = name
            .strip_suffix(".json")
            .filter(|h| Digest::from_hex(h).is_ok())
            && hex != c.digest.hex()
        {
            return Err(ImageError::archive(format!(
                "{path}: digest mismatch: its content hashes to {}",
                c.digest
            )));
        }
        Ok(Stored {
            digest: c.digest,
            size: c.size,
        })
    }

    /// Plans from an OCI layout's `index.json`.
    fn oci_plans(&self, contents: &ArchiveContents, index: &[u8]) -> Result<Vec<Plan>> {
        let index: ImageIndex = serde_json::from_slice(index)
            .map_err(|e| ImageError::archive(format!("index.json: {e}")))?;
        let mut plans = Vec::new();
        for desc in &index.manifests {
            if desc.annotation(ANNOTATION_REFERENCE_TYPE) == Some("attestation-manifest") {
                continue;
            }
            let tags = names_of(desc, "index.json")?;
            self.walk(contents, desc, tags, "index.json", 0, &mut plans)?;
        }
        Ok(plans)
    }

    /// Follows a descriptor down to image manifests, choosing the host's platform in indexes.
    fn walk(
        &self,
        contents: &ArchiveContents,
        desc: &Descriptor,
        tags: Vec<Reference>,
        context: &str,
        depth: usize,
        plans: &mut Vec<Plan>,
    ) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(ImageError::archive(format!(
                "{context}: indexes nest too deeply"
            )));
        }
        let stored = self.archive_blob(contents, &desc.digest, desc.size, context)?;
        let bytes = self.read_json_blob(&stored, context)?;
        let media_type = if desc.media_type.is_empty() {
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| {
                    v.get("mediaType")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| media_types::OCI_MANIFEST.to_string())
        } else {
            desc.media_type.clone()
        };
        let here = format!("manifest {}", desc.digest);
        if media_types::is_index(&media_type) {
            let index: ImageIndex = serde_json::from_slice(&bytes)
                .map_err(|e| ImageError::archive(format!("index {}: {e}", desc.digest)))?;
            // Archives of multi-platform images usually carry one platform's blobs only:
            // prefer the host's among those present, else the only one present.
            let host = Platform::host();
            let present: Vec<&Descriptor> = index
                .manifests
                .iter()
                .filter(|m| m.annotation(ANNOTATION_REFERENCE_TYPE) != Some("attestation-manifest"))
                .filter(|m| contents.blob(&m.digest).is_some())
                .collect();
            let choice = present
                .iter()
                .find(|m| m.platform.as_ref().is_none_or(|p| p.matches(&host)))
                .or_else(|| present.first().filter(|_| present.len() == 1));
            let Some(child) = choice.copied() else {
                return Err(ImageError::archive(format!(
                    "index {}: no image for platform {}/{}",
                    desc.digest, host.os, host.architecture
                )));
            };
            let mut child_tags = names_of(child, &here)?;
            child_tags.extend(tags);
            let ctx = format!("index {}", desc.digest);
            return self.walk(contents, child, child_tags, &ctx, depth + 1, plans);
        }
        if !media_types::is_manifest(&media_type) {
            return Err(ImageError::UnsupportedMediaType {
                media_type,
                context: context.into(),
            });
        }
        let manifest: ImageManifest = serde_json::from_slice(&bytes)
            .map_err(|e| ImageError::archive(format!("{here}: {e}")))?;
        manifest.check_media_types(&here)?;
        let config = self.archive_blob(
            contents,
            &manifest.config.digest,
            manifest.config.size,
            &here,
        )?;
        let mut layers = Vec::with_capacity(manifest.layers.len());
        for l in &manifest.layers {
            let s = self.archive_blob(contents, &l.digest, l.size, &here)?;
            layers.push(LayerBlob {
                digest: s.digest,
                size: s.size,
                media_type: l.media_type.clone(),
                label: format!("blobs/sha256/{}", l.digest.hex()),
            });
        }
        plans.push(Plan {
            source: here,
            config,
            layers,
            tags,
            manifest: Some((stored, media_type)),
        });
        Ok(())
    }

    /// The blob an OCI layout holds for `digest`, with its size checked.
    fn archive_blob(
        &self,
        contents: &ArchiveContents,
        digest: &Digest,
        size: u64,
        context: &str,
    ) -> Result<Stored> {
        let s = contents.blob(digest).ok_or_else(|| {
            ImageError::archive(format!("{context}: blob {digest} is not in the archive"))
        })?;
        if s.size != size {
            return Err(ImageError::archive(format!(
                "{context}: blob {digest} has {} bytes but its descriptor says {size}",
                s.size
            )));
        }
        Ok(s.clone())
    }

    /// Reads a stored manifest or index.
    fn read_json_blob(&self, s: &Stored, context: &str) -> Result<Vec<u8>> {
        if s.size > MAX_JSON {
            return Err(ImageError::archive(format!(
                "{context}: blob {} is too large for a manifest ({} bytes)",
                s.digest, s.size
            )));
        }
        self.content
            .read(&s.digest)
            .map_err(|e| ImageError::storage(format!("reading {}", s.digest), e))
    }

    /// Unpacks one planned image and writes its manifest if the archive had none.
    fn build_image(&self, plan: Plan, lease: &mut Lease<'_>) -> Result<NewImage> {
        let what = format!("{} (config {})", plan.source, plan.config.digest);
        let bytes = self.read_json_blob(&plan.config, &what)?;
        let config = OciImageConfig::from_slice(&bytes, &what)?;
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != plan.layers.len() {
            return Err(ImageError::archive(format!(
                "{what}: the config lists {} layers (rootfs.diff_ids) but the image has {}",
                diff_ids.len(),
                plan.layers.len()
            )));
        }
        let layers = self.unpack_layers(&plan.layers, diff_ids, lease)?;
        let (manifest, manifest_media_type) = match plan.manifest {
            Some(m) => m,
            None => {
                let c =
                    self.write_manifest(&plan.config.digest, plan.config.size, &layers, lease)?;
                (
                    Stored {
                        digest: c.digest,
                        size: c.size,
                    },
                    media_types::OCI_MANIFEST.to_string(),
                )
            }
        };
        let record = ImageRecord {
            id: plan.config.digest.clone(),
            config_size: plan.config.size,
            manifest: manifest.digest,
            manifest_size: manifest.size,
            manifest_media_type,
            size: layers.iter().map(|l| l.unpacked).sum(),
            layers,
            repo_digests: Vec::new(),
            added: now_rfc3339(),
            last_tag_time: None,
            parent: None,
            hidden: false,
        };
        Ok(NewImage {
            record,
            tags: plan.tags,
            config: Arc::new(config),
        })
    }
}

/// Tags named by an index entry's annotations: the full name containerd, Docker and buildx
/// write, or an OCI ref name that is a full reference. A bare OCI tag (`latest`) names no
/// repository, so such an image loads untagged (reported by id) rather than under a guess.
fn names_of(desc: &Descriptor, context: &str) -> Result<Vec<Reference>> {
    let parse = |n: &str| {
        Reference::parse_tagged_default(n)
            .map(|r| vec![r])
            .map_err(|e| ImageError::archive(format!("{context}: invalid image name {n:?}: {e}")))
    };
    if let Some(n) = desc.annotation(ANNOTATION_IMAGE_NAME) {
        return parse(n);
    }
    match desc.annotation(ANNOTATION_REF_NAME) {
        Some(n) if n.contains(['/', ':', '@']) => parse(n),
        _ => Ok(Vec::new()),
    }
}
