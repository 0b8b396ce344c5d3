//! `image inspect` and the top-level `inspect` (containers, images, networks and volumes).
//!
//! Without `--format` the daemon's JSON is printed as an array with 4-space indentation, in the
//! daemon's key order; with a template each object is rendered on its own line. Objects that
//! are found are printed even when others are not; the errors come after, and the exit code is 1
//! (Docker's behaviour, which scripts rely on).

use crate::args::{ImageInspectArgs, InspectArgs};
use crate::autostart::Target;
use crate::format::template::{self, Missing};
use crate::output;
use anyhow::{Result, anyhow, bail};
use berth_client::ClientError;
use serde::Serialize;

/// Renders inspected objects: pretty JSON, or one template result per object.
pub fn render(objects: &[serde_json::Value], format: Option<&str>) -> Result<String> {
    match format.map(str::trim) {
        None | Some("") | Some("json") => {
            let mut buf = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
            objects.serialize(&mut ser)?;
            buf.push(b'\n');
            Ok(String::from_utf8_lossy(&buf).into_owned())
        }
        Some(_) => {
            let src = format
                .unwrap_or_default()
                .replace("\\t", "\t")
                .replace("\\n", "\n");
            let t = template::parse(&src, Missing::NoValue, false)?;
            let mut out = String::new();
            for o in objects {
                out.push_str(&template::execute(&t, &template::to_value(o)?)?);
                out.push('\n');
            }
            Ok(out)
        }
    }
}

/// Prints what was found, then fails with the collected errors, if any.
pub(crate) fn finish(
    found: &[serde_json::Value],
    format: Option<&str>,
    errors: Vec<String>,
) -> Result<()> {
    // Docker prints the (possibly empty) array even when nothing was found.
    if !found.is_empty() || format.is_none() {
        output::print(&render(found, format)?)?;
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("{}", errors.join("\n")))
    }
}

/// `image inspect NAME...`.
pub async fn image(target: &Target, args: ImageInspectArgs) -> Result<()> {
    let client = target.connect().await?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &args.names {
        match client.image_inspect_raw(name).await {
            Ok(v) => found.push(v),
            Err(e @ ClientError::Api { .. }) => errors.push(e.to_string()),
            Err(e) => return Err(e.into()),
        }
    }
    finish(&found, args.format.as_deref(), errors)
}

/// Top-level `inspect`: like Docker, containers are tried first, then images, networks and
/// volumes (or only the `--type` given); an unknown name is reported as Docker reports it
/// (`Error: No such object: x`).
pub async fn any(target: &Target, args: InspectArgs) -> Result<()> {
    let kinds: &[&str] = match args.kind.as_deref() {
        None | Some("") => &["container", "image", "network", "volume"],
        Some("container") => &["container"],
        Some("image") => &["image"],
        Some("network") => &["network"],
        Some("volume") => &["volume"],
        Some(kind) => bail!("{kind:?} is not a valid value for --type"),
    };
    let client = target.connect().await?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    'names: for name in &args.names {
        let mut last = None;
        for kind in kinds {
            let r = match *kind {
                "container" => client.container_inspect_raw(name, args.size).await,
                "network" => client.network_inspect_raw(name, false).await,
                "volume" => client.volume_inspect(name).await,
                _ => client.image_inspect_raw(name).await,
            };
            match r {
                Ok(v) => {
                    found.push(v);
                    continue 'names;
                }
                Err(e) if e.is_not_found() => last = Some(e),
                Err(e @ ClientError::Api { .. }) => {
                    errors.push(e.to_string());
                    continue 'names;
                }
                Err(e) => return Err(e.into()),
            }
        }
        match (args.kind.is_none(), last) {
            (false, Some(e)) => errors.push(e.to_string()),
            _ => errors.push(format!("Error: No such object: {name}")),
        }
    }
    finish(&found, args.format.as_deref(), errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> serde_json::Value {
        serde_json::from_str(
            r#"{"Id":"sha256:aa","RepoTags":["busybox:latest"],"Config":{"Cmd":["sh","-c","echo"],"Labels":{"a":"b"}},"Size":123}"#,
        )
        .unwrap()
    }

    #[test]
    fn pretty_json_keeps_daemon_order_and_4_spaces() {
        let out = render(&[sample()], None).unwrap();
        assert_eq!(
            out,
            "[\n    {\n        \"Id\": \"sha256:aa\",\n        \"RepoTags\": [\n            \"busybox:latest\"\n        ],\n        \"Config\": {\n            \"Cmd\": [\n                \"sh\",\n                \"-c\",\n                \"echo\"\n            ],\n            \"Labels\": {\n                \"a\": \"b\"\n            }\n        },\n        \"Size\": 123\n    }\n]\n"
        );
        assert_eq!(render(&[], None).unwrap(), "[]\n");
    }

    #[test]
    fn templates_print_like_docker() {
        let objs = [sample(), json!({"Id": "sha256:bb", "Config": {}})];
        assert_eq!(
            render(&objs, Some("{{.Id}}")).unwrap(),
            "sha256:aa\nsha256:bb\n"
        );
        assert_eq!(
            render(
                &objs[..1],
                Some("{{.Config.Cmd}} {{.Config.Labels}} {{json .Config.Labels}} {{.Size}}")
            )
            .unwrap(),
            "[sh -c echo] map[a:b] {\"a\":\"b\"} 123\n"
        );
    }
}
