//! Removing images (`docker rmi`, `docker image prune`) with Docker's rules, and garbage
//! collection of blobs and snapshots no image references.
//!
//! Records are updated (atomically) before any data is deleted, so a crash in between leaves
//! only unreferenced data, which [`ImageStore::gc`] removes at the next daemon start.

use crate::error::{ImageError, Result};
use crate::query::bool_filter;
use crate::records::{ImageRecord, State};
use crate::resolve::Resolved;
use crate::store::{ImageStore, Inner};
use crate::timefmt::{parse_filter_time, unix_seconds};
use berth_api_types::Filters;
use berth_api_types::image::{ImageDeleteItem, ImagePruneResponse};
use berth_common::{Digest, Reference};

/// Filters `docker image prune` accepts.
const PRUNE_FILTERS: &[&str] = &["dangling", "label", "label!", "until"];

fn untagged(name: String) -> ImageDeleteItem {
    ImageDeleteItem {
        untagged: Some(name),
        deleted: None,
    }
}

fn deleted(id: &Digest) -> ImageDeleteItem {
    ImageDeleteItem {
        untagged: None,
        deleted: Some(id.to_string()),
    }
}

/// Repository digests in familiar form.
fn familiar(full: &str) -> String {
    Reference::parse(full)
        .map(|r| r.familiar())
        .unwrap_or_else(|_| full.to_string())
}

impl ImageStore {
    /// `DELETE /images/{name}` with Docker's semantics: naming one of several tags only
    /// untags; naming an id of an image tagged in several repositories needs `force`; an image
    /// used by a running container (per `in_use`, which returns that container's short id) is
    /// never deleted. Returns the `Untagged` references, then `Deleted` for the image and for
    /// each layer snapshot no other image uses (kept when `noprune`).
    pub fn remove(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
        in_use: &dyn Fn(&Digest) -> Option<String>,
    ) -> Result<Vec<ImageDeleteItem>> {
        let mut inner = self.lock();
        let resolved = self.resolve_full(&inner, name)?;
        let id = resolved.id().clone();
        let short = id.short().to_string();
        let mut state = inner.state.clone();
        let mut items = Vec::new();
        let digests = state
            .images
            .get(&id)
            .map(|r| r.repo_digests.clone())
            .unwrap_or_default();
        match &resolved {
            Resolved::Ref { reference, .. } => {
                let removed_name = untag_one(&mut state, &id, reference);
                let tags_left = state.tags_of(&id);
                let digests_left = state
                    .images
                    .get(&id)
                    .map(|r| r.repo_digests.clone())
                    .unwrap_or_default();
                let repo = reference.name();
                // Like Docker: once the last tag of a repository goes, that repository's
                // digest references go with it.
                let repo_still_tagged = tags_left.iter().any(|t| t.name() == repo);
                let same_repo_digests: Vec<String> = digests_left
                    .iter()
                    .filter(|d| Reference::parse(d).is_ok_and(|r| r.name() == repo))
                    .filter(|_| !repo_still_tagged)
                    .cloned()
                    .collect();
                let other_refs =
                    !tags_left.is_empty() || digests_left.len() > same_repo_digests.len();
                if other_refs {
                    items.push(untagged(removed_name));
                    if !same_repo_digests.is_empty() {
                        if let Some(rec) = state.images.get_mut(&id) {
                            rec.repo_digests.retain(|d| !same_repo_digests.contains(d));
                        }
                        items.extend(same_repo_digests.iter().map(|d| untagged(familiar(d))));
                    }
                    self.persist(&mut inner, state)?;
                    return Ok(items);
                }
                if let Some(cid) = in_use(&id) {
                    if !force {
                        return Err(ImageError::Conflict(format!(
                            "conflict: unable to remove repository reference \"{name}\" (must force) - container {cid} is using its referenced image {short}"
                        )));
                    }
                    // Forced: the reference goes, the image stays for its container.
                    items.push(untagged(removed_name));
                    self.persist(&mut inner, state)?;
                    return Ok(items);
                }
                items.push(untagged(removed_name));
                if let Some(rec) = state.images.get_mut(&id) {
                    rec.repo_digests.retain(|d| !same_repo_digests.contains(d));
                }
                items.extend(same_repo_digests.iter().map(|d| untagged(familiar(d))));
            }
            Resolved::Id(_) => {
                if let Some(cid) = in_use(&id) {
                    return Err(ImageError::Conflict(format!(
                        "conflict: unable to delete {short} (cannot be forced) - image is being used by running container {cid}"
                    )));
                }
                let tags = state.tags_of(&id);
                let repos: std::collections::BTreeSet<String> = tags
                    .iter()
                    .map(Reference::name)
                    .chain(
                        digests
                            .iter()
                            .filter_map(|d| Reference::parse(d).ok())
                            .map(|r| r.name()),
                    )
                    .collect();
                if !force && (tags.len() > 1 || repos.len() > 1) {
                    return Err(ImageError::Conflict(format!(
                        "conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"
                    )));
                }
                for t in &tags {
                    state.remove_tag(t);
                    items.push(untagged(t.familiar()));
                }
                items.extend(digests.iter().map(|d| untagged(familiar(d))));
            }
        }
        let Some(record) = state.images.remove(&id) else {
            return Err(ImageError::NotFound(name.to_string()));
        };
        items.push(deleted(&id));
        self.persist(&mut inner, state)?;
        if !noprune {
            self.delete_data(&mut inner, &record, &mut items);
        }
        Ok(items)
    }

    /// `POST /images/prune`: removes dangling images (or, with `dangling_only == false`, every
    /// image no container uses), filtered by `label`, `label!` and `until`, then collects
    /// unreferenced blobs and snapshots.
    pub fn prune(
        &self,
        dangling_only: bool,
        filters: &Filters,
        in_use: &dyn Fn(&Digest) -> Option<String>,
    ) -> Result<ImagePruneResponse> {
        filters
            .check_names(PRUNE_FILTERS)
            .map_err(|e| ImageError::InvalidArgument(e.0))?;
        bool_filter(filters, "dangling")?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut until = None;
        for v in filters.get("until") {
            let t = parse_filter_time(v, now)?;
            until = Some(until.map_or(t, |u: i64| u.min(t)));
        }
        let mut inner = self.lock();
        let mut victims = Vec::new();
        let ids: Vec<Digest> = inner.state.images.keys().cloned().collect();
        for id in ids {
            let tagged = !inner.state.tags_of(&id).is_empty();
            let hidden = inner.state.images.get(&id).is_some_and(|r| r.hidden);
            if hidden || (dangling_only && tagged) || in_use(&id).is_some() {
                continue;
            }
            let config = self.config_of(&mut inner, &id)?;
            let labels = config.labels();
            if !filters.labels_match("label", &labels) {
                continue;
            }
            let excluded = filters.get("label!").iter().any(|l| {
                let one = Filters::from_cli(&[format!("label={l}")]).unwrap_or_default();
                one.labels_match("label", &labels)
            });
            if excluded {
                continue;
            }
            if until.is_some_and(|u| unix_seconds(config.created.as_deref()) >= u) {
                continue;
            }
            victims.push(id);
        }
        let mut state: State = inner.state.clone();
        let mut items = Vec::new();
        let mut removed: Vec<ImageRecord> = Vec::new();
        for id in &victims {
            for t in state.tags_of(id) {
                state.remove_tag(&t);
                items.push(untagged(t.familiar()));
            }
            if let Some(rec) = state.images.remove(id) {
                items.extend(rec.repo_digests.iter().map(|d| untagged(familiar(d))));
                items.push(deleted(id));
                removed.push(rec);
            }
        }
        if !removed.is_empty() {
            self.persist(&mut inner, state)?;
        }
        let mut reclaimed = 0;
        for rec in &removed {
            inner.configs_forget(&rec.id);
            reclaimed += self.delete_data(&mut inner, rec, &mut items);
        }
        reclaimed += self.gc_locked(&mut inner)?;
        // Images sharing layers would otherwise report a shared snapshot once per image.
        let mut seen = std::collections::HashSet::new();
        items.retain(|i| seen.insert((i.untagged.clone(), i.deleted.clone())));
        Ok(ImagePruneResponse {
            images_deleted: (!items.is_empty()).then_some(items),
            space_reclaimed: reclaimed,
        })
    }

    /// Deletes every blob and snapshot no image references and returns the bytes freed. The
    /// engine runs it at start-up, which repairs whatever a crash (even mid-load) left behind.
    /// While a load, import or save runs, it does nothing.
    pub fn gc(&self) -> Result<u64> {
        let mut inner = self.lock();
        self.gc_locked(&mut inner)
    }

    pub(crate) fn gc_locked(&self, inner: &mut Inner) -> Result<u64> {
        if inner.active_leases > 0 {
            return Ok(0);
        }
        let mut freed = 0;
        let blobs = inner.state.referenced_blobs();
        let stored = self
            .content
            .list()
            .map_err(|e| ImageError::storage("listing blobs", e))?;
        for d in stored.iter().filter(|d| !blobs.contains(d)) {
            freed += self.content.size(d).unwrap_or(0);
            self.content
                .delete(d)
                .map_err(|e| ImageError::storage(format!("removing blob {d}"), e))?;
        }
        let snaps = inner.state.referenced_snapshots();
        let present = self
            .snapshotter
            .list()
            .map_err(|e| ImageError::storage("listing snapshots", e))?;
        for c in present.iter().filter(|c| !snaps.contains(c)) {
            freed += self.snapshotter.usage(c).unwrap_or(0);
            self.snapshotter
                .remove(c)
                .map_err(|e| ImageError::storage(format!("removing snapshot {c}"), e))?;
        }
        Ok(freed)
    }

    /// Deletes the blobs and snapshots of a removed image that no remaining image uses,
    /// adding a `Deleted` item per snapshot; returns the bytes freed. Failures only leave
    /// garbage for [`ImageStore::gc`], so they are logged, not returned.
    fn delete_data(
        &self,
        inner: &mut Inner,
        rec: &ImageRecord,
        items: &mut Vec<ImageDeleteItem>,
    ) -> u64 {
        inner.configs_forget(&rec.id);
        if inner.active_leases > 0 {
            return 0;
        }
        let mut freed = 0;
        let blobs = inner.state.referenced_blobs();
        for d in rec.blobs().filter(|d| !blobs.contains(d)) {
            let size = self.content.size(d).unwrap_or(0);
            match self.content.delete(d) {
                Ok(()) => freed += size,
                Err(e) => tracing::warn!(blob = %d, error = %e, "could not remove a blob"),
            }
        }
        let snaps = inner.state.referenced_snapshots();
        for c in rec.chain_ids().iter().rev().filter(|c| !snaps.contains(c)) {
            let size = self.snapshotter.usage(c).unwrap_or(0);
            match self.snapshotter.remove(c) {
                Ok(()) => {
                    freed += size;
                    items.push(deleted(c));
                }
                Err(e) => tracing::warn!(snapshot = %c, error = %e, "could not remove a snapshot"),
            }
        }
        freed
    }
}

/// Removes `reference` (a tag or a repository digest) from the image; returns its familiar form.
fn untag_one(state: &mut State, id: &Digest, reference: &Reference) -> String {
    if reference.digest().is_some() {
        let full = reference.to_string();
        if let Some(rec) = state.images.get_mut(id) {
            rec.repo_digests.retain(|d| *d != full);
        }
    } else {
        state.remove_tag(reference);
    }
    reference.familiar()
}
