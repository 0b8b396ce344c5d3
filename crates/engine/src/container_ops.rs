//! Container operations that also need the image store: create (the image's config and top
//! layer), and the "in use" checks that keep images and volumes of containers from removal.

use crate::containers::ImageFacts;
use crate::containers::record::ContainerRecord;
use crate::{Engine, EngineError};
use berth_api_types::container::ContainerCreateRequest;
use berth_common::Digest;

impl Engine {
    /// `docker create`: resolves the image, then creates the container.
    pub fn container_create(
        &self,
        name: Option<&str>,
        request: ContainerCreateRequest,
    ) -> Result<(ContainerRecord, Vec<String>), EngineError> {
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
        Ok((record, warnings))
    }

    /// The short id of a container that uses image `id`, if any (for `rmi`).
    pub fn image_user(&self, id: &Digest) -> Option<String> {
        self.containers.using_image(id)
    }

    /// Whether a container mounts volume `name` (for `volume rm`).
    pub fn volume_in_use(&self, name: &str) -> bool {
        self.containers.using_volume(name)
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
    pub fn container_commit(&self, key: &str, req: CommitRequest) -> Result<Digest, EngineError> {
        use berth_storage::snapshot::RootfsMount;
        let containers = self.containers();
        let entry = containers.store().get(key)?;
        let rec = entry.snapshot();
        let parent: Digest = rec
            .image_id
            .parse()
            .map_err(|e| EngineError::InvalidArgument(format!("image of {}: {e}", rec.id)))?;
        let top = self.images.layers(&parent)?.last().cloned();
        let upper = match self.snapshotter.prepare(&rec.id, top.as_ref())? {
            RootfsMount::Overlay { upper, .. } => upper,
            RootfsMount::Directory(_) => {
                return Err(EngineError::InvalidArgument(
                    "commit needs the overlay2 snapshotter (the copy snapshotter keeps no diff)"
                        .into(),
                ));
            }
        };
        let reference = if req.repo.is_empty() {
            None
        } else {
            let tag = (!req.tag.is_empty()).then_some(req.tag.as_str());
            Some(
                berth_common::Reference::with_repo_and_tag(&req.repo, tag)
                    .map_err(|e| EngineError::InvalidArgument(e.to_string()))?,
            )
        };
        let config_source = req.config.clone().unwrap_or_else(|| rec.config.clone());
        let config: berth_api_types::image::ImageConfig = serde_json::to_value(&config_source)
            .and_then(serde_json::from_value)
            .map_err(|e| EngineError::InvalidArgument(format!("config: {e}")))?;
        // A container that exits meanwhile cannot be paused: Docker commits it anyway.
        let paused = req.pause
            && rec.state.status == crate::containers::record::Status::Running
            && containers.pause(&rec.id).is_ok();
        let (mut reader, mut writer) = std::io::pipe().map_err(|e| EngineError::io(&upper, e))?;
        let upper_dir = upper.clone();
        let producer = std::thread::spawn(move || {
            berth_storage::diff::write_overlay_diff(&upper_dir, &mut writer)
        });
        let mut created_by = rec.path.clone();
        for a in &rec.args {
            created_by.push(' ');
            created_by.push_str(a);
        }
        let committed = self.images.commit(berth_image::CommitOptions {
            parent,
            layer: &mut reader,
            reference,
            comment: req.comment.clone(),
            author: req.author.clone(),
            changes: req.changes.clone(),
            config: Some(config),
            created_by,
        });
        drop(reader);
        let produced = producer.join();
        if paused {
            let _ = containers.unpause(&rec.id);
        }
        let id = committed?;
        match produced {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => {
                return Err(EngineError::InvalidArgument(
                    "the layer writer panicked".into(),
                ));
            }
        }
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
}
