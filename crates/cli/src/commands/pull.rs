//! `pull`, `push` and `search`: the daemon talks to the registry (`POST /images/create?fromImage=`,
//! `POST /images/{name}/push`); the CLI only finds the credentials `login` stored for that
//! registry, sends them as `X-Registry-Auth`, and shows the progress as Docker does.

use crate::args::{PullArgs, PushArgs, SearchArgs};
use crate::autostart::Target;
use crate::credentials::{self, DOCKER_HUB};
use crate::format::{table, template};
use crate::{output, progress};
use anyhow::{Result, bail};
use berth_api_types::system::AuthConfig;
use berth_common::Reference;

/// The credentials stored for the registry of `reference` (Docker Hub's under its URL, as
/// `docker login` keeps them).
pub fn auth_for(reference: &Reference) -> Option<AuthConfig> {
    let server = match reference.domain() {
        "docker.io" => DOCKER_HUB.to_string(),
        d => d.to_string(),
    };
    let (username, password) = credentials::get(&server).ok().flatten()?;
    Some(AuthConfig {
        username,
        password,
        serveraddress: server,
        ..Default::default()
    })
}

/// `pull [-a] [-q] [--platform P] NAME[:TAG|@DIGEST]`.
pub async fn pull(target: &Target, args: PullArgs) -> Result<()> {
    let r = Reference::parse(&args.image)?;
    if args.all_tags && (r.tag().is_some() || r.digest().is_some()) {
        bail!("tag can't be used with --all-tags/-a");
    }
    let tag = match (r.tag(), r.digest()) {
        (_, Some(d)) => Some(d.to_string()),
        (Some(t), None) => Some(t.to_string()),
        (None, None) if args.all_tags => None,
        (None, None) => {
            if !args.quiet {
                output::print("Using default tag: latest\n")?;
            }
            Some("latest".to_string())
        }
    };
    let client = target.connect().await?;
    let auth = auth_for(&r);
    let stream = client
        .image_pull(
            &r.without_digest().familiar_name(),
            tag.as_deref(),
            args.platform.as_deref(),
            auth.as_ref(),
        )
        .await?;
    let tty = output::stdout_is_tty();
    if args.quiet {
        progress::consume(stream).await?;
    } else {
        progress::show(stream, tty).await?;
    }
    // Docker ends with the full reference pulled (the repository for `-a`).
    let full = match (&tag, r.digest()) {
        (_, Some(d)) => r.with_digest(d.clone()).to_string(),
        (Some(t), None) => r.with_tag(t)?.to_string(),
        (None, None) => r.name(),
    };
    output::print(&format!("{full}\n"))?;
    Ok(())
}

/// `push [-a] [-q] NAME[:TAG]`.
pub async fn push(target: &Target, args: PushArgs) -> Result<()> {
    let r = Reference::parse(&args.image)?;
    if r.digest().is_some() {
        bail!("cannot push a digest reference");
    }
    if args.all_tags && r.tag().is_some() {
        bail!("tag can't be used with --all-tags/-a");
    }
    let tag = match r.tag() {
        Some(t) => Some(t.to_string()),
        None if args.all_tags => None,
        None => {
            if !args.quiet {
                output::print(&format!(
                    "Using default tag: latest\nThe push refers to repository [{}]\n",
                    r.name()
                ))?;
            }
            Some("latest".to_string())
        }
    };
    let client = target.connect().await?;
    let auth = auth_for(&r);
    let stream = client
        .image_push(&r.familiar_name(), tag.as_deref(), auth.as_ref())
        .await?;
    let tty = output::stdout_is_tty();
    if args.quiet {
        progress::consume(stream).await?;
        output::print(&format!(
            "{}\n",
            match &tag {
                Some(t) => r.with_tag(t)?.to_string(),
                None => r.name(),
            }
        ))?;
    } else {
        progress::show(stream, tty).await?;
    }
    Ok(())
}

/// `search`'s default table (Docker's columns).
const SEARCH_FORMAT: &str = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}";
/// Column titles.
const SEARCH_HEADERS: &[(&str, &str)] = &[
    ("Name", "NAME"),
    ("Description", "DESCRIPTION"),
    ("StarCount", "STARS"),
    ("IsOfficial", "OFFICIAL"),
];

/// One `search` row as templates see it (Docker's `searchContext`).
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct SearchRow {
    name: String,
    description: String,
    star_count: String,
    is_official: String,
}

/// `search [--limit N] [--filter K=V] [--format F] [--no-trunc] TERM`.
pub async fn search(target: &Target, args: SearchArgs) -> Result<()> {
    let filters = berth_api_types::Filters::from_cli(&args.filter)?;
    let host = args
        .term
        .split_once('/')
        .map(|(h, _)| h)
        .filter(|h| h.contains('.') || h.contains(':') || *h == "localhost");
    let auth = match host {
        Some(h) => Reference::parse(&format!("{h}/x"))
            .ok()
            .and_then(|r| auth_for(&r)),
        None => Reference::parse("x").ok().and_then(|r| auth_for(&r)),
    };
    let client = target.connect().await?;
    let results = client
        .image_search(&args.term, args.limit, &filters, auth.as_ref())
        .await?;
    let fmt = match args.format.as_deref() {
        Some(f) if !f.is_empty() => table::Format::parse(f, SEARCH_FORMAT),
        _ => table::Format::parse(SEARCH_FORMAT, SEARCH_FORMAT),
    };
    let rows = results
        .iter()
        .map(|r| {
            let description = r.description.replace('\n', " ");
            template::to_value(&SearchRow {
                name: r.name.clone(),
                description: if args.no_trunc {
                    description
                } else {
                    crate::format::ellipsis(&description, 45)
                },
                star_count: r.star_count.to_string(),
                is_official: if r.is_official {
                    "[OK]".into()
                } else {
                    String::new()
                },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    output::print(&table::render(&fmt, &rows, SEARCH_HEADERS)?)?;
    Ok(())
}
