//! Removing what a container's run left behind when nothing supervises it any more: after its
//! shim died, or when a daemon killed mid-create or mid-start comes back.
//!
//! The order matters. The shim goes first (a live one would go on creating or supervising),
//! then the container's processes, cgroups and runtime state through the runtime's forced
//! delete (which kills everything in the cgroup), then the root file system mount, and the
//! network last: its namespace, veth and addresses are released only once nothing runs that
//! could still answer for them, so an address is never handed to a second container while the
//! first still holds it.

use super::Containers;
use super::record::ContainerRecord;
use crate::EngineError;
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, EngineError>;

/// How long a killed shim may take to go.
const SHIM_GONE: Duration = Duration::from_secs(5);

impl Containers {
    /// Kills and removes whatever is left of `rec`'s last run (see the module documentation).
    /// On error the network is kept, so its addresses stay reserved.
    pub(super) fn scrub_run(&self, rec: &ContainerRecord) -> Result<()> {
        let state = self.shims.state_dir(&rec.id);
        if let Some(pid) = self.shims.live_pid(&state) {
            tracing::info!(id = %rec.id, pid, "killing a shim nothing tracks");
            self.shims.kill_shim(pid);
            let deadline = Instant::now() + SHIM_GONE;
            while self.shims.live_pid(&state).is_some() {
                if Instant::now() > deadline {
                    return Err(EngineError::Conflict(format!(
                        "the shim of container {} (pid {pid}) did not exit after SIGKILL",
                        rec.id
                    )));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        self.shims
            .delete_runtime_state(&rec.id, &self.cgroup_path(rec))?;
        self.unmount_rootfs(&self.store.dir_of(&rec.id).join("rootfs"))?;
        self.ports.unpublish(&rec.id, self.net.store());
        self.net.teardown(&rec.id);
        Ok(())
    }
}

/// Directory entries' names, or nothing when the directory is missing.
fn names(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

impl Containers {
    /// Removes what no record owns: shims, runtime state and cgroups, network namespaces and
    /// endpoints, and writable layers of containers whose record never got written (a daemon
    /// killed during `create`) or is gone. Runs when the store opens, before the API serves,
    /// so nothing a client is making can be taken for debris.
    pub(super) fn sweep_orphans(&self) {
        let known: std::collections::HashSet<String> =
            self.store.all().iter().map(|e| e.id.clone()).collect();
        let owned = |name: &str| known.iter().any(|id| id.starts_with(name));
        for name in names(self.shims.shims_dir()) {
            if owned(&name) {
                continue;
            }
            let dir = self.shims.shims_dir().join(&name);
            if let Some(pid) = self.shims.live_pid(&dir) {
                tracing::info!(pid, "killing a shim no container owns");
                self.shims.kill_shim(pid);
                let deadline = Instant::now() + SHIM_GONE;
                while self.shims.live_pid(&dir).is_some() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
        let mut orphans: std::collections::BTreeSet<String> = names(self.shims.runtime_root())
            .into_iter()
            .chain(names(self.net.netns_dir()))
            .filter(|id| !known.contains(id))
            .collect();
        for net in self.net.store().all() {
            orphans.extend(
                net.endpoints
                    .keys()
                    .filter(|id| !known.contains(*id))
                    .cloned(),
            );
        }
        for id in orphans {
            let rec = ContainerRecord {
                id: id.clone(),
                ..Default::default()
            };
            tracing::info!(id = %id, "removing what a container without a record left");
            if let Err(e) = self
                .shims
                .delete_runtime_state(&id, &self.cgroup_path(&rec))
            {
                tracing::warn!(id = %id, error = %e, "removing an orphaned container");
                continue; // its addresses stay reserved
            }
            self.ports.unpublish(&id, self.net.store());
            self.net.teardown(&id);
        }
        match self.snapshotter.writable_keys() {
            Ok(keys) => {
                for key in keys.into_iter().filter(|k| !known.contains(k)) {
                    tracing::info!(key = %key, "removing a writable layer no container owns");
                    if let Err(e) = self.snapshotter.remove_writable(&key) {
                        tracing::warn!(key = %key, error = %e, "removing an orphaned writable layer");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "listing writable layers"),
        }
    }
}
