//! `WORKDIR`: the directory made in a layer when the image lacks it.

use super::*;

impl Run<'_, '_> {
    /// `WORKDIR`: the directory is made when the image lacks it (a layer, as BuildKit makes
    /// it); otherwise only the config changes.
    pub(super) fn workdir_step(
        &mut self,
        state: &mut StageState,
        config: &ImageConfig,
        text: String,
    ) -> Result<()> {
        let key = chain_key(&state.key, &serde_json::json!({"workdir": config}));
        let history = History {
            created: Some(berth_common::time::now()),
            created_by: Some(text.clone()),
            empty_layer: Some(true),
            ..History::default()
        };
        if !self.opts.no_cache
            && let Some(id) = self.engine.images.cache_lookup(&key.to_string())
        {
            self.hits.push(key.to_string());
            if state.image.as_ref() == Some(&id) {
                // The directory was there: nothing but the config changed.
                state.key = key;
                state.config.history.push(history);
                self.say(" ---> Using cache\n".into());
                return Ok(());
            }
            self.hits.pop();
            return self.cache_hit(state, &key).map(|_| ());
        }
        let container = StepContainer::idle(self.engine, state.image.as_ref(), &self.build_id)?;
        let dir = config.working_dir.clone();
        let made = self.engine.containers.with_rootfs(&container.id, |root| {
            let tree = berth_storage::confined::Tree::open(root)?;
            let missing = super::copy::missing_dirs(&tree, &dir, true);
            if missing.is_empty() {
                return Ok(false);
            }
            let top = tree
                .resolve("/", true)
                .map_err(|e| EngineError::Internal(e.to_string()))?;
            let mut tar = Vec::new();
            {
                let mut b = tar::Builder::new(&mut tar);
                for d in &missing {
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    h.set_size(0);
                    b.append_data(&mut h, d, std::io::empty())
                        .map_err(|e| EngineError::io(root, e))?;
                }
                b.finish().map_err(|e| EngineError::io(root, e))?;
            }
            berth_storage::unpack::apply_tar_at(
                &mut &tar[..],
                top.fd,
                root,
                berth_storage::unpack::WhiteoutMode::Overlay,
            )?;
            Ok(true)
        })?;
        if made {
            return self.commit(state, &container, &key, config, text);
        }
        if let Some(id) = &state.image {
            self.engine.images.cache_record(&key.to_string(), id)?;
        }
        state.key = key;
        state.config.history.push(history);
        Ok(())
    }
}
