//! `images`, `history`, `tag`, `rmi` and `image prune`.

use crate::args::{HistoryArgs, ImagesArgs, PruneArgs, RmiArgs, TagArgs};
use crate::autostart::Target;
use crate::format::{self, history, images, table, template, units};
use crate::output;
use anyhow::{Result, anyhow, bail};
use berth_api_types::Filters;
use berth_api_types::image::ImageDeleteItem;
use berth_common::Reference;
use std::io::BufRead;

/// Turns rows into template values and renders them.
fn render_rows<T: serde::Serialize>(
    fmt: &table::Format,
    rows: &[T],
    headers: &[(&str, &str)],
) -> Result<String> {
    let values = rows
        .iter()
        .map(template::to_value)
        .collect::<Result<Vec<_>>>()?;
    table::render(fmt, &values, headers)
}

/// The filters of `images`: `--filter` values plus the optional `REPOSITORY[:TAG]`, which
/// Docker sends as a `reference` filter.
pub fn list_filters(args: &ImagesArgs) -> Result<Filters> {
    let mut f = Filters::from_cli(&args.filter)?;
    if let Some(r) = &args.reference {
        f.add("reference", r.clone());
    }
    Ok(f)
}

/// `images` / `image ls`.
pub async fn list(target: &Target, args: ImagesArgs) -> Result<()> {
    let filters = list_filters(&args)?;
    let fmt = images::format_for(args.format.as_deref(), args.quiet, args.digests);
    let client = target.connect().await?;
    let list = client.images_list(args.all, &filters, args.digests).await?;
    let rows = images::rows(&list, !args.no_trunc, args.digests, format::now_unix());
    output::print(&render_rows(&fmt, &rows, images::HEADERS)?)?;
    Ok(())
}

/// `history`.
pub async fn history(target: &Target, args: HistoryArgs) -> Result<()> {
    let fmt = history::format_for(args.format.as_deref(), args.quiet, args.human);
    let client = target.connect().await?;
    let items = client.image_history(&args.image).await?;
    let rows = history::rows(&items, args.human, !args.no_trunc, format::now_unix());
    output::print(&render_rows(&fmt, &rows, history::HEADERS)?)?;
    Ok(())
}

/// Splits a tag target into the `repo` and `tag` query values Docker's client sends.
pub fn tag_target(target: &str) -> Result<(String, String)> {
    let r = Reference::parse(target).map_err(|e| {
        anyhow!("Error parsing reference: {target:?} is not a valid repository/tag: {e}")
    })?;
    if r.digest().is_some() {
        bail!("refusing to create a tag with a digest reference");
    }
    Ok((r.familiar_name(), r.tag().unwrap_or("latest").to_string()))
}

/// `tag SOURCE TARGET`.
pub async fn tag(target: &Target, args: TagArgs) -> Result<()> {
    let (repo, tag) = tag_target(&args.target)?;
    let client = target.connect().await?;
    client.image_tag(&args.source, &repo, Some(&tag)).await?;
    Ok(())
}

/// `Untagged: x` / `Deleted: y` lines of `rmi`.
pub fn removal_lines(items: &[ImageDeleteItem]) -> String {
    let mut out = String::new();
    for item in items {
        match (&item.deleted, &item.untagged) {
            (Some(d), _) if !d.is_empty() => out.push_str(&format!("Deleted: {d}\n")),
            (_, Some(u)) => out.push_str(&format!("Untagged: {u}\n")),
            _ => {}
        }
    }
    out
}

/// `rmi`: removes each name in turn; failures are reported together at the end, as Docker does.
pub async fn remove(target: &Target, args: RmiArgs) -> Result<()> {
    let client = target.connect().await?;
    let mut errors = Vec::new();
    for name in &args.names {
        match client.image_remove(name, args.force, args.no_prune).await {
            Ok(items) => output::print(&removal_lines(&items))?,
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
pub fn prune_report(items: &[ImageDeleteItem], reclaimed: u64) -> String {
    let mut out = String::new();
    if !items.is_empty() {
        out.push_str("Deleted Images:\n");
        for item in items {
            match (&item.untagged, &item.deleted) {
                (Some(u), _) if !u.is_empty() => out.push_str(&format!("untagged: {u}\n")),
                (_, Some(d)) => out.push_str(&format!("deleted: {d}\n")),
                _ => {}
            }
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        units::human_size(reclaimed as f64)
    ));
    out
}

/// Docker's confirmation prompt; true on `y`/`Y`.
pub(crate) fn confirm(warning: &str) -> Result<bool> {
    output::print(&format!(
        "{warning}\nAre you sure you want to continue? [y/N] "
    ))?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y"))
}

/// `image prune`.
pub async fn prune(target: &Target, args: PruneArgs) -> Result<()> {
    let mut filters = Filters::from_cli(&args.filter)?;
    filters.add("dangling", if args.all { "false" } else { "true" });
    let warning = if args.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !args.force && !confirm(warning)? {
        return Ok(());
    }
    let client = target.connect().await?;
    let report = client.images_prune(&filters).await?;
    let items = report.images_deleted.unwrap_or_default();
    output::print(&prune_report(&items, report.space_reclaimed))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(untagged: Option<&str>, deleted: Option<&str>) -> ImageDeleteItem {
        ImageDeleteItem {
            untagged: untagged.map(Into::into),
            deleted: deleted.map(Into::into),
        }
    }

    #[test]
    fn rmi_and_prune_output() {
        let items = [item(Some("a:b"), None), item(None, Some("sha256:dd"))];
        assert_eq!(removal_lines(&items), "Untagged: a:b\nDeleted: sha256:dd\n");
        assert_eq!(
            prune_report(&items, 1_234_567),
            "Deleted Images:\nuntagged: a:b\ndeleted: sha256:dd\n\nTotal reclaimed space: 1.235MB\n"
        );
        assert_eq!(prune_report(&[], 0), "Total reclaimed space: 0B\n");
    }

    #[test]
    fn tag_targets() {
        assert_eq!(
            tag_target("busybox").unwrap(),
            ("busybox".into(), "latest".into())
        );
        assert_eq!(
            tag_target("ghcr.io/a/b:1").unwrap(),
            ("ghcr.io/a/b".into(), "1".into())
        );
        let e = tag_target("BAD").unwrap_err().to_string();
        assert!(
            e.starts_with("Error parsing reference: \"BAD\" is not a valid repository/tag"),
            "{e}"
        );
    }

    #[test]
    fn filters_from_flags_and_reference() {
        use clap::Parser;
        let cli =
            crate::args::Cli::try_parse_from(["berth", "images", "-f", "dangling=true", "busy*"])
                .unwrap();
        let crate::args::Command::Images(a) = cli.command else {
            panic!()
        };
        let f = list_filters(&a).unwrap();
        assert_eq!(f.get("dangling"), ["true"]);
        assert_eq!(f.get("reference"), ["busy*"]);
        assert_eq!(
            f.to_json(),
            r#"{"dangling":{"true":true},"reference":{"busy*":true}}"#
        );
    }
}
