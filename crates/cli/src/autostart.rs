//! Starting a daemon on demand, so `berth images` works on a fresh machine without a service
//! manager.
//!
//! Only when the user did not choose a host (`-H`/`BERTH_HOST`): an explicit host means someone
//! else manages that daemon, and starting one behind their back would hide their mistake. The
//! daemon is this same binary (`berth daemon`), detached into its own process group so a
//! Ctrl-C in the terminal does not reach it, with its output appended to `<root>/daemon.log`.

use anyhow::{Context as _, Result, bail};
use berth_client::Client;
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a fresh daemon may take to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// After our daemon exits early, how long to keep trying: another CLI may have won the race to
/// start one (the root is locked, so ours gave up) and its daemon is about to answer.
const GRACE_AFTER_EXIT: Duration = Duration::from_secs(3);
/// Polling interval.
const POLL: Duration = Duration::from_millis(50);

/// Where to connect and what to start if nothing answers.
#[derive(Debug, Clone)]
pub struct Target {
    /// `unix:///path/to.sock`.
    pub host: String,
    /// True when the user chose the host; then no daemon is started.
    pub explicit: bool,
    /// State root for a started daemon.
    pub root: PathBuf,
}

impl Target {
    /// The client for this target, starting a daemon first when allowed and needed.
    pub async fn connect(&self) -> Result<Client> {
        let client = Client::new(&self.host)?;
        if self.explicit {
            return Ok(client);
        }
        match client.ping().await {
            Err(e) if e.is_connect() => {
                let child = spawn_daemon(&self.root, &self.host)?;
                if wait_ready(&client, child, &self.root).await? {
                    eprintln!("{}", started_line(&self.root, &self.host));
                }
                Ok(client)
            }
            // Any other answer means a daemon is there; the command reports its own errors.
            _ => Ok(client),
        }
    }
}

/// The log file of an auto-started daemon.
pub fn log_path(root: &Path) -> PathBuf {
    root.join("daemon.log")
}

/// The command line of the daemon to start: `berth daemon --root R --host H`.
pub fn daemon_args(root: &Path, host: &str) -> Vec<std::ffi::OsString> {
    vec![
        "daemon".into(),
        "--root".into(),
        root.into(),
        "--host".into(),
        host.into(),
    ]
}

fn spawn_daemon(root: &Path, host: &str) -> Result<Child> {
    std::fs::create_dir_all(root)
        .with_context(|| format!("cannot start the Berth daemon: creating {}", root.display()))?;
    let log = log_path(root);
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .with_context(|| format!("cannot start the Berth daemon: opening {}", log.display()))?;
    let err = out.try_clone()?;
    let exe = std::env::current_exe().context("cannot start the Berth daemon: locating berth")?;
    Command::new(exe)
        .args(daemon_args(root, host))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .context("cannot start the Berth daemon")
}

/// The one line on stderr saying a daemon was started behind the user's command: which root it
/// owns and where its log is, so the next question ("where did that come from?") has an answer.
pub fn started_line(root: &Path, host: &str) -> String {
    format!(
        "berth: started a daemon for {} on {host} (log: {})",
        root.display(),
        log_path(root).display()
    )
}

/// Waits until a daemon answers; true when it is the one we started (another CLI may have won
/// the race, then ours exited and says nothing).
async fn wait_ready(client: &Client, mut child: Child, root: &Path) -> Result<bool> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut exited: Option<(Instant, std::process::ExitStatus)> = None;
    loop {
        if client.ping().await.is_ok() {
            return Ok(exited.is_none() && child.try_wait()?.is_none());
        }
        if exited.is_none()
            && let Some(status) = child.try_wait()?
        {
            exited = Some((Instant::now(), status));
        }
        let now = Instant::now();
        if let Some((at, status)) = exited
            && now >= at + GRACE_AFTER_EXIT
        {
            bail!(
                "the Berth daemon exited ({status}) before it was ready; see {}:\n{}",
                log_path(root).display(),
                log_tail(&log_path(root), 10)
            );
        }
        if now >= deadline {
            bail!(
                "the Berth daemon did not answer on {} within {}s; see {}",
                client.host(),
                READY_TIMEOUT.as_secs(),
                log_path(root).display()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The last `n` lines of a log, for error messages.
fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_command_line() {
        let args = daemon_args(Path::new("/tmp/r"), "unix:///tmp/r/b.sock");
        assert_eq!(
            args,
            [
                "daemon",
                "--root",
                "/tmp/r",
                "--host",
                "unix:///tmp/r/b.sock"
            ]
        );
    }

    #[test]
    fn tail_keeps_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("daemon.log");
        std::fs::write(&p, "a\nb\nc\n").unwrap();
        assert_eq!(log_tail(&p, 2), "b\nc");
    }

    #[tokio::test]
    async fn explicit_hosts_never_start_a_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let t = Target {
            host: format!("unix://{}/none.sock", dir.path().display()),
            explicit: true,
            root: dir.path().join("root"),
        };
        let client = t.connect().await.unwrap();
        assert!(client.ping().await.unwrap_err().is_connect());
        assert!(!dir.path().join("root").exists());
    }
}
