//! Image and volume operations that publish events.
//!
//! The stores know nothing of events; these thin wrappers call the store and, only when it
//! succeeded, publish what Docker publishes for the same operation. API handlers call these
//! instead of the stores so no code path can change state without telling `docker events`.

use crate::{Engine, EngineError};
use berth_api_types::Filters;
use berth_api_types::events::EventType;
use berth_api_types::image::{ImageDeleteItem, ImagePruneResponse};
use berth_api_types::volume::{Volume, VolumeCreateOptions, VolumePruneResponse};
use berth_common::{Digest, Reference};
use berth_image::{ImageError, ImportOptions, LoadedImage};
use std::io::{Read, Write};

type ImageResult<T> = Result<T, ImageError>;

impl Engine {
    fn image_event(&self, action: &str, id: &str, name: &str) {
        self.events
            .emit(EventType::Image, action, id, &[("name", name.to_string())]);
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
        in_use: &dyn Fn(&Digest) -> Option<String>,
    ) -> ImageResult<Vec<ImageDeleteItem>> {
        let _freeing = self.reserve.freeing();
        let id = self.images.resolve(name)?.to_string();
        let items = self.images.remove(name, force, noprune, in_use)?;
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
        in_use: &dyn Fn(&Digest) -> Option<String>,
    ) -> ImageResult<ImagePruneResponse> {
        let _freeing = self.reserve.freeing();
        let report = self.images.prune(dangling_only, filters, in_use)?;
        self.events.emit(
            EventType::Image,
            "prune",
            "",
            &[("reclaimed", report.space_reclaimed.to_string())],
        );
        Ok(report)
    }

    /// `docker save`: publishes `save` per named image once the archive was fully written.
    pub fn image_save(&self, names: &[String], out: impl Write) -> ImageResult<()> {
        let ids = names
            .iter()
            .map(|n| self.images.resolve(n))
            .collect::<ImageResult<Vec<_>>>()?;
        self.images.save(names, out)?;
        for id in ids {
            let id = id.to_string();
            self.image_event("save", &id, &id);
        }
        Ok(())
    }

    /// `docker volume create`: publishes volume `create` with the driver.
    pub fn volume_create(&self, opts: &VolumeCreateOptions) -> Result<Volume, EngineError> {
        let volume = self.volumes.create(opts)?;
        self.events.emit(
            EventType::Volume,
            "create",
            &volume.name,
            &[("driver", volume.driver.clone())],
        );
        Ok(volume)
    }

    /// `docker volume rm`: publishes volume `destroy`.
    pub fn volume_remove(
        &self,
        name: &str,
        force: bool,
        in_use: &dyn Fn(&str) -> bool,
    ) -> Result<(), EngineError> {
        let _freeing = self.reserve.freeing();
        self.volumes.remove(name, force, in_use)?;
        self.events.emit(
            EventType::Volume,
            "destroy",
            name,
            &[("driver", "local".to_string())],
        );
        Ok(())
    }

    /// `docker volume prune`: publishes `destroy` per removed volume, then one `prune` with
    /// `reclaimed` bytes.
    pub fn volumes_prune(
        &self,
        filters: &Filters,
        in_use: &dyn Fn(&str) -> bool,
    ) -> Result<VolumePruneResponse, EngineError> {
        let _freeing = self.reserve.freeing();
        let report = self.volumes.prune(filters, in_use)?;
        for name in report.volumes_deleted.iter().flatten() {
            self.events.emit(
                EventType::Volume,
                "destroy",
                name,
                &[("driver", "local".to_string())],
            );
        }
        self.events.emit(
            EventType::Volume,
            "prune",
            "",
            &[("reclaimed", report.space_reclaimed.to_string())],
        );
        Ok(report)
    }
}
