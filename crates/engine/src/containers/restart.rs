//! Restart policies, as a pure decision: given the policy and how the container ended, restart
//! or not, and after how long.
//!
//! Docker's rules: `no` never; `always` always, unless the user stopped the container;
//! `unless-stopped` the same; `on-failure[:N]` only after a non-zero exit, at most N times.
//! A manual stop is remembered: `always` containers come back at the next daemon start,
//! `unless-stopped` ones do not. The delay starts at 100 ms and doubles per consecutive restart
//! up to one minute; a run of at least ten seconds resets it.

use berth_api_types::container::RestartPolicy;
use std::time::Duration;

/// The first back-off.
pub const INITIAL_DELAY: Duration = Duration::from_millis(100);
/// The longest back-off.
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long resets the back-off.
pub const RESET_AFTER: Duration = Duration::from_secs(10);

/// Checks a policy as `docker create` does.
pub fn validate(policy: &RestartPolicy, auto_remove: bool) -> Result<(), String> {
    match policy.name.as_str() {
        "" | "no" => {}
        "always" | "unless-stopped" => {
            if policy.maximum_retry_count != 0 {
                return Err(
                    "invalid restart policy: maximum retry count can only be used with 'on-failure'"
                        .to_string(),
                );
            }
        }
        "on-failure" => {
            if policy.maximum_retry_count < 0 {
                return Err(
                    "invalid restart policy: maximum retry count cannot be negative".into(),
                );
            }
        }
        other => {
            return Err(format!(
                "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
            ));
        }
    }
    if auto_remove && !matches!(policy.name.as_str(), "" | "no") {
        return Err("can't create 'AutoRemove' container with restart policy".into());
    }
    Ok(())
}

/// Whether a container that just exited with `exit_code` restarts.
pub fn should_restart(
    policy: &RestartPolicy,
    exit_code: i64,
    restarts_so_far: i64,
    manually_stopped: bool,
) -> bool {
    if manually_stopped {
        return false;
    }
    match policy.name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => {
            exit_code != 0
                && (policy.maximum_retry_count == 0 || restarts_so_far < policy.maximum_retry_count)
        }
        _ => false,
    }
}

/// Whether the daemon starts the container when it starts itself.
pub fn start_with_daemon(policy: &RestartPolicy, manually_stopped: bool) -> bool {
    match policy.name.as_str() {
        "always" => true,
        "unless-stopped" => !manually_stopped,
        _ => false,
    }
}

/// The back-off before the next restart: `previous` doubled (or the initial delay), capped;
/// reset when the container ran for [`RESET_AFTER`].
pub fn next_delay(previous: Option<Duration>, ran_for: Duration) -> Duration {
    match previous {
        Some(p) if ran_for < RESET_AFTER => (p * 2).min(MAX_DELAY),
        _ => INITIAL_DELAY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, n: i64) -> RestartPolicy {
        RestartPolicy {
            name: name.into(),
            maximum_retry_count: n,
        }
    }

    #[test]
    fn decisions() {
        assert!(!should_restart(&p("no", 0), 1, 0, false));
        assert!(!should_restart(&p("", 0), 1, 0, false));
        assert!(should_restart(&p("always", 0), 0, 5, false));
        assert!(!should_restart(&p("always", 0), 0, 0, true));
        assert!(should_restart(&p("unless-stopped", 0), 0, 0, false));
        assert!(should_restart(&p("on-failure", 0), 1, 100, false));
        assert!(!should_restart(&p("on-failure", 0), 0, 0, false));
        assert!(should_restart(&p("on-failure", 2), 1, 1, false));
        assert!(!should_restart(&p("on-failure", 2), 1, 2, false));
        assert!(start_with_daemon(&p("always", 0), true));
        assert!(!start_with_daemon(&p("unless-stopped", 0), true));
        assert!(!start_with_daemon(&p("on-failure", 0), false));
    }

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let short = Duration::from_secs(1);
        let d1 = next_delay(None, short);
        assert_eq!(d1, INITIAL_DELAY);
        let d2 = next_delay(Some(d1), short);
        assert_eq!(d2, Duration::from_millis(200));
        assert_eq!(next_delay(Some(Duration::from_secs(50)), short), MAX_DELAY);
        assert_eq!(next_delay(Some(d2), Duration::from_secs(11)), INITIAL_DELAY);
    }

    #[test]
    fn validation() {
        assert!(validate(&p("always", 0), false).is_ok());
        assert!(
            validate(&p("bogus", 0), false)
                .unwrap_err()
                .contains("unknown policy")
        );
        assert!(validate(&p("always", 3), false).is_err());
        assert!(
            validate(&p("always", 0), true)
                .unwrap_err()
                .contains("AutoRemove")
        );
        assert!(validate(&p("no", 0), true).is_ok());
    }
}
