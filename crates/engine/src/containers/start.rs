//! `docker start`: mounting the root file system, launching the shim and handing it the spec,
//! with the restart back-off and the start errors as Docker words them.

use super::record::{ContainerRecord, Status};
use super::stop::libc_sigkill;
use super::store::Entry;
use super::{Containers, Result, log_path, log_settings};
use crate::EngineError;
use berth_shim_proto::ShimClient;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

impl Containers {
    /// `docker start`. Starting a running container is a [`EngineError::NotModified`].
    pub fn start(self: &Arc<Self>, key: &str) -> Result<()> {
        let entry = self.settled(key)?;
        let _op = entry.op_lock();
        match entry.read(|r| r.state.status) {
            Status::Running | Status::Paused => {
                return Err(EngineError::NotModified("container already started".into()));
            }
            Status::Removing | Status::Dead => {
                return Err(EngineError::Conflict(format!(
                    "container {} is marked for removal and cannot be started",
                    entry.id
                )));
            }
            _ => {}
        }
        entry.update(|r| {
            r.state.manually_stopped = false;
            r.state.restart_count = 0;
        })?;
        self.lock_backoff().remove(&entry.id);
        let started = self.start_locked(&entry);
        drop(_op);
        if started.is_err() && entry.read(|r| r.host_config.auto_remove) {
            // As Docker: a `--rm` container that cannot start is removed at once.
            let _ = self.remove(&entry.id, true, true);
        }
        started
    }

    pub(super) fn lock_backoff(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Duration>> {
        self.backoff.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the container; the caller holds its operation lock.
    pub(super) fn start_locked(self: &Arc<Self>, entry: &Arc<Entry>) -> Result<()> {
        let rec = entry.snapshot();
        let rootfs = entry.dir().join("rootfs");
        let launched = self
            .mount_rootfs(&rec, &rootfs)
            .and_then(|()| self.launch(&rec, &rootfs))
            .and_then(|(client, pid)| {
                // Clients attached before the start see the process's first byte.
                self.pending.connect(&rec.id, &client);
                match client.start() {
                    Ok(()) => Ok((client, pid)),
                    Err(e) => {
                        let _ = client.kill(libc_sigkill(), true);
                        let _ = client.shutdown();
                        Err(EngineError::start_failed(e.to_string(), e.errno()))
                    }
                }
            });
        let (client, shim_pid) = match launched {
            Ok(ok) => ok,
            Err(e) => {
                let _ = self.unmount_rootfs(&rootfs);
                self.ports.unpublish(&rec.id, self.net.store());
                self.net.teardown(&rec.id);
                let message = e.to_string();
                self.pending.fail(&rec.id, &message);
                let code = start_error_exit_code(&e);
                entry.update(|r| {
                    r.state.error = message.clone();
                    r.state.exit_code = code;
                    if r.state.has_been_started {
                        r.state.status = Status::Exited;
                    }
                })?;
                return Err(e);
            }
        };
        let shim_state = client.state().ok();
        let rec = entry.update(|r| {
            r.state.status = Status::Running;
            r.state.pid = shim_state.as_ref().map_or(0, |s| i64::from(s.pid));
            r.state.shim_pid = shim_pid;
            r.state.started_at = shim_state
                .as_ref()
                .and_then(|s| s.started_at.clone())
                .unwrap_or_else(berth_shim_proto::timefmt::now);
            r.state.error.clear();
            r.state.exit_code = 0;
            r.state.oom_killed = false;
            r.state.has_been_started = true;
            r.state.ports = self
                .published
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&r.id)
                .unwrap_or_default();
            r.copy_up.clear();
            r.clone()
        })?;
        self.event("start", &rec, &[]);
        self.spawn_monitor(entry.clone(), client, Instant::now());
        self.spawn_health(entry.clone());
        Ok(())
    }

    /// Everything between a mounted root file system and a running process.
    pub(super) fn launch(&self, rec: &ContainerRecord, rootfs: &Path) -> Result<(ShimClient, u32)> {
        for m in rec.mounts.iter().filter(|m| m.kind == "volume") {
            self.volumes.mount(&m.name)?;
        }
        super::mounts::copy_up(rootfs, &rec.copy_up)?;
        let dir = self.store.dir_of(&rec.id);
        let hostname = if rec.config.hostname.is_empty() {
            rec.id[..12].to_string()
        } else {
            rec.config.hostname.clone()
        };
        let host_resolv =
            std::fs::read_to_string(&self.settings.host_resolv_conf).unwrap_or_default();
        let (netns, ip, nameserver) = match super::netsetup::mode(&rec.host_config.network_mode) {
            super::netsetup::Mode::Container(other) => {
                let pid = self
                    .store
                    .get(&other)?
                    .read(|r| r.state.status.is_running().then_some(r.state.pid));
                let pid = pid.ok_or_else(|| {
                    EngineError::Conflict(format!(
                        "cannot join network of a non running container: {other}"
                    ))
                })?;
                (
                    Some(PathBuf::from(format!("/proc/{pid}/ns/net"))),
                    None,
                    None,
                )
            }
            _ => match self.net.setup(rec)? {
                Some(a) => (Some(a.netns), a.ip, a.nameserver),
                None => (None, None, None),
            },
        };
        self.sync_network_rules();
        if let Some(ip) = ip {
            let mut published = self.ports.allocate(rec)?;
            if !published.is_empty() {
                published = self
                    .ports
                    .publish(&rec.id, ip, published, self.net.store())?;
            }
            self.published
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(rec.id.clone(), published);
        }
        // Legacy `--link`: the linked containers' names in /etc/hosts and Docker's variables.
        let linked = super::links::resolve(rec, &|name| {
            let e = self.store.get(name).ok()?;
            let target = e.snapshot();
            let ip = self.net.ip_of(&target.id)?;
            target.state.status.is_running().then_some((target, ip))
        })?;
        let mut host_config = rec.host_config.clone();
        host_config.extra_hosts.extend(linked.hosts.iter().cloned());
        super::etc::write(&dir, &hostname, &host_config, &host_resolv, ip, nameserver)?;
        let read = |p: &str| {
            super::mounts::resolve_in_root(rootfs, p).and_then(|f| std::fs::read_to_string(f).ok())
        };
        let with_links;
        let rec = if linked.env.is_empty() {
            rec
        } else {
            let mut r = rec.clone();
            r.config.env.extend(linked.env.iter().cloned());
            with_links = r;
            &with_links
        };
        let spec = self.spec_for(rec, rootfs, read("/etc/passwd"), read("/etc/group"), netns)?;
        let config = dir.join("config.json");
        berth_storage::atomic::write_json(&config, &spec)?;
        let log = log_settings(&rec.host_config)?;
        let (client, pid) = self.shims.launch(
            &rec.id,
            &dir,
            &log_path(&dir, &rec.id),
            &log,
            rec.config.open_stdin,
        )?;
        Ok((client, pid))
    }

    pub(super) fn mount_rootfs(&self, rec: &ContainerRecord, target: &Path) -> Result<()> {
        if self.snapshotter.is_mounted(target) {
            return Ok(());
        }
        std::fs::create_dir_all(target).map_err(|e| EngineError::io(target, e))?;
        let m = self
            .snapshotter
            .prepare(&rec.id, self.parent_of(rec)?.as_ref())?;
        self.snapshotter.mount(&m, target)?;
        Ok(())
    }

    pub(super) fn unmount_rootfs(&self, target: &Path) -> Result<()> {
        if self.snapshotter.is_mounted(target) {
            self.snapshotter.unmount(target)?;
        }
        Ok(())
    }
}

/// Docker's exit code for a container whose start failed: 127 for a program or path that does
/// not exist, 126 for one that may not be executed (from the errno the runtime reported), 128
/// for anything else.
fn start_error_exit_code(e: &EngineError) -> i64 {
    match e {
        EngineError::StartFailed { failure, .. } => failure.config_exit_code().unwrap_or(128),
        _ => 128,
    }
}
