//! Docker's merge of the image's run-time defaults into the create request's `Config`.
//!
//! The result is what `docker inspect` shows as `Config` and what the spec is built from. The
//! rules are moby's `merge()`: request values win; lists that are empty inherit; env and labels
//! merge per key; the image's `Cmd` is inherited only when the request sets no entrypoint.

use berth_api_types::container::{ContainerConfig, Empty, HealthConfig};
use berth_api_types::image::ImageConfig;

/// Applies the image's defaults to a request's config, as Docker does at create time.
pub fn merge_config(image: &ImageConfig, request: &ContainerConfig) -> ContainerConfig {
    let mut c = request.clone();
    if c.user.is_empty() {
        c.user = image.user.clone();
    }
    for port in image.exposed_ports.iter().flatten().map(|(k, _)| k) {
        c.exposed_ports.entry(port.clone()).or_insert(Empty);
    }
    // Request entries first, then image entries whose key the request does not mention
    // (a bare `KEY` in the request mentions it too, and removes it).
    for entry in image.env.iter().flatten() {
        let key = env_key(entry);
        if !c.env.iter().any(|e| env_key(e) == key) {
            c.env.push(entry.clone());
        }
    }
    for (k, v) in image.labels.iter().flatten() {
        c.labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let entrypoint_empty = c.entrypoint.as_ref().is_none_or(Vec::is_empty);
    if entrypoint_empty {
        if c.cmd.as_ref().is_none_or(Vec::is_empty) {
            c.cmd = image.cmd.clone();
            c.args_escaped = image.args_escaped;
        }
        if c.entrypoint.is_none() {
            c.entrypoint = image.entrypoint.clone();
        }
    }
    if let Some(image_hc) = image
        .healthcheck
        .as_ref()
        .and_then(|v| serde_json::from_value::<HealthConfig>(v.clone()).ok())
    {
        c.healthcheck = Some(match c.healthcheck.take() {
            None => image_hc,
            Some(mut hc) => {
                if hc.test.is_empty() {
                    hc.test = image_hc.test;
                }
                let inherit = |mine: &mut i64, theirs: i64| {
                    if *mine == 0 {
                        *mine = theirs;
                    }
                };
                inherit(&mut hc.interval, image_hc.interval);
                inherit(&mut hc.timeout, image_hc.timeout);
                inherit(&mut hc.start_period, image_hc.start_period);
                inherit(&mut hc.start_interval, image_hc.start_interval);
                inherit(&mut hc.retries, image_hc.retries);
                hc
            }
        });
    }
    if c.working_dir.is_empty() {
        c.working_dir = image.working_dir.clone();
    }
    for path in image.volumes.iter().flatten().map(|(k, _)| k) {
        c.volumes.entry(path.clone()).or_insert(Empty);
    }
    if c.stop_signal.as_deref().is_none_or(str::is_empty) {
        c.stop_signal = image.stop_signal.clone();
    }
    if c.shell.is_none() {
        c.shell = image.shell.clone();
    }
    c
}

/// The command line: entrypoint (unless cleared with `[""]`) followed by cmd.
pub fn command_line(config: &ContainerConfig) -> Vec<String> {
    let entrypoint = match config.entrypoint.as_deref() {
        Some([only]) if only.is_empty() => &[][..],
        Some(e) => e,
        None => &[][..],
    };
    let mut args: Vec<String> = entrypoint.to_vec();
    args.extend(config.cmd.iter().flatten().cloned());
    args
}

/// `KEY` of `KEY=value` (or of a bare `KEY`).
pub(crate) fn env_key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(k, _)| k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn v(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|s| s.to_string()).collect())
    }

    fn image() -> ImageConfig {
        ImageConfig {
            entrypoint: v(&["/entry"]),
            cmd: v(&["serve"]),
            env: v(&["PATH=/img/bin", "A=image", "B=image"]),
            working_dir: "/app".into(),
            user: "app".into(),
            labels: Some(BTreeMap::from([("l".into(), "image".into())])),
            stop_signal: Some("SIGQUIT".into()),
            volumes: Some(BTreeMap::from([("/data".into(), serde_json::json!({}))])),
            exposed_ports: Some(BTreeMap::from([("80/tcp".into(), serde_json::json!({}))])),
            healthcheck: Some(
                serde_json::json!({"Test": ["CMD", "check"], "Interval": 5, "Retries": 2}),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn entrypoint_and_cmd_rules() {
        // (request entrypoint, request cmd) → command line
        type Case = (Option<Vec<String>>, Option<Vec<String>>, Vec<&'static str>);
        let cases: Vec<Case> = vec![
            (None, None, vec!["/entry", "serve"]),
            (None, v(&["other"]), vec!["/entry", "other"]),
            (v(&["/bin/sh"]), None, vec!["/bin/sh"]),
            (v(&["/bin/sh"]), v(&["-c", "x"]), vec!["/bin/sh", "-c", "x"]),
            (v(&[""]), None, vec![]),
            (v(&[""]), v(&["ls"]), vec!["ls"]),
            (v(&[]), None, vec!["serve"]),
            (None, v(&[]), vec!["/entry", "serve"]),
        ];
        for (entrypoint, cmd, want) in cases {
            let req = ContainerConfig {
                entrypoint: entrypoint.clone(),
                cmd: cmd.clone(),
                ..Default::default()
            };
            let merged = merge_config(&image(), &req);
            assert_eq!(command_line(&merged), want, "{entrypoint:?} {cmd:?}");
        }
    }

    #[test]
    fn env_labels_and_the_rest() {
        let req = ContainerConfig {
            env: vec!["B=req".into(), "C=req".into(), "A".into()],
            labels: BTreeMap::from([("m".into(), "req".into()), ("l".into(), "req".into())]),
            healthcheck: Some(HealthConfig {
                interval: 7,
                ..Default::default()
            }),
            ..Default::default()
        };
        let m = merge_config(&image(), &req);
        assert_eq!(m.env, vec!["B=req", "C=req", "A", "PATH=/img/bin"]);
        assert_eq!(m.labels["l"], "req");
        assert_eq!(m.labels["m"], "req");
        assert_eq!(m.working_dir, "/app");
        assert_eq!(m.user, "app");
        assert_eq!(m.stop_signal.as_deref(), Some("SIGQUIT"));
        assert!(m.volumes.contains_key("/data"));
        assert!(m.exposed_ports.contains_key("80/tcp"));
        let hc = m.healthcheck.unwrap();
        assert_eq!(
            (hc.test, hc.interval, hc.retries),
            (vec!["CMD".into(), "check".into()], 7, 2)
        );

        let req = ContainerConfig {
            user: "1000".into(),
            working_dir: "/w".into(),
            stop_signal: Some("9".into()),
            ..Default::default()
        };
        let m = merge_config(&image(), &req);
        assert_eq!((m.user.as_str(), m.working_dir.as_str()), ("1000", "/w"));
        assert_eq!(m.stop_signal.as_deref(), Some("9"));
    }
}
