//! `pull` and `push`: the daemon talks to the registry (`POST /images/create?fromImage=`,
//! `POST /images/{name}/push`); the CLI only finds the credentials `login` stored for that
//! registry, sends them as `X-Registry-Auth`, and shows the progress as Docker does.

use crate::args::{PullArgs, PushArgs};
use crate::autostart::Target;
use crate::credentials::{self, DOCKER_HUB};
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
