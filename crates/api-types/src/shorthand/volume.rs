//! `-v` / `HostConfig.Binds`: `name:/path[:opts]`, `/host:/path[:opts]`, or anonymous `/path`.
//!
//! Binds travel to the daemon in this string form, so the engine parses them here too; the
//! result is the same [`Mount`] a `--mount` flag gives, plus the mode string `inspect` shows.

use super::ShorthandError;
use crate::container::{BindOptions, Mount, VolumeOptions};

/// A parsed `-v` value.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeSpec {
    /// The mount: `kind` is `bind` (absolute source), `volume` (named, or anonymous when
    /// `source` is empty).
    pub mount: Mount,
    /// The options as written (`ro,z`), shown as `Mode` by inspect.
    pub mode: String,
}

const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

/// Parses one `-v` value the way Docker's Linux mount parser does.
pub fn parse_volume(raw: &str) -> Result<VolumeSpec, ShorthandError> {
    let invalid = || ShorthandError::new(format!("invalid volume specification: '{raw}'"));
    let parts: Vec<&str> = raw.splitn(4, ':').collect();
    if parts[0].is_empty() {
        return Err(invalid());
    }
    let (source, target, mode) = match parts.as_slice() {
        [target] => ("", *target, ""),
        // `/foo:rw` is a destination with a mode and no source: not valid.
        [_, second] if valid_mode(second) => return Err(invalid()),
        [source, target] => (*source, *target, ""),
        [source, target, mode] => (*source, *target, *mode),
        _ => return Err(invalid()),
    };
    if !valid_mode(mode) {
        return Err(ShorthandError::new(format!("invalid mode: {mode}")));
    }
    let kind = if source.starts_with('/') {
        "bind"
    } else {
        "volume"
    };
    let opts: Vec<&str> = mode.split(',').filter(|o| !o.is_empty()).collect();
    let mut mount = Mount {
        kind: kind.to_string(),
        source: source.to_string(),
        target: target.to_string(),
        read_only: opts.contains(&"ro"),
        ..Default::default()
    };
    if opts.contains(&"nocopy") {
        mount.volume_options = Some(VolumeOptions {
            no_copy: true,
            ..Default::default()
        });
    }
    if let Some(p) = opts.iter().find(|o| PROPAGATIONS.contains(o)) {
        mount.bind_options = Some(BindOptions {
            propagation: (*p).to_string(),
            ..Default::default()
        });
    }
    validate_target(kind, target)?;
    if kind == "volume" {
        if mount.bind_options.is_some() {
            return Err(ShorthandError::new(format!(
                "invalid mount config for type \"volume\": field BindOptions must not be \
                 specified: '{raw}'"
            )));
        }
        if !source.is_empty() {
            validate_volume_name(source)?;
        }
    }
    Ok(VolumeSpec {
        mount,
        mode: mode.to_string(),
    })
}

/// Checks a mount destination: absolute and not `/`.
pub(crate) fn validate_target(kind: &str, target: &str) -> Result<(), ShorthandError> {
    if !target.starts_with('/') {
        return Err(ShorthandError::new(format!(
            "invalid mount config for type \"{kind}\": invalid mount path: '{target}' mount path \
             must be absolute"
        )));
    }
    if target.trim_end_matches('/').is_empty() {
        return Err(ShorthandError::new(
            "invalid specification: destination can't be '/'",
        ));
    }
    Ok(())
}

/// Checks a local volume name: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, with Docker's error (which also
/// hints at the usual mistake, a relative host path).
pub fn validate_volume_name(name: &str) -> Result<(), ShorthandError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest: Vec<char> = chars.collect();
    let rest_ok = !rest.is_empty()
        && rest
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok {
        return Ok(());
    }
    Err(ShorthandError::new(format!(
        "create {name}: \"{name}\" includes invalid characters for a local volume name, only \
         \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, \
         use absolute path"
    )))
}

/// A mode string is a comma list with at most one each of: `rw|ro`, `z|Z`, a propagation,
/// `nocopy`, a consistency (`consistent|cached|delegated`). Empty is valid.
fn valid_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return true;
    }
    let groups: [&[&str]; 5] = [
        &["rw", "ro"],
        &["z", "Z"],
        PROPAGATIONS,
        &["nocopy"],
        &["consistent", "cached", "delegated"],
    ];
    let mut counts = [0usize; 5];
    for opt in mode.split(',') {
        match groups.iter().position(|g| g.contains(&opt)) {
            Some(i) => counts[i] += 1,
            None => return false,
        }
    }
    counts.iter().all(|&c| c <= 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> (String, String, String, bool, String) {
        let v = parse_volume(raw).unwrap();
        (
            v.mount.kind,
            v.mount.source,
            v.mount.target,
            v.mount.read_only,
            v.mode,
        )
    }

    #[test]
    fn volume_spec_table() {
        let s = String::from;
        let cases = [
            ("/data", (s("volume"), s(""), s("/data"), false, s(""))),
            (
                "data:/data",
                (s("volume"), s("data"), s("/data"), false, s("")),
            ),
            (
                "data:/data:ro",
                (s("volume"), s("data"), s("/data"), true, s("ro")),
            ),
            ("/src:/dst", (s("bind"), s("/src"), s("/dst"), false, s(""))),
            (
                "/src:/dst:ro,Z",
                (s("bind"), s("/src"), s("/dst"), true, s("ro,Z")),
            ),
            (
                "/src:/dst:rw,rshared",
                (s("bind"), s("/src"), s("/dst"), false, s("rw,rshared")),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input), want, "{input}");
        }
        let v = parse_volume("/src:/dst:rslave").unwrap();
        assert_eq!(v.mount.bind_options.unwrap().propagation, "rslave");
        let v = parse_volume("data:/dst:nocopy").unwrap();
        assert!(v.mount.volume_options.unwrap().no_copy);
    }

    #[test]
    fn volume_spec_errors() {
        let cases = [
            ("a:b:c:d", "invalid volume specification: 'a:b:c:d'"),
            ("", "invalid volume specification: ''"),
            (":/x", "invalid volume specification: ':/x'"),
            ("/foo:rw", "invalid volume specification: '/foo:rw'"),
            ("/a:/b:rw,ro", "invalid mode: rw,ro"),
            ("/a:/b:bogus", "invalid mode: bogus"),
            (
                "data:rel",
                "invalid mount path: 'rel' mount path must be absolute",
            ),
            ("/a:/", "destination can't be '/'"),
            ("data:/x:rshared", "field BindOptions must not be specified"),
            (
                "./rel:/x",
                "includes invalid characters for a local volume name",
            ),
            (
                "a:/x",
                "includes invalid characters for a local volume name",
            ),
        ];
        for (input, want) in cases {
            let e = parse_volume(input).unwrap_err().to_string();
            assert!(e.contains(want), "{input}: {e}");
        }
    }

    #[test]
    fn volume_names() {
        for ok in ["data", "my_vol.1", "a-b", "0x"] {
            assert!(validate_volume_name(ok).is_ok(), "{ok}");
        }
        for bad in ["a", "_x", "x/y", "", "x y"] {
            assert!(validate_volume_name(bad).is_err(), "{bad}");
        }
    }
}
