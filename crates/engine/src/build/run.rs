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
