//! Docker's seccomp profile format (`--security-opt seccomp=profile.json`) → OCI `LinuxSeccomp`.
//!
//! Docker's format adds to the OCI one: `archMap` (architectures with their sub-architectures),
//! `names` lists, and per-rule `includes`/`excludes` conditions on capabilities and
//! architectures, evaluated here against the container's final capability set. `minKernel`
//! conditions are treated as met (the engine targets current kernels).

use super::SpecError;
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Profile {
    #[serde(default)]
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Option<Vec<String>>,
    #[serde(default)]
    arch_map: Option<Vec<ArchMap>>,
    #[serde(default)]
    flags: Option<Vec<String>>,
    #[serde(default)]
    syscalls: Option<Vec<Syscall>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: String,
    #[serde(default)]
    sub_architectures: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Syscall {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    names: Option<Vec<String>>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<Arg>>,
    #[serde(default)]
    includes: Option<Filter>,
    #[serde(default)]
    excludes: Option<Filter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Arg {
    index: usize,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    arches: Option<Vec<String>>,
    #[serde(default)]
    caps: Option<Vec<String>>,
}

/// Parses a Docker seccomp profile for a container with capabilities `caps` (`CAP_*`) on the
/// machine architecture `arch` (as `std::env::consts::ARCH` names it: `x86_64`, `aarch64`…).
pub fn parse_docker_seccomp(
    json: &str,
    caps: &[String],
    arch: &str,
) -> Result<LinuxSeccomp, SpecError> {
    let profile: Profile =
        serde_json::from_str(json).map_err(|e| SpecError::Seccomp(e.to_string()))?;
    if profile.default_action.is_empty() {
        return Err(SpecError::Seccomp("defaultAction is required".into()));
    }
    if profile.architectures.is_some() && profile.arch_map.is_some() {
        return Err(SpecError::Seccomp(
            "use either 'architectures' or 'archMap'".into(),
        ));
    }
    let go_arch = go_arch(arch);
    let mut seccomp = LinuxSeccomp::default();
    seccomp.set_default_action(enum_from::<LinuxSeccompAction>(&profile.default_action)?);
    seccomp.set_default_errno_ret(profile.default_errno_ret);
    let mut arches: Vec<String> = profile.architectures.unwrap_or_default();
    let native = native_scmp_arch(arch);
    for m in profile.arch_map.iter().flatten() {
        if Some(m.architecture.as_str()) == native {
            arches.push(m.architecture.clone());
            arches.extend(m.sub_architectures.iter().flatten().cloned());
        }
    }
    if !arches.is_empty() {
        let arches = arches
            .iter()
            .map(|a| enum_from::<Arch>(a))
            .collect::<Result<Vec<_>, _>>()?;
        seccomp.set_architectures(Some(arches));
    }
    if let Some(flags) = &profile.flags {
        let flags = flags
            .iter()
            .map(|f| enum_from::<LinuxSeccompFilterFlag>(f))
            .collect::<Result<Vec<_>, _>>()?;
        seccomp.set_flags(Some(flags));
    }
    let mut rules = Vec::new();
    for call in profile.syscalls.into_iter().flatten() {
        if !applies(&call, caps, go_arch) {
            continue;
        }
        let mut names: Vec<String> = call.names.unwrap_or_default();
        if let Some(name) = call.name.filter(|n| !n.is_empty()) {
            names.push(name);
        }
        if names.is_empty() {
            continue;
        }
        let mut rule = LinuxSyscall::default();
        rule.set_names(names);
        rule.set_action(enum_from::<LinuxSeccompAction>(&call.action)?);
        rule.set_errno_ret(call.errno_ret);
        if let Some(args) = call.args.filter(|a| !a.is_empty()) {
            let args = args
                .iter()
                .map(|a| {
                    let mut arg = LinuxSeccompArgBuilder::default()
                        .index(a.index)
                        .value(a.value)
                        .op(enum_from::<LinuxSeccompOperator>(&a.op)?);
                    if a.value_two != 0 {
                        arg = arg.value_two(a.value_two);
                    }
                    arg.build().map_err(|e| SpecError::Seccomp(e.to_string()))
                })
                .collect::<Result<Vec<_>, SpecError>>()?;
            rule.set_args(Some(args));
        }
        rules.push(rule);
    }
    seccomp.set_syscalls(Some(rules));
    Ok(seccomp)
}

/// Whether a rule's `includes` hold and its `excludes` do not.
fn applies(call: &Syscall, caps: &[String], go_arch: &str) -> bool {
    let has_cap = |c: &String| caps.iter().any(|have| have.eq_ignore_ascii_case(c));
    if let Some(inc) = &call.includes {
        if let Some(arches) = inc.arches.as_ref().filter(|a| !a.is_empty())
            && !arches.iter().any(|a| a == go_arch)
        {
            return false;
        }
        if !inc.caps.iter().flatten().all(has_cap) {
            return false;
        }
    }
    if let Some(exc) = &call.excludes {
        if exc.arches.iter().flatten().any(|a| a == go_arch) {
            return false;
        }
        if exc.caps.iter().flatten().any(has_cap) {
            return false;
        }
    }
    true
}

/// Go's GOARCH for a Rust `ARCH`, which is what profiles' `arches` conditions use.
use berth_api_types::go::arch_of as go_arch;

/// The `SCMP_ARCH_*` name of the machine, for picking entries of `archMap`.
fn native_scmp_arch(arch: &str) -> Option<&'static str> {
    Some(match arch {
        "x86_64" => "SCMP_ARCH_X86_64",
        "x86" => "SCMP_ARCH_X86",
        "aarch64" => "SCMP_ARCH_AARCH64",
        "arm" => "SCMP_ARCH_ARM",
        "riscv64" => "SCMP_ARCH_RISCV64",
        "s390x" => "SCMP_ARCH_S390X",
        "powerpc64" => "SCMP_ARCH_PPC64LE",
        "loongarch64" => "SCMP_ARCH_LOONGARCH64",
        _ => return None,
    })
}

/// Reads one of oci-spec's `SCREAMING_SNAKE_CASE` enums from its name.
fn enum_from<T: DeserializeOwned>(name: &str) -> Result<T, SpecError> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|_| SpecError::Seccomp(format!("unknown value {name:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = r#"{
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
        ],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
            {"name": "exit", "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]},
             "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]}
        ]
    }"#;

    fn names(s: &LinuxSeccomp) -> Vec<String> {
        s.syscalls()
            .iter()
            .flatten()
            .flat_map(|r| r.names().clone())
            .collect()
    }

    #[test]
    fn converts_docker_profile() {
        let s = parse_docker_seccomp(PROFILE, &[], "x86_64").unwrap();
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(s.default_errno_ret(), Some(1));
        assert_eq!(
            s.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
        );
        assert_eq!(
            names(&s),
            vec![
                "read",
                "write",
                "exit",
                "personality",
                "arch_prctl",
                "clone"
            ]
        );
        let personality = &s.syscalls().as_ref().unwrap()[2];
        let arg = personality.args().as_ref().unwrap()[0];
        assert_eq!(
            (arg.index(), arg.value(), arg.op()),
            (0, 8, LinuxSeccompOperator::ScmpCmpEq)
        );
        assert_eq!(arg.value_two(), None);
    }

    #[test]
    fn conditions_follow_caps_and_arch() {
        let admin = vec!["CAP_SYS_ADMIN".to_string()];
        let s = parse_docker_seccomp(PROFILE, &admin, "aarch64").unwrap();
        assert_eq!(
            names(&s),
            vec!["read", "write", "exit", "personality", "mount"]
        );
        assert_eq!(
            s.architectures().as_deref(),
            Some(&[Arch::ScmpArchAarch64, Arch::ScmpArchArm][..])
        );
    }

    #[test]
    fn rejects_bad_profiles() {
        let cases = [
            ("not json", "decoding seccomp profile failed"),
            ("{}", "defaultAction is required"),
            (r#"{"defaultAction":"SCMP_ACT_NOPE"}"#, "SCMP_ACT_NOPE"),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_WAT"}]}]}"#,
                "SCMP_CMP_WAT",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"archMap":[]}"#,
                "either",
            ),
        ];
        for (json, want) in cases {
            let e = parse_docker_seccomp(json, &[], "x86_64")
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{json}: {e}");
        }
    }
}
