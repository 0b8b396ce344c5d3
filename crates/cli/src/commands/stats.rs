//! `stats`: one sample per container with `--no-stream`, otherwise a table redrawn twice a
//! second (clearing the screen on a terminal, as Docker does) from one streaming request per
//! container.

use crate::args::StatsArgs;
use crate::autostart::Target;
use crate::format::containers::{STATS_DEFAULT_FORMAT, STATS_HEADERS, stats_row, truncate_id};
use crate::format::{table, template};
use crate::output;
use anyhow::Result;
use berth_api_types::container::ContainerStats;
use berth_client::ListOptions;
use futures_util::StreamExt;
use std::sync::{Arc, Mutex};

/// The last sample of one container, and whether it is running.
#[derive(Debug, Clone, Default)]
struct Entry {
    label: String,
    stats: ContainerStats,
    running: bool,
    gone: bool,
}

/// A sample of a container that is not running carries Go's zero time.
fn sample_running(s: &ContainerStats) -> bool {
    !s.read.is_empty() && !s.read.starts_with("0001-01-01")
}

/// Renders the table (or template lines) for the current samples.
fn render(entries: &[Entry], format: Option<&str>, trunc: bool) -> Result<String> {
    let fmt = match format {
        Some(f) if !f.is_empty() => table::Format::parse(f, STATS_DEFAULT_FORMAT),
        _ => table::Format::parse(STATS_DEFAULT_FORMAT, STATS_DEFAULT_FORMAT),
    };
    let rows = entries
        .iter()
        // Nothing to show before the first sample (streams take a moment to start).
        .filter(|e| !(e.gone || (e.running && e.stats.id.is_empty())))
        .map(|e| template::to_value(&stats_row(&e.label, &e.stats, trunc, e.running)))
        .collect::<Result<Vec<_>>>()?;
    table::render(&fmt, &rows, STATS_HEADERS)
}

/// `stats`.
pub async fn run(target: &Target, args: StatsArgs) -> Result<()> {
    let client = target.connect().await?;
    let trunc = !args.no_trunc;
    let mut names: Vec<(String, bool)> = Vec::new();
    if args.containers.is_empty() {
        let list = client
            .containers_list(&ListOptions {
                all: args.all,
                ..Default::default()
            })
            .await?;
        for c in list {
            names.push((truncate_id(&c.id), c.state == "running"));
        }
    } else {
        for n in &args.containers {
            // Unknown containers fail the command up front, as in Docker.
            let c = client.container_inspect(n, false).await?;
            names.push((n.clone(), c.state.running));
        }
    }
    let entries: Arc<Mutex<Vec<Entry>>> = Arc::new(Mutex::new(
        names
            .iter()
            .map(|(n, running)| Entry {
                label: n.clone(),
                running: *running,
                ..Default::default()
            })
            .collect(),
    ));
    if args.no_stream {
        let results = futures_util::future::join_all(names.iter().map(|(n, _)| {
            let client = client.clone();
            async move {
                let mut s = client.container_stats(n, false, false).await?;
                match s.next().await {
                    Some(r) => r.map(Some),
                    None => Ok(None),
                }
            }
        }))
        .await;
        let mut list = entries
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .clone();
        for (e, r) in list.iter_mut().zip(results) {
            match r {
                Ok(Some(s)) => {
                    e.running = e.running && sample_running(&s);
                    e.stats = s;
                }
                Ok(None) => e.gone = true,
                Err(err) => {
                    eprintln!("{err}");
                    e.gone = true;
                }
            }
        }
        output::print(&render(&list, args.format.as_deref(), trunc)?)?;
        return Ok(());
    }
    for (i, (name, _)) in names.iter().enumerate() {
        let client = client.clone();
        let entries = entries.clone();
        let name = name.clone();
        tokio::spawn(async move {
            let Ok(mut s) = client.container_stats(&name, true, false).await else {
                if let Ok(mut l) = entries.lock() {
                    l[i].gone = true;
                }
                return;
            };
            while let Some(Ok(sample)) = s.next().await {
                if let Ok(mut l) = entries.lock() {
                    l[i].running = sample_running(&sample);
                    l[i].stats = sample;
                }
            }
            if let Ok(mut l) = entries.lock() {
                l[i].running = false;
            }
        });
    }
    let tty = output::stdout_is_tty();
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tick.tick().await;
        let list = entries
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .clone();
        let text = render(&list, args.format.as_deref(), trunc)?;
        if tty {
            output::print(&format!("\x1b[2J\x1b[H{text}"))?;
        } else {
            output::print(&text)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_running_and_stopped() {
        let running = Entry {
            label: "web".into(),
            stats: serde_json::from_str(
                r#"{"id":"0123456789abcdef","name":"/web","read":"2024-01-01T00:00:00Z","pids_stats":{"current":2}}"#,
            )
            .unwrap(),
            running: true,
            gone: false,
        };
        assert!(sample_running(&running.stats));
        let stopped = Entry {
            label: "job".into(),
            stats: serde_json::from_str(
                r#"{"id":"fedcba9876543210","name":"/job","read":"0001-01-01T00:00:00Z"}"#,
            )
            .unwrap(),
            running: false,
            gone: false,
        };
        assert!(!sample_running(&stopped.stats));
        let out = render(&[running, stopped], None, true).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[0].starts_with("CONTAINER ID   NAME      CPU %"),
            "{out}"
        );
        assert!(
            lines[1].starts_with("0123456789ab   web       0.00%"),
            "{out}"
        );
        assert!(lines[2].contains("-- / --"), "{out}");
        let out = render(&[], Some("{{.Name}}"), true).unwrap();
        assert_eq!(out, "");
    }
}
