//! The command line of `berth shim`, parsed by hand: a dozen flags do not justify pulling a
//! parser into a process whose resident size is counted.

use crate::error::{Result, ShimError};
use std::ffi::OsString;
use std::path::PathBuf;

/// The default `--log-max-size`: Docker's json-file is unbounded, Berth bounds it.
pub const DEFAULT_LOG_MAX_SIZE: u64 = 10 * 1024 * 1024;
/// The default `--log-max-files`.
pub const DEFAULT_LOG_MAX_FILES: u32 = 3;

/// Where container output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogDriver {
    /// Docker's json-file format, rotated.
    JsonFile,
    /// Discarded (attach still sees it).
    None,
}

/// Everything the shim is told at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The container id (also the runtime's id).
    pub id: String,
    /// The OCI bundle: `config.json` and the prepared rootfs.
    pub bundle: PathBuf,
    /// The shim's directory: socket, pid file, `exit.json`.
    pub state_dir: PathBuf,
    /// The runtime's state root.
    pub runtime_root: PathBuf,
    /// The json-file log (default `<state-dir>/container.log`).
    pub log_path: PathBuf,
    /// The log driver.
    pub log_driver: LogDriver,
    /// Rotate the log when it reaches this many bytes (0: never).
    pub log_max_size: u64,
    /// How many log files to keep in all, the live one included.
    pub log_max_files: u32,
    /// Keep a stdin pipe open for attach.
    pub stdin: bool,
}

/// `berth shim --help`: the daemon is the only intended caller, but a person debugging a
/// container should not have to read the source to learn the flags.
pub const USAGE: &str = "\
Usage: berth shim --id ID --bundle DIR --state-dir DIR [OPTIONS]

Supervises one container: creates it with the built-in runtime, holds its stdio or pty, writes
its logs and exit status, and serves a control socket at STATE-DIR/shim.sock.

Options:
  --id ID                 container id
  --bundle DIR            OCI bundle (config.json and a mounted rootfs)
  --state-dir DIR         where shim.sock, shim.pid and exit.json live
  --runtime-root DIR      runtime state root
  --log-path FILE         json-file log [default: STATE-DIR/container.log]
  --log-driver DRIVER     json-file or none [default: json-file]
  --log-max-size BYTES    rotate the log at this size [default: 10 MB]
  --log-max-files N       log files kept in all [default: 3]
  --stdin                 keep the container's stdin open for attach
  -h, --help              print this help
";

/// Parses the arguments after `shim` (`--flag value` or `--flag=value`).
pub fn parse(args: Vec<OsString>) -> Result<Config> {
    let mut id = None;
    let mut bundle = None;
    let mut state_dir = None;
    let mut runtime_root = None;
    let mut log_path = None;
    let mut log_driver = LogDriver::JsonFile;
    let mut log_max_size = DEFAULT_LOG_MAX_SIZE;
    let mut log_max_files = DEFAULT_LOG_MAX_FILES;
    let mut stdin = false;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let arg = arg
            .into_string()
            .map_err(|a| ShimError::Usage(format!("argument {a:?} is not UTF-8")))?;
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg, None),
        };
        if flag == "--stdin" {
            stdin = true;
            continue;
        }
        let mut value = || -> Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it
                    .next()
                    .and_then(|v| v.into_string().ok())
                    .ok_or_else(|| ShimError::Usage(format!("{flag} needs a value"))),
            }
        };
        match flag.as_str() {
            "--id" => id = Some(value()?),
            "--bundle" => bundle = Some(PathBuf::from(value()?)),
            "--state-dir" => state_dir = Some(PathBuf::from(value()?)),
            "--runtime-root" => runtime_root = Some(PathBuf::from(value()?)),
            "--log-path" => log_path = Some(PathBuf::from(value()?)),
            "--log-driver" => {
                log_driver = match value()?.as_str() {
                    "json-file" => LogDriver::JsonFile,
                    "none" => LogDriver::None,
                    other => {
                        return Err(ShimError::Usage(format!(
                            "unsupported log driver {other:?} (json-file or none)"
                        )));
                    }
                }
            }
            "--log-max-size" => {
                let v = value()?;
                log_max_size = v.parse().map_err(|_| {
                    ShimError::Usage(format!("--log-max-size {v:?}: not a byte count"))
                })?;
            }
            "--log-max-files" => {
                let v = value()?;
                log_max_files = v.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    ShimError::Usage(format!("--log-max-files {v:?}: not a count >= 1"))
                })?;
            }
            other => return Err(ShimError::Usage(format!("unknown flag {other}"))),
        }
    }
    fn need<T>(v: Option<T>, name: &str) -> Result<T> {
        v.ok_or_else(|| ShimError::Usage(format!("{name} is required")))
    }
    let id: String = need(id, "--id")?;
    berth_runtime::state::validate_id(&id)?;
    let state_dir: PathBuf = need(state_dir, "--state-dir")?;
    Ok(Config {
        id,
        bundle: need(bundle, "--bundle")?,
        runtime_root: need(runtime_root, "--runtime-root")?,
        log_path: log_path.unwrap_or_else(|| state_dir.join("container.log")),
        state_dir,
        log_driver,
        log_max_size,
        log_max_files,
        stdin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_flags_and_defaults() {
        let c = parse(args(&[
            "--id",
            "c1",
            "--bundle",
            "/b",
            "--state-dir=/s",
            "--runtime-root",
            "/r",
            "--stdin",
        ]))
        .unwrap();
        assert_eq!(c.id, "c1");
        assert_eq!(c.log_path, PathBuf::from("/s/container.log"));
        assert_eq!(c.log_max_size, DEFAULT_LOG_MAX_SIZE);
        assert_eq!(c.log_max_files, 3);
        assert_eq!(c.log_driver, LogDriver::JsonFile);
        assert!(c.stdin);
        let c = parse(args(&[
            "--id=c1",
            "--bundle=/b",
            "--state-dir=/s",
            "--runtime-root=/r",
            "--log-driver=none",
            "--log-max-size=100",
            "--log-max-files=1",
            "--log-path=/l",
        ]))
        .unwrap();
        assert_eq!(
            (c.log_driver, c.log_max_size, c.log_max_files),
            (LogDriver::None, 100, 1)
        );
        assert_eq!(c.log_path, PathBuf::from("/l"));
    }

    #[test]
    fn rejects_bad_flags() {
        for bad in [
            &["--id", "c1"][..],
            &["--bogus"],
            &[
                "--id",
                "../x",
                "--bundle=/b",
                "--state-dir=/s",
                "--runtime-root=/r",
            ],
            &["--log-driver", "syslog"],
            &["--log-max-files", "0"],
        ] {
            assert!(parse(args(bad)).is_err(), "{bad:?}");
        }
    }
}
