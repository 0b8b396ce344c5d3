//! HTTP/1.1 GETs over TCP or TLS, for downloads the daemon makes on a user's behalf.
//!
//! Why not a general client crate: what is needed is small and must be strict — the system's
//! roots only (plus what `SSL_CERT_FILE` adds), at most [`MAX_REDIRECTS`] redirects and none
//! from https to http, a deadline on connecting and on every read so no download can hang a
//! build, a size limit, and the body hashed on its way to disk so the caller never reads it
//! twice.

use berth_common::{Digest, Sha256Writer};
use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
pub use hyper::Method;
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::net::TcpStream;

/// Redirects followed before giving up (as Go's client, which Docker uses).
pub const MAX_REDIRECTS: usize = 10;
/// How long connecting (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server may stay silent (for the headers, or between parts of the body).
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// What can go wrong fetching a URL.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Not an http(s) URL with a host.
    #[error("invalid URL {0:?}: expected http:// or https:// and a host")]
    InvalidUrl(String),
    /// The server could not be reached.
    #[error("connecting to {url}: {source}")]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server did not answer in time.
    #[error("{url}: no answer within {0:?}", READ_TIMEOUT)]
    Timeout {
        /// The URL.
        url: String,
    },
    /// HTTP went wrong (a malformed answer, a connection dropped mid-body, a TLS alert).
    #[error("{url}: {}", with_causes(source))]
    Protocol {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: hyper::Error,
    },
    /// The server answered with an error status.
    #[error("{url}: the server answered {status}")]
    Status {
        /// The URL.
        url: String,
        /// Its status.
        status: StatusCode,
    },
    /// Too many redirects, or one from https to plain http.
    #[error("{url}: {why}")]
    Redirect {
        /// The URL redirected.
        url: String,
        /// What was wrong with it.
        why: String,
    },
    /// The body is longer than allowed.
    #[error("{url}: the download is larger than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// A registry's own trust (`certs.d`) could not be read.
    #[error("reading the TLS files in {dir}: {why}")]
    Tls {
        /// The registry's directory.
        dir: PathBuf,
        /// What was wrong.
        why: String,
    },
    /// Writing what arrived failed.
    #[error("writing the download of {url}: {source}")]
    Write {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// An error with the causes hyper keeps behind it (`connection error: received fatal alert:
/// CertificateRequired`), which its own message leaves out.
fn with_causes(e: &hyper::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// A finished download.
#[derive(Debug, Clone)]
pub struct Download {
    /// Bytes written.
    pub size: u64,
    /// Their sha256.
    pub digest: Digest,
    /// The server's `Last-Modified`, if it sent a valid one.
    pub last_modified: Option<SystemTime>,
    /// The URL the body came from (after redirects).
    pub url: String,
    /// The file name the server suggested (`Content-Disposition: attachment; filename=…`).
    pub suggested_name: Option<String>,
}

/// A response as a registry client reads it: the status, the challenge, a small body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// `WWW-Authenticate`, if sent.
    pub www_authenticate: Option<String>,
    /// The body (at most [`ANSWER_LIMIT`] bytes are read).
    pub body: Vec<u8>,
}

/// Bytes of an [`Answer`]'s body read: registries' JSON answers are small.
pub const ANSWER_LIMIT: u64 = 1 << 20;

/// A client with its TLS configuration (built once: loading the roots reads the disk).
#[derive(Clone)]
pub struct HttpClient {
    tls: Arc<rustls::ClientConfig>,
    roots: Arc<rustls::RootCertStore>,
    /// Directories of per-registry trust (`<dir>/<host[:port]>/`), first match wins.
    certs_dirs: Arc<Vec<PathBuf>>,
}

impl HttpClient {
    /// A client trusting the system's roots (and `SSL_CERT_FILE`/`SSL_CERT_DIR`).
    pub fn new() -> HttpClient {
        let mut roots = rustls::RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::debug!(error = %e, "reading the system's trust roots");
        }
        let (added, ignored) = roots.add_parsable_certificates(found.certs);
        tracing::debug!(added, ignored, "trust roots loaded");
        let tls = tls_config(roots.clone(), None).unwrap_or_else(|_| {
            // The ring provider supports the default versions; this cannot fail.
            rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        });
        HttpClient {
            tls: Arc::new(tls),
            roots: Arc::new(roots),
            certs_dirs: Arc::new(Vec::new()),
        }
    }

    /// The same client, also reading per-registry trust from `dirs` as Docker reads
    /// `/etc/docker/certs.d`: in `<dir>/<host[:port]>/`, every `*.crt` is a CA to trust beside
    /// the system's, and a `*.cert` with its `*.key` is the client certificate to present.
    pub fn with_certs_dirs(mut self, dirs: Vec<PathBuf>) -> HttpClient {
        self.certs_dirs = Arc::new(dirs);
        self
    }

    /// The TLS configuration for `host:port`: the system's, or one with that registry's own
    /// CAs and client certificate.
    fn tls_for(&self, host: &str, port: u16) -> Result<Arc<rustls::ClientConfig>, HttpError> {
        let name = if port == 443 {
            host.to_string()
        } else {
            format!("{host}:{port}")
        };
        let Some(dir) = self
            .certs_dirs
            .iter()
            .map(|d| d.join(&name))
            .find(|d| d.is_dir())
        else {
            return Ok(self.tls.clone());
        };
        let tls_err = |why: String| HttpError::Tls {
            dir: dir.clone(),
            why,
        };
        let mut roots = (*self.roots).clone();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| tls_err(e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        let mut client = None;
        for f in &files {
            let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("");
            let what = f.display().to_string();
            match ext {
                "crt" => {
                    for cert in CertificateDer::pem_file_iter(f)
                        .map_err(|e| tls_err(format!("{what}: {e}")))?
                    {
                        let cert = cert.map_err(|e| tls_err(format!("{what}: {e}")))?;
                        roots
                            .add(cert)
                            .map_err(|e| tls_err(format!("{what}: {e}")))?;
                    }
                }
                "cert" => {
                    let key_path = f.with_extension("key");
                    let certs = CertificateDer::pem_file_iter(f)
                        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                        .map_err(|e| tls_err(format!("{what}: {e}")))?;
                    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| {
                        tls_err(format!("{what} needs its key {}: {e}", key_path.display()))
                    })?;
                    client = Some((certs, key));
                }
                _ => {}
            }
        }
        tls_config(roots, client)
            .map(Arc::new)
            .map_err(|e| tls_err(e.to_string()))
    }

    /// GETs `url`, following redirects; the response of the last hop, a success.
    pub async fn get(&self, url: &str) -> Result<(Response<Incoming>, String), HttpError> {
        let mut current = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let uri: Uri = current
                .parse()
                .map_err(|_| HttpError::InvalidUrl(current.clone()))?;
            let resp = self.get_once(&uri, &current).await?;
            let status = resp.status();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let location = resp
                    .headers()
                    .get(hyper::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| HttpError::Redirect {
                        url: current.clone(),
                        why: format!("{status} without a Location"),
                    })?;
                let next = resolve(&uri, location);
                if uri.scheme_str() == Some("https") && !next.starts_with("https://") {
                    return Err(HttpError::Redirect {
                        url: current,
                        why: format!("refusing a redirect from https to {next}"),
                    });
                }
                current = next;
                continue;
            }
            if !status.is_success() {
                return Err(HttpError::Status {
                    url: current,
                    status,
                });
            }
            return Ok((resp, current));
        }
        Err(HttpError::Redirect {
            url: url.to_string(),
            why: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    /// GETs `url` once with `headers` (no redirect followed) and reads whatever it answers.
    pub async fn request_status(
        &self,
        url: &str,
        headers: &[(&str, String)],
    ) -> Result<Answer, HttpError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| HttpError::InvalidUrl(url.to_string()))?;
        let resp = self.get_once_with(&uri, url, headers).await?;
        let status = resp.status();
        let www_authenticate = resp
            .headers()
            .get(hyper::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = Vec::new();
        let mut incoming = resp.into_body();
        while let Some(data) = next_data(&mut incoming, url).await? {
            if (body.len() as u64) < ANSWER_LIMIT {
                body.extend_from_slice(&data);
            }
        }
        Ok(Answer {
            status,
            www_authenticate,
            body,
        })
    }

    /// Downloads `url` into `out` (at most `limit` bytes), hashing it on the way.
    pub async fn download(
        &self,
        url: &str,
        out: &mut dyn Write,
        limit: u64,
    ) -> Result<Download, HttpError> {
        let (resp, final_url) = self.get(url).await?;
        let last_modified = resp
            .headers()
            .get(hyper::header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok());
        let suggested_name = resp
            .headers()
            .get(hyper::header::CONTENT_DISPOSITION)
            .and_then(|v| v.to_str().ok())
            .and_then(disposition_filename);
        let mut body = resp.into_body();
        let mut sink = Sha256Writer::new(out);
        let mut size = 0u64;
        while let Some(data) = next_data(&mut body, &final_url).await? {
            size += data.len() as u64;
            if size > limit {
                return Err(HttpError::TooLarge {
                    url: final_url,
                    limit,
                });
            }
            sink.write_all(&data).map_err(|e| HttpError::Write {
                url: final_url.clone(),
                source: e,
            })?;
        }
        let (out, digest, _) = sink.finish();
        out.flush().map_err(|e| HttpError::Write {
            url: final_url.clone(),
            source: e,
        })?;
        Ok(Download {
            size,
            digest,
            last_modified,
            url: final_url,
            suggested_name,
        })
    }

    /// [`download`](Self::download) from blocking code (a build step): on the runtime the
    /// caller runs under, or on a small one of its own when there is none.
    pub fn download_blocking(
        &self,
        url: &str,
        out: &mut dyn Write,
        limit: u64,
    ) -> Result<Download, HttpError> {
        let fut = self.download(url, out, limit);
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle.block_on(fut),
            Err(_) => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| HttpError::Connect {
                    url: url.to_string(),
                    source: e,
                })?
                .block_on(fut),
        }
    }

    /// One request, no redirects followed.
    async fn get_once(&self, uri: &Uri, url: &str) -> Result<Response<Incoming>, HttpError> {
        self.get_once_with(uri, url, &[]).await
    }

    /// One GET with extra `headers`, no redirects followed.
    async fn get_once_with(
        &self,
        uri: &Uri,
        url: &str,
        headers: &[(&str, String)],
    ) -> Result<Response<Incoming>, HttpError> {
        self.send_parsed(Method::GET, uri, url, headers, &RequestBody::Empty)
            .await
    }

    /// One request of any method with `headers` and `body`, no redirect followed: the
    /// registry protocol's verbs (HEAD, POST, PATCH, PUT, DELETE) answer with statuses and
    /// `Location`s the caller interprets.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: &RequestBody,
    ) -> Result<Response<Incoming>, HttpError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| HttpError::InvalidUrl(url.to_string()))?;
        self.send_parsed(method, &uri, url, headers, body).await
    }

    /// [`send`](Self::send) with the URL already parsed.
    async fn send_parsed(
        &self,
        method: Method,
        uri: &Uri,
        url: &str,
        headers: &[(&str, String)],
        body: &RequestBody,
    ) -> Result<Response<Incoming>, HttpError> {
        let invalid = || HttpError::InvalidUrl(url.to_string());
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(invalid()),
        };
        let host = uri.host().filter(|h| !h.is_empty()).ok_or_else(invalid)?;
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        // `[::1]` in a URL is `::1` to connect to and to check a certificate against.
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let connect_err = |source| HttpError::Connect {
            url: url.to_string(),
            source,
        };
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((bare.as_str(), port)))
            .await
            .map_err(|_| HttpError::Timeout {
                url: url.to_string(),
            })?
            .map_err(connect_err)?;
        let _ = tcp.set_nodelay(true);
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or(host);
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, authority)
            .header(
                hyper::header::USER_AGENT,
                concat!("berth/", env!("CARGO_PKG_VERSION")),
            );
        for (name, value) in headers {
            req = req.header(*name, value.as_str());
        }
        let (body, len) = body.open(url).await?;
        if let Some(len) = len {
            req = req.header(hyper::header::CONTENT_LENGTH, len);
        }
        let req = req.body(body).map_err(|_| invalid())?;
        if tls {
            let tls_config = self.tls_for(&bare, port)?;
            let name =
                rustls::pki_types::ServerName::try_from(bare.clone()).map_err(|_| invalid())?;
            let connector = tokio_rustls::TlsConnector::from(tls_config);
            let stream = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
                .await
                .map_err(|_| HttpError::Timeout {
                    url: url.to_string(),
                })?
                .map_err(|e| connect_err(plain_http_answer(e)))?;
            send(TokioIo::new(stream), req, url).await
        } else {
            send(TokioIo::new(tcp), req, url).await
        }
    }
}

/// A TLS handshake answered with plain HTTP, said in Go's (and so Docker's) words, which
/// users search for; any other failure as it is.
fn plain_http_answer(e: std::io::Error) -> std::io::Error {
    let plain = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|tls| {
            matches!(
                tls,
                rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)
            )
        });
    if plain {
        std::io::Error::other("http: server gave HTTP response to HTTPS client")
    } else {
        e
    }
}

/// What a request carries. A description rather than a stream, so that a request refused
/// for want of a (fresh) token can be sent again.
#[derive(Debug, Clone)]
pub enum RequestBody {
    /// Nothing.
    Empty,
    /// Bytes in memory (a manifest).
    Bytes(Bytes),
    /// `len` bytes of a file from `offset` (a blob being pushed), streamed from disk.
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Where to start.
        offset: u64,
        /// How many bytes.
        len: u64,
    },
}

/// The body type requests are sent with.
type OutBody = BoxBody<Bytes, std::io::Error>;

impl RequestBody {
    /// The body to send and its length (`None`: nothing to send, no `Content-Length`).
    async fn open(&self, url: &str) -> Result<(OutBody, Option<u64>), HttpError> {
        Ok(match self {
            RequestBody::Empty => (Empty::new().map_err(|n| match n {}).boxed(), None),
            RequestBody::Bytes(b) => (
                Full::new(b.clone()).map_err(|n| match n {}).boxed(),
                Some(b.len() as u64),
            ),
            RequestBody::File { path, offset, len } => {
                use tokio::io::{AsyncReadExt, AsyncSeekExt};
                let write_err = |source| HttpError::Write {
                    url: url.to_string(),
                    source,
                };
                let mut file = tokio::fs::File::open(path).await.map_err(write_err)?;
                file.seek(std::io::SeekFrom::Start(*offset))
                    .await
                    .map_err(write_err)?;
                let stream = tokio_util::io::ReaderStream::with_capacity(file.take(*len), 1 << 20)
                    .map_ok(Frame::data);
                (StreamBody::new(stream).boxed(), Some(*len))
            }
        })
    }
}

/// A client configuration trusting `roots`, presenting `client` when given.
fn tls_config(
    roots: rustls::RootCertStore,
    client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    match client {
        Some((certs, key)) => builder.with_client_auth_cert(certs, key),
        None => Ok(builder.with_no_client_auth()),
    }
}

impl Default for HttpClient {
    fn default() -> Self {
        HttpClient::new()
    }
}

/// The next piece of a body (trailers skipped); `None` at its end. The server may stay silent
/// for at most [`READ_TIMEOUT`].
pub(crate) async fn next_data(body: &mut Incoming, url: &str) -> Result<Option<Bytes>, HttpError> {
    loop {
        match tokio::time::timeout(READ_TIMEOUT, body.frame()).await {
            Err(_) => {
                return Err(HttpError::Timeout {
                    url: url.to_string(),
                });
            }
            Ok(None) => return Ok(None),
            Ok(Some(Err(e))) => {
                return Err(HttpError::Protocol {
                    url: url.to_string(),
                    source: e,
                });
            }
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}

/// Sends `req` on a fresh connection over `io`.
async fn send<T>(io: T, req: Request<OutBody>, url: &str) -> Result<Response<Incoming>, HttpError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let protocol = |source| HttpError::Protocol {
        url: url.to_string(),
        source,
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(protocol)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "an HTTP download's connection ended");
        }
    });
    tokio::time::timeout(READ_TIMEOUT, sender.send_request(req))
        .await
        .map_err(|_| HttpError::Timeout {
            url: url.to_string(),
        })?
        .map_err(protocol)
}

/// `location` made absolute against the URL it came from.
pub(crate) fn resolve(base: &Uri, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map_or("", |a| a.as_str());
    if location.starts_with("//") {
        return format!("{scheme}:{location}");
    }
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    let dir = base.path().rsplit_once('/').map_or("", |(d, _)| d);
    format!("{scheme}://{authority}{dir}/{location}")
}

/// The `filename` of a `Content-Disposition` header, if it is a plain name.
fn disposition_filename(value: &str) -> Option<String> {
    value.split(';').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("filename") {
            return None;
        }
        let name = v.trim().trim_matches('"');
        (!name.is_empty() && !name.contains('/') && name != "." && name != "..")
            .then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};

    #[test]
    fn redirects_resolve_against_their_origin() {
        let base: Uri = "http://h:8080/a/b/c.txt?x=1".parse().unwrap();
        assert_eq!(resolve(&base, "https://o/x"), "https://o/x");
        assert_eq!(resolve(&base, "/top"), "http://h:8080/top");
        assert_eq!(resolve(&base, "d.txt"), "http://h:8080/a/b/d.txt");
        assert_eq!(resolve(&base, "//cdn/x"), "http://cdn/x");
        assert_eq!(
            disposition_filename("attachment; filename=\"app.tar.gz\""),
            Some("app.tar.gz".into())
        );
        assert_eq!(disposition_filename("attachment; filename=../x"), None);
    }

    /// A loopback server answering each connection with the next canned response.
    fn serve(responses: Vec<Vec<u8>>) -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for resp in responses {
                let Ok((mut s, _)) = listener.accept() else {
                    return;
                };
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let _ = s.write_all(&resp);
            }
        });
        port
    }

    fn ok(body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[test]
    fn downloads_follow_redirects_hash_and_keep_to_their_limits() {
        let client = HttpClient::new();
        let port = serve(vec![
            b"HTTP/1.1 302 Found\r\nLocation: /real.txt\r\nContent-Length: 0\r\n\r\n".to_vec(),
            ok("hello"),
            ok("too long for the limit"),
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
        ]);
        let mut out = Vec::new();
        let d = client
            .download_blocking(&format!("http://127.0.0.1:{port}/x"), &mut out, 1 << 20)
            .unwrap();
        assert_eq!(out, b"hello");
        assert_eq!(d.digest, Digest::of(b"hello"));
        assert_eq!(d.url, format!("http://127.0.0.1:{port}/real.txt"));
        assert_eq!(
            d.last_modified,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480))
        );
        let err = client
            .download_blocking(&format!("http://127.0.0.1:{port}/y"), &mut Vec::new(), 4)
            .unwrap_err();
        assert!(err.to_string().contains("larger than 4 bytes"), "{err}");
        let err = client
            .download_blocking(&format!("http://127.0.0.1:{port}/z"), &mut Vec::new(), 4)
            .unwrap_err();
        assert!(err.to_string().contains("404"), "{err}");
        let err = client
            .download_blocking("ftp://h/x", &mut Vec::new(), 4)
            .unwrap_err();
        assert!(matches!(err, HttpError::InvalidUrl(_)), "{err}");
    }

    #[test]
    fn https_fails_cleanly_against_a_server_that_is_not_tls() {
        let client = HttpClient::new();
        // A plain-TCP server answering a TLS hello with garbage: the handshake fails.
        let port = serve(vec![b"not tls".to_vec()]);
        let err = client
            .download_blocking(&format!("https://127.0.0.1:{port}/x"), &mut Vec::new(), 4)
            .unwrap_err();
        assert!(matches!(err, HttpError::Connect { .. }), "{err}");
    }
}
