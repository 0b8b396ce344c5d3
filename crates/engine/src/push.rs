//! `docker push`: a tag's image sent to its registry, only what the registry lacks.
//!
//! For each blob (layers, then the config) the registry is asked first (`HEAD`): a blob it
//! has is `Layer already exists`; one another repository of the same registry is known to
//! hold (the image was pulled from or pushed there) is mounted across repositories; the rest
//! is uploaded from the content store, [`max_uploads`](berth_registry::auth::Endpoints) at a
//! time. Layers stored as plain tars (built or committed here) are sent in their gzip form
//! ([`berth_image::ImageStore::compress_for_push`]), with the manifest naming them; any other
//! image's manifest goes byte for byte as stored, so its digest is the one the image was
//! pulled with. The manifest goes last, and the image then gains its repo digest.

use crate::Engine;
use crate::error::EngineError;
use crate::pull::registry_error;
use berth_api_types::progress::JsonMessage;
use berth_api_types::system::AuthConfig;
use berth_common::Reference;
use berth_image::{PushBlob, PushSource};
use berth_registry::distribution::{DistError, Mount, Session};
use berth_registry::http::RequestBody;
use futures_util::StreamExt;

/// What `POST /images/{name}/push` asks for.
#[derive(Debug, Clone, Default)]
pub struct PushRequest {
    /// The repository (`127.0.0.1:5000/app`), possibly with its tag.
    pub name: String,
    /// `tag`; empty means every tag of the repository.
    pub tag: String,
    /// The `X-Registry-Auth` credentials.
    pub auth: Option<AuthConfig>,
}

/// A push whose local images and registry session are ready.
pub struct ResolvedPush {
    session: Session,
    repository: Reference,
    sources: Vec<PushSource>,
}

impl Engine {
    /// The first half of a push: the local tags to send and a session with push rights.
    pub async fn push_resolve(&self, req: &PushRequest) -> Result<ResolvedPush, EngineError> {
        let base = Reference::parse(&req.name)?;
        let tag = match (base.tag(), req.tag.as_str()) {
            (Some(t), _) => Some(t.to_string()),
            (None, "") => None,
            (None, t) => Some(t.to_string()),
        };
        let repository = base.without_digest();
        let name = repository.name();
        let sources = self.images.push_sources(&name, tag.as_deref())?;
        let session = self
            .registry_session(&repository, req.auth.as_ref(), true)
            .await?;
        Ok(ResolvedPush {
            session,
            repository,
            sources,
        })
    }

    /// The second half: uploads what the registry lacks and the manifests, with Docker's
    /// progress (`Preparing`, `Pushing`, `Pushed`, `Layer already exists`, `Mounted from`,
    /// `TAG: digest: … size: …` and an `aux` with the digest).
    pub async fn push_send(
        &self,
        push: ResolvedPush,
        progress: &(dyn Fn(JsonMessage) + Send + Sync),
    ) -> Result<(), EngineError> {
        progress(JsonMessage::status(format!(
            "The push refers to repository [{}]",
            push.repository.name()
        )));
        // Keeps every blob being sent from garbage collection until the push ends.
        let _lease = self.images.begin_transfer();
        let max = match self.registries.max_uploads {
            0 => 5,
            n => n,
        };
        for source in &push.sources {
            // Plain-tar layers (built, committed) go out gzip-compressed, as Docker sends them.
            let source = &crate::pull::blocking(|| {
                let mut source = source.clone();
                self.images.compress_for_push(&mut source).map(|()| source)
            })?;
            let ids: Vec<String> = source
                .layers
                .iter()
                .map(|l| l.digest.short().to_string())
                .collect();
            for id in &ids {
                progress(JsonMessage::progress_empty("Preparing", id));
            }
            for id in ids.iter().skip(max) {
                progress(JsonMessage::progress_empty("Waiting", id));
            }
            let mounts: Vec<String> = source
                .known_repos
                .iter()
                .filter(|r| r.domain() == push.repository.domain())
                .map(|r| r.path().to_string())
                .filter(|p| p != push.repository.path())
                .collect();
            let mut uploads = Vec::with_capacity(source.layers.len());
            for layer in &source.layers {
                uploads.push(send_blob(
                    &push.session,
                    layer,
                    &mounts,
                    &push.repository,
                    true,
                    progress,
                ));
            }
            let results: Vec<Result<(), EngineError>> = futures_util::stream::iter(uploads)
                .buffer_unordered(max)
                .collect()
                .await;
            if let Some(e) = results.into_iter().find_map(Result::err) {
                return Err(e);
            }
            send_blob(
                &push.session,
                &source.config,
                &mounts,
                &push.repository,
                false,
                progress,
            )
            .await?;
            let tag = source.reference.tag().unwrap_or("latest").to_string();
            let size = source.manifest.len();
            let digest = push
                .session
                .put_manifest(&tag, &source.manifest_media_type, source.manifest.clone())
                .await
                .map_err(|e| registry_error(&source.reference, e, "push"))?;
            self.images
                .add_repo_digest(&source.id, &push.repository.with_digest(digest.clone()))?;
            progress(JsonMessage::status(format!(
                "{tag}: digest: {digest} size: {size}"
            )));
            progress(JsonMessage {
                aux: Some(serde_json::json!({
                    "Tag": tag,
                    "Digest": digest.to_string(),
                    "Size": size,
                })),
                ..Default::default()
            });
            self.events.emit(
                berth_api_types::events::EventType::Image,
                "push",
                &source.reference.familiar(),
                &[("name", source.reference.familiar())],
            );
        }
        Ok(())
    }
}

/// Sends one blob unless the registry has it: a mount from one of `mounts` (repositories of
/// the same registry), else an upload. `shown` blobs (layers) report progress.
async fn send_blob(
    session: &Session,
    blob: &PushBlob,
    mounts: &[String],
    reference: &Reference,
    shown: bool,
    progress: &(dyn Fn(JsonMessage) + Send + Sync),
) -> Result<(), EngineError> {
    let id = blob.digest.short();
    let say = |status: &str| {
        if shown {
            progress(JsonMessage::progress_empty(status, id));
        }
    };
    let err = |e: DistError| registry_error(reference, e, "push");
    if session
        .blob_size(&blob.digest)
        .await
        .map_err(err)?
        .is_some()
    {
        say("Layer already exists");
        return Ok(());
    }
    let mut started = None;
    for from in mounts {
        match session.mount(&blob.digest, from).await {
            Ok(Mount::Mounted) => {
                say(&format!("Mounted from {from}"));
                return Ok(());
            }
            Ok(Mount::Upload(location)) => {
                started = Some(location);
                break;
            }
            Err(e) => tracing::debug!(blob = %blob.digest, from, error = %e, "a mount failed"),
        }
    }
    if shown {
        progress(JsonMessage::progress("Pushing", id, 0, Some(blob.size)));
    }
    let body = RequestBody::File {
        path: blob.path.clone(),
        offset: 0,
        len: blob.size,
    };
    session
        .upload(&blob.digest, &body, started)
        .await
        .map_err(err)?;
    if shown {
        progress(JsonMessage::progress(
            "Pushing",
            id,
            blob.size,
            Some(blob.size),
        ));
    }
    say("Pushed");
    Ok(())
}
