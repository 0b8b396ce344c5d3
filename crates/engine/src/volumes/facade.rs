//! The volume noun of the engine's facade: create, list, inspect, remove and prune, each
//! publishing the events Docker publishes and asking the containers whether a volume is in use.

use crate::{Engine, EngineError};
use berth_api_types::Filters;
use berth_api_types::events::EventType;
use berth_api_types::volume::{Volume, VolumeCreateOptions, VolumePruneResponse};

impl Engine {
    /// `docker volume ls`.
    pub fn volume_list(&self, filters: &Filters) -> Result<Vec<Volume>, EngineError> {
        self.volumes.list(filters)
    }

    /// `docker volume inspect`.
    pub fn volume_inspect(&self, name: &str) -> Result<Volume, EngineError> {
        self.volumes.inspect(name)
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
    pub fn volume_remove(&self, name: &str, force: bool) -> Result<(), EngineError> {
        let _freeing = self.reserve.freeing();
        let in_use = |name: &str| self.containers.using_volume(name);
        self.volumes.remove(name, force, &in_use)?;
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
    pub fn volumes_prune(&self, filters: &Filters) -> Result<VolumePruneResponse, EngineError> {
        let _freeing = self.reserve.freeing();
        let in_use = |name: &str| self.containers.using_volume(name);
        let report = self.volumes.prune(filters, &in_use)?;
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
