//! Volume endpoints: list, create, inspect, remove and prune.

use crate::body::Body;
use crate::error::Result;
use crate::transport::{Client, path_escape, query};
use berth_api_types::Filters;
use berth_api_types::volume::{
    Volume, VolumeCreateOptions, VolumeListResponse, VolumePruneResponse,
};
use hyper::Method;

/// `?filters=...`, or nothing when no filter is set (older daemons dislike `{}`).
fn filters_query(filters: &Filters) -> String {
    if filters.is_empty() {
        String::new()
    } else {
        let f = filters.to_json();
        query([("filters", f.as_str())])
    }
}

impl Client {
    /// `GET /volumes`.
    pub async fn volumes_list(&self, filters: &Filters) -> Result<VolumeListResponse> {
        self.get_json(&format!("/volumes{}", filters_query(filters)))
            .await
    }

    /// `POST /volumes/create`: returns the new (or already existing) volume.
    pub async fn volume_create(&self, opts: &VolumeCreateOptions) -> Result<Volume> {
        self.send_json(Method::POST, "/volumes/create", Body::json(opts)?)
            .await
    }

    /// `GET /volumes/{name}` undecoded: `inspect` prints exactly what the daemon sent.
    pub async fn volume_inspect(&self, name: &str) -> Result<serde_json::Value> {
        self.get_json(&format!("/volumes/{}", path_escape(name)))
            .await
    }

    /// `DELETE /volumes/{name}`.
    pub async fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        let q = query([("force", if force { "1" } else { "0" })]);
        let path = format!("/volumes/{}{q}", path_escape(name));
        self.send_unit(Method::DELETE, &path, Body::empty()).await
    }

    /// `POST /volumes/prune`: `all=true` in `filters` includes named volumes.
    pub async fn volumes_prune(&self, filters: &Filters) -> Result<VolumePruneResponse> {
        let path = format!("/volumes/prune{}", filters_query(filters));
        self.send_json(Method::POST, &path, Body::empty()).await
    }
}
