//! The distribution API's HTTP side: the path decoded into a [`Route`], the request
//! authorised, one store call made, the answer encoded with the spec's headers and error
//! codes. Names contain slashes, so the routes are parsed here rather than by a router.

use crate::App;
use crate::auth::Verdict;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use berth_common::Digest;
use berth_registry::store::{MANIFEST_LIMIT, StoreError, check_name};
use futures_util::StreamExt;
use std::sync::Arc;

/// What a path asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Base,
    Search,
    Token,
    Catalog,
    Tags(String),
    Manifest(String, String),
    Blob(String, String),
    Uploads(String),
    Upload(String, String),
    Referrers(String, String),
    Unknown,
}

fn route(path: &str) -> Route {
    if path == "/v2" || path == "/v2/" {
        return Route::Base;
    }
    if path == "/token" {
        return Route::Token;
    }
    if path == "/v1/search" {
        return Route::Search;
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Route::Unknown;
    };
    if rest == "_catalog" {
        return Route::Catalog;
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Route::Tags(name.into());
    }
    if let Some(name) = rest
        .strip_suffix("/blobs/uploads/")
        .or_else(|| rest.strip_suffix("/blobs/uploads"))
    {
        return Route::Uploads(name.into());
    }
    if let Some((name, id)) = rest.rsplit_once("/blobs/uploads/") {
        return Route::Upload(name.into(), id.into());
    }
    if let Some((name, r)) = rest.rsplit_once("/manifests/") {
        return Route::Manifest(name.into(), r.into());
    }
    if let Some((name, d)) = rest.rsplit_once("/blobs/") {
        return Route::Blob(name.into(), d.into());
    }
    if let Some((name, d)) = rest.rsplit_once("/referrers/") {
        return Route::Referrers(name.into(), d.into());
    }
    Route::Unknown
}

/// A spec error answer.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"errors": [{"code": code, "message": message, "detail": null}]});
    respond(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

/// A store error as its spec answer.
fn store_error(e: StoreError) -> Response {
    if matches!(e, StoreError::Io { .. }) {
        tracing::warn!(error = %e, "registry storage failed");
    }
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = error(status, e.code(), &e.to_string());
    if let StoreError::RangeInvalid { offset, .. } = e
        && offset > 0
        && let Ok(v) = HeaderValue::from_str(&format!("0-{}", offset - 1))
    {
        resp.headers_mut().insert(header::RANGE, v);
    }
    resp
}

/// A response builder with the header every answer carries.
fn respond(status: StatusCode) -> axum::http::response::Builder {
    Response::builder()
        .status(status)
        .header("docker-distribution-api-version", "registry/2.0")
}

/// The query's values for `key`.
fn query_all(uri: &Uri, key: &str) -> Vec<String> {
    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .collect()
}

fn query(uri: &Uri, key: &str) -> Option<String> {
    query_all(uri, key).into_iter().next()
}

/// The single entry point: every request of the server.
pub async fn dispatch(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = route(uri.path());
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if r == Route::Token {
        return token(&app, &uri, authorization);
    }
    if r == Route::Search {
        return search(&app, &uri, authorization);
    }
    if app.read_only_all_writes(&method) {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "the registry is read-only",
        );
    }
    let repo = match &r {
        Route::Tags(n)
        | Route::Manifest(n, _)
        | Route::Blob(n, _)
        | Route::Uploads(n)
        | Route::Upload(n, _)
        | Route::Referrers(n, _) => Some(n.clone()),
        _ => None,
    };
    if let Some(name) = &repo
        && let Err(e) = check_name(name)
    {
        return store_error(e);
    }
    let reading = method == Method::GET || method == Method::HEAD;
    let action = if reading {
        "pull"
    } else if method == Method::DELETE && !matches!(r, Route::Upload(..)) {
        "delete"
    } else {
        // Cancelling one's own upload is part of pushing.
        "push"
    };
    let mut needed: Vec<(Option<String>, &str)> = vec![(repo.clone(), action)];
    if matches!(r, Route::Uploads(_))
        && let Some(from) = query(&uri, "from")
    {
        needed.push((Some(from), "pull"));
    }
    for (repo, action) in &needed {
        let verdict = tokio::task::block_in_place(|| {
            app.policy.authorize(authorization, repo.as_deref(), action)
        });
        match verdict {
            Verdict::Allowed => {}
            Verdict::Unauthenticated(why) => {
                let scope = repo.as_ref().map(|r| format!("repository:{r}:{action}"));
                let mut resp = error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", &why);
                if let Ok(v) = HeaderValue::from_str(&app.policy.challenge(scope.as_deref())) {
                    resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                return resp;
            }
            Verdict::Denied(why) => return error(StatusCode::FORBIDDEN, "DENIED", &why),
        }
    }
    match (r, method.clone()) {
        (Route::Base, _) => respond(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap_or_default(),
        (Route::Catalog, Method::GET) => catalog(&app, &uri, authorization),
        (Route::Tags(name), Method::GET) => tags(&app, &name, &uri),
        (Route::Manifest(name, reference), Method::GET | Method::HEAD) => {
            get_manifest(&app, &name, &reference, method == Method::HEAD)
        }
        (Route::Manifest(name, reference), Method::PUT) => {
            put_manifest(&app, &name, &reference, &headers, body).await
        }
        (Route::Manifest(name, reference), Method::DELETE) => {
            match app.store.delete_manifest(&name, &reference) {
                Ok(()) => respond(StatusCode::ACCEPTED)
                    .body(Body::empty())
                    .unwrap_or_default(),
                Err(e) => store_error(e),
            }
        }
        (Route::Blob(name, digest), Method::GET | Method::HEAD) => {
            get_blob(&app, &name, &digest, &headers, method == Method::HEAD)
        }
        (Route::Blob(name, digest), Method::DELETE) => match digest.parse::<Digest>() {
            Ok(d) => match app.store.delete_blob(&name, &d) {
                Ok(()) => respond(StatusCode::ACCEPTED)
                    .body(Body::empty())
                    .unwrap_or_default(),
                Err(e) => store_error(e),
            },
            Err(_) => store_error(StoreError::DigestInvalid(digest)),
        },
        (Route::Uploads(name), Method::POST) => start_upload(&app, &name, &uri, body).await,
        (Route::Upload(name, id), Method::GET) => match app.store.upload_offset(&name, &id) {
            Ok(offset) => upload_answer(StatusCode::NO_CONTENT, &name, &id, offset),
            Err(e) => store_error(e),
        },
        (Route::Upload(name, id), Method::PATCH) => {
            let start = headers
                .get(header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    v.trim()
                        .trim_start_matches("bytes ")
                        .split('-')
                        .next()
                        .map(str::to_string)
                })
                .and_then(|s| s.trim().parse::<u64>().ok());
            match feed(&app, &name, &id, start, body).await {
                Ok(offset) => upload_answer(StatusCode::ACCEPTED, &name, &id, offset),
                Err(e) => store_error(e),
            }
        }
        (Route::Upload(name, id), Method::PUT) => {
            let Some(digest) = query(&uri, "digest") else {
                return store_error(StoreError::DigestInvalid("no digest given".into()));
            };
            if let Err(e) = feed(&app, &name, &id, None, body).await {
                return store_error(e);
            }
            finish(&app, &name, &id, &digest)
        }
        (Route::Upload(name, id), Method::DELETE) => match app.store.cancel_upload(&name, &id) {
            Ok(()) => respond(StatusCode::NO_CONTENT)
                .body(Body::empty())
                .unwrap_or_default(),
            Err(e) => store_error(e),
        },
        (Route::Referrers(name, digest), Method::GET) => referrers(&app, &name, &digest, &uri),
        (Route::Unknown, _) => error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint"),
        (_, m) => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            &format!("{m} is not supported here"),
        ),
    }
}

/// `GET /token`: a bearer token for the scopes asked.
fn token(app: &App, uri: &Uri, authorization: Option<&str>) -> Response {
    let scopes = query_all(uri, "scope");
    let issued = tokio::task::block_in_place(|| app.policy.issue_token(authorization, &scopes));
    match issued {
        Some(t) => {
            let body = serde_json::json!({
                "token": t,
                "access_token": t,
                "expires_in": app.policy.token_seconds(),
            });
            respond(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap_or_default()
        }
        None => {
            let mut resp = error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "incorrect username or password",
            );
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"berth-registry\""),
            );
            resp
        }
    }
}

/// `GET /v1/search?q=&n=`: the repositories whose name contains `q` that the caller may
/// pull (what `docker search HOST/q` asks a registry).
fn search(app: &App, uri: &Uri, authorization: Option<&str>) -> Response {
    // Credentials are checked once; the per-repository checks below then hit the cache.
    let verdict = tokio::task::block_in_place(|| app.policy.authorize(authorization, None, "pull"));
    if let Verdict::Unauthenticated(why) = verdict {
        let mut resp = error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", &why);
        if let Ok(v) = HeaderValue::from_str(&app.policy.challenge(None)) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        return resp;
    }
    let q = query(uri, "q").unwrap_or_default().to_lowercase();
    let n = query(uri, "n")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(25);
    let all = match app.store.catalog() {
        Ok(a) => a,
        Err(e) => return store_error(e),
    };
    let results: Vec<serde_json::Value> = all
        .into_iter()
        .filter(|r| r.contains(&q))
        .filter(|r| app.policy.authorize(authorization, Some(r), "pull") == Verdict::Allowed)
        .take(n)
        .map(|name| {
            serde_json::json!({
                "name": name,
                "description": "",
                "star_count": 0,
                "is_official": false,
                "is_automated": false,
            })
        })
        .collect();
    let body = serde_json::json!({"num_results": results.len(), "query": q, "results": results});
    respond(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

/// One page (`n`, `last`) of a sorted list, and the `Link` to the next.
fn page(all: Vec<String>, uri: &Uri, path: &str) -> (Vec<String>, Option<String>) {
    let last = query(uri, "last");
    let n = query(uri, "n").and_then(|n| n.parse::<usize>().ok());
    let mut items: Vec<String> = all
        .into_iter()
        .filter(|t| last.as_ref().is_none_or(|l| t > l))
        .collect();
    let mut link = None;
    if let Some(n) = n
        && items.len() > n
    {
        items.truncate(n);
        if let Some(l) = items.last() {
            link = Some(format!("<{path}?n={n}&last={l}>; rel=\"next\""));
        }
    }
    (items, link)
}

fn json_page(
    key: &str,
    items: Vec<String>,
    extra: Option<(&str, &str)>,
    link: Option<String>,
) -> Response {
    let mut body = serde_json::Map::new();
    if let Some((k, v)) = extra {
        body.insert(k.into(), v.into());
    }
    body.insert(key.into(), items.into());
    let mut b = respond(StatusCode::OK).header(header::CONTENT_TYPE, "application/json");
    if let Some(l) = link {
        b = b.header(header::LINK, l);
    }
    b.body(Body::from(serde_json::Value::Object(body).to_string()))
        .unwrap_or_default()
}

/// `GET /v2/_catalog`: the repositories the caller may pull.
fn catalog(app: &App, uri: &Uri, authorization: Option<&str>) -> Response {
    match app.store.catalog() {
        Ok(all) => {
            let all: Vec<String> = all
                .into_iter()
                .filter(|r| {
                    app.policy.authorize(authorization, Some(r), "pull") == Verdict::Allowed
                })
                .collect();
            let (items, link) = page(all, uri, "/v2/_catalog");
            json_page("repositories", items, None, link)
        }
        Err(e) => store_error(e),
    }
}

fn tags(app: &App, name: &str, uri: &Uri) -> Response {
    match app.store.tags(name) {
        Ok(all) => {
            let (items, link) = page(all, uri, &format!("/v2/{name}/tags/list"));
            json_page("tags", items, Some(("name", name)), link)
        }
        Err(e) => store_error(e),
    }
}

fn get_manifest(app: &App, name: &str, reference: &str, head: bool) -> Response {
    match app.store.get_manifest(name, reference) {
        Ok(m) => respond(StatusCode::OK)
            .header(header::CONTENT_TYPE, m.media_type)
            .header(header::CONTENT_LENGTH, m.bytes.len())
            .header("docker-content-digest", m.digest.to_string())
            .header(header::ETAG, format!("\"{}\"", m.digest))
            .body(if head {
                Body::empty()
            } else {
                Body::from(m.bytes)
            })
            .unwrap_or_default(),
        Err(e) => store_error(e),
    }
}

async fn put_manifest(
    app: &App,
    name: &str,
    reference: &str,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
        .unwrap_or_default();
    let mut bytes = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return error(
                StatusCode::BAD_REQUEST,
                "MANIFEST_INVALID",
                "the body was cut off",
            );
        };
        if bytes.len() + chunk.len() > MANIFEST_LIMIT {
            return store_error(StoreError::ManifestTooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    match app.store.put_manifest(name, reference, &media_type, &bytes) {
        Ok((digest, subject)) => {
            let mut b = respond(StatusCode::CREATED)
                .header(header::LOCATION, format!("/v2/{name}/manifests/{digest}"))
                .header("docker-content-digest", digest.to_string());
            if let Some(s) = subject {
                b = b.header("oci-subject", s.to_string());
            }
            b.body(Body::empty()).unwrap_or_default()
        }
        Err(e) => store_error(e),
    }
}

/// `GET|HEAD /v2/<name>/blobs/<digest>`, with `Range`, from a memory mapping of the blob (its
/// pages go to the socket without a userspace copy).
fn get_blob(app: &App, name: &str, digest: &str, headers: &HeaderMap, head: bool) -> Response {
    let Ok(d) = digest.parse::<Digest>() else {
        return store_error(StoreError::DigestInvalid(digest.to_string()));
    };
    match app.store.blob_size(name, &d) {
        Ok(Some(_)) => {}
        Ok(None) => return store_error(StoreError::BlobUnknown(d)),
        Err(e) => return store_error(e),
    }
    let path = app.store.blob_path(&d);
    let bytes =
        match std::fs::File::open(&path).and_then(|f| berth_storage::mapped::map_immutable(&f)) {
            Ok(b) => b,
            Err(_) => return store_error(StoreError::BlobUnknown(d)),
        };
    let total = bytes.len() as u64;
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .map(str::to_string);
    let (status, slice, content_range) = match range {
        None => (StatusCode::OK, bytes, None),
        Some(r) => {
            let (a, b) = r.split_once('-').unwrap_or((r.as_str(), ""));
            let start: Option<u64> = a.trim().parse().ok();
            let end: Option<u64> = if b.trim().is_empty() {
                Some(total.saturating_sub(1))
            } else {
                b.trim().parse().ok()
            };
            match (start, end) {
                (Some(s), Some(e)) if s <= e && s < total => {
                    let e = e.min(total - 1);
                    (
                        StatusCode::PARTIAL_CONTENT,
                        bytes.slice(s as usize..=e as usize),
                        Some(format!("bytes {s}-{e}/{total}")),
                    )
                }
                _ => {
                    return respond(StatusCode::RANGE_NOT_SATISFIABLE)
                        .header(header::CONTENT_RANGE, format!("bytes */{total}"))
                        .body(Body::empty())
                        .unwrap_or_default();
                }
            }
        }
    };
    let mut b = respond(status)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, slice.len())
        .header(header::ACCEPT_RANGES, "bytes")
        .header("docker-content-digest", d.to_string())
        .header(header::ETAG, format!("\"{d}\""));
    if let Some(cr) = content_range {
        b = b.header(header::CONTENT_RANGE, cr);
    }
    b.body(if head {
        Body::empty()
    } else {
        Body::from(slice)
    })
    .unwrap_or_default()
}

/// The answer describing an upload in progress.
fn upload_answer(status: StatusCode, name: &str, id: &str, offset: u64) -> Response {
    let range = if offset == 0 {
        "0-0".to_string()
    } else {
        format!("0-{}", offset - 1)
    };
    respond(status)
        .header(header::LOCATION, format!("/v2/{name}/blobs/uploads/{id}"))
        .header(header::RANGE, range)
        .header(header::CONTENT_LENGTH, 0)
        .header("docker-upload-uuid", id)
        .body(Body::empty())
        .unwrap_or_default()
}

/// `POST /v2/<name>/blobs/uploads/`: a mount, a monolithic upload (`?digest=`), or a new
/// upload session.
async fn start_upload(app: &App, name: &str, uri: &Uri, body: Body) -> Response {
    if let (Some(mount), Some(from)) = (query(uri, "mount"), query(uri, "from"))
        && let Ok(d) = mount.parse::<Digest>()
    {
        match app.store.mount(name, &from, &d) {
            Ok(true) => {
                return respond(StatusCode::CREATED)
                    .header(header::LOCATION, format!("/v2/{name}/blobs/{d}"))
                    .header("docker-content-digest", d.to_string())
                    .header(header::CONTENT_LENGTH, 0)
                    .body(Body::empty())
                    .unwrap_or_default();
            }
            Ok(false) => {}
            Err(e) => return store_error(e),
        }
    }
    let id = match app.store.start_upload(name) {
        Ok(id) => id,
        Err(e) => return store_error(e),
    };
    if let Some(digest) = query(uri, "digest") {
        if let Err(e) = feed(app, name, &id, None, body).await {
            return store_error(e);
        }
        return finish(app, name, &id, &digest);
    }
    upload_answer(StatusCode::ACCEPTED, name, &id, 0)
}

/// Streams a request body into upload `id`; the first piece must start at `start` when the
/// client said where.
async fn feed(
    app: &App,
    name: &str,
    id: &str,
    start: Option<u64>,
    body: Body,
) -> Result<u64, StoreError> {
    let mut offset = app.store.upload_offset(name, id)?;
    if let Some(s) = start
        && s != offset
    {
        return Err(StoreError::RangeInvalid { offset, start: s });
    }
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| StoreError::Io {
            path: "the request body".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        offset = app.store.append(name, id, None, &chunk)?;
    }
    Ok(offset)
}

fn finish(app: &App, name: &str, id: &str, digest: &str) -> Response {
    match app.store.finish_upload(name, id, digest) {
        Ok(_) => respond(StatusCode::CREATED)
            .header(header::LOCATION, format!("/v2/{name}/blobs/{digest}"))
            .header("docker-content-digest", digest)
            .header(header::CONTENT_LENGTH, 0)
            .body(Body::empty())
            .unwrap_or_default(),
        Err(e) => store_error(e),
    }
}

fn referrers(app: &App, name: &str, digest: &str, uri: &Uri) -> Response {
    let Ok(d) = digest.parse::<Digest>() else {
        return store_error(StoreError::DigestInvalid(digest.to_string()));
    };
    let filter = query(uri, "artifactType");
    match app.store.referrers(name, &d, filter.as_deref()) {
        Ok(list) => {
            let body = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": list,
            });
            let mut b = respond(StatusCode::OK).header(
                header::CONTENT_TYPE,
                "application/vnd.oci.image.index.v1+json",
            );
            if filter.is_some() {
                b = b.header("oci-filters-applied", "artifactType");
            }
            b.body(Body::from(body.to_string())).unwrap_or_default()
        }
        Err(e) => store_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_slashed_names_route() {
        assert_eq!(route("/v2/"), Route::Base);
        assert_eq!(route("/v2/a/b/tags/list"), Route::Tags("a/b".into()));
        assert_eq!(
            route("/v2/a/b/manifests/1"),
            Route::Manifest("a/b".into(), "1".into())
        );
        assert_eq!(route("/v2/a/blobs/uploads/"), Route::Uploads("a".into()));
        assert_eq!(
            route("/v2/a/blobs/uploads/abc"),
            Route::Upload("a".into(), "abc".into())
        );
        assert_eq!(
            route("/v2/a/b/blobs/sha256:1"),
            Route::Blob("a/b".into(), "sha256:1".into())
        );
        assert_eq!(
            route("/v2/a/referrers/sha256:1"),
            Route::Referrers("a".into(), "sha256:1".into())
        );
        assert_eq!(route("/v1/x"), Route::Unknown);
    }
}
