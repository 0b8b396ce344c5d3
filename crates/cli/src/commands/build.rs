//! `build` and `builder prune`: the context packed as a tar (what `.dockerignore` excludes is
//! never sent: a secret kept out of the context never leaves the machine's disk) and streamed
//! to `POST /build`, whose messages are printed as `docker build` prints them.
//!
//! A directory context goes incrementally when the daemon is Berth's: the CLI sends the
//! directory's manifest (paths and stat stamps) to `POST /build/context`, which answers the
//! files the daemon does not hold as they are, and the build's tar carries the manifest and
//! only those files (a daemon without the endpoint gets the whole directory).

use crate::args::{BuildArgs, BuilderPruneArgs};
use crate::autostart::Target;
use crate::output;
use crate::progress::error_of;
use anyhow::{Context, Result, bail};
use berth_api_types::Filters;
use berth_api_types::build::{ContextEntry, ContextEntryKind};
use berth_build::ignore::Ignore;
use berth_client::body::Body;
use futures_util::StreamExt;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Name the Dockerfile gets in the context when it lives outside it (`-f ../x` or stdin).
const OUTSIDE_DOCKERFILE: &str = ".berth-dockerfile";
/// Where `--secret`s travel in the context tar (the daemon takes them out before the build
/// reads the context).
const SECRETS_DIR: &str = ".berth-secrets";
/// The first entry of an incremental context's tar.
const MANIFEST: &str = ".berth-manifest";
/// A file changed more recently than this has no stamp (it is always sent): a second change
/// within one timestamp tick would leave its stamp as it was.
const RACY: Duration = Duration::from_secs(2);

/// Where the context comes from.
enum Source {
    /// A directory, packed here.
    Dir(PathBuf),
    /// A ready tar (a file or stdin), sent as is.
    Tar(Vec<u8>),
}

/// The query of `POST /build` for `args`.
fn params(args: &BuildArgs, dockerfile: &str) -> Result<Vec<(&'static str, String)>> {
    let mut p: Vec<(&'static str, String)> = Vec::new();
    for t in &args.tags {
        p.push(("t", t.clone()));
    }
    if !dockerfile.is_empty() {
        p.push(("dockerfile", dockerfile.to_string()));
    }
    let mut build_args = serde_json::Map::new();
    for a in &args.build_args {
        let value = match a.split_once('=') {
            Some((k, v)) => (k.to_string(), serde_json::Value::String(v.to_string())),
            None => (
                a.clone(),
                std::env::var(a).map_or(serde_json::Value::Null, serde_json::Value::String),
            ),
        };
        build_args.insert(value.0, value.1);
    }
    if !build_args.is_empty() {
        p.push((
            "buildargs",
            serde_json::Value::Object(build_args).to_string(),
        ));
    }
    let mut labels = serde_json::Map::new();
    for l in &args.labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), serde_json::Value::String(v.to_string()));
    }
    if !labels.is_empty() {
        p.push(("labels", serde_json::Value::Object(labels).to_string()));
    }
    if let Some(t) = &args.target {
        p.push(("target", t.clone()));
    }
    if args.no_cache {
        p.push(("nocache", "1".into()));
    }
    if args.pull {
        p.push(("pull", "1".into()));
    }
    if args.quiet {
        p.push(("q", "1".into()));
    }
    p.push(("networkmode", args.network.clone()));
    if !args.add_hosts.is_empty() {
        p.push(("extrahosts", args.add_hosts.join(",")));
    }
    if let Some(pl) = &args.platform {
        p.push(("platform", pl.clone()));
    }
    p.push(("rm", "1".into()));
    Ok(p)
}

/// `build`.
pub async fn build(target: &Target, mut args: BuildArgs) -> Result<()> {
    let secrets = read_secrets(&args.secret)?;
    // A git context is cloned here; its checkout lives until the build is sent.
    let mut git = None;
    let mut remote = None;
    let mut stdin_dockerfile = None;
    let context = if args.context == "-" {
        let mut all = Vec::new();
        std::io::stdin()
            .read_to_end(&mut all)
            .context("reading stdin")?;
        if berth_common::sniff::is_archive(&all) {
            Source::Tar(all)
        } else {
            // A Dockerfile on stdin, with an empty context.
            stdin_dockerfile = Some(all);
            Source::Tar(Vec::new())
        }
    } else if !berth_registry::git::is_git_url(&args.context)
        && (args.context.starts_with("http://") || args.context.starts_with("https://"))
    {
        // A tar or a Dockerfile at a URL: the daemon fetches it (`remote=`), the body is empty.
        remote = Some(args.context.clone());
        Source::Tar(Vec::new())
    } else {
        let path = if berth_registry::git::is_git_url(&args.context) {
            let fetched = berth_registry::git::fetch(&args.context)?;
            // `-f` names a file of the repository.
            if let Some(f) = &args.file
                && f != "-"
                && Path::new(f).is_relative()
            {
                args.file = Some(fetched.dir.join(f).to_string_lossy().into_owned());
            }
            let dir = fetched.dir.clone();
            git = Some(fetched);
            dir
        } else if args.context.contains("://") {
            bail!(
                "unable to prepare context: {} is neither a git repository, an http(s) URL nor a local path",
                args.context
            );
        } else {
            PathBuf::from(&args.context)
        };
        let md = std::fs::metadata(&path).with_context(|| {
            format!(
                "unable to prepare context: path {:?} not found",
                args.context
            )
        })?;
        if md.is_dir() {
            Source::Dir(path)
        } else {
            Source::Tar(
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
            )
        }
    };
    if args.file.as_deref() == Some("-") {
        let mut all = Vec::new();
        std::io::stdin()
            .read_to_end(&mut all)
            .context("reading the Dockerfile from stdin")?;
        stdin_dockerfile = Some(all);
    }
    // Where the daemon finds the Dockerfile, and whether it travels inside the context.
    let (dockerfile_param, extra_dockerfile) = match (&stdin_dockerfile, &args.file, &context) {
        (Some(text), _, _) => (OUTSIDE_DOCKERFILE.to_string(), Some(text.clone())),
        (None, Some(f), Source::Dir(dir)) => {
            let f = PathBuf::from(f);
            let abs_file = std::fs::canonicalize(&f).with_context(|| {
                format!(
                    "unable to prepare context: the Dockerfile {} does not exist",
                    f.display()
                )
            })?;
            let abs_dir = std::fs::canonicalize(dir)?;
            match abs_file.strip_prefix(&abs_dir) {
                Ok(rel) => (rel.to_string_lossy().into_owned(), None),
                Err(_) => (
                    OUTSIDE_DOCKERFILE.to_string(),
                    Some(std::fs::read(&abs_file)?),
                ),
            }
        }
        (None, Some(f), Source::Tar(_)) => (f.clone(), None),
        (None, None, _) => (String::new(), None),
    };
    let mut query = params(&args, &dockerfile_param)?;
    if let Some(url) = remote {
        if stdin_dockerfile.is_some() || !secrets.is_empty() {
            bail!("a URL context takes neither a Dockerfile from stdin nor --secret");
        }
        query.push(("remote", url));
    }
    if !secrets.is_empty() && matches!(&context, Source::Tar(b) if !b.is_empty()) {
        bail!("--secret needs a directory context (or a Dockerfile on stdin), not a tar");
    }
    let client = target.connect().await?;
    // A directory goes incrementally when the daemon knows the directory from before (not a
    // git checkout: it is a new directory each time, a session would never be used again).
    let mut incremental = None;
    if let Source::Dir(dir) = &context
        && git.is_none()
    {
        let files = list_context(dir)?;
        let key = session_key(dir)?;
        let manifest = manifest_of(&files);
        match client.build_context_needs(&key, &manifest).await {
            Ok(need) => {
                query.push(("session", key));
                incremental = Some(Incremental {
                    files,
                    manifest,
                    need: need.need,
                });
            }
            Err(e) if e.status() == Some(404) => {} // not a Berth daemon: send it whole
            Err(e) => return Err(e.into()),
        }
    }
    if !args.quiet {
        output::print(&sending_line(&context, incremental.as_ref()))?;
    }
    let (writer, reader) = tokio::io::duplex(1 << 20);
    let producer = tokio::task::spawn_blocking(move || -> Result<()> {
        let mut sink = tokio_util::io::SyncIoBridge::new(writer);
        match (context, incremental) {
            (Source::Tar(bytes), _) if extra_dockerfile.is_none() && secrets.is_empty() => {
                sink.write_all(&bytes)?
            }
            (Source::Tar(bytes), _) => {
                if !bytes.is_empty() {
                    bail!("a Dockerfile from stdin needs a directory context, not a tar");
                }
                let mut b = tar::Builder::new(&mut sink);
                if let Some(text) = &extra_dockerfile {
                    append_bytes(&mut b, OUTSIDE_DOCKERFILE, text, 0o644)?;
                }
                append_secrets(&mut b, &secrets)?;
                b.finish()?;
            }
            (Source::Dir(_), Some(inc)) => {
                pack_incremental(&inc, extra_dockerfile.as_deref(), &secrets, &mut sink)?
            }
            (Source::Dir(dir), None) => {
                pack_dir(&dir, extra_dockerfile.as_deref(), &secrets, &mut sink)?
            }
        }
        sink.flush()?;
        Ok(())
    });
    let mut stream = client.image_build(&query, Body::tar_reader(reader)).await?;
    let mut clock = StepClock::default();
    let mut id = None;
    while let Some(m) = stream.next().await {
        let m = m?;
        if let Some(e) = error_of(&m) {
            bail!("{e}");
        }
        if let Some(aux) = &m.aux
            && let Some(i) = aux.get("ID").and_then(|v| v.as_str())
        {
            id = Some(i.to_string());
            continue;
        }
        if args.quiet {
            continue;
        }
        if let Some(s) = &m.stream {
            if let Some(took) = clock.next(s) {
                output::print(&took)?;
            }
            output::print(s)?;
        } else if let Some(line) = crate::progress::plain_line(&m) {
            // A base image's pull: Docker's per-layer status lines.
            output::print(&line)?;
        }
    }
    producer.await.context("packing the context")??;
    drop(git);
    let Some(id) = id else {
        bail!("the daemon ended the build without an image id");
    };
    if args.quiet {
        output::print(&format!("{id}\n"))?;
    }
    if let Some(path) = &args.iidfile {
        std::fs::write(path, &id).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn append_bytes<W: Write>(
    b: &mut tar::Builder<W>,
    name: &str,
    data: &[u8],
    mode: u32,
) -> std::io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(mode);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, name, data)
}

/// `--secret id=NAME,src=FILE` (or `env=VAR`; `type=file|env` accepted): id → content.
fn read_secrets(specs: &[String]) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for spec in specs {
        let mut id = None;
        let mut src = None;
        let mut env = None;
        for part in spec.split(',') {
            match part.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => src = Some(v.to_string()),
                Some(("env", v)) => env = Some(v.to_string()),
                Some(("type", "file" | "env")) => {}
                _ => bail!("invalid secret {spec:?}: expected id=NAME,src=FILE or id=NAME,env=VAR"),
            }
        }
        let Some(id) = id.filter(|i| !i.is_empty() && !i.contains('/') && !i.starts_with('.'))
        else {
            bail!("invalid secret {spec:?}: it needs an id (a plain name)");
        };
        let value = match (src, env) {
            (Some(path), _) => {
                std::fs::read(&path).with_context(|| format!("reading secret {id} from {path}"))?
            }
            (None, Some(var)) => std::env::var(&var)
                .with_context(|| format!("secret {id}: environment variable {var} is not set"))?
                .into_bytes(),
            (None, None) => std::env::var(&id)
                .with_context(|| format!("secret {id}: give src=FILE or env=VAR"))?
                .into_bytes(),
        };
        out.push((id, value));
    }
    Ok(out)
}

/// Secrets travel beside the context, under a directory the daemon moves out of it.
fn append_secrets<W: Write>(b: &mut tar::Builder<W>, secrets: &[(String, Vec<u8>)]) -> Result<()> {
    for (id, value) in secrets {
        append_bytes(b, &format!("{SECRETS_DIR}/{id}"), value, 0o400)?;
    }
    Ok(())
}

/// A file of the context directory: its path in the context, on disk, and its metadata.
struct ContextFile {
    rel: String,
    path: PathBuf,
    md: std::fs::Metadata,
}

/// The entries of `dir` that its `.dockerignore` does not exclude (the Dockerfile and
/// `.dockerignore` always go, as with Docker), parents before children, names sorted.
fn list_context(dir: &Path) -> Result<Vec<ContextFile>> {
    let ignore = std::fs::read_to_string(dir.join(".dockerignore"))
        .ok()
        .map(|t| Ignore::parse(&t));
    let mut out = Vec::new();
    walk(dir, "", ignore.as_ref(), &mut out)?;
    Ok(out)
}

fn walk(dir: &Path, rel: &str, ignore: Option<&Ignore>, out: &mut Vec<ContextFile>) -> Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for name in names {
        let name = name.to_string_lossy().into_owned();
        let child = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let path = dir.join(&name);
        let md = std::fs::symlink_metadata(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let always = child == ".dockerignore" || child == "Dockerfile";
        let excluded = !always && ignore.is_some_and(|i| i.excludes(&child));
        if md.is_dir() {
            let take_back = ignore.is_some_and(|i| i.may_take_back_inside(&child));
            if excluded && !take_back {
                continue;
            }
            if !excluded {
                out.push(ContextFile {
                    rel: child.clone(),
                    path: path.clone(),
                    md,
                });
            }
            walk(&path, &child, ignore, out)?;
        } else if !excluded {
            out.push(ContextFile {
                rel: child,
                path,
                md,
            });
        }
    }
    Ok(())
}

/// Packs the whole context, plus `extra_dockerfile` when the Dockerfile lives elsewhere,
/// plus the `secrets`.
fn pack_dir(
    dir: &Path,
    extra_dockerfile: Option<&[u8]>,
    secrets: &[(String, Vec<u8>)],
    out: &mut dyn Write,
) -> Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Complete);
    for f in list_context(dir)? {
        b.append_path_with_name(&f.path, &f.rel)
            .with_context(|| format!("adding {} to the context", f.path.display()))?;
    }
    if let Some(text) = extra_dockerfile {
        append_bytes(&mut b, OUTSIDE_DOCKERFILE, text, 0o644)?;
    }
    append_secrets(&mut b, secrets)?;
    b.finish()?;
    Ok(())
}

/// A directory sent incrementally: its files, their manifest, the paths the daemon asked for.
struct Incremental {
    files: Vec<ContextFile>,
    manifest: Vec<ContextEntry>,
    need: Vec<String>,
}

/// `docker build`'s first line, and for an incremental context how much of it changed.
fn sending_line(context: &Source, incremental: Option<&Incremental>) -> String {
    let human = |n: u64| crate::format::units::human_size(n as f64);
    match (context, incremental) {
        (_, Some(inc)) => {
            let need: HashSet<&str> = inc.need.iter().map(String::as_str).collect();
            let files = inc
                .manifest
                .iter()
                .filter(|e| e.kind == ContextEntryKind::File);
            let (all, mut changed, mut bytes) = (files.clone().count(), 0, 0);
            for e in files.filter(|e| need.contains(e.path.as_str())) {
                changed += 1;
                bytes += e.size;
            }
            format!(
                "Sending build context to Berth daemon  {} ({changed} of {all} files changed)\n",
                human(bytes)
            )
        }
        (Source::Dir(_), None) => "Sending build context to Docker daemon\n".to_string(),
        (Source::Tar(t), None) => {
            format!(
                "Sending build context to Docker daemon  {}\n",
                human(t.len() as u64)
            )
        }
    }
}

/// Times the steps as their messages arrive: when a step starts (or the result is reported),
/// the step before it gets a ` ---> done in 0.42s` line.
#[derive(Default)]
struct StepClock {
    started: Option<std::time::Instant>,
}

impl StepClock {
    /// The line to print before `message`, if it ends a step.
    fn next(&mut self, message: &str) -> Option<String> {
        let ends = message.starts_with("Step ") || message.starts_with("Successfully built");
        if !ends {
            return None;
        }
        let now = std::time::Instant::now();
        let took = self
            .started
            .map(|t| format!(" ---> done in {:.2}s\n", (now - t).as_secs_f64()));
        self.started = message.starts_with("Step ").then_some(now);
        took
    }
}

/// The session a directory's builds share: this host, this directory, this user.
fn session_key(dir: &Path) -> Result<String> {
    let abs = std::fs::canonicalize(dir)?;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let text = format!(
        "{}\0{}\0{}",
        host.trim(),
        abs.display(),
        rustix::process::geteuid().as_raw()
    );
    Ok(berth_common::Digest::of(text.as_bytes()).hex().to_string())
}

/// The manifest of the listed files, each regular file with its stamp unless it changed in
/// the last [`RACY`] seconds (or claims a time in the future).
fn manifest_of(files: &[ContextFile]) -> Vec<ContextEntry> {
    let recent = SystemTime::now()
        .checked_sub(RACY)
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128);
    let nanos = |secs: i64, nsec: i64| i128::from(secs) * 1_000_000_000 + i128::from(nsec);
    files
        .iter()
        .filter_map(|f| {
            let ft = f.md.file_type();
            let (kind, link) = if ft.is_dir() {
                (ContextEntryKind::Dir, None)
            } else if ft.is_symlink() {
                let target = std::fs::read_link(&f.path).ok()?;
                (
                    ContextEntryKind::Symlink,
                    Some(target.to_string_lossy().into_owned()),
                )
            } else if ft.is_file() {
                (ContextEntryKind::File, None)
            } else {
                return None; // devices, fifos, sockets: nothing a build copies
            };
            let md = &f.md;
            let settled = nanos(md.mtime(), md.mtime_nsec()) < recent
                && nanos(md.ctime(), md.ctime_nsec()) < recent;
            let stamp = (kind == ContextEntryKind::File && settled).then(|| {
                format!(
                    "{}:{}:{}:{}.{}:{}.{}:{:o}:{}:{}",
                    md.dev(),
                    md.ino(),
                    md.size(),
                    md.mtime(),
                    md.mtime_nsec(),
                    md.ctime(),
                    md.ctime_nsec(),
                    md.mode(),
                    md.uid(),
                    md.gid()
                )
            });
            Some(ContextEntry {
                path: f.rel.clone(),
                kind,
                mode: md.mode() & 0o7777,
                mtime: md.mtime().max(0) as u64,
                size: if kind == ContextEntryKind::File {
                    md.size()
                } else {
                    0
                },
                link,
                stamp,
            })
        })
        .collect()
}

/// Packs an incremental context: the manifest (with the outside Dockerfile added to it when
/// there is one), the files the daemon asked for, the outside Dockerfile, the secrets.
fn pack_incremental(
    inc: &Incremental,
    extra_dockerfile: Option<&[u8]>,
    secrets: &[(String, Vec<u8>)],
    out: &mut dyn Write,
) -> Result<()> {
    let mut manifest = inc.manifest.clone();
    if let Some(text) = extra_dockerfile {
        manifest.push(ContextEntry {
            path: OUTSIDE_DOCKERFILE.into(),
            kind: ContextEntryKind::File,
            mode: 0o644,
            mtime: 0,
            size: text.len() as u64,
            link: None,
            stamp: None,
        });
    }
    let mut b = tar::Builder::new(out);
    append_bytes(&mut b, MANIFEST, &serde_json::to_vec(&manifest)?, 0o600)?;
    let need: HashSet<&str> = inc.need.iter().map(String::as_str).collect();
    for f in inc.files.iter().filter(|f| need.contains(f.rel.as_str())) {
        let mut file = std::fs::File::open(&f.path)
            .with_context(|| format!("adding {} to the context", f.path.display()))?;
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(&file.metadata()?, tar::HeaderMode::Complete);
        b.append_data(&mut h, &f.rel, &mut file)
            .with_context(|| format!("adding {} to the context", f.path.display()))?;
    }
    if let Some(text) = extra_dockerfile {
        append_bytes(&mut b, OUTSIDE_DOCKERFILE, text, 0o644)?;
    }
    append_secrets(&mut b, secrets)?;
    b.finish()?;
    Ok(())
}

/// `builder prune`.
pub async fn prune(target: &Target, args: BuilderPruneArgs) -> Result<()> {
    if !args.force && output::stdin_is_tty() {
        let warning = if args.all {
            "WARNING! This will remove all build cache."
        } else {
            "WARNING! This will remove all dangling build cache."
        };
        if !crate::commands::images::confirm(warning)? {
            return Ok(());
        }
    }
    let keep = args
        .keep_storage
        .as_deref()
        .map(|k| {
            berth_api_types::shorthand::parse_ram_bytes(k)
                .map(|v| v.max(0) as u64)
                .map_err(|e| anyhow::anyhow!("invalid --keep-storage {k:?}: {e}"))
        })
        .transpose()?;
    let filters = Filters::from_cli(&args.filters).map_err(|e| anyhow::anyhow!("{}", e.0))?;
    let client = target.connect().await?;
    let report = client.build_prune(args.all, keep, &filters).await?;
    let mut text = String::new();
    if !report.caches_deleted.is_empty() {
        text.push_str("ID\tRECLAIMABLE\tSIZE\tLAST ACCESSED\n");
        for id in &report.caches_deleted {
            text.push_str(id);
            text.push('\n');
        }
    }
    text.push_str(&format!(
        "Total:\t{}\n",
        crate::format::units::human_size(report.space_reclaimed as f64)
    ));
    output::print(&text)?;
    Ok(())
}
