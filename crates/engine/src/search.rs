//! `docker search`: a registry's `/v1/search` (Docker Hub's index, or a private registry that
//! answers it, as `berth registry serve` does), filtered as Docker filters.

use crate::Engine;
use crate::error::EngineError;
use berth_api_types::Filters;
use berth_api_types::image::SearchResult;
use berth_api_types::system::AuthConfig;
use berth_common::ErrorKind;
use berth_registry::auth::query_escape;

impl Engine {
    /// Searches for `term` (`host[:port]/text` for a private registry, else Docker Hub),
    /// at most `limit` results (25 when 0), keeping those `filters` (`is-official`, `stars`)
    /// select.
    pub async fn image_search(
        &self,
        term: &str,
        limit: usize,
        filters: &Filters,
        auth: Option<&AuthConfig>,
    ) -> Result<Vec<SearchResult>, EngineError> {
        filters.check_names(&["is-official", "is-automated", "stars"])?;
        let (host, query) = split_term(term);
        if self.registries.is_blocked(&host) {
            return Err(EngineError::Forbidden(format!(
                "searching {term}: the registry {host} is blocked by this daemon (--blocked-registry)"
            )));
        }
        let index = if host == berth_common::reference::DEFAULT_DOMAIN {
            "index.docker.io".to_string()
        } else {
            host.clone()
        };
        let limit = if limit == 0 { 25 } else { limit.min(100) };
        let mut headers = Vec::new();
        if let Some(c) = auth.and_then(crate::pull::credentials_of) {
            headers.push(("authorization", c.basic()));
        }
        let path = format!("/v1/search?q={}&n={limit}", query_escape(&query));
        let (_, answer) = berth_registry::auth::first_answer(
            self.http_client(),
            &self.registries.bases(&index),
            &path,
            &headers,
        )
        .await
        .map_err(|e| search_error(term, e.to_string(), ErrorKind::Unavailable))?;
        {
            if !answer.status.is_success() {
                let message =
                    berth_registry::distribution::error_message(&answer.body, answer.status);
                let kind = if answer.status.as_u16() == 401 {
                    ErrorKind::Unauthorized
                } else {
                    ErrorKind::Unavailable
                };
                return Err(search_error(term, message, kind));
            }
            #[derive(serde::Deserialize)]
            struct Answer {
                #[serde(default)]
                results: Vec<SearchResult>,
            }
            let parsed: Answer = serde_json::from_slice(&answer.body).map_err(|e| {
                search_error(
                    term,
                    format!("the answer is not JSON: {e}"),
                    ErrorKind::Unavailable,
                )
            })?;
            let min_stars: u64 = filters
                .get("stars")
                .iter()
                .filter_map(|v| v.parse().ok())
                .max()
                .unwrap_or(0);
            let official = filters
                .get("is-official")
                .first()
                .map(|v| v == "true" || v == "1");
            let mut results: Vec<SearchResult> = parsed
                .results
                .into_iter()
                .filter(|r| r.star_count >= min_stars)
                .filter(|r| official.is_none_or(|o| r.is_official == o))
                .collect();
            results.truncate(limit);
            Ok(results)
        }
    }
}

fn search_error(term: &str, why: String, kind: ErrorKind) -> EngineError {
    EngineError::Registry {
        message: format!("searching {term}: {why}"),
        kind,
        source: None,
    }
}

/// The registry a search term names and the text to search for: `host[:port]/text` when
/// the first part looks like a host (has a `.` or a `:`, or is `localhost`), else Docker Hub.
fn split_term(term: &str) -> (String, String) {
    if let Some((first, rest)) = term.split_once('/')
        && (first.contains('.') || first.contains(':') || first == "localhost")
    {
        return (first.to_string(), rest.to_string());
    }
    (
        berth_common::reference::DEFAULT_DOMAIN.to_string(),
        term.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_name_their_registry() {
        assert_eq!(
            split_term("busybox"),
            ("docker.io".into(), "busybox".into())
        );
        assert_eq!(
            split_term("library/busybox"),
            ("docker.io".into(), "library/busybox".into())
        );
        assert_eq!(
            split_term("127.0.0.1:5000/team"),
            ("127.0.0.1:5000".into(), "team".into())
        );
        assert_eq!(split_term("localhost/x"), ("localhost".into(), "x".into()));
    }
}
