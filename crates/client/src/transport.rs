//! The connection layer: one HTTP/1.1 exchange per unix-socket connection.
//!
//! A fresh connection per request keeps the client free of pooling state and costs microseconds
//! on a local socket; it also lets a response body (a `save` archive, a progress stream) own its
//! connection for as long as the caller reads it.

use crate::body::Body;
use crate::error::{ClientError, Result};
use berth_api_types::{API_VERSION, ErrorResponse};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, header};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// A handle on one daemon. Cheap to clone; holds no connection.
#[derive(Debug, Clone)]
pub struct Client {
    host: String,
    socket: PathBuf,
}

impl Client {
    /// Makes a client for `unix:///path/to.sock` (or a bare absolute path). Nothing is
    /// connected until the first request, so this only fails on a malformed host.
    pub fn new(host: &str) -> Result<Client> {
        let path = match host.strip_prefix("unix://") {
            Some(p) => p,
            None if host.starts_with('/') => host,
            None => return Err(ClientError::InvalidHost(host.to_string())),
        };
        if path.is_empty() {
            return Err(ClientError::InvalidHost(host.to_string()));
        }
        Ok(Client {
            host: host.to_string(),
            socket: PathBuf::from(path),
        })
    }

    /// The host string this client was made with, for messages.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The socket path.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// Sends one request to `/v1.50{path_and_query}` and returns the response whatever its
    /// status: the building block for endpoints without a typed wrapper yet, and for those that
    /// need the raw body.
    pub async fn request(
        &self,
        method: Method,
        path_and_query: &str,
        body: Body,
    ) -> Result<Response<Incoming>> {
        self.request_with_headers(method, path_and_query, body, &[])
            .await
    }

    /// [`Client::request`] with extra request headers (the `Upgrade` pair of attach and exec).
    pub async fn request_with_headers(
        &self,
        method: Method,
        path_and_query: &str,
        body: Body,
        headers: &[(header::HeaderName, &str)],
    ) -> Result<Response<Incoming>> {
        let uri = format!("/v{API_VERSION}{path_and_query}");
        let mut builder = Request::builder()
            .method(method)
            .uri(&uri)
            .header(header::HOST, "localhost")
            .header(
                header::USER_AGENT,
                concat!("Berth-Client/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(ct) = body.content_type {
            builder = builder.header(header::CONTENT_TYPE, ct);
        }
        for (name, value) in headers {
            builder = builder.header(name, *value);
        }
        let req = builder
            .body(body.inner)
            .map_err(|e| ClientError::InvalidRequest(format!("{uri}: {e}")))?;

        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|source| ClientError::Connect {
                host: self.host.clone(),
                source,
            })?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        // The connection is driven by its own task so the caller can stream the response body
        // at its own pace; upgrades are kept for attach and exec (see `hijack`).
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        Ok(sender.send_request(req).await?)
    }

    /// Like [`Client::request`] but turns an error status into [`ClientError::Api`].
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Body,
    ) -> Result<Response<Incoming>> {
        let resp = self.request(method, path_and_query, body).await?;
        Client::check(resp, path_and_query).await
    }

    /// Turns an error status into [`ClientError::Api`] (reading the error body), passing any
    /// other response through.
    pub(crate) async fn check(
        resp: Response<Incoming>,
        path_and_query: &str,
    ) -> Result<Response<Incoming>> {
        if resp.status().is_client_error() || resp.status().is_server_error() {
            let status = resp.status();
            let bytes = resp.into_body().collect().await?.to_bytes();
            return Err(api_error(status.as_u16(), &bytes, path_and_query));
        }
        Ok(resp)
    }

    /// Sends a request and decodes a JSON answer.
    pub async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path_and_query: &str,
        body: Body,
    ) -> Result<T> {
        let resp = self.send(method, path_and_query, body).await?;
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// GET and decode JSON.
    pub async fn get_json<T: DeserializeOwned>(&self, path_and_query: &str) -> Result<T> {
        self.send_json(Method::GET, path_and_query, Body::empty())
            .await
    }

    /// Sends a request and drops the (irrelevant) answer body.
    pub async fn send_unit(&self, method: Method, path_and_query: &str, body: Body) -> Result<()> {
        let resp = self.send(method, path_and_query, body).await?;
        resp.into_body().collect().await?;
        Ok(())
    }
}

/// Builds [`ClientError::Api`] from an error answer. Docker sends `{"message":...}`; anything
/// else (a proxy's text, an empty body) is still reported rather than lost.
pub(crate) fn api_error(status: u16, body: &Bytes, path: &str) -> ClientError {
    let message = match serde_json::from_slice::<ErrorResponse>(body) {
        Ok(e) => e.message,
        Err(_) => {
            let text = String::from_utf8_lossy(body).trim().to_string();
            if text.is_empty() {
                format!(
                    "request returned status {status} for API route and version /v{API_VERSION}{path}"
                )
            } else {
                text
            }
        }
    };
    ClientError::Api { status, message }
}

/// Builds a `?a=b&c=d` query string (empty when there are no pairs).
pub fn query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (k, v) in pairs {
        ser.append_pair(k, v);
        any = true;
    }
    if any {
        format!("?{}", ser.finish())
    } else {
        String::new()
    }
}

/// Escapes an object name for use in a path. Image references keep their `/`, `:` and `@`
/// (Docker's routes expect them raw); anything else outside the unreserved set is
/// percent-encoded so a typo cannot produce an unparseable URI.
pub fn path_escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@+".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse() {
        assert_eq!(
            Client::new("unix:///run/b.sock").unwrap().socket_path(),
            Path::new("/run/b.sock")
        );
        assert_eq!(
            Client::new("/tmp/x.sock").unwrap().socket_path(),
            Path::new("/tmp/x.sock")
        );
        assert!(matches!(
            Client::new("tcp://1.2.3.4:2375"),
            Err(ClientError::InvalidHost(_))
        ));
        assert!(Client::new("unix://").is_err());
    }

    #[test]
    fn queries_and_paths_are_escaped() {
        assert_eq!(
            query([("a", "1"), ("filters", "{\"x\":1}")]),
            "?a=1&filters=%7B%22x%22%3A1%7D"
        );
        assert_eq!(query(std::iter::empty()), "");
        assert_eq!(path_escape("ghcr.io/a/b:1"), "ghcr.io/a/b:1");
        assert_eq!(path_escape("a b"), "a%20b");
    }

    #[test]
    fn error_bodies_become_api_errors() {
        let e = api_error(
            404,
            &Bytes::from_static(br#"{"message":"No such image: x"}"#),
            "/x",
        );
        assert_eq!(
            e.to_string(),
            "Error response from daemon: No such image: x"
        );
        assert!(e.is_not_found());
        let e = api_error(500, &Bytes::from_static(b"oops\n"), "/x");
        assert_eq!(e.to_string(), "Error response from daemon: oops");
    }
}
