//! Running the packet-filter tools (`nft`, `iptables`, `iptables-restore`): where they live and
//! how a script is fed to one and its answer or complaint read back.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

/// `/usr/sbin/NAME` or `/sbin/NAME` when present (a daemon's `PATH` often lacks the sbin
/// directories), else `NAME` for `PATH` to find.
pub(crate) fn sbin(name: &str) -> String {
    ["/usr/sbin", "/sbin"]
        .iter()
        .map(|d| format!("{d}/{name}"))
        .find(|p| Path::new(p).exists())
        .unwrap_or_else(|| name.to_string())
}

/// Whether `program --version` succeeds (needs no privilege).
pub(crate) fn answers(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `program ARGS` with `stdin` fed to it when given. `Ok(Ok(stdout))` on success,
/// `Ok(Err(complaint))` when it failed (its stderr, which points at the offending line of a
/// script, or its exit status), `Err` when it could not be run at all.
pub(crate) fn run(
    program: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> std::io::Result<Result<String, String>> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A write error (the tool exited early) shows up as its own status and stderr below.
        let _ = pipe.write_all(text.as_bytes());
    }
    let out = child.wait_with_output()?;
    if out.status.success() {
        return Ok(Ok(String::from_utf8_lossy(&out.stdout).into_owned()));
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim_end().to_string();
    Ok(Err(if stderr.is_empty() {
        format!("exited with {}", out.status)
    } else {
        stderr
    }))
}
