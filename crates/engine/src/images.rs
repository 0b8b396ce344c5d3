//! The image noun of the engine's facade: every image operation the API (and, next, the builder
//! and the registry client) makes goes through these methods.
//!
//! The image store knows nothing of events or containers; these methods call the store and,
//! only when it succeeded, publish what Docker publishes for the same operation, and they
//! answer "is this image in use" from the containers themselves. No code path can change an
//! image without telling `docker events`.

use crate::{Engine, EngineError};
use berth_api_types::Filters;
use berth_api_types::events::EventType;
use berth_api_types::image::{
    HistoryItem, ImageDeleteItem, ImageInspect, ImagePruneResponse, ImageSummary,
};
use berth_common::{Digest, Reference};
pub use berth_image::{ImportOptions, LoadedImage};
use std::io::{Read, Write};
use std::sync::Arc;

type ImageResult<T> = Result<T, EngineError>;

impl Engine {
    fn image_event(&self, action: &str, id: &str, name: &str) {
        self.events
            .emit(EventType::Image, action, id, &[("name", name.to_string())]);
    }

    /// `docker images`: the images `filters` select (`all` is accepted: there are no
    /// intermediate images to hide).
    pub fn image_list(&self, filters: &Filters, all: bool) -> ImageResult<Vec<ImageSummary>> {
        Ok(self.images.list(filters, all)?)
    }

    /// `docker image inspect`.
    pub fn image_inspect(&self, name: &str) -> ImageResult<ImageInspect> {
        Ok(self.images.inspect(name)?)
    }

    /// `docker history`.
    pub fn image_history(&self, name: &str) -> ImageResult<Vec<HistoryItem>> {
        Ok(self.images.history(name)?)
    }

    /// `docker import`: publishes `import` with the new image's id.
    pub fn image_import(&self, tar: impl Read, opts: ImportOptions) -> ImageResult<Digest> {
        let id = self.images.import(tar, opts)?;
        let id_s = id.to_string();
        self.image_event("import", &id_s, &id_s);
        Ok(id)
    }

    /// `docker load`: publishes `load` once per loaded image.
    pub fn image_load(
        &self,
        archive: impl Read,
        progress: &mut dyn FnMut(berth_api_types::progress::JsonMessage),
    ) -> ImageResult<Vec<LoadedImage>> {
        let loaded = self.images.load(archive, progress)?;
        for image in &loaded {
            let id = image.id.to_string();
            self.image_event("load", &id, &id);
        }
        Ok(loaded)
    }

    /// `docker tag`: publishes `tag` with the new reference (familiar form) as `name`.
    pub fn image_tag(&self, source: &str, target: &Reference) -> ImageResult<()> {
        self.images.tag(source, target)?;
        let id = self.images.resolve(&target.to_string())?;
        self.image_event("tag", &id.to_string(), &target.familiar());
        Ok(())
    }

    /// `docker rmi`: publishes `untag` per removed reference and `delete` for the image itself
    /// (not for the layer snapshots the answer also lists).
    pub fn image_remove(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
    ) -> ImageResult<Vec<ImageDeleteItem>> {
        let in_use = |id: &Digest| self.containers.using_image(id);
        let _freeing = self.reserve.freeing();
        let id = self.images.resolve(name)?.to_string();
        let items = self.images.remove(name, force, noprune, &in_use)?;
        for item in &items {
            if let Some(r) = &item.untagged {
                self.image_event("untag", &id, r);
            }
            if item.deleted.as_deref() == Some(id.as_str()) {
                self.image_event("delete", &id, &id);
            }
        }
        Ok(items)
    }

    /// `docker image prune`: publishes one image `prune` event with `reclaimed` bytes.
    pub fn images_prune(
        &self,
        dangling_only: bool,
        filters: &Filters,
    ) -> ImageResult<ImagePruneResponse> {
        let _freeing = self.reserve.freeing();
        let in_use = |id: &Digest| self.containers.using_image(id);
        let report = self.images.prune(dangling_only, filters, &in_use)?;
        self.events.emit(
            EventType::Image,
            "prune",
            "",
            &[("reclaimed", report.space_reclaimed.to_string())],
        );
        Ok(report)
    }

    /// `docker save`: resolves every name first (an unknown one fails here, before a byte is
    /// written), then gives the archive's writer (run it on a blocking thread), which
    /// publishes `save` per named image once the archive was fully written.
    pub fn image_save(
        self: &Arc<Self>,
        names: Vec<String>,
    ) -> ImageResult<impl FnOnce(&mut dyn Write) -> ImageResult<()> + Send + use<>> {
        let ids = names
            .iter()
            .map(|n| self.images.resolve(n))
            .collect::<Result<Vec<_>, _>>()?;
        let this = self.clone();
        Ok(move |out: &mut dyn Write| {
            this.images.save(&names, out)?;
            for id in ids {
                let id = id.to_string();
                this.image_event("save", &id, &id);
            }
            Ok(())
        })
    }
}
