//! `--tmpfs /run[:options]` and the mount options a tmpfs finally gets.

use super::ShorthandError;
use super::size::parse_ram_bytes;

/// Splits `--tmpfs /path[:opts]` into the `HostConfig.Tmpfs` entry `(path, opts)`.
pub fn parse_tmpfs(s: &str) -> Result<(String, String), ShorthandError> {
    let (path, opts) = s.split_once(':').unwrap_or((s, ""));
    if !path.starts_with('/') {
        return Err(ShorthandError::new(format!(
            "invalid mount path: '{path}' mount path must be absolute"
        )));
    }
    Ok((path.to_string(), opts.to_string()))
}

/// Flags that come in on/off pairs: a user `exec` replaces the default `noexec` and so on.
const PAIRS: &[(&str, &str)] = &[
    ("exec", "noexec"),
    ("suid", "nosuid"),
    ("dev", "nodev"),
    ("rw", "ro"),
    ("atime", "noatime"),
    ("diratime", "nodiratime"),
    ("strictatime", "nostrictatime"),
    ("relatime", "norelatime"),
];

/// Options the kernel's tmpfs takes as `key=value`.
const DATA_KEYS: &[&str] = &[
    "size",
    "mode",
    "uid",
    "gid",
    "nr_inodes",
    "nr_blocks",
    "mpol",
];

/// Turns a `HostConfig.Tmpfs` option string into mount options: Docker's defaults
/// `noexec,nosuid,nodev` first, each overridden by its opposite from the user, then the user's
/// options; `size=64m` becomes bytes so the runtime needs no unit parser. Unknown options are
/// errors (Docker: `unknown option`), so typos do not silently pass.
pub fn tmpfs_mount_options(opts: &str) -> Result<Vec<String>, ShorthandError> {
    let user: Vec<&str> = opts.split(',').filter(|o| !o.is_empty()).collect();
    let mut out: Vec<String> = ["noexec", "nosuid", "nodev"]
        .into_iter()
        .filter(|default| {
            !PAIRS
                .iter()
                .any(|(on, off)| off == default && user.contains(on))
        })
        .map(str::to_string)
        .collect();
    for opt in user {
        if let Some((key, value)) = opt.split_once('=') {
            if !DATA_KEYS.contains(&key) {
                return Err(ShorthandError::new(format!("invalid tmpfs option {opt:?}")));
            }
            if key == "size" {
                let bytes = parse_ram_bytes(value)?;
                out.push(format!("size={bytes}"));
                continue;
            }
            out.push(opt.to_string());
        } else if PAIRS.iter().any(|(on, off)| *on == opt || *off == opt)
            || ["sync", "async", "dirsync", "mand", "nomand", "tmpcopyup"].contains(&opt)
        {
            if !out.iter().any(|o| o == opt) {
                out.push(opt.to_string());
            }
        } else {
            return Err(ShorthandError::new(format!("invalid tmpfs option {opt:?}")));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmpfs_flag() {
        assert_eq!(parse_tmpfs("/run").unwrap(), ("/run".into(), String::new()));
        assert_eq!(
            parse_tmpfs("/run:rw,size=64m").unwrap(),
            ("/run".into(), "rw,size=64m".into())
        );
        assert_eq!(
            parse_tmpfs("run").unwrap_err().to_string(),
            "invalid mount path: 'run' mount path must be absolute"
        );
    }

    #[test]
    fn tmpfs_options_merge_defaults() {
        assert_eq!(
            tmpfs_mount_options("").unwrap(),
            vec!["noexec", "nosuid", "nodev"]
        );
        assert_eq!(
            tmpfs_mount_options("exec,size=1m,mode=1777").unwrap(),
            vec!["nosuid", "nodev", "exec", "size=1048576", "mode=1777"]
        );
        assert_eq!(
            tmpfs_mount_options("noexec,ro").unwrap(),
            vec!["noexec", "nosuid", "nodev", "ro"]
        );
        assert!(
            tmpfs_mount_options("size=12q")
                .unwrap_err()
                .to_string()
                .contains("12q")
        );
        assert!(
            tmpfs_mount_options("bogus")
                .unwrap_err()
                .to_string()
                .contains("bogus")
        );
        assert!(tmpfs_mount_options("foo=1").is_err());
    }
}
