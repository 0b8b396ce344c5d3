//! System endpoints: `/_ping`, `/version`, `/info`.

use crate::body::Body;
use crate::error::Result;
use crate::transport::Client;
use berth_api_types::system::{SystemInfo, SystemVersion};
use http_body_util::BodyExt;
use hyper::Method;

impl Client {
    /// Checks that a daemon answers; used to wait for an auto-started daemon.
    pub async fn ping(&self) -> Result<()> {
        let resp = self.send(Method::GET, "/_ping", Body::empty()).await?;
        resp.into_body().collect().await?;
        Ok(())
    }

    /// `POST /auth`: has the daemon check a login with the registry.
    pub async fn auth(
        &self,
        config: &berth_api_types::system::AuthConfig,
    ) -> Result<berth_api_types::system::AuthResponse> {
        self.send_json(Method::POST, "/auth", Body::json(config)?)
            .await
    }

    /// `GET /version`.
    pub async fn version(&self) -> Result<SystemVersion> {
        self.get_json("/version").await
    }

    /// `GET /version` undecoded, so `--format` can reach fields the struct lacks.
    pub async fn version_raw(&self) -> Result<serde_json::Value> {
        self.get_json("/version").await
    }

    /// `GET /info`.
    pub async fn info(&self) -> Result<SystemInfo> {
        self.get_json("/info").await
    }

    /// `GET /system/df`.
    pub async fn disk_usage(&self) -> Result<berth_api_types::system::DiskUsage> {
        self.get_json("/system/df").await
    }

    /// `GET /info` undecoded, for `--format` and for daemons that omit fields.
    pub async fn info_raw(&self) -> Result<serde_json::Value> {
        self.get_json("/info").await
    }
}
