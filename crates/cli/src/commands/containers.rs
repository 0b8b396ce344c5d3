//! The container commands that make one or a few API calls and print Docker's output: `ps`,
//! `stop`, `kill`, `restart`, `rm`, `wait`, `pause`, `unpause`, `rename`, `top`, `diff`,
//! `port`, `update`, `container prune`, `export`, `commit`, `logs` and `container inspect`.

use crate::args::{
    CommitArgs, ContainerInspectArgs, ContainerPruneArgs, ContainersArgs, DiffArgs, ExportArgs,
    KillArgs, LogsArgs, PortArgs, PsArgs, RenameArgs, RmArgs, StopArgs, TopArgs, UpdateArgs,
};
use crate::autostart::Target;
use crate::commands::images::confirm;
use crate::commands::inspect::finish;
use crate::format::containers::{PS_HEADERS, container_row, port_lines, ps_format};
use crate::format::{now_unix, table, template, units};
use crate::output;
use anyhow::{Context as _, Result, anyhow, bail};
use berth_api_types::Filters;
use berth_api_types::container::{ContainerChange, ContainerUpdateRequest};
use berth_api_types::shorthand::{
    parse_memory_swap, parse_nano_cpus, parse_ram_bytes, parse_restart_policy,
};
use berth_client::{ClientError, CommitOptions, ListOptions, LogsOptions, WaitCondition};
use berth_common::Reference;
use futures_util::future::join_all;
use std::future::Future;
use tokio::io::AsyncWriteExt;

/// Runs `op` on every container at once (as Docker's `parallelOperation` does), prints the
/// names that succeeded in the order given, and fails with the collected errors, one per line.
async fn each<F, Fut>(names: &[String], op: F) -> Result<()>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<(), ClientError>>,
{
    each_tolerant(names, op, |_| false).await
}

/// [`each`], with errors `tolerated` printed on stderr without failing the command.
async fn each_tolerant<F, Fut>(
    names: &[String],
    op: F,
    tolerated: impl Fn(&ClientError) -> bool,
) -> Result<()>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<(), ClientError>>,
{
    let results = join_all(names.iter().map(|n| op(n.clone()))).await;
    let mut errors = Vec::new();
    for (name, r) in names.iter().zip(results) {
        match r {
            Ok(()) => output::print(&format!("{name}\n"))?,
            Err(e) if tolerated(&e) => eprintln!("{e}"),
            Err(e @ ClientError::Api { .. }) => errors.push(e.to_string()),
            Err(e) => return Err(e.into()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("{}", errors.join("\n")))
    }
}

/// Renders `ps` output for a list of containers.
pub fn render_ps(
    containers: &[berth_api_types::container::ContainerSummary],
    args: &PsArgs,
    now: i64,
) -> Result<String> {
    let fmt = ps_format(args.format.as_deref(), args.quiet, args.size);
    let rows = containers
        .iter()
        .map(|c| template::to_value(&container_row(c, !args.no_trunc, now)))
        .collect::<Result<Vec<_>>>()?;
    table::render(&fmt, &rows, PS_HEADERS)
}

/// `ps` / `container ls`.
pub async fn ps(target: &Target, args: PsArgs) -> Result<()> {
    let filters = Filters::from_cli(&args.filter)?;
    let mut last = args.last;
    if args.latest && last == -1 {
        last = 1;
    }
    // A template that shows sizes needs the daemon to compute them.
    let size = args.size || args.format.as_deref().is_some_and(|f| f.contains(".Size"));
    let client = target.connect().await?;
    let list = client
        .containers_list(&ListOptions {
            all: args.all,
            limit: (last > 0).then_some(last),
            size,
            filters,
        })
        .await?;
    output::print(&render_ps(&list, &args, now_unix())?)?;
    Ok(())
}

/// `stop`.
pub async fn stop(target: &Target, args: StopArgs) -> Result<()> {
    let client = target.connect().await?;
    let (signal, timeout) = (args.signal.as_deref(), args.timeout);
    each(&args.containers, |id| {
        let client = client.clone();
        async move { client.container_stop(&id, signal, timeout).await }
    })
    .await
}

/// `restart`.
pub async fn restart(target: &Target, args: StopArgs) -> Result<()> {
    let client = target.connect().await?;
    let (signal, timeout) = (args.signal.as_deref(), args.timeout);
    each(&args.containers, |id| {
        let client = client.clone();
        async move { client.container_restart(&id, signal, timeout).await }
    })
    .await
}

/// `kill`.
pub async fn kill(target: &Target, args: KillArgs) -> Result<()> {
    let client = target.connect().await?;
    let signal = args.signal.as_deref();
    each(&args.containers, |id| {
        let client = client.clone();
        async move { client.container_kill(&id, signal).await }
    })
    .await
}

/// `rm`: with `-f`, containers that do not exist are reported but do not fail the command.
pub async fn rm(target: &Target, args: RmArgs) -> Result<()> {
    if args.link {
        bail!("--link is not supported: legacy links are not implemented");
    }
    let client = target.connect().await?;
    let (force, volumes) = (args.force, args.volumes);
    for name in &args.containers {
        if name.trim_matches('/').is_empty() {
            bail!("Container name cannot be empty");
        }
    }
    each_tolerant(
        &args.containers,
        |id| {
            let client = client.clone();
            async move {
                client
                    .container_remove(id.trim_matches('/'), force, volumes)
                    .await
            }
        },
        |e| force && e.is_not_found(),
    )
    .await
}

/// `pause`.
pub async fn pause(target: &Target, args: ContainersArgs) -> Result<()> {
    let client = target.connect().await?;
    each(&args.containers, |id| {
        let client = client.clone();
        async move { client.container_pause(&id).await }
    })
    .await
}

/// `unpause`.
pub async fn unpause(target: &Target, args: ContainersArgs) -> Result<()> {
    let client = target.connect().await?;
    each(&args.containers, |id| {
        let client = client.clone();
        async move { client.container_unpause(&id).await }
    })
    .await
}

/// `wait`: prints each container's exit code once it stops.
pub async fn wait(target: &Target, args: ContainersArgs) -> Result<()> {
    let client = target.connect().await?;
    let mut errors = Vec::new();
    for name in &args.containers {
        match client.container_wait(name, WaitCondition::NotRunning).await {
            Ok(r) => match r.error {
                Some(e) if !e.message.is_empty() => errors.push(e.message),
                _ => output::print(&format!("{}\n", r.status_code))?,
            },
            Err(e @ ClientError::Api { .. }) => errors.push(e.to_string()),
            Err(e) => return Err(e.into()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("{}", errors.join("\n")))
    }
}

/// `rename`.
pub async fn rename(target: &Target, args: RenameArgs) -> Result<()> {
    let (old, new) = (args.container.trim(), args.new_name.trim());
    if old.is_empty() || new.is_empty() {
        bail!("Error: Neither old nor new names may be empty");
    }
    let client = target.connect().await?;
    client
        .container_rename(old, new)
        .await
        .map_err(|e| anyhow!("Error: failed to rename container named {old}: {e}"))?;
    Ok(())
}

/// The `top` table: titles and rows aligned like Docker's (`tabwriter` width 20, padding 3).
pub fn render_top(titles: &[String], processes: &[Vec<String>]) -> Result<String> {
    let mut text = titles.join("\t");
    text.push('\n');
    for p in processes {
        text.push_str(&p.join("\t"));
        text.push('\n');
    }
    use std::io::Write;
    let mut tw = tabwriter::TabWriter::new(Vec::new())
        .minwidth(17)
        .padding(3);
    tw.write_all(text.as_bytes())?;
    tw.flush()?;
    let bytes = tw.into_inner().map_err(|e| anyhow!("{}", e.error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `top CONTAINER [ps OPTIONS]`.
pub async fn top(target: &Target, args: TopArgs) -> Result<()> {
    let client = target.connect().await?;
    let ps_args = args.ps_args.join(" ");
    let resp = client
        .container_top(
            &args.container,
            (!ps_args.is_empty()).then_some(ps_args.as_str()),
        )
        .await?;
    output::print(&render_top(&resp.titles, &resp.processes)?)?;
    Ok(())
}

/// `diff` lines: `C /etc`, `A /etc/x`, `D /tmp/y`.
pub fn diff_lines(changes: &[ContainerChange]) -> String {
    changes
        .iter()
        .map(|c| {
            let kind = match c.kind {
                0 => "C",
                1 => "A",
                2 => "D",
                _ => "?",
            };
            format!("{kind} {}\n", c.path)
        })
        .collect()
}

/// `diff`.
pub async fn diff(target: &Target, args: DiffArgs) -> Result<()> {
    let client = target.connect().await?;
    let changes = client.container_changes(&args.container).await?;
    output::print(&diff_lines(&changes))?;
    Ok(())
}

/// `port CONTAINER [PRIVATE_PORT[/PROTO]]`.
pub async fn port(target: &Target, args: PortArgs) -> Result<()> {
    let client = target.connect().await?;
    let c = client.container_inspect(&args.container, false).await?;
    match port_lines(&c.network_settings.ports, args.port.as_deref()) {
        Ok(lines) => {
            let mut text = String::new();
            for l in lines {
                text.push_str(&l);
                text.push('\n');
            }
            output::print(&text)?;
            Ok(())
        }
        Err(e) if e.starts_with("Error: No public port") => bail!("{e} for {}", args.container),
        Err(e) => bail!("{e}"),
    }
}

/// The update request for the flags; `None` when no flag was given.
pub fn update_request(args: &UpdateArgs) -> Result<Option<ContainerUpdateRequest>> {
    let bad = |v: &str, flag: &str, e: &dyn std::fmt::Display| {
        anyhow!("invalid argument \"{v}\" for \"{flag}\" flag: {e}")
    };
    let mut req = ContainerUpdateRequest::default();
    let mut any = false;
    let r = &mut req.resources;
    if let Some(v) = args.blkio_weight {
        r.blkio_weight = v;
        any = true;
    }
    if let Some(v) = args.cpu_period {
        r.cpu_period = v;
        any = true;
    }
    if let Some(v) = args.cpu_quota {
        r.cpu_quota = v;
        any = true;
    }
    if let Some(v) = args.cpu_rt_period {
        r.cpu_realtime_period = v;
        any = true;
    }
    if let Some(v) = args.cpu_rt_runtime {
        r.cpu_realtime_runtime = v;
        any = true;
    }
    if let Some(v) = args.cpu_shares {
        r.cpu_shares = v;
        any = true;
    }
    if let Some(v) = &args.cpus {
        r.nano_cpus = parse_nano_cpus(v).map_err(|e| bad(v, "--cpus", &e))?;
        any = true;
    }
    if let Some(v) = &args.cpuset_cpus {
        r.cpuset_cpus = v.clone();
        any = true;
    }
    if let Some(v) = &args.cpuset_mems {
        r.cpuset_mems = v.clone();
        any = true;
    }
    if let Some(v) = &args.memory {
        r.memory = parse_ram_bytes(v).map_err(|e| bad(v, "-m, --memory", &e))?;
        any = true;
    }
    if let Some(v) = &args.memory_reservation {
        r.memory_reservation =
            parse_ram_bytes(v).map_err(|e| bad(v, "--memory-reservation", &e))?;
        any = true;
    }
    if let Some(v) = &args.memory_swap {
        r.memory_swap = parse_memory_swap(v).map_err(|e| bad(v, "--memory-swap", &e))?;
        any = true;
    }
    if let Some(v) = args.pids_limit {
        r.pids_limit = Some(v);
        any = true;
    }
    if let Some(v) = &args.restart {
        req.restart_policy = Some(parse_restart_policy(v).map_err(|e| bad(v, "--restart", &e))?);
        any = true;
    }
    Ok(any.then_some(req))
}

/// `update`.
pub async fn update(target: &Target, args: UpdateArgs) -> Result<()> {
    let Some(req) = update_request(&args)? else {
        bail!("you must provide one or more flags when using this command");
    };
    let client = target.connect().await?;
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for name in &args.containers {
        match client.container_update(name, &req).await {
            Ok(r) => {
                output::print(&format!("{name}\n"))?;
                warnings.extend(r.warnings);
            }
            Err(e @ ClientError::Api { .. }) => errors.push(e.to_string()),
            Err(e) => return Err(e.into()),
        }
    }
    if !warnings.is_empty() {
        output::print(&format!("{}\n", warnings.join("\n")))?;
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("{}", errors.join("\n")))
    }
}

/// The `container prune` report.
pub fn prune_report(deleted: &[String], reclaimed: u64) -> String {
    let mut out = String::new();
    if !deleted.is_empty() {
        out.push_str("Deleted Containers:\n");
        for id in deleted {
            out.push_str(id);
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

/// `container prune`.
pub async fn prune(target: &Target, args: ContainerPruneArgs) -> Result<()> {
    let filters = Filters::from_cli(&args.filter)?;
    if !args.force && !confirm("WARNING! This will remove all stopped containers.")? {
        return Ok(());
    }
    let client = target.connect().await?;
    let r = client.containers_prune(&filters).await?;
    output::print(&prune_report(
        &r.containers_deleted.unwrap_or_default(),
        r.space_reclaimed,
    ))?;
    Ok(())
}

/// `export [-o FILE] CONTAINER`.
pub async fn export(target: &Target, args: ExportArgs) -> Result<()> {
    if args.output.is_none() && output::stdout_is_tty() {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let client = target.connect().await?;
    let mut tar = client.container_export(&args.container).await?;
    match &args.output {
        Some(path) => {
            let mut f = tokio::fs::File::create(path)
                .await
                .with_context(|| format!("failed to export container: {}", path.display()))?;
            tokio::io::copy(&mut tar, &mut f).await?;
            f.flush().await?;
        }
        None => {
            let mut out = tokio::io::stdout();
            tokio::io::copy(&mut tar, &mut out).await?;
            out.flush().await?;
        }
    }
    Ok(())
}

/// The `repo`/`tag` of a commit's `REPOSITORY[:TAG]`, as Docker's client splits it.
pub fn commit_reference(reference: &str) -> Result<(String, String)> {
    let r = Reference::parse(reference).map_err(|e| anyhow!("{e}"))?;
    if r.digest().is_some() {
        bail!("refusing to create a tag with a digest reference");
    }
    Ok((r.familiar_name(), r.tag().unwrap_or("latest").to_string()))
}

/// `commit`: prints the new image id.
pub async fn commit(target: &Target, args: CommitArgs) -> Result<()> {
    let (repo, tag) = match args.reference.as_deref().filter(|r| !r.is_empty()) {
        Some(r) => {
            let (repo, tag) = commit_reference(r)?;
            (Some(repo), Some(tag))
        }
        None => (None, None),
    };
    let client = target.connect().await?;
    let resp = client
        .container_commit(
            &args.container,
            &CommitOptions {
                repo,
                tag,
                comment: args.message.clone(),
                author: args.author.clone(),
                pause: args.pause,
                changes: args.change.clone(),
                config: None,
            },
        )
        .await?;
    output::print(&format!("{}\n", resp.id))?;
    Ok(())
}

/// Unix time now in nanoseconds, for relative `--since`/`--until`.
fn now_nanos() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// `logs`.
pub async fn logs(target: &Target, args: LogsArgs) -> Result<()> {
    let now = now_nanos();
    let since = args
        .since
        .as_deref()
        .map(|s| crate::commands::events::timestamp(s, now))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|s| crate::commands::events::timestamp(s, now))
        .transpose()?;
    let client = target.connect().await?;
    let c = client.container_inspect(&args.container, false).await?;
    let stream = client
        .container_logs(
            &c.id,
            &LogsOptions {
                follow: args.follow,
                stdout: true,
                stderr: true,
                since,
                until,
                timestamps: args.timestamps,
                tail: Some(args.tail.clone()),
            },
        )
        .await?;
    let multiplexed = stream.multiplexed.unwrap_or(!c.config.tty);
    let mut out = tokio::io::stdout();
    if multiplexed {
        let mut err = tokio::io::stderr();
        match berth_client::stdcopy::demux(stream.reader, &mut out, &mut err).await {
            Err(berth_client::stdcopy::StdcopyError::Io(e))
                if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            r => {
                r?;
            }
        }
    } else {
        let mut reader = stream.reader;
        match tokio::io::copy(&mut reader, &mut out).await {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            r => {
                r?;
            }
        }
    }
    let _ = out.flush().await;
    Ok(())
}

/// `container inspect`.
pub async fn inspect(target: &Target, args: ContainerInspectArgs) -> Result<()> {
    let client = target.connect().await?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &args.containers {
        match client.container_inspect_raw(name, args.size).await {
            Ok(v) => found.push(v),
            Err(e @ ClientError::Api { .. }) => errors.push(e.to_string()),
            Err(e) => return Err(e.into()),
        }
    }
    finish(&found, args.format.as_deref(), errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use berth_api_types::container::ContainerSummary;
    use clap::Parser;

    fn ps_args(args: &[&str]) -> PsArgs {
        let cli =
            Cli::try_parse_from(["berth", "ps"].into_iter().chain(args.iter().copied())).unwrap();
        match cli.command {
            Command::Ps(a) => a,
            other => panic!("{other:?}"),
        }
    }

    fn sample() -> Vec<ContainerSummary> {
        vec![
            ContainerSummary {
                id: "aaaaaaaaaaaaaaaaaaaaaaaa".into(),
                names: vec!["/web".into()],
                image: "nginx".into(),
                image_id: "sha256:1111111111111111".into(),
                command: "nginx -g 'daemon off;'".into(),
                created: 940,
                state: "running".into(),
                status: "Up 58 seconds".into(),
                ..Default::default()
            },
            ContainerSummary {
                id: "bbbbbbbbbbbbbbbbbbbbbbbb".into(),
                names: vec!["/job".into()],
                image: "busybox".into(),
                image_id: "sha256:2222222222222222".into(),
                command: "true".into(),
                created: 0,
                state: "exited".into(),
                status: "Exited (0) 2 minutes ago".into(),
                ..Default::default()
            },
        ]
    }

    #[test]
    fn ps_table_like_docker() {
        let out = render_ps(&sample(), &ps_args(&["-a"]), 1000).unwrap();
        assert_eq!(
            out,
            "CONTAINER ID   IMAGE     COMMAND                  CREATED              STATUS                     PORTS     NAMES\n\
             aaaaaaaaaaaa   nginx     \"nginx -g 'daemon of…\"   About a minute ago   Up 58 seconds                        web\n\
             bbbbbbbbbbbb   busybox   \"true\"                   16 minutes ago       Exited (0) 2 minutes ago             job\n"
        );
    }

    #[test]
    fn ps_quiet_json_and_templates() {
        let out = render_ps(&sample(), &ps_args(&["-q"]), 1000).unwrap();
        assert_eq!(out, "aaaaaaaaaaaa\nbbbbbbbbbbbb\n");
        let out = render_ps(&sample(), &ps_args(&["-q", "--no-trunc"]), 1000).unwrap();
        assert_eq!(out, "aaaaaaaaaaaaaaaaaaaaaaaa\nbbbbbbbbbbbbbbbbbbbbbbbb\n");
        let out = render_ps(
            &sample(),
            &ps_args(&["--format", "{{.Names}} {{.State}}"]),
            1000,
        )
        .unwrap();
        assert_eq!(out, "web running\njob exited\n");
        let out = render_ps(&sample()[..1], &ps_args(&["--format", "json"]), 1000).unwrap();
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["Names"], "web");
        assert_eq!(v["ID"], "aaaaaaaaaaaa");
        assert_eq!(v["RunningFor"], "About a minute ago");
        let out = render_ps(&[], &ps_args(&[]), 1000).unwrap();
        assert_eq!(
            out,
            "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"
        );
    }

    #[test]
    fn top_and_diff_output() {
        let out = render_top(
            &["UID".into(), "PID".into(), "CMD".into()],
            &[vec!["root".into(), "1".into(), "sleep 100".into()]],
        )
        .unwrap();
        assert_eq!(
            out,
            "UID                 PID                 CMD\nroot                1                   sleep 100\n"
        );
        let changes = [
            ContainerChange {
                path: "/etc".into(),
                kind: 0,
            },
            ContainerChange {
                path: "/etc/x".into(),
                kind: 1,
            },
            ContainerChange {
                path: "/tmp".into(),
                kind: 2,
            },
        ];
        assert_eq!(diff_lines(&changes), "C /etc\nA /etc/x\nD /tmp\n");
    }

    #[test]
    fn update_needs_a_flag() {
        let cli = Cli::try_parse_from(["berth", "update", "web"]).unwrap();
        let Command::Update(a) = cli.command else {
            panic!()
        };
        assert!(update_request(&a).unwrap().is_none());
        let cli = Cli::try_parse_from([
            "berth",
            "update",
            "-m",
            "256m",
            "--cpus",
            "0.5",
            "--restart",
            "always",
            "--pids-limit",
            "-1",
            "web",
        ])
        .unwrap();
        let Command::Update(a) = cli.command else {
            panic!()
        };
        let r = update_request(&a).unwrap().unwrap();
        assert_eq!(r.resources.memory, 256 << 20);
        assert_eq!(r.resources.nano_cpus, 500_000_000);
        assert_eq!(r.resources.pids_limit, Some(-1));
        assert_eq!(r.restart_policy.unwrap().name, "always");
    }

    #[test]
    fn prune_and_commit_helpers() {
        assert_eq!(
            prune_report(&["abc".into()], 1000),
            "Deleted Containers:\nabc\n\nTotal reclaimed space: 1kB\n"
        );
        assert_eq!(prune_report(&[], 0), "Total reclaimed space: 0B\n");
        assert_eq!(
            commit_reference("app").unwrap(),
            ("app".into(), "latest".into())
        );
        assert_eq!(
            commit_reference("docker.io/library/app:2").unwrap(),
            ("app".into(), "2".into())
        );
        assert!(commit_reference("Bad").is_err());
    }
}
