//! `volume create`, `volume ls`, `volume inspect`, `volume rm` and `volume prune`.

use crate::args::{
    VolumeCreateArgs, VolumeInspectArgs, VolumeLsArgs, VolumePruneArgs, VolumeRmArgs,
};
use crate::autostart::Target;
use crate::commands::images::confirm;
use crate::commands::inspect::finish;
use crate::format::{table, template, units};
use crate::output;
use anyhow::{Result, anyhow};
use berth_api_types::Filters;
use berth_api_types::volume::{Volume, VolumeCreateOptions};
use berth_client::ClientError;
use serde::Serialize;
use std::collections::BTreeMap;

/// The default `volume ls` table.
pub const DEFAULT_FORMAT: &str = "table {{.Driver}}\t{{.Name}}";
/// `volume ls -q`.
pub const QUIET_FORMAT: &str = "{{.Name}}";
/// Column titles Docker shows for each field.
pub const HEADERS: &[(&str, &str)] = &[
    ("Name", "VOLUME NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Labels", "LABELS"),
    ("Links", "LINKS"),
    ("Size", "SIZE"),
    ("Availability", "AVAILABILITY"),
    ("Group", "GROUP"),
];

/// One `volume ls` row as templates see it (Docker's `volumeContext` fields).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeRow {
    /// Volume name.
    pub name: String,
    /// Driver.
    pub driver: String,
    /// `local` or `global`.
    pub scope: String,
    /// Host path of the data.
    pub mountpoint: String,
    /// `k=v` pairs joined by commas.
    pub labels: String,
    /// Containers using it; `N/A` without usage data.
    pub links: String,
    /// Size; `N/A` without usage data.
    pub size: String,
    /// Cluster volumes only; empty here.
    pub availability: String,
    /// Cluster volumes only; empty here.
    pub group: String,
}

impl From<&Volume> for VolumeRow {
    fn from(v: &Volume) -> Self {
        let labels = v
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let (links, size) = match &v.usage_data {
            Some(u) if u.size >= 0 => (u.ref_count.to_string(), units::human_size(u.size as f64)),
            _ => ("N/A".into(), "N/A".into()),
        };
        VolumeRow {
            name: v.name.clone(),
            driver: v.driver.clone(),
            scope: v.scope.clone(),
            mountpoint: v.mountpoint.clone(),
            labels,
            links,
            size,
            availability: String::new(),
            group: String::new(),
        }
    }
}

/// Splits `k=v` flags into a map; a bare `k` maps to "" (Docker's `--label` behaviour).
fn key_values(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (s.clone(), String::new()),
        })
        .collect()
}

/// The create request for the flags given.
pub fn create_options(args: &VolumeCreateArgs) -> VolumeCreateOptions {
    VolumeCreateOptions {
        name: args.name.clone().unwrap_or_default(),
        driver: args.driver.clone(),
        driver_opts: key_values(&args.opt),
        labels: key_values(&args.label),
    }
}

/// `volume create`: prints the volume's name.
pub async fn create(target: &Target, args: VolumeCreateArgs) -> Result<()> {
    let client = target.connect().await?;
    let v = client.volume_create(&create_options(&args)).await?;
    output::print(&format!("{}\n", v.name))?;
    Ok(())
}

/// Renders `volume ls` output.
pub fn render_list(volumes: &[Volume], user: Option<&str>, quiet: bool) -> Result<String> {
    let fmt = match user {
        _ if quiet => table::Format::parse(QUIET_FORMAT, DEFAULT_FORMAT),
        Some(f) if !f.is_empty() => table::Format::parse(f, DEFAULT_FORMAT),
        _ => table::Format::parse(DEFAULT_FORMAT, DEFAULT_FORMAT),
    };
    let values = volumes
        .iter()
        .map(|v| template::to_value(&VolumeRow::from(v)))
        .collect::<Result<Vec<_>>>()?;
    table::render(&fmt, &values, HEADERS)
}

/// `volume ls`.
pub async fn list(target: &Target, args: VolumeLsArgs) -> Result<()> {
    let filters = Filters::from_cli(&args.filter)?;
    let client = target.connect().await?;
    let resp = client.volumes_list(&filters).await?;
    for w in &resp.warnings {
        eprintln!("WARNING: {w}");
    }
    output::print(&render_list(
        &resp.volumes,
        args.format.as_deref(),
        args.quiet,
    )?)?;
    Ok(())
}

/// `volume inspect NAME...`: what is found is printed, errors come after (exit 1).
pub async fn inspect(target: &Target, args: VolumeInspectArgs) -> Result<()> {
    let client = target.connect().await?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &args.names {
        match client.volume_inspect(name).await {
            Ok(v) => found.push(v),
            Err(e @ ClientError::Api { .. }) => errors.push(e.to_string()),
            Err(e) => return Err(e.into()),
        }
    }
    finish(&found, args.format.as_deref(), errors)
}

/// `volume rm NAME...`: prints each removed name; failures are reported together at the end.
pub async fn remove(target: &Target, args: VolumeRmArgs) -> Result<()> {
    let client = target.connect().await?;
    let mut errors = Vec::new();
    for name in &args.names {
        match client.volume_remove(name, args.force).await {
            Ok(()) => output::print(&format!("{name}\n"))?,
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("{}", errors.join("\n")))
    }
}

/// The prune report as Docker prints it.
pub fn prune_report(deleted: &[String], reclaimed: u64) -> String {
    let mut out = String::new();
    if !deleted.is_empty() {
        out.push_str("Deleted Volumes:\n");
        for name in deleted {
            out.push_str(name);
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        units::human_size(reclaimed as f64)
    ));
    out
}

/// `volume prune`: anonymous volumes only, all unused ones with `-a` (Docker ≥ 23).
pub async fn prune(target: &Target, args: VolumePruneArgs) -> Result<()> {
    let mut filters = Filters::from_cli(&args.filter)?;
    if args.all {
        filters.add("all", "true");
    }
    let warning = if args.all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !args.force && !confirm(warning)? {
        return Ok(());
    }
    let client = target.connect().await?;
    let report = client.volumes_prune(&filters).await?;
    let deleted = report.volumes_deleted.unwrap_or_default();
    output::print(&prune_report(&deleted, report.space_reclaimed))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_flags_become_options() {
        use clap::Parser;
        let cli = crate::args::Cli::try_parse_from([
            "berth",
            "volume",
            "create",
            "-o",
            "type=tmpfs",
            "--opt",
            "o=size=100m",
            "--label",
            "a=b",
            "--label",
            "c",
            "data",
        ])
        .unwrap();
        let crate::args::Command::Volume(crate::args::VolumeCommand::Create(a)) = cli.command
        else {
            panic!()
        };
        let o = create_options(&a);
        assert_eq!(o.name, "data");
        assert_eq!(o.driver, "local");
        assert_eq!(o.driver_opts["type"], "tmpfs");
        assert_eq!(o.driver_opts["o"], "size=100m");
        assert_eq!(o.labels["a"], "b");
        assert_eq!(o.labels["c"], "");
    }

    #[test]
    fn ls_table_and_quiet() {
        let v = Volume {
            name: "data".into(),
            driver: "local".into(),
            scope: "local".into(),
            ..Default::default()
        };
        let out = render_list(std::slice::from_ref(&v), None, false).unwrap();
        assert_eq!(out, "DRIVER    VOLUME NAME\nlocal     data\n");
        assert_eq!(render_list(&[v], None, true).unwrap(), "data\n");
    }

    #[test]
    fn prune_output() {
        assert_eq!(
            prune_report(&["a".into()], 0),
            "Deleted Volumes:\na\n\nTotal reclaimed space: 0B\n"
        );
        assert_eq!(prune_report(&[], 0), "Total reclaimed space: 0B\n");
    }
}
