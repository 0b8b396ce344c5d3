//! `--mount type=bind,source=/a,target=/b,readonly,...`: the CSV syntax of the docker CLI.
//!
//! Relative sources (`./dir`) are made absolute by the caller (the CLI knows its working
//! directory; this module does no I/O).

use super::ShorthandError;
use super::csv::split_record;
use super::size::parse_ram_bytes;
use super::volume::validate_target;
use crate::container::{
    BindOptions, DriverConfig, ImageOptions, Mount, TmpfsOptions, VolumeOptions,
};

/// Parses one `--mount` value into a [`Mount`]. `type` defaults to `volume`; `target` is
/// required; options of another type's family (`volume-*` on a bind) are errors.
pub fn parse_mount(value: &str) -> Result<Mount, ShorthandError> {
    let mut mount = Mount {
        kind: "volume".to_string(),
        ..Default::default()
    };
    let mut bind: Option<BindOptions> = None;
    let mut volume: Option<VolumeOptions> = None;
    let mut image: Option<ImageOptions> = None;
    let mut tmpfs: Option<TmpfsOptions> = None;
    let invalid_value =
        |key: &str, val: &str| ShorthandError::new(format!("invalid value for {key}: {val}"));
    for field in split_record(value)? {
        let Some((key, val)) = field.split_once('=') else {
            match field.to_ascii_lowercase().as_str() {
                "readonly" | "ro" => mount.read_only = true,
                "volume-nocopy" => volume.get_or_insert_with(Default::default).no_copy = true,
                "bind-nonrecursive" => {
                    bind.get_or_insert_with(Default::default).non_recursive = true
                }
                _ => {
                    return Err(ShorthandError::new(format!(
                        "invalid field '{field}' must be a key=value pair"
                    )));
                }
            }
            continue;
        };
        let key = key.to_ascii_lowercase();
        match key.as_str() {
            "type" => mount.kind = val.to_ascii_lowercase(),
            "source" | "src" => mount.source = val.to_string(),
            "target" | "dst" | "destination" => mount.target = val.to_string(),
            "readonly" | "ro" => {
                mount.read_only = parse_bool(val).ok_or_else(|| invalid_value(&key, val))?
            }
            "consistency" => mount.consistency = val.to_ascii_lowercase(),
            "bind-propagation" => {
                bind.get_or_insert_with(Default::default).propagation = val.to_ascii_lowercase()
            }
            "bind-nonrecursive" => {
                bind.get_or_insert_with(Default::default).non_recursive =
                    parse_bool(val).ok_or_else(|| invalid_value(&key, val))?
            }
            "bind-recursive" => {
                let b = bind.get_or_insert_with(Default::default);
                match val {
                    "enabled" => {}
                    "disabled" => b.non_recursive = true,
                    "writable" => b.read_only_non_recursive = true,
                    "readonly" => b.read_only_force_recursive = true,
                    _ => {
                        return Err(ShorthandError::new(format!(
                            "invalid value for {key}: {val} (must be \"enabled\", \"disabled\", \
                             \"writable\", or \"readonly\")"
                        )));
                    }
                }
            }
            "bind-create-mountpoint" => {
                bind.get_or_insert_with(Default::default).create_mountpoint =
                    parse_bool(val).ok_or_else(|| invalid_value(&key, val))?
            }
            "volume-subpath" => volume.get_or_insert_with(Default::default).subpath = val.into(),
            "volume-nocopy" => {
                volume.get_or_insert_with(Default::default).no_copy =
                    parse_bool(val).ok_or_else(|| invalid_value(&key, val))?
            }
            "volume-label" => {
                let (k, v) = val.split_once('=').unwrap_or((val, ""));
                volume
                    .get_or_insert_with(Default::default)
                    .labels
                    .insert(k.to_string(), v.to_string());
            }
            "volume-driver" => {
                let v = volume.get_or_insert_with(Default::default);
                v.driver_config
                    .get_or_insert_with(DriverConfig::default)
                    .name = val.to_string();
            }
            "volume-opt" => {
                let (k, v) = val.split_once('=').unwrap_or((val, ""));
                let vo = volume.get_or_insert_with(Default::default);
                vo.driver_config
                    .get_or_insert_with(DriverConfig::default)
                    .options
                    .insert(k.to_string(), v.to_string());
            }
            "image-subpath" => image.get_or_insert_with(Default::default).subpath = val.into(),
            "tmpfs-size" => {
                tmpfs.get_or_insert_with(Default::default).size_bytes =
                    parse_ram_bytes(val).map_err(|_| invalid_value(&key, val))?
            }
            "tmpfs-mode" => {
                tmpfs.get_or_insert_with(Default::default).mode =
                    u32::from_str_radix(val, 8).map_err(|_| invalid_value(&key, val))?
            }
            _ => {
                return Err(ShorthandError::new(format!(
                    "unexpected key '{key}' in '{field}'"
                )));
            }
        }
    }
    if mount.kind.is_empty() {
        return Err(ShorthandError::new("type is required"));
    }
    if mount.target.is_empty() {
        return Err(ShorthandError::new("target is required"));
    }
    let mix = |family: &str| {
        ShorthandError::new(format!(
            "cannot mix '{family}-*' options with mount type '{}'",
            mount.kind
        ))
    };
    if volume.is_some() && mount.kind != "volume" {
        return Err(mix("volume"));
    }
    if image.is_some() && mount.kind != "image" {
        return Err(mix("image"));
    }
    if bind.is_some() && mount.kind != "bind" {
        return Err(mix("bind"));
    }
    if tmpfs.is_some() && mount.kind != "tmpfs" {
        return Err(mix("tmpfs"));
    }
    if let Some(b) = &bind
        && !b.propagation.is_empty()
        && ![
            "private", "rprivate", "shared", "rshared", "slave", "rslave",
        ]
        .contains(&b.propagation.as_str())
    {
        return Err(ShorthandError::new(format!(
            "invalid propagation mode: {}",
            b.propagation
        )));
    }
    match mount.kind.as_str() {
        "bind" | "volume" | "tmpfs" | "image" | "npipe" | "cluster" => {}
        other => {
            return Err(ShorthandError::new(format!(
                "invalid mount type: {other:?}"
            )));
        }
    }
    if mount.kind == "tmpfs" && !mount.source.is_empty() {
        return Err(ShorthandError::new(
            "invalid mount config for type \"tmpfs\": field Source must not be specified",
        ));
    }
    if mount.kind == "bind" && mount.source.is_empty() {
        return Err(ShorthandError::new(
            "invalid mount config for type \"bind\": field Source must not be empty",
        ));
    }
    validate_target(&mount.kind, &mount.target)?;
    mount.bind_options = bind;
    mount.volume_options = volume;
    mount.image_options = image;
    mount.tmpfs_options = tmpfs;
    Ok(mount)
}

use crate::go::parse_bool;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_table() {
        let m = parse_mount("type=bind,source=/a,target=/b,readonly").unwrap();
        assert_eq!(
            (m.kind.as_str(), m.source.as_str(), m.target.as_str()),
            ("bind", "/a", "/b")
        );
        assert!(m.read_only);
        assert!(m.bind_options.is_none());

        let m = parse_mount("src=data,dst=/data,volume-nocopy,volume-label=a=b").unwrap();
        assert_eq!(m.kind, "volume");
        let vo = m.volume_options.unwrap();
        assert!(vo.no_copy);
        assert_eq!(vo.labels["a"], "b");

        let m = parse_mount("type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1777").unwrap();
        let t = m.tmpfs_options.unwrap();
        assert_eq!((t.size_bytes, t.mode), (64 << 20, 0o1777));

        let m = parse_mount("type=bind,src=/a,dst=/b,bind-propagation=rshared,ro=false").unwrap();
        assert!(!m.read_only);
        assert_eq!(m.bind_options.unwrap().propagation, "rshared");

        let m = parse_mount(r#"type=volume,dst=/x,"volume-opt=o=addr=1,nolock""#).unwrap();
        let dc = m.volume_options.unwrap().driver_config.unwrap();
        assert_eq!(dc.options["o"], "addr=1,nolock");

        let m = parse_mount("type=bind,src=/a,dst=/b,bind-recursive=readonly").unwrap();
        assert!(m.bind_options.unwrap().read_only_force_recursive);
    }

    #[test]
    fn mount_errors() {
        let cases = [
            ("type=bind,src=/a", "target is required"),
            (
                "type=bind,src=/a,dst=/b,bogus",
                "invalid field 'bogus' must be a key=value pair",
            ),
            (
                "type=bind,src=/a,dst=/b,color=red",
                "unexpected key 'color' in 'color=red'",
            ),
            (
                "type=bind,src=/a,dst=/b,volume-nocopy",
                "cannot mix 'volume-*' options with mount type 'bind'",
            ),
            (
                "type=volume,dst=/b,tmpfs-size=1m",
                "cannot mix 'tmpfs-*' options with mount type 'volume'",
            ),
            (
                "type=tmpfs,dst=/b,tmpfs-size=12q",
                "invalid value for tmpfs-size: 12q",
            ),
            (
                "type=bind,src=/a,dst=/b,ro=maybe",
                "invalid value for ro: maybe",
            ),
            ("type=bind,src=/a,dst=rel", "mount path must be absolute"),
            ("type=bind,dst=/b", "field Source must not be empty"),
            (
                "type=tmpfs,src=x,dst=/b",
                "field Source must not be specified",
            ),
            ("type=weird,dst=/b", "invalid mount type: \"weird\""),
            (
                "type=bind,src=/a,dst=/b,bind-propagation=odd",
                "invalid propagation mode: odd",
            ),
        ];
        for (input, want) in cases {
            let e = parse_mount(input).unwrap_err().to_string();
            assert!(e.contains(want), "{input}: {e}");
        }
    }
}
