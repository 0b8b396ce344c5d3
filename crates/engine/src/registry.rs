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
        let creds = crate::pull::credentials_of(auth).unwrap_or(Credentials {
            username: auth.username.clone(),
            password: auth.password.clone(),
        });
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
