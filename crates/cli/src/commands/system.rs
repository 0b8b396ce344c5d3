//! `version` and `info`.
//!
//! Both print the client's part before contacting the daemon, so they still say something
//! useful when the daemon is down. `--format` runs on the daemon's raw JSON (with a `Client`
//! part for `version`), so fields Berth's structs do not model stay reachable.

use crate::args::{InfoArgs, VersionArgs};
use crate::autostart::Target;
use crate::format::template::{self, Missing};
use crate::format::units::bytes_size;
use crate::output;
use anyhow::Result;
use berth_api_types::API_VERSION;
use serde_json::{Value, json};

use berth_api_types::go::arch as go_arch;

/// The `Client` object of `version`.
pub fn client_version() -> Value {
    json!({
        "Platform": {"Name": "Berth"},
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": API_VERSION,
        "DefaultAPIVersion": API_VERSION,
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
        "Context": "default",
    })
}

/// Renders a value with a user template (`json` for JSON).
fn render_format(format: &str, data: &Value) -> Result<String> {
    let src = if format.trim() == "json" {
        "{{json .}}"
    } else {
        format
    };
    let src = src.replace("\\t", "\t").replace("\\n", "\n");
    let t = template::parse(&src, Missing::NoValue, false)?;
    Ok(format!(
        "{}\n",
        template::execute(&t, &template::to_value(data)?)?
    ))
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A `label: value` line aligned like Docker's (labels padded to column 20).
fn kv(out: &mut String, label: &str, value: &str) {
    let pad = 20usize.saturating_sub(label.chars().count()).max(1);
    out.push_str(&format!("{label}{}{value}\n", " ".repeat(pad)));
}

/// The client half of `version`.
pub fn client_text(c: &Value) -> String {
    let mut out = String::from("Client:\n");
    kv(&mut out, " Version:", s(c, "Version"));
    kv(&mut out, " API version:", s(c, "ApiVersion"));
    kv(
        &mut out,
        " OS/Arch:",
        &format!("{}/{}", s(c, "Os"), s(c, "Arch")),
    );
    kv(&mut out, " Context:", s(c, "Context"));
    out
}

/// The server half of `version`, from `/version`.
pub fn server_text(v: &Value) -> String {
    let name = v.get("Platform").map(|p| s(p, "Name")).unwrap_or("");
    let mut out = format!("\nServer: {name}\n Engine:\n");
    kv(&mut out, "  Version:", s(v, "Version"));
    kv(
        &mut out,
        "  API version:",
        &format!(
            "{} (minimum version {})",
            s(v, "ApiVersion"),
            s(v, "MinAPIVersion")
        ),
    );
    kv(&mut out, "  Rust version:", s(v, "GoVersion"));
    kv(&mut out, "  Git commit:", s(v, "GitCommit"));
    kv(&mut out, "  Built:", s(v, "BuildTime"));
    kv(
        &mut out,
        "  OS/Arch:",
        &format!("{}/{}", s(v, "Os"), s(v, "Arch")),
    );
    let experimental = v
        .get("Experimental")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    kv(&mut out, "  Experimental:", &experimental.to_string());
    for c in v
        .get("Components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if s(c, "Name") == "Engine" {
            continue;
        }
        out.push_str(&format!(" {}:\n", s(c, "Name")));
        kv(&mut out, "  Version:", s(c, "Version"));
        if let Some(Value::Object(d)) = c.get("Details") {
            for (k, val) in d {
                let text = val
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| val.to_string());
                kv(&mut out, &format!("  {k}:"), &text);
            }
        }
    }
    out
}

/// `version`.
pub async fn version(target: &Target, args: VersionArgs) -> Result<()> {
    let client_part = client_version();
    if let Some(f) = args.format.as_deref() {
        let client = target.connect().await?;
        let server = client.version_raw().await?;
        let data = json!({"Client": client_part, "Server": server});
        return output::print(&render_format(f, &data)?).map_err(Into::into);
    }
    output::print(&client_text(&client_part))?;
    let client = target.connect().await?;
    let server = client.version_raw().await?;
    output::print(&server_text(&server))?;
    Ok(())
}

fn i(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or(0)
}

/// The server half of `info`, from `/info`, in Docker's layout.
pub fn info_text(v: &Value) -> String {
    let mut o = String::from("Server:\n");
    let mut line = |text: String| {
        o.push_str(&text);
        o.push('\n');
    };
    line(format!(" Containers: {}", i(v, "Containers")));
    line(format!("  Running: {}", i(v, "ContainersRunning")));
    line(format!("  Paused: {}", i(v, "ContainersPaused")));
    line(format!("  Stopped: {}", i(v, "ContainersStopped")));
    line(format!(" Images: {}", i(v, "Images")));
    line(format!(" Server Version: {}", s(v, "ServerVersion")));
    line(format!(" Storage Driver: {}", s(v, "Driver")));
    for row in v
        .get("DriverStatus")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some([k, val]) = row.as_array().map(Vec::as_slice) {
            line(format!(
                "  {}: {}",
                k.as_str().unwrap_or(""),
                val.as_str().unwrap_or("")
            ));
        }
    }
    line(format!(" Logging Driver: {}", s(v, "LoggingDriver")));
    line(format!(" Cgroup Driver: {}", s(v, "CgroupDriver")));
    line(format!(" Cgroup Version: {}", s(v, "CgroupVersion")));
    if let Some(Value::Object(r)) = v.get("Runtimes") {
        let names: Vec<&str> = r.keys().map(String::as_str).collect();
        line(format!(" Runtimes: {}", names.join(" ")));
    }
    line(format!(" Default Runtime: {}", s(v, "DefaultRuntime")));
    let opts: Vec<&str> = v
        .get("SecurityOptions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !opts.is_empty() {
        line(" Security Options:".into());
        for opt in opts {
            // `name=seccomp,profile=builtin` → "  seccomp" + "   Profile: builtin".
            for (n, kv) in opt.split(',').enumerate() {
                let (k, val) = kv.split_once('=').unwrap_or(("name", kv));
                if n == 0 && k == "name" {
                    line(format!("  {val}"));
                } else {
                    let mut k = k.to_string();
                    if let Some(first) = k.get(..1) {
                        k = format!("{}{}", first.to_uppercase(), &k[1..]);
                    }
                    line(format!("   {k}: {val}"));
                }
            }
        }
    }
    line(format!(" Kernel Version: {}", s(v, "KernelVersion")));
    line(format!(" Operating System: {}", s(v, "OperatingSystem")));
    line(format!(" OSType: {}", s(v, "OSType")));
    line(format!(" Architecture: {}", s(v, "Architecture")));
    line(format!(" CPUs: {}", i(v, "NCPU")));
    line(format!(
        " Total Memory: {}",
        bytes_size(i(v, "MemTotal") as f64)
    ));
    line(format!(" Name: {}", s(v, "Name")));
    line(format!(" ID: {}", s(v, "ID")));
    line(format!(" Docker Root Dir: {}", s(v, "DockerRootDir")));
    line(format!(
        " Debug Mode: {}",
        v.get("Debug").and_then(Value::as_bool).unwrap_or(false)
    ));
    let labels: Vec<&str> = v
        .get("Labels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !labels.is_empty() {
        line(" Labels:".into());
        for l in labels {
            line(format!("  {l}"));
        }
    }
    line(format!(
        " Experimental: {}",
        v.get("ExperimentalBuild")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    ));
    o
}

/// `info`.
pub async fn info(target: &Target, args: InfoArgs) -> Result<()> {
    if let Some(f) = args.format.as_deref() {
        let client = target.connect().await?;
        let data = client.info_raw().await?;
        return output::print(&render_format(f, &data)?).map_err(Into::into);
    }
    let mut head = String::from("Client:\n");
    kv(&mut head, " Version:", env!("CARGO_PKG_VERSION"));
    kv(&mut head, " Context:", "default");
    head.push('\n');
    output::print(&head)?;
    let client = target.connect().await?;
    let data = client.info_raw().await?;
    output::print(&info_text(&data))?;
    let warnings: Vec<&str> = data
        .get("Warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for w in warnings {
        eprintln!("{w}");
    }
    Ok(())
}

/// `berth system prune`: stopped containers, unused networks, dangling (or, with `-a`, unused)
/// images and, with `--volumes`, anonymous volumes, in Docker's order and wording. The daemon
/// also drops the default bridge and its rules when nothing uses them, so a pruned host keeps
/// no Berth link or rule.
pub async fn prune(target: &Target, args: crate::args::SystemPruneArgs) -> Result<()> {
    let mut warning = String::from(
        "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n",
    );
    if args.volumes {
        warning.push_str("  - all anonymous volumes not used by at least one container\n");
    }
    warning.push_str(if args.all {
        "  - all images without at least one container associated to them\n  - all build cache\n"
    } else {
        "  - all dangling images\n  - unused build cache\n"
    });
    if !args.force && !super::images::confirm(warning.trim_end())? {
        return Ok(());
    }
    let client = target.connect().await?;
    let filters = berth_api_types::Filters::from_cli(&args.filter)?;
    let mut out = String::new();
    let mut reclaimed: u64 = 0;
    let c = client.containers_prune(&filters).await?;
    let deleted = c.containers_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        out.push_str("Deleted Containers:\n");
        for id in &deleted {
            out.push_str(id);
            out.push('\n');
        }
        out.push('\n');
    }
    reclaimed += c.space_reclaimed;
    let n = client.networks_prune(&filters).await?;
    let nets = n.networks_deleted.unwrap_or_default();
    if !nets.is_empty() {
        out.push_str("Deleted Networks:\n");
        for name in &nets {
            out.push_str(name);
            out.push('\n');
        }
        out.push('\n');
    }
    if args.volumes {
        let v = client.volumes_prune(&filters).await?;
        let vols = v.volumes_deleted.unwrap_or_default();
        if !vols.is_empty() {
            out.push_str("Deleted Volumes:\n");
            for name in &vols {
                out.push_str(name);
                out.push('\n');
            }
            out.push('\n');
        }
        reclaimed += v.space_reclaimed;
    }
    let mut image_filters = filters.clone();
    image_filters.add("dangling", if args.all { "false" } else { "true" });
    let i = client.images_prune(&image_filters).await?;
    let items = i.images_deleted.unwrap_or_default();
    if !items.is_empty() {
        out.push_str("Deleted Images:\n");
        for item in &items {
            if let Some(u) = &item.untagged {
                out.push_str(&format!("untagged: {u}\n"));
            }
            if let Some(d) = &item.deleted {
                out.push_str(&format!("deleted: {d}\n"));
            }
        }
        out.push('\n');
    }
    reclaimed += i.space_reclaimed;
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        crate::format::units::human_size(reclaimed as f64)
    ));
    crate::output::print(&out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_text_is_aligned() {
        let c = client_version();
        let text = client_text(&c);
        assert!(text.starts_with("Client:\n Version:           "), "{text}");
        let v = json!({"Platform": {"Name": "Berth"}, "Version": "0.1.0", "ApiVersion": "1.50", "MinAPIVersion": "1.41", "Os": "linux", "Arch": "amd64"});
        let text = server_text(&v);
        assert!(
            text.contains("\nServer: Berth\n Engine:\n  Version:          0.1.0\n"),
            "{text}"
        );
        assert!(
            text.contains("  API version:      1.50 (minimum version 1.41)\n"),
            "{text}"
        );
    }

    #[test]
    fn version_format_sees_client_and_server() {
        let data = json!({"Client": client_version(), "Server": {"Version": "9"}});
        assert_eq!(render_format("{{.Server.Version}}", &data).unwrap(), "9\n");
        assert_eq!(
            render_format("{{.Client.ApiVersion}}", &data).unwrap(),
            format!("{API_VERSION}\n")
        );
    }

    #[test]
    fn info_text_layout() {
        let v = json!({"Containers": 3, "ContainersRunning": 1, "Images": 2, "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"]], "SecurityOptions": ["name=seccomp,profile=builtin"],
            "MemTotal": 8_200_000_000i64, "NCPU": 2, "Runtimes": {"berth": {}}});
        let t = info_text(&v);
        assert!(t.contains(" Containers: 3\n  Running: 1\n"), "{t}");
        assert!(
            t.contains(" Storage Driver: overlay2\n  Backing Filesystem: extfs\n"),
            "{t}"
        );
        assert!(
            t.contains(" Security Options:\n  seccomp\n   Profile: builtin\n"),
            "{t}"
        );
        assert!(t.contains(" Total Memory: 7.637GiB\n"), "{t}");
        assert!(t.contains(" Runtimes: berth\n"), "{t}");
    }
}
