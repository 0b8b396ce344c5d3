//! The builder: a Dockerfile and its context made into an image (`docker build`).
//!
//! `berth-build` reads and plans the Dockerfile and evaluates the metadata instructions; this
//! module runs the steps that change files. A `RUN` runs in a real Berth container made from
//! the step's parent ([`step`]); a `COPY`/`ADD` extracts the files it names ([`sources`]) into
//! such a container's root without starting it. Either way the container's changes become a
//! layer, stacked on the parent's as a hidden image the build cache records under the step's
//! key: the parent's key, the instruction after expansion (the whole run config, the command,
//! its environment and network) and, for a copy, the checksum of what it copied. A step whose
//! key is recorded is not run again; the cache lives in the image store's state, so it
//! survives restarts and `kill -9`, and `builder prune` empties it.

pub(crate) mod context;
mod copy;
mod levels;
mod mounts;
mod remote;
mod run;
pub(crate) mod session;
pub(crate) mod sources;
mod stage;
pub(crate) mod step;
mod tree;
mod workdir;

use crate::Engine;
use crate::error::EngineError;
use berth_api_types::image::ImageConfig;
use berth_api_types::progress::JsonMessage;
use berth_build::config::{BuildInputs, Platform, Scope};
use berth_build::dockerfile::{Command, CopySpec, Instruction, Source, Stage, Step};
use berth_build::ignore::Ignore;
use berth_build::words;
use berth_common::{Digest, Reference};
use berth_image::{Assembly, OciImageConfig, oci::History};
use context::ContextDir;
use sources::{CopyJob, CopySource};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use step::{StepContainer, StepSpec};
use tree::{DirTree, NodeKind, SourceTree};

type Result<T> = std::result::Result<T, EngineError>;

pub use berth_image::CachePrune;

/// Limits the daemon's owner sets on builds.
#[derive(Debug, Clone, Copy)]
pub struct BuildSettings {
    /// Bytes of (uncompressed) context a build may send.
    pub context_limit: u64,
    /// Bytes the build cache's own layers may take; older records go after each build.
    pub cache_max: u64,
}

impl Default for BuildSettings {
    fn default() -> Self {
        BuildSettings {
            context_limit: 8 << 30,
            cache_max: 10 << 30,
        }
    }
}

/// What `docker build` asks for (the query of `POST /build`).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The Dockerfile's path in the context (`Dockerfile` when empty).
    pub dockerfile: String,
    /// Tags for the result (`-t`, several allowed).
    pub tags: Vec<String>,
    /// `--build-arg NAME=value`.
    pub build_args: BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<String>,
    /// `--label`s added to the result.
    pub labels: BTreeMap<String, String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `-q`: no step output, only the id at the end.
    pub quiet: bool,
    /// `--network` for the `RUN`s (`default`, `none`, `host`, a network).
    pub network: String,
    /// `--add-host`s.
    pub extra_hosts: Vec<String>,
    /// `--platform` (only the daemon's own is built).
    pub platform: Option<String>,
    /// The context session the body is sent against (the Berth CLI's incremental upload:
    /// the body holds a manifest and only the files the daemon lacked).
    pub session: Option<String>,
    /// A context to fetch instead of reading the body (`remote=`: a git or http(s) URL).
    pub remote: Option<String>,
    /// `--pull`: pull every base image even when one is local.
    pub pull: bool,
    /// Registry credentials by registry (`X-Registry-Config`), for pulling base images.
    pub registry_auth: BTreeMap<String, berth_api_types::system::AuthConfig>,
}

/// What a build made.
#[derive(Debug, Clone)]
pub struct BuildOutcome {
    /// The image's id.
    pub id: Digest,
}

/// Where the build's progress goes: Docker's JSON messages, in order.
pub type ProgressSink<'a> = &'a mut (dyn FnMut(JsonMessage) + Send);

impl Engine {
    /// `POST /build`: unpacks `context`, builds the Dockerfile in it and tags the result.
    /// Blocking (run it on a blocking thread of the runtime: `RUN` steps wait on it). On
    /// failure nothing of the failed step remains: its container is removed and no layer was
    /// recorded; the steps that succeeded stay in the cache.
    pub fn build_image(
        &self,
        opts: BuildOptions,
        context: &mut dyn Read,
        progress: ProgressSink<'_>,
    ) -> Result<BuildOutcome> {
        let tags = opts
            .tags
            .iter()
            .map(|t| Reference::parse_tagged_default(t))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let build_id = berth_common::id::random_id();
        let mut fetched;
        let context: &mut dyn Read = match &opts.remote {
            Some(remote) => {
                fetched = self.remote_context(remote, &self.build_dir())?;
                &mut fetched
            }
            None => context,
        };
        let ctx = ContextDir::unpack(
            &self.build_dir(),
            &build_id,
            context,
            self.build.context_limit,
            opts.session.as_deref().map(|key| context::SessionRef {
                sessions: &self.build_sessions,
                key,
            }),
        )?;
        let file = if opts.dockerfile.is_empty() {
            "Dockerfile".to_string()
        } else {
            opts.dockerfile.clone()
        };
        let text = ctx.read_text(&file).ok_or_else(|| EngineError::BuildStep {
            message: format!(
                "Cannot locate specified Dockerfile: {}",
                file.trim_start_matches("./")
            ),
        })?;
        let df = berth_build::parse(&file, &text)?;
        let plan = berth_build::plan(&df, opts.target.as_deref())?;
        let ignore = ctx.read_text(".dockerignore").map(|t| Ignore::parse(&t));
        let host = host_platform();
        if let Some(p) = &opts.platform {
            check_platform(p, &host).map_err(|message| EngineError::BuildStep { message })?;
        }
        let inputs = BuildInputs {
            build_args: opts.build_args.clone(),
            target: host.clone(),
            build: host,
        };
        let globals = berth_build::config::global_scope(&df.global_args, &inputs, df.escape)
            .map_err(|message| EngineError::BuildStep {
                message: format!("{file}: ARG: {message}"),
            })?;
        let total: usize = plan
            .order
            .iter()
            .map(|i| df.stages[*i].steps.len() + 1)
            .sum();
        let mut run = Run {
            engine: self,
            opts: &opts,
            context: &ctx,
            ignore,
            file: file.clone(),
            lines: text.lines().map(str::to_string).collect(),
            escape: df.escape,
            inputs,
            globals,
            results: HashMap::new(),
            names: df
                .stages
                .iter()
                .filter_map(|s| s.name.clone().map(|n| (n.to_ascii_lowercase(), s.index)))
                .collect(),
            hits: Vec::new(),
            progress,
            step_no: 0,
            total,
            build_id,
            used_args: Default::default(),
            triggers: Vec::new(),
        };
        // Step numbers as if the stages ran one after the other, in the plan's order.
        let mut first_step = HashMap::new();
        let mut next = 1;
        for &index in &plan.order {
            first_step.insert(index, next);
            next += df.stages[index].steps.len() + 1;
        }
        for level in &plan.levels {
            run.level(&df, level, plan.target, &first_step, &tags)?;
        }
        let id = run
            .results
            .get(&plan.target)
            .cloned()
            .ok_or_else(|| EngineError::BuildStep {
                message: format!("{file}: the Dockerfile has no stage"),
            })?;
        let unused =
            berth_build::config::unused_build_args(&run.inputs, &run.used_args, &df.global_args);
        if !unused.is_empty() {
            run.say(format!(
                "[Warning] One or more build-args [{}] were not consumed\n",
                unused.join(" ")
            ));
        }
        let _ = self.images.cache_touch(&run.hits);
        if let Err(e) = self.build_cache_trim() {
            tracing::warn!(error = %e, "trimming the build cache");
        }
        let short = &id.hex()[..12];
        run.say(format!("Successfully built {short}\n"));
        for t in &tags {
            run.say(format!("Successfully tagged {}\n", t.familiar()));
        }
        Ok(BuildOutcome { id })
    }

    /// `POST /build/context`: which files of a context directory's `manifest` the client
    /// must send for a build against session `key` (the others the daemon holds unchanged).
    pub fn build_context_needs(
        &self,
        key: &str,
        manifest: &[berth_api_types::build::ContextEntry],
    ) -> Result<berth_api_types::build::ContextNeed> {
        Ok(berth_api_types::build::ContextNeed {
            need: self.build_sessions.needed(key, manifest)?,
        })
    }

    /// Where `RUN --mount=type=cache` directories live between builds.
    fn build_cache_mounts_dir(&self) -> std::path::PathBuf {
        self.root.join("build").join("cache-mounts")
    }

    /// Where build contexts are unpacked.
    fn build_dir(&self) -> std::path::PathBuf {
        self.root.join("build").join("contexts")
    }

    /// Keeps the cache under its bound: the oldest context sessions go first (losing one
    /// costs one full upload), then the oldest used records.
    fn build_cache_trim(&self) -> Result<()> {
        let max = self.build.cache_max;
        let sessions = self.prune_sessions(None, Some(max), self.images.cache_size(), None);
        if self.images.cache_size() + sessions <= max {
            return Ok(());
        }
        let in_use = self.image_users();
        self.images.cache_prune(
            &CachePrune {
                all: false,
                filters: Default::default(),
                keep_storage: Some(max.saturating_sub(sessions)),
            },
            &|id| in_use.contains(&id.to_string()),
        )?;
        Ok(())
    }

    /// Removes the context sessions last used before `cutoff` (all when `None`), oldest first
    /// and, with `keep`, only while they and `other` bytes of cache take more than `keep`.
    /// Returns the bytes of the sessions left; the removed ones are added to `report`.
    fn prune_sessions(
        &self,
        cutoff: Option<i64>,
        keep: Option<u64>,
        other: u64,
        mut report: Option<&mut berth_api_types::build::BuildPruneResponse>,
    ) -> u64 {
        let mut sessions = self.build_sessions.usage();
        sessions.sort_by_key(|s| s.last_used);
        let mut left: u64 = sessions.iter().map(|s| s.size).sum();
        for s in sessions {
            if keep.is_some_and(|k| other + left <= k) {
                break;
            }
            let unix = s
                .last_used
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            if cutoff.is_some_and(|c| unix >= c) {
                continue;
            }
            if let Some(size) = self.build_sessions.remove(&s.key) {
                left = left.saturating_sub(s.size);
                if let Some(r) = report.as_deref_mut() {
                    r.space_reclaimed += size;
                    r.caches_deleted.push(session_record_id(&s.key));
                }
            }
        }
        left
    }

    /// `POST /build/prune`.
    pub fn build_prune(
        &self,
        opts: &CachePrune,
    ) -> Result<berth_api_types::build::BuildPruneResponse> {
        let in_use = self.image_users();
        let mut report = self
            .images
            .cache_prune(opts, &|id| in_use.contains(&id.to_string()))?;
        // Context sessions are cache of the uploads: any prune may take them.
        let cutoff = opts.cutoff()?;
        let other = self.images.cache_size();
        self.prune_sessions(cutoff, opts.keep_storage, other, Some(&mut report));
        // The cache mounts go too (their contents are cache, never part of an image).
        if let Ok(rd) = std::fs::read_dir(self.build_cache_mounts_dir()) {
            for e in rd.flatten() {
                let size = crate::volumes::disk_usage(&e.path());
                if std::fs::remove_dir_all(e.path()).is_ok() {
                    report.space_reclaimed += size;
                    report
                        .caches_deleted
                        .push(e.file_name().to_string_lossy().chars().take(25).collect());
                }
            }
        }
        Ok(report)
    }

    /// The build cache's records (`system df`).
    pub fn build_cache_usage(&self) -> Vec<berth_api_types::build::BuildCache> {
        let mut records = self.images.cache_usage();
        for s in self.build_sessions.usage() {
            records.push(berth_api_types::build::BuildCache {
                id: session_record_id(&s.key),
                kind: "source.local".into(),
                description: "local source for context (what berth build sent last)".into(),
                size: s.size as i64,
                last_used_at: Some(berth_common::time::format_rfc3339(s.last_used.into())),
                ..Default::default()
            });
        }
        if let Ok(rd) = std::fs::read_dir(self.build_cache_mounts_dir()) {
            for e in rd.flatten() {
                records.push(berth_api_types::build::BuildCache {
                    id: e.file_name().to_string_lossy().chars().take(25).collect(),
                    kind: "exec.cachemount".into(),
                    description: "cached mount (RUN --mount=type=cache)".into(),
                    size: crate::volumes::disk_usage(&e.path()) as i64,
                    ..Default::default()
                });
            }
        }
        records
    }

    /// Ids of the images containers were made from.
    fn image_users(&self) -> std::collections::HashSet<String> {
        self.containers
            .store()
            .all()
            .into_iter()
            .map(|e| e.snapshot().image_id)
            .collect()
    }
}

/// A context session's id in the cache's records.
fn session_record_id(key: &str) -> String {
    key.chars().take(25).collect()
}

/// Refuses a platform this host cannot run (builds run their steps natively, no emulator).
fn check_platform(spec: &str, host: &Platform) -> std::result::Result<(), String> {
    let wanted = Platform::parse(spec, &host.arch)?;
    if wanted.runs_on(host) {
        return Ok(());
    }
    Err(format!(
        "cannot build for {}: this daemon builds for {} only (its steps run natively, without an emulator)",
        wanted.spec(),
        host.spec()
    ))
}

/// The platform an image config says it is made for.
fn platform_of(config: &OciImageConfig) -> Platform {
    Platform {
        os: config.os.clone(),
        arch: config.architecture.clone(),
        variant: config.variant.clone(),
    }
}

/// The platform this daemon builds for.
fn host_platform() -> Platform {
    Platform {
        os: "linux".into(),
        arch: berth_api_types::go::arch().into(),
        variant: None,
    }
}

/// One build in progress.
struct Run<'a, 'p> {
    engine: &'a Engine,
    opts: &'a BuildOptions,
    context: &'a ContextDir,
    ignore: Option<Ignore>,
    file: String,
    lines: Vec<String>,
    escape: char,
    inputs: BuildInputs,
    globals: Scope,
    /// Stage index → the image it made.
    results: HashMap<usize, Digest>,
    /// Stage names (lower case) → index.
    names: HashMap<String, usize>,
    /// Cache records used.
    hits: Vec<String>,
    progress: ProgressSink<'p>,
    step_no: usize,
    total: usize,
    build_id: String,
    used_args: std::collections::BTreeSet<String>,
    /// The base image's `ONBUILD` triggers still to run, last first.
    triggers: Vec<String>,
}

/// Where a stage stands after some steps.
struct StageState {
    /// The image whose layers are the stage's so far.
    image: Option<Digest>,
    /// Its top layer's chain id.
    top: Option<Digest>,
    /// The config so far (history included).
    config: OciImageConfig,
    /// The cache key of the steps so far.
    key: Digest,
}

fn chain_key(parent: &Digest, what: &serde_json::Value) -> Digest {
    let mut bytes = parent.to_string().into_bytes();
    bytes.push(b'\n');
    bytes.extend_from_slice(what.to_string().as_bytes());
    Digest::of(&bytes)
}

fn step_error(file: &str, step: &Step, message: impl std::fmt::Display) -> EngineError {
    EngineError::BuildStep {
        message: format!(
            "{file}:{}: {}: {message}",
            step.line,
            step.instruction.keyword()
        ),
    }
}
