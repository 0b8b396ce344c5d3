//! `create`, `run`, `start`, `attach` and `exec`: the commands that create processes and
//! stream their stdio, following the docker CLI's `run.go`, `start.go`, `attach.go` and
//! `exec.go` step for step (attach before start, wait registered before start, exit codes).

use crate::args::{AttachArgs, ContainerOptions, CreateArgs, ExecArgs, RunArgs, StartArgs};
use crate::autostart::Target;
use crate::commands::create::{create_request, read_env};
use crate::stdio::{self, StreamEnd, StreamOptions};
use crate::{StatusError, output};
use anyhow::{Context as _, Result, anyhow, bail};
use berth_api_types::container::ContainerCreateRequest;
use berth_api_types::exec::{ExecConfig, ExecStartConfig};
use berth_client::{AttachOptions, Client, ClientError, WaitCondition, WaitHandle};
use berth_common::Reference;
use futures_util::StreamExt;

/// Docker's `withHelp`: the message `run` and `create` print for errors before the container
/// runs.
pub fn with_help(err: impl std::fmt::Display, command: &str) -> String {
    format!("berth: {err}\n\nRun 'berth {command} --help' for more information")
}

/// The text of an error without the client's `Error response from daemon: ` being lost.
fn error_message(e: &anyhow::Error) -> String {
    crate::error_text(e)
}

/// Docker's `toStatusError`: 127 when the command was not found, 126 when it could not be
/// executed, 125 for any other failure before the container ran.
pub fn to_status_error(e: &anyhow::Error, command: &str) -> StatusError {
    let msg = error_message(e);
    let code = if msg.contains("executable file not found")
        || msg.contains("no such file or directory")
        || msg.contains("system cannot find the file specified")
    {
        127
    } else if msg.contains("permission denied") || msg.contains("is a directory") {
        126
    } else {
        125
    };
    StatusError {
        code,
        message: with_help(msg, command),
    }
}

fn usage_error(e: impl std::fmt::Display, command: &str) -> anyhow::Error {
    StatusError {
        code: 125,
        message: with_help(e, command),
    }
    .into()
}

/// Checks `--pull`.
fn validate_pull(pull: &str) -> Result<()> {
    match pull {
        "always" | "missing" | "never" => Ok(()),
        other => bail!(
            "invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\""
        ),
    }
}

/// The create request for the flags, with `StdinOnce` set as Docker sets it.
fn build_request(o: &ContainerOptions) -> Result<ContainerCreateRequest> {
    validate_pull(&o.pull)?;
    let cwd = std::env::current_dir().unwrap_or_else(|_| "/".into());
    let lookup = |k: &str| std::env::var(k).ok();
    let mut req = create_request(o, &lookup, &cwd)?;
    if req.config.open_stdin && req.config.attach_stdin {
        req.config.stdin_once = true;
    }
    if req.config.tty
        && let Some((h, w)) = stdio::terminal_size()
    {
        req.host_config.console_size = Some([h as u64, w as u64]);
    }
    Ok(req)
}

/// Pulls `image` (`POST /images/create?fromImage=`), printing progress on stderr unless
/// `quiet`.
async fn pull_image(
    client: &Client,
    image: &str,
    platform: Option<&str>,
    quiet: bool,
) -> Result<()> {
    let r = Reference::parse_tagged_default(image)?;
    let tag = match (r.tag(), r.digest()) {
        (_, Some(d)) => d.to_string(),
        (Some(t), None) => t.to_string(),
        (None, None) => "latest".into(),
    };
    let auth = crate::commands::pull::auth_for(&r);
    let mut stream = client
        .image_pull(&r.familiar_name(), Some(&tag), platform, auth.as_ref())
        .await?;
    while let Some(m) = stream.next().await {
        let m = m?;
        if let Some(e) = crate::progress::error_of(&m) {
            bail!("{e}");
        }
        if !quiet && let Some(line) = crate::progress::plain_line(&m) {
            eprint!("{line}");
        }
    }
    Ok(())
}

/// Docker's `createContainer`: writes `--cidfile`, pulls per `--pull`, prints warnings, and
/// returns the new id.
async fn create_container(
    client: &Client,
    o: &ContainerOptions,
    req: &ContainerCreateRequest,
) -> Result<String> {
    if let Some(path) = &o.cidfile {
        if path.exists() {
            bail!(
                "container ID file found, make sure the other container isn't running or delete {}",
                path.display()
            );
        }
        std::fs::File::create(path).context("failed to create the container ID file")?;
    }
    let result = async {
        if o.pull == "always" {
            pull_image(client, o.image(), o.platform.as_deref(), o.quiet).await?;
        }
        let name = o.name.as_deref();
        let platform = o.platform.as_deref();
        let resp = match client.container_create(req, name, platform).await {
            Ok(r) => r,
            // Only a missing image is worth a pull; a missing network or `--volumes-from`
            // container is reported as it is.
            Err(e)
                if e.is_not_found()
                    && o.pull == "missing"
                    && e.to_string().contains("No such image") =>
            {
                let familiar = Reference::parse_tagged_default(o.image())
                    .map(|r| r.familiar())
                    .unwrap_or_else(|_| o.image().to_string());
                if !o.quiet {
                    eprintln!("Unable to find image '{familiar}' locally");
                }
                pull_image(client, o.image(), platform, o.quiet).await?;
                client.container_create(req, name, platform).await?
            }
            Err(e) => return Err(e.into()),
        };
        for w in &resp.warnings {
            eprintln!("WARNING: {w}");
        }
        anyhow::Ok(resp.id)
    }
    .await;
    if let Some(path) = &o.cidfile {
        match &result {
            Ok(id) => {
                std::fs::write(path, id).context("failed to write the container ID to the file")?
            }
            Err(_) => {
                let _ = std::fs::remove_file(path);
            }
        }
    }
    result
}

/// `create`: prints the new container's id.
pub async fn create(target: &Target, args: CreateArgs) -> Result<()> {
    let req = build_request(&args.opts).map_err(|e| usage_error(format!("{e:#}"), "create"))?;
    let client = target.connect().await?;
    let id = create_container(&client, &args.opts, &req).await?;
    output::print(&format!("{id}\n"))?;
    Ok(())
}

/// The exit status a finished wait reports; wait failures are Docker's 125.
async fn wait_status(wait: Option<Result<WaitHandle, ClientError>>) -> i32 {
    match wait {
        None => 0,
        Some(Err(e)) => {
            eprintln!("error waiting for container: {e}");
            125
        }
        Some(Ok(h)) => match h.result().await {
            Ok(r) => match r.error {
                Some(e) if !e.message.is_empty() => {
                    eprintln!("Error waiting for container: {}", e.message);
                    125
                }
                _ => r.status_code as i32,
            },
            Err(e) => {
                eprintln!("error waiting for container: {e}");
                125
            }
        },
    }
}

/// Streams an attached container until its output ends, then returns its exit status; also
/// returns (with `None`) when the user detaches.
async fn stream_and_wait(
    client: &Client,
    id: &str,
    hijack: berth_client::HijackedStream,
    o: &StreamOptions,
    wait: Option<Result<WaitHandle, ClientError>>,
) -> Result<Option<i32>> {
    if o.tty && output::stdout_is_tty() {
        stdio::monitor_tty_size(client.clone(), id.to_string(), false).await;
    }
    let output_attached = o.stdout || o.stderr;
    let stream = stdio::stream(hijack, o);
    tokio::pin!(stream);
    let status = wait_status(wait);
    tokio::pin!(status);
    if output_attached {
        if stream.await? == StreamEnd::Detached {
            return Ok(None);
        }
        Ok(Some(status.await))
    } else {
        tokio::select! {
            end = &mut stream => {
                if end? == StreamEnd::Detached {
                    return Ok(None);
                }
                Ok(Some(status.await))
            }
            code = &mut status => Ok(Some(code)),
        }
    }
}

/// `run`.
pub async fn run(target: &Target, args: RunArgs) -> Result<()> {
    let o = &args.opts;
    let mut req = build_request(o).map_err(|e| usage_error(format!("{e:#}"), "run"))?;
    let c = &mut req.config;
    if !args.detach.detach {
        if c.attach_stdin && c.tty && !output::stdin_is_tty() {
            bail!("the input device is not a TTY");
        }
    } else {
        if !o.attach.is_empty() {
            bail!("conflicting options: cannot specify both --attach and --detach");
        }
        c.attach_stdin = false;
        c.attach_stdout = false;
        c.attach_stderr = false;
        c.stdin_once = false;
    }
    let (tty, a_in, a_out, a_err) = (c.tty, c.attach_stdin, c.attach_stdout, c.attach_stderr);
    let auto_remove = req.host_config.auto_remove;

    let client = target.connect().await?;
    let id = create_container(&client, o, &req)
        .await
        .map_err(|e| anyhow::Error::from(to_status_error(&e, "run")))?;

    let attach = a_in || a_out || a_err;
    // Docker proxies signals whenever --sig-proxy is on and there is no TTY.
    let proxy =
        (args.sig_proxy && !tty).then(|| stdio::forward_signals(client.clone(), id.clone()));

    let detach_keys = args.detach.detach_keys.clone();
    let hijack = if attach {
        Some(
            client
                .container_attach(
                    &id,
                    &AttachOptions {
                        stdin: a_in,
                        stdout: a_out,
                        stderr: a_err,
                        logs: false,
                        detach_keys: detach_keys.clone(),
                    },
                    tty,
                )
                .await?,
        )
    } else {
        output::print(&format!("{id}\n"))?;
        None
    };

    let condition = if auto_remove {
        WaitCondition::Removed
    } else {
        WaitCondition::NextExit
    };
    let wait = if attach || auto_remove {
        Some(client.container_wait_begin(&id, condition).await)
    } else {
        None
    };

    if let Err(e) = client.container_start(&id, None).await {
        drop(hijack);
        if auto_remove {
            wait_status(wait).await;
        }
        if let Some(p) = proxy {
            p.abort();
        }
        return Err(to_status_error(&e.into(), "run").into());
    }
    let Some(hijack) = hijack else {
        return Ok(());
    };
    let so = StreamOptions {
        stdin: a_in,
        stdout: a_out,
        stderr: a_err,
        tty,
        detach_keys: stdio::detach_bytes(detach_keys.as_deref()),
    };
    let status = stream_and_wait(&client, &id, hijack, &so, wait).await;
    if let Some(p) = proxy {
        p.abort();
    }
    match status? {
        None | Some(0) => Ok(()),
        Some(code) => Err(StatusError::silent(code).into()),
    }
}

/// `start`.
pub async fn start(target: &Target, args: StartArgs) -> Result<()> {
    let client = target.connect().await?;
    if !(args.attach || args.interactive) {
        let mut failed = Vec::new();
        for name in &args.containers {
            match client.container_start(name, None).await {
                Ok(()) => output::print(&format!("{name}\n"))?,
                Err(e) => {
                    eprintln!("{e}");
                    failed.push(name.as_str());
                }
            }
        }
        if !failed.is_empty() {
            bail!("Error: failed to start containers: {}", failed.join(", "));
        }
        return Ok(());
    }
    if args.containers.len() > 1 {
        bail!("you cannot start and attach multiple containers at once");
    }
    let c = client.container_inspect(&args.containers[0], false).await?;
    let tty = c.config.tty;
    let proxy = (!tty).then(|| stdio::forward_signals(client.clone(), c.id.clone()));
    let stdin = args.interactive && c.config.open_stdin;
    let hijack = client
        .container_attach(
            &c.id,
            &AttachOptions {
                stdin,
                stdout: true,
                stderr: true,
                logs: false,
                detach_keys: args.detach_keys.clone(),
            },
            tty,
        )
        .await?;
    let condition = if c.host_config.auto_remove {
        WaitCondition::Removed
    } else {
        WaitCondition::NextExit
    };
    let wait = Some(client.container_wait_begin(&c.id, condition).await);
    if let Err(e) = client.container_start(&c.id, None).await {
        drop(hijack);
        if c.host_config.auto_remove {
            wait_status(wait).await;
        }
        return Err(e.into());
    }
    let so = StreamOptions {
        stdin,
        stdout: true,
        stderr: true,
        tty,
        detach_keys: stdio::detach_bytes(args.detach_keys.as_deref()),
    };
    let status = stream_and_wait(&client, &c.id, hijack, &so, wait).await;
    if let Some(p) = proxy {
        p.abort();
    }
    match status? {
        None | Some(0) => Ok(()),
        Some(code) => Err(StatusError::silent(code).into()),
    }
}

/// `attach`.
pub async fn attach(target: &Target, args: AttachArgs) -> Result<()> {
    let client = target.connect().await?;
    let check = |c: &berth_api_types::container::ContainerInspect| -> Result<()> {
        if !c.state.running {
            bail!("You cannot attach to a stopped container, start it first");
        }
        if c.state.paused {
            bail!("You cannot attach to a paused container, unpause it first");
        }
        if c.state.restarting {
            bail!("You cannot attach to a restarting container, wait until it is running");
        }
        Ok(())
    };
    let wait = client
        .container_wait_begin(&args.container, WaitCondition::NotRunning)
        .await;
    let c = client.container_inspect(&args.container, false).await?;
    check(&c)?;
    let tty = c.config.tty;
    if !args.no_stdin && tty && !output::stdin_is_tty() {
        bail!("the input device is not a TTY");
    }
    let stdin = !args.no_stdin && c.config.open_stdin;
    let proxy =
        (args.sig_proxy && !tty).then(|| stdio::forward_signals(client.clone(), c.id.clone()));
    let hijack = client
        .container_attach(
            &c.id,
            &AttachOptions {
                stdin,
                stdout: true,
                stderr: true,
                logs: false,
                detach_keys: args.detach_keys.clone(),
            },
            tty,
        )
        .await?;
    check(&client.container_inspect(&c.id, false).await?)?;
    let so = StreamOptions {
        stdin,
        stdout: true,
        stderr: true,
        tty,
        detach_keys: stdio::detach_bytes(args.detach_keys.as_deref()),
    };
    let status = stream_and_wait(&client, &c.id, hijack, &so, Some(wait)).await;
    if let Some(p) = proxy {
        p.abort();
    }
    match status? {
        // Docker reports the detach as an error.
        None => bail!("read escape sequence"),
        Some(0) => Ok(()),
        Some(code) => Err(StatusError::silent(code).into()),
    }
}

/// The exec request for the flags, as Docker's `parseExec` builds it.
pub fn exec_config(args: &ExecArgs, lookup: &dyn Fn(&str) -> Option<String>) -> Result<ExecConfig> {
    let mut c = ExecConfig {
        user: args.process.user.clone().unwrap_or_default(),
        privileged: args.process.privileged,
        tty: args.process.tty,
        cmd: Some(args.command().to_vec()),
        working_dir: args.process.workdir.clone().unwrap_or_default(),
        env: read_env(&args.process.env_file, &args.process.env, lookup)?,
        detach_keys: args.detach.detach_keys.clone().unwrap_or_default(),
        ..Default::default()
    };
    if !args.detach.detach {
        c.attach_stdout = true;
        c.attach_stderr = true;
        c.attach_stdin = args.process.interactive;
    }
    Ok(c)
}

/// `exec`: exits with the process's exit code.
pub async fn exec(target: &Target, args: ExecArgs) -> Result<()> {
    let lookup = |k: &str| std::env::var(k).ok();
    let mut config = exec_config(&args, &lookup)?;
    let client = target.connect().await?;
    // Like Docker: a missing container is reported before anything else.
    client.container_inspect(args.container(), false).await?;
    if !args.detach.detach && config.attach_stdin && config.tty && !output::stdin_is_tty() {
        bail!("the input device is not a TTY");
    }
    if config.tty
        && let Some((h, w)) = stdio::terminal_size()
    {
        config.console_size = Some([h as u64, w as u64]);
    }
    let id = client.exec_create(args.container(), &config).await?.id;
    if id.is_empty() {
        bail!("exec ID empty");
    }
    let start = ExecStartConfig {
        detach: args.detach.detach,
        tty: config.tty,
        console_size: config.console_size,
    };
    if args.detach.detach {
        client.exec_start_detached(&id, &start).await?;
        return Ok(());
    }
    let hijack = client.exec_start(&id, &start).await?;
    if config.tty && output::stdin_is_tty() {
        stdio::monitor_tty_size(client.clone(), id.clone(), true).await;
    }
    let so = StreamOptions {
        stdin: config.attach_stdin,
        stdout: true,
        stderr: true,
        tty: config.tty,
        detach_keys: stdio::detach_bytes(args.detach.detach_keys.as_deref()),
    };
    if stdio::stream(hijack, &so).await? == StreamEnd::Detached {
        bail!("read escape sequence");
    }
    let inspect = client
        .exec_inspect(&id)
        .await
        .map_err(|e| -> anyhow::Error {
            if e.is_connect() {
                StatusError::silent(-1).into()
            } else {
                anyhow!(e)
            }
        })?;
    match inspect.exit_code {
        Some(code) if code != 0 => Err(StatusError::silent(code as i32).into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;

    #[test]
    fn status_errors_map_like_docker() {
        let e = anyhow!(ClientError::Api {
            status: 400,
            message: "failed to create task: exec: \"nope\": executable file not found in $PATH"
                .into()
        });
        let s = to_status_error(&e, "run");
        assert_eq!(s.code, 127);
        assert_eq!(
            s.message,
            "berth: Error response from daemon: failed to create task: exec: \"nope\": executable file not found in $PATH\n\nRun 'berth run --help' for more information"
        );
        assert_eq!(
            to_status_error(&anyhow!("open /x: permission denied"), "run").code,
            126
        );
        assert_eq!(
            to_status_error(&anyhow!("No such image: x"), "run").code,
            125
        );
    }

    #[test]
    fn exec_flags() {
        let cli = Cli::try_parse_from([
            "berth", "exec", "-it", "-e", "A=1", "-u", "nobody", "-w", "/tmp", "web", "sh", "-c",
            "echo hi",
        ])
        .unwrap();
        let Command::Exec(a) = cli.command else {
            panic!()
        };
        let c = exec_config(&a, &|_| None).unwrap();
        assert!(c.attach_stdin && c.attach_stdout && c.attach_stderr && c.tty);
        assert_eq!(
            c.cmd,
            Some(vec!["sh".into(), "-c".into(), "echo hi".into()])
        );
        assert_eq!(c.env, ["A=1"]);
        assert_eq!(c.user, "nobody");
        assert_eq!(c.working_dir, "/tmp");
        let cli = Cli::try_parse_from(["berth", "exec", "-d", "web", "true"]).unwrap();
        let Command::Exec(a) = cli.command else {
            panic!()
        };
        let c = exec_config(&a, &|_| None).unwrap();
        assert!(!c.attach_stdout && !c.attach_stdin);
        assert!(Cli::try_parse_from(["berth", "exec", "web"]).is_err());
    }

    #[test]
    fn run_flags_stop_at_the_image() {
        let cli = Cli::try_parse_from([
            "berth",
            "run",
            "--rm",
            "-d",
            "--sig-proxy=false",
            "busybox",
            "-d",
            "x",
        ])
        .unwrap();
        let Command::Run(r) = cli.command else {
            panic!()
        };
        assert!(r.detach.detach && !r.sig_proxy && r.opts.rm);
        assert_eq!(r.opts.image(), "busybox");
        assert_eq!(r.opts.command(), ["-d", "x"]);
        let cli =
            Cli::try_parse_from(["berth", "container", "run", "-h", "box", "busybox"]).unwrap();
        let Command::Container(crate::args::ContainerCommand::Run(r)) = cli.command else {
            panic!()
        };
        assert_eq!(r.opts.hostname.as_deref(), Some("box"));
        assert!(r.sig_proxy);
    }

    #[test]
    fn stdin_once_follows_interactive_attach() {
        let cli = Cli::try_parse_from(["berth", "run", "-i", "busybox", "cat"]).unwrap();
        let Command::Run(r) = cli.command else {
            panic!()
        };
        let req = build_request(&r.opts).unwrap();
        assert!(req.config.stdin_once && req.config.open_stdin && req.config.attach_stdin);
        assert!(validate_pull("sometimes").is_err());
    }
}
