//! `docker import --change` (and `commit --change`): Dockerfile instructions applied to an image
//! config without running a build.
//!
//! Only the instructions that edit metadata are accepted, as in Docker; anything else is an
//! error naming the instruction, so a typo never silently yields a different image.

use crate::error::{ImageError, Result};
use berth_api_types::image::ImageConfig;
use std::collections::BTreeMap;

/// Applies `changes` in order to `config`.
pub fn apply_changes(config: &mut ImageConfig, changes: &[String]) -> Result<()> {
    // Like Docker's builder, ENTRYPOINT clears CMD unless a CMD came earlier in the same list.
    let mut cmd_set = false;
    for change in changes {
        let line = change.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (word, rest) = match line.split_once(char::is_whitespace) {
            Some((w, r)) => (w, r.trim()),
            None => (line, ""),
        };
        let instruction = word.to_ascii_uppercase();
        let need_args = || {
            if rest.is_empty() {
                Err(ImageError::InvalidArgument(format!(
                    "{instruction} requires at least one argument"
                )))
            } else {
                Ok(())
            }
        };
        match instruction.as_str() {
            "CMD" => {
                need_args()?;
                config.cmd = Some(command_form(rest));
                cmd_set = true;
            }
            "ENTRYPOINT" => {
                need_args()?;
                config.entrypoint = Some(command_form(rest));
                if !cmd_set {
                    config.cmd = None;
                }
            }
            "ENV" => {
                need_args()?;
                let env = config.env.get_or_insert_with(Vec::new);
                for (k, v) in key_values(rest, &instruction)? {
                    let prefix = format!("{k}=");
                    env.retain(|e| !e.starts_with(&prefix) && e != &k);
                    env.push(format!("{k}={v}"));
                }
            }
            "LABEL" => {
                need_args()?;
                let labels = config.labels.get_or_insert_with(BTreeMap::new);
                for (k, v) in key_values(rest, &instruction)? {
                    labels.insert(k, v);
                }
            }
            "WORKDIR" => {
                need_args()?;
                let dir = unquote(rest);
                config.working_dir = if dir.starts_with('/') {
                    dir
                } else {
                    let base = if config.working_dir.is_empty() {
                        "/"
                    } else {
                        &config.working_dir
                    };
                    format!("{}/{dir}", base.trim_end_matches('/'))
                };
            }
            "USER" => {
                need_args()?;
                config.user = unquote(rest);
            }
            "EXPOSE" => {
                need_args()?;
                let ports = config.exposed_ports.get_or_insert_with(BTreeMap::new);
                for spec in rest.split_whitespace() {
                    for port in expand_port(spec)? {
                        ports.insert(port, serde_json::json!({}));
                    }
                }
            }
            "VOLUME" => {
                need_args()?;
                let list = match json_array(rest) {
                    Some(v) => v,
                    None => rest.split_whitespace().map(unquote).collect(),
                };
                let volumes = config.volumes.get_or_insert_with(BTreeMap::new);
                for v in list {
                    if v.is_empty() {
                        return Err(ImageError::InvalidArgument(
                            "VOLUME specified can not be an empty string".into(),
                        ));
                    }
                    volumes.insert(v, serde_json::json!({}));
                }
            }
            "STOPSIGNAL" => {
                need_args()?;
                config.stop_signal = Some(unquote(rest));
            }
            "ONBUILD" => {
                need_args()?;
                let trigger = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase();
                if matches!(trigger.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                    return Err(ImageError::InvalidArgument(format!(
                        "{trigger} isn't allowed as an ONBUILD trigger"
                    )));
                }
                config
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(rest.to_string());
            }
            _ => {
                return Err(ImageError::InvalidArgument(format!(
                    "unknown instruction: {instruction}"
                )));
            }
        }
    }
    Ok(())
}

/// Exec form (`["a","b"]`) as is; shell form wrapped in `/bin/sh -c` like Docker.
fn command_form(rest: &str) -> Vec<String> {
    json_array(rest).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), rest.to_string()])
}

fn json_array(s: &str) -> Option<Vec<String>> {
    if !s.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(s).ok()
}

/// `k=v k2="v 2"` pairs, or the legacy `KEY value with spaces` form.
fn key_values(rest: &str, instruction: &str) -> Result<Vec<(String, String)>> {
    let words = split_words(rest);
    let first_has_eq = words.first().is_some_and(|w| w.contains('='));
    if !first_has_eq {
        let (k, v) = match rest.split_once(char::is_whitespace) {
            Some((k, v)) => (k.to_string(), unquote(v.trim())),
            None => {
                return Err(ImageError::InvalidArgument(format!(
                    "{instruction} must have two arguments"
                )));
            }
        };
        return Ok(vec![(k, v)]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(ImageError::InvalidArgument(format!(
                "{instruction} names can not be blank and need a value: {w:?}"
            ))),
        })
        .collect()
}

/// Splits on unquoted whitespace, removing quotes and backslash escapes.
fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (q, '\\') if q != Some('\'') => {
                if let Some(next) = chars.next() {
                    cur.push(next);
                }
                in_word = true;
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

fn unquote(s: &str) -> String {
    let words = split_words(s);
    if words.len() == 1 {
        words.into_iter().next().unwrap_or_default()
    } else {
        s.to_string()
    }
}

/// `80` → `80/tcp`; `53/udp`; `8000-8002` → three ports.
fn expand_port(spec: &str) -> Result<Vec<String>> {
    let bad = || ImageError::InvalidArgument(format!("invalid port specification: {spec:?}"));
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(bad());
    }
    let parse = |p: &str| p.parse::<u16>().map_err(|_| bad());
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let p = parse(ports)?;
            (p, p)
        }
    };
    if lo > hi {
        return Err(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(changes: &[&str]) -> Result<ImageConfig> {
        let mut c = ImageConfig::default();
        apply_changes(
            &mut c,
            &changes.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )?;
        Ok(c)
    }

    #[test]
    fn command_forms() {
        let c = apply(&[r#"CMD ["sh", "-c", "echo hi"]"#, "ENTRYPOINT /init --flag"]).unwrap();
        assert_eq!(c.cmd.unwrap(), ["sh", "-c", "echo hi"]);
        assert_eq!(c.entrypoint.unwrap(), ["/bin/sh", "-c", "/init --flag"]);
        // ENTRYPOINT first clears CMD only if CMD was not set in the list before it.
        let c = apply(&["ENTRYPOINT [\"/e\"]", "CMD x"]).unwrap();
        assert_eq!(c.cmd.unwrap(), ["/bin/sh", "-c", "x"]);
    }

    #[test]
    fn env_and_labels() {
        let c = apply(&[
            "ENV A=1 B=\"two words\"",
            "ENV C hello world",
            "env A=3",
            "LABEL a=b \"c d\"=e",
        ])
        .unwrap();
        assert_eq!(c.env.unwrap(), ["B=two words", "C=hello world", "A=3"]);
        let labels = c.labels.unwrap();
        assert_eq!(labels["a"], "b");
        assert_eq!(labels["c d"], "e");
        assert!(apply(&["ENV A"]).is_err());
    }

    #[test]
    fn paths_ports_and_others() {
        let c = apply(&[
            "WORKDIR /app",
            "WORKDIR sub",
            "USER nobody:nogroup",
            "EXPOSE 80 53/udp 8000-8001",
            "VOLUME [\"/data\", \"/logs\"]",
            "VOLUME /cache",
            "STOPSIGNAL SIGQUIT",
            "ONBUILD RUN echo hi",
        ])
        .unwrap();
        assert_eq!(c.working_dir, "/app/sub");
        assert_eq!(c.user, "nobody:nogroup");
        let ports: Vec<_> = c.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, ["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
        let vols: Vec<_> = c.volumes.unwrap().into_keys().collect();
        assert_eq!(vols, ["/cache", "/data", "/logs"]);
        assert_eq!(c.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(c.on_build.unwrap(), ["RUN echo hi"]);
        assert!(apply(&["EXPOSE 99999"]).is_err());
        assert!(apply(&["ONBUILD FROM x"]).is_err());
    }

    #[test]
    fn unknown_instructions_are_refused() {
        let e = apply(&["RUN echo"]).unwrap_err();
        assert_eq!(e.to_string(), "unknown instruction: RUN");
        assert_eq!(
            berth_common::error::HasKind::kind(&e),
            berth_common::ErrorKind::InvalidArgument
        );
        assert!(apply(&["CMD"]).is_err());
    }
}
