//! Image references (`busybox`, `ghcr.io/org/app:1.2`, `name@sha256:…`) normalised the way the
//! Docker CLI does, so `busybox` and `docker.io/library/busybox:latest` name the same image.

use crate::digest::Digest;
use std::fmt;

/// The registry assumed when a reference names none.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The namespace official images live in on the default registry.
pub const OFFICIAL_NAMESPACE: &str = "library";
/// The tag assumed when a reference names neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";

/// A parsed, normalised image reference.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not a valid reference. The wording follows Docker's, which scripts match on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    /// Syntax error anywhere in the reference.
    #[error("invalid reference format: {0:?}")]
    InvalidFormat(String),
    /// Upper-case letters in the repository part.
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    NotLowercase(String),
    /// The tag part is malformed.
    #[error("invalid tag format: {0:?}")]
    InvalidTag(String),
}

impl Reference {
    /// Parses and normalises a reference: adds `docker.io` and `library/` like Docker, but no tag.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let bad = || ReferenceError::InvalidFormat(input.to_string());
        if input.is_empty() || input.len() > 512 || input.chars().any(char::is_whitespace) {
            return Err(bad());
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, d)) => (rest, Some(d.parse::<Digest>().map_err(|_| bad())?)),
            None => (input, None),
        };
        // A tag is what follows the last ':' after the last '/', so `host:5000/app` has none.
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].find(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(if tag.contains(':') {
                bad()
            } else {
                ReferenceError::InvalidTag(tag.to_string())
            });
        }
        let (domain, path) = split_domain(name);
        if path.is_empty() || domain.is_empty() {
            return Err(bad());
        }
        if !valid_domain(domain) {
            return Err(bad());
        }
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError::NotLowercase(path.to_string()));
        }
        if !path.split('/').all(valid_path_component) {
            return Err(bad());
        }
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("{OFFICIAL_NAMESPACE}/{path}")
        } else {
            path.to_string()
        };
        Ok(Reference {
            domain: domain.to_string(),
            path,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// Parses and adds the `latest` tag when neither tag nor digest is given, as `docker pull` does.
    pub fn parse_tagged_default(input: &str) -> Result<Reference, ReferenceError> {
        let mut r = Reference::parse(input)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(r)
    }

    /// Builds a reference from a repository name and a tag given separately (`docker tag`, the
    /// `repo`/`tag` query parameters of the API).
    pub fn with_repo_and_tag(repo: &str, tag: Option<&str>) -> Result<Reference, ReferenceError> {
        let mut r = Reference::parse(repo)?;
        match tag.filter(|t| !t.is_empty()) {
            Some(t) if r.tag.is_some() || r.digest.is_some() => {
                return Err(ReferenceError::InvalidFormat(format!("{repo}:{t}")));
            }
            Some(t) if !valid_tag(t) => return Err(ReferenceError::InvalidTag(t.to_string())),
            Some(t) => r.tag = Some(t.to_string()),
            None if r.tag.is_none() && r.digest.is_none() => r.tag = Some(DEFAULT_TAG.into()),
            None => {}
        }
        Ok(r)
    }

    /// Registry host, e.g. `docker.io`.
    pub fn domain(&self) -> &str {
        &self.domain
    }
    /// Repository path within the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }
    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// Full repository name: `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// Repository name as Docker prints it: `busybox`, `user/app`, `ghcr.io/org/app`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            self.path
                .strip_prefix("library/")
                .filter(|p| !p.contains('/'))
                .unwrap_or(&self.path)
                .to_string()
        } else {
            self.name()
        }
    }

    /// The reference as Docker prints it: `busybox:latest`, `app@sha256:…`.
    pub fn familiar(&self) -> String {
        self.render(&self.familiar_name())
    }

    /// Same reference without its digest (for tag bookkeeping).
    pub fn without_digest(&self) -> Reference {
        Reference {
            digest: None,
            ..self.clone()
        }
    }

    /// Same repository with tag `tag` and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !valid_tag(tag) {
            return Err(ReferenceError::InvalidTag(tag.to_string()));
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }

    /// Same repository with the given digest and no tag.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }

    fn render(&self, name: &str) -> String {
        let mut s = name.to_string();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }
}

fn split_domain(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest),
        _ => (DEFAULT_DOMAIN, name),
    }
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    let host_ok = !host.is_empty()
        && host.split('.').all(|part| {
            !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        });
    host_ok && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn valid_path_component(c: &str) -> bool {
    // [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, Docker's tag grammar.
pub fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || x == b'_' || x == b'.' || x == b'-')
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&self.name()))
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_normalise_like_docker() {
        let r = Reference::parse_tagged_default("busybox").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(r.familiar(), "busybox:latest");
        let r = Reference::parse("user/app:1.0").unwrap();
        assert_eq!(r.to_string(), "docker.io/user/app:1.0");
        assert_eq!(r.familiar(), "user/app:1.0");
    }

    #[test]
    fn registries_with_ports_are_domains() {
        let r = Reference::parse("localhost:5000/app").unwrap();
        assert_eq!(r.domain(), "localhost:5000");
        assert_eq!(r.path(), "app");
        assert_eq!(r.tag(), None);
        let r = Reference::parse("ghcr.io/org/app:v1").unwrap();
        assert_eq!(r.familiar(), "ghcr.io/org/app:v1");
        let r = Reference::parse("localhost/app:2").unwrap();
        assert_eq!(r.name(), "localhost/app");
    }

    #[test]
    fn digests_are_kept() {
        let d = Digest::of(b"x");
        let r = Reference::parse(&format!("busybox@{d}")).unwrap();
        assert_eq!(r.digest(), Some(&d));
        assert_eq!(r.familiar(), format!("busybox@{d}"));
    }

    #[test]
    fn bad_references_are_refused() {
        assert!(matches!(
            Reference::parse("UPPER:case"),
            Err(ReferenceError::NotLowercase(_))
        ));
        assert!(matches!(
            Reference::parse("a:b:c"),
            Err(ReferenceError::InvalidFormat(_))
        ));
        assert!(Reference::parse("").is_err());
        assert!(Reference::parse("a b").is_err());
        assert!(Reference::parse("app:-bad").is_err());
        assert!(Reference::parse("app@sha256:1234").is_err());
        assert!(Reference::parse("a//b").is_err());
        assert!(Reference::parse("-app").is_err());
        assert!(Reference::parse("app:").is_err());
    }

    #[test]
    fn repo_and_tag_given_apart() {
        let r = Reference::with_repo_and_tag("myimg", Some("v2")).unwrap();
        assert_eq!(r.familiar(), "myimg:v2");
        let r = Reference::with_repo_and_tag("myimg", None).unwrap();
        assert_eq!(r.familiar(), "myimg:latest");
        assert!(Reference::with_repo_and_tag("myimg:v1", Some("v2")).is_err());
        assert!(Reference::with_repo_and_tag("myimg", Some("bad tag")).is_err());
    }
}
