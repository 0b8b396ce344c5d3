//! `--restart no|always|unless-stopped|on-failure[:N]`.

use super::ShorthandError;
use crate::container::RestartPolicy;

/// Parses the flag into a policy and checks it with [`validate_restart_policy`].
pub fn parse_restart_policy(s: &str) -> Result<RestartPolicy, ShorthandError> {
    let (name, count) = match s.split_once(':') {
        Some(("", _)) => {
            return Err(ShorthandError::new(
                "invalid restart policy format: no policy provided before colon",
            ));
        }
        Some((name, count)) => (name, Some(count)),
        None => (s, None),
    };
    let mut policy = RestartPolicy {
        name: name.to_string(),
        maximum_retry_count: 0,
    };
    if let Some(count) = count.filter(|c| !c.is_empty()) {
        policy.maximum_retry_count = count.parse().map_err(|_| {
            ShorthandError::new(
                "invalid restart policy format: maximum retry count must be an integer",
            )
        })?;
    }
    validate_restart_policy(&policy)?;
    Ok(policy)
}

/// Checks a policy as the daemon does for `POST /containers/create` and `update`: a known name,
/// and a retry count only with `on-failure`, never negative.
pub fn validate_restart_policy(policy: &RestartPolicy) -> Result<(), ShorthandError> {
    match policy.name.as_str() {
        "" | "no" | "always" | "unless-stopped" => {
            if policy.maximum_retry_count != 0 {
                return Err(ShorthandError::new(
                    "invalid restart policy: maximum retry count can only be used with \
                     'on-failure'",
                ));
            }
        }
        "on-failure" => {
            if policy.maximum_retry_count < 0 {
                return Err(ShorthandError::new(
                    "invalid restart policy: maximum retry count cannot be negative",
                ));
            }
        }
        other => {
            return Err(ShorthandError::new(format!(
                "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', \
                 'on-failure', or 'unless-stopped'"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_table() {
        let ok = [
            ("no", "no", 0),
            ("always", "always", 0),
            ("unless-stopped", "unless-stopped", 0),
            ("on-failure", "on-failure", 0),
            ("on-failure:3", "on-failure", 3),
            ("on-failure:", "on-failure", 0),
        ];
        for (input, name, count) in ok {
            let p = parse_restart_policy(input).unwrap();
            assert_eq!(
                (p.name.as_str(), p.maximum_retry_count),
                (name, count),
                "{input}"
            );
        }
        let bad = [
            (":3", "no policy provided before colon"),
            ("on-failure:x", "maximum retry count must be an integer"),
            ("on-failure:-1", "cannot be negative"),
            ("always:3", "can only be used with 'on-failure'"),
            ("sometimes", "unknown policy 'sometimes'"),
        ];
        for (input, want) in bad {
            let e = parse_restart_policy(input).unwrap_err().to_string();
            assert!(e.contains(want), "{input}: {e}");
        }
    }
}
