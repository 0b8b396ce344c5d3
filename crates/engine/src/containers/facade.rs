//! The container (and exec) noun of the engine's facade: the one door through which the API,
//! and next the builder and stacks, reach containers.
//!
//! Each method is one Docker operation. Most hand over to [`Containers`](super::Containers), the life cycle
//! machinery; create and commit also need the image store, which only the engine holds. What
//! comes back is API models, engine types ([`StdioStream`], [`LogFeed`]) or futures, never a
//! shim or storage type.

use super::archive::PathStat;
use super::control::{Attach, AttachOptions};
use super::exec::ExecStream;
use super::logs::{LogFeed, LogOptions};
use super::query::ListOptions;
use super::{ImageFacts, WaitCondition, WaitResult};
use crate::{Engine, EngineError};
use berth_api_types::Filters;
use berth_api_types::container::{
    ContainerChange, ContainerCreateRequest, ContainerCreateResponse, ContainerInspect,
    ContainerPruneResponse, ContainerSummary, ContainerTopResponse, ContainerUpdateRequest,
};
use berth_api_types::exec::{ExecConfig, ExecInspect};
use berth_common::Digest;
use std::future::Future;
use std::io::{Read, Write};

type Result<T> = std::result::Result<T, EngineError>;

impl Engine {
    /// `docker create`: resolves the image, then creates the container.
    pub fn container_create(
        &self,
        name: Option<&str>,
        request: ContainerCreateRequest,
    ) -> Result<ContainerCreateResponse> {
        let warnings = crate::containers::create_warnings(&request);
        let image_name = request.config.image.clone();
        if image_name.is_empty() {
            return Err(EngineError::InvalidArgument(
                "config cannot be empty in order to create a container".into(),
            ));
        }
        let id =
            self.images.resolve(&image_name).map_err(
                |e| match berth_common::error::HasKind::kind(&e) {
                    berth_common::ErrorKind::NotFound => {
                        EngineError::NotFound(format!("No such image: {image_name}"))
                    }
                    _ => EngineError::from(e),
                },
            )?;
        let config = self.images.image_config(&id)?;
        let top_layer = self.images.layers(&id)?.last().cloned();
        let record = self.containers.create(
            name,
            request,
            ImageFacts {
                id,
                config: config.config.unwrap_or_default(),
                top_layer,
            },
        )?;
        Ok(ContainerCreateResponse {
            id: record.id,
            warnings,
        })
    }

    /// `docker ps`: newest first.
    pub fn container_list(&self, opts: &ListOptions) -> Result<Vec<ContainerSummary>> {
        self.containers.list(opts)
    }

    /// `docker inspect` of a container (`size`: compute its layer sizes).
    pub fn container_inspect(&self, key: &str, size: bool) -> Result<ContainerInspect> {
        self.containers.inspect(key, size)
    }

    /// `docker start` (blocking: it waits for the process to run).
    pub fn container_start(&self, key: &str) -> Result<()> {
        self.containers.start(key)
    }

    /// `docker stop`: the stop signal, then SIGKILL after `timeout` seconds (the container's
    /// own, or 10, when `None`; -1 waits for ever).
    pub async fn container_stop(
        &self,
        key: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        self.containers.stop(key, timeout, signal).await
    }

    /// `docker restart`: a stop as [`Engine::container_stop`], then a start.
    pub async fn container_restart(
        &self,
        key: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        self.containers.restart(key, timeout, signal).await
    }

    /// `docker kill` (SIGKILL unless `signal` names another).
    pub async fn container_kill(&self, key: &str, signal: Option<&str>) -> Result<()> {
        self.containers.kill(key, signal).await
    }

    /// `docker rm` (`force`: kill a running container first; `volumes`: remove its anonymous
    /// volumes).
    pub async fn container_remove(&self, key: &str, force: bool, volumes: bool) -> Result<()> {
        self.containers.remove_async(key, force, volumes).await
    }

    /// `DELETE /containers/{id}/{alias}?link=1`: removes a legacy link.
    pub fn container_remove_link(&self, key: &str, alias: &str) -> Result<()> {
        self.containers.remove_link(key, alias)
    }

    /// `docker wait`: fails at once for an unknown container (so the API can answer 404
    /// before it commits to a 200), else gives the wait itself, a future that holds no
    /// thread and ends the wait when dropped.
    pub fn container_wait(
        &self,
        key: &str,
        condition: WaitCondition,
    ) -> Result<impl Future<Output = Result<WaitResult>> + Send + use<>> {
        if let Err(e) = self.containers.store().get(key)
            && self.containers.recently_removed(key).is_none()
        {
            return Err(e);
        }
        let (containers, key) = (self.containers.clone(), key.to_string());
        Ok(async move { containers.wait(&key, condition).await })
    }

    /// `docker attach` (and `run`'s attach): see [`Containers::attach`](super::Containers::attach).
    pub fn container_attach(&self, key: &str, opts: AttachOptions) -> Result<Attach> {
        self.containers.attach(key, opts)
    }

    /// `docker logs`: the container's log as a feed of lines (must be called where a Tokio
    /// runtime runs: the feed is a task).
    pub fn container_logs(&self, key: &str, opts: LogOptions) -> Result<LogFeed> {
        self.containers.logs(key, opts)
    }

    /// `POST /containers/{id}/resize`: the TTY's new size.
    pub fn container_resize(&self, key: &str, height: u16, width: u16) -> Result<()> {
        self.containers.resize(key, height, width)
    }

    /// `docker pause`.
    pub fn container_pause(&self, key: &str) -> Result<()> {
        self.containers.pause(key)
    }

    /// `docker unpause`.
    pub fn container_unpause(&self, key: &str) -> Result<()> {
        self.containers.unpause(key)
    }

    /// `docker rename`.
    pub fn container_rename(&self, key: &str, new_name: &str) -> Result<()> {
        self.containers.rename(key, new_name)
    }

    /// `docker top` (`ps_args`: arguments for `ps`).
    pub fn container_top(&self, key: &str, ps_args: &str) -> Result<ContainerTopResponse> {
        self.containers.top(key, ps_args)
    }

    /// `docker stats --no-stream`: two samples a second apart so one answer carries a CPU
    /// percentage; `one_shot`, the first alone.
    pub async fn container_stats_once(
        &self,
        key: &str,
        one_shot: bool,
    ) -> Result<serde_json::Value> {
        self.containers.stats_once(key, one_shot).await
    }

    /// `docker stats`: a sample a second until the receiver is dropped.
    pub async fn container_stats_stream(
        &self,
        key: &str,
    ) -> Result<tokio::sync::mpsc::Receiver<serde_json::Value>> {
        self.containers.stats_stream(key).await
    }

    /// `docker update`: new limits and restart policy; returns Docker's warnings.
    pub fn container_update(&self, key: &str, req: &ContainerUpdateRequest) -> Result<Vec<String>> {
        self.containers.update(key, req)
    }

    /// `docker diff`: what the container changed in its root file system.
    pub fn container_changes(&self, key: &str) -> Result<Vec<ContainerChange>> {
        super::changes::changes(&self.containers, key)
    }

    /// `docker container prune`.
    pub fn container_prune(&self, filters: &Filters) -> Result<ContainerPruneResponse> {
        self.containers.prune(filters)
    }

    /// `HEAD /containers/{id}/archive`: what `path` is in the container.
    pub fn container_stat_path(&self, key: &str, path: &str) -> Result<PathStat> {
        self.containers.stat_path(key, path)
    }

    /// `docker cp` out: a tar of `path` to `out`; `on_stat` hears the path's stat before the
    /// first byte (see [`Containers::get_archive`](super::Containers::get_archive)).
    pub fn container_archive_get(
        &self,
        key: &str,
        path: &str,
        on_stat: &mut dyn FnMut(&PathStat),
        out: &mut dyn Write,
    ) -> Result<PathStat> {
        self.containers.get_archive(key, path, on_stat, out)
    }

    /// `docker cp` in: unpacks the tar `input` at `path`.
    pub fn container_archive_put(&self, key: &str, path: &str, input: &mut dyn Read) -> Result<()> {
        self.containers.put_archive(key, path, input)
    }

    /// `docker export`: fails at once for an unknown container, else gives the writer of its
    /// root file system's tar (run it on a blocking thread).
    pub fn container_export(
        &self,
        key: &str,
    ) -> Result<impl FnOnce(&mut dyn Write) -> Result<()> + Send + use<>> {
        self.containers.store().get(key)?;
        let (containers, key) = (self.containers.clone(), key.to_string());
        Ok(move |out: &mut dyn Write| containers.export(&key, out))
    }

    /// `docker exec` (create): returns the exec's id.
    pub fn exec_create(&self, key: &str, config: ExecConfig) -> Result<String> {
        self.containers.exec_create(key, config)
    }

    /// `POST /exec/{id}/start`: runs the exec; its stream unless `detach`. `tty` frames the
    /// stream raw (the start request's `Tty`).
    pub fn exec_start(
        &self,
        exec_id: &str,
        detach: bool,
        tty: bool,
        console_size: Option<[u64; 2]>,
    ) -> Result<Option<ExecStream>> {
        self.containers
            .exec_start(exec_id, detach, tty, console_size)
    }

    /// Waits (briefly) until an exec whose stream ended has its exit code, so an inspect
    /// right after the stream sees it.
    pub fn exec_collect(&self, exec_id: &str) {
        self.containers.exec_collect(exec_id);
    }

    /// `GET /exec/{id}/json`.
    pub fn exec_inspect(&self, exec_id: &str) -> Result<ExecInspect> {
        self.containers.exec_inspect(exec_id)
    }

    /// `POST /exec/{id}/resize`.
    pub fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> Result<()> {
        self.containers.exec_resize(exec_id, height, width)
    }
}

/// What `docker commit` asks for (`POST /commit`).
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// Repository to tag the image with (empty: untagged).
    pub repo: String,
    /// Tag (empty: `latest` when a repository is given).
    pub tag: String,
    /// Commit message.
    pub comment: String,
    /// Author.
    pub author: String,
    /// Dockerfile instructions applied to the config (`-c`).
    pub changes: Vec<String>,
    /// Freeze a running container while its changes are read (Docker's default).
    pub pause: bool,
    /// A config to use instead of the container's (the API's request body).
    pub config: Option<berth_api_types::container::ContainerConfig>,
}

impl Engine {
    /// `docker commit`: the container's changes (its overlay upper directory) become a new
    /// layer on top of its image, with the container's config (or the one given) and
    /// `changes` applied.
    pub fn container_commit(&self, key: &str, req: CommitRequest) -> Result<Digest> {
        let containers = self.containers();
        let entry = containers.store().get(key)?;
        let rec = entry.snapshot();
        let parent: Digest = rec
            .image_id
            .parse()
            .map_err(|e| EngineError::InvalidArgument(format!("image of {}: {e}", rec.id)))?;
        let top = self.images.layers(&parent)?.last().cloned();
        let reference = if req.repo.is_empty() {
            None
        } else {
            let tag = (!req.tag.is_empty()).then_some(req.tag.as_str());
            Some(berth_common::Reference::with_repo_and_tag(&req.repo, tag)?)
        };
        let config_source = req.config.clone().unwrap_or_else(|| rec.config.clone());
        let config: berth_api_types::image::ImageConfig = serde_json::to_value(&config_source)
            .and_then(serde_json::from_value)
            .map_err(|e| EngineError::InvalidArgument(format!("config: {e}")))?;
        // A container that exits meanwhile cannot be paused: Docker commits it anyway.
        let paused = req.pause
            && rec.state.status == crate::containers::record::Status::Running
            && containers.pause(&rec.id).is_ok();
        let mut created_by = rec.path.clone();
        for a in &rec.args {
            created_by.push(' ');
            created_by.push_str(a);
        }
        let committed = self.with_container_diff(&rec.id, top.as_ref(), |layer| {
            Ok(self.images.commit(berth_image::CommitOptions {
                parent,
                layer,
                reference,
                comment: req.comment.clone(),
                author: req.author.clone(),
                changes: req.changes.clone(),
                config: Some(config),
                created_by,
            })?)
        });
        if paused {
            let _ = containers.unpause(&rec.id);
        }
        let id = committed?;
        self.events.emit(
            berth_api_types::events::EventType::Container,
            "commit",
            &rec.id,
            &[
                ("comment", req.comment),
                ("imageID", id.to_string()),
                ("name", rec.name.clone()),
            ],
        );
        Ok(id)
    }

    /// Hands `consume` the changes of container `id` (whose image's top layer is `top`) as a
    /// layer tar, written from its overlay upper directory while `consume` reads it.
    pub(crate) fn with_container_diff<T>(
        &self,
        id: &str,
        top: Option<&Digest>,
        consume: impl FnOnce(&mut dyn std::io::Read) -> Result<T>,
    ) -> Result<T> {
        use berth_storage::snapshot::RootfsMount;
        let upper = match self.snapshotter.prepare(id, top)? {
            RootfsMount::Overlay { upper, .. } => upper,
            RootfsMount::Directory(_) => {
                return Err(EngineError::InvalidArgument(
                    "commit needs the overlay2 snapshotter (the copy snapshotter keeps no diff)"
                        .into(),
                ));
            }
        };
        let (mut reader, mut writer) = std::io::pipe().map_err(|e| EngineError::io(&upper, e))?;
        let upper_dir = upper.clone();
        let producer = std::thread::spawn(move || {
            berth_storage::diff::write_overlay_diff(&upper_dir, &mut writer)
        });
        let consumed = consume(&mut reader);
        drop(reader);
        let produced = producer.join();
        let value = consumed?;
        match produced {
            Ok(Ok(_)) => Ok(value),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(EngineError::Internal("the layer writer panicked".into())),
        }
    }
}
