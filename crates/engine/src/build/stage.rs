//! Running one stage: its base (an earlier stage, `scratch` or a local image), each step
//! in turn with the cache looked up first, and the stage's image at the end.

use super::*;

impl Run<'_, '_> {
    pub(super) fn say(&mut self, text: String) {
        if !self.opts.quiet {
            (self.progress)(JsonMessage::stream(text));
        }
    }

    pub(super) fn line_text(&self, line: usize) -> String {
        self.lines
            .get(line.saturating_sub(1))
            .map(|l| l.trim().to_string())
            .unwrap_or_default()
    }

    /// Runs one stage; returns the image it made (tagged when it is the target).
    pub(super) fn stage(
        &mut self,
        stage: &Stage,
        is_target: bool,
        tags: &[Reference],
    ) -> Result<Digest> {
        let from =
            berth_build::config::evaluate_from(stage, &self.globals, &self.file, self.escape)?;
        self.step_no += 1;
        let text = self.line_text(stage.line);
        self.say(format!("Step {}/{} : {text}\n", self.step_no, self.total));
        let mut state = self.base_state(&from.base, stage)?;
        if let Some(p) = &from.platform {
            self.check_base_platform(p, &mut state, stage)?;
        }
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
                    adopt: None,
                })?
            }
        };
        Ok(id)
    }

    /// `FROM --platform=P`: an image base must be made for `P`; a `scratch` stage becomes a
    /// `P` image (only copies fill it; a `RUN` in a stage this host cannot run is refused).
    fn check_base_platform(&self, spec: &str, state: &mut StageState, stage: &Stage) -> Result<()> {
        let host = host_platform();
        let err = |m: String| EngineError::BuildStep {
            message: format!("{}:{}: FROM: {m}", self.file, stage.line),
        };
        let wanted = Platform::parse(spec, &host.arch).map_err(err)?;
        let image = platform_of(&state.config);
        if state.image.is_some() && !image.os.is_empty() && !image.runs_on(&wanted) {
            return Err(err(format!(
                "--platform={}: the base image is {} (pull a base made for that platform, or build for the host)",
                wanted.spec(),
                image.spec()
            )));
        }
        if state.image.is_none() {
            state.config.os = wanted.os;
            state.config.architecture = wanted.arch;
            state.config.variant = wanted.variant;
        }
        Ok(())
    }

    /// The image a `FROM` names: the local one, or pulled from its registry when there is
    /// none (or always, with `--pull`), with the pull's progress in the build's output.
    fn base_image(&mut self, base: &str, stage: &Stage) -> Result<Digest> {
        let local = self.engine.images.resolve(base).ok();
        if let Some(id) = &local
            && !self.opts.pull
        {
            return Ok(id.clone());
        }
        self.pull_for_build(base)
            .map_err(|e| EngineError::BuildStep {
                message: format!("{}:{}: FROM: pulling {base}: {e}", self.file, stage.line),
            })
    }

    /// Pulls `name` for this build (a base, or an image `COPY --from` names), with the
    /// build's registry credentials and platform, its progress in the build's output.
    pub(super) fn pull_for_build(&mut self, name: &str) -> Result<Digest> {
        let reference = berth_common::Reference::parse_tagged_default(name)?;
        let domain = reference.domain().to_string();
        let auth = self
            .opts
            .registry_auth
            .iter()
            .find(|(server, _)| {
                berth_registry::auth::registry_host(server)
                    == berth_registry::auth::registry_host(&domain)
            })
            .map(|(_, a)| a.clone());
        let quiet = self.opts.quiet;
        let sink = std::sync::Mutex::new(&mut *self.progress);
        let forward = |m: JsonMessage| {
            if !quiet {
                (sink.lock().unwrap_or_else(|p| p.into_inner()))(m);
            }
        };
        let platform = self.opts.platform.clone();
        self.engine
            .pull_blocking(name, platform.as_deref(), auth.as_ref(), &forward)
    }

    /// The state a stage starts from: an earlier stage's image, `scratch`, or a local image.
    pub(super) fn base_state(&mut self, base: &str, stage: &Stage) -> Result<StageState> {
        let earlier = self
            .names
            .get(&base.to_ascii_lowercase())
            .copied()
            .filter(|i| *i < stage.index)
            .or_else(|| base.parse::<usize>().ok().filter(|i| *i < stage.index));
        let image = if let Some(i) = earlier {
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
            Some(self.base_image(base, stage)?)
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
    pub(super) fn step(
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

    /// Looks the step up in the cache; on a hit moves the stage onto the recorded image.
    pub(super) fn cache_hit(&mut self, state: &mut StageState, key: &Digest) -> Result<bool> {
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
    pub(super) fn commit(
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
                        adopt: Some(container.id.clone()),
                    })?)
                })?;
        state.top = self.engine.images.layers(&id)?.last().cloned();
        state.image = Some(id.clone());
        state.config = next;
        state.key = key.clone();
        self.say(format!(" ---> {}\n", &id.hex()[..12]));
        Ok(())
    }
}
