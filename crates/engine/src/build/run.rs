//! `RUN`: the command (shell or exec form, here-documents) in a step container, its output
//! streamed, its changes committed as the next layer.

use super::*;

impl Run<'_, '_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn run_step(
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
        let host = host_platform();
        let stage_platform = platform_of(&state.config);
        if !stage_platform.os.is_empty() && !stage_platform.runs_on(&host) {
            return Err(step_error(
                &self.file,
                step,
                format!(
                    "this stage is {}: its commands cannot run on this {} host (no emulator)",
                    stage_platform.spec(),
                    host.spec()
                ),
            ));
        }
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
        let mut mounts = Vec::new();
        for f in flags {
            match f.name.as_str() {
                "network" => network = f.value.clone().unwrap_or_default(),
                "mount" => mounts.push(
                    super::mounts::parse_mount(f.value.as_deref().unwrap_or_default())
                        .map_err(|m| step_error(&self.file, step, m))?,
                ),
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
        let prepared = self.prepare_mounts(&mounts, step)?;
        let key = chain_key(
            &state.key,
            &serde_json::json!({"run": argv, "env": env, "config": config, "network": network,
                "mounts": prepared.key}),
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
                mounts: prepared.mounts,
                tmpfs: prepared.tmpfs,
            },
        )?;
        // The mount points the image lacks, to take out of the layer after the step.
        let made_for_mounts = if prepared.targets.is_empty() {
            Vec::new()
        } else {
            self.engine.containers.with_rootfs(&container.id, |root| {
                let tree = berth_storage::confined::Tree::open(root)?;
                Ok(prepared
                    .targets
                    .iter()
                    .filter_map(|t| super::copy::missing_dirs(&tree, t, true).into_iter().next())
                    .map(|p| format!("/{p}"))
                    .collect::<Vec<_>>())
            })?
        };
        self.say(format!(" ---> Running in {}\n", container.short()));
        let shown = argv.join(" ");
        let quiet = self.opts.quiet;
        let progress = &mut self.progress;
        container.run(&shown, &mut |line| {
            if !quiet {
                progress(JsonMessage::stream(line.to_string()));
            }
        })?;
        container.forget(&made_for_mounts)?;
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
