//! Read-only views of images in the Docker API's shapes: `images`, `image inspect`,
//! `image history`, and the filters `docker images --filter` accepts.

use crate::error::{ImageError, Result};
use crate::oci::OciImageConfig;
use crate::records::ImageRecord;
use crate::store::{ImageStore, Inner};
use crate::timefmt::{parse_filter_time, unix_seconds};
use berth_api_types::Filters;
use berth_api_types::image::{
    GraphDriver, HistoryItem, ImageInspect, ImageMetadata, ImageSummary, RootFs,
};
use berth_common::Reference;
use std::collections::BTreeMap;

/// Filters `docker images` accepts.
const LIST_FILTERS: &[&str] = &["reference", "dangling", "label", "before", "since", "until"];

impl ImageStore {
    /// `GET /images/json`: images newest first, filtered. `all` adds the intermediate images
    /// build steps made (the build cache's), which are hidden otherwise.
    pub fn list(&self, filters: &Filters, all: bool) -> Result<Vec<ImageSummary>> {
        filters
            .check_names(LIST_FILTERS)
            .map_err(|e| ImageError::InvalidArgument(e.0))?;
        let dangling = bool_filter(filters, "dangling")?;
        let mut inner = self.lock();
        let before = self.time_bound(&mut inner, filters.get("before"))?;
        let since = self.time_bound(&mut inner, filters.get("since"))?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let until = match filters.get("until") {
            [] => None,
            values => Some(
                values
                    .iter()
                    .map(|v| parse_filter_time(v, now))
                    .collect::<Result<Vec<_>>>()?
                    .into_iter()
                    .min()
                    .unwrap_or(i64::MAX),
            ),
        };
        let patterns = filters.get("reference");
        let records: Vec<ImageRecord> = inner.state.images.values().cloned().collect();
        let mut out = Vec::new();
        for rec in records.into_iter().filter(|r| all || !r.hidden) {
            let config = self.config_of(&mut inner, &rec.id)?;
            let created = unix_seconds(config.created.as_deref());
            let mut tags = inner.state.tags_of(&rec.id);
            if dangling.is_some_and(|d| d != tags.is_empty()) {
                continue;
            }
            if !patterns.is_empty() {
                tags.retain(|t| patterns.iter().any(|p| reference_matches(p, t)));
                if tags.is_empty() {
                    continue;
                }
            }
            let labels = config.labels();
            if !filters.labels_match("label", &labels) {
                continue;
            }
            if before.is_some_and(|b| created >= b) || since.is_some_and(|s| created <= s) {
                continue;
            }
            if until.is_some_and(|u| created >= u) {
                continue;
            }
            out.push(ImageSummary {
                id: rec.id.to_string(),
                parent_id: rec
                    .parent
                    .as_ref()
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
                repo_tags: tags.iter().map(Reference::familiar).collect(),
                repo_digests: familiar_digests(&rec),
                created,
                size: rec.size as i64,
                shared_size: -1,
                labels,
                containers: -1,
            });
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// The creation time of the images named by a `before`/`since` filter (the latest bound
    /// when several are given).
    fn time_bound(&self, inner: &mut Inner, names: &[String]) -> Result<Option<i64>> {
        let mut bound = None;
        for name in names {
            let id = self.resolve_full(inner, name)?.id().clone();
            let t = unix_seconds(self.config_of(inner, &id)?.created.as_deref());
            bound = Some(bound.map_or(t, |b: i64| b.max(t)));
        }
        Ok(bound)
    }

    /// `GET /images/{name}/json`.
    pub fn inspect(&self, name: &str) -> Result<ImageInspect> {
        let mut inner = self.lock();
        let id = self.resolve_full(&inner, name)?.id().clone();
        let rec = inner
            .state
            .images
            .get(&id)
            .cloned()
            .ok_or_else(|| ImageError::NotFound(name.into()))?;
        let config = self.config_of(&mut inner, &id)?;
        let tags = inner.state.tags_of(&id);
        Ok(ImageInspect {
            id: id.to_string(),
            repo_tags: tags.iter().map(Reference::familiar).collect(),
            repo_digests: familiar_digests(&rec),
            parent: rec
                .parent
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            comment: comment_of(&config),
            created: config.created.clone().unwrap_or_default(),
            docker_version: config.docker_version.clone().unwrap_or_default(),
            author: config.author.clone().unwrap_or_default(),
            config: config.config.clone().unwrap_or_default(),
            architecture: config.architecture.clone(),
            variant: config.variant.clone(),
            os: config.os.clone(),
            size: rec.size as i64,
            graph_driver: GraphDriver {
                name: self.snapshotter.name().to_string(),
                data: BTreeMap::new(),
            },
            root_fs: RootFs {
                kind: "layers".into(),
                layers: config
                    .rootfs
                    .diff_ids
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            },
            metadata: ImageMetadata {
                last_tag_time: rec.last_tag_time.clone().unwrap_or_default(),
            },
        })
    }

    /// `GET /images/{name}/history`: newest step first; only the top row carries the image id
    /// and tags, the others show `<missing>` like Docker does for images it did not build.
    pub fn history(&self, name: &str) -> Result<Vec<HistoryItem>> {
        let mut inner = self.lock();
        let id = self.resolve_full(&inner, name)?.id().clone();
        let rec = inner
            .state
            .images
            .get(&id)
            .cloned()
            .ok_or_else(|| ImageError::NotFound(name.into()))?;
        let config = self.config_of(&mut inner, &id)?;
        let mut rows = Vec::new();
        if config.history.is_empty() {
            for layer in &rec.layers {
                rows.push(HistoryItem {
                    created: unix_seconds(config.created.as_deref()),
                    size: layer.unpacked as i64,
                    ..Default::default()
                });
            }
        } else {
            let mut sizes = rec.layers.iter().map(|l| l.unpacked as i64);
            for h in &config.history {
                let size = if h.is_empty_layer() {
                    0
                } else {
                    sizes.next().unwrap_or(0)
                };
                rows.push(HistoryItem {
                    created: unix_seconds(h.created.as_deref()),
                    created_by: h.created_by.clone().unwrap_or_default(),
                    size,
                    comment: h.comment.clone().unwrap_or_default(),
                    ..Default::default()
                });
            }
        }
        rows.reverse();
        for (i, row) in rows.iter_mut().enumerate() {
            if i == 0 {
                row.id = id.to_string();
                row.tags = inner
                    .state
                    .tags_of(&id)
                    .iter()
                    .map(Reference::familiar)
                    .collect();
            } else {
                row.id = "<missing>".into();
            }
        }
        Ok(rows)
    }
}

/// The commit message: Docker's top-level `comment`, else the last history comment.
fn comment_of(config: &OciImageConfig) -> String {
    config
        .comment
        .clone()
        .or_else(|| config.history.last().and_then(|h| h.comment.clone()))
        .unwrap_or_default()
}

fn familiar_digests(rec: &ImageRecord) -> Vec<String> {
    rec.repo_digests
        .iter()
        .map(|d| {
            Reference::parse(d)
                .map(|r| r.familiar())
                .unwrap_or_else(|_| d.clone())
        })
        .collect()
}

/// `dangling=true|false` (`1`/`0` too); `None` when absent.
pub(crate) fn bool_filter(filters: &Filters, key: &str) -> Result<Option<bool>> {
    match filters.get(key) {
        [] => Ok(None),
        [v] => match v.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err(ImageError::InvalidArgument(format!(
                "invalid filter '{key}={v}': expected true or false"
            ))),
        },
        _ => Err(ImageError::InvalidArgument(format!(
            "invalid filter '{key}': give one value"
        ))),
    }
}

/// Docker's `reference` filter: the pattern (with `*`, `?` and `[...]` as in Go's
/// `path.Match`) must match `name:tag` or just `name`, in familiar form.
pub(crate) fn reference_matches(pattern: &str, r: &Reference) -> bool {
    glob(pattern.as_bytes(), r.familiar().as_bytes())
        || glob(pattern.as_bytes(), r.familiar_name().as_bytes())
}

/// `path.Match`: `*` and `?` never match `/`. Iterative, with one backtrack point (the last
/// `*`): a `*` cannot cross a `/`, so an earlier one can never need to absorb more once a
/// later one was reached. That keeps it linear in practice and `O(len(p) · len(s))` at worst,
/// where the recursive form took exponential time on `*a*a*a*a*a*b` (a client-controlled
/// filter).
fn glob(p: &[u8], s: &[u8]) -> bool {
    glob_counted(p, s).0
}

/// [`glob`], also counting its steps (for the test that proves the bound).
fn glob_counted(p: &[u8], s: &[u8]) -> (bool, usize) {
    let mut steps = 0usize;
    let (mut pi, mut si) = (0usize, 0usize);
    // Where to resume after the last `*`: (pattern index after it, subject index it took up to).
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        steps += 1;
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    star = Some((pi + 1, si));
                    pi += 1;
                    continue;
                }
                b'?' if s[si] != b'/' => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                b'[' => match class(&p[pi..], s[si]) {
                    Some((len, true)) => {
                        pi += len;
                        si += 1;
                        continue;
                    }
                    Some((_, false)) => {}
                    // No class (no closing `]`): a literal `[`.
                    None if s[si] == b'[' => {
                        pi += 1;
                        si += 1;
                        continue;
                    }
                    None => {}
                },
                c if c == s[si] && c != b'?' => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                _ => {}
            }
        }
        // A mismatch: let the last `*` take one more byte, never a `/`.
        match star {
            Some((after, taken)) if s[taken] != b'/' => {
                star = Some((after, taken + 1));
                pi = after;
                si = taken + 1;
            }
            _ => return (false, steps),
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    (pi == p.len(), steps)
}

/// A `[...]` class at the start of `p` (`^` or `!` negates, `a-z` ranges) tested against `c`:
/// the class's length in the pattern and whether `c` is in it; `None` when `p` has no class.
fn class(p: &[u8], c: u8) -> Option<(usize, bool)> {
    let end = p.iter().position(|&b| b == b']').filter(|e| *e > 1)?;
    let body = &p[1..end];
    let (negate, body) = match body.first() {
        Some(b'^' | b'!') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut hit = false;
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == b'-' {
            hit |= body[i] <= c && c <= body[i + 2];
            i += 3;
        } else {
            hit |= body[i] == c;
            i += 1;
        }
    }
    Some((end + 1, hit != negate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_path_match_and_in_linear_time() {
        let m = |p: &str, s: &str| glob(p.as_bytes(), s.as_bytes());
        assert!(m("a*c", "abc") && m("a*c", "ac") && !m("a*c", "ab"));
        assert!(m("*", "busybox") && !m("*", "org/app"));
        assert!(m("*/app", "org/app") && !m("*app", "org/app"));
        assert!(m("a?c", "abc") && !m("a?c", "a/c"));
        assert!(m("[a-c]x", "bx") && !m("[^a-c]x", "bx") && m("[!a-c]x", "dx"));
        assert!(m("[x", "[x"), "an unclosed class is a literal");
        assert!(m("**b", "ab") && m("a*", "a"));
        // Exponential for a backtracking matcher; bounded by len(p) · len(s) steps here.
        let (pattern, subject) = ("*a*a*a*a*a*a*a*a*a*a*b", "a".repeat(60));
        let (hit, steps) = glob_counted(pattern.as_bytes(), subject.as_bytes());
        assert!(!hit);
        assert!(
            steps <= (pattern.len() + 1) * (subject.len() + 1),
            "{steps} steps"
        );
    }

    #[test]
    fn reference_patterns_match_like_docker() {
        let r = Reference::parse_tagged_default("busybox").unwrap();
        assert!(reference_matches("busybox", &r));
        assert!(reference_matches("busy*", &r));
        assert!(reference_matches("busybox:lat*", &r));
        assert!(reference_matches("busybox:latest", &r));
        assert!(!reference_matches("busybox:1*", &r));
        assert!(!reference_matches("nginx", &r));
        let r = Reference::parse("ghcr.io/org/app:v1").unwrap();
        assert!(reference_matches("ghcr.io/org/*", &r));
        assert!(!reference_matches("*", &r));
        assert!(reference_matches("ghcr.io/org/app:v[0-9]", &r));
    }
}
