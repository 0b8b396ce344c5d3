//! The smaller container operations: pause, rename, resize, attach, logs, top, stats, update,
//! prune.

use super::Containers;
use super::record::Status;
use super::stdio::StdioStream;
use crate::EngineError;
use berth_api_types::Filters;
use berth_api_types::container::{
    ContainerPruneResponse, ContainerTopResponse, ContainerUpdateRequest,
};
use berth_shim_proto::AttachRequest;
use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::sync::Mutex;
use tokio::sync::oneshot;

type Result<T> = std::result::Result<T, EngineError>;

/// Docker's stats interval: the gap between the samples of one answer.
pub const STATS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Per-interface counters of the network namespace `pid` is in (its `/proc/PID/net/dev`,
/// loopback left out), in Docker's `networks` shape.
fn network_counters(pid: i64) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/dev")) else {
        return out;
    };
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let n: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        if n.len() < 16 {
            continue;
        }
        out.insert(
            name.to_string(),
            serde_json::json!({
                "rx_bytes": n[0], "rx_packets": n[1], "rx_errors": n[2], "rx_dropped": n[3],
                "tx_bytes": n[8], "tx_packets": n[9], "tx_errors": n[10], "tx_dropped": n[11],
            }),
        );
    }
    out
}

/// Clients attached to a container that is not running yet (`docker run` attaches before it
/// starts): connected to the shim after it created the container and before the process runs,
/// so they see all of its output.
#[derive(Default)]
pub struct PendingAttaches {
    inner: Mutex<HashMap<String, Vec<Waiting>>>,
}

/// One client waiting for a container to start: what it asked for and where to send the
/// stream.
type Waiting = (AttachRequest, oneshot::Sender<Result<UnixStream>>);

impl PendingAttaches {
    fn add(&self, id: &str, req: AttachRequest) -> oneshot::Receiver<Result<UnixStream>> {
        let (tx, rx) = oneshot::channel();
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let waiting = inner.entry(id.to_string()).or_default();
        // Clients that left meanwhile are forgotten, so their number stays bounded.
        waiting.retain(|(_, tx)| !tx.is_closed());
        waiting.push((req, tx));
        rx
    }

    /// Connects every waiting client of `id` to its shim.
    pub fn connect(&self, id: &str, client: &berth_shim_proto::ShimClient) {
        let waiting = self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
            .unwrap_or_default();
        for (req, tx) in waiting.into_iter().filter(|(_, tx)| !tx.is_closed()) {
            let _ = tx.send(client.attach(&req).map_err(EngineError::from));
        }
    }

    /// Fails every waiting client of `id` with the start error.
    pub fn fail(&self, id: &str, message: &str) {
        let waiting = self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
            .unwrap_or_default();
        for (_, tx) in waiting {
            let _ = tx.send(Err(EngineError::start_failed(message, None)));
        }
    }

    /// Fails every waiting client of `id` (the container was removed).
    pub fn cancel(&self, id: &str) {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}

/// An attach: connected now (a running container), or at the container's start.
pub struct Attachment(Attaching);

enum Attaching {
    /// The shim's stream.
    Ready(UnixStream),
    /// Arrives when the container starts (`docker run` attaches before it starts).
    AtStart {
        /// The container, for the error when it is removed first.
        key: String,
        /// Where the stream comes.
        stream: oneshot::Receiver<Result<UnixStream>>,
    },
}

impl Attachment {
    /// The stream, once there is one. Waiting for a start holds no thread; a container
    /// removed first gives `No such container`, and one whose start failed an empty stream
    /// (the start request reports why).
    pub async fn stream(self) -> Result<StdioStream> {
        let socket = match self.0 {
            Attaching::Ready(s) => s,
            Attaching::AtStart { key, stream } => match stream.await {
                Ok(Err(EngineError::StartFailed { .. })) => {
                    return StdioStream::ended().map_err(|e| EngineError::io("socketpair", e));
                }
                Ok(r) => r?,
                Err(_) => return Err(EngineError::NoSuchContainer(key)),
            },
        };
        StdioStream::from_std(socket).map_err(|e| EngineError::io("attach socket", e))
    }
}

/// What an attach asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttachOptions {
    /// Forward the client's input to the container's stdin (if it keeps stdin open).
    pub stdin: bool,
    /// The container's stdout.
    pub stdout: bool,
    /// The container's stderr.
    pub stderr: bool,
    /// Replay what was logged first (`logs=1`).
    pub logs: bool,
    /// Stay attached to the live streams (`stream=1`); otherwise end after the replay.
    pub stream: bool,
}

/// A made attach: how its bytes are framed, what was logged before it, and the live stream.
pub struct Attach {
    /// Whether the container has a TTY: the stream is raw, not stdcopy-framed.
    pub tty: bool,
    /// The log so far (`logs=1`), sent before the live stream.
    pub logged: Vec<super::logs::LogLine>,
    /// The live stream (`stream=1`), once the container runs.
    pub live: Option<Attachment>,
}

impl Containers {
    /// `docker pause`.
    pub fn pause(&self, key: &str) -> Result<()> {
        let entry = self.store.get(key)?;
        let _op = entry.op_lock();
        match entry.read(|r| r.state.status) {
            Status::Running => {}
            Status::Paused => {
                return Err(EngineError::Conflict(format!(
                    "Container {} is already paused",
                    entry.id
                )));
            }
            _ => {
                return Err(EngineError::NotRunning(entry.id.clone()));
            }
        }
        self.shims.client(&entry.id).pause()?;
        let rec = entry.update(|r| {
            r.state.status = Status::Paused;
            r.clone()
        })?;
        self.event("pause", &rec, &[]);
        Ok(())
    }

    /// `docker unpause`.
    pub fn unpause(&self, key: &str) -> Result<()> {
        let entry = self.store.get(key)?;
        let _op = entry.op_lock();
        if entry.read(|r| r.state.status) != Status::Paused {
            return Err(EngineError::Conflict(format!(
                "Container {} is not paused",
                entry.id
            )));
        }
        self.shims.client(&entry.id).resume()?;
        let rec = entry.update(|r| {
            r.state.status = Status::Running;
            r.clone()
        })?;
        self.event("unpause", &rec, &[]);
        Ok(())
    }

    /// `docker rename`.
    pub fn rename(&self, key: &str, new_name: &str) -> Result<()> {
        let entry = self.store.get(key)?;
        let name = super::validate_name(new_name)?;
        let old = entry.read(|r| r.name.clone());
        if old == name {
            return Err(EngineError::InvalidArgument(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        self.store.rename(&entry, &name)?;
        self.event(
            "rename",
            &entry.snapshot(),
            &[("oldName", format!("/{old}"))],
        );
        Ok(())
    }

    /// `DELETE /containers/{id}/{alias}?link=1` (`docker rm --link /web/db`): drops the
    /// legacy link `alias` from the container; its hosts entry and variables go at the next
    /// start, as with Docker.
    pub fn remove_link(&self, key: &str, alias: &str) -> Result<()> {
        let entry = self.store.get(key)?;
        let _op = entry.op_lock();
        let has = entry.read(|r| {
            r.host_config
                .links
                .iter()
                .any(|l| super::links::alias_of(l) == alias)
        });
        if !has {
            return Err(EngineError::NotFound(format!(
                "Could not find link {alias} of container {key}"
            )));
        }
        entry.try_update(|r| {
            r.host_config
                .links
                .retain(|l| super::links::alias_of(l) != alias)
        })?;
        Ok(())
    }

    /// `POST /containers/{id}/resize`.
    pub fn resize(&self, key: &str, height: u16, width: u16) -> Result<()> {
        let entry = self.store.get(key)?;
        if !entry.read(|r| r.state.status.is_running()) {
            return Err(EngineError::NotRunning(entry.id.clone()));
        }
        self.shims.client(&entry.id).resize(height, width, None)?;
        Ok(())
    }

    /// `POST /containers/{id}/attach`: the log so far (`logs=1`) and a stream of the
    /// container's output and input (`stream=1`). A container that is not running yet is
    /// attached when it starts (see [`Attachment`]), so `docker run` sees all its output.
    pub fn attach(&self, key: &str, opts: AttachOptions) -> Result<Attach> {
        let entry = self.store.get(key)?;
        let rec = entry.snapshot();
        let logged = if opts.logs {
            self.logged_lines(key, opts.stdout, opts.stderr)?
        } else {
            Vec::new()
        };
        let live = if opts.stream {
            let req = AttachRequest {
                stdin: opts.stdin && rec.config.open_stdin,
                stdout: opts.stdout,
                stderr: opts.stderr,
                stdcopy: !rec.config.tty,
                stdin_once: rec.config.stdin_once,
            };
            Some(self.attachment(&entry, key, req)?)
        } else {
            None
        };
        Ok(Attach {
            tty: rec.config.tty,
            logged,
            live,
        })
    }

    fn attachment(
        &self,
        entry: &super::store::Entry,
        key: &str,
        req: AttachRequest,
    ) -> Result<Attachment> {
        if entry.read(|r| r.state.status.is_running()) {
            let socket = self.shims.client(&entry.id).attach(&req)?;
            return Ok(Attachment(Attaching::Ready(socket)));
        }
        let stream = self.pending.add(&entry.id, req);
        if entry.is_removed() {
            // Removed between the lookup and the registration: nobody will connect it.
            self.pending.cancel(&entry.id);
        }
        Ok(Attachment(Attaching::AtStart {
            key: key.to_string(),
            stream,
        }))
    }

    /// `docker top`: the container's processes, found by their cgroup.
    pub fn top(&self, key: &str, ps_args: &str) -> Result<ContainerTopResponse> {
        let entry = self.store.get(key)?;
        if !entry.read(|r| r.state.status.is_running()) {
            return Err(EngineError::NotRunning(entry.id.clone()));
        }
        let marker = format!("/{}", entry.id);
        let proc_dir = std::fs::read_dir("/proc").map_err(|e| EngineError::io("/proc", e))?;
        let mut pids: Vec<u32> = proc_dir
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .filter(|pid: &u32| {
                std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
                    .is_ok_and(|cg| cg.lines().any(|l| l.ends_with(&marker)))
            })
            .collect();
        pids.sort_unstable();
        if !ps_args.trim().is_empty() {
            return ps_with_args(ps_args, &pids);
        }
        Ok(ContainerTopResponse {
            titles: ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            processes: pids.into_iter().filter_map(ps_row).collect(),
        })
    }

    /// `GET /containers/{id}/stats` (one sample), in Docker's JSON shape.
    pub fn stats(&self, key: &str) -> Result<serde_json::Value> {
        let entry = self.store.get(key)?;
        let rec = entry.snapshot();
        let now = berth_shim_proto::timefmt::now();
        let running = rec.state.status.is_running();
        let s = if running {
            self.shims.client(&rec.id).stats().unwrap_or_default()
        } else {
            Default::default()
        };
        let online_cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let host_mem = host_memory();
        let limit = s.memory_limit.filter(|l| *l < host_mem).unwrap_or(host_mem);
        Ok(serde_json::json!({
            "read": now,
            "preread": "0001-01-01T00:00:00Z",
            "name": format!("/{}", rec.name),
            "id": rec.id,
            "pids_stats": { "current": s.pids_current.unwrap_or(0) },
            "num_procs": 0,
            "cpu_stats": {
                "cpu_usage": {
                    "total_usage": s.cpu_usage_ns.unwrap_or(0),
                    "usage_in_kernelmode": 0,
                    "usage_in_usermode": 0,
                },
                "system_cpu_usage": if running { system_cpu_ns() } else { 0 },
                "online_cpus": online_cpus,
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
            },
            "precpu_stats": {
                "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
            },
            "memory_stats": if running { serde_json::json!({
                "usage": s.memory_usage.unwrap_or(0),
                "max_usage": s.memory_max_usage.unwrap_or(0),
                "limit": limit,
                "stats": {
                    "inactive_file": s.memory_inactive_file.unwrap_or(0),
                    "total_inactive_file": s.memory_inactive_file.unwrap_or(0),
                },
            }) } else { serde_json::json!({}) },
            "blkio_stats": {},
            "storage_stats": {},
        }))
        .map(|mut v| {
            let nets = if running {
                network_counters(rec.state.pid)
            } else {
                serde_json::Map::new()
            };
            if !nets.is_empty() {
                v["networks"] = serde_json::Value::Object(nets);
            }
            v
        })
    }

    /// `GET /containers/{id}/stats?stream=false`: as Docker, two samples a second apart, so
    /// `precpu_stats` is filled and a CPU percentage can be computed from one answer;
    /// `one_shot` answers the first sample alone.
    pub async fn stats_once(
        self: &std::sync::Arc<Self>,
        key: &str,
        one_shot: bool,
    ) -> Result<serde_json::Value> {
        let sample =
            |this: std::sync::Arc<Self>, key: String| super::blocking(move || this.stats(&key));
        let first = sample(self.clone(), key.to_string()).await?;
        let running = self.store.get(key)?.read(|r| r.state.status.is_running());
        if one_shot || !running {
            return Ok(first);
        }
        tokio::time::sleep(STATS_INTERVAL).await;
        let mut second = sample(self.clone(), key.to_string()).await?;
        second["precpu_stats"] = first["cpu_stats"].clone();
        second["preread"] = first["read"].clone();
        Ok(second)
    }

    /// `GET /containers/{id}/stats` streaming: a sample now and one a second after, each with
    /// the one before as `precpu_stats`. The sampler sleeps without a thread and reads each
    /// sample on a blocking one; a reader that goes away closes the channel and ends it.
    pub async fn stats_stream(
        self: &std::sync::Arc<Self>,
        key: &str,
    ) -> Result<tokio::sync::mpsc::Receiver<serde_json::Value>> {
        let sample =
            |this: std::sync::Arc<Self>, key: String| super::blocking(move || this.stats(&key));
        let first = sample(self.clone(), key.to_string()).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let (this, key) = (self.clone(), key.to_string());
        tokio::spawn(async move {
            let mut previous = first;
            if tx.send(previous.clone()).await.is_err() {
                return;
            }
            loop {
                tokio::select! {
                    () = tokio::time::sleep(STATS_INTERVAL) => {}
                    () = tx.closed() => return,
                }
                let Ok(mut next) = sample(this.clone(), key.clone()).await else {
                    return;
                };
                next["precpu_stats"] = previous["cpu_stats"].clone();
                next["preread"] = previous["read"].clone();
                if tx.send(next.clone()).await.is_err() {
                    return;
                }
                previous = next;
            }
        });
        Ok(rx)
    }

    /// `docker update`: new limits and restart policy, recorded; limits of a running container
    /// take effect through its shim.
    pub fn update(&self, key: &str, req: &ContainerUpdateRequest) -> Result<Vec<String>> {
        let entry = self.store.get(key)?;
        let _op = entry.op_lock();
        let rec = entry.snapshot();
        if let Some(p) = &req.restart_policy {
            super::restart::validate(p, rec.host_config.auto_remove)
                .map_err(EngineError::InvalidArgument)?;
        }
        let mut host = rec.host_config.clone();
        let (memory, old_swap) = (req.resources.memory, host.resources.memory_swap);
        if memory > 0 && req.resources.memory_swap == 0 && old_swap > 0 && memory > old_swap {
            return Err(EngineError::InvalidArgument(
                "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time".into(),
            ));
        }
        merge_resources(&mut host.resources, &req.resources);
        super::check_host_resources(&host.resources)?;
        super::default_memory_swap(&mut host.resources);
        if let Some(p) = &req.restart_policy {
            host.restart_policy = p.clone();
        }
        // Validate the new limits by building them. Device rules are left as the container
        // started with them (`docker update` does not change devices).
        let mut resources = crate::spec::linux_resources(&host.resources, host.privileged, &[])?;
        resources.set_devices(None);
        if rec.state.status.is_running() {
            self.shims
                .client(&rec.id)
                .update(serde_json::to_value(resources).map_err(|source| {
                    EngineError::Encode {
                        what: "the new resources",
                        source,
                    }
                })?)?;
        }
        let rec = entry.update(|r| {
            r.host_config = host;
            r.clone()
        })?;
        self.event("update", &rec, &[]);
        Ok(Vec::new())
    }

    /// `docker container prune`: removes stopped containers (filters `until`, `label`).
    pub fn prune(&self, filters: &Filters) -> Result<ContainerPruneResponse> {
        filters.check_names(&["until", "label", "label!"])?;
        let until = match filters.get("until").first() {
            Some(u) => Some(crate::events::parse_event_time(u)?),
            None => None,
        };
        let mut deleted = Vec::new();
        let mut reclaimed = 0;
        for entry in self.store.all() {
            let rec = entry.snapshot();
            if rec.state.status.is_running() || rec.state.status == Status::Restarting {
                continue;
            }
            if !filters.labels_match("label", &rec.config.labels) {
                continue;
            }
            if let Some(u) = until {
                let created = berth_shim_proto::timefmt::parse_nanos(&rec.created).unwrap_or(0);
                if created >= i128::from(u) {
                    continue;
                }
            }
            reclaimed += super::changes::diff_size(self, &rec.id).unwrap_or(0);
            if self.remove(&rec.id, false, false).is_ok() {
                deleted.push(rec.id.clone());
            }
        }
        Ok(ContainerPruneResponse {
            containers_deleted: Some(deleted),
            space_reclaimed: reclaimed,
        })
    }
}

/// Applies the non-zero fields of an update onto the current resources.
fn merge_resources(
    into: &mut berth_api_types::container::Resources,
    from: &berth_api_types::container::Resources,
) {
    let mut cur = serde_json::to_value(&*into).unwrap_or_default();
    let new = serde_json::to_value(from).unwrap_or_default();
    if let (Some(cur_obj), Some(new_obj)) = (cur.as_object_mut(), new.as_object()) {
        for (k, v) in new_obj {
            let unset = v.is_null()
                || v.as_i64() == Some(0)
                || v.as_str() == Some("")
                || v.as_array().is_some_and(Vec::is_empty);
            if !unset {
                cur_obj.insert(k.clone(), v.clone());
            }
        }
    }
    if let Ok(merged) = serde_json::from_value(cur) {
        *into = merged;
    }
}

/// `docker top CONTAINER ARGS`: the host's `ps` with those arguments, keeping the rows of the
/// container's processes (found by the `PID` column, as Docker does).
fn ps_with_args(args: &str, pids: &[u32]) -> Result<ContainerTopResponse> {
    let out = std::process::Command::new("ps")
        .args(args.split_whitespace())
        .output()
        .map_err(|e| EngineError::io("ps", e))?;
    if !out.status.success() {
        return Err(EngineError::InvalidArgument(format!(
            "ps: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let pid_col = titles.iter().position(|t| t == "PID").ok_or_else(|| {
        EngineError::InvalidArgument("Couldn't find PID field in ps output".into())
    })?;
    let mut processes = Vec::new();
    for line in lines {
        // The last column (a command line) may hold spaces: split the others only.
        let mut fields: Vec<String> = Vec::new();
        let mut rest = line.trim_start();
        while fields.len() + 1 < titles.len() {
            let Some((head, tail)) = rest.split_once(char::is_whitespace) else {
                break;
            };
            fields.push(head.to_string());
            rest = tail.trim_start();
        }
        fields.push(rest.to_string());
        let in_container = fields
            .get(pid_col)
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|p| pids.contains(&p));
        if in_container {
            processes.push(fields);
        }
    }
    Ok(ContainerTopResponse { titles, processes })
}

/// `ps`'s STIME: the start time as `HH:MM` within the last day, `MonDD` before.
fn start_time(start_ticks: u64) -> String {
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse::<i64>().ok())
        })
        .unwrap_or(0);
    let hz = 100; // USER_HZ on Linux
    let started = boot + (start_ticks / hz) as i64;
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(started) else {
        return "-".into();
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if now - started < 24 * 3600 {
        format!("{:02}:{:02}", t.hour(), t.minute())
    } else {
        let month = format!("{}", t.month());
        format!("{}{:02}", &month[..3.min(month.len())], t.day())
    }
}

fn ps_row(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ppid = fields.get(1)?.to_string();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let uid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("0");
    let user = if uid == "0" {
        "root".to_string()
    } else {
        uid.to_string()
    };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmd = cmdline
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let started: u64 = fields.get(19).and_then(|f| f.parse().ok()).unwrap_or(0);
    let secs = (utime + stime) / 100;
    let time = format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    Some(vec![
        user,
        pid.to_string(),
        ppid,
        "0".into(),
        start_time(started),
        "?".into(),
        time,
        cmd,
    ])
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Host CPU time in nanoseconds (`/proc/stat` jiffies at 100 Hz), what Docker reports as
/// `system_cpu_usage`.
fn system_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| {
                l.split_whitespace()
                    .skip(1)
                    .filter_map(|v| v.parse::<u64>().ok())
                    .sum::<u64>()
            })
        })
        .map_or(0, |j| j * 10_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_merges_only_given_fields() {
        let mut cur = berth_api_types::container::Resources {
            memory: 100,
            cpu_shares: 512,
            ..Default::default()
        };
        let new = berth_api_types::container::Resources {
            memory: 200,
            ..Default::default()
        };
        merge_resources(&mut cur, &new);
        assert_eq!(cur.memory, 200);
        assert_eq!(cur.cpu_shares, 512);
    }

    #[test]
    fn own_process_row() {
        let row = ps_row(std::process::id()).unwrap();
        assert_eq!(row.len(), 8);
        assert_eq!(row[1], std::process::id().to_string());
    }
}
