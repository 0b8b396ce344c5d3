//! `--cap-add`, `--cap-drop` and `--privileged` applied to the default capability set, with
//! the rules of moby's `TweakCapabilities`.

use super::SpecError;

/// Every capability the kernel defines, as the OCI spec names them, sorted (the one table is
/// `berth_profile::caps`).
pub fn all_capabilities() -> Vec<&'static str> {
    berth_profile::caps::all_sorted()
}

/// `net_admin`, `NET_ADMIN`, `cap_net_admin` → `CAP_NET_ADMIN`; `all` → `ALL`.
fn normalize(name: &str) -> Result<String, SpecError> {
    let upper = name.to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if berth_profile::caps::bit(&full).is_some() {
        Ok(full)
    } else {
        Err(SpecError::UnknownCapability(full))
    }
}

/// The capability set of a container: everything when privileged; else `defaults` minus
/// `drop` plus `add`, where `ALL` in `add` starts from every capability and `ALL` in `drop`
/// keeps only `add`. Sorted, so specs are reproducible.
pub fn capabilities(
    defaults: &[String],
    add: &[String],
    drop: &[String],
    privileged: bool,
) -> Result<Vec<String>, SpecError> {
    if privileged {
        return Ok(all_capabilities().iter().map(|s| s.to_string()).collect());
    }
    let add = add
        .iter()
        .map(|c| normalize(c))
        .collect::<Result<Vec<_>, _>>()?;
    let drop = drop
        .iter()
        .map(|c| normalize(c))
        .collect::<Result<Vec<_>, _>>()?;
    let mut caps: Vec<String> = if add.iter().any(|c| c == "ALL") {
        all_capabilities().iter().map(|s| s.to_string()).collect()
    } else if drop.iter().any(|c| c == "ALL") {
        Vec::new()
    } else {
        defaults
            .iter()
            .map(|c| normalize(c))
            .collect::<Result<Vec<_>, _>>()?
    };
    caps.retain(|c| !drop.contains(c));
    for c in add {
        if c != "ALL" && !caps.contains(&c) {
            caps.push(c);
        }
    }
    caps.sort();
    caps.dedup();
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn capability_table() {
        let defaults = s(&["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"]);
        let cases: &[(&[&str], &[&str], Vec<String>)] = &[
            (&[], &[], s(&["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"])),
            (
                &["net_admin"],
                &["NET_RAW"],
                s(&["CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN"]),
            ),
            (
                &["CAP_SYS_ADMIN"],
                &["cap_kill"],
                s(&["CAP_CHOWN", "CAP_NET_RAW", "CAP_SYS_ADMIN"]),
            ),
            (&["chown"], &["ALL"], s(&["CAP_CHOWN"])),
            (&[], &["all"], s(&[])),
            (
                &["kill"],
                &["kill"],
                s(&["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"]),
            ),
        ];
        for (add, drop, want) in cases {
            let got = capabilities(&defaults, &s(add), &s(drop), false).unwrap();
            assert_eq!(&got, want, "add {add:?} drop {drop:?}");
        }
        let all = capabilities(&defaults, &s(&["ALL"]), &s(&["sys_admin"]), false).unwrap();
        assert_eq!(all.len(), all_capabilities().len() - 1);
        assert!(!all.contains(&"CAP_SYS_ADMIN".to_string()));
        let privileged = capabilities(&defaults, &[], &s(&["ALL"]), true).unwrap();
        assert_eq!(privileged.len(), all_capabilities().len());
    }

    #[test]
    fn unknown_capability_is_named() {
        let e = capabilities(&[], &s(&["bogus"]), &[], false).unwrap_err();
        assert_eq!(e.to_string(), "unknown capability: \"CAP_BOGUS\"");
    }
}
