//! `docker pull`: an image fetched from its registry, verified and unpacked.
//!
//! [`Engine::pull_resolve`] does what can fail before any progress is shown — the session
//! with the registry (Docker Hub's names try `--registry-mirror`s first), the manifest, the
//! platform's entry of an index, the config — so the API can answer those failures with a
//! proper status, as dockerd does. [`Engine::pull_fetch`] then downloads the missing layers,
//! [`Endpoints::max_downloads`](berth_registry::auth::Endpoints) at a time, each streamed
//! into a resumable partial file and verified against its digest before it is stored; a
//! dropped connection is resumed with `Range`, here or by the next pull after a crash. Each
//! layer is unpacked while it downloads (the unpacker follows the partial file, and its
//! snapshot is kept only once the download verified), bottom first. The image is recorded
//! only after every layer was unpacked and matched its diff ID, under a lease that removes
//! what a failed pull stored.

use crate::Engine;
use crate::error::EngineError;
use berth_api_types::progress::JsonMessage;
use berth_api_types::system::AuthConfig;
use berth_common::{Digest, ErrorKind, Reference};
use berth_image::oci::{Descriptor, ImageIndex, ImageManifest, Platform, media_types};
use berth_image::{PulledImage, PulledLayer};
use berth_registry::auth::{Credentials, registry_host};
use berth_registry::distribution::{DistError, Fetched, Session};
use berth_storage::tail::{Ending, Follower};
use std::sync::Arc;
use std::time::Duration;

/// Where a pull's progress goes (shared by its download tasks).
pub type Progress = Arc<dyn Fn(JsonMessage) + Send + Sync>;

/// How often a broken layer download is resumed within one pull before it fails.
const DOWNLOAD_ATTEMPTS: usize = 3;
/// The largest config blob read into memory.
const CONFIG_LIMIT: u64 = 16 << 20;

/// What `POST /images/create?fromImage=` asks for.
#[derive(Debug, Clone, Default)]
pub struct PullRequest {
    /// `fromImage`: a name, possibly with a tag or digest.
    pub image: String,
    /// `tag`: a tag or a digest; empty with no tag in `image` means every tag.
    pub tag: String,
    /// `platform` (`linux/arm64`); the host's when empty.
    pub platform: String,
    /// The `X-Registry-Auth` credentials.
    pub auth: Option<AuthConfig>,
}

/// A pull whose manifest and config are in hand.
pub struct ResolvedPull {
    session: Arc<Session>,
    reference: Reference,
    /// `pull -a`: every tag of the repository.
    all_tags: bool,
    /// The other tags of `pull -a` (the first one is resolved already).
    more_tags: Vec<String>,
    image: ImagePlan,
}

/// One image to fetch.
struct ImagePlan {
    /// What was asked for (`127.0.0.1:5000/app:1`).
    reference: Reference,
    /// The digest of the top manifest (an index's for a multi-platform image).
    top_digest: Digest,
    manifest: Fetched,
    layers: Vec<Descriptor>,
    config: Vec<u8>,
    config_digest: Digest,
    /// The config's `rootfs.diff_ids`, one per layer.
    diff_ids: Vec<Digest>,
}

impl ResolvedPull {
    /// The reference being pulled.
    pub fn reference(&self) -> &Reference {
        &self.reference
    }
}

impl Engine {
    /// Opens a session with the registry of `reference` for its repository, with
    /// `auth`'s credentials; Docker Hub names go to the configured mirrors first.
    pub(crate) async fn registry_session(
        &self,
        reference: &Reference,
        auth: Option<&AuthConfig>,
        push: bool,
    ) -> Result<Session, EngineError> {
        let creds = auth.and_then(credentials_of);
        let repo = reference.path().to_string();
        let http = self.http_client();
        if reference.domain() == berth_common::reference::DEFAULT_DOMAIN && !push {
            for mirror in &self.registries.mirrors {
                match Session::open_at(http, std::slice::from_ref(mirror), &repo, None, false).await
                {
                    Ok(s) => return Ok(s),
                    Err(e) => {
                        tracing::info!(mirror, error = %e, "registry mirror unavailable, trying the next");
                    }
                }
            }
        }
        if self.registries.is_blocked(reference.domain()) {
            return Err(EngineError::Forbidden(format!(
                "{}: the registry {} is blocked by this daemon (--blocked-registry)",
                reference.familiar(),
                reference.domain()
            )));
        }
        let host = registry_host(reference.domain());
        Session::open(http, &self.registries, &host, &repo, creds, push)
            .await
            .map_err(|e| registry_error(reference, e, "open"))
    }

    /// The first half of a pull: the registry's manifest and config for `req`.
    pub async fn pull_resolve(&self, req: &PullRequest) -> Result<ResolvedPull, EngineError> {
        let (reference, all_tags) = pull_reference(&req.image, &req.tag)?;
        let platform = if req.platform.is_empty() {
            Platform::host()
        } else {
            Platform::parse(&req.platform)?
        };
        let session = self
            .registry_session(&reference, req.auth.as_ref(), false)
            .await?;
        let mut more_tags = Vec::new();
        let reference = if all_tags {
            let mut tags = session
                .tags()
                .await
                .map_err(|e| registry_error(&reference, e, "tags"))?;
            tags.sort();
            if tags.is_empty() {
                return Err(EngineError::NotFound(format!(
                    "{} has no tags",
                    reference.familiar_name()
                )));
            }
            let first = tags.remove(0);
            more_tags = tags;
            reference.with_tag(&first)?
        } else {
            reference
        };
        let image = resolve_image(&session, &reference, &platform).await?;
        Ok(ResolvedPull {
            session: Arc::new(session),
            reference,
            all_tags,
            more_tags,
            image,
        })
    }

    /// The second half: downloads, verifies, unpacks and records; the progress is Docker's
    /// (`Pulling fs layer`, `Downloading`, `Pull complete`, `Digest:`, `Status:`).
    pub async fn pull_fetch(
        &self,
        pull: ResolvedPull,
        req: &PullRequest,
        progress: Progress,
    ) -> Result<Digest, EngineError> {
        let platform = if req.platform.is_empty() {
            Platform::host()
        } else {
            Platform::parse(&req.platform)?
        };
        let all_tags = pull.all_tags;
        let first = self
            .fetch_image(&pull.session, pull.image, all_tags, &progress)
            .await?;
        for tag in &pull.more_tags {
            let reference = pull.reference.with_tag(tag)?;
            let image = resolve_image(&pull.session, &reference, &platform).await?;
            self.fetch_image(&pull.session, image, all_tags, &progress)
                .await?;
        }
        if all_tags {
            progress(JsonMessage::status(format!(
                "Status: Downloaded newer images for {}",
                pull.reference.familiar_name()
            )));
        }
        Ok(first)
    }
}

impl Engine {
    /// A pull from blocking code (a build's `FROM`), on the daemon's runtime: `image` with
    /// its tag (`latest` when it names none), `progress` getting Docker's pull messages.
    pub(crate) fn pull_blocking(
        &self,
        image: &str,
        platform: Option<&str>,
        auth: Option<&AuthConfig>,
        progress: &(dyn Fn(JsonMessage) + Send + Sync),
    ) -> Result<Digest, EngineError> {
        let reference = Reference::parse_tagged_default(image)?;
        let req = PullRequest {
            image: reference.to_string(),
            tag: String::new(),
            platform: platform.unwrap_or_default().to_string(),
            auth: auth.cloned(),
        };
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| EngineError::Internal("a pull needs the daemon's async runtime".into()))?;
        // The pull runs on a thread of its own inside the runtime; its messages come back
        // here, outside any async context, where the caller's sink may block.
        let (tx, rx) = std::sync::mpsc::channel::<JsonMessage>();
        std::thread::scope(|scope| {
            let puller = scope.spawn(move || {
                let send: Progress = Arc::new(move |m: JsonMessage| {
                    let _ = tx.send(m);
                });
                handle.block_on(async {
                    let resolved = self.pull_resolve(&req).await?;
                    self.pull_fetch(resolved, &req, send).await
                })
            });
            for m in rx {
                progress(m);
            }
            puller
                .join()
                .unwrap_or_else(|_| Err(EngineError::Internal("the pull panicked".into())))
        })
    }
}

/// `GET /distribution/{name}/json`'s answer: what the registry holds for a reference.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DistributionInspect {
    /// The top manifest (or index) as a descriptor.
    #[serde(rename = "Descriptor")]
    pub descriptor: serde_json::Value,
    /// The platforms it offers.
    #[serde(rename = "Platforms")]
    pub platforms: Vec<Platform>,
}

impl Engine {
    /// `docker manifest inspect`-style facts without pulling (`GET /distribution/{name}/json`).
    pub async fn distribution_inspect(
        &self,
        name: &str,
        auth: Option<&AuthConfig>,
    ) -> Result<DistributionInspect, EngineError> {
        let reference = Reference::parse_tagged_default(name)?;
        let session = self.registry_session(&reference, auth, false).await?;
        let top = top_manifest(&session, &reference).await?;
        let platforms = match manifest_kind(&top) {
            Kind::Index => serde_json::from_slice::<ImageIndex>(&top.bytes)
                .map(|i| i.manifests.into_iter().filter_map(|m| m.platform).collect())
                .unwrap_or_default(),
            Kind::Image => {
                let plan = resolve_image(&session, &reference, &Platform::host()).await?;
                let config: berth_image::OciImageConfig =
                    berth_image::OciImageConfig::from_slice(&plan.config, "the config")?;
                vec![config.platform()]
            }
            Kind::Schema1 | Kind::Other(_) => Vec::new(),
        };
        let media_type = if top.media_type.is_empty() {
            media_types::OCI_MANIFEST.to_string()
        } else {
            top.media_type.clone()
        };
        Ok(DistributionInspect {
            descriptor: serde_json::json!({
                "mediaType": media_type,
                "digest": top.digest.to_string(),
                "size": top.bytes.len(),
            }),
            platforms,
        })
    }
}

impl Engine {
    /// Fetches and records one image.
    async fn fetch_image(
        &self,
        session: &Arc<Session>,
        plan: ImagePlan,
        all_tags: bool,
        progress: &Progress,
    ) -> Result<Digest, EngineError> {
        let reference = &plan.reference;
        progress(JsonMessage {
            status: Some(format!("Pulling from {}", reference.path())),
            id: Some(
                reference
                    .tag()
                    .map(str::to_string)
                    .unwrap_or_else(|| plan.top_digest.to_string()),
            ),
            ..Default::default()
        });
        let previous = self.images.resolve(&reference.to_string()).ok();
        let mut lease = self.images.begin_transfer();
        let max = match self.registries.max_downloads {
            0 => 3,
            n => n,
        };
        let mut pending = Vec::new();
        for (i, layer) in plan.layers.iter().enumerate() {
            let id = layer.digest.short();
            if lease.has_blob(&layer.digest) {
                progress(JsonMessage::progress_empty("Already exists", id));
            } else {
                progress(JsonMessage::progress_empty("Pulling fs layer", id));
                pending.push(i);
            }
        }
        for &i in pending.iter().skip(max) {
            progress(JsonMessage::progress_empty(
                "Waiting",
                plan.layers[i].digest.short(),
            ));
        }
        // Downloads run as tasks of their own, `max` at a time, while this task unpacks each
        // layer as its bytes arrive, once the ones below it are in.
        let slots = Arc::new(tokio::sync::Semaphore::new(max));
        let content = self.images.content().clone();
        let mut tasks: Vec<Option<Downloading>> = (0..plan.layers.len()).map(|_| None).collect();
        for &i in &pending {
            let (follower, followed) = tokio::sync::oneshot::channel();
            let job = Download {
                session: session.clone(),
                content: content.clone(),
                reference: reference.clone(),
                layer: plan.layers[i].clone(),
                progress: progress.clone(),
                follower,
            };
            let slots = slots.clone();
            let task = tokio::spawn(async move {
                let _slot = slots.acquire_owned().await;
                job.run().await
            });
            tasks[i] = Some(Downloading { task, followed });
        }
        let layers: Vec<PulledLayer> = plan
            .layers
            .iter()
            .map(|l| PulledLayer {
                digest: l.digest.clone(),
                size: l.size,
                media_type: l.media_type.clone(),
            })
            .collect();
        let mut failure = None;
        for i in 0..layers.len() {
            let unpacked = match tasks[i].take() {
                Some(downloading) => {
                    downloading
                        .unpack(&mut lease, &layers[i], &plan.diff_ids[i], progress)
                        .await
                }
                None => blocking(|| lease.unpack_next(&layers[i], &plan.diff_ids[i]))
                    .map_err(EngineError::from),
            };
            if let Err(e) = unpacked {
                failure = Some(e);
                break;
            }
            if pending.contains(&i) {
                progress(JsonMessage::progress_empty(
                    "Pull complete",
                    layers[i].digest.short(),
                ));
            }
        }
        if let Some(e) = failure {
            // Stop the other downloads (what they wrote stays for a resumed pull) and let
            // the lease take the blobs that did arrive.
            for downloading in tasks.iter_mut().filter_map(Option::take) {
                downloading.task.abort();
                if let Ok(Ok(c)) = downloading.task.await {
                    lease.stored(&c);
                }
            }
            return Err(e);
        }
        let pulled = PulledImage {
            manifest: plan.manifest.bytes,
            manifest_media_type: if plan.manifest.media_type.is_empty() {
                media_types::OCI_MANIFEST.into()
            } else {
                plan.manifest.media_type
            },
            config: plan.config,
            layers,
            tag: reference.tag().map(|_| reference.clone()),
            repo_digest: reference.with_digest(plan.top_digest.clone()),
        };
        let id = blocking(|| lease.finish(pulled, &mut |_| {}))?;
        debug_assert_eq!(id, plan.config_digest);
        progress(JsonMessage::status(format!("Digest: {}", plan.top_digest)));
        if !all_tags {
            let up_to_date = previous.as_ref() == Some(&id);
            progress(JsonMessage::status(format!(
                "Status: {} for {}",
                if up_to_date {
                    "Image is up to date"
                } else {
                    "Downloaded newer image"
                },
                reference.familiar()
            )));
        }
        self.events.emit(
            berth_api_types::events::EventType::Image,
            "pull",
            &reference.familiar(),
            &[("name", reference.familiar())],
        );
        Ok(id)
    }
}

/// Runs blocking store work (unpacking, recording) from the pull's task: in
/// `block_in_place` on the daemon's multi-threaded runtime, so the downloads and the other
/// requests keep their workers.
pub(crate) fn blocking<T>(work: impl FnOnce() -> T) -> T {
    let multi = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}

/// What one layer download gives.
type DownloadResult = Result<berth_storage::content::Committed, EngineError>;

/// One layer download, owning what it needs so it runs as a task of its own.
struct Download {
    session: Arc<Session>,
    content: Arc<berth_storage::ContentStore>,
    reference: Reference,
    layer: Descriptor,
    progress: Progress,
    /// Where the download hands a reader of its partial file once it holds one (dropped
    /// unsent when the blob turned out to be stored already).
    follower: tokio::sync::oneshot::Sender<Follower>,
}

impl Download {
    async fn run(self) -> DownloadResult {
        download_layer(
            &self.session,
            &self.content,
            &self.reference,
            &self.layer,
            &*self.progress,
            self.follower,
        )
        .await
    }
}

/// A layer download under way, as the unpacker sees it.
struct Downloading {
    task: tokio::task::JoinHandle<DownloadResult>,
    /// A reader of the download's partial file, once it has one.
    followed: tokio::sync::oneshot::Receiver<Follower>,
}

impl Downloading {
    /// Unpacks the layer while it downloads, and notes its blob with the lease once stored.
    /// A download's own failure is the error (the unpack only saw its effect); a download
    /// that had to start over, or a blob another pull stored, is unpacked from the store
    /// once it is there. Docker's progress order is kept: `Extracting` follows the
    /// download's `Download complete`, once.
    async fn unpack(
        self,
        lease: &mut berth_image::TransferLease<'_>,
        layer: &PulledLayer,
        diff_id: &Digest,
        progress: &Progress,
    ) -> Result<(), EngineError> {
        // Following needs the downloads to run beside this thread's wait: on a
        // current-thread runtime they could not, so the layer is unpacked once stored.
        let streams = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let streamed = match self.followed.await {
            Ok(mut follower) if streams => {
                let unpacked =
                    blocking(|| lease.unpack_next_streaming(layer, diff_id, &mut follower));
                Some((unpacked, follower.ending()))
            }
            _ => None,
        };
        let committed = match self.task.await {
            Ok(downloaded) => downloaded?,
            Err(e) => {
                return Err(EngineError::Internal(format!(
                    "a layer download failed: {e}"
                )));
            }
        };
        lease.stored(&committed);
        progress(JsonMessage::progress_empty(
            "Extracting",
            layer.digest.short(),
        ));
        match streamed {
            Some((Ok(()), _)) => Ok(()),
            // Bytes read before a restart are not the blob's start; other failures were
            // the unpack's own and are the error.
            Some((Err(_), Some(Ending::Restarted))) | None => {
                Ok(blocking(|| lease.unpack_next(layer, diff_id))?)
            }
            Some((Err(e), _)) => Err(e.into()),
        }
    }
}

/// Downloads one layer into the content store, resuming a partial download, with Docker's
/// per-layer progress; the blob is stored only if it hashes to its digest.
async fn download_layer(
    session: &Session,
    content: &berth_storage::ContentStore,
    reference: &Reference,
    layer: &Descriptor,
    progress: &(dyn Fn(JsonMessage) + Send + Sync),
    follower: tokio::sync::oneshot::Sender<Follower>,
) -> DownloadResult {
    let id = layer.digest.short();
    let mut partial = loop {
        if content.contains(&layer.digest) {
            // Another pull stored it meanwhile.
            progress(JsonMessage::progress_empty("Already exists", id));
            return Ok(berth_storage::content::Committed {
                digest: layer.digest.clone(),
                size: content.size(&layer.digest)?,
                created: false,
            });
        }
        match content.partial(&layer.digest)? {
            // Stored by another pull between the check and the lock: nothing to fetch.
            Some(p) if content.contains(&layer.digest) => p.discard(),
            Some(p) => break p,
            // Another pull is fetching this very blob: wait for it.
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    // Unsent (the unpacker then waits for the stored blob) if it cannot be followed.
    if let Ok(reader) = partial.follow() {
        let _ = follower.send(reader);
    }
    let total = layer.size;
    let step = (total / 100).max(256 << 10);
    let mut last_report = 0u64;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let offset = partial.offset();
        if offset > total {
            partial.restart()?;
            continue;
        }
        let result: Result<(), DistError> = async {
            if offset == total {
                return Ok(());
            }
            let mut body = session.blob(&layer.digest, offset).await?;
            if body.start == 0 && offset > 0 {
                partial.restart().map_err(|e| DistError::Protocol {
                    url: String::new(),
                    why: e.to_string(),
                })?;
            }
            while let Some(data) = body.next().await? {
                if partial.offset() + data.len() as u64 > total {
                    return Err(DistError::Protocol {
                        url: format!("blob {}", layer.digest),
                        why: format!(
                            "the registry sent more than the {total} bytes the manifest gives"
                        ),
                    });
                }
                partial.append(&data).map_err(|e| DistError::Protocol {
                    url: String::new(),
                    why: e.to_string(),
                })?;
                let now = partial.offset();
                // (A download that started over is behind its last report.)
                if now.abs_diff(last_report) >= step || now == total {
                    last_report = now;
                    progress(JsonMessage::progress("Downloading", id, now, Some(total)));
                }
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) if partial.offset() == total => break,
            Ok(()) if attempt < DOWNLOAD_ATTEMPTS => {
                tracing::info!(blob = %layer.digest, got = partial.offset(), total, "a layer download ended early, resuming");
            }
            Ok(()) => {
                return Err(EngineError::Registry {
                    message: format!(
                        "failed to register layer: blob {} of {}: the registry sent {} of {total} bytes",
                        layer.digest,
                        reference.familiar(),
                        partial.offset()
                    ),
                    kind: ErrorKind::Unavailable,
                    source: None,
                });
            }
            Err(e @ DistError::Http(_)) if attempt < DOWNLOAD_ATTEMPTS => {
                tracing::info!(blob = %layer.digest, error = %e, "a layer download broke, resuming");
                tokio::time::sleep(Duration::from_millis(200 * attempt as u64)).await;
            }
            Err(e) => return Err(registry_error(reference, e, "blob")),
        }
    }
    progress(JsonMessage::progress_empty("Verifying Checksum", id));
    let committed = partial.commit().map_err(|e| match e {
        berth_storage::StorageError::DigestMismatch { actual, .. } => EngineError::Registry {
            message: format!(
                "layer {} of {}: digest mismatch: the registry sent content hashing to {actual}; nothing was stored",
                layer.digest,
                reference.familiar()
            ),
            kind: ErrorKind::InvalidArgument,
            source: None,
        },
        e => EngineError::Storage(e),
    })?;
    progress(JsonMessage::progress_empty("Download complete", id));
    Ok(committed)
}

/// The manifest, platform choice and config of `reference`.
/// The manifest (or index) `reference` names: by its digest, else its tag (`latest`).
async fn top_manifest(session: &Session, reference: &Reference) -> Result<Fetched, EngineError> {
    let wanted = match (reference.digest(), reference.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_string(),
        (None, None) => berth_common::reference::DEFAULT_TAG.to_string(),
    };
    session
        .manifest(&wanted)
        .await
        .map_err(|e| registry_error(reference, e, "manifest"))
}

async fn resolve_image(
    session: &Session,
    reference: &Reference,
    platform: &Platform,
) -> Result<ImagePlan, EngineError> {
    let top = top_manifest(session, reference).await?;
    let top_digest = top.digest.clone();
    let mut manifest = top;
    for _ in 0..2 {
        let kind = manifest_kind(&manifest);
        match kind {
            Kind::Schema1 => {
                return Err(EngineError::InvalidArgument(format!(
                    "Docker Image manifest version 2, schema 1 is not supported: {} uses it (its support was removed from Docker too). Suggest the author of {} to upgrade the image to the OCI Format or Docker Image manifest v2, schema 2",
                    reference.familiar(),
                    reference.familiar()
                )));
            }
            Kind::Index => {
                let index: ImageIndex = serde_json::from_slice(&manifest.bytes).map_err(|e| {
                    EngineError::InvalidArgument(format!(
                        "the index of {} is not valid: {e}",
                        reference.familiar()
                    ))
                })?;
                let choice = index
                    .manifests
                    .iter()
                    .filter(|m| {
                        m.annotation(berth_image::oci::ANNOTATION_REFERENCE_TYPE)
                            != Some("attestation-manifest")
                    })
                    .find(|m| m.platform.as_ref().is_some_and(|p| p.matches(platform)))
                    .ok_or_else(|| {
                        EngineError::NotFound(format!(
                            "no matching manifest for {}/{}{} in the manifest list entries",
                            platform.os,
                            platform.architecture,
                            platform
                                .variant
                                .as_ref()
                                .map(|v| format!("/{v}"))
                                .unwrap_or_default()
                        ))
                    })?;
                manifest = session
                    .manifest(&choice.digest.to_string())
                    .await
                    .map_err(|e| registry_error(reference, e, "manifest"))?;
            }
            Kind::Image => {
                let parsed: ImageManifest =
                    serde_json::from_slice(&manifest.bytes).map_err(|e| {
                        EngineError::InvalidArgument(format!(
                            "the manifest of {} is not valid: {e}",
                            reference.familiar()
                        ))
                    })?;
                parsed.check_media_types(&format!("manifest {}", manifest.digest))?;
                let config = fetch_small(session, &parsed.config, reference).await?;
                let diff_ids = berth_image::OciImageConfig::from_slice(&config, "the config")?
                    .rootfs
                    .diff_ids;
                if diff_ids.len() != parsed.layers.len() {
                    return Err(EngineError::InvalidArgument(format!(
                        "{}: the config lists {} layers (rootfs.diff_ids) but the manifest has {}",
                        reference.familiar(),
                        diff_ids.len(),
                        parsed.layers.len()
                    )));
                }
                return Ok(ImagePlan {
                    diff_ids,
                    reference: reference.clone(),
                    top_digest,
                    config_digest: parsed.config.digest.clone(),
                    layers: parsed.layers,
                    config,
                    manifest,
                });
            }
            Kind::Other(mt) => {
                return Err(EngineError::InvalidArgument(format!(
                    "{}: unsupported manifest media type {mt:?}",
                    reference.familiar()
                )));
            }
        }
    }
    Err(EngineError::InvalidArgument(format!(
        "{}: an index points to another index",
        reference.familiar()
    )))
}

/// What a fetched manifest is.
enum Kind {
    Schema1,
    Index,
    Image,
    Other(String),
}

/// Classifies a manifest by its media type (the `Content-Type`, else its `mediaType` field,
/// else its shape).
fn manifest_kind(m: &Fetched) -> Kind {
    let value: serde_json::Value = serde_json::from_slice(&m.bytes).unwrap_or_default();
    if value.get("schemaVersion").and_then(|v| v.as_u64()) == Some(1) {
        return Kind::Schema1;
    }
    let mt = value
        .get("mediaType")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| m.media_type.clone());
    if mt.contains("distribution.manifest.v1") {
        return Kind::Schema1;
    }
    if media_types::is_index(&mt) || (mt.is_empty() && value.get("manifests").is_some()) {
        return Kind::Index;
    }
    if media_types::is_manifest(&mt)
        || ((mt.is_empty() || mt == "application/json") && value.get("config").is_some())
    {
        return Kind::Image;
    }
    Kind::Other(mt)
}

/// A small blob (the config), read into memory and checked against its digest.
async fn fetch_small(
    session: &Session,
    desc: &Descriptor,
    reference: &Reference,
) -> Result<Vec<u8>, EngineError> {
    if desc.size > CONFIG_LIMIT {
        return Err(EngineError::InvalidArgument(format!(
            "the config of {} is {} bytes, more than the {CONFIG_LIMIT} allowed",
            reference.familiar(),
            desc.size
        )));
    }
    let mut body = session
        .blob(&desc.digest, 0)
        .await
        .map_err(|e| registry_error(reference, e, "blob"))?;
    let mut out = Vec::new();
    while let Some(data) = body
        .next()
        .await
        .map_err(|e| registry_error(reference, e, "blob"))?
    {
        if (out.len() + data.len()) as u64 > CONFIG_LIMIT {
            return Err(EngineError::InvalidArgument(format!(
                "the config of {} is larger than {CONFIG_LIMIT} bytes",
                reference.familiar()
            )));
        }
        out.extend_from_slice(&data);
    }
    let actual = Digest::of(&out);
    if actual != desc.digest {
        return Err(EngineError::Registry {
            message: format!(
                "config {} of {}: digest mismatch: the registry sent content hashing to {actual}; nothing was stored",
                desc.digest,
                reference.familiar()
            ),
            kind: ErrorKind::InvalidArgument,
            source: None,
        });
    }
    Ok(out)
}

/// The reference a pull names, and whether it asks for every tag (`tag` empty, none in
/// `image`: `docker pull -a`).
fn pull_reference(image: &str, tag: &str) -> Result<(Reference, bool), EngineError> {
    let base = Reference::parse(image)?;
    if base.tag().is_some() || base.digest().is_some() {
        return Ok((base, false));
    }
    if tag.is_empty() {
        return Ok((base, true));
    }
    let joined = if tag.contains(':') {
        format!("{image}@{tag}")
    } else {
        format!("{image}:{tag}")
    };
    Ok((Reference::parse(&joined)?, false))
}

/// Credentials from an `X-Registry-Auth` config (an identity token is sent as `<token>`'s
/// password, as Docker does).
pub(crate) fn credentials_of(auth: &AuthConfig) -> Option<Credentials> {
    if !auth.identitytoken.is_empty() {
        return Some(Credentials {
            username: "<token>".into(),
            password: auth.identitytoken.clone(),
        });
    }
    if auth.username.is_empty() && auth.password.is_empty() {
        return None;
    }
    Some(Credentials {
        username: auth.username.clone(),
        password: auth.password.clone(),
    })
}

/// A registry failure in Docker's words: a refused or unknown repository is `pull access
/// denied for …`, a missing tag `manifest for … not found`.
pub(crate) fn registry_error(reference: &Reference, e: DistError, during: &str) -> EngineError {
    let (kind, message) = match &e {
        DistError::Unauthorized(m) if during == "manifest" || during == "open" => (
            ErrorKind::NotFound,
            format!(
                "pull access denied for {}, repository does not exist or may require 'docker login': {m}",
                reference.familiar_name()
            ),
        ),
        DistError::Unauthorized(m) => (ErrorKind::Unauthorized, m.clone()),
        DistError::NotFound(m) if during == "manifest" && m.contains("name unknown") => (
            ErrorKind::NotFound,
            format!(
                "pull access denied for {}, repository does not exist or may require 'docker login': {m}",
                reference.familiar_name()
            ),
        ),
        DistError::NotFound(m) if during == "manifest" => (
            ErrorKind::NotFound,
            format!("manifest for {} not found: {m}", reference.familiar()),
        ),
        DistError::NotFound(m) => (ErrorKind::NotFound, m.clone()),
        DistError::DigestMismatch { .. } => (
            ErrorKind::InvalidArgument,
            format!("{}: {e}; nothing was stored", reference.familiar()),
        ),
        DistError::TooLarge { .. } => (ErrorKind::InvalidArgument, e.to_string()),
        DistError::Http(_) | DistError::Registry { .. } | DistError::Protocol { .. } => {
            (ErrorKind::Unavailable, e.to_string())
        }
    };
    EngineError::Registry {
        message,
        kind,
        source: Some(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_references_combine_image_and_tag_as_docker_does() {
        let (r, all) = pull_reference("busybox", "latest").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert!(!all);
        let (r, all) = pull_reference("127.0.0.1:5000/app", "").unwrap();
        assert!(all);
        assert_eq!(r.domain(), "127.0.0.1:5000");
        let d = Digest::of(b"x");
        let (r, _) = pull_reference("app", &d.to_string()).unwrap();
        assert_eq!(r.digest(), Some(&d));
        let (r, _) = pull_reference("app:1", "").unwrap();
        assert_eq!(r.tag(), Some("1"));
        assert!(pull_reference("App", "latest").is_err());
    }

    #[test]
    fn schema1_and_indexes_are_told_apart() {
        let f = |body: &str, mt: &str| Fetched {
            bytes: body.as_bytes().to_vec(),
            media_type: mt.into(),
            digest: Digest::of(body.as_bytes()),
        };
        assert!(matches!(
            manifest_kind(&f(
                r#"{"schemaVersion":1,"fsLayers":[]}"#,
                "application/vnd.docker.distribution.manifest.v1+prettyjws"
            )),
            Kind::Schema1
        ));
        assert!(matches!(
            manifest_kind(&f(
                r#"{"schemaVersion":2,"manifests":[]}"#,
                media_types::OCI_INDEX
            )),
            Kind::Index
        ));
        assert!(matches!(
            manifest_kind(&f(r#"{"schemaVersion":2,"config":{}}"#, "")),
            Kind::Image
        ));
        assert!(matches!(
            manifest_kind(&f(r#"{"schemaVersion":2}"#, "text/html")),
            Kind::Other(_)
        ));
    }
}
