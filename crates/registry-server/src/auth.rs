//! Who may do what: htpasswd accounts (bcrypt), per-repository rules, and bearer tokens from
//! the built-in token endpoint.
//!
//! Without accounts the registry serves pulls to anyone and refuses every push (`401` with a
//! challenge): a registry must not take content from strangers by default. With accounts
//! (`--htpasswd`), every request needs valid credentials unless `--anonymous-pull` lets reads
//! through. Credentials arrive as `Basic` on each request, or — with `--token` — are traded
//! once at `/token` for a short-lived bearer token naming the granted scopes, signed with a
//! key that never leaves the server (HMAC-SHA256). bcrypt is slow on purpose, so a password
//! that verified once is remembered (as a hash) for the process's life.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// How long a token is valid unless told otherwise.
pub const TOKEN_SECONDS: u64 = 300;

/// Why the auth configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The htpasswd or rules file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line or entry that is not what it should be.
    #[error("{path}:{line}: {why}")]
    Invalid {
        /// The file.
        path: String,
        /// The line (1-based; 0 for the whole file).
        line: usize,
        /// What is wrong.
        why: String,
    },
}

/// One access rule: `account` (or `*`) may do `actions` on repositories matching
/// `repository` (a glob where `*` matches any run of characters).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rule {
    /// The account, or `*` for any authenticated one.
    pub account: String,
    /// The repository glob.
    pub repository: String,
    /// `pull`, `push`, `delete` or `*`.
    pub actions: Vec<String>,
}

/// The verdict on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allowed,
    /// No (or wrong) credentials: answer 401 with a challenge.
    Unauthenticated(String),
    /// Authenticated, but not allowed: 403.
    Denied(String),
}

/// What a token grants: actions per repository.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Grant {
    /// `repository`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The repository name.
    pub name: String,
    /// The actions granted.
    pub actions: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    access: Vec<Grant>,
}

/// The registry's access policy.
pub struct Policy {
    users: Vec<(String, String)>,
    rules: Option<Vec<Rule>>,
    anonymous_pull: bool,
    /// `Some(realm)` when clients trade credentials for tokens there.
    token_realm: Option<String>,
    key: [u8; 32],
    verified: Mutex<HashSet<[u8; 32]>>,
    /// A hash of the accounts' cost, checked for unknown accounts.
    dummy_hash: String,
    /// How long a token is valid.
    token_seconds: u64,
}

/// The service name tokens are issued for.
pub const SERVICE: &str = "berth-registry";

impl Policy {
    /// A policy from an htpasswd file (bcrypt lines `user:$2y$…`), a rules file (JSON list of
    /// [`Rule`]s), and the modes.
    pub fn load(
        htpasswd: Option<&Path>,
        rules: Option<&Path>,
        anonymous_pull: bool,
        token_realm: Option<String>,
    ) -> Result<Policy, AuthError> {
        let mut users = Vec::new();
        if let Some(p) = htpasswd {
            let text = std::fs::read_to_string(p).map_err(|e| AuthError::Read {
                path: p.display().to_string(),
                source: e,
            })?;
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let invalid = |why: &str| AuthError::Invalid {
                    path: p.display().to_string(),
                    line: i + 1,
                    why: why.to_string(),
                };
                let (user, hash) = line
                    .split_once(':')
                    .ok_or_else(|| invalid("expected user:hash"))?;
                if !hash.starts_with("$2") {
                    return Err(invalid(
                        "only bcrypt hashes are accepted (htpasswd -B); MD5, SHA1 and crypt are too weak",
                    ));
                }
                users.push((user.to_string(), hash.to_string()));
            }
        }
        let rules = match rules {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| AuthError::Read {
                    path: p.display().to_string(),
                    source: e,
                })?;
                Some(
                    serde_json::from_str::<Vec<Rule>>(&text).map_err(|e| AuthError::Invalid {
                        path: p.display().to_string(),
                        line: e.line(),
                        why: e.to_string(),
                    })?,
                )
            }
            None => None,
        };
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| AuthError::Read {
            path: "the kernel's random source".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let cost = users
            .first()
            .and_then(|(_, h)| h.get(4..6))
            .and_then(|c| c.parse::<u32>().ok())
            .unwrap_or(bcrypt::DEFAULT_COST);
        let dummy_hash = bcrypt::hash(format!("{:x?}", &key[..8]), cost).unwrap_or_default();
        Ok(Policy {
            token_seconds: TOKEN_SECONDS,
            dummy_hash,
            users,
            rules,
            anonymous_pull,
            token_realm,
            key,
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// The same policy with tokens valid for `seconds`.
    pub fn with_token_seconds(mut self, seconds: u64) -> Policy {
        self.token_seconds = seconds.max(1);
        self
    }

    /// How long a token is valid.
    pub fn token_seconds(&self) -> u64 {
        self.token_seconds
    }

    /// True when accounts exist.
    pub fn has_accounts(&self) -> bool {
        !self.users.is_empty()
    }

    /// The `WWW-Authenticate` challenge for a request needing `scope`.
    pub fn challenge(&self, scope: Option<&str>) -> String {
        match &self.token_realm {
            Some(realm) => {
                let mut c = format!("Bearer realm=\"{realm}\",service=\"{SERVICE}\"");
                if let Some(s) = scope {
                    c.push_str(&format!(",scope=\"{s}\""));
                }
                c
            }
            None => format!("Basic realm=\"{SERVICE}\""),
        }
    }

    /// Checks `user`'s `password` against the htpasswd entry.
    fn check_password(&self, user: &str, password: &str) -> bool {
        let Some((_, hash)) = self.users.iter().find(|(u, _)| u == user) else {
            // As slow as a wrong password, so timing does not tell which accounts exist.
            let _ = bcrypt::verify(password, &self.dummy_hash);
            return false;
        };
        let mut h = Sha256::new();
        h.update(user.as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        h.update([0]);
        h.update(hash.as_bytes());
        let key: [u8; 32] = h.finalize().into();
        if self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&key)
        {
            return true;
        }
        let ok = bcrypt::verify(password, hash).unwrap_or(false);
        if ok {
            self.verified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key);
        }
        ok
    }

    /// The account `Authorization: Basic …` names, when its password is right.
    fn basic_account(&self, authorization: &str) -> Option<String> {
        let encoded = authorization.strip_prefix("Basic ")?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (user, password) = text.split_once(':')?;
        self.check_password(user, password)
            .then(|| user.to_string())
    }

    /// Whether `account` (`None`: anonymous) may do `action` on `repo` by the rules.
    fn permits(&self, account: Option<&str>, repo: &str, action: &str) -> bool {
        let Some(account) = account else {
            return action == "pull" && (self.anonymous_pull || !self.has_accounts());
        };
        match &self.rules {
            None => true,
            Some(rules) => rules.iter().any(|r| {
                (r.account == "*" || r.account == account)
                    && glob(&r.repository, repo)
                    && r.actions.iter().any(|a| a == "*" || a == action)
            }),
        }
    }

    /// The verdict on a request with `authorization` (the header, if any) wanting `action`
    /// on `repo` (`None`: the registry itself, as for `/v2/` and the catalog).
    pub fn authorize(
        &self,
        authorization: Option<&str>,
        repo: Option<&str>,
        action: &str,
    ) -> Verdict {
        let scope = repo.map(|r| format!("repository:{r}:{action}"));
        let unauthenticated = |why: &str| Verdict::Unauthenticated(why.to_string());
        let account = match authorization {
            None => None,
            Some(a) if a.starts_with("Bearer ") && self.token_realm.is_some() => {
                return match self.verify_token(&a["Bearer ".len()..]) {
                    Some(claims) => {
                        let ok = match repo {
                            // The registry itself (the catalog): an account, unless it is open.
                            None => {
                                !claims.sub.is_empty()
                                    || !self.has_accounts()
                                    || self.anonymous_pull
                            }
                            Some(r) => claims.access.iter().any(|g| {
                                g.name == r && g.actions.iter().any(|x| x == action || x == "*")
                            }),
                        };
                        if ok {
                            Verdict::Allowed
                        } else {
                            unauthenticated("the token does not grant this")
                        }
                    }
                    None => unauthenticated("the token is invalid or expired"),
                };
            }
            Some(a) => match self.basic_account(a) {
                Some(user) => Some(user),
                None => return unauthenticated("incorrect username or password"),
            },
        };
        if self.token_realm.is_some() && account.is_some() {
            // Token mode: Basic is only for the token endpoint.
            return unauthenticated("authenticate at the token endpoint");
        }
        let Some(repo) = repo else {
            // The registry itself: open without accounts, else any valid account.
            return if account.is_some() || !self.has_accounts() {
                Verdict::Allowed
            } else {
                unauthenticated("authentication required")
            };
        };
        let _ = scope;
        if self.permits(account.as_deref(), repo, action) {
            return Verdict::Allowed;
        }
        match account {
            Some(user) => Verdict::Denied(format!(
                "requested access to the resource is denied: {user} may not {action} {repo}"
            )),
            None if !self.has_accounts() && action != "pull" => unauthenticated(
                "this registry has no accounts (--htpasswd), so it accepts no pushes",
            ),
            None => unauthenticated("authentication required"),
        }
    }

    /// `/token?service=&scope=…`: a token for what `authorization` may do of the scopes
    /// asked; `None` when credentials were given and are wrong.
    pub fn issue_token(&self, authorization: Option<&str>, scopes: &[String]) -> Option<String> {
        let account = match authorization {
            Some(a) => Some(self.basic_account(a)?),
            None => None,
        };
        let mut access = Vec::new();
        for scope in scopes {
            let mut parts = scope.splitn(3, ':');
            let (Some(kind), Some(name), Some(actions)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if kind != "repository" {
                continue;
            }
            let granted: Vec<String> = actions
                .split(',')
                .filter(|a| self.permits(account.as_deref(), name, a))
                .map(str::to_string)
                .collect();
            if !granted.is_empty() {
                access.push(Grant {
                    kind: kind.to_string(),
                    name: name.to_string(),
                    actions: granted,
                });
            }
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let claims = Claims {
            sub: account.unwrap_or_default(),
            exp: now + self.token_seconds,
            access,
        };
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&claims).ok()?);
        let mac = self.mac(body.as_bytes())?;
        Some(format!("{body}.{mac}"))
    }

    /// The token signature of `data` (HMAC takes keys of any length, so this never fails).
    fn mac(&self, data: &[u8]) -> Option<String> {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).ok()?;
        m.update(data);
        Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(m.finalize().into_bytes()))
    }

    fn verify_token(&self, token: &str) -> Option<Claims> {
        let (body, mac) = token.trim().split_once('.')?;
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).ok()?;
        m.update(body.as_bytes());
        let given = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(mac)
            .ok()?;
        m.verify_slice(&given).ok()?;
        let claims: Claims = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(body)
                .ok()?,
        )
        .ok()?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        (claims.exp > now).then_some(claims)
    }
}

/// `*`-glob matching (`team/*` matches `team/app` and `team/a/b`).
fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let mut rest = s;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(p) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            match rest.find(p) {
                Some(at) => rest = &rest[at + p.len()..],
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(rules: Option<&str>, token: bool) -> (tempfile::TempDir, Policy) {
        let d = tempfile::tempdir().unwrap();
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        std::fs::write(
            d.path().join("htpasswd"),
            format!("alice:{hash}\nbob:{hash}\n"),
        )
        .unwrap();
        let rules_path = rules.map(|r| {
            let p = d.path().join("rules.json");
            std::fs::write(&p, r).unwrap();
            p
        });
        let p = Policy::load(
            Some(&d.path().join("htpasswd")),
            rules_path.as_deref(),
            false,
            token.then(|| "https://reg/token".to_string()),
        )
        .unwrap();
        (d, p)
    }

    fn basic(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    #[test]
    fn accounts_rules_and_anonymous_access() {
        let (_d, p) = policy(
            Some(
                r#"[{"account":"alice","repository":"team/*","actions":["pull","push"]},{"account":"*","repository":"*","actions":["pull"]}]"#,
            ),
            false,
        );
        let alice = basic("alice", "s3cret");
        assert_eq!(
            p.authorize(Some(&alice), Some("team/app"), "push"),
            Verdict::Allowed
        );
        assert!(matches!(
            p.authorize(Some(&basic("bob", "s3cret")), Some("team/app"), "push"),
            Verdict::Denied(_)
        ));
        assert_eq!(
            p.authorize(Some(&basic("bob", "s3cret")), Some("team/app"), "pull"),
            Verdict::Allowed
        );
        assert!(matches!(
            p.authorize(Some(&basic("alice", "nope")), Some("team/app"), "pull"),
            Verdict::Unauthenticated(_)
        ));
        assert!(matches!(
            p.authorize(None, Some("team/app"), "pull"),
            Verdict::Unauthenticated(_)
        ));
        assert!(matches!(
            p.authorize(None, None, "pull"),
            Verdict::Unauthenticated(_)
        ));

        // Without accounts: reads are open, pushes refused.
        let open = Policy::load(None, None, false, None).unwrap();
        assert_eq!(open.authorize(None, Some("x"), "pull"), Verdict::Allowed);
        assert!(matches!(
            open.authorize(None, Some("x"), "push"),
            Verdict::Unauthenticated(_)
        ));
    }

    #[test]
    fn tokens_grant_only_what_the_rules_allow_and_cannot_be_forged() {
        let (_d, p) = policy(
            Some(r#"[{"account":"alice","repository":"team/*","actions":["*"]}]"#),
            true,
        );
        let alice = basic("alice", "s3cret");
        let token = p
            .issue_token(
                Some(&alice),
                &[
                    "repository:team/app:pull,push".into(),
                    "repository:other:pull".into(),
                ],
            )
            .unwrap();
        let bearer = format!("Bearer {token}");
        assert_eq!(
            p.authorize(Some(&bearer), Some("team/app"), "push"),
            Verdict::Allowed
        );
        assert!(matches!(
            p.authorize(Some(&bearer), Some("other"), "pull"),
            Verdict::Unauthenticated(_)
        ));
        // A tampered token is refused.
        let (body, mac) = token.split_once('.').unwrap();
        let forged = format!("Bearer {}x.{mac}", body);
        assert!(matches!(
            p.authorize(Some(&forged), Some("team/app"), "pull"),
            Verdict::Unauthenticated(_)
        ));
        // Wrong credentials get no token at all; Basic on a request is not enough in token mode.
        assert!(p.issue_token(Some(&basic("alice", "x")), &[]).is_none());
        assert!(matches!(
            p.authorize(Some(&alice), Some("team/app"), "pull"),
            Verdict::Unauthenticated(_)
        ));
    }

    #[test]
    fn weak_hashes_are_refused_with_their_line() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("htpasswd");
        std::fs::write(&f, "# users\nalice:$apr1$abc$def\n").unwrap();
        let err = Policy::load(Some(&f), None, false, None).err().unwrap();
        assert!(err.to_string().contains(":2: only bcrypt"), "{err}");
        assert!(glob("team/*", "team/a/b") && !glob("team/*", "other/a") && glob("*", "x"));
    }
}
