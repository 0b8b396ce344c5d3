//! Name resolution: what image a user means by `busybox`, `busybox:1.36`, `3f57d9401f8d`,
//! `sha256:3f57…` or `busybox@sha256:…`.
//!
//! The order follows Docker: a full id wins, then a tag, then a short-id prefix, so an image
//! tagged `abc` is found by `abc` even if some id starts with `abc`. Whether the user named a
//! reference or an id matters to `remove` (untag vs delete) and `save` (which tags to write),
//! hence [`Resolved`] keeps that distinction.

use crate::error::{ImageError, Result};
use crate::records::State;
use berth_common::id::looks_like_id_prefix;
use berth_common::{Digest, Reference};

/// How a name matched an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// By full id or id prefix.
    Id(Digest),
    /// By a tagged or digested reference (normalised, `:latest` added).
    Ref {
        /// The image.
        id: Digest,
        /// The reference as normalised.
        reference: Reference,
    },
}

impl Resolved {
    /// The image id.
    pub fn id(&self) -> &Digest {
        match self {
            Resolved::Id(id) | Resolved::Ref { id, .. } => id,
        }
    }
}

/// Finds the image `name` designates.
pub(crate) fn resolve(state: &State, name: &str) -> Result<Resolved> {
    let name = name.trim();
    if let Some(hex) = name.strip_prefix("sha256:") {
        if !looks_like_id_prefix(hex) {
            return Err(ImageError::NotFound(name.to_string()));
        }
        return by_prefix(state, hex, name).map(Resolved::Id);
    }
    let parsed = match Reference::parse(name) {
        Ok(r) => r,
        Err(e) if looks_like_id_prefix(name) => {
            tracing::trace!(error = %e, "not a reference, trying as an id");
            return by_prefix(state, name, name).map(Resolved::Id);
        }
        Err(e) => return Err(e.into()),
    };
    if let Ok(d) = Digest::from_hex(name)
        && state.images.contains_key(&d)
    {
        return Ok(Resolved::Id(d));
    }
    if let Some(digest) = parsed.digest() {
        let full = parsed.to_string();
        let name_only = parsed.name();
        let found = state.images.values().find(|rec| {
            rec.repo_digests.contains(&full)
                || (rec.manifest == *digest
                    && state.tags_of(&rec.id).iter().any(|t| t.name() == name_only))
        });
        return match found {
            Some(rec) => Ok(Resolved::Ref {
                id: rec.id.clone(),
                reference: parsed,
            }),
            None => Err(ImageError::NotFound(parsed.familiar())),
        };
    }
    let tagged = match parsed.tag() {
        Some(_) => parsed.clone(),
        None => Reference::parse_tagged_default(name)?,
    };
    if let Some(id) = state.tag_target(&tagged) {
        return Ok(Resolved::Ref {
            id: id.clone(),
            reference: tagged,
        });
    }
    if parsed.tag().is_none() && looks_like_id_prefix(name) {
        match by_prefix(state, name, name) {
            Ok(id) => return Ok(Resolved::Id(id)),
            Err(ImageError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Err(ImageError::NotFound(tagged.familiar()))
}

/// The unique image whose id starts with `hex`.
fn by_prefix(state: &State, hex: &str, typed: &str) -> Result<Digest> {
    let mut matches = state.images.keys().filter(|id| id.hex().starts_with(hex));
    match (matches.next(), matches.next()) {
        (Some(id), None) => Ok(id.clone()),
        (None, _) => Err(ImageError::NotFound(typed.to_string())),
        (Some(_), Some(_)) => Err(ImageError::AmbiguousPrefix {
            prefix: typed.to_string(),
            count: state
                .images
                .keys()
                .filter(|id| id.hex().starts_with(hex))
                .count(),
        }),
    }
}
