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
pub(crate) mod sources;
pub(crate) mod step;

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
        let ctx = ContextDir::unpack(
            &self.build_dir(),
            &build_id,
            context,
            self.build.context_limit,
        )?;
        let file = if opts.dockerfile.is_empty() {
            "Dockerfile".to_string()
        } else {
            opts.dockerfile.clone()
        };
        let text = read_in_context(ctx.path(), &file)?;
        let df = berth_build::parse(&file, &text)?;
        let plan = berth_build::plan(&df, opts.target.as_deref())?;
        let ignore = read_in_context(ctx.path(), ".dockerignore")
            .ok()
            .map(|t| Ignore::parse(&t));
        let host = host_platform();
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
        let mut last = None;
        for &index in &plan.order {
            let stage = &df.stages[index];
            let id = run.stage(stage, index == plan.target, &tags)?;
            run.results.insert(index, id.clone());
            last = Some(id);
        }
        let id = last.ok_or_else(|| EngineError::BuildStep {
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

    /// Where build contexts are unpacked.
    fn build_dir(&self) -> std::path::PathBuf {
        self.root.join("build").join("contexts")
    }

    /// Keeps the cache under its bound, oldest used records first.
    fn build_cache_trim(&self) -> Result<()> {
        if self.images.cache_size() <= self.build.cache_max {
            return Ok(());
        }
        let in_use = self.image_users();
        self.images.cache_prune(
            &CachePrune {
                all: false,
                filters: Default::default(),
                keep_storage: Some(self.build.cache_max),
            },
            &|id| in_use.contains(&id.to_string()),
        )?;
        Ok(())
    }

    /// `POST /build/prune`.
    pub fn build_prune(
        &self,
        opts: &CachePrune,
    ) -> Result<berth_api_types::build::BuildPruneResponse> {
        let in_use = self.image_users();
        Ok(self
            .images
            .cache_prune(opts, &|id| in_use.contains(&id.to_string()))?)
    }

    /// The build cache's records (`system df`).
    pub fn build_cache_usage(&self) -> Vec<berth_api_types::build::BuildCache> {
        self.images.cache_usage()
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

/// The platform this daemon builds for.
fn host_platform() -> Platform {
    Platform {
        os: "linux".into(),
        arch: berth_api_types::go::arch().into(),
        variant: None,
    }
}

/// Reads `name` from the context without following a symlink out of it.
fn read_in_context(root: &std::path::Path, name: &str) -> Result<String> {
    let tree = berth_storage::confined::Tree::open(root)?;
    let shown = name.trim_start_matches("./");
    let resolved = tree
        .resolve(&format!("/{}", shown.trim_start_matches('/')), true)
        .map_err(|_| EngineError::BuildStep {
            message: format!("Cannot locate specified Dockerfile: {shown}"),
        })?;
    let path = root.join(resolved.path.trim_start_matches('/'));
    std::fs::read_to_string(&path).map_err(|e| EngineError::io(&path, e))
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

impl Run<'_, '_> {
    fn say(&mut self, text: String) {
        if !self.opts.quiet {
            (self.progress)(JsonMessage::stream(text));
        }
    }

    fn line_text(&self, line: usize) -> String {
        self.lines
            .get(line.saturating_sub(1))
            .map(|l| l.trim().to_string())
            .unwrap_or_default()
    }

    /// Runs one stage; returns the image it made (tagged when it is the target).
    fn stage(&mut self, stage: &Stage, is_target: bool, tags: &[Reference]) -> Result<Digest> {
        let from =
            berth_build::config::evaluate_from(stage, &self.globals, &self.file, self.escape)?;
        self.step_no += 1;
        let text = self.line_text(stage.line);
        self.say(format!("Step {}/{} : {text}\n", self.step_no, self.total));
        let mut state = self.base_state(&from.base, stage)?;
        if let Some(id) = &state.image {
            self.say(format!(" ---> {}\n", &id.hex()[..12]));
        }
        let mut run_config = state.config.config.clone().unwrap_or_default();
        // The base's ONBUILD triggers run first, then are spent.
        let triggers = run_config.on_build.take().unwrap_or_default();
        let steps = if triggers.is_empty() {
            stage.clone()
        } else {
            let trigger_text = format!("FROM scratch\n{}\n", triggers.join("\n"));
            let parsed = berth_build::parse(&self.file, &trigger_text)?;
            let mut merged = stage.clone();
            let mut trigger_steps = parsed
                .stages
                .into_iter()
                .next()
                .map(|s| s.steps)
                .unwrap_or_default();
            for s in &mut trigger_steps {
                s.line = stage.line;
            }
            self.triggers = triggers.iter().rev().cloned().collect();
            trigger_steps.extend(merged.steps);
            merged.steps = trigger_steps;
            let n = triggers.len();
            self.say(format!(
                "# Executing {n} build trigger{}\n",
                if n == 1 { "" } else { "s" }
            ));
            merged
        };
        let (file, escape) = (self.file.clone(), self.escape);
        let globals = self.globals.clone();
        let inputs = self.inputs.clone();
        let used = berth_build::config::walk(
            &steps,
            &mut run_config,
            &globals,
            &inputs,
            &file,
            escape,
            &mut |step: &Step, scope: &Scope, config: &ImageConfig| -> Result<()> {
                self.step(&mut state, step, scope, config)
            },
        )?;
        self.used_args.extend(used);
        // The result: the stage's config over its layers, with the build's labels.
        if is_target && !self.opts.labels.is_empty() {
            let labels = run_config.labels.get_or_insert_with(BTreeMap::new);
            labels.extend(self.opts.labels.clone());
        }
        state.config.config = Some(run_config);
        let key = chain_key(
            &state.key,
            &serde_json::json!({"final": state.config.config, "target": is_target}),
        );
        let key_text = key.to_string();
        let cached = (!self.opts.no_cache)
            .then(|| self.engine.images.cache_lookup(&key_text))
            .flatten();
        let id = match cached {
            Some(id) => {
                self.hits.push(key_text);
                for t in tags.iter().filter(|_| is_target) {
                    self.engine.images.tag(&id.to_string(), t)?;
                }
                id
            }
            None => {
                let mut config = state.config.clone();
                config.created = Some(berth_common::time::now());
                self.engine.images.assemble(Assembly {
                    base: state.image.clone(),
                    layer: None,
                    config,
                    tags: if is_target { tags.to_vec() } else { Vec::new() },
                    hidden: !is_target,
                    cache_key: Some(key_text),
                })?
            }
        };
        Ok(id)
    }

    /// The state a stage starts from: an earlier stage's image, `scratch`, or a local image.
    fn base_state(&mut self, base: &str, stage: &Stage) -> Result<StageState> {
        let earlier = self
            .names
            .get(&base.to_ascii_lowercase())
            .copied()
            .filter(|i| *i < stage.index)
            .or_else(|| base.parse::<usize>().ok().filter(|i| *i < stage.index));
        let image =
            if let Some(i) = earlier {
                Some(
                    self.results
                        .get(&i)
                        .cloned()
                        .ok_or_else(|| EngineError::BuildStep {
                            message: format!(
                                "{}:{}: FROM: stage {base} was not built",
                                self.file, stage.line
                            ),
                        })?,
                )
            } else if base.eq_ignore_ascii_case("scratch") {
                None
            } else {
                Some(self.engine.images.resolve(base).map_err(|_| EngineError::BuildStep {
                message: format!(
                    "{}:{}: FROM: image {base} is not in the local store (pull it first)",
                    self.file, stage.line
                ),
            })?)
            };
        match image {
            Some(id) => {
                let config = self.engine.images.image_config(&id)?;
                let top = self.engine.images.layers(&id)?.last().cloned();
                Ok(StageState {
                    key: chain_key(&id, &serde_json::json!("from")),
                    image: Some(id),
                    top,
                    config,
                })
            }
            None => {
                let platform = host_platform();
                Ok(StageState {
                    image: None,
                    top: None,
                    config: OciImageConfig {
                        architecture: platform.arch,
                        os: platform.os,
                        ..OciImageConfig::default()
                    },
                    key: Digest::of(b"scratch"),
                })
            }
        }
    }

    /// One step, after `walk` applied what it does to the config.
    fn step(
        &mut self,
        state: &mut StageState,
        step: &Step,
        scope: &Scope,
        config: &ImageConfig,
    ) -> Result<()> {
        let text = if let Some(trigger) = self.triggers.pop() {
            // A trigger of the base image: Docker shows it under the FROM, unnumbered.
            trigger
        } else {
            self.step_no += 1;
            let text = self.line_text(step.line);
            self.say(format!("Step {}/{} : {text}\n", self.step_no, self.total));
            text
        };
        match &step.instruction {
            Instruction::Run {
                flags,
                command,
                heredocs,
            } => self.run_step(state, step, scope, config, flags, command, heredocs, &text),
            Instruction::Copy(spec) => {
                self.copy_step(state, step, scope, config, spec, false, &text)
            }
            Instruction::Add(spec) => self.copy_step(state, step, scope, config, spec, true, &text),
            Instruction::Workdir(_) => self.workdir_step(state, config, text),
            Instruction::Arg(_) => {
                // An ARG changes what later RUNs see, which their keys include.
                Ok(())
            }
            _ => {
                state.key = chain_key(&state.key, &serde_json::json!({"config": config}));
                state.config.history.push(History {
                    created: Some(berth_common::time::now()),
                    created_by: Some(text),
                    empty_layer: Some(true),
                    ..History::default()
                });
                Ok(())
            }
        }
    }

    /// `WORKDIR`: the directory is made when the image lacks it (a layer, as BuildKit makes
    /// it); otherwise only the config changes.
    fn workdir_step(
        &mut self,
        state: &mut StageState,
        config: &ImageConfig,
        text: String,
    ) -> Result<()> {
        let key = chain_key(&state.key, &serde_json::json!({"workdir": config}));
        let history = History {
            created: Some(berth_common::time::now()),
            created_by: Some(text.clone()),
            empty_layer: Some(true),
            ..History::default()
        };
        if !self.opts.no_cache
            && let Some(id) = self.engine.images.cache_lookup(&key.to_string())
        {
            self.hits.push(key.to_string());
            if state.image.as_ref() == Some(&id) {
                // The directory was there: nothing but the config changed.
                state.key = key;
                state.config.history.push(history);
                self.say(" ---> Using cache\n".into());
                return Ok(());
            }
            self.hits.pop();
            return self.cache_hit(state, &key).map(|_| ());
        }
        let container = StepContainer::create(
            self.engine,
            StepSpec {
                image: state.image.as_ref(),
                top: state.top.clone(),
                config: &ImageConfig::default(),
                argv: vec!["true".into()],
                env: Vec::new(),
                network: "none".into(),
                extra_hosts: Vec::new(),
                build_id: &self.build_id,
            },
        )?;
        let dir = config.working_dir.clone();
        let made = self.engine.containers.with_rootfs(&container.id, |root| {
            let tree = berth_storage::confined::Tree::open(root)?;
            let missing = missing_dirs(&tree, &dir, true);
            if missing.is_empty() {
                return Ok(false);
            }
            let top = tree
                .resolve("/", true)
                .map_err(|e| EngineError::Internal(e.to_string()))?;
            let mut tar = Vec::new();
            {
                let mut b = tar::Builder::new(&mut tar);
                for d in &missing {
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    h.set_size(0);
                    b.append_data(&mut h, d, std::io::empty())
                        .map_err(|e| EngineError::io(root, e))?;
                }
                b.finish().map_err(|e| EngineError::io(root, e))?;
            }
            berth_storage::unpack::apply_tar_at(
                &mut &tar[..],
                top.fd,
                root,
                berth_storage::unpack::WhiteoutMode::Overlay,
            )?;
            Ok(true)
        })?;
        if made {
            return self.commit(state, &container, &key, config, text);
        }
        if let Some(id) = &state.image {
            self.engine.images.cache_record(&key.to_string(), id)?;
        }
        state.key = key;
        state.config.history.push(history);
        Ok(())
    }

    /// Looks the step up in the cache; on a hit moves the stage onto the recorded image.
    fn cache_hit(&mut self, state: &mut StageState, key: &Digest) -> Result<bool> {
        if self.opts.no_cache {
            return Ok(false);
        }
        let Some(id) = self.engine.images.cache_lookup(&key.to_string()) else {
            return Ok(false);
        };
        self.hits.push(key.to_string());
        state.config = self.engine.images.image_config(&id)?;
        state.top = self.engine.images.layers(&id)?.last().cloned();
        self.say(format!(" ---> Using cache\n ---> {}\n", &id.hex()[..12]));
        state.image = Some(id);
        state.key = key.clone();
        Ok(true)
    }

    /// Commits the step container's changes as the stage's next layer.
    fn commit(
        &mut self,
        state: &mut StageState,
        container: &StepContainer<'_>,
        key: &Digest,
        config: &ImageConfig,
        created_by: String,
    ) -> Result<()> {
        let mut next = state.config.clone();
        let now = berth_common::time::now();
        next.created = Some(now.clone());
        next.config = Some(config.clone());
        next.history.push(History {
            created: Some(now),
            created_by: Some(created_by),
            ..History::default()
        });
        let base = state.image.clone();
        let id =
            self.engine
                .with_container_diff(&container.id, container.top.as_ref(), |layer| {
                    Ok(self.engine.images.assemble(Assembly {
                        base,
                        layer: Some(layer),
                        config: next.clone(),
                        tags: Vec::new(),
                        hidden: true,
                        cache_key: Some(key.to_string()),
                    })?)
                })?;
        state.top = self.engine.images.layers(&id)?.last().cloned();
        state.image = Some(id.clone());
        state.config = next;
        state.key = key.clone();
        self.say(format!(" ---> {}\n", &id.hex()[..12]));
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn run_step(
        &mut self,
        state: &mut StageState,
        step: &Step,
        scope: &Scope,
        config: &ImageConfig,
        flags: &[berth_build::dockerfile::Flag],
        command: &Command,
        heredocs: &[berth_build::dockerfile::Heredoc],
        text: &str,
    ) -> Result<()> {
        let shell = config
            .shell
            .clone()
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
        let argv = match command {
            Command::Exec(args) => args.clone(),
            Command::Shell(cmd) => {
                let mut argv = shell;
                argv.push(with_heredocs(cmd, heredocs));
                argv
            }
        };
        let mut network = self.opts.network.clone();
        for f in flags {
            match f.name.as_str() {
                "network" => network = f.value.clone().unwrap_or_default(),
                other => {
                    return Err(step_error(
                        &self.file,
                        step,
                        format!("--{other} is not supported by this builder yet"),
                    ));
                }
            }
        }
        if network.is_empty() {
            network = "default".into();
        }
        let mut env = config.env.clone().unwrap_or_default();
        for (k, v) in scope.args() {
            if !env.iter().any(|e| e.split('=').next() == Some(k.as_str())) {
                env.push(format!("{k}={v}"));
            }
        }
        let key = chain_key(
            &state.key,
            &serde_json::json!({"run": argv, "env": env, "config": config, "network": network}),
        );
        if self.cache_hit(state, &key)? {
            return Ok(());
        }
        let container = StepContainer::create(
            self.engine,
            StepSpec {
                image: state.image.as_ref(),
                top: state.top.clone(),
                config,
                argv: argv.clone(),
                env,
                network,
                extra_hosts: self.opts.extra_hosts.clone(),
                build_id: &self.build_id,
            },
        )?;
        self.say(format!(" ---> Running in {}\n", container.short()));
        let shown = argv.join(" ");
        let quiet = self.opts.quiet;
        let progress = &mut self.progress;
        container.run(&shown, &mut |line| {
            if !quiet {
                progress(JsonMessage::stream(line.to_string()));
            }
        })?;
        let created_by = match command {
            Command::Shell(_) => format!("RUN {}", argv.join(" ")),
            Command::Exec(_) => text.to_string(),
        };
        self.commit(state, &container, &key, config, created_by)?;
        self.say(format!(
            " ---> Removed intermediate container {}\n",
            container.short()
        ));
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn copy_step(
        &mut self,
        state: &mut StageState,
        step: &Step,
        scope: &Scope,
        config: &ImageConfig,
        spec: &CopySpec,
        add: bool,
        text: &str,
    ) -> Result<()> {
        let vars = scope.vars();
        let expand = |w: &str| {
            words::process_word(w, &vars, self.escape)
                .map_err(|e| step_error(&self.file, step, e.0))
        };
        let mut from = None;
        let mut chown = None;
        let mut chmod = None;
        let mut excludes = Vec::new();
        for f in &spec.flags {
            let value = f.value.clone().unwrap_or_default();
            match f.name.as_str() {
                "from" if !add => from = Some(expand(&value)?),
                "chown" => chown = Some(expand(&value)?),
                "chmod" => {
                    let v = expand(&value)?;
                    chmod = Some(u32::from_str_radix(&v, 8).map_err(|_| {
                        step_error(
                            &self.file,
                            step,
                            format!("invalid --chmod={v}: not an octal mode"),
                        )
                    })?);
                }
                "exclude" => excludes.push(expand(&value)?),
                // `--link` only changes how BuildKit stacks the layer; the result is the same.
                "link" => {}
                other => {
                    return Err(step_error(
                        &self.file,
                        step,
                        format!("unknown flag: --{other}"),
                    ));
                }
            }
        }
        let mut sources = Vec::new();
        for s in &spec.sources {
            match s {
                Source::Path(p) => {
                    let p = expand(p)?;
                    if add && (p.starts_with("http://") || p.starts_with("https://")) {
                        return Err(step_error(
                            &self.file,
                            step,
                            format!("{p}: ADD from a URL is not supported by this builder yet"),
                        ));
                    }
                    sources.push(CopySource::Path(p));
                }
                Source::Heredoc(h) => {
                    let body = if h.expand {
                        words::process_word(&h.body, &vars, self.escape)
                            .map_err(|e| step_error(&self.file, step, e.0))?
                    } else {
                        h.body.clone()
                    };
                    sources.push(CopySource::Inline {
                        name: String::new(),
                        body: body.into_bytes(),
                    });
                }
            }
        }
        let dest_raw = expand(&spec.dest)?;
        let dest = if dest_raw.starts_with('/') {
            dest_raw.clone()
        } else {
            let wd = if config.working_dir.is_empty() {
                "/"
            } else {
                &config.working_dir
            };
            format!("{}/{dest_raw}", wd.trim_end_matches('/'))
        };
        let dest_dir = dest_raw.ends_with('/') || dest_raw == "." || sources.len() > 1;
        let owner = match &chown {
            None => (0, 0),
            Some(spec) => self.owner_of(state, spec, step)?,
        };
        let exclude_set = (!excludes.is_empty()).then(|| Ignore::parse(&excludes.join("\n")));
        // The source root: the context, or the stage or image `--from` names.
        let from_image = match &from {
            None => None,
            Some(name) => Some(self.image_named_by_from(name, step)?),
        };
        let planned_key = |plan_sum: &str| {
            chain_key(
                &state.key,
                &serde_json::json!({
                    "copy": add, "dest": dest, "dir": dest_dir, "owner": owner, "mode": chmod,
                    "content": plan_sum, "config": config,
                }),
            )
        };
        let ignore = if from.is_none() {
            self.ignore.clone()
        } else {
            None
        };
        let job = CopyJob {
            ignore: ignore.as_ref(),
            excludes: exclude_set.clone(),
            sources: sources.clone(),
            dest: dest.clone(),
            dest_dir,
            owner,
            mode: chmod,
            unpack_archives: add,
        };
        let key = match &from_image {
            None => {
                let plan = job
                    .plan(self.context.path())
                    .map_err(|m| step_error(&self.file, step, m))?;
                planned_key(&plan.checksum.to_string())
            }
            Some(id) => {
                let sources_text: Vec<String> =
                    spec.sources.iter().map(|s| format!("{s:?}")).collect();
                planned_key(&format!("{id} {}", sources_text.join(" ")))
            }
        };
        if self.cache_hit(state, &key)? {
            return Ok(());
        }
        let container = StepContainer::create(
            self.engine,
            StepSpec {
                image: state.image.as_ref(),
                top: state.top.clone(),
                config,
                argv: vec!["true".into()],
                env: Vec::new(),
                network: "none".into(),
                extra_hosts: Vec::new(),
                build_id: &self.build_id,
            },
        )?;
        let source_container = match &from_image {
            Some(id) => Some(StepContainer::create(
                self.engine,
                StepSpec {
                    image: Some(id),
                    top: self.engine.images.layers(id)?.last().cloned(),
                    config,
                    argv: vec!["true".into()],
                    env: Vec::new(),
                    network: "none".into(),
                    extra_hosts: Vec::new(),
                    build_id: &self.build_id,
                },
            )?),
            None => None,
        };
        let file = self.file.clone();
        let write = |source_root: &std::path::Path| -> Result<()> {
            self.engine.containers.with_rootfs(&container.id, |root| {
                let tree = berth_storage::confined::Tree::open(root)?;
                let exists_dir = tree
                    .resolve(&dest, true)
                    .is_ok_and(|r| r.stat.st_mode & 0o170000 == 0o040000);
                let mut this_job = job.clone();
                this_job.dest_dir |= exists_dir;
                let plan = this_job
                    .plan(source_root)
                    .map_err(|m| step_error(&file, step, m))?;
                let target_is_dir =
                    dest_dir || exists_dir || plan_has_dir_source(&sources, source_root);
                let missing = missing_dirs(&tree, &dest, target_is_dir);
                let top = tree
                    .resolve("/", true)
                    .map_err(|e| EngineError::Internal(e.to_string()))?;
                let (mut reader, mut writer) =
                    std::io::pipe().map_err(|e| EngineError::io(root, e))?;
                std::thread::scope(|s| {
                    let producer = s.spawn(move || plan.write_tar(&missing, &mut writer));
                    let applied = berth_storage::unpack::apply_tar_at(
                        &mut reader,
                        top.fd,
                        root,
                        berth_storage::unpack::WhiteoutMode::Overlay,
                    );
                    drop(reader);
                    let produced = producer.join();
                    applied?;
                    match produced {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(e)) => Err(step_error(&file, step, e)),
                        Err(_) => Err(EngineError::Internal("the copy writer panicked".into())),
                    }
                })
            })
        };
        match &source_container {
            None => write(self.context.path())?,
            Some(src) => self
                .engine
                .containers
                .with_rootfs(&src.id, |root| write(root))?,
        }
        drop(source_container);
        self.commit(state, &container, &key, config, text.to_string())?;
        Ok(())
    }

    /// The image `COPY --from` names: an earlier stage (by name or index) or an image.
    fn image_named_by_from(&self, name: &str, step: &Step) -> Result<Digest> {
        let stage = self
            .names
            .get(&name.to_ascii_lowercase())
            .copied()
            .or_else(|| name.parse::<usize>().ok());
        if let Some(i) = stage {
            return self.results.get(&i).cloned().ok_or_else(|| {
                step_error(
                    &self.file,
                    step,
                    format!("stage {name} was not built before this step"),
                )
            });
        }
        self.engine.images.resolve(name).map_err(|_| {
            step_error(
                &self.file,
                step,
                format!("--from={name}: no such stage or local image"),
            )
        })
    }

    /// `--chown=user[:group]` resolved with the stage's `/etc/passwd` and `/etc/group`.
    fn owner_of(&self, state: &StageState, spec: &str, step: &Step) -> Result<(u32, u32)> {
        let numeric = |s: &str| s.parse::<u32>().ok();
        let (u, g) = spec.split_once(':').unwrap_or((spec, ""));
        if let (Some(uid), Some(gid)) = (
            numeric(u),
            if g.is_empty() { numeric(u) } else { numeric(g) },
        ) {
            return Ok((uid, gid));
        }
        let container = StepContainer::create(
            self.engine,
            StepSpec {
                image: state.image.as_ref(),
                top: state.top.clone(),
                config: &ImageConfig::default(),
                argv: vec!["true".into()],
                env: Vec::new(),
                network: "none".into(),
                extra_hosts: Vec::new(),
                build_id: &self.build_id,
            },
        )?;
        let (passwd, group) = self.engine.containers.with_rootfs(&container.id, |root| {
            let tree = berth_storage::confined::Tree::open(root)?;
            let read = |p: &str| {
                tree.resolve(p, true).ok().and_then(|r| {
                    std::fs::read_to_string(root.join(r.path.trim_start_matches('/'))).ok()
                })
            };
            Ok((read("/etc/passwd"), read("/etc/group")))
        })?;
        let user = crate::spec::user::resolve_user(spec, &[], passwd.as_deref(), group.as_deref())
            .map_err(|e| step_error(&self.file, step, format!("--chown={spec}: {e}")))?;
        Ok((user.uid, user.gid))
    }
}

/// Whether some source is a directory (then the destination is one too).
fn plan_has_dir_source(sources: &[CopySource], root: &std::path::Path) -> bool {
    sources.iter().any(|s| match s {
        CopySource::Path(p) => {
            !p.contains(['*', '?', '['])
                && berth_storage::confined::Tree::open(root)
                    .ok()
                    .and_then(|t| {
                        t.resolve(&format!("/{}", p.trim_start_matches('/')), true)
                            .ok()
                    })
                    .is_some_and(|r| r.stat.st_mode & 0o170000 == 0o040000)
        }
        CopySource::Inline { .. } => false,
    })
}

/// The destination's ancestors (and itself, when it is a directory) that the image lacks.
fn missing_dirs(
    tree: &berth_storage::confined::Tree,
    dest: &str,
    dest_is_dir: bool,
) -> Vec<String> {
    let parts: Vec<&str> = dest.split('/').filter(|p| !p.is_empty()).collect();
    let upto = if dest_is_dir {
        parts.len()
    } else {
        parts.len().saturating_sub(1)
    };
    let mut out = Vec::new();
    for i in 1..=upto {
        let path = parts[..i].join("/");
        if tree.resolve(&format!("/{path}"), true).is_err() {
            out.push(path);
        }
    }
    out
}

/// A shell-form command with its here-documents: a command that is only `<<EOF` runs the
/// document as the script; otherwise the documents follow the command line for the shell.
fn with_heredocs(cmd: &str, heredocs: &[berth_build::dockerfile::Heredoc]) -> String {
    if heredocs.is_empty() {
        return cmd.to_string();
    }
    let trimmed = cmd.trim();
    if heredocs.len() == 1 && trimmed.starts_with("<<") && !trimmed.contains(' ') {
        return heredocs[0].body.clone();
    }
    let mut out = cmd.to_string();
    let mut delimiters = Vec::new();
    let mut rest = cmd;
    while let Some(at) = rest.find("<<") {
        let after = rest[at + 2..].trim_start_matches('-');
        let word: String = after
            .trim_matches(|c| c == '"' || c == '\'')
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        delimiters.push(word);
        rest = &rest[at + 2..];
    }
    for (doc, delim) in heredocs.iter().zip(delimiters) {
        out.push('\n');
        out.push_str(&doc.body);
        if !doc.body.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&delim);
    }
    out
}
