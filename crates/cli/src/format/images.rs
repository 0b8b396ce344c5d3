//! Rows of `images`: one per repository and tag, with Docker's template fields.
//!
//! Follows Docker's `imageFormat`: dangling images get one `<none>` row; otherwise a row per
//! tag (per tag and digest with `--digests`), then a row for each repository that only has a
//! digest.

use super::units::{human_size, human_size_with_precision, since};
use super::{go_time_string, table::Format};
use berth_api_types::image::ImageSummary;
use berth_common::Reference;
use serde::Serialize;

/// The default `images` table.
pub const DEFAULT_FORMAT: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
/// The default `images --digests` table.
pub const DIGESTS_FORMAT: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
/// `images -q`.
pub const QUIET_FORMAT: &str = "{{.ID}}";

/// Column titles Docker shows for each field.
pub const HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("VirtualSize", "SIZE"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
];

/// One row as templates see it (`{{json .}}` prints exactly these keys).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ImageRow {
    /// Short id without `sha256:`, or the full id with `--no-trunc`.
    #[serde(rename = "ID")]
    pub id: String,
    /// Familiar repository name or `<none>`.
    pub repository: String,
    /// Tag or `<none>`.
    pub tag: String,
    /// `sha256:...`, `<none>`, or empty.
    pub digest: String,
    /// "2 hours ago".
    pub created_since: String,
    /// "2024-01-02 15:04:05 +0000 UTC".
    pub created_at: String,
    /// Size with 3 significant digits.
    pub size: String,
    /// Containers using the image, `N/A` when the daemon did not count.
    pub containers: String,
    /// Size with 4 significant digits (Docker's deprecated field).
    pub virtual_size: String,
    /// Shared bytes or `N/A`.
    pub shared_size: String,
    /// Unshared bytes or `N/A`.
    pub unique_size: String,
}

/// Picks the format for the flags given, as Docker does.
pub fn format_for(user: Option<&str>, quiet: bool, digests: bool) -> Format {
    let default = if digests {
        DIGESTS_FORMAT
    } else {
        DEFAULT_FORMAT
    };
    match user {
        _ if quiet => Format::parse(QUIET_FORMAT, default),
        Some(f) if !f.is_empty() => Format::parse(f, default),
        _ => Format::parse(default, default),
    }
}

fn is_dangling(img: &ImageSummary) -> bool {
    (img.repo_tags.is_empty() && img.repo_digests.is_empty())
        || (img.repo_tags == ["<none>:<none>"] && img.repo_digests == ["<none>@<none>"])
}

/// Appends `value` to the list kept for `key`, keeping first-seen order of keys.
fn push_grouped(groups: &mut Vec<(String, Vec<String>)>, key: String, value: String) {
    match groups.iter_mut().find(|(k, _)| *k == key) {
        Some((_, vs)) => vs.push(value),
        None => groups.push((key, vec![value])),
    }
}

/// Builds the rows for a list of images. `now` is Unix seconds.
pub fn rows(images: &[ImageSummary], trunc: bool, digests: bool, now: i64) -> Vec<ImageRow> {
    let mut out = Vec::new();
    for img in images {
        let row =
            |repo: &str, tag: &str, digest: &str| make_row(img, repo, tag, digest, trunc, now);
        if is_dangling(img) {
            out.push(row("<none>", "<none>", "<none>"));
            continue;
        }
        let mut tags: Vec<(String, Vec<String>)> = Vec::new();
        for r in &img.repo_tags {
            if let Ok(r) = Reference::parse(r)
                && let Some(t) = r.tag()
            {
                push_grouped(&mut tags, r.familiar_name(), t.to_string());
            }
        }
        let mut dgsts: Vec<(String, Vec<String>)> = Vec::new();
        for r in &img.repo_digests {
            if let Ok(r) = Reference::parse(r)
                && let Some(d) = r.digest()
            {
                push_grouped(&mut dgsts, r.familiar_name(), d.to_string());
            }
        }
        for (repo, repo_tags) in &tags {
            let pos = dgsts.iter().position(|(k, _)| k == repo);
            let repo_digests = pos
                .map(|i| dgsts.remove(i).1)
                .filter(|_| digests)
                .unwrap_or_default();
            for tag in repo_tags {
                if repo_digests.is_empty() {
                    out.push(row(repo, tag, "<none>"));
                }
                for d in &repo_digests {
                    out.push(row(repo, tag, d));
                }
            }
        }
        for (repo, ds) in &dgsts {
            if digests {
                for d in ds {
                    out.push(row(repo, "<none>", d));
                }
            } else {
                out.push(row(repo, "<none>", ""));
            }
        }
    }
    out
}

fn make_row(
    img: &ImageSummary,
    repo: &str,
    tag: &str,
    digest: &str,
    trunc: bool,
    now: i64,
) -> ImageRow {
    let na_or = |n: i64, f: &dyn Fn(i64) -> String| if n == -1 { "N/A".to_string() } else { f(n) };
    ImageRow {
        id: if trunc {
            berth_common::id::short_id(&img.id).to_string()
        } else {
            img.id.clone()
        },
        repository: repo.to_string(),
        tag: tag.to_string(),
        digest: digest.to_string(),
        created_since: since(img.created, now),
        created_at: go_time_string(img.created),
        size: human_size_with_precision(img.size as f64, 3),
        containers: na_or(img.containers, &|n| n.to_string()),
        virtual_size: human_size(img.size as f64),
        shared_size: na_or(img.shared_size, &|n| human_size(n as f64)),
        unique_size: if img.size == -1 || img.shared_size == -1 {
            "N/A".to_string()
        } else {
            human_size((img.size - img.shared_size) as f64)
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{table, template};

    const NOW: i64 = 1_700_000_000 + 3 * 365 * 86400 + 86400;

    fn sample() -> Vec<ImageSummary> {
        vec![
            ImageSummary {
                id: format!("sha256:{}", "a".repeat(64)),
                repo_tags: vec!["busybox:latest".into(), "x/y:1".into()],
                created: 1_700_000_000,
                size: 4_261_234,
                shared_size: -1,
                containers: -1,
                ..Default::default()
            },
            ImageSummary {
                id: format!("sha256:{}", "b".repeat(64)),
                repo_digests: vec![format!("foo@sha256:{}", "c".repeat(64))],
                created: 1_700_000_000,
                size: 865_000,
                shared_size: -1,
                containers: 2,
                ..Default::default()
            },
            ImageSummary {
                id: format!("sha256:{}", "d".repeat(64)),
                created: 1_700_000_000,
                size: 0,
                shared_size: -1,
                containers: -1,
                ..Default::default()
            },
        ]
    }

    fn render(format: &Format, rows: &[ImageRow]) -> String {
        let values: Vec<_> = rows
            .iter()
            .map(|r| template::to_value(r).unwrap())
            .collect();
        table::render(format, &values, HEADERS).unwrap()
    }

    #[test]
    fn default_table_matches_docker() {
        let rows = rows(&sample(), true, false, NOW);
        let out = render(&format_for(None, false, false), &rows);
        assert_eq!(
            out,
            "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n\
             busybox      latest    aaaaaaaaaaaa   3 years ago   4.26MB\n\
             x/y          1         aaaaaaaaaaaa   3 years ago   4.26MB\n\
             foo          <none>    bbbbbbbbbbbb   3 years ago   865kB\n\
             <none>       <none>    dddddddddddd   3 years ago   0B\n"
        );
    }

    #[test]
    fn digests_table_matches_docker() {
        let rows = rows(&sample()[..2], true, true, NOW);
        let out = render(&format_for(None, false, true), &rows);
        let c = "c".repeat(64);
        assert_eq!(
            out,
            format!(
                "REPOSITORY   TAG       DIGEST                                                                    IMAGE ID       CREATED       SIZE\n\
                 busybox      latest    <none>                                                                    aaaaaaaaaaaa   3 years ago   4.26MB\n\
                 x/y          1         <none>                                                                    aaaaaaaaaaaa   3 years ago   4.26MB\n\
                 foo          <none>    sha256:{c}   bbbbbbbbbbbb   3 years ago   865kB\n"
            )
        );
    }

    #[test]
    fn json_rows_match_docker() {
        let rows = rows(&sample()[1..2], true, false, NOW);
        let out = render(&format_for(Some("json"), false, false), &rows);
        assert_eq!(
            out,
            "{\"Containers\":\"2\",\"CreatedAt\":\"2023-11-14 22:13:20 +0000 UTC\",\"CreatedSince\":\"3 years ago\",\"Digest\":\"\",\"ID\":\"bbbbbbbbbbbb\",\"Repository\":\"foo\",\"SharedSize\":\"N/A\",\"Size\":\"865kB\",\"Tag\":\"\\u003cnone\\u003e\",\"UniqueSize\":\"N/A\",\"VirtualSize\":\"865kB\"}\n"
        );
    }

    #[test]
    fn quiet_and_no_trunc() {
        let rows = rows(&sample()[..1], false, false, NOW);
        let out = render(&format_for(Some("{{.Repository}}"), true, false), &rows);
        let id = format!("sha256:{}\n", "a".repeat(64));
        assert_eq!(out, format!("{id}{id}"));
    }

    #[test]
    fn custom_table_headers() {
        let rows = rows(&sample()[..1], true, false, NOW);
        let f = format_for(
            Some("table {{.ID}}\\t{{.Containers}}\\t{{.CreatedAt}}"),
            false,
            false,
        );
        let out = render(&f, &rows[..1]);
        assert_eq!(
            out,
            "IMAGE ID       CONTAINERS   CREATED AT\naaaaaaaaaaaa   N/A          2023-11-14 22:13:20 +0000 UTC\n"
        );
    }
}
