//! Health checks (`HEALTHCHECK`, `--health-*`): a probe run in the container through its shim
//! every interval, its result kept in the record (`State.Health`, shown by `ps` and `inspect`)
//! and announced as a `health_status` event when the status changes.
//!
//! Each probe is a timer in the daemon's supervisor, and each run of a probe a short job: no
//! thread waits between probes. The chain ends when the run it was started for ends (the
//! container's `StartedAt` changes or it stops running).

use super::Containers;
use super::record::Status;
use super::store::Entry;
use berth_api_types::container::{Health, HealthConfig, HealthcheckResult};
use berth_shim_proto::ExecRequest;
use berth_shim_proto::stdcopy;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Docker's defaults.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: i64 = 3;
/// Results kept in `State.Health.Log`.
const LOG_LEN: usize = 5;
/// Output kept per result.
const MAX_OUTPUT: usize = 4096;

/// A check with defaults applied, or `None` when the container has none (or `NONE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The command as OCI args.
    pub args: Vec<String>,
    /// Time between probes.
    pub interval: Duration,
    /// Time after which a probe counts as failed.
    pub timeout: Duration,
    /// Time during which failures do not count.
    pub start_period: Duration,
    /// Time between probes during the start period.
    pub start_interval: Duration,
    /// Consecutive failures that make the container unhealthy.
    pub retries: i64,
}

fn dur(ns: i64, default: Duration) -> Duration {
    if ns > 0 {
        Duration::from_nanos(ns as u64)
    } else {
        default
    }
}

/// Turns a `HealthConfig` into a probe.
pub fn probe(cfg: Option<&HealthConfig>) -> Option<Probe> {
    let cfg = cfg?;
    let args = match cfg.test.first().map(String::as_str) {
        Some("CMD") => cfg.test[1..].to_vec(),
        Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), cfg.test[1..].join(" ")],
        _ => return None,
    };
    if args.is_empty() {
        return None;
    }
    Some(Probe {
        args,
        interval: dur(cfg.interval, DEFAULT_INTERVAL),
        timeout: dur(cfg.timeout, DEFAULT_TIMEOUT),
        start_period: dur(cfg.start_period, Duration::ZERO),
        start_interval: dur(cfg.start_interval, DEFAULT_START_INTERVAL),
        retries: if cfg.retries > 0 {
            cfg.retries
        } else {
            DEFAULT_RETRIES
        },
    })
}

/// Applies one result to the health state (Docker's rules): success resets the streak and
/// makes the container healthy; a failure inside the start period changes nothing unless
/// the container was already healthy; otherwise `retries` consecutive failures make it
/// unhealthy.
pub fn apply(health: &mut Health, result: HealthcheckResult, in_start_period: bool, retries: i64) {
    let ok = result.exit_code == 0;
    health.log.push(result);
    if health.log.len() > LOG_LEN {
        let extra = health.log.len() - LOG_LEN;
        health.log.drain(..extra);
    }
    if ok {
        health.failing_streak = 0;
        health.status = "healthy".into();
    } else if !in_start_period || health.status == "healthy" {
        health.failing_streak += 1;
        if health.failing_streak >= retries {
            health.status = "unhealthy".into();
        }
    }
}

impl Containers {
    /// Starts the health-check thread of a container that just started, if it has a check.
    pub(super) fn spawn_health(self: &Arc<Self>, entry: Arc<Entry>) {
        let rec = entry.snapshot();
        let Some(probe) = probe(rec.config.healthcheck.as_ref()) else {
            return;
        };
        let _ = entry.update(|r| {
            r.state.health = Some(Health {
                status: "starting".into(),
                failing_streak: 0,
                log: Vec::new(),
            });
        });
        let run = rec.state.started_at.clone();
        self.schedule_probe(entry, Arc::new(probe), run, Instant::now());
    }

    /// Runs the next probe of the run that started at `run` when its interval has passed (a
    /// timer in the supervisor: no thread waits between probes). The chain ends when that run
    /// ends; a paused container skips probes.
    fn schedule_probe(
        self: &Arc<Self>,
        entry: Arc<Entry>,
        probe: Arc<Probe>,
        run: String,
        started: Instant,
    ) {
        let wait = if started.elapsed() < probe.start_period {
            probe.start_interval
        } else {
            probe.interval
        };
        let this = self.clone();
        self.supervisor.after(wait, move || {
            let (same_run, status) = entry.read(|r| (r.state.started_at == run, r.state.status));
            if entry.is_removed() || !same_run || !status.is_running() {
                return;
            }
            if status == Status::Running {
                this.probe_once(&entry, &probe, started);
            }
            this.schedule_probe(entry, probe, run, started);
        });
    }

    fn probe_once(&self, entry: &Entry, probe: &Probe, started: Instant) {
        let result = self.run_probe(&entry.id, probe);
        let in_start = started.elapsed() < probe.start_period;
        let changed = entry.update(|r| {
            let health = r.state.health.get_or_insert_with(Health::default);
            let before = health.status.clone();
            apply(health, result, in_start, probe.retries);
            let after = health.status.clone();
            (before != after).then(|| (after, r.clone()))
        });
        if let Ok(Some((status, rec))) = changed {
            self.event(&format!("health_status: {status}"), &rec, &[]);
        }
    }

    /// Runs the probe once through the shim and collects its output and exit code.
    fn run_probe(&self, id: &str, probe: &Probe) -> HealthcheckResult {
        let start = berth_shim_proto::timefmt::now();
        let fail = |msg: String| HealthcheckResult {
            start: start.clone(),
            end: berth_shim_proto::timefmt::now(),
            exit_code: -1,
            output: msg,
        };
        let spec_path = self.store.dir_of(id).join("config.json");
        let spec: serde_json::Value = match berth_storage::atomic::read_json(&spec_path) {
            Ok(Some(s)) => s,
            _ => return fail("the container has no spec".into()),
        };
        let mut process = spec["process"].clone();
        process["args"] = serde_json::json!(probe.args);
        process["terminal"] = serde_json::json!(false);
        let exec_id = berth_common::id::random_id();
        let client = self.shims.client(id);
        let mut stream = match client.exec(&ExecRequest {
            exec_id: exec_id.clone(),
            process,
            tty: false,
            stdin: false,
            stdcopy: true,
        }) {
            Ok(s) => s,
            Err(e) => return fail(format!("starting the health check: {e}")),
        };
        let _ = stream.set_read_timeout(Some(probe.timeout));
        let deadline = Instant::now() + probe.timeout;
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        let mut timed_out = false;
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if raw.len() < MAX_OUTPUT * 2 + 64 {
                        raw.extend_from_slice(&buf[..n]);
                    }
                }
                Err(_) => {
                    timed_out = Instant::now() >= deadline;
                    break;
                }
            }
            if Instant::now() >= deadline {
                timed_out = true;
                break;
            }
        }
        if timed_out {
            return fail(format!(
                "Health check exceeded timeout ({:?})",
                probe.timeout
            ));
        }
        let mut output = String::new();
        if let Ok(frames) = stdcopy::decode_all(&raw) {
            for (_, data) in frames {
                output.push_str(&String::from_utf8_lossy(&data));
            }
        }
        output.truncate(MAX_OUTPUT);
        let code = client.exec_wait(&exec_id).map_or(-1, i64::from);
        HealthcheckResult {
            start,
            end: berth_shim_proto::timefmt::now(),
            exit_code: code,
            output,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(code: i64) -> HealthcheckResult {
        HealthcheckResult {
            exit_code: code,
            ..Default::default()
        }
    }

    #[test]
    fn probes_from_config() {
        assert_eq!(probe(None), None);
        let none = HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        };
        assert_eq!(probe(Some(&none)), None);
        let shell = HealthConfig {
            test: vec!["CMD-SHELL".into(), "test -f /ok".into()],
            interval: 1_000_000_000,
            ..Default::default()
        };
        let p = probe(Some(&shell)).unwrap();
        assert_eq!(p.args, ["/bin/sh", "-c", "test -f /ok"]);
        assert_eq!(p.interval, Duration::from_secs(1));
        assert_eq!(p.timeout, DEFAULT_TIMEOUT);
        assert_eq!(p.retries, 3);
    }

    #[test]
    fn status_follows_docker_rules() {
        let mut h = Health {
            status: "starting".into(),
            ..Default::default()
        };
        apply(&mut h, result(1), true, 2);
        assert_eq!((h.status.as_str(), h.failing_streak), ("starting", 0));
        apply(&mut h, result(0), true, 2);
        assert_eq!(h.status, "healthy");
        apply(&mut h, result(1), false, 2);
        assert_eq!((h.status.as_str(), h.failing_streak), ("healthy", 1));
        apply(&mut h, result(1), false, 2);
        assert_eq!(h.status, "unhealthy");
        for _ in 0..10 {
            apply(&mut h, result(1), false, 2);
        }
        assert_eq!(h.log.len(), LOG_LEN);
    }
}
