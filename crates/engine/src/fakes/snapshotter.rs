//! A snapshotter whose layers are real (the copy snapshotter's, unpacked and verified on disk)
//! but whose mounts are only remembered: mounting a root file system needs root, and the
//! engine's life cycle only needs to know what is mounted where.

use berth_common::Digest;
use berth_storage::StorageError;
use berth_storage::snapshot::copy::CopySnapshotter;
use berth_storage::snapshot::{AppliedLayer, RootfsMount, Snapshotter};
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

type Result<T> = std::result::Result<T, StorageError>;

/// See the module documentation.
#[derive(Debug)]
pub struct FakeSnapshotter {
    layers: CopySnapshotter,
    mounted: Mutex<HashSet<PathBuf>>,
}

impl FakeSnapshotter {
    /// Layers under `root`.
    pub fn new(root: &Path) -> Result<FakeSnapshotter> {
        Ok(FakeSnapshotter {
            layers: CopySnapshotter::new(root)?,
            mounted: Mutex::new(HashSet::new()),
        })
    }

    /// The targets mounted now.
    pub fn mounts(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<PathBuf>> {
        self.mounted.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Snapshotter for FakeSnapshotter {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn exists(&self, chain_id: &Digest) -> bool {
        self.layers.exists(chain_id)
    }

    fn apply_layer(
        &self,
        parent: Option<&Digest>,
        diff_id: &Digest,
        layer: &mut dyn Read,
    ) -> Result<AppliedLayer> {
        self.layers.apply_layer(parent, diff_id, layer)
    }

    fn remove(&self, chain_id: &Digest) -> Result<()> {
        self.layers.remove(chain_id)
    }

    fn list(&self) -> Result<Vec<Digest>> {
        self.layers.list()
    }

    fn usage(&self, chain_id: &Digest) -> Result<u64> {
        self.layers.usage(chain_id)
    }

    fn prepare(&self, key: &str, parent: Option<&Digest>) -> Result<RootfsMount> {
        self.layers.prepare(key, parent)
    }

    fn remove_writable(&self, key: &str) -> Result<()> {
        self.layers.remove_writable(key)
    }

    fn writable_keys(&self) -> Result<Vec<String>> {
        self.layers.writable_keys()
    }

    fn mount(&self, _mount: &RootfsMount, target: &Path) -> Result<()> {
        self.lock().insert(target.to_path_buf());
        Ok(())
    }

    fn unmount(&self, target: &Path) -> Result<()> {
        self.lock().remove(target);
        Ok(())
    }

    fn is_mounted(&self, target: &Path) -> bool {
        self.lock().contains(target)
    }
}
