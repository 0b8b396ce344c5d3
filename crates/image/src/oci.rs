//! Serde models of the OCI image spec (and Docker's v2 schema 2, which has the same shape):
//! descriptors, manifests, indexes and image configs, plus the media types Berth accepts.
//!
//! Only what Berth reads or writes is modelled; unknown fields of a config are kept in `extra`
//! so that nothing is lost when a config is inspected. Configs and manifests are always stored
//! as the exact bytes received, never re-serialised, because their digests are their identity.

use crate::error::{ImageError, Result};
use berth_api_types::image::ImageConfig;
use berth_common::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Media type constants of the OCI image spec and Docker's distribution formats.
pub mod media_types {
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image index (multi-platform list or an OCI layout's `index.json`).
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// OCI image config.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// Uncompressed OCI layer.
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    /// gzip OCI layer.
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// zstd OCI layer.
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    /// Uncompressed non-distributable OCI layer (deprecated but found in the field).
    pub const OCI_LAYER_NONDIST: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar";
    /// gzip non-distributable OCI layer.
    pub const OCI_LAYER_NONDIST_GZIP: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    /// zstd non-distributable OCI layer.
    pub const OCI_LAYER_NONDIST_ZSTD: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
    /// Docker image manifest, schema 2.
    pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker multi-platform manifest list.
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Docker image config.
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// Docker gzip layer.
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// Docker uncompressed layer (rare, but valid).
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
    /// Docker foreign (non-distributable) gzip layer.
    pub const DOCKER_FOREIGN_LAYER_GZIP: &str =
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

    /// True for every layer media type Berth can unpack.
    pub fn is_layer(media_type: &str) -> bool {
        matches!(
            media_type,
            OCI_LAYER
                | OCI_LAYER_GZIP
                | OCI_LAYER_ZSTD
                | OCI_LAYER_NONDIST
                | OCI_LAYER_NONDIST_GZIP
                | OCI_LAYER_NONDIST_ZSTD
                | DOCKER_LAYER_GZIP
                | DOCKER_LAYER
                | DOCKER_FOREIGN_LAYER_GZIP
        )
    }

    /// True for image manifests (not indexes).
    pub fn is_manifest(media_type: &str) -> bool {
        matches!(media_type, OCI_MANIFEST | DOCKER_MANIFEST_V2)
    }

    /// True for multi-platform indexes.
    pub fn is_index(media_type: &str) -> bool {
        matches!(media_type, OCI_INDEX | DOCKER_MANIFEST_LIST)
    }

    /// True for image config media types.
    pub fn is_config(media_type: &str) -> bool {
        matches!(media_type, OCI_CONFIG | DOCKER_CONFIG)
    }
}

/// Annotation holding an image's full name (`docker.io/library/busybox:latest`), written by
/// containerd, Docker 25+ and buildx.
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// The OCI reference annotation: by the spec a tag only (`latest`), though some tools put a
/// full name there.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Marks buildx attestation manifests, which are not runnable images.
pub const ANNOTATION_REFERENCE_TYPE: &str = "vnd.docker.reference.type";

/// A pointer to a blob: what it is, its digest and size.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// What the blob is. Some old indexes omit it, hence the default.
    #[serde(default)]
    pub media_type: String,
    /// The blob's digest.
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
    /// Free-form metadata (image names live here in an OCI layout's index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// The platform of a manifest listed in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Alternative download locations (foreign layers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
}

impl Descriptor {
    /// One annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .map(String::as_str)
    }
}

/// An OS/architecture pair as indexes and configs state it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Platform {
    /// CPU architecture in Go's naming (`amd64`, `arm64`).
    #[serde(default)]
    pub architecture: String,
    /// Operating system (`linux`).
    #[serde(default)]
    pub os: String,
    /// Architecture variant (`v7`, `v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// OS version (Windows only).
    #[serde(
        default,
        rename = "os.version",
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
}

impl Platform {
    /// The platform this binary runs on, in OCI (Go) naming.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "x86" => "386",
            "aarch64" => "arm64",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "loongarch64" => "loong64",
            other => other,
        };
        let variant = match arch {
            "arm" => Some("v7".to_string()),
            _ => None,
        };
        Platform {
            architecture: arch.into(),
            os: "linux".into(),
            variant,
            os_version: None,
        }
    }

    /// Parses `os/arch[/variant]` as given to `--platform`.
    pub fn parse(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || {
            ImageError::InvalidArgument(format!(
                "invalid platform {s:?}: expected os/arch or os/arch/variant"
            ))
        };
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        match parts.as_slice() {
            [os, arch] => Ok(Platform {
                os: os.to_lowercase(),
                architecture: arch.to_lowercase(),
                ..Default::default()
            }),
            [os, arch, variant] => Ok(Platform {
                os: os.to_lowercase(),
                architecture: arch.to_lowercase(),
                variant: Some(variant.to_lowercase()),
                ..Default::default()
            }),
            _ => Err(bad()),
        }
    }

    /// True when an image for `self` runs on `want`: same OS and architecture, and the same
    /// variant when both name one.
    pub fn matches(&self, want: &Platform) -> bool {
        self.os == want.os
            && self.architecture == want.architecture
            && match (&self.variant, &want.variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// An image manifest: one config and the layers, bottom first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's own media type (optional in OCI, required by Docker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image config.
    pub config: Descriptor,
    /// The layers, bottom first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl ImageManifest {
    /// Checks every media type the manifest names and says which one is unknown; `context`
    /// names the manifest in the error.
    pub fn check_media_types(&self, context: &str) -> Result<()> {
        if let Some(mt) = &self.media_type
            && !media_types::is_manifest(mt)
        {
            return Err(unsupported(mt, context));
        }
        if !media_types::is_config(&self.config.media_type) {
            return Err(unsupported(&self.config.media_type, context));
        }
        for layer in &self.layers {
            if !media_types::is_layer(&layer.media_type) {
                return Err(unsupported(&layer.media_type, context));
            }
        }
        Ok(())
    }
}

fn unsupported(media_type: &str, context: &str) -> ImageError {
    ImageError::UnsupportedMediaType {
        media_type: media_type.into(),
        context: context.into(),
    }
}

/// An index: a list of manifests (per platform, or per image in an OCI layout).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// The index's own media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests listed.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// The `rootfs` of an image config: the uncompressed digests of its layers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Diff IDs, bottom first.
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

/// One step of an image's history.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct History {
    /// When the step ran (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The instruction that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Who made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Free text (`docker import --message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// True when the step made no layer (ENV, CMD…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
}

impl History {
    /// True when the step has no layer.
    pub fn is_empty_layer(&self) -> bool {
        self.empty_layer.unwrap_or(false)
    }
}

/// An image config: run-time defaults, layer diff IDs and history. Its digest is the image id.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OciImageConfig {
    /// Creation time, RFC 3339 with nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Who made the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// CPU architecture (`amd64`).
    #[serde(default)]
    pub architecture: String,
    /// Operating system (`linux`).
    #[serde(default)]
    pub os: String,
    /// Architecture variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Run-time defaults (Docker's field names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ImageConfig>,
    /// The layers' diff IDs.
    #[serde(default)]
    pub rootfs: RootFs,
    /// Build steps, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    /// Docker extension: the commit/import message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Docker extension: the engine version that built the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
    /// Anything else the config holds, kept so nothing is lost.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl OciImageConfig {
    /// Decodes a config blob; `what` names it in the error.
    pub fn from_slice(bytes: &[u8], what: &str) -> Result<OciImageConfig> {
        serde_json::from_slice(bytes)
            .map_err(|e| ImageError::archive(format!("{what}: bad image config: {e}")))
    }

    /// The config's platform.
    pub fn platform(&self) -> Platform {
        Platform {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            variant: self.variant.clone(),
            os_version: None,
        }
    }

    /// Labels, empty when none.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default()
    }
}

/// The `oci-layout` file of an OCI image layout.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OciLayout {
    /// `1.0.0`.
    pub image_layout_version: String,
}

/// One entry of a docker-archive's `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct DockerArchiveEntry {
    /// Path of the config inside the archive.
    pub config: String,
    /// Tags, in any form Docker accepts (`busybox:latest`, `docker.io/library/busybox:latest`).
    /// Docker writes `null` for images saved by id.
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    /// Paths of the layers inside the archive, bottom first.
    #[serde(default)]
    pub layers: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_media_types_are_named() {
        let d = Digest::of(b"x");
        let m = ImageManifest {
            schema_version: 2,
            media_type: Some(media_types::OCI_MANIFEST.into()),
            config: Descriptor {
                media_type: media_types::OCI_CONFIG.into(),
                digest: d.clone(),
                size: 1,
                annotations: None,
                platform: None,
                urls: None,
            },
            layers: vec![Descriptor {
                media_type: "application/x-weird".into(),
                digest: d,
                size: 1,
                annotations: None,
                platform: None,
                urls: None,
            }],
            annotations: None,
        };
        let err = m.check_media_types("manifest m").unwrap_err().to_string();
        assert!(
            err.contains("application/x-weird") && err.contains("manifest m"),
            "{err}"
        );
    }

    #[test]
    fn configs_keep_unknown_fields() {
        let raw = br#"{"architecture":"amd64","os":"linux","container":"abc",
            "config":{"Env":["A=1"],"Hostname":""},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let c = OciImageConfig::from_slice(raw, "c").unwrap();
        assert_eq!(
            c.extra.get("container").and_then(|v| v.as_str()),
            Some("abc")
        );
        assert_eq!(c.config.unwrap().env, Some(vec!["A=1".to_string()]));
    }

    #[test]
    fn platforms_parse_and_match() {
        let p = Platform::parse("linux/arm64/v8").unwrap();
        assert!(p.matches(&Platform {
            variant: None,
            ..p.clone()
        }));
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux//x").is_err());
    }
}
