//! Rows of `history`, with Docker's template fields.

use super::table::Format;
use super::units::{human_size_with_precision, since};
use super::{ellipsis, rfc3339};
use berth_api_types::image::HistoryItem;
use serde::Serialize;

/// Default table with `--human` (the default).
pub const HUMAN_FORMAT: &str =
    "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
/// Default table with `--human=false`.
pub const RAW_FORMAT: &str =
    "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

/// Column titles.
pub const HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

/// Width `CREATED BY` is cut to without `--no-trunc`.
const CREATED_BY_WIDTH: usize = 45;

/// One history step as templates see it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryRow {
    /// Short id, or `<missing>` for steps that are not local images.
    #[serde(rename = "ID")]
    pub id: String,
    /// "3 hours ago", or the RFC 3339 time with `--human=false`.
    pub created_since: String,
    /// RFC 3339 time.
    pub created_at: String,
    /// The instruction, cut to 45 characters unless `--no-trunc`.
    pub created_by: String,
    /// Human size, or bytes with `--human=false`.
    pub size: String,
    /// Step comment.
    pub comment: String,
}

/// Picks the format for the flags given.
pub fn format_for(user: Option<&str>, quiet: bool, human: bool) -> Format {
    let default = if human { HUMAN_FORMAT } else { RAW_FORMAT };
    match user {
        _ if quiet => Format::parse("{{.ID}}", default),
        Some(f) if !f.is_empty() => Format::parse(f, default),
        _ => Format::parse(default, default),
    }
}

/// Builds the rows. `now` is Unix seconds.
pub fn rows(items: &[HistoryItem], human: bool, trunc: bool, now: i64) -> Vec<HistoryRow> {
    items
        .iter()
        .map(|h| {
            let created_by = h.created_by.replace('\t', " ");
            HistoryRow {
                id: if trunc {
                    berth_common::id::short_id(&h.id).to_string()
                } else {
                    h.id.clone()
                },
                created_since: if human {
                    since(h.created, now)
                } else {
                    rfc3339(h.created)
                },
                created_at: rfc3339(h.created),
                created_by: if trunc {
                    ellipsis(&created_by, CREATED_BY_WIDTH)
                } else {
                    created_by
                },
                size: if human {
                    human_size_with_precision(h.size as f64, 3)
                } else {
                    h.size.to_string()
                },
                comment: h.comment.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{table, template};

    const NOW: i64 = 1_700_000_000 + 3 * 365 * 86400 + 86400;

    fn sample() -> Vec<HistoryItem> {
        vec![
            HistoryItem {
                id: format!("sha256:{}", "a".repeat(64)),
                created: 1_700_000_000,
                created_by: "/bin/sh -c #(nop) CMD [\"sh\"]".into(),
                size: 0,
                ..Default::default()
            },
            HistoryItem {
                id: "<missing>".into(),
                created: 1_700_000_000,
                created_by: "/bin/sh -c #(nop) ADD file:abc in / ".into(),
                size: 4_261_234,
                comment: "imported".into(),
                ..Default::default()
            },
        ]
    }

    fn render(f: &Format, rows: &[HistoryRow]) -> String {
        let v: Vec<_> = rows
            .iter()
            .map(|r| template::to_value(r).unwrap())
            .collect();
        table::render(f, &v, HEADERS).unwrap()
    }

    #[test]
    fn default_table_matches_docker() {
        let out = render(
            &format_for(None, false, true),
            &rows(&sample(), true, true, NOW),
        );
        assert_eq!(
            out,
            "IMAGE          CREATED       CREATED BY                             SIZE      COMMENT\n\
             aaaaaaaaaaaa   3 years ago   /bin/sh -c #(nop) CMD [\"sh\"]           0B        \n\
             <missing>      3 years ago   /bin/sh -c #(nop) ADD file:abc in /    4.26MB    imported\n"
        );
    }

    #[test]
    fn raw_table_matches_docker() {
        let out = render(
            &format_for(None, false, false),
            &rows(&sample(), false, true, NOW),
        );
        assert_eq!(
            out,
            "IMAGE          CREATED AT             CREATED BY                             SIZE      COMMENT\n\
             aaaaaaaaaaaa   2023-11-14T22:13:20Z   /bin/sh -c #(nop) CMD [\"sh\"]           0         \n\
             <missing>      2023-11-14T22:13:20Z   /bin/sh -c #(nop) ADD file:abc in /    4261234   imported\n"
        );
    }

    #[test]
    fn long_steps_are_cut() {
        let mut items = sample();
        items[0].created_by = "x".repeat(60);
        let r = rows(&items, true, true, NOW);
        assert_eq!(r[0].created_by.chars().count(), 45);
        assert!(r[0].created_by.ends_with('…'));
        let r = rows(&items, true, false, NOW);
        assert_eq!(r[0].created_by.len(), 60);
        assert_eq!(r[1].id, "<missing>");
    }
}
