//! Image models: `/images/json`, `/images/{name}/json`, history, delete and prune responses, and
//! the image's run-time config (the `config` object of an OCI image config, which uses Docker's
//! field names).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The run-time defaults an image carries (`Config` in `docker image inspect`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    /// Default user, `name`, `uid`, `name:group` or `uid:gid`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// Ports the image says it listens on, as `{"80/tcp": {}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    /// Default environment, `KEY=value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// Default entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Default command (arguments to the entrypoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Paths that get an anonymous volume, as `{"/data": {}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    /// Default working directory.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    /// Image labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Signal that stops the container, e.g. `SIGQUIT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Health check, kept as Docker encodes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<serde_json::Value>,
    /// Shell for the shell form of RUN/CMD/ENTRYPOINT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    /// ONBUILD triggers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    /// Windows-only quirk some images carry; kept so round trips are lossless.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
}

/// One row of `GET /images/json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ImageSummary {
    /// `sha256:` config digest.
    pub id: String,
    /// Parent image id (empty for images not built locally).
    pub parent_id: String,
    /// `name:tag` references.
    #[serde(default, deserialize_with = "crate::nullable::or_default")]
    pub repo_tags: Vec<String>,
    /// `name@sha256:` references.
    #[serde(default, deserialize_with = "crate::nullable::or_default")]
    pub repo_digests: Vec<String>,
    /// Creation time, Unix seconds.
    pub created: i64,
    /// Unpacked size in bytes.
    pub size: i64,
    /// Bytes shared with other images (-1: not computed).
    pub shared_size: i64,
    /// Labels from the image config.
    #[serde(default, deserialize_with = "crate::nullable::or_default")]
    pub labels: BTreeMap<String, String>,
    /// Containers using the image (-1: not computed).
    pub containers: i64,
}

/// The `GraphDriver` block of image inspect.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct GraphDriver {
    /// Snapshotter name: `overlay2` or `copy`.
    pub name: String,
    /// Driver details (lower dirs and so on).
    #[serde(default, deserialize_with = "crate::nullable::or_default")]
    pub data: BTreeMap<String, String>,
}

/// The `RootFS` block: the layers' diff IDs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Uncompressed layer digests, bottom first.
    #[serde(default, deserialize_with = "crate::nullable::or_default")]
    pub layers: Vec<String>,
}

/// `Metadata` block of image inspect.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ImageMetadata {
    /// When the image was last tagged locally (RFC 3339), empty if never.
    #[serde(default)]
    pub last_tag_time: String,
}

/// `GET /images/{name}/json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    /// `sha256:` config digest.
    pub id: String,
    /// `name:tag` references.
    #[serde(default, deserialize_with = "crate::nullable::or_default")]
    pub repo_tags: Vec<String>,
    /// `name@sha256:` references.
    #[serde(default, deserialize_with = "crate::nullable::or_default")]
    pub repo_digests: Vec<String>,
    /// Parent image id, usually empty.
    pub parent: String,
    /// Commit message (`import --message`, `commit -m`).
    pub comment: String,
    /// Creation time, RFC 3339 with nanoseconds.
    pub created: String,
    /// Builder version, empty for imported images.
    pub docker_version: String,
    /// Author (`commit -a`, `MAINTAINER`).
    pub author: String,
    /// Run-time defaults.
    pub config: ImageConfig,
    /// CPU architecture (`amd64`).
    pub architecture: String,
    /// Architecture variant (`v8`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Operating system (`linux`).
    pub os: String,
    /// Unpacked size in bytes.
    pub size: i64,
    /// Storage details.
    pub graph_driver: GraphDriver,
    /// Layer list.
    #[serde(rename = "RootFS")]
    pub root_fs: RootFs,
    /// Local bookkeeping.
    pub metadata: ImageMetadata,
}

/// One row of `GET /images/{name}/history`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryItem {
    /// Image id for the top row, `<missing>` for the rest (as Docker does for non-local layers).
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    /// The instruction that made this step.
    pub created_by: String,
    /// Tags of the image at this step.
    #[serde(default, deserialize_with = "crate::nullable::or_default")]
    pub tags: Vec<String>,
    /// Bytes this step added.
    pub size: i64,
    /// Step comment.
    pub comment: String,
}

/// One line of `DELETE /images/{name}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ImageDeleteItem {
    /// A reference that was removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub untagged: Option<String>,
    /// An image id that was deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
}

/// `POST /images/prune`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ImagePruneResponse {
    /// What was untagged and deleted.
    pub images_deleted: Option<Vec<ImageDeleteItem>>,
    /// Bytes freed.
    pub space_reclaimed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_lists_and_maps_from_real_daemons_decode_as_empty() {
        let s: ImageSummary = serde_json::from_str(
            r#"{"Id":"sha256:x","ParentId":"","RepoTags":null,"RepoDigests":null,"Created":1,
                "Size":2,"SharedSize":-1,"Labels":null,"Containers":-1}"#,
        )
        .unwrap();
        assert!(s.repo_tags.is_empty() && s.repo_digests.is_empty() && s.labels.is_empty());
        let h: HistoryItem = serde_json::from_str(
            r#"{"Id":"<missing>","Created":1,"CreatedBy":"","Tags":null,"Size":0,"Comment":""}"#,
        )
        .unwrap();
        assert!(h.tags.is_empty());
    }
}

/// One result of `GET /images/search` (Docker's `registry.SearchResult`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SearchResult {
    /// The repository (`team/app`).
    #[serde(default)]
    pub name: String,
    /// What the registry says it is.
    #[serde(default)]
    pub description: String,
    /// Stars (Docker Hub's).
    #[serde(default)]
    pub star_count: u64,
    /// One of Docker Hub's official images.
    #[serde(default)]
    pub is_official: bool,
    /// Deprecated by Docker, always false.
    #[serde(default)]
    pub is_automated: bool,
}
