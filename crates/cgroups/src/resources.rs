//! The limits a container asks for, as plain data with Docker's semantics.
//!
//! The engine maps Docker's `HostConfig` (or an OCI spec's `linux.resources`) onto this struct;
//! the planners map it onto files. Keeping the numbers as Docker spells them (swap as the
//! memory+swap total, `-1` for unlimited) means the engine does no arithmetic of its own and the
//! version-specific conversions live in exactly one place each.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The smallest CFS period and quota the kernel accepts, in microseconds (1 ms).
pub const MIN_CFS_US: u64 = 1_000;
/// The largest CFS period the kernel accepts, in microseconds (1 s).
pub const MAX_CFS_PERIOD_US: u64 = 1_000_000;

/// Resource limits for one cgroup. Every field is optional: `None` (and, as in runc, `0`) leaves
/// the current value alone, which is what makes the same struct usable for `docker update`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Resources {
    /// Memory limit in bytes; `-1` removes the limit.
    pub memory: Option<i64>,
    /// Docker's `--memory-swap`: the limit on memory plus swap together, in bytes; `-1` allows
    /// unlimited swap; equal to `memory` means no swap at all. The engine applies Docker's
    /// default (twice `memory` when only `memory` is given) before it gets here.
    pub memory_swap: Option<i64>,
    /// Soft limit (`--memory-reservation`) in bytes; `-1` removes it.
    pub memory_reservation: Option<i64>,
    /// Relative CPU weight in v1 "shares" (Docker's `--cpu-shares`, default 1024); converted to
    /// `cpu.weight` on v2.
    pub cpu_shares: Option<u64>,
    /// CFS quota in microseconds per period; `-1` removes it.
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds (1000 to 1000000).
    pub cpu_period: Option<u64>,
    /// CPUs the group may run on, in the kernel's list syntax (`0-2,4`).
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the group may allocate from, same syntax.
    pub cpuset_mems: Option<String>,
    /// Maximum number of tasks; `0` or `-1` removes the limit (Docker's convention).
    pub pids_limit: Option<i64>,
    /// Device access rules (see [`crate::devices`]), replacing the group's current ones;
    /// `None` leaves them alone.
    pub devices: Option<Vec<crate::devices::DeviceRule>>,
}

/// A limit after normalisation: what the planners switch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// No limit (`max` on v2, `-1` on v1).
    Unlimited,
    /// A finite value.
    Value(u64),
}

impl Resources {
    /// Checks that the fields are consistent with each other, with Docker's messages where
    /// Docker has one, so a bad request fails before anything is written.
    pub fn validate(&self) -> Result<()> {
        let invalid = |msg: &str| Err(Error::InvalidResources(msg.to_string()));
        for (name, value) in [
            ("memory", self.memory),
            ("memory swap", self.memory_swap),
            ("memory reservation", self.memory_reservation),
            ("CPU quota", self.cpu_quota),
        ] {
            if let Some(v) = value
                && v < -1
            {
                return Err(Error::InvalidResources(format!(
                    "invalid {name} value {v}: use -1 for unlimited"
                )));
            }
        }
        if let Some(Limit::Value(swap)) = self.swap() {
            match self.memory() {
                Some(Limit::Value(memory)) if swap < memory => {
                    return invalid(
                        "Minimum memoryswap limit should be larger than memory limit, see usage",
                    );
                }
                Some(Limit::Value(_)) => {}
                _ => {
                    return invalid(
                        "You should always set the Memory limit when using Memoryswap limit, see \
                         usage",
                    );
                }
            }
        }
        if let Some(period) = self.cpu_period
            && period != 0
            && !(MIN_CFS_US..=MAX_CFS_PERIOD_US).contains(&period)
        {
            return invalid(
                "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1 second \
                 (i.e. 1000000)",
            );
        }
        if let Some(Limit::Value(quota)) = self.quota()
            && quota < MIN_CFS_US
        {
            return invalid("CPU cfs quota can not be less than 1ms (i.e. 1000)");
        }
        Ok(())
    }

    /// Whether nothing at all is requested (creating a group only to track and kill processes).
    pub fn is_empty(&self) -> bool {
        *self == Resources::default()
    }

    /// The memory limit, `None` when unchanged.
    pub(crate) fn memory(&self) -> Option<Limit> {
        signed_limit(self.memory)
    }

    /// The memory+swap total, `None` when unchanged.
    pub(crate) fn swap(&self) -> Option<Limit> {
        signed_limit(self.memory_swap)
    }

    /// The soft limit, `None` when unchanged.
    pub(crate) fn reservation(&self) -> Option<Limit> {
        signed_limit(self.memory_reservation)
    }

    /// The CFS quota, `None` when unchanged.
    pub(crate) fn quota(&self) -> Option<Limit> {
        signed_limit(self.cpu_quota)
    }

    /// The CFS period, `None` when unchanged.
    pub(crate) fn period(&self) -> Option<u64> {
        self.cpu_period.filter(|p| *p != 0)
    }

    /// The CPU shares, `None` when unchanged.
    pub(crate) fn shares(&self) -> Option<u64> {
        self.cpu_shares.filter(|s| *s != 0)
    }

    /// The pids limit, `None` when unchanged; zero and negatives mean unlimited as in Docker.
    pub(crate) fn pids(&self) -> Option<Limit> {
        self.pids_limit.map(|p| match u64::try_from(p) {
            Ok(n) if n > 0 => Limit::Value(n),
            _ => Limit::Unlimited,
        })
    }
}

/// Maps runc's convention (`0` unchanged, negative unlimited) onto [`Limit`].
fn signed_limit(value: Option<i64>) -> Option<Limit> {
    match value? {
        0 => None,
        v => Some(u64::try_from(v).map_or(Limit::Unlimited, Limit::Value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(r: Resources) -> String {
        r.validate().unwrap_err().to_string()
    }

    #[test]
    fn default_is_empty_and_valid() {
        assert!(Resources::default().is_empty());
        Resources::default().validate().unwrap();
    }

    #[test]
    fn swap_must_not_be_below_memory() {
        let r = Resources {
            memory: Some(100),
            memory_swap: Some(50),
            ..Default::default()
        };
        assert!(message(r).starts_with("Minimum memoryswap limit"));
        let ok = Resources {
            memory: Some(100),
            memory_swap: Some(100),
            ..Default::default()
        };
        ok.validate().unwrap();
    }

    #[test]
    fn swap_needs_memory() {
        let r = Resources {
            memory_swap: Some(50),
            ..Default::default()
        };
        assert!(message(r).starts_with("You should always set the Memory limit"));
        let r = Resources {
            memory: Some(-1),
            memory_swap: Some(50),
            ..Default::default()
        };
        assert!(message(r).starts_with("You should always set the Memory limit"));
        // Unlimited swap needs no memory limit.
        Resources {
            memory_swap: Some(-1),
            ..Default::default()
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn cfs_ranges() {
        let r = Resources {
            cpu_period: Some(999),
            ..Default::default()
        };
        assert!(message(r).contains("cfs period"));
        let r = Resources {
            cpu_period: Some(1_000_001),
            ..Default::default()
        };
        assert!(message(r).contains("cfs period"));
        let r = Resources {
            cpu_quota: Some(500),
            ..Default::default()
        };
        assert!(message(r).contains("cfs quota"));
        Resources {
            cpu_quota: Some(-1),
            cpu_period: Some(1000),
            ..Default::default()
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn negative_values_other_than_minus_one_are_rejected() {
        let r = Resources {
            memory: Some(-2),
            ..Default::default()
        };
        assert!(message(r).contains("invalid memory value -2"));
    }

    #[test]
    fn normalisation() {
        let r = Resources {
            memory: Some(0),
            memory_swap: Some(-1),
            cpu_shares: Some(0),
            pids_limit: Some(0),
            ..Default::default()
        };
        assert_eq!(r.memory(), None);
        assert_eq!(r.swap(), Some(Limit::Unlimited));
        assert_eq!(r.shares(), None);
        assert_eq!(r.pids(), Some(Limit::Unlimited));
        let r = Resources {
            pids_limit: Some(5),
            ..Default::default()
        };
        assert_eq!(r.pids(), Some(Limit::Value(5)));
    }

    #[test]
    fn serde_round_trip_uses_camel_case() {
        let r = Resources {
            memory: Some(1 << 20),
            cpuset_cpus: Some("0".into()),
            ..Default::default()
        };
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"memory\":1048576"));
        assert!(json.contains("\"cpusetCpus\":\"0\""));
        let back: Resources = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        let partial: Resources = serde_json::from_str(r#"{"pidsLimit":5}"#).unwrap();
        assert_eq!(partial.pids_limit, Some(5));
    }
}
