//! Image endpoints: list, inspect, history, tag, remove, prune, load, save and import.

use crate::body::Body;
use crate::error::Result;
use crate::stream::{ByteReader, JsonStream, byte_reader, json_stream};
use crate::transport::{Client, path_escape, query};
use berth_api_types::Filters;
use berth_api_types::image::{
    HistoryItem, ImageDeleteItem, ImageInspect, ImagePruneResponse, ImageSummary,
};
use berth_api_types::progress::JsonMessage;
use berth_api_types::system::AuthConfig;
use hyper::Method;

fn flag(on: bool) -> &'static str {
    if on { "1" } else { "0" }
}

impl Client {
    /// `GET /images/json`: `all` includes intermediate images, `digests` asks for digests.
    pub async fn images_list(
        &self,
        all: bool,
        filters: &Filters,
        digests: bool,
    ) -> Result<Vec<ImageSummary>> {
        let f = filters.to_json();
        let mut q = vec![("all", flag(all))];
        if digests {
            q.push(("digests", "1"));
        }
        if !filters.is_empty() {
            q.push(("filters", &f));
        }
        let raw: serde_json::Value = self.get_json(&format!("/images/json{}", query(q))).await?;
        Ok(serde_json::from_value(nulls_to_empty(
            raw,
            &["RepoTags", "RepoDigests", "Labels"],
        ))?)
    }

    /// `GET /images/{name}/json`, decoded.
    pub async fn image_inspect(&self, name: &str) -> Result<ImageInspect> {
        self.get_json(&format!("/images/{}/json", path_escape(name)))
            .await
    }

    /// `GET /images/{name}/json` undecoded: `inspect` prints exactly what the daemon sent and
    /// templates can reach fields [`ImageInspect`] does not model.
    pub async fn image_inspect_raw(&self, name: &str) -> Result<serde_json::Value> {
        self.get_json(&format!("/images/{}/json", path_escape(name)))
            .await
    }

    /// `GET /images/{name}/history`.
    pub async fn image_history(&self, name: &str) -> Result<Vec<HistoryItem>> {
        let raw: serde_json::Value = self
            .get_json(&format!("/images/{}/history", path_escape(name)))
            .await?;
        Ok(serde_json::from_value(nulls_to_empty(raw, &["Tags"]))?)
    }

    /// `POST /images/{name}/tag`: gives image `name` the reference `repo[:tag]`.
    pub async fn image_tag(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        let mut q = vec![("repo", repo)];
        if let Some(t) = tag {
            q.push(("tag", t));
        }
        let path = format!("/images/{}/tag{}", path_escape(name), query(q));
        self.send_unit(Method::POST, &path, Body::empty()).await
    }

    /// `DELETE /images/{name}`: what was untagged and deleted.
    pub async fn image_remove(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
    ) -> Result<Vec<ImageDeleteItem>> {
        let q = query([("force", flag(force)), ("noprune", flag(noprune))]);
        let path = format!("/images/{}{q}", path_escape(name));
        self.send_json(Method::DELETE, &path, Body::empty()).await
    }

    /// `POST /images/prune`.
    pub async fn images_prune(&self, filters: &Filters) -> Result<ImagePruneResponse> {
        let f = filters.to_json();
        let q = if filters.is_empty() {
            String::new()
        } else {
            query([("filters", f.as_str())])
        };
        self.send_json(Method::POST, &format!("/images/prune{q}"), Body::empty())
            .await
    }

    /// `POST /images/load`: uploads an archive (streamed) and returns the progress stream.
    /// `quiet` asks the daemon to leave out progress-bar messages.
    pub async fn images_load(&self, body: Body, quiet: bool) -> Result<JsonStream<JsonMessage>> {
        let path = format!("/images/load{}", query([("quiet", flag(quiet))]));
        let resp = self.send(Method::POST, &path, body).await?;
        Ok(json_stream(resp.into_body()))
    }

    /// `POST /build`: sends the context (a tar, streamed) with the classic builder's query
    /// parameters (`t`, `dockerfile`, `buildargs`, …, as pairs) and returns Docker's message
    /// stream (a failed build ends with an `error` message rather than an error status).
    pub async fn image_build(
        &self,
        params: &[(&str, String)],
        context: Body,
    ) -> Result<JsonStream<JsonMessage>> {
        let path = format!(
            "/build{}",
            query(params.iter().map(|(k, v)| (*k, v.as_str())))
        );
        let resp = self.send(Method::POST, &path, context).await?;
        Ok(json_stream(resp.into_body()))
    }

    /// `POST /build/context`: which files of a context directory (its `manifest`) the daemon
    /// lacks for a build against session `key`.
    pub async fn build_context_needs(
        &self,
        key: &str,
        manifest: &[berth_api_types::build::ContextEntry],
    ) -> Result<berth_api_types::build::ContextNeed> {
        self.send_json(
            Method::POST,
            &format!("/build/context{}", query([("session", key)])),
            Body::json(manifest)?,
        )
        .await
    }

    /// `POST /build/prune`: removes build cache records (`all`, `keep-storage`, filters).
    pub async fn build_prune(
        &self,
        all: bool,
        keep_storage: Option<u64>,
        filters: &Filters,
    ) -> Result<berth_api_types::build::BuildPruneResponse> {
        let f = filters.to_json();
        let keep = keep_storage.map(|k| k.to_string());
        let mut q = vec![("all", flag(all))];
        if let Some(k) = &keep {
            q.push(("keep-storage", k));
        }
        if !filters.is_empty() {
            q.push(("filters", &f));
        }
        self.send_json(
            Method::POST,
            &format!("/build/prune{}", query(q)),
            Body::empty(),
        )
        .await
    }

    /// `GET /images/get?names=...`: the `docker save` archive of one or more images, read as it
    /// arrives.
    pub async fn images_save(&self, names: &[String]) -> Result<ByteReader> {
        let path = format!(
            "/images/get{}",
            query(names.iter().map(|n| ("names", n.as_str())))
        );
        let resp = self.send(Method::GET, &path, Body::empty()).await?;
        Ok(byte_reader(resp.into_body()))
    }

    /// `POST /images/create?fromImage=&tag=`: pulls an image with `auth`'s credentials (sent
    /// as `X-Registry-Auth`); returns the progress stream (a failed pull ends with an `error`
    /// message rather than an error status, once it has begun).
    pub async fn image_pull(
        &self,
        from_image: &str,
        tag: Option<&str>,
        platform: Option<&str>,
        auth: Option<&AuthConfig>,
    ) -> Result<JsonStream<JsonMessage>> {
        let mut q = vec![("fromImage", from_image)];
        if let Some(t) = tag {
            q.push(("tag", t));
        }
        if let Some(p) = platform {
            q.push(("platform", p));
        }
        let path = format!("/images/create{}", query(q));
        let resp = self.send_with_auth(Method::POST, &path, auth).await?;
        Ok(json_stream(resp.into_body()))
    }

    /// A bodiless request carrying `auth` as `X-Registry-Auth`; an error status is an error.
    async fn send_with_auth(
        &self,
        method: Method,
        path: &str,
        auth: Option<&AuthConfig>,
    ) -> Result<hyper::Response<hyper::body::Incoming>> {
        let header = registry_auth_header(auth)?;
        let resp = self
            .request_with_headers(
                method,
                path,
                Body::empty(),
                &[(X_REGISTRY_AUTH.clone(), header.as_str())],
            )
            .await?;
        Client::check(resp, path).await
    }

    /// `GET /images/search?term=&limit=&filters=`, with `auth`'s credentials.
    pub async fn image_search(
        &self,
        term: &str,
        limit: Option<usize>,
        filters: &Filters,
        auth: Option<&AuthConfig>,
    ) -> Result<Vec<berth_api_types::image::SearchResult>> {
        let limit = limit.map(|l| l.to_string());
        let filters_json = (!filters.is_empty()).then(|| filters.to_json());
        let mut q = vec![("term", term)];
        if let Some(l) = &limit {
            q.push(("limit", l.as_str()));
        }
        if let Some(f) = &filters_json {
            q.push(("filters", f.as_str()));
        }
        let path = format!("/images/search{}", query(q));
        let resp = self.send_with_auth(Method::GET, &path, auth).await?;
        let bytes = http_body_util::BodyExt::collect(resp.into_body())
            .await?
            .to_bytes();
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// `POST /images/{name}/push?tag=`: pushes an image (every tag of the repository when
    /// `tag` is `None`) with `auth`'s credentials; returns the progress stream.
    pub async fn image_push(
        &self,
        name: &str,
        tag: Option<&str>,
        auth: Option<&AuthConfig>,
    ) -> Result<JsonStream<JsonMessage>> {
        let mut q = Vec::new();
        if let Some(t) = tag {
            q.push(("tag", t));
        }
        let path = format!("/images/{name}/push{}", query(q));
        let resp = self.send_with_auth(Method::POST, &path, auth).await?;
        Ok(json_stream(resp.into_body()))
    }

    /// `POST /images/create?fromSrc=-`: imports a root file system tarball as a new image.
    /// `repo` may carry a tag itself (`app:1`), as Docker's client sends it; `changes` are
    /// Dockerfile instructions (`CMD ["sh"]`) applied to the config, passed through verbatim.
    pub async fn image_import(
        &self,
        body: Body,
        repo: Option<&str>,
        tag: Option<&str>,
        message: Option<&str>,
        changes: &[String],
    ) -> Result<JsonStream<JsonMessage>> {
        let path = format!(
            "/images/create{}",
            import_query(repo, tag, message, changes)
        );
        let resp = self.send(Method::POST, &path, body).await?;
        Ok(json_stream(resp.into_body()))
    }
}

/// Replaces `null` list and map fields of each object in an array by empty ones. Docker's
/// daemon sends `"Tags": null` for history steps and old daemons `"RepoTags": null`; the shared
/// models expect empty collections.
fn nulls_to_empty(mut v: serde_json::Value, keys: &[&str]) -> serde_json::Value {
    use serde_json::Value;
    for item in v.as_array_mut().into_iter().flatten() {
        let Some(obj) = item.as_object_mut() else {
            continue;
        };
        for k in keys {
            if let Some(field @ Value::Null) = obj.get_mut(*k) {
                *field = if *k == "Labels" {
                    Value::Object(Default::default())
                } else {
                    Value::Array(vec![])
                };
            }
        }
    }
    v
}

/// The query of an import request; separate so the `changes` passthrough can be tested.
pub fn import_query(
    repo: Option<&str>,
    tag: Option<&str>,
    message: Option<&str>,
    changes: &[String],
) -> String {
    let mut q = vec![("fromSrc", "-")];
    if let Some(r) = repo {
        q.push(("repo", r));
    }
    if let Some(t) = tag {
        q.push(("tag", t));
    }
    if let Some(m) = message {
        q.push(("message", m));
    }
    q.extend(changes.iter().map(|c| ("changes", c.as_str())));
    query(q)
}

/// The header carrying registry credentials to the daemon.
static X_REGISTRY_AUTH: hyper::header::HeaderName =
    hyper::header::HeaderName::from_static("x-registry-auth");

/// `X-Registry-Auth`'s value: base64url of the auth config's JSON (`{}` when anonymous, as the
/// docker CLI sends it).
fn registry_auth_header(auth: Option<&AuthConfig>) -> Result<String> {
    use base64::Engine as _;
    let json = match auth {
        Some(a) => serde_json::to_vec(a).map_err(|e| {
            crate::ClientError::InvalidRequest(format!("encoding credentials: {e}"))
        })?,
        None => b"{}".to_vec(),
    };
    Ok(base64::engine::general_purpose::URL_SAFE.encode(json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_collections_decode() {
        let raw = serde_json::json!([{"Id": "<missing>", "Created": 1, "CreatedBy": "x", "Tags": null, "Size": 0, "Comment": ""}]);
        let items: Vec<HistoryItem> =
            serde_json::from_value(nulls_to_empty(raw, &["Tags"])).unwrap();
        assert!(items[0].tags.is_empty());
    }

    #[test]
    fn import_query_repeats_changes() {
        let changes = vec!["CMD [\"sh\"]".to_string(), "ENV A=b c".to_string()];
        let q = import_query(Some("foo:1"), None, Some("hi"), &changes);
        assert_eq!(
            q,
            "?fromSrc=-&repo=foo%3A1&message=hi&changes=CMD+%5B%22sh%22%5D&changes=ENV+A%3Db+c"
        );
        assert_eq!(import_query(None, None, None, &[]), "?fromSrc=-");
    }
}
