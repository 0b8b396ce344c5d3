//! Environment (`-e`, `--env-file`) and label (`-l`, `--label-file`) entries.

use super::ShorthandError;
use std::collections::BTreeMap;

const WHITESPACE: &[char] = &[' ', '\t'];

/// Parses one `-e` value. `KEY=value` passes through; a bare `KEY` takes its value from `lookup`
/// (the caller's environment) and stays a bare `KEY` when unset, which tells the daemon to remove
/// the variable — exactly the docker CLI's behaviour.
pub fn parse_env(
    value: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, ShorthandError> {
    let (key, has_value) = match value.split_once('=') {
        Some((k, _)) => (k, true),
        None => (value, false),
    };
    if key.is_empty() {
        return Err(ShorthandError::new(format!(
            "invalid environment variable: {value}"
        )));
    }
    if has_value {
        return Ok(value.to_string());
    }
    Ok(match lookup(key) {
        Some(v) => format!("{key}={v}"),
        None => value.to_string(),
    })
}

/// Parses the text of an `--env-file`: one `KEY=value` per line, `#` comments and blank lines
/// skipped, leading white space trimmed, the value kept verbatim (no quotes are removed, as in
/// Docker). A bare `KEY` takes its value from `lookup` and is dropped when unset.
pub fn parse_env_file(
    content: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, ShorthandError> {
    let mut out = Vec::new();
    for (key, value) in key_value_lines(content, "environment")? {
        match value {
            Some(v) => out.push(format!("{key}={v}")),
            None => {
                if let Some(v) = lookup(&key) {
                    out.push(format!("{key}={v}"));
                }
            }
        }
    }
    Ok(out)
}

/// The `(key, value)` pairs of a Docker key-value file (`--env-file`, `--label-file`).
fn key_value_lines(
    content: &str,
    what: &str,
) -> Result<Vec<(String, Option<String>)>, ShorthandError> {
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let mut out = Vec::new();
    for raw in content.lines() {
        let line = raw.trim_start_matches(WHITESPACE);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (line.trim_end_matches(WHITESPACE), None),
        };
        if key.is_empty() {
            return Err(ShorthandError::new(format!(
                "poorly formatted {what}: no variable name on line '{line}'"
            )));
        }
        if key.contains(WHITESPACE) {
            return Err(ShorthandError::new(format!(
                "poorly formatted {what}: variable '{key}' contains whitespaces"
            )));
        }
        out.push((key.to_string(), value));
    }
    Ok(out)
}

/// Checks one `-l key=value` (or bare `key`, meaning an empty value) and splits it.
pub fn parse_label(value: &str) -> Result<(String, String), ShorthandError> {
    let (key, val) = value.split_once('=').unwrap_or((value, ""));
    let key = key.trim();
    if key.is_empty() {
        return Err(ShorthandError::new(format!(
            "invalid label '{value}': empty name"
        )));
    }
    if key.contains(WHITESPACE) {
        return Err(ShorthandError::new(format!(
            "label '{key}' contains whitespaces"
        )));
    }
    Ok((key.to_string(), val.to_string()))
}

/// Builds the label map from `--label-file` contents (applied first) and `-l` values (which
/// win), as the docker CLI does.
pub fn parse_labels(
    label_files: &[&str],
    labels: &[String],
) -> Result<BTreeMap<String, String>, ShorthandError> {
    let mut map = BTreeMap::new();
    for content in label_files {
        for (key, value) in key_value_lines(content, "label")? {
            map.insert(key, value.unwrap_or_default());
        }
    }
    for label in labels {
        let (k, v) = parse_label(label)?;
        map.insert(k, v);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(key: &str) -> Option<String> {
        (key == "HOME").then(|| "/root".to_string())
    }

    #[test]
    fn env_flag_table() {
        assert_eq!(parse_env("A=1", env).unwrap(), "A=1");
        assert_eq!(parse_env("A=", env).unwrap(), "A=");
        assert_eq!(parse_env("A=b=c", env).unwrap(), "A=b=c");
        assert_eq!(parse_env("HOME", env).unwrap(), "HOME=/root");
        assert_eq!(parse_env("UNSET", env).unwrap(), "UNSET");
        assert_eq!(
            parse_env("=x", env).unwrap_err().to_string(),
            "invalid environment variable: =x"
        );
    }

    #[test]
    fn env_file() {
        let text = "\u{feff}# comment\n\n  A=1\nB= spaced value \nHOME\nUNSET\nC=\"quoted\"\r\n";
        assert_eq!(
            parse_env_file(text, env).unwrap(),
            vec!["A=1", "B= spaced value ", "HOME=/root", "C=\"quoted\""]
        );
        assert_eq!(
            parse_env_file("=x", env).unwrap_err().to_string(),
            "poorly formatted environment: no variable name on line '=x'"
        );
        assert_eq!(
            parse_env_file("MY VAR=x", env).unwrap_err().to_string(),
            "poorly formatted environment: variable 'MY VAR' contains whitespaces"
        );
    }

    #[test]
    fn labels() {
        assert_eq!(parse_label("a=b").unwrap(), ("a".into(), "b".into()));
        assert_eq!(parse_label("a").unwrap(), ("a".into(), String::new()));
        assert_eq!(
            parse_label("=b").unwrap_err().to_string(),
            "invalid label '=b': empty name"
        );
        assert!(parse_label("a b=c").is_err());
        let map = parse_labels(&["x=file\ny=file"], &["y=flag".into(), "z".into()]).unwrap();
        assert_eq!(map["x"], "file");
        assert_eq!(map["y"], "flag");
        assert_eq!(map["z"], "");
    }
}
