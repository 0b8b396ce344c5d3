//! The build cache's index: which image each build step made, found again by the step's key.
//!
//! The index lives in the store's state document beside the images, written in the same
//! atomic write as the image a step made ([`crate::Assembly::cache_key`]), so a record can
//! never name an image that was not stored, and it survives restarts and `kill -9` like the
//! images do. The images a step made are hidden ([`crate::Assembly::hidden`]); pruning the
//! cache removes the records and then the hidden images no record needs any more.

use crate::error::{ImageError, Result};
use crate::records::ImageRecord;
use crate::store::ImageStore;
use crate::timefmt::{now_rfc3339, parse_filter_time, unix_seconds};
use berth_api_types::build::{BuildCache, BuildPruneResponse};
use berth_common::Digest;
use std::collections::HashSet;

/// Which records `builder prune` removes.
#[derive(Debug, Clone, Default)]
pub struct CachePrune {
    /// Also the records of final images (their images stay; only the cache forgets them).
    /// Without it only intermediate steps' records go.
    pub all: bool,
    /// `until` (or `unused-for`): only records last used before that time.
    pub filters: berth_api_types::Filters,
    /// Stop once the cache's layers take at most this many bytes (oldest used go first);
    /// `None` removes every record that matches.
    pub keep_storage: Option<u64>,
}

impl CachePrune {
    /// The time (Unix seconds) before which a record must have been last used to go, from
    /// `until`/`unused-for` (the earliest when several); `None` when unfiltered.
    pub fn cutoff(&self) -> Result<Option<i64>> {
        self.filters
            .check_names(&["until", "unused-for"])
            .map_err(|e| ImageError::InvalidArgument(e.0))?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut until: Option<i64> = None;
        for v in self
            .filters
            .get("until")
            .iter()
            .chain(self.filters.get("unused-for"))
        {
            let t = parse_filter_time(v, now)?;
            until = Some(until.map_or(t, |u| u.min(t)));
        }
        Ok(until)
    }
}

impl ImageStore {
    /// The image the cache holds for `key`, if the record and its image are both still there.
    pub fn cache_lookup(&self, key: &str) -> Option<Digest> {
        let inner = self.lock();
        let rec = inner.state.cache.get(key)?;
        inner
            .state
            .images
            .contains_key(&rec.image)
            .then(|| rec.image.clone())
    }

    /// Records that the build step `key` gives `image` (an image that exists already, like a
    /// final image a build made without a new layer).
    pub fn cache_record(&self, key: &str, image: &Digest) -> Result<()> {
        let mut inner = self.lock();
        if !inner.state.images.contains_key(image) {
            return Err(ImageError::NotFound(image.to_string()));
        }
        let mut state = inner.state.clone();
        let now = now_rfc3339();
        state.cache.insert(
            key.to_string(),
            crate::records::CacheRecord {
                image: image.clone(),
                created: now.clone(),
                last_used: now,
                uses: 1,
            },
        );
        self.persist(&mut inner, state)
    }

    /// Marks the records `keys` used now, in one state write (a build calls it once, at its
    /// end, for its cache hits).
    pub fn cache_touch(&self, keys: &[String]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut inner = self.lock();
        let mut state = inner.state.clone();
        let now = now_rfc3339();
        for key in keys {
            if let Some(rec) = state.cache.get_mut(key) {
                rec.last_used = now.clone();
                rec.uses += 1;
            }
        }
        self.persist(&mut inner, state)
    }

    /// The cache's records for `GET /system/df`, oldest used first.
    pub fn cache_usage(&self) -> Vec<BuildCache> {
        let mut inner = self.lock();
        let state = inner.state.clone();
        let visible = visible_snapshots(state.images.values());
        let mut out: Vec<(String, BuildCache)> = Vec::new();
        for (key, rec) in &state.cache {
            let Some(image) = state.images.get(&rec.image) else {
                continue;
            };
            let top = image.layers.last();
            let description = self
                .config_of(&mut inner, &rec.image)
                .ok()
                .and_then(|c| c.history.last().and_then(|h| h.created_by.clone()))
                .unwrap_or_default();
            out.push((
                rec.last_used.clone(),
                BuildCache {
                    id: short_key(key),
                    parents: image
                        .parent
                        .iter()
                        .map(|p| p.hex().chars().take(12).collect())
                        .collect(),
                    kind: "regular".into(),
                    description,
                    in_use: false,
                    shared: !image.hidden || top.is_some_and(|l| visible.contains(&l.chain_id)),
                    size: own_size(image) as i64,
                    created_at: rec.created.clone(),
                    last_used_at: Some(rec.last_used.clone()),
                    usage_count: rec.uses as i64,
                },
            ));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.into_iter().map(|(_, b)| b).collect()
    }

    /// Bytes the cache's own layers take (those of hidden images).
    pub fn cache_size(&self) -> u64 {
        let inner = self.lock();
        cached_bytes(&inner.state)
    }

    /// `POST /build/prune`: removes the records `opts` selects, oldest used first, then the
    /// hidden images no record needs and no container (per `in_use`) uses, then the data no
    /// image references.
    pub fn cache_prune(
        &self,
        opts: &CachePrune,
        in_use: &dyn Fn(&Digest) -> bool,
    ) -> Result<BuildPruneResponse> {
        let until = opts.cutoff()?;
        let mut inner = self.lock();
        let mut state = inner.state.clone();
        let mut order: Vec<(String, String)> = state
            .cache
            .iter()
            .map(|(k, r)| (r.last_used.clone(), k.clone()))
            .collect();
        order.sort();
        let mut deleted = Vec::new();
        for (last_used, key) in order {
            if opts
                .keep_storage
                .is_some_and(|keep| cached_bytes(&state) <= keep)
            {
                break;
            }
            if until.is_some_and(|u| unix_seconds(Some(&last_used)) >= u) {
                continue;
            }
            let Some(rec) = state.cache.get(&key) else {
                continue;
            };
            let hidden = state.images.get(&rec.image).is_none_or(|i| i.hidden);
            if !hidden && !opts.all {
                continue;
            }
            let image = rec.image.clone();
            state.cache.remove(&key);
            deleted.push(short_key(&key));
            // The hidden image goes with its last record, unless a container still uses it.
            let needed = state.cache.values().any(|r| r.image == image);
            if hidden && !needed && !in_use(&image) {
                state.images.remove(&image);
            }
        }
        let removed: Vec<ImageRecord> = inner
            .state
            .images
            .values()
            .filter(|r| !state.images.contains_key(&r.id))
            .cloned()
            .collect();
        if deleted.is_empty() {
            return Ok(BuildPruneResponse::default());
        }
        self.persist(&mut inner, state)?;
        for rec in &removed {
            inner.configs_forget(&rec.id);
        }
        let reclaimed = self.gc_locked(&mut inner)?;
        Ok(BuildPruneResponse {
            caches_deleted: deleted,
            space_reclaimed: reclaimed,
        })
    }
}

/// A record's id as shown: the first 25 characters of its key, like BuildKit's record ids.
fn short_key(key: &str) -> String {
    key.chars().take(25).collect()
}

/// Bytes the image's top layer added, when the image is a hidden step result (a final image's
/// layers are counted with the images).
fn own_size(image: &ImageRecord) -> u64 {
    match image.layers.last() {
        Some(l) if image.hidden => l.unpacked,
        _ => 0,
    }
}

/// Snapshots that visible images use.
fn visible_snapshots<'a>(images: impl Iterator<Item = &'a ImageRecord>) -> HashSet<Digest> {
    images
        .filter(|i| !i.hidden)
        .flat_map(|i| i.chain_ids())
        .collect()
}

/// Bytes of the layers only hidden images hold, each counted once.
fn cached_bytes(state: &crate::records::State) -> u64 {
    let visible = visible_snapshots(state.images.values());
    let mut seen = HashSet::new();
    state
        .images
        .values()
        .filter(|i| i.hidden)
        .flat_map(|i| i.layers.iter())
        .filter(|l| !visible.contains(&l.chain_id) && seen.insert(l.chain_id.clone()))
        .map(|l| l.unpacked)
        .sum()
}
