//! API version prefixes: `/v1.50/images/json` and `/images/json` are the same request.
//!
//! The `docker` CLI uses whatever version the daemon advertises and has no minimum of its own,
//! so the daemon is the one that must refuse versions it does not implement. Requests outside
//! the range are rewritten to an internal route that answers 400 with Docker's wording.

use crate::AppState;
use crate::error::ApiError;
use axum::Router;
use axum::extract::Path;
use axum::http::{Request, Uri};
use axum::routing::any;
use berth_api_types::{API_VERSION, MIN_API_VERSION};

const BAD_VERSION_ROUTE: &str = "/__berth/unsupported-api-version";

/// `(major, minor)` of a version string such as `1.43`.
fn parse(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The API version a request was made for: its path prefix, or the current version without
/// one (as Docker). Handlers whose answers changed shape across versions take it as an
/// extractor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(pub u32, pub u32);

impl ApiVersion {
    /// Whether the request is for a version older than `major.minor`.
    pub fn before(self, major: u32, minor: u32) -> bool {
        self < ApiVersion(major, minor)
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ApiVersion {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ApiVersion>()
            .copied()
            .unwrap_or_else(|| {
                let (a, b) = parse(API_VERSION).unwrap_or((1, 50));
                ApiVersion(a, b)
            }))
    }
}

/// Rewrites `/vX.Y/rest` to `/rest`, or to the refusal route when X.Y is unsupported, and
/// records X.Y as the request's [`ApiVersion`].
pub fn strip_prefix<B>(mut req: Request<B>) -> Request<B> {
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix("/v") else {
        return req;
    };
    let (ver, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Some(v) = parse(ver) else { return req };
    let (ver, tail) = (ver.to_string(), tail.to_string());
    req.extensions_mut().insert(ApiVersion(v.0, v.1));
    let new_path = if v < parse(MIN_API_VERSION).unwrap_or((1, 41))
        || v > parse(API_VERSION).unwrap_or((1, 50))
    {
        format!("{BAD_VERSION_ROUTE}/{ver}")
    } else if tail.is_empty() {
        "/".to_string()
    } else {
        tail.to_string()
    };
    let pq = match req.uri().query() {
        Some(q) => format!("{new_path}?{q}"),
        None => new_path,
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(p) = pq.parse() {
        parts.path_and_query = Some(p);
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// The refusal route.
pub fn routes() -> Router<AppState> {
    Router::new().route(&format!("{BAD_VERSION_ROUTE}/{{version}}"), any(refuse))
}

async fn refuse(Path(version): Path<String>) -> ApiError {
    let message = if parse(&version) > parse(API_VERSION) {
        format!(
            "client version {version} is too new. Maximum supported API version is {API_VERSION}"
        )
    } else {
        format!(
            "client version {version} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )
    };
    ApiError::bad_request(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(uri: &str) -> String {
        let req = Request::builder().uri(uri).body(()).unwrap();
        strip_prefix(req).uri().to_string()
    }

    #[test]
    fn supported_versions_are_stripped() {
        assert_eq!(rewrite("/v1.50/images/json?all=1"), "/images/json?all=1");
        assert_eq!(rewrite("/v1.41/_ping"), "/_ping");
        assert_eq!(rewrite("/images/json"), "/images/json");
        assert_eq!(rewrite("/volumes"), "/volumes");
    }

    #[test]
    fn unsupported_versions_are_refused() {
        assert_eq!(
            rewrite("/v1.99/info"),
            "/__berth/unsupported-api-version/1.99"
        );
        assert_eq!(
            rewrite("/v1.24/info"),
            "/__berth/unsupported-api-version/1.24"
        );
    }
}
