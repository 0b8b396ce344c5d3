//! `docker commit`: a container's changes, as a layer tar, stacked on the image it was created
//! from to make a new image.
//!
//! The layer (produced by [`berth_storage::diff::write_overlay_diff`]) is stored as given while
//! its diff ID is computed in the same pass, unpacked on top of the parent's snapshot chain, and
//! recorded with a config derived from the parent's. Everything written is held by a [`Lease`],
//! so a bad layer or a crash leaves no blob or snapshot behind and a concurrent removal of the
//! parent cannot delete the layers the new image is about to share with it.

use crate::assemble::Assembly;
use crate::config_changes::apply_changes;
use crate::error::{ImageError, Result};
use crate::oci::{History, OciImageConfig};
use crate::store::ImageStore;
use crate::timefmt::now_rfc3339;
use berth_api_types::image::ImageConfig;
use berth_common::{Digest, Reference};
use std::io::Read;

/// What [`ImageStore::commit`] needs.
pub struct CommitOptions<'a> {
    /// Id (config digest) of the image the container was created from.
    pub parent: Digest,
    /// The container's changes: a layer tar (uncompressed as a diff produces it; gzip and zstd
    /// are recognised too). It is read to the end.
    pub layer: &'a mut dyn Read,
    /// Tag to give the new image (`docker commit CONTAINER repo[:tag]`); `latest` when it names
    /// no tag. A reference with a digest is refused.
    pub reference: Option<Reference>,
    /// Commit message (`--message`), recorded in the config and the new history entry; none
    /// when empty.
    pub comment: String,
    /// Author (`--author`), recorded in the config and the new history entry; none when empty.
    pub author: String,
    /// Dockerfile instructions to apply to the run config (`--change`), after `config`.
    pub changes: Vec<String>,
    /// The container's run config; when given it replaces the parent's before `changes`
    /// apply, when `None` the parent's is kept.
    pub config: Option<ImageConfig>,
    /// What made the layer, for `docker history` (Docker puts the container's command,
    /// its words joined by spaces); none when empty.
    pub created_by: String,
}

impl std::fmt::Debug for CommitOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitOptions")
            .field("parent", &self.parent)
            .field("reference", &self.reference)
            .field("comment", &self.comment)
            .field("author", &self.author)
            .field("changes", &self.changes)
            .field("config", &self.config)
            .field("created_by", &self.created_by)
            .finish_non_exhaustive()
    }
}

impl ImageStore {
    /// Makes a new image from `opts.parent` plus one layer (`opts.layer`) and returns its id.
    ///
    /// The new image has the parent's layers and the new one, the parent's platform, the
    /// parent's history plus one entry (`created`, `created_by`, `author`, `comment`), and the
    /// run config `opts.config` (or the parent's) with `opts.changes` applied. Bad `--change`
    /// values, an unknown parent and a digest reference are refused before the layer is read.
    /// A layer that is not a valid tar is refused ([`ImageError::Layer`], kind
    /// `InvalidArgument`); on any error nothing new is left in the store.
    pub fn commit(&self, opts: CommitOptions<'_>) -> Result<Digest> {
        let CommitOptions {
            parent,
            layer,
            reference,
            comment,
            author,
            changes,
            config,
            created_by,
        } = opts;
        let (parent_config, run_config) = {
            let mut inner = self.lock();
            if !inner.state.images.contains_key(&parent) {
                return Err(ImageError::NotFound(parent.to_string()));
            }
            let parent_config = self.config_of(&mut inner, &parent)?;
            let mut run_config = config
                .or_else(|| parent_config.config.clone())
                .unwrap_or_default();
            apply_changes(&mut run_config, &changes)?;
            (parent_config, run_config)
        };
        let created = now_rfc3339();
        let non_empty = |s: String| (!s.is_empty()).then_some(s);
        let (comment, author, created_by) =
            (non_empty(comment), non_empty(author), non_empty(created_by));
        let mut new_config: OciImageConfig = (*parent_config).clone();
        new_config.created = Some(created.clone());
        new_config.author = author.clone();
        new_config.comment = comment.clone();
        new_config.config = Some(run_config);
        // These described how the parent was made (which engine, which container), not this.
        new_config.docker_version = None;
        new_config.extra.remove("container");
        new_config.extra.remove("container_config");
        new_config.history.push(History {
            created: Some(created),
            created_by,
            author,
            comment,
            empty_layer: None,
        });
        self.assemble(Assembly {
            base: Some(parent),
            layer: Some(layer),
            config: new_config,
            tags: reference.into_iter().collect(),
            hidden: false,
            cache_key: None,
            adopt: None,
        })
    }
}
