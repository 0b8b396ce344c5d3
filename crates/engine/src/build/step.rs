//! The container a build step runs in: a real Berth container (default seccomp, capabilities,
//! devices, namespaces) made from the step's parent, removed when the step ends whatever
//! happened, and recognised by its label after a crash so the next daemon removes it.

use crate::Engine;
use crate::containers::ImageFacts;
use crate::containers::WaitCondition;
use crate::containers::logs::LogOptions;
use crate::error::EngineError;
use berth_api_types::container::{ContainerConfig, ContainerCreateRequest, HostConfig};
use berth_api_types::image::ImageConfig;
use berth_common::Digest;
use std::collections::{BTreeMap, VecDeque};

/// The label every build step container carries (its value: the build's id).
pub(crate) const STEP_LABEL: &str = "berth.build.step";

/// Lines of a failed `RUN`'s output repeated in its error.
const TAIL_LINES: usize = 10;

/// What a step container runs and how.
pub(crate) struct StepSpec<'a> {
    /// The image the step starts from (`None`: nothing, `FROM scratch`).
    pub image: Option<&'a Digest>,
    /// Its top layer's chain id.
    pub top: Option<Digest>,
    /// The stage's run config at this step.
    pub config: &'a ImageConfig,
    /// The command (a `RUN`'s); a placeholder for a `COPY`, which never starts.
    pub argv: Vec<String>,
    /// The environment: the config's, then the `ARG`s in scope.
    pub env: Vec<String>,
    /// `--network` of the build or of the `RUN`.
    pub network: String,
    /// `--add-host`s.
    pub extra_hosts: Vec<String>,
    /// The build's id (the label's value).
    pub build_id: &'a str,
    /// `RUN --mount` binds (caches, secrets, binds).
    pub mounts: Vec<berth_api_types::container::Mount>,
    /// `RUN --mount=type=tmpfs`, target → options.
    pub tmpfs: BTreeMap<String, String>,
}

/// A step container; removed when dropped.
pub(crate) struct StepContainer<'a> {
    engine: &'a Engine,
    /// Its id.
    pub id: String,
    /// The top layer of the image it was made from.
    pub top: Option<Digest>,
}

/// Docker's placeholder image id for `FROM scratch` containers (the digest of nothing).
fn scratch_id() -> Digest {
    Digest::of(b"")
}

impl<'a> StepContainer<'a> {
    /// Creates the container (not started).
    pub fn create(engine: &'a Engine, spec: StepSpec<'_>) -> Result<Self, EngineError> {
        let id = spec.image.cloned().unwrap_or_else(scratch_id);
        let request = ContainerCreateRequest {
            config: ContainerConfig {
                image: id.to_string(),
                cmd: Some(spec.argv),
                entrypoint: Some(Vec::new()),
                env: spec.env,
                working_dir: spec.config.working_dir.clone(),
                user: spec.config.user.clone(),
                attach_stdout: true,
                attach_stderr: true,
                labels: BTreeMap::from([(STEP_LABEL.to_string(), spec.build_id.to_string())]),
                ..ContainerConfig::default()
            },
            host_config: HostConfig {
                network_mode: spec.network,
                extra_hosts: spec.extra_hosts,
                mounts: spec.mounts,
                tmpfs: spec.tmpfs,
                ..HostConfig::default()
            },
            ..ContainerCreateRequest::default()
        };
        // The container sees the stage's config, not the base image's: its env, user and
        // workdir were given above; nothing else (no CMD, no healthcheck) applies to a step.
        let facts = ImageFacts {
            id,
            config: ImageConfig::default(),
            top_layer: spec.top.clone(),
        };
        let record = engine.containers.create(None, request, facts)?;
        Ok(StepContainer {
            engine,
            id: record.id,
            top: spec.top,
        })
    }

    /// A container that is never started, for its root file system only: a copy's
    /// destination, a stage's files to read, the `/etc/passwd` of a `--chown`.
    pub fn idle(
        engine: &'a Engine,
        image: Option<&Digest>,
        build_id: &str,
    ) -> Result<Self, EngineError> {
        let top = match image {
            Some(id) => engine.images.layers(id)?.last().cloned(),
            None => None,
        };
        StepContainer::create(
            engine,
            StepSpec {
                image,
                top,
                config: &ImageConfig::default(),
                argv: vec!["true".into()],
                env: Vec::new(),
                network: "none".into(),
                extra_hosts: Vec::new(),
                build_id,
                mounts: Vec::new(),
                tmpfs: BTreeMap::new(),
            },
        )
    }

    /// Starts the container, hands each line of its output to `on_line`, and waits for its
    /// exit. A non-zero exit is an error in Docker's words, with the output's last lines.
    pub fn run(
        &self,
        shown_command: &str,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<(), EngineError> {
        let handle = tokio::runtime::Handle::current();
        self.engine.containers.start(&self.id)?;
        let mut feed = self.engine.containers.logs(
            &self.id,
            LogOptions {
                stdout: true,
                stderr: true,
                follow: true,
                ..LogOptions::default()
            },
        )?;
        let mut tail: VecDeque<String> = VecDeque::new();
        while let Some(line) = feed.lines.blocking_recv() {
            let text = String::from_utf8_lossy(&line.text).into_owned();
            on_line(&text);
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(text);
        }
        let containers = self.engine.containers.clone();
        let id = self.id.clone();
        let exit = handle
            .block_on(async move { containers.wait(&id, WaitCondition::NotRunning).await })?;
        if exit.status_code != 0 {
            let mut message = format!(
                "The command '{shown_command}' returned a non-zero code: {}",
                exit.status_code
            );
            if !tail.is_empty() {
                message.push_str("\nlast output:\n");
                for l in &tail {
                    message.push_str(l);
                    if !l.ends_with('\n') {
                        message.push('\n');
                    }
                }
                message.truncate(message.trim_end().len());
            }
            return Err(EngineError::BuildStep { message });
        }
        Ok(())
    }

    /// Removes `paths` (absolute container paths, each the top-most one a mount made) from
    /// the container's writable layer, so the mount points of `RUN --mount` are not committed.
    pub fn forget(&self, paths: &[String]) -> Result<(), EngineError> {
        use berth_storage::snapshot::RootfsMount;
        if paths.is_empty() {
            return Ok(());
        }
        let RootfsMount::Overlay { upper, .. } = self
            .engine
            .snapshotter
            .prepare(&self.id, self.top.as_ref())?
        else {
            return Ok(());
        };
        for p in paths {
            let path = upper.join(p.trim_start_matches('/'));
            let result = match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => std::fs::remove_dir_all(&path),
                Ok(_) => std::fs::remove_file(&path),
                Err(_) => Ok(()),
            };
            result.map_err(|e| EngineError::io(&path, e))?;
        }
        Ok(())
    }

    /// The short id Docker shows (`Running in 1a2b3c4d5e6f`).
    pub fn short(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
}

impl Drop for StepContainer<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.engine.containers.remove(&self.id, true, true) {
            tracing::warn!(id = %self.id, error = %e, "removing a build step container");
        }
    }
}
