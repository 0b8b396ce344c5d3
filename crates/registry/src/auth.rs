//! Registry authentication as Docker's daemon does it: `GET /v2/` answered `401` carries a
//! `WWW-Authenticate` challenge, `Basic` (the user and password go with every request) or
//! `Bearer` (they are traded at the challenge's realm for a token, per service and scope).
//!
//! [`login`] checks credentials the way `docker login` has the daemon check them (`POST
//! /auth`): against `https://HOST/v2/`, and against `http://HOST/v2/` only for a registry that
//! may be spoken to in plain text ([`Endpoints`]: loopback, or listed as insecure by the
//! daemon's owner).

use crate::http::{HttpClient, HttpError};
use base64::Engine as _;
use hyper::StatusCode;

/// What a registry asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// User and password with each request.
    Basic,
    /// A token from `realm`, for `service` (and `scope`).
    Bearer {
        /// The token endpoint.
        realm: String,
        /// The registry's name at the token service.
        service: Option<String>,
        /// What the request needed (`repository:x:pull`).
        scope: Option<String>,
    },
}

/// Reads a `WWW-Authenticate` value (`Bearer realm="…",service="…"`); `None` for a scheme
/// Berth does not speak.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        }),
        _ => None,
    }
}

/// `k="v", k2=v2` pairs, quotes (with `\` escapes) allowed around values.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key.trim().to_string(), value.trim().to_string()));
    }
}

/// A user and password (or an identity token, sent as the password of `<token>`).
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The user.
    pub username: String,
    /// The password or token.
    pub password: String,
}

impl Credentials {
    /// The `Authorization: Basic …` value.
    pub fn basic(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// Which base URLs a registry host is tried at, in order, and the daemon owner's other
/// registry settings.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    /// Registries the daemon's owner allows plain HTTP to (`--insecure-registry`): a
    /// `host[:port]`, or a CIDR (`10.0.0.0/8`) that an IP address host falls in, as Docker's
    /// flag takes them ([`check_insecure`] says whether one is well formed).
    pub insecure: Vec<String>,
    /// Base URLs tried first for Docker Hub's images (`--registry-mirror`).
    pub mirrors: Vec<String>,
    /// Registries never contacted (`--blocked-registry`; `docker.io` for Docker Hub).
    pub blocked: Vec<String>,
    /// Where per-registry CAs and client certificates are read (`<dir>/<host[:port]>/`).
    pub certs_dirs: Vec<std::path::PathBuf>,
    /// Layers downloaded at once by one pull (0: Docker's default of 3).
    pub max_downloads: usize,
    /// Layers uploaded at once by one push (0: Docker's default of 5).
    pub max_uploads: usize,
}

impl Endpoints {
    /// `https://HOST`, then `http://HOST` for a loopback or insecure one.
    pub fn bases(&self, host: &str) -> Vec<String> {
        let mut out = vec![format!("https://{host}")];
        if is_loopback(host) || self.is_insecure(host) {
            out.push(format!("http://{host}"));
        }
        out
    }

    /// Whether `--insecure-registry` names `host[:port]`, itself or by a CIDR holding its
    /// address (a host name is not resolved for that: only an IP literal falls in a CIDR).
    fn is_insecure(&self, host: &str) -> bool {
        let ip = host_name(host).parse::<std::net::IpAddr>().ok();
        self.insecure.iter().any(|entry| {
            entry == host
                || ip.is_some_and(|ip| {
                    entry
                        .parse::<ipnet::IpNet>()
                        .is_ok_and(|net| net.contains(&ip))
                })
        })
    }

    /// Whether the daemon's owner forbade contacting the registry of `domain` (a
    /// reference's domain: `docker.io`, `127.0.0.1:5000`).
    pub fn is_blocked(&self, domain: &str) -> bool {
        let host = registry_host(domain);
        self.blocked
            .iter()
            .any(|b| b == domain || registry_host(b) == host)
    }
}

/// Why an `--insecure-registry` value (its scheme dropped) is not one, if it is not: a CIDR
/// must parse as one, a `host[:port]` must have no path or spaces.
pub fn check_insecure(entry: &str) -> Result<(), String> {
    if entry.contains('/') {
        return entry
            .parse::<ipnet::IpNet>()
            .map(|_| ())
            .map_err(|_| {
                format!("insecure registry {entry:?}: neither host[:port] nor a CIDR (a path is not allowed)")
            });
    }
    if entry.is_empty() || entry.chars().any(char::is_whitespace) {
        return Err(format!("insecure registry {entry:?}: not a host[:port]"));
    }
    Ok(())
}

/// An `--insecure-registry` value as Docker reads it: an `http://` or `https://` in front is
/// dropped (the caller warns), then it must pass [`check_insecure`].
pub fn normalize_insecure(entry: &str) -> Result<String, String> {
    let bare = entry
        .strip_prefix("http://")
        .or_else(|| entry.strip_prefix("https://"))
        .unwrap_or(entry);
    check_insecure(bare).map(|()| bare.to_string())
}

/// The host of `host[:port]` (`[v6]:port` too), without the port.
fn host_name(host: &str) -> &str {
    match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                host
            }
        }),
    }
}

/// Whether `host[:port]` names this machine (`localhost`, 127.0.0.0/8, `::1`).
pub fn is_loopback(host: &str) -> bool {
    let name = host_name(host);
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The registry host a `docker login` server address names (`https://index.docker.io/v1/`
/// → Docker Hub's registry; `127.0.0.1:5000` as it is).
pub fn registry_host(server: &str) -> String {
    let s = server.trim();
    let s = s.split_once("://").map_or(s, |(_, rest)| rest);
    let host = s.split('/').next().unwrap_or_default();
    match host {
        "" | "docker.io" | "index.docker.io" => "registry-1.docker.io".to_string(),
        h => h.to_string(),
    }
}

/// Why a login failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The registry refused the credentials.
    #[error("login attempt to {url} failed with status: {status}")]
    Unauthorized {
        /// What was asked.
        url: String,
        /// Its answer.
        status: StatusCode,
    },
    /// It could not be reached or answered nonsense.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// It asks for an authentication scheme Berth does not speak.
    #[error("{url}: unsupported authentication challenge {challenge:?}")]
    Unsupported {
        /// What was asked.
        url: String,
        /// The challenge.
        challenge: String,
    },
}

/// Checks `creds` against the registry at `server`, as `POST /auth` does.
pub async fn login(
    http: &HttpClient,
    endpoints: &Endpoints,
    server: &str,
    creds: &Credentials,
) -> Result<(), LoginError> {
    let host = registry_host(server);
    let (base, resp) = first_answer(http, &endpoints.bases(&host), "/v2/", &[]).await?;
    let url = format!("{base}/v2/");
    match resp.status {
        s if s.is_success() => Ok(()),
        StatusCode::UNAUTHORIZED => {
            let header = resp.www_authenticate.unwrap_or_default();
            match parse_challenge(&header) {
                Some(Challenge::Basic) => {
                    let again = http
                        .request_status(&url, &[("authorization", creds.basic())])
                        .await?;
                    if again.status.is_success() {
                        Ok(())
                    } else {
                        Err(LoginError::Unauthorized {
                            url,
                            status: again.status,
                        })
                    }
                }
                Some(Challenge::Bearer { realm, service, .. }) => {
                    let token_url =
                        token_url(&realm, service.as_deref(), &[], Some(&creds.username));
                    let got = http
                        .request_status(&token_url, &[("authorization", creds.basic())])
                        .await?;
                    if got.status.is_success() {
                        Ok(())
                    } else {
                        Err(LoginError::Unauthorized {
                            url: token_url,
                            status: got.status,
                        })
                    }
                }
                None => Err(LoginError::Unsupported {
                    url,
                    challenge: header,
                }),
            }
        }
        status => Err(LoginError::Http(HttpError::Status { url, status })),
    }
}

/// GETs `path` (with `headers`) at each of `bases` in turn — https, then plain http where
/// allowed — moving on only when the previous one could not be spoken to; the base that
/// answered, and its answer.
pub async fn first_answer(
    http: &HttpClient,
    bases: &[String],
    path: &str,
    headers: &[(&str, String)],
) -> Result<(String, crate::http::Answer), HttpError> {
    let mut last = None;
    for (i, base) in bases.iter().enumerate() {
        let base = base.trim_end_matches('/');
        match http.request_status(&format!("{base}{path}"), headers).await {
            Ok(a) => return Ok((base.to_string(), a)),
            Err(e @ (HttpError::Connect { .. } | HttpError::Protocol { .. }))
                if i + 1 < bases.len() =>
            {
                last = Some(e);
            }
            Err(e) => return Err(fallback_error(last, e)),
        }
    }
    Err(last.unwrap_or_else(|| HttpError::InvalidUrl(bases.first().cloned().unwrap_or_default())))
}

/// The error to report when plain http, tried after https, failed too: a server that speaks
/// only TLS answers plain http with nonsense ("invalid HTTP version"), so the https failure
/// (a refused or missing certificate, say) is the one that tells the user what is wrong.
pub fn fallback_error(https: Option<HttpError>, http: HttpError) -> HttpError {
    match (https, http) {
        (Some(first), HttpError::Protocol { .. }) => first,
        (_, http) => http,
    }
}

/// The URL a bearer token is asked for at: the challenge's `realm` with `service`, each of
/// `scopes` and the `account`, as distribution's token protocol has them.
pub fn token_url(
    realm: &str,
    service: Option<&str>,
    scopes: &[String],
    account: Option<&str>,
) -> String {
    let mut url = realm.to_string();
    let mut sep = if realm.contains('?') { '&' } else { '?' };
    let mut add = |k: &str, v: &str| {
        url.push(sep);
        url.push_str(k);
        url.push('=');
        url.push_str(&query_escape(v));
        sep = '&';
    };
    if let Some(s) = service {
        add("service", s);
    }
    for s in scopes {
        add("scope", s);
    }
    if let Some(a) = account {
        add("account", a);
    }
    url
}

/// `s` escaped for a query value.
pub fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn blocked_registries_match_by_name_or_by_host() {
        let e = Endpoints {
            blocked: vec!["docker.io".into(), "10.0.0.1:5000".into()],
            ..Default::default()
        };
        assert!(e.is_blocked("docker.io"));
        assert!(e.is_blocked("index.docker.io"));
        assert!(e.is_blocked("10.0.0.1:5000"));
        assert!(!e.is_blocked("10.0.0.1:5001"));
        assert!(!e.is_blocked("127.0.0.1:5000"));
    }

    use super::*;
    use std::io::{BufRead, BufReader, Write};

    #[test]
    fn challenges_hosts_and_endpoints_read_as_docker_reads_them() {
        assert_eq!(
            parse_challenge("Basic realm=\"Registry\""),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.example/token",service="reg.example",scope="repository:a/b:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("reg.example".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge("Bearer service=x"),
            None,
            "a realm is required"
        );
        assert_eq!(parse_challenge("Negotiate abc"), None);
        assert!(
            is_loopback("localhost:5000") && is_loopback("127.1.2.3") && is_loopback("[::1]:5000")
        );
        assert!(!is_loopback("reg.example:5000") && !is_loopback("10.0.0.1"));
        assert_eq!(
            registry_host("https://index.docker.io/v1/"),
            "registry-1.docker.io"
        );
        assert_eq!(registry_host("127.0.0.1:5000"), "127.0.0.1:5000");
        let e = Endpoints {
            insecure: vec!["reg.lan:5000".into()],
            ..Default::default()
        };
        assert_eq!(e.bases("reg.example"), ["https://reg.example"]);
        assert_eq!(
            e.bases("reg.lan:5000"),
            ["https://reg.lan:5000", "http://reg.lan:5000"]
        );
        assert_eq!(
            e.bases("127.0.0.1:5000"),
            ["https://127.0.0.1:5000", "http://127.0.0.1:5000"]
        );
        let cidr = Endpoints {
            insecure: vec!["10.20.0.0/16".into(), "fd00::/8".into()],
            ..Default::default()
        };
        assert_eq!(
            cidr.bases("10.20.3.4:5000"),
            ["https://10.20.3.4:5000", "http://10.20.3.4:5000"]
        );
        assert_eq!(cidr.bases("[fd00::1]:5000").len(), 2);
        assert_eq!(cidr.bases("10.21.3.4:5000"), ["https://10.21.3.4:5000"]);
        // A name is not resolved to fall in a CIDR.
        assert_eq!(cidr.bases("reg.lan:5000"), ["https://reg.lan:5000"]);
        assert!(check_insecure("10.0.0.0/8").is_ok() && check_insecure("reg.lan:5000").is_ok());
        let err = check_insecure("http://reg.lan/").unwrap_err();
        assert!(err.contains("neither host[:port] nor a CIDR"), "{err}");
        assert!(check_insecure("10.0.0.0/33").is_err() && check_insecure("a b").is_err());
        assert_eq!(
            normalize_insecure("http://reg.lan:5000").unwrap(),
            "reg.lan:5000"
        );
        assert_eq!(
            normalize_insecure("https://10.0.0.0/8").unwrap(),
            "10.0.0.0/8"
        );
        assert!(normalize_insecure("http://reg.lan/").is_err());
    }

    /// A loopback server answering each request with `answer(request head)`.
    fn serve(answer: impl Fn(&str) -> String + Send + 'static) -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { return };
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut head = String::new();
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 2) {
                    head.push_str(&line);
                    line.clear();
                }
                let _ = s.write_all(answer(&head).as_bytes());
            }
        });
        port
    }

    #[test]
    fn a_bearer_login_trades_the_credentials_at_the_realm() {
        let realm_port = serve(|head| {
            // alice:pw
            if head.contains("authorization: Basic YWxpY2U6cHc=") && head.contains("account=alice")
            {
                "HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{\"token\":\"t1\"}\n".into()
            } else {
                "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n".into()
            }
        });
        let registry_port = serve(move |_| {
            format!(
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://127.0.0.1:{realm_port}/token\",service=\"test\"\r\nContent-Length: 0\r\n\r\n"
            )
        });
        let http = HttpClient::new();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let server = format!("127.0.0.1:{registry_port}");
        let creds = |p: &str| Credentials {
            username: "alice".into(),
            password: p.into(),
        };
        rt.block_on(login(&http, &Endpoints::default(), &server, &creds("pw")))
            .unwrap();
        let err = rt
            .block_on(login(&http, &Endpoints::default(), &server, &creds("bad")))
            .unwrap_err();
        assert!(
            matches!(err, LoginError::Unauthorized { status, .. } if status == StatusCode::UNAUTHORIZED),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("failed with status: 401 Unauthorized"),
            "{err}"
        );
    }
}
