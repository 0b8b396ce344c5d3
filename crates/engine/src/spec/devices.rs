//! Devices: Docker's default device cgroup rules, `--device-cgroup-rule`, and `--device`
//! nodes with the rules that let the container use them.
//!
//! The rules are what stops root in a container from `mknod`-ing a node for a host disk and
//! reading it: the runtime enforces them in the container's cgroup (v1 `devices` files or a
//! cgroup2 device program). `--device` adds a node to the container's `/dev` and an allow rule
//! for exactly that device; nothing else widens the list except `--privileged`.

use super::SpecError;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType};

/// A host device to create in the container, as the engine found it on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDevice {
    /// Where the node goes in the container.
    pub path_in_container: String,
    /// Block (`true`) or character device.
    pub block: bool,
    /// Major number.
    pub major: i64,
    /// Minor number.
    pub minor: i64,
    /// Permission bits of the host's node.
    pub file_mode: u32,
    /// Owner of the host's node.
    pub uid: u32,
    /// Group of the host's node.
    pub gid: u32,
    /// The cgroup access the mapping grants (`rwm` by default).
    pub permissions: String,
}

fn rule(
    allow: bool,
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(allow);
    r.set_typ(Some(typ));
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.to_string()));
    r
}

/// Parses a `--device-cgroup-rule` the way Docker validates it: `TYPE MAJOR:MINOR ACCESS`
/// with `a`, `b` or `c`, numbers or `*`, and one to three of `r`, `w`, `m`.
pub fn parse_cgroup_rule(text: &str) -> Result<LinuxDeviceCgroup, SpecError> {
    let bad = || SpecError::Devices(format!("invalid device cgroup format '{text}'"));
    let parts: Vec<&str> = text.split(' ').collect();
    let [typ, numbers, access] = parts.as_slice() else {
        return Err(bad());
    };
    let typ = match *typ {
        "a" => LinuxDeviceType::A,
        "b" => LinuxDeviceType::B,
        "c" => LinuxDeviceType::C,
        _ => return Err(bad()),
    };
    let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
    let number = |s: &str| match s {
        "*" => Ok(None),
        s if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<i64>().map(Some).map_err(|_| bad())
        }
        _ => Err(bad()),
    };
    let access_ok = (1..=3).contains(&access.len()) && access.chars().all(|c| "rwm".contains(c));
    if !access_ok {
        return Err(bad());
    }
    Ok(rule(true, typ, number(major)?, number(minor)?, access))
}

/// The container's device cgroup rules: Docker's defaults (deny everything, then allow
/// `mknod` of any node and use of null, zero, full, random, urandom, tty, console, ptmx, the
/// ptys and tun), the user's `--device-cgroup-rule`s, and one rule per `--device`.
/// Privileged containers get every device.
pub fn device_rules(
    privileged: bool,
    custom: &[String],
    devices: &[HostDevice],
) -> Result<Vec<LinuxDeviceCgroup>, SpecError> {
    if privileged {
        return Ok(vec![rule(true, LinuxDeviceType::A, None, None, "rwm")]);
    }
    let c = LinuxDeviceType::C;
    let mut rules = vec![
        rule(false, LinuxDeviceType::A, None, None, "rwm"),
        rule(true, c, None, None, "m"),
        rule(true, LinuxDeviceType::B, None, None, "m"),
        rule(true, c, Some(1), Some(3), "rwm"),
        rule(true, c, Some(1), Some(5), "rwm"),
        rule(true, c, Some(1), Some(7), "rwm"),
        rule(true, c, Some(1), Some(8), "rwm"),
        rule(true, c, Some(1), Some(9), "rwm"),
        rule(true, c, Some(5), Some(0), "rwm"),
        rule(true, c, Some(5), Some(1), "rwm"),
        rule(true, c, Some(5), Some(2), "rwm"),
        rule(true, c, Some(136), None, "rwm"),
        rule(true, c, Some(10), Some(200), "rwm"),
    ];
    for text in custom {
        rules.push(parse_cgroup_rule(text)?);
    }
    for d in devices {
        let typ = if d.block {
            LinuxDeviceType::B
        } else {
            LinuxDeviceType::C
        };
        rules.push(rule(
            true,
            typ,
            Some(d.major),
            Some(d.minor),
            &d.permissions,
        ));
    }
    Ok(rules)
}

/// The nodes `--device` asks for, as `linux.devices` entries.
pub fn linux_devices(devices: &[HostDevice]) -> Vec<LinuxDevice> {
    devices
        .iter()
        .map(|d| {
            let mut out = LinuxDevice::default();
            out.set_path(d.path_in_container.clone().into());
            out.set_typ(if d.block {
                LinuxDeviceType::B
            } else {
                LinuxDeviceType::C
            });
            out.set_major(d.major);
            out.set_minor(d.minor);
            out.set_file_mode(Some(d.file_mode & 0o7777));
            out.set_uid(Some(d.uid));
            out.set_gid(Some(d.gid));
            out
        })
        .collect()
}

/// Checks a `--device` mapping's permissions (`r`, `w`, `m`; empty is `rwm`).
pub fn check_permissions(permissions: &str) -> Result<String, SpecError> {
    if permissions.is_empty() {
        return Ok("rwm".to_string());
    }
    let ok = permissions.len() <= 3
        && permissions.chars().all(|c| "rwm".contains(c))
        && permissions
            .chars()
            .enumerate()
            .all(|(i, c)| !permissions[..i].contains(c));
    if ok {
        Ok(permissions.to_string())
    } else {
        Err(SpecError::Devices(format!(
            "invalid device mode: {permissions}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_deny_first() {
        let rules = device_rules(false, &[], &[]).unwrap();
        assert!(!rules[0].allow());
        assert_eq!(rules[0].typ(), Some(LinuxDeviceType::A));
        assert_eq!(rules.len(), 13);
        let privileged = device_rules(true, &["c 1:1 r".into()], &[]).unwrap();
        assert_eq!(privileged.len(), 1);
        assert!(privileged[0].allow());
    }

    #[test]
    fn custom_rules_follow_docker_syntax() {
        let r = parse_cgroup_rule("c 13:* rwm").unwrap();
        assert_eq!((r.major(), r.minor()), (Some(13), None));
        assert_eq!(r.access().as_deref(), Some("rwm"));
        let r = parse_cgroup_rule("b *:* m").unwrap();
        assert_eq!(r.typ(), Some(LinuxDeviceType::B));
        for bad in [
            "c 1:3",
            "x 1:3 r",
            "c 1-3 r",
            "c 1:3 rwmx",
            "c  1:3 r",
            "c a:3 r",
            "",
        ] {
            let e = parse_cgroup_rule(bad).unwrap_err().to_string();
            assert!(e.contains("invalid device cgroup format"), "{bad:?}: {e}");
        }
        let rules = device_rules(false, &["c 42:1 r".into()], &[]).unwrap();
        assert_eq!(rules.last().unwrap().major(), Some(42));
    }

    #[test]
    fn a_device_gets_a_node_and_exactly_its_rule() {
        let d = HostDevice {
            path_in_container: "/dev/xvdc".into(),
            block: true,
            major: 7,
            minor: 3,
            file_mode: 0o60660,
            uid: 0,
            gid: 6,
            permissions: "rw".into(),
        };
        let rules = device_rules(false, &[], std::slice::from_ref(&d)).unwrap();
        let last = rules.last().unwrap();
        assert_eq!(
            (
                last.typ(),
                last.major(),
                last.minor(),
                last.access().as_deref()
            ),
            (Some(LinuxDeviceType::B), Some(7), Some(3), Some("rw"))
        );
        let nodes = linux_devices(&[d]);
        assert_eq!(nodes[0].path().to_str(), Some("/dev/xvdc"));
        assert_eq!(nodes[0].file_mode(), Some(0o660));
        assert_eq!(nodes[0].gid(), Some(6));
    }

    #[test]
    fn permissions_are_checked() {
        assert_eq!(check_permissions("").unwrap(), "rwm");
        assert_eq!(check_permissions("mr").unwrap(), "mr");
        assert!(check_permissions("rr").is_err());
        assert!(check_permissions("rwx").is_err());
    }
}
