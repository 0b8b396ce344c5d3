//! [`ImageStore`]: the state behind one mutex, its persistence, and the operations that only
//! touch records (resolve, tag, accessors). Import, load, save, queries and removal live in
//! their own modules as further `impl ImageStore` blocks.
//!
//! Long operations (load, import, save) do their heavy I/O without holding the mutex, so
//! `docker images` stays responsive during a multi-gigabyte load. While one runs it holds a
//! [`Lease`]; removal and garbage collection leave blobs and snapshots alone while any lease
//! is active, so nothing a running load has written (or a save is reading) disappears under it.

use crate::error::{ImageError, Result};
use crate::oci::OciImageConfig;
use crate::records::{ImageRecord, STATE_VERSION, State};
use crate::resolve::{Resolved, resolve};
use crate::timefmt::now_rfc3339;
use berth_common::{Digest, Reference};
use berth_storage::ContentStore;
use berth_storage::atomic::{read_json, write_json};
use berth_storage::content::Committed;
use berth_storage::snapshot::{AppliedLayer, Snapshotter};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Name of the state document under the store root.
const STATE_FILE: &str = "images.json";

/// Images, tags and their blobs and snapshots. `Send + Sync`: every method takes `&self`.
#[derive(Debug)]
pub struct ImageStore {
    root: PathBuf,
    pub(crate) content: Arc<ContentStore>,
    pub(crate) snapshotter: Arc<dyn Snapshotter>,
    inner: Mutex<Inner>,
}

/// What the mutex guards.
#[derive(Debug)]
pub(crate) struct Inner {
    /// The persisted records.
    pub state: State,
    /// Parsed configs, loaded on first use.
    configs: HashMap<Digest, Arc<OciImageConfig>>,
    /// Loads, imports and saves in progress.
    pub active_leases: usize,
}

impl Inner {
    /// Drops a cached config (its image is gone).
    pub(crate) fn configs_forget(&mut self, id: &Digest) {
        self.configs.remove(id);
    }
}

/// An image ready to be recorded by [`ImageStore::add_images`].
#[derive(Debug, Clone)]
pub(crate) struct NewImage {
    /// The record.
    pub record: ImageRecord,
    /// Tags to point at it.
    pub tags: Vec<Reference>,
    /// Its parsed config.
    pub config: Arc<OciImageConfig>,
}

impl ImageStore {
    /// Opens the store whose records live under `root` (created if needed), on top of the
    /// given content store and snapshotter.
    pub fn open(
        root: &Path,
        content: Arc<ContentStore>,
        snapshotter: Arc<dyn Snapshotter>,
    ) -> Result<ImageStore> {
        std::fs::create_dir_all(root)
            .map_err(|e| ImageError::io(format!("creating {}", root.display()), e))?;
        let path = root.join(STATE_FILE);
        let state: State = read_json(&path)
            .map_err(|e| ImageError::storage("reading the image records", e))?
            .unwrap_or(State {
                version: STATE_VERSION,
                ..Default::default()
            });
        if state.version > STATE_VERSION {
            return Err(ImageError::Corrupted {
                id: path.display().to_string(),
                reason: format!(
                    "records have format version {}, newer than this berth understands ({STATE_VERSION})",
                    state.version
                ),
            });
        }
        Ok(ImageStore {
            root: root.to_path_buf(),
            content,
            snapshotter,
            inner: Mutex::new(Inner {
                state,
                configs: HashMap::new(),
                active_leases: 0,
            }),
        })
    }

    /// Locks the state. A panic in another thread cannot have left the persisted state torn
    /// (it is replaced whole), so a poisoned lock is simply taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes `new` to disk and, only if that worked, makes it the current state.
    pub(crate) fn persist(&self, inner: &mut Inner, mut new: State) -> Result<()> {
        new.version = STATE_VERSION;
        write_json(&self.root.join(STATE_FILE), &new)
            .map_err(|e| ImageError::storage("writing the image records", e))?;
        inner.state = new;
        Ok(())
    }

    /// The parsed config of a recorded image.
    pub(crate) fn config_of(&self, inner: &mut Inner, id: &Digest) -> Result<Arc<OciImageConfig>> {
        if let Some(c) = inner.configs.get(id) {
            return Ok(c.clone());
        }
        let bytes = self.content.read(id).map_err(|e| ImageError::Corrupted {
            id: id.to_string(),
            reason: format!("cannot read its config: {e}"),
        })?;
        let config: OciImageConfig =
            serde_json::from_slice(&bytes).map_err(|e| ImageError::Corrupted {
                id: id.to_string(),
                reason: format!("bad config: {e}"),
            })?;
        let config = Arc::new(config);
        inner.configs.insert(id.clone(), config.clone());
        Ok(config)
    }

    /// Records new images and points their tags at them, in one atomic state write. An image
    /// already present keeps its record (it is the same content); tags move like `docker tag`.
    pub(crate) fn add_images(&self, images: &[NewImage]) -> Result<()> {
        self.add_images_with(images, |_| {})
    }

    /// [`ImageStore::add_images`] with a further change to the state made in the same write.
    pub(crate) fn add_images_with(
        &self,
        images: &[NewImage],
        also: impl FnOnce(&mut State),
    ) -> Result<()> {
        let mut inner = self.lock();
        let mut state = inner.state.clone();
        let now = now_rfc3339();
        for img in images {
            state
                .images
                .entry(img.record.id.clone())
                .or_insert_with(|| img.record.clone());
            for tag in &img.tags {
                state.set_tag(&with_default_tag(tag), &img.record.id, &now);
            }
        }
        also(&mut state);
        self.persist(&mut inner, state)?;
        for img in images {
            inner
                .configs
                .insert(img.record.id.clone(), img.config.clone());
        }
        Ok(())
    }

    /// The id of the image `name` designates: a full or short id, `name[:tag]` or
    /// `name@digest`, normalised like Docker (`busybox` is `docker.io/library/busybox:latest`).
    pub fn resolve(&self, name: &str) -> Result<Digest> {
        Ok(resolve(&self.lock().state, name)?.id().clone())
    }

    /// Resolution that also says whether a reference or an id was named.
    pub(crate) fn resolve_full(&self, inner: &Inner, name: &str) -> Result<Resolved> {
        resolve(&inner.state, name)
    }

    /// Points `target` at the image `source` designates (`docker tag`). A target without a tag
    /// gets `latest`; a tag held by another image moves, leaving that image dangling if it has
    /// no other tag.
    pub fn tag(&self, source: &str, target: &Reference) -> Result<()> {
        if target.digest().is_some() {
            return Err(ImageError::InvalidArgument(format!(
                "refusing to create a tag with a digest reference: {}",
                target.familiar()
            )));
        }
        let target = with_default_tag(target);
        let mut inner = self.lock();
        let id = resolve(&inner.state, source)?.id().clone();
        let mut state = inner.state.clone();
        state.set_tag(&target, &id, &now_rfc3339());
        self.persist(&mut inner, state)
    }

    /// [`ImageStore::tag`] with the target given as text (`repo[:tag]`), refusing malformed
    /// names like `UPPER:case` or `a:b:c` with Docker's wording.
    pub fn tag_name(&self, source: &str, target: &str) -> Result<()> {
        let target = Reference::parse_tagged_default(target)?;
        self.tag(source, &target)
    }

    /// Number of images.
    pub fn count(&self) -> usize {
        self.lock().state.images.len()
    }

    /// The OCI config of an image (for creating containers from it).
    pub fn image_config(&self, id: &Digest) -> Result<OciImageConfig> {
        let mut inner = self.lock();
        if !inner.state.images.contains_key(id) {
            return Err(ImageError::NotFound(id.to_string()));
        }
        Ok((*self.config_of(&mut inner, id)?).clone())
    }

    /// Chain IDs of an image's layers, bottom first: the snapshots a container's root file
    /// system stacks (the last one is the parent of its writable layer).
    pub fn layers(&self, id: &Digest) -> Result<Vec<Digest>> {
        let inner = self.lock();
        inner
            .state
            .images
            .get(id)
            .map(ImageRecord::chain_ids)
            .ok_or_else(|| ImageError::NotFound(id.to_string()))
    }

    /// The snapshotter images are unpacked into.
    pub fn snapshotter(&self) -> &Arc<dyn Snapshotter> {
        &self.snapshotter
    }

    /// The content store holding image blobs.
    pub fn content(&self) -> &Arc<ContentStore> {
        &self.content
    }
}

/// `r` without digest, with `latest` when it names no tag: the form tags are kept in.
pub(crate) fn with_default_tag(r: &Reference) -> Reference {
    let r = r.without_digest();
    if r.tag().is_some() {
        return r;
    }
    // Re-parsing our own rendering of a valid reference cannot fail; fall back to it anyway.
    Reference::parse_tagged_default(&r.to_string()).unwrap_or(r)
}

/// Marks a load, import or save in progress and remembers the blobs and snapshots it created,
/// so that when it ends (success, error or panic) whatever it created that no image references
/// is deleted. That makes a failed load leave the store exactly as it was, and removes the
/// by-products of a successful one (legacy `json`/`VERSION` files, other platforms' blobs).
pub(crate) struct Lease<'a> {
    store: &'a ImageStore,
    blobs: Vec<Digest>,
    snapshots: Vec<Digest>,
}

impl<'a> Lease<'a> {
    /// Starts a lease. Must not be called with the store lock held.
    pub fn new(store: &'a ImageStore) -> Lease<'a> {
        store.lock().active_leases += 1;
        Lease {
            store,
            blobs: Vec::new(),
            snapshots: Vec::new(),
        }
    }

    /// Notes a stored blob; only blobs this lease created are its to clean up.
    pub fn blob(&mut self, c: &Committed) {
        if c.created {
            self.blobs.push(c.digest.clone());
        }
    }

    /// Notes an unpacked layer; only snapshots this lease created are its to clean up.
    pub fn snapshot(&mut self, a: &AppliedLayer) {
        if a.created {
            self.snapshots.push(a.chain_id.clone());
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let mut inner = self.store.lock();
        inner.active_leases -= 1;
        if inner.active_leases > 0 {
            // Another operation may be relying on the same content; gc will collect later.
            return;
        }
        let blobs = inner.state.referenced_blobs();
        for d in self.blobs.iter().filter(|d| !blobs.contains(d)) {
            if let Err(e) = self.store.content.delete(d) {
                tracing::warn!(blob = %d, error = %e, "could not remove an unreferenced blob");
            }
        }
        let snaps = inner.state.referenced_snapshots();
        for c in self.snapshots.iter().rev().filter(|c| !snaps.contains(c)) {
            if let Err(e) = self.store.snapshotter.remove(c) {
                tracing::warn!(snapshot = %c, error = %e, "could not remove an unreferenced snapshot");
            }
        }
    }
}
