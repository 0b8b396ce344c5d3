//! Volume models: `/volumes`, `/volumes/create`, `/volumes/{name}`, `/volumes/prune`.

use crate::nullable::or_default;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A volume as `docker volume inspect` shows it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    /// Name.
    pub name: String,
    /// Driver (`local`).
    pub driver: String,
    /// Host path of the data.
    pub mountpoint: String,
    /// Creation time, RFC 3339.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_at: String,
    /// Driver-specific status; omitted when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<BTreeMap<String, serde_json::Value>>,
    /// Labels (`{}` when none: clients index it).
    #[serde(default, deserialize_with = "or_default")]
    pub labels: BTreeMap<String, String>,
    /// `local` or `global`.
    pub scope: String,
    /// Driver options (`{}` when none).
    #[serde(default, deserialize_with = "or_default")]
    pub options: BTreeMap<String, String>,
    /// Disk usage, only from `/system/df`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<VolumeUsageData>,
}

/// Disk usage of a volume.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeUsageData {
    /// Bytes used; -1 when not computed.
    pub size: i64,
    /// Containers referencing it; -1 when not computed.
    pub ref_count: i64,
}

/// `POST /volumes/create` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeCreateOptions {
    /// Name; empty = generate one.
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
    /// Driver; empty = `local`.
    #[serde(default, deserialize_with = "or_default")]
    pub driver: String,
    /// Driver options (`type`, `device`, `o` for the local driver).
    #[serde(default, deserialize_with = "or_default")]
    pub driver_opts: BTreeMap<String, String>,
    /// Labels.
    #[serde(default, deserialize_with = "or_default")]
    pub labels: BTreeMap<String, String>,
}

/// `GET /volumes`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeListResponse {
    /// The volumes.
    #[serde(default, deserialize_with = "or_default")]
    pub volumes: Vec<Volume>,
    /// Drivers that could not be queried.
    #[serde(default, deserialize_with = "or_default")]
    pub warnings: Vec<String>,
}

/// `POST /volumes/prune`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct VolumePruneResponse {
    /// Names removed; `null` when none, as Docker sends.
    #[serde(default)]
    pub volumes_deleted: Option<Vec<String>>,
    /// Bytes freed.
    pub space_reclaimed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_options_accept_nulls() {
        let o: VolumeCreateOptions = serde_json::from_str(
            r#"{"Name":"data","Driver":null,"DriverOpts":null,"Labels":null}"#,
        )
        .unwrap();
        assert_eq!(o.name, "data");
        assert!(o.driver_opts.is_empty());
        let o: VolumeCreateOptions = serde_json::from_str("{}").unwrap();
        assert_eq!(o, VolumeCreateOptions::default());
    }

    #[test]
    fn volume_writes_labels_and_options_as_objects() {
        let v = serde_json::to_value(Volume {
            name: "data".into(),
            driver: "local".into(),
            scope: "local".into(),
            ..Default::default()
        })
        .unwrap();
        assert!(v["Labels"].is_object());
        assert!(v["Options"].is_object());
        assert!(v.get("UsageData").is_none());
        let list = serde_json::to_value(VolumeListResponse::default()).unwrap();
        assert!(list["Volumes"].is_array());
        let prune = serde_json::to_value(VolumePruneResponse::default()).unwrap();
        assert!(prune["VolumesDeleted"].is_null());
    }
}
