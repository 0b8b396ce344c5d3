//! The distribution protocol's client side: one [`Session`] per repository of a registry,
//! speaking `/v2/<name>/manifests|blobs|tags` with whatever authentication the registry asks
//! for.
//!
//! A session is opened by pinging `/v2/` (https first, plain http only where
//! [`Endpoints`] allows it), which also tells which scheme of authentication the registry
//! wants. Bearer tokens are fetched for the session's scope up front; a request answered `401`
//! later (an expired token, a scope the registry wants widened) fetches a fresh token once and
//! is sent again, and a second refusal is the error. Every manifest is read with a size limit
//! and hashed; a manifest asked for by digest must match it. Blobs are streamed to the caller,
//! who verifies them as they land in the content store.

use crate::auth::{Challenge, Credentials, Endpoints, parse_challenge, query_escape, token_url};
use crate::http::{HttpClient, HttpError, Method, RequestBody, next_data, resolve};
use berth_common::Digest;
use bytes::Bytes;
use hyper::StatusCode;
use hyper::body::Incoming;
use hyper::{Response, Uri};
use std::sync::Mutex;

/// The largest manifest or index read (the OCI distribution spec lets registries refuse
/// larger ones; Docker reads at most 4 MiB too).
pub const MANIFEST_LIMIT: u64 = 4 << 20;

/// Manifest media types a pull accepts, in the order of preference sent as `Accept`.
pub const MANIFEST_ACCEPT: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// What can go wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// The transport failed.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The registry refused the credentials (or their absence).
    #[error("{0}")]
    Unauthorized(String),
    /// The registry has no such repository, manifest or blob.
    #[error("{0}")]
    NotFound(String),
    /// The registry answered with an error of the distribution spec.
    #[error("{url}: {message}")]
    Registry {
        /// What was asked.
        url: String,
        /// The status.
        status: StatusCode,
        /// The registry's errors, as Docker prints them (`manifest unknown: …`).
        message: String,
    },
    /// Bytes that do not match the digest they were asked for.
    #[error("{what}: digest mismatch: the registry sent content hashing to {actual}")]
    DigestMismatch {
        /// Which manifest or blob.
        what: String,
        /// What it hashed to.
        actual: Digest,
    },
    /// A manifest over [`MANIFEST_LIMIT`].
    #[error("{what}: the manifest is larger than {MANIFEST_LIMIT} bytes")]
    TooLarge {
        /// Which manifest.
        what: String,
    },
    /// An answer that breaks the protocol (no `Location` for an upload, a bad range).
    #[error("{url}: {why}")]
    Protocol {
        /// What was asked.
        url: String,
        /// What was wrong.
        why: String,
    },
}

/// A manifest (or index) as the registry sent it.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Its bytes, exactly (the digest is over them).
    pub bytes: Vec<u8>,
    /// The `Content-Type` the registry gave.
    pub media_type: String,
    /// The sha256 of the bytes.
    pub digest: Digest,
}

/// A blob's body arriving.
pub struct BlobBody {
    body: Incoming,
    url: String,
    /// Where the body starts in the blob: the offset asked for, or 0 when the registry
    /// ignored the `Range` and sends it all.
    pub start: u64,
    /// The blob's whole size, when the registry said.
    pub total: Option<u64>,
}

impl BlobBody {
    /// The next piece; `None` at the end.
    pub async fn next(&mut self) -> Result<Option<Bytes>, DistError> {
        Ok(next_data(&mut self.body, &self.url).await?)
    }
}

/// What a cross-repository mount gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// The registry linked the blob: nothing to upload.
    Mounted,
    /// It did not, but started an upload here.
    Upload(String),
}

/// How requests are authorised.
#[derive(Debug, Clone)]
enum Auth {
    /// Not at all (an open registry).
    None,
    /// `Authorization: Basic …`.
    Basic(String),
    /// `Authorization: Bearer <token>`, fetched from the challenge's realm.
    Bearer {
        realm: String,
        service: Option<String>,
        token: Option<String>,
    },
}

/// A conversation with one repository of one registry.
pub struct Session {
    http: HttpClient,
    base: String,
    repo: String,
    creds: Option<Credentials>,
    scopes: Mutex<Vec<String>>,
    auth: Mutex<Auth>,
}

impl Session {
    /// Opens a session with `repo` (`library/busybox`) at registry `host`, tried at each of
    /// `endpoints`' bases (or `bases_override`, a mirror's URL); `push` widens the token scope
    /// to `pull,push`.
    pub async fn open(
        http: &HttpClient,
        endpoints: &Endpoints,
        host: &str,
        repo: &str,
        creds: Option<Credentials>,
        push: bool,
    ) -> Result<Session, DistError> {
        Self::open_at(http, &endpoints.bases(host), repo, creds, push).await
    }

    /// [`open`](Self::open) at explicit base URLs (`https://mirror.local:5000`).
    pub async fn open_at(
        http: &HttpClient,
        bases: &[String],
        repo: &str,
        creds: Option<Credentials>,
        push: bool,
    ) -> Result<Session, DistError> {
        let actions = if push { "pull,push" } else { "pull" };
        let (base, resp) = crate::auth::first_answer(http, bases, "/v2/", &[]).await?;
        let url = format!("{base}/v2/");
        {
            let auth = match resp.status {
                s if s.is_success() => Auth::None,
                StatusCode::UNAUTHORIZED => {
                    match resp.www_authenticate.as_deref().and_then(parse_challenge) {
                        Some(Challenge::Basic) => match &creds {
                            Some(c) => Auth::Basic(c.basic()),
                            None => Auth::None,
                        },
                        Some(Challenge::Bearer { realm, service, .. }) => Auth::Bearer {
                            realm,
                            service,
                            token: None,
                        },
                        None => {
                            return Err(DistError::Protocol {
                                url,
                                why: format!(
                                    "unsupported authentication challenge {:?}",
                                    resp.www_authenticate.unwrap_or_default()
                                ),
                            });
                        }
                    }
                }
                status => {
                    return Err(DistError::Registry {
                        url,
                        status,
                        message: error_message(&resp.body, status),
                    });
                }
            };
            let session = Session {
                http: http.clone(),
                base,
                repo: repo.to_string(),
                creds,
                scopes: Mutex::new(vec![format!("repository:{repo}:{actions}")]),
                auth: Mutex::new(auth),
            };
            session.refresh_token(None).await?;
            Ok(session)
        }
    }

    /// Fetches a bearer token for the session's scopes (plus `extra`, a scope a challenge
    /// named); nothing to do for other schemes.
    async fn refresh_token(&self, extra: Option<String>) -> Result<(), DistError> {
        let (realm, service) = {
            let auth = self.auth.lock().unwrap_or_else(|p| p.into_inner());
            match &*auth {
                Auth::Bearer { realm, service, .. } => (realm.clone(), service.clone()),
                _ => return Ok(()),
            }
        };
        let scopes = {
            let mut scopes = self.scopes.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = extra
                && !scopes.contains(&e)
            {
                scopes.push(e);
            }
            scopes.clone()
        };
        let url = token_url(
            &realm,
            service.as_deref(),
            &scopes,
            self.creds.as_ref().map(|c| c.username.as_str()),
        );
        let mut headers = Vec::new();
        if let Some(c) = &self.creds {
            headers.push(("authorization", c.basic()));
        }
        let answer = self.http.request_status(&url, &headers).await?;
        if !answer.status.is_success() {
            let message = error_message(&answer.body, answer.status);
            return Err(if answer.status == StatusCode::UNAUTHORIZED {
                DistError::Unauthorized(message)
            } else {
                DistError::Registry {
                    url: realm,
                    status: answer.status,
                    message,
                }
            });
        }
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            #[serde(default)]
            token: String,
            #[serde(default)]
            access_token: String,
        }
        let t: TokenAnswer =
            serde_json::from_slice(&answer.body).map_err(|e| DistError::Protocol {
                url: realm.clone(),
                why: format!("the token answer is not JSON: {e}"),
            })?;
        let token = if t.token.is_empty() {
            t.access_token
        } else {
            t.token
        };
        if token.is_empty() {
            return Err(DistError::Protocol {
                url: realm,
                why: "the token answer holds no token".into(),
            });
        }
        let mut auth = self.auth.lock().unwrap_or_else(|p| p.into_inner());
        if let Auth::Bearer { token: slot, .. } = &mut *auth {
            *slot = Some(token);
        }
        Ok(())
    }

    /// The `Authorization` header for the next request, if any.
    fn authorization(&self) -> Option<String> {
        match &*self.auth.lock().unwrap_or_else(|p| p.into_inner()) {
            Auth::None => None,
            Auth::Basic(v) => Some(v.clone()),
            Auth::Bearer { token, .. } => token.as_ref().map(|t| format!("Bearer {t}")),
        }
    }

    /// `path` (`/v2/…`) or a `Location` the registry gave, as an absolute URL.
    fn url(&self, path: &str) -> String {
        if path.contains("://") {
            return path.to_string();
        }
        match self.base.parse::<Uri>() {
            Ok(base) => resolve(&base, path),
            Err(_) => format!("{}{path}", self.base),
        }
    }

    /// Sends a request with the session's authorisation; a `401` fetches a fresh token (for
    /// the scope the challenge names) and sends it once more.
    async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: &RequestBody,
    ) -> Result<(Response<Incoming>, String), DistError> {
        let url = self.url(path);
        // Credentials go only where the session was opened (a Location or Link naming
        // another host, or plain http, gets none).
        let ours = same_origin(&url, &self.base);
        for attempt in 0..2 {
            let mut all: Vec<(&str, String)> = headers.to_vec();
            if ours && let Some(a) = self.authorization() {
                all.push(("authorization", a));
            }
            let resp = self.http.send(method.clone(), &url, &all, body).await?;
            if resp.status() != StatusCode::UNAUTHORIZED {
                return Ok((resp, url));
            }
            let challenge = resp
                .headers()
                .get(hyper::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_challenge);
            let is_bearer = matches!(
                &*self.auth.lock().unwrap_or_else(|p| p.into_inner()),
                Auth::Bearer { .. }
            );
            match challenge {
                Some(Challenge::Bearer { scope, .. }) if attempt == 0 && is_bearer => {
                    self.refresh_token(scope).await?;
                }
                _ => {
                    let status = resp.status();
                    let body = read_limited(resp, &url, 1 << 16).await.unwrap_or_default();
                    return Err(DistError::Unauthorized(error_message(&body, status)));
                }
            }
        }
        Err(DistError::Unauthorized(
            "unauthorized: authentication required".into(),
        ))
    }

    /// Widens the session's scope (a cross-repository mount needs `pull` on the source).
    pub fn add_scope(&self, scope: String) {
        let mut scopes = self.scopes.lock().unwrap_or_else(|p| p.into_inner());
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }

    /// Fetches the manifest `reference` (a tag or a digest) names, checked against the digest
    /// when it is one.
    pub async fn manifest(&self, reference: &str) -> Result<Fetched, DistError> {
        let path = format!("/v2/{}/manifests/{reference}", self.repo);
        let accept = MANIFEST_ACCEPT.join(", ");
        let (resp, url) = self
            .request(
                Method::GET,
                &path,
                &[("accept", accept)],
                &RequestBody::Empty,
            )
            .await?;
        let status = resp.status();
        let media_type = header(&resp, hyper::header::CONTENT_TYPE)
            .map(|t| t.split(';').next().unwrap_or("").trim().to_string())
            .unwrap_or_default();
        if header(&resp, hyper::header::CONTENT_LENGTH)
            .and_then(|l| l.parse::<u64>().ok())
            .is_some_and(|l| l > MANIFEST_LIMIT)
        {
            return Err(DistError::TooLarge {
                what: format!("{}:{reference}", self.repo),
            });
        }
        let bytes = match read_limited(resp, &url, MANIFEST_LIMIT).await {
            Ok(b) => b,
            Err(DistError::TooLarge { .. }) => {
                return Err(DistError::TooLarge {
                    what: format!("{}:{reference}", self.repo),
                });
            }
            Err(e) => return Err(e),
        };
        if !status.is_success() {
            return Err(status_error(status, &bytes, url));
        }
        let digest = Digest::of(&bytes);
        if let Ok(expected) = reference.parse::<Digest>()
            && expected != digest
        {
            return Err(DistError::DigestMismatch {
                what: format!("manifest {expected}"),
                actual: digest,
            });
        }
        Ok(Fetched {
            bytes,
            media_type,
            digest,
        })
    }

    /// Starts fetching blob `digest` from byte `offset` (a resumed download asks for the
    /// rest with `Range`). Redirects (to a CDN) are followed without the credentials.
    pub async fn blob(&self, digest: &Digest, offset: u64) -> Result<BlobBody, DistError> {
        let path = format!("/v2/{}/blobs/{digest}", self.repo);
        let mut headers = Vec::new();
        if offset > 0 {
            headers.push(("range", format!("bytes={offset}-")));
        }
        let (mut resp, mut url) = self
            .request(Method::GET, &path, &headers, &RequestBody::Empty)
            .await?;
        let mut hops = 0;
        while resp.status().is_redirection() {
            hops += 1;
            let Some(location) = header(&resp, hyper::header::LOCATION) else {
                return Err(DistError::Protocol {
                    url,
                    why: "a redirect without a Location".into(),
                });
            };
            let next = match url.parse::<Uri>() {
                Ok(u) => resolve(&u, &location),
                Err(_) => location,
            };
            if hops > crate::http::MAX_REDIRECTS
                || (url.starts_with("https://") && !next.starts_with("https://"))
            {
                return Err(DistError::Protocol {
                    url,
                    why: format!("refusing the redirect to {next}"),
                });
            }
            url = next;
            resp = self
                .http
                .send(Method::GET, &url, &headers, &RequestBody::Empty)
                .await?;
        }
        let status = resp.status();
        if !status.is_success() {
            let body = read_limited(resp, &url, 1 << 16).await.unwrap_or_default();
            return Err(status_error(status, &body, url));
        }
        let length = header(&resp, hyper::header::CONTENT_LENGTH).and_then(|l| l.parse().ok());
        let (start, total) = if status == StatusCode::PARTIAL_CONTENT {
            // `Content-Range: bytes START-END/TOTAL`
            let range = header(&resp, hyper::header::CONTENT_RANGE).unwrap_or_default();
            let parsed = range
                .strip_prefix("bytes ")
                .and_then(|r| r.split_once('-'))
                .and_then(|(s, rest)| {
                    let total = rest.split_once('/').and_then(|(_, t)| t.parse().ok());
                    s.parse::<u64>().ok().map(|s| (s, total))
                });
            match parsed {
                Some((s, total)) if s == offset => (s, total),
                _ => {
                    return Err(DistError::Protocol {
                        url,
                        why: format!("asked for bytes from {offset}, got range {range:?}"),
                    });
                }
            }
        } else {
            (0, length)
        };
        Ok(BlobBody {
            body: resp.into_body(),
            url,
            start,
            total,
        })
    }

    /// The size of blob `digest` in this repository, or `None` when it has no such blob.
    pub async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, DistError> {
        let path = format!("/v2/{}/blobs/{digest}", self.repo);
        let (resp, url) = self
            .request(Method::HEAD, &path, &[], &RequestBody::Empty)
            .await?;
        match resp.status() {
            s if s.is_success() => {
                Ok(header(&resp, hyper::header::CONTENT_LENGTH).and_then(|l| l.parse().ok()))
            }
            StatusCode::NOT_FOUND => Ok(None),
            status => Err(status_error(status, &[], url)),
        }
    }

    /// Asks the registry to link blob `digest` from repository `from` (no upload needed when
    /// it can); otherwise it has started an upload, which [`upload`](Self::upload) uses.
    pub async fn mount(&self, digest: &Digest, from: &str) -> Result<Mount, DistError> {
        self.add_scope(format!("repository:{from}:pull"));
        let path = format!(
            "/v2/{}/blobs/uploads/?mount={digest}&from={}",
            self.repo,
            query_escape(from)
        );
        let (resp, url) = self
            .request(Method::POST, &path, &[], &RequestBody::Empty)
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(Mount::Mounted),
            StatusCode::ACCEPTED => Ok(Mount::Upload(location_of(&resp, &url)?)),
            status => {
                let body = read_limited(resp, &url, 1 << 16).await.unwrap_or_default();
                Err(status_error(status, &body, url))
            }
        }
    }

    /// Uploads blob `digest` with `body`: in one `PUT` (monolithic), at the upload `started`
    /// (by a mount that fell through) or a fresh one.
    pub async fn upload(
        &self,
        digest: &Digest,
        body: &RequestBody,
        started: Option<String>,
    ) -> Result<(), DistError> {
        let location = match started {
            Some(l) => l,
            None => self.start_upload().await?,
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={digest}");
        let (resp, url) = self
            .request(
                Method::PUT,
                &put,
                &[("content-type", "application/octet-stream".into())],
                body,
            )
            .await?;
        match resp.status() {
            StatusCode::CREATED | StatusCode::NO_CONTENT | StatusCode::OK => Ok(()),
            status => {
                let body = read_limited(resp, &url, 1 << 16).await.unwrap_or_default();
                Err(status_error(status, &body, url))
            }
        }
    }

    /// Uploads blob `digest` of `len` bytes from `path` in chunks of `chunk` bytes (`PATCH`
    /// each with its `Content-Range`, then a closing `PUT`), for registries or proxies that
    /// limit the size of one request.
    pub async fn upload_chunked(
        &self,
        digest: &Digest,
        path: &std::path::Path,
        len: u64,
        chunk: u64,
    ) -> Result<(), DistError> {
        let mut location = self.start_upload().await?;
        let mut offset = 0;
        while offset < len {
            let n = chunk.min(len - offset);
            let body = RequestBody::File {
                path: path.to_path_buf(),
                offset,
                len: n,
            };
            let headers = [
                ("content-type", "application/octet-stream".to_string()),
                ("content-range", format!("{offset}-{}", offset + n - 1)),
            ];
            let (resp, url) = self
                .request(Method::PATCH, &location, &headers, &body)
                .await?;
            if resp.status() != StatusCode::ACCEPTED {
                let status = resp.status();
                let body = read_limited(resp, &url, 1 << 16).await.unwrap_or_default();
                return Err(status_error(status, &body, url));
            }
            location = location_of(&resp, &url)?;
            offset += n;
        }
        self.upload(digest, &RequestBody::Empty, Some(location))
            .await
    }

    /// `POST /v2/<name>/blobs/uploads/`: the URL of a new upload.
    async fn start_upload(&self) -> Result<String, DistError> {
        let path = format!("/v2/{}/blobs/uploads/", self.repo);
        let (resp, url) = self
            .request(Method::POST, &path, &[], &RequestBody::Empty)
            .await?;
        if resp.status() != StatusCode::ACCEPTED {
            let status = resp.status();
            let body = read_limited(resp, &url, 1 << 16).await.unwrap_or_default();
            return Err(status_error(status, &body, url));
        }
        location_of(&resp, &url)
    }

    /// Stores a manifest under `reference` (a tag or its digest); returns its digest.
    pub async fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<Digest, DistError> {
        let digest = Digest::of(&bytes);
        let bytes = Bytes::from(bytes);
        let path = format!("/v2/{}/manifests/{reference}", self.repo);
        let (resp, url) = self
            .request(
                Method::PUT,
                &path,
                &[("content-type", media_type.to_string())],
                &RequestBody::Bytes(bytes),
            )
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(digest),
            status => {
                let body = read_limited(resp, &url, 1 << 16).await.unwrap_or_default();
                Err(status_error(status, &body, url))
            }
        }
    }

    /// Every tag of the repository, following the `Link` pagination.
    pub async fn tags(&self) -> Result<Vec<String>, DistError> {
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut out = Vec::new();
        let mut next = Some(format!("/v2/{}/tags/list", self.repo));
        let mut pages = 0;
        while let Some(path) = next.take() {
            pages += 1;
            let (resp, url) = self
                .request(Method::GET, &path, &[], &RequestBody::Empty)
                .await?;
            let status = resp.status();
            let link = header(&resp, hyper::header::LINK);
            let body = read_limited(resp, &url, MANIFEST_LIMIT).await?;
            if !status.is_success() {
                return Err(status_error(status, &body, url));
            }
            let list: TagList = serde_json::from_slice(&body).map_err(|e| DistError::Protocol {
                url: url.clone(),
                why: format!("the tag list is not JSON: {e}"),
            })?;
            out.extend(list.tags.unwrap_or_default());
            // `Link: </v2/x/tags/list?last=b&n=100>; rel="next"`
            next = link
                .and_then(|l| {
                    l.split_once('<')
                        .and_then(|(_, r)| r.split_once('>'))
                        .map(|(u, _)| u.to_string())
                })
                .filter(|_| pages < 10_000);
        }
        Ok(out)
    }
}

/// True when `url` has the scheme, host and port of `base`.
fn same_origin(url: &str, base: &str) -> bool {
    match (url.parse::<Uri>(), base.parse::<Uri>()) {
        (Ok(u), Ok(b)) => {
            u.scheme_str() == b.scheme_str() && u.host() == b.host() && u.port_u16() == b.port_u16()
        }
        _ => false,
    }
}

/// A response header as text.
fn header(resp: &Response<Incoming>, name: hyper::header::HeaderName) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The `Location` header made absolute against `url`.
fn location_of(resp: &Response<Incoming>, url: &str) -> Result<String, DistError> {
    let l = header(resp, hyper::header::LOCATION).ok_or_else(|| DistError::Protocol {
        url: url.to_string(),
        why: "the registry started an upload without a Location".into(),
    })?;
    Ok(match url.parse::<Uri>() {
        Ok(u) => resolve(&u, &l),
        Err(_) => l,
    })
}

/// Reads a whole body of at most `limit` bytes.
async fn read_limited(
    resp: Response<Incoming>,
    url: &str,
    limit: u64,
) -> Result<Vec<u8>, DistError> {
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(data) = next_data(&mut body, url).await? {
        if (out.len() + data.len()) as u64 > limit {
            return Err(DistError::TooLarge {
                what: url.to_string(),
            });
        }
        out.extend_from_slice(&data);
    }
    Ok(out)
}

/// The error for a failed answer: 401 and 403 as Docker's `unauthorized`/`denied`, 404 as
/// not found, the rest with the registry's own words.
fn status_error(status: StatusCode, body: &[u8], url: String) -> DistError {
    let message = error_message(body, status);
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => DistError::Unauthorized(message),
        StatusCode::NOT_FOUND => DistError::NotFound(message),
        _ => DistError::Registry {
            url,
            status,
            message,
        },
    }
}

/// The errors of a registry's JSON answer as Docker prints them (`manifest unknown: manifest
/// unknown`), or the status when the body says nothing.
pub fn error_message(body: &[u8], status: StatusCode) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Vec<ErrorItem>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorItem {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let parsed = serde_json::from_slice::<Errors>(body)
        .map(|e| e.errors)
        .unwrap_or_default();
    if parsed.is_empty() {
        return match status {
            StatusCode::UNAUTHORIZED => "unauthorized: authentication required".into(),
            StatusCode::FORBIDDEN => "denied: requested access to the resource is denied".into(),
            s => format!("the registry answered {s}"),
        };
    }
    parsed
        .iter()
        .map(|e| {
            let code = e.code.to_lowercase().replace('_', " ");
            if e.message.is_empty() {
                code
            } else {
                format!("{code}: {}", e.message)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_stay_with_the_registry_they_were_opened_for() {
        assert!(same_origin("https://r:5000/v2/x", "https://r:5000"));
        assert!(!same_origin("http://r:5000/v2/x", "https://r:5000"));
        assert!(!same_origin("https://cdn/v2/x", "https://r:5000"));
        assert!(!same_origin("https://r:5001/v2/x", "https://r:5000"));
    }

    #[test]
    fn registry_errors_read_as_docker_prints_them() {
        let body =
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(
            error_message(body, StatusCode::NOT_FOUND),
            "manifest unknown: manifest unknown"
        );
        assert_eq!(
            error_message(b"", StatusCode::UNAUTHORIZED),
            "unauthorized: authentication required"
        );
        assert_eq!(
            error_message(b"<html>", StatusCode::BAD_GATEWAY),
            "the registry answered 502 Bad Gateway"
        );
    }
}
