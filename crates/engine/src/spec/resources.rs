//! Resource limits (`-m`, `--memory-swap`, `--cpus`, `--cpu-shares`, `--cpuset-cpus`,
//! `--pids-limit`…) → `linux.resources`, and `--ulimit` → `process.rlimits`, with Docker's
//! validation and defaults (swap = twice the memory limit when only `-m` is given).

use super::SpecError;
use super::devices::{HostDevice, device_rules};
use berth_api_types::container::{Resources, Ulimit};
use berth_api_types::shorthand::rlimit_name;
use oci_spec::runtime::{
    LinuxCpu, LinuxMemory, LinuxPids, LinuxResources, PosixRlimit, PosixRlimitBuilder,
    PosixRlimitType,
};

/// The CFS period `--cpus` is expressed in, as Docker uses.
const CPU_PERIOD_US: u64 = 100_000;
/// Docker's lower bound for `-m`.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// Builds `linux.resources`; `privileged` opens the device cgroup to every device, `devices`
/// (the `--device` nodes found on the host) each add an allow rule.
pub fn linux_resources(
    r: &Resources,
    privileged: bool,
    devices: &[HostDevice],
) -> Result<LinuxResources, SpecError> {
    let err = |m: &str| Err(SpecError::Resources(m.to_string()));
    let mut out = LinuxResources::default();

    if r.memory != 0 && r.memory < MIN_MEMORY {
        return err("Minimum memory limit allowed is 6MB");
    }
    if r.memory_swap > 0 && r.memory == 0 {
        return err(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        );
    }
    if r.memory_swap > 0 && r.memory_swap < r.memory {
        return err("Minimum memoryswap limit should be larger than memory limit, see usage");
    }
    if r.memory > 0 && r.memory_reservation > r.memory {
        return err(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        );
    }
    if let Some(s) = r.memory_swappiness
        && s != -1
        && !(0..=100).contains(&s)
    {
        return Err(SpecError::Resources(format!(
            "Invalid value: {s}, valid memory swappiness range is 0-100"
        )));
    }
    let mut mem = LinuxMemory::default();
    let mut any_mem = false;
    if r.memory > 0 {
        mem.set_limit(Some(r.memory));
        let swap = match r.memory_swap {
            0 => r.memory.saturating_mul(2),
            s => s,
        };
        mem.set_swap(Some(swap));
        any_mem = true;
    } else if r.memory_swap == -1 {
        mem.set_swap(Some(-1));
        any_mem = true;
    }
    if r.memory_reservation > 0 {
        mem.set_reservation(Some(r.memory_reservation));
        any_mem = true;
    }
    if let Some(s) = r.memory_swappiness.filter(|s| (0..=100).contains(s)) {
        mem.set_swappiness(Some(s as u64));
        any_mem = true;
    }
    if let Some(disable) = r.oom_kill_disable {
        mem.set_disable_oom_killer(Some(disable));
        any_mem = true;
    }
    if any_mem {
        out.set_memory(Some(mem));
    }

    if r.nano_cpus != 0 && (r.cpu_period != 0 || r.cpu_quota != 0) {
        let which = if r.cpu_period != 0 { "Period" } else { "Quota" };
        return Err(SpecError::Resources(format!(
            "Conflicting options: Nano CPUs and CPU {which} cannot both be set"
        )));
    }
    if r.nano_cpus < 0 || (r.nano_cpus > 0 && r.nano_cpus < 10_000_000) {
        return err("Range of CPUs is from 0.01 to the number of CPUs available");
    }
    if r.cpu_shares < 0 {
        return err("Invalid CPU shares: must not be negative");
    }
    let mut cpu = LinuxCpu::default();
    let mut any_cpu = false;
    if r.cpu_shares > 0 {
        cpu.set_shares(Some(r.cpu_shares as u64));
        any_cpu = true;
    }
    if r.nano_cpus > 0 {
        cpu.set_period(Some(CPU_PERIOD_US));
        cpu.set_quota(Some(r.nano_cpus * CPU_PERIOD_US as i64 / 1_000_000_000));
        any_cpu = true;
    }
    if r.cpu_period > 0 {
        cpu.set_period(Some(r.cpu_period as u64));
        any_cpu = true;
    }
    if r.cpu_quota != 0 {
        cpu.set_quota(Some(r.cpu_quota));
        any_cpu = true;
    }
    if r.cpu_realtime_period > 0 {
        cpu.set_realtime_period(Some(r.cpu_realtime_period as u64));
        any_cpu = true;
    }
    if r.cpu_realtime_runtime != 0 {
        cpu.set_realtime_runtime(Some(r.cpu_realtime_runtime));
        any_cpu = true;
    }
    if !r.cpuset_cpus.is_empty() {
        check_cpuset("cpuset-cpus", &r.cpuset_cpus)?;
        cpu.set_cpus(Some(r.cpuset_cpus.clone()));
        any_cpu = true;
    }
    if !r.cpuset_mems.is_empty() {
        check_cpuset("cpuset-mems", &r.cpuset_mems)?;
        cpu.set_mems(Some(r.cpuset_mems.clone()));
        any_cpu = true;
    }
    if any_cpu {
        out.set_cpu(Some(cpu));
    }

    if let Some(limit) = r.pids_limit.filter(|l| *l > 0) {
        let mut pids = LinuxPids::default();
        pids.set_limit(limit);
        out.set_pids(Some(pids));
    }
    out.set_devices(Some(device_rules(
        privileged,
        &r.device_cgroup_rules,
        devices,
    )?));
    Ok(out)
}

/// `0-3`, `0,1`, `1,3-5`: digits, commas, dashes.
fn check_cpuset(flag: &str, value: &str) -> Result<(), SpecError> {
    let ok = value.split(',').all(|part| {
        let mut ends = part.splitn(2, '-');
        let a = ends.next().unwrap_or("");
        let b = ends.next();
        let num = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
        num(a) && b.is_none_or(num)
    });
    if ok {
        Ok(())
    } else {
        Err(SpecError::Resources(format!(
            "Invalid value {value} for {flag}"
        )))
    }
}

/// `--ulimit` entries → POSIX rlimits; -1 means unlimited (`RLIM_INFINITY`).
pub fn rlimits(ulimits: &[Ulimit]) -> Result<Vec<PosixRlimit>, SpecError> {
    let as_rlim = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
    ulimits
        .iter()
        .map(|u| {
            let name = rlimit_name(&u.name).ok_or_else(|| SpecError::Ulimit(u.name.clone()))?;
            let typ: PosixRlimitType =
                serde_json::from_value(serde_json::Value::String(name.to_string()))
                    .map_err(|_| SpecError::Ulimit(u.name.clone()))?;
            PosixRlimitBuilder::default()
                .typ(typ)
                .soft(as_rlim(u.soft))
                .hard(as_rlim(u.hard))
                .build()
                .map_err(|e| SpecError::Resources(format!("ulimit {}: {e}", u.name)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: i64 = 1024 * 1024;

    #[test]
    fn memory_and_swap_defaults() {
        // (memory, swap) → (limit, swap)
        let cases = [
            (0, 0, None, None),
            (512 * MB, 0, Some(512 * MB), Some(1024 * MB)),
            (512 * MB, -1, Some(512 * MB), Some(-1)),
            (512 * MB, 768 * MB, Some(512 * MB), Some(768 * MB)),
            (0, -1, None, Some(-1)),
        ];
        for (memory, swap, limit, want_swap) in cases {
            let r = Resources {
                memory,
                memory_swap: swap,
                ..Default::default()
            };
            let out = linux_resources(&r, false, &[]).unwrap();
            let m = out.memory().as_ref();
            assert_eq!(m.and_then(|m| m.limit()), limit, "{memory} {swap}");
            assert_eq!(m.and_then(|m| m.swap()), want_swap, "{memory} {swap}");
        }
    }

    #[test]
    fn cpu_and_pids() {
        let r = Resources {
            nano_cpus: 1_500_000_000,
            cpu_shares: 512,
            cpuset_cpus: "0-1".into(),
            pids_limit: Some(100),
            ..Default::default()
        };
        let out = linux_resources(&r, false, &[]).unwrap();
        let cpu = out.cpu().as_ref().unwrap();
        assert_eq!((cpu.period(), cpu.quota()), (Some(100_000), Some(150_000)));
        assert_eq!(cpu.shares(), Some(512));
        assert_eq!(cpu.cpus().as_deref(), Some("0-1"));
        assert_eq!(out.pids().unwrap().limit(), 100);
        for unlimited in [Some(0), Some(-1), None] {
            let r = Resources {
                pids_limit: unlimited,
                ..Default::default()
            };
            assert!(linux_resources(&r, false, &[]).unwrap().pids().is_none());
        }
    }

    #[test]
    fn resource_errors() {
        let cases = [
            (
                Resources {
                    memory: 1024,
                    ..Default::default()
                },
                "Minimum memory limit allowed is 6MB",
            ),
            (
                Resources {
                    memory_swap: 64 * MB,
                    ..Default::default()
                },
                "always set the Memory limit",
            ),
            (
                Resources {
                    memory: 64 * MB,
                    memory_swap: 32 * MB,
                    ..Default::default()
                },
                "memoryswap limit should be larger",
            ),
            (
                Resources {
                    nano_cpus: 1_000_000_000,
                    cpu_quota: 5,
                    ..Default::default()
                },
                "Nano CPUs and CPU Quota cannot both be set",
            ),
            (
                Resources {
                    nano_cpus: 1,
                    ..Default::default()
                },
                "Range of CPUs",
            ),
            (
                Resources {
                    memory_swappiness: Some(101),
                    ..Default::default()
                },
                "swappiness",
            ),
            (
                Resources {
                    cpuset_cpus: "0-a".into(),
                    ..Default::default()
                },
                "Invalid value 0-a",
            ),
        ];
        for (r, want) in cases {
            let e = linux_resources(&r, false, &[]).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn devices() {
        let normal = linux_resources(&Resources::default(), false, &[]).unwrap();
        let rules = normal.devices().as_ref().unwrap();
        assert!(!rules[0].allow());
        assert!(rules.len() > 5);
        let privileged = linux_resources(&Resources::default(), true, &[]).unwrap();
        let rules = privileged.devices().as_ref().unwrap();
        assert_eq!(rules.len(), 1);
        assert!(rules[0].allow());
    }

    #[test]
    fn ulimits_to_rlimits() {
        let u = vec![
            Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048,
            },
            Ulimit {
                name: "core".into(),
                soft: -1,
                hard: -1,
            },
        ];
        let r = rlimits(&u).unwrap();
        assert_eq!(r[0].typ(), PosixRlimitType::RlimitNofile);
        assert_eq!((r[0].soft(), r[0].hard()), (1024, 2048));
        assert_eq!(
            (r[1].typ(), r[1].soft()),
            (PosixRlimitType::RlimitCore, u64::MAX)
        );
        let bad = vec![Ulimit {
            name: "bogus".into(),
            soft: 1,
            hard: 1,
        }];
        assert_eq!(
            rlimits(&bad).unwrap_err().to_string(),
            "invalid ulimit type: bogus"
        );
    }
}
