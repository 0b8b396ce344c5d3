//! Network endpoints: create, list, inspect, remove, connect, disconnect and prune.

use crate::body::Body;
use crate::error::Result;
use crate::transport::{Client, path_escape, query};
use berth_api_types::Filters;
use berth_api_types::network::{
    Network, NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse,
    NetworkDisconnectRequest, NetworkPruneResponse,
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

/// `/networks/{id}` plus `rest`.
fn npath(id: &str, rest: &str) -> String {
    format!("/networks/{}{rest}", path_escape(id))
}

impl Client {
    /// `POST /networks/create`: returns the new network's id (and the daemon's warning).
    pub async fn network_create(
        &self,
        req: &NetworkCreateRequest,
    ) -> Result<NetworkCreateResponse> {
        self.send_json(Method::POST, "/networks/create", Body::json(req)?)
            .await
    }

    /// `GET /networks`.
    pub async fn network_list(&self, filters: &Filters) -> Result<Vec<Network>> {
        self.get_json(&format!("/networks{}", filters_query(filters)))
            .await
    }

    /// `GET /networks/{id}` decoded; `verbose` adds swarm service details.
    pub async fn network_inspect(&self, id: &str, verbose: bool) -> Result<Network> {
        self.get_json(&npath(id, verbose_query(verbose))).await
    }

    /// `GET /networks/{id}` undecoded: `network inspect` prints exactly what the daemon sent.
    pub async fn network_inspect_raw(&self, id: &str, verbose: bool) -> Result<serde_json::Value> {
        self.get_json(&npath(id, verbose_query(verbose))).await
    }

    /// `DELETE /networks/{id}`.
    pub async fn network_remove(&self, id: &str) -> Result<()> {
        self.send_unit(Method::DELETE, &npath(id, ""), Body::empty())
            .await
    }

    /// `POST /networks/{id}/connect`.
    pub async fn network_connect(&self, id: &str, req: &NetworkConnectRequest) -> Result<()> {
        self.send_unit(Method::POST, &npath(id, "/connect"), Body::json(req)?)
            .await
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn network_disconnect(&self, id: &str, req: &NetworkDisconnectRequest) -> Result<()> {
        self.send_unit(Method::POST, &npath(id, "/disconnect"), Body::json(req)?)
            .await
    }

    /// `POST /networks/prune`: removes the unused user-defined networks matching `filters`.
    pub async fn networks_prune(&self, filters: &Filters) -> Result<NetworkPruneResponse> {
        let path = format!("/networks/prune{}", filters_query(filters));
        self.send_json(Method::POST, &path, Body::empty()).await
    }
}

/// `?verbose=true` or nothing.
fn verbose_query(verbose: bool) -> &'static str {
    if verbose { "?verbose=true" } else { "" }
}
