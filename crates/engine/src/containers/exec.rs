//! Exec instances (`docker exec`): created, started once through the container's shim, and
//! remembered with their exit code for a while. Like Docker's, they live in memory only (a
//! daemon restart forgets them; the processes themselves belong to the shim), and an ended one
//! is dropped once its exit code was read ([`INSPECTED_GRACE`] later) or after [`ENDED_GRACE`]
//! (moby's exec GC does the same), so a container running thousands of execs costs neither
//! memory nor record writes.

use super::record::Status;
use super::{Containers, mounts};
use crate::EngineError;
use crate::spec;
use berth_api_types::exec::{ExecConfig, ExecInspect, ExecProcessConfig};
use berth_shim_proto::ExecRequest;
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, EngineError>;

/// How long the API waits for an exec's exit code after its stream ended.
const COLLECT_TIMEOUT: Duration = Duration::from_secs(5);
/// An ended exec whose exit code was inspected is kept this much longer (a client may look
/// twice).
pub const INSPECTED_GRACE: Duration = Duration::from_secs(60);
/// An ended exec nobody inspected is kept this long.
pub const ENDED_GRACE: Duration = Duration::from_secs(300);

/// One exec instance.
#[derive(Debug, Clone)]
pub struct ExecRecord {
    /// Its id.
    pub id: String,
    /// The container's full id.
    pub container_id: String,
    /// As created.
    pub config: ExecConfig,
    /// Started (an exec starts once).
    pub started: bool,
    /// Its process runs.
    pub running: bool,
    /// Exit code once it ended.
    pub exit_code: Option<i64>,
    /// When it ended, and when its exit code was first inspected after that: what pruning
    /// goes by.
    pub ended_at: Option<Instant>,
    /// When it was first inspected after it ended.
    pub inspected_at: Option<Instant>,
}

impl ExecRecord {
    /// Whether the record may go: ended, and inspected a while ago or ended long ago.
    fn expired(&self, now: Instant) -> bool {
        let Some(ended) = self.ended_at else {
            return false;
        };
        match self.inspected_at {
            Some(seen) => now.duration_since(seen) >= INSPECTED_GRACE,
            None => now.duration_since(ended) >= ENDED_GRACE,
        }
    }
}

/// The execs of all containers.
#[derive(Default)]
pub struct ExecTable {
    inner: Mutex<HashMap<String, ExecRecord>>,
    changed: Condvar,
}

impl ExecTable {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, ExecRecord>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, id: &str) -> Result<ExecRecord> {
        self.lock()
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::NoSuchExec(id.to_string()))
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut ExecRecord)) {
        if let Some(r) = self.lock().get_mut(id) {
            f(r);
        }
        self.changed.notify_all();
    }

    /// Drops the execs of a removed container.
    pub fn forget_container(&self, container_id: &str) {
        self.lock().retain(|_, r| r.container_id != container_id);
    }

    /// Drops expired execs (see the module documentation); returns how many are left.
    pub fn prune(&self) -> usize {
        let now = Instant::now();
        let mut t = self.lock();
        t.retain(|_, r| !r.expired(now));
        t.len()
    }

    /// Ids of the container's execs still remembered (`ExecIDs` of inspect).
    pub fn ids_of(&self, container_id: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .lock()
            .values()
            .filter(|r| r.container_id == container_id)
            .map(|r| r.id.clone())
            .collect();
        ids.sort();
        ids
    }
}

/// What [`Containers::exec_start`] hands the API.
pub struct ExecStream {
    /// The process's stdio: output (stdcopy-framed unless `tty`), input when attached.
    pub stream: super::stdio::StdioStream,
    /// Whether the stream is raw (the start request's `Tty`), not stdcopy-framed.
    pub tty: bool,
}

impl Containers {
    /// `POST /containers/{id}/exec`.
    pub fn exec_create(&self, key: &str, config: ExecConfig) -> Result<String> {
        let entry = self.store.get(key)?;
        let rec = entry.snapshot();
        match rec.state.status {
            Status::Running => {}
            Status::Paused => {
                return Err(EngineError::Conflict(format!(
                    "Container {} is paused, unpause the container before exec",
                    rec.id
                )));
            }
            _ => {
                return Err(EngineError::Conflict(format!(
                    "container {} is not running",
                    rec.id
                )));
            }
        }
        if config.cmd.as_ref().is_none_or(Vec::is_empty) {
            return Err(EngineError::InvalidArgument(
                "No exec command specified".into(),
            ));
        }
        let id = berth_common::id::random_id();
        self.execs.prune();
        self.execs.lock().insert(
            id.clone(),
            ExecRecord {
                id: id.clone(),
                container_id: rec.id.clone(),
                config: config.clone(),
                started: false,
                running: false,
                exit_code: None,
                ended_at: None,
                inspected_at: None,
            },
        );
        let cmd = config.cmd.unwrap_or_default().join(" ");
        self.event(
            &format!("exec_create: {cmd}"),
            &rec,
            &[("execID", id.clone())],
        );
        Ok(id)
    }

    /// `POST /exec/{id}/start`: runs the process; with `detach` nothing is streamed.
    /// The process gets a terminal when the exec was created with `Tty`; the stream is raw
    /// or stdcopy-framed by the *start* request's `raw` (Docker's rule: its `Tty` decides).
    pub fn exec_start(
        self: &Arc<Self>,
        exec_id: &str,
        detach: bool,
        raw: bool,
        console_size: Option<[u64; 2]>,
    ) -> Result<Option<ExecStream>> {
        let exec = self.execs.get(exec_id)?;
        if exec.started {
            return Err(EngineError::Conflict(format!(
                "Error: Exec command {exec_id} has already run"
            )));
        }
        let entry = self.store.get(&exec.container_id)?;
        let rec = entry.snapshot();
        if rec.state.status != Status::Running {
            return Err(EngineError::Conflict(format!(
                "container {} is not running",
                rec.id
            )));
        }
        let process = self.exec_process(&rec, &exec.config, console_size)?;
        let tty = exec.config.tty;
        let client = self.shims.client(&rec.id);
        let stream = match client.exec(&ExecRequest {
            exec_id: exec_id.to_string(),
            process,
            tty,
            stdin: exec.config.attach_stdin && !detach,
            stdcopy: !raw,
        }) {
            Ok(s) => s,
            Err(e) => {
                // Docker's codes for a process that could not be run, for exec inspect: from
                // the errno the runtime reported.
                let failure = berth_common::error::RunFailure { errno: e.errno() };
                let code = failure.config_exit_code().unwrap_or(126);
                self.execs.update(exec_id, |r| {
                    r.started = true;
                    r.running = false;
                    r.exit_code = Some(code);
                    r.ended_at = Some(Instant::now());
                });
                return Err(EngineError::StartFailed {
                    message: e.to_string(),
                    failure,
                });
            }
        };
        self.execs.update(exec_id, |r| {
            r.started = true;
            r.running = true;
        });
        let cmd = exec.config.cmd.clone().unwrap_or_default().join(" ");
        self.event(
            &format!("exec_start: {cmd}"),
            &rec,
            &[("execID", exec_id.to_string())],
        );
        let this = self.clone();
        let id = exec_id.to_string();
        let record = move |code: i64| {
            this.execs.update(&id, |r| {
                r.running = false;
                r.exit_code = Some(code);
                r.ended_at = Some(Instant::now());
            });
            if let Ok(e) = this.store.get(&rec.id) {
                this.event(
                    "exec_die",
                    &e.snapshot(),
                    &[("execID", id.clone()), ("exitCode", code.to_string())],
                );
            }
        };
        // The exit code arrives on a pending answer the supervisor watches: no thread waits.
        match client.send_exec_wait(exec_id) {
            Ok(pending) => self.supervisor.on_readable(pending, move |pending| {
                record(pending.exec_exit().map_or(126, i64::from));
            }),
            Err(_) => self.supervisor.spawn(move || record(126)),
        }
        if detach {
            // The shim keeps the process running; its output is discarded.
            drop(stream);
            return Ok(None);
        }
        let stream = super::stdio::StdioStream::from_std(stream)
            .map_err(|e| EngineError::io("exec socket", e))?;
        Ok(Some(ExecStream { stream, tty: raw }))
    }

    /// Waits (briefly) until an exec whose stream has ended has its exit code, so a client
    /// inspecting it right after sees the code, not `Running`.
    pub fn exec_collect(&self, exec_id: &str) {
        let guard = self.execs.lock();
        let _ = self
            .execs
            .changed
            .wait_timeout_while(guard, COLLECT_TIMEOUT, |m| {
                m.get(exec_id).is_some_and(|r| r.running)
            });
    }

    /// `GET /exec/{id}/json`. The first look at an ended exec starts its last grace period.
    pub fn exec_inspect(&self, exec_id: &str) -> Result<ExecInspect> {
        self.execs.update(exec_id, |r| {
            if r.ended_at.is_some() && r.inspected_at.is_none() {
                r.inspected_at = Some(Instant::now());
            }
        });
        let r = self.execs.get(exec_id)?;
        let cmd = r.config.cmd.clone().unwrap_or_default();
        Ok(ExecInspect {
            can_remove: false,
            detach_keys: r.config.detach_keys.clone(),
            id: r.id.clone(),
            running: r.running,
            exit_code: r.exit_code,
            process_config: ExecProcessConfig {
                privileged: r.config.privileged,
                user: r.config.user.clone(),
                tty: r.config.tty,
                entrypoint: cmd.first().cloned().unwrap_or_default(),
                arguments: cmd.iter().skip(1).cloned().collect(),
            },
            open_stdin: r.config.attach_stdin,
            open_stderr: r.config.attach_stderr,
            open_stdout: r.config.attach_stdout,
            container_id: r.container_id.clone(),
            pid: 0,
        })
    }

    /// `POST /exec/{id}/resize`.
    pub fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> Result<()> {
        let r = self.execs.get(exec_id)?;
        self.shims
            .client(&r.container_id)
            .resize(height, width, Some(exec_id))?;
        Ok(())
    }

    /// The exec's OCI process: the container's, with the exec's command, environment,
    /// directory, user and terminal.
    fn exec_process(
        &self,
        rec: &super::record::ContainerRecord,
        config: &ExecConfig,
        console_size: Option<[u64; 2]>,
    ) -> Result<serde_json::Value> {
        let dir = self.store.dir_of(&rec.id);
        let spec_path = dir.join("config.json");
        let spec: serde_json::Value = berth_storage::atomic::read_json(&spec_path)?
            .ok_or_else(|| EngineError::Conflict(format!("container {} has no spec", rec.id)))?;
        let mut process = spec
            .get("process")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({}));
        process["args"] = serde_json::json!(config.cmd.clone().unwrap_or_default());
        process["terminal"] = serde_json::json!(config.tty);
        if let Some([h, w]) = console_size.or(config.console_size)
            && h > 0
            && w > 0
        {
            process["consoleSize"] = serde_json::json!({"height": h, "width": w});
        } else if let Some(obj) = process.as_object_mut() {
            obj.remove("consoleSize");
        }
        let mut env: Vec<String> = process["env"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if config.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
            env.push("TERM=xterm".into());
        }
        for e in &config.env {
            let key = e.split('=').next().unwrap_or(e);
            env.retain(|x| x.split('=').next() != Some(key));
            if e.contains('=') {
                env.push(e.clone());
            }
        }
        process["env"] = serde_json::json!(env);
        if !config.working_dir.is_empty() {
            process["cwd"] = serde_json::json!(config.working_dir);
        }
        if !config.user.is_empty() {
            let rootfs = dir.join("rootfs");
            let read = |p: &str| {
                mounts::resolve_in_root(&rootfs, p).and_then(|f| std::fs::read_to_string(f).ok())
            };
            let user = spec::resolve_user(
                &config.user,
                &[],
                read("/etc/passwd").as_deref(),
                read("/etc/group").as_deref(),
            )?;
            process["user"] = serde_json::json!({
                "uid": user.uid,
                "gid": user.gid,
                "additionalGids": user.additional_gids,
            });
        }
        if config.privileged {
            let all: Vec<String> = spec::all_capabilities()
                .iter()
                .map(|s| s.to_string())
                .collect();
            process["capabilities"] = serde_json::json!({
                "bounding": all, "effective": all, "permitted": all,
            });
        }
        Ok(process)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ended: Option<Duration>, inspected: Option<Duration>) -> ExecRecord {
        let now = Instant::now();
        ExecRecord {
            id: "e".into(),
            container_id: "c".into(),
            config: ExecConfig::default(),
            started: true,
            running: ended.is_none(),
            exit_code: ended.map(|_| 0),
            ended_at: ended.map(|ago| now - ago),
            inspected_at: inspected.map(|ago| now - ago),
        }
    }

    #[test]
    fn ended_execs_expire_after_their_grace() {
        let now = Instant::now();
        let s = Duration::from_secs;
        assert!(!record(None, None).expired(now), "running: kept");
        assert!(!record(Some(s(10)), None).expired(now), "just ended: kept");
        assert!(
            record(Some(ENDED_GRACE + s(1)), None).expired(now),
            "never inspected, long ago"
        );
        assert!(
            !record(Some(s(20)), Some(s(10))).expired(now),
            "inspected a moment ago"
        );
        assert!(record(Some(s(120)), Some(INSPECTED_GRACE + s(1))).expired(now));
    }

    #[test]
    fn pruning_drops_only_expired_execs() {
        let t = ExecTable::default();
        let mut old = record(Some(ENDED_GRACE + Duration::from_secs(5)), None);
        old.id = "old".into();
        let mut fresh = record(Some(Duration::from_secs(1)), None);
        fresh.id = "fresh".into();
        t.lock().insert(old.id.clone(), old);
        t.lock().insert(fresh.id.clone(), fresh);
        assert_eq!(t.prune(), 1);
        assert_eq!(t.ids_of("c"), ["fresh"]);
    }
}
