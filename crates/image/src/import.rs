//! `docker import`: a root file system tarball (plain, gzip or zstd) becomes a one-layer image.
//!
//! The tarball is stored as given while its uncompressed digest (the diff ID) is computed in
//! the same pass, so a large import is read from the client exactly once.

use crate::build::{LayerBlob, sniff_layer_media_type};
use crate::config_changes::apply_changes;
use crate::error::{ImageError, Result};
use crate::oci::{History, OciImageConfig, Platform, RootFs};
use crate::records::ImageRecord;
use crate::store::{ImageStore, Lease, NewImage};
use crate::timefmt::now_rfc3339;
use berth_api_types::image::ImageConfig;
use berth_common::{Reference, Sha256Writer};
use berth_storage::unpack::decompress;
use std::io::{self, Read, Write};
use std::sync::Arc;

/// Options of an import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Tag to give the new image.
    pub reference: Option<Reference>,
    /// Commit message (`--message`); Docker's default `Imported from -` when empty.
    pub message: String,
    /// Dockerfile instructions to apply to the config (`--change`).
    pub changes: Vec<String>,
    /// `os/arch[/variant]` to record (`--platform`); the host's when absent.
    pub platform: Option<String>,
}

impl ImageStore {
    /// Imports a root file system tarball as a new image and returns its id. Bad `--change`
    /// values are refused before any input is read.
    pub fn import(&self, tar: impl Read, opts: ImportOptions) -> Result<berth_common::Digest> {
        let mut run_config = ImageConfig::default();
        apply_changes(&mut run_config, &opts.changes)?;
        let platform = match opts.platform.as_deref().filter(|p| !p.is_empty()) {
            Some(p) => Platform::parse(p)?,
            None => Platform::host(),
        };
        let comment = if opts.message.is_empty() {
            "Imported from -".to_string()
        } else {
            opts.message
        };

        let mut lease = Lease::new(self);
        let (layer, diff_id) = self.store_tarball(tar)?;
        lease.blob(&layer);
        let media_type = sniff_layer_media_type(&self.content, &layer.digest)?;
        let blob = LayerBlob {
            digest: layer.digest.clone(),
            size: layer.size,
            media_type: media_type.to_string(),
            label: "imported tarball".into(),
        };
        let layers = self.unpack_layers(&[blob], std::slice::from_ref(&diff_id), &mut lease)?;

        let created = now_rfc3339();
        let config = OciImageConfig {
            created: Some(created.clone()),
            architecture: platform.architecture,
            os: platform.os,
            variant: platform.variant,
            config: Some(run_config),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![diff_id],
            },
            history: vec![History {
                created: Some(created.clone()),
                comment: Some(comment.clone()),
                ..Default::default()
            }],
            comment: Some(comment),
            ..Default::default()
        };
        let config_bytes = serde_json::to_vec(&config)
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
            manifest_media_type: crate::oci::media_types::OCI_MANIFEST.into(),
            size: layers.iter().map(|l| l.unpacked).sum(),
            layers,
            repo_digests: Vec::new(),
            added: created,
            last_tag_time: None,
            parent: None,
            hidden: false,
        };
        let tags = opts
            .reference
            .map(|r| r.without_digest())
            .into_iter()
            .collect();
        self.add_images(&[NewImage {
            record,
            tags,
            config: Arc::new(config),
        }])?;
        drop(lease);
        Ok(config_blob.digest)
    }

    /// Stores the tarball byte for byte and returns it with its diff ID.
    pub(crate) fn store_tarball(
        &self,
        mut input: impl Read,
    ) -> Result<(berth_storage::content::Committed, berth_common::Digest)> {
        let mut ingest = self
            .content
            .ingest()
            .map_err(|e| ImageError::storage("storing the imported tarball", e))?;
        let diff_id = {
            let tee = Tee {
                inner: &mut input,
                sink: &mut ingest,
            };
            let (_, mut tar) = decompress(tee).map_err(read_err)?;
            let mut hasher = Sha256Writer::new(io::sink());
            io::copy(&mut tar, &mut hasher).map_err(read_err)?;
            hasher.finish().1
        };
        // Whatever follows the compressed stream still belongs to the blob as given.
        io::copy(&mut input, &mut ingest).map_err(read_err)?;
        let committed = ingest
            .commit(None)
            .map_err(|e| ImageError::storage("storing the imported tarball", e))?;
        Ok((committed, diff_id))
    }
}

fn read_err(e: io::Error) -> ImageError {
    match e.kind() {
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof => {
            ImageError::InvalidArgument(format!("invalid tarball: {e}"))
        }
        _ => ImageError::io("reading the tarball", e),
    }
}

/// A reader that copies what it reads into `sink`.
struct Tee<'a, R, W> {
    inner: &'a mut R,
    sink: &'a mut W,
}

impl<R: Read, W: Write> Read for Tee<'_, R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sink.write_all(&buf[..n])?;
        Ok(n)
    }
}
