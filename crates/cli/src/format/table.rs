//! Docker's `--format` handling for lists: `table TEMPLATE`, `json`, or a plain template.
//!
//! Mirrors `cli/command/formatter.Context`: `\t` and `\n` typed literally become real tabs and
//! newlines, each row ends with a newline, and a table gets a header row (the same template run
//! on a field → title map) and is aligned by an elastic tab writer with Docker's settings
//! (minimum width 10, padding 3), so columns line up exactly like `docker`'s.

use super::template::{self, Missing};
use anyhow::Result;
use gotmpl::Value;
use std::io::Write;

/// The `--format` value that means "one JSON object per line".
pub const JSON_FORMAT: &str = "{{json .}}";

/// A `--format` string decoded into what to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    /// Render as an aligned table with a header.
    pub table: bool,
    /// The template for one row (literal `\t` already turned into tabs).
    pub template: String,
}

impl Format {
    /// Decodes a user's `--format`; `table` alone selects `default_table`.
    pub fn parse(format: &str, default_table: &str) -> Format {
        let format = if format.trim() == "table" {
            default_table
        } else {
            format
        };
        let (table, body) = match format.strip_prefix("table") {
            Some(rest) => (true, rest),
            None if format.trim() == "json" => (false, JSON_FORMAT),
            None => (false, format),
        };
        let template = body
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        Format { table, template }
    }
}

/// Renders rows (already converted to template values) with `headers` mapping field names to
/// column titles.
pub fn render(format: &Format, rows: &[Value], headers: &[(&str, &str)]) -> Result<String> {
    let tmpl = template::parse(&format.template, Missing::Error, false)?;
    let mut body = String::new();
    for row in rows {
        body.push_str(&template::execute(&tmpl, row)?);
        body.push('\n');
    }
    if !format.table {
        return Ok(body);
    }
    let header_tmpl = template::parse(&format.template, Missing::NoValue, true)?;
    let header = template::execute(&header_tmpl, &template::header_value(headers))?;
    align(&format!("{header}\n{body}"))
}

/// Aligns tab-separated text the way Docker's tables are aligned.
pub fn align(text: &str) -> Result<String> {
    // Go's minimum width includes the padding, this crate's does not: 7 + 3 is Docker's 10.
    let mut tw = tabwriter::TabWriter::new(Vec::new()).minwidth(7).padding(3);
    tw.write_all(text.as_bytes())?;
    tw.flush()?;
    let bytes = tw
        .into_inner()
        .map_err(|e| anyhow::anyhow!("{}", e.error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows(v: serde_json::Value) -> Vec<Value> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| template::to_value(r).unwrap())
            .collect()
    }

    #[test]
    fn parses_format_kinds() {
        let d = "table {{.A}}\\t{{.B}}";
        assert_eq!(
            Format::parse("table", d),
            Format {
                table: true,
                template: "{{.A}}\t{{.B}}".into()
            }
        );
        assert_eq!(
            Format::parse("json", d),
            Format {
                table: false,
                template: JSON_FORMAT.into()
            }
        );
        assert_eq!(
            Format::parse("{{.A}}", d),
            Format {
                table: false,
                template: "{{.A}}".into()
            }
        );
    }

    #[test]
    fn table_has_header_and_alignment() {
        let f = Format::parse("table {{.ID}}\\t{{.Size}}", "");
        let out = render(
            &f,
            &rows(json!([{"ID": "aaaaaaaaaaaa", "Size": "4.26MB"}, {"ID": "b", "Size": "0B"}])),
            &[("ID", "IMAGE ID"), ("Size", "SIZE")],
        )
        .unwrap();
        assert_eq!(
            out,
            "IMAGE ID       SIZE\naaaaaaaaaaaa   4.26MB\nb              0B\n"
        );
    }

    #[test]
    fn empty_table_still_has_header() {
        let f = Format::parse("table {{.ID}}\\t{{.Size}}", "");
        assert_eq!(
            render(&f, &[], &[("ID", "IMAGE ID"), ("Size", "SIZE")]).unwrap(),
            "IMAGE ID   SIZE\n"
        );
    }

    #[test]
    fn json_format_is_one_object_per_line() {
        let f = Format::parse("json", "");
        let out = render(
            &f,
            &rows(json!([{"B": "<none>", "A": 1}, {"A": 2, "B": "x"}])),
            &[],
        )
        .unwrap();
        assert_eq!(
            out,
            "{\"A\":1,\"B\":\"\\u003cnone\\u003e\"}\n{\"A\":2,\"B\":\"x\"}\n"
        );
    }
}
