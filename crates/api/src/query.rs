//! Query strings as Docker's clients write them: repeated keys (`changes=a&changes=b`,
//! `names=x&names=y`) and Go-style booleans (`1`, `true`, `True`), which serde's usual query
//! decoding does not handle.

use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use berth_api_types::Filters;

/// All query parameters in order.
#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: &str) -> Query {
        Query(
            form_urlencoded::parse(raw.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// First value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// First non-empty value of `key`.
    pub fn get_nonempty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// Every value of `key`.
    pub fn get_all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Docker's boolean rule: absent, empty, `0`, `no`, `false`, `none` are false.
    pub fn bool(&self, key: &str) -> bool {
        match self.get(key) {
            None => false,
            Some(v) => !matches!(
                v.to_ascii_lowercase().as_str(),
                "" | "0" | "no" | "false" | "none"
            ),
        }
    }

    /// The `filters` parameter, decoded.
    pub fn filters(&self) -> Result<Filters, ApiError> {
        Ok(Filters::parse(self.get("filters").unwrap_or(""))?)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Query::parse(parts.uri.query().unwrap_or("")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_and_go_booleans() {
        let q =
            Query::parse("changes=CMD+%5B%22sh%22%5D&changes=ENV+A%3D1&all=1&force=False&noprune=");
        assert_eq!(q.get_all("changes"), vec!["CMD [\"sh\"]", "ENV A=1"]);
        assert!(q.bool("all"));
        assert!(!q.bool("force"));
        assert!(!q.bool("noprune"));
        assert!(!q.bool("missing"));
    }
}
