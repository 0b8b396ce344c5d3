//! Exec endpoints: create, start (attached through a hijacked connection, or detached),
//! inspect and resize.

use crate::body::Body;
use crate::error::Result;
use crate::hijack::HijackedStream;
use crate::transport::{Client, path_escape, query};
use berth_api_types::IdResponse;
use berth_api_types::exec::{ExecConfig, ExecInspect, ExecStartConfig};
use hyper::Method;

impl Client {
    /// `POST /containers/{id}/exec`: registers a process to run; returns the exec id.
    pub async fn exec_create(&self, container: &str, config: &ExecConfig) -> Result<IdResponse> {
        let path = format!("/containers/{}/exec", path_escape(container));
        self.send_json(Method::POST, &path, Body::json(config)?)
            .await
    }

    /// `POST /exec/{id}/start` attached: the connection is upgraded and carries the process's
    /// stdio (stdcopy-framed unless `config.tty`).
    pub async fn exec_start(&self, id: &str, config: &ExecStartConfig) -> Result<HijackedStream> {
        let path = format!("/exec/{}/start", path_escape(id));
        self.hijack(Method::POST, &path, Body::json(config)?, config.tty)
            .await
    }

    /// `POST /exec/{id}/start` with `Detach: true`: starts the process and returns.
    pub async fn exec_start_detached(&self, id: &str, config: &ExecStartConfig) -> Result<()> {
        let path = format!("/exec/{}/start", path_escape(id));
        let config = ExecStartConfig {
            detach: true,
            ..config.clone()
        };
        self.send_unit(Method::POST, &path, Body::json(&config)?)
            .await
    }

    /// `GET /exec/{id}/json`: state and exit code.
    pub async fn exec_inspect(&self, id: &str) -> Result<ExecInspect> {
        self.get_json(&format!("/exec/{}/json", path_escape(id)))
            .await
    }

    /// `POST /exec/{id}/resize?h=&w=`.
    pub async fn exec_resize(&self, id: &str, height: u16, width: u16) -> Result<()> {
        let (h, w) = (height.to_string(), width.to_string());
        let path = format!(
            "/exec/{}/resize{}",
            path_escape(id),
            query([("h", h.as_str()), ("w", w.as_str())])
        );
        self.send_unit(Method::POST, &path, Body::empty()).await
    }
}
