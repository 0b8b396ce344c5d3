//! `berth system df`: what images, containers, volumes, the build cache and container logs
//! take on disk, as `docker system df` prints it (plus the logs, which Docker does not count).

use crate::args::DfArgs;
use crate::autostart::Target;
use crate::format::table::{self, Format};
use crate::format::template;
use crate::format::units::human_size;
use crate::output;
use anyhow::Result;
use berth_api_types::system::DiskUsage;
use serde::Serialize;

/// Docker's default table.
const DEFAULT_FORMAT: &str =
    "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
const HEADERS: &[(&str, &str)] = &[
    ("Type", "TYPE"),
    ("TotalCount", "TOTAL"),
    ("Active", "ACTIVE"),
    ("Size", "SIZE"),
    ("Reclaimable", "RECLAIMABLE"),
];

/// One row of the summary.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Row {
    /// `Images`, `Containers`, `Local Volumes`, `Build Cache`, `Container logs`.
    pub r#type: String,
    /// How many there are.
    pub total_count: String,
    /// How many are in use.
    pub active: String,
    /// Bytes they take, human-readable.
    pub size: String,
    /// Bytes a prune would free, human-readable, with the share of `size` in parentheses.
    pub reclaimable: String,
}

/// `X (Y%)` as Docker writes reclaimable space.
fn with_share(reclaimable: i64, total: i64) -> String {
    if total > 0 {
        format!(
            "{} ({}%)",
            human_size(reclaimable as f64),
            reclaimable * 100 / total
        )
    } else {
        human_size(reclaimable as f64)
    }
}

/// The summary rows, with Docker's arithmetic.
pub fn rows(df: &DiskUsage) -> Vec<Row> {
    let used_by_images: i64 = df
        .images
        .iter()
        .filter(|i| i.containers > 0)
        .map(|i| i.size - i.shared_size.max(0))
        .sum();
    let images_reclaimable = (df.layers_size - used_by_images).max(0);
    let running = |state: &str| state == "running" || state == "paused";
    let containers_size: i64 = df.containers.iter().filter_map(|c| c.size_rw).sum();
    let containers_reclaimable: i64 = df
        .containers
        .iter()
        .filter(|c| !running(&c.state))
        .filter_map(|c| c.size_rw)
        .sum();
    let usage = |v: &berth_api_types::volume::Volume| v.usage_data.clone().unwrap_or_default();
    let volumes_size: i64 = df.volumes.iter().map(|v| usage(v).size.max(0)).sum();
    let volumes_reclaimable: i64 = df
        .volumes
        .iter()
        .filter(|v| usage(v).ref_count == 0)
        .map(|v| usage(v).size.max(0))
        .sum();
    let active_containers = df.containers.iter().filter(|c| running(&c.state)).count();
    vec![
        Row {
            r#type: "Images".into(),
            total_count: df.images.len().to_string(),
            active: df
                .images
                .iter()
                .filter(|i| i.containers > 0)
                .count()
                .to_string(),
            size: human_size(df.layers_size as f64),
            reclaimable: with_share(images_reclaimable, df.layers_size),
        },
        Row {
            r#type: "Containers".into(),
            total_count: df.containers.len().to_string(),
            active: active_containers.to_string(),
            size: human_size(containers_size as f64),
            reclaimable: with_share(containers_reclaimable, containers_size),
        },
        Row {
            r#type: "Local Volumes".into(),
            total_count: df.volumes.len().to_string(),
            active: df
                .volumes
                .iter()
                .filter(|v| usage(v).ref_count > 0)
                .count()
                .to_string(),
            size: human_size(volumes_size as f64),
            reclaimable: with_share(volumes_reclaimable, volumes_size),
        },
        Row {
            r#type: "Build Cache".into(),
            total_count: df.build_cache.len().to_string(),
            active: df
                .build_cache
                .iter()
                .filter(|c| c.in_use)
                .count()
                .to_string(),
            // As Docker counts it: records shared with images are the images' bytes.
            size: human_size(
                df.build_cache
                    .iter()
                    .filter(|c| !c.shared)
                    .map(|c| c.size.max(0) as f64)
                    .sum(),
            ),
            reclaimable: human_size(
                df.build_cache
                    .iter()
                    .filter(|c| !c.shared && !c.in_use)
                    .map(|c| c.size.max(0) as f64)
                    .sum(),
            ),
        },
        Row {
            r#type: "Container logs".into(),
            total_count: df.containers.len().to_string(),
            active: active_containers.to_string(),
            size: human_size(df.logs_size as f64),
            reclaimable: human_size(0.0),
        },
    ]
}

/// The per-object listing of `-v`.
fn verbose(df: &DiskUsage) -> Result<String> {
    let mut out = String::from("Images space usage:\n\n");
    let mut t = String::from("REPOSITORY\tTAG\tIMAGE ID\tSIZE\tSHARED SIZE\tCONTAINERS\n");
    for i in &df.images {
        let short =
            i.id.trim_start_matches("sha256:")
                .chars()
                .take(12)
                .collect::<String>();
        let tags = if i.repo_tags.is_empty() {
            vec!["<none>:<none>".to_string()]
        } else {
            i.repo_tags.clone()
        };
        for tag in tags {
            let (repo, tag) = tag.rsplit_once(':').unwrap_or((&tag, "<none>"));
            t.push_str(&format!(
                "{repo}\t{tag}\t{short}\t{}\t{}\t{}\n",
                human_size(i.size as f64),
                human_size(i.shared_size.max(0) as f64),
                i.containers
            ));
        }
    }
    out.push_str(&table::align(&t)?);
    out.push_str("\nContainers space usage:\n\n");
    let mut t = String::from("CONTAINER ID\tIMAGE\tSIZE\tSTATUS\tNAMES\n");
    for c in &df.containers {
        t.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            &c.id[..c.id.len().min(12)],
            c.image,
            human_size(c.size_rw.unwrap_or(0) as f64),
            c.status,
            c.names
                .iter()
                .map(|n| n.trim_start_matches('/'))
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    out.push_str(&table::align(&t)?);
    out.push_str("\nLocal Volumes space usage:\n\n");
    let mut t = String::from("VOLUME NAME\tLINKS\tSIZE\n");
    for v in &df.volumes {
        let u = v.usage_data.clone().unwrap_or_default();
        t.push_str(&format!(
            "{}\t{}\t{}\n",
            v.name,
            u.ref_count,
            human_size(u.size.max(0) as f64)
        ));
    }
    out.push_str(&table::align(&t)?);
    let cache_size: i64 = df.build_cache.iter().map(|c| c.size.max(0)).sum();
    out.push_str(&format!(
        "\nBuild cache usage: {}\n\n",
        human_size(cache_size as f64)
    ));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let ago = |t: Option<&str>| {
        t.and_then(berth_common::time::parse_nanos)
            .map_or_else(String::new, |n| {
                crate::format::units::since((n / 1_000_000_000) as i64, now)
            })
    };
    let mut t = String::from("CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED\n");
    for c in &df.build_cache {
        t.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            c.id,
            c.kind,
            human_size(c.size.max(0) as f64),
            ago(Some(&c.created_at)),
            ago(c.last_used_at.as_deref()),
            c.usage_count,
            c.shared
        ));
    }
    out.push_str(&table::align(&t)?);
    out.push_str(&format!(
        "\nContainer logs: {}\n",
        human_size(df.logs_size as f64)
    ));
    Ok(out)
}

/// `berth system df [-v] [--format]`.
pub async fn df(target: &Target, args: DfArgs) -> Result<()> {
    let client = target.connect().await?;
    let usage = client.disk_usage().await?;
    if args.verbose && args.format.is_none() {
        return output::print(&verbose(&usage)?).map_err(Into::into);
    }
    let fmt = match args.format.as_deref() {
        Some(f) if !f.is_empty() => Format::parse(f, DEFAULT_FORMAT),
        _ => Format::parse(DEFAULT_FORMAT, DEFAULT_FORMAT),
    };
    let values = rows(&usage)
        .iter()
        .map(template::to_value)
        .collect::<Result<Vec<_>>>()?;
    output::print(&table::render(&fmt, &values, HEADERS)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api_types::image::ImageSummary;

    #[test]
    fn reclaimable_space_follows_dockers_arithmetic() {
        let df = DiskUsage {
            layers_size: 10_000_000,
            images: vec![
                ImageSummary {
                    id: "sha256:a".into(),
                    size: 6_000_000,
                    containers: 1,
                    ..Default::default()
                },
                ImageSummary {
                    id: "sha256:b".into(),
                    size: 4_000_000,
                    ..Default::default()
                },
            ],
            logs_size: 2048,
            build_cache: vec![
                berth_api_types::build::BuildCache {
                    size: 3_000_000,
                    ..Default::default()
                },
                berth_api_types::build::BuildCache {
                    size: 1_000_000,
                    in_use: true,
                    ..Default::default()
                },
                berth_api_types::build::BuildCache {
                    size: 5_000_000,
                    shared: true,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let r = rows(&df);
        assert_eq!(r[0].total_count, "2");
        assert_eq!(r[0].active, "1");
        assert_eq!(r[0].size, "10MB");
        assert_eq!(r[0].reclaimable, "4MB (40%)");
        assert_eq!(r[3].r#type, "Build Cache");
        // Shared records are the images' bytes; in-use ones are not reclaimable.
        assert_eq!(
            (r[3].size.as_str(), r[3].reclaimable.as_str()),
            ("4MB", "3MB")
        );
        assert_eq!(r[4].size, "2.048kB");
    }
}
