//! The daemon's side of registries: `POST /auth` (a login checked with the registry, as
//! dockerd checks it for `docker login`); pulls and pushes come next, on the same client.

use crate::Engine;
use crate::error::EngineError;
use berth_api_types::system::{AuthConfig, AuthResponse};
use berth_registry::auth::{Credentials, login};

impl Engine {
    /// `POST /auth`: checks `auth` against its registry (`https://HOST/v2/`, and plain http for
    /// a registry on this machine or one listed by `--insecure-registry`).
    pub async fn registry_login(&self, auth: &AuthConfig) -> Result<AuthResponse, EngineError> {
        let creds = Credentials {
            username: if auth.identitytoken.is_empty() {
                auth.username.clone()
            } else {
                "<token>".into()
            },
            password: if auth.identitytoken.is_empty() {
                auth.password.clone()
            } else {
                auth.identitytoken.clone()
            },
        };
        login(
            self.http_client(),
            &self.registries,
            &auth.serveraddress,
            &creds,
        )
        .await?;
        Ok(AuthResponse {
            status: "Login Succeeded".into(),
            identity_token: String::new(),
        })
    }
}
