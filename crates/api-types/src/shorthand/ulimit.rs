//! `--ulimit nofile=1024:2048`.

use super::ShorthandError;
use crate::container::Ulimit;

/// Ulimit names Docker accepts, with the `RLIMIT_*` resource each one sets.
const NAMES: &[(&str, &str)] = &[
    ("as", "RLIMIT_AS"),
    ("core", "RLIMIT_CORE"),
    ("cpu", "RLIMIT_CPU"),
    ("data", "RLIMIT_DATA"),
    ("fsize", "RLIMIT_FSIZE"),
    ("locks", "RLIMIT_LOCKS"),
    ("memlock", "RLIMIT_MEMLOCK"),
    ("msgqueue", "RLIMIT_MSGQUEUE"),
    ("nice", "RLIMIT_NICE"),
    ("nofile", "RLIMIT_NOFILE"),
    ("nproc", "RLIMIT_NPROC"),
    ("rss", "RLIMIT_RSS"),
    ("rtprio", "RLIMIT_RTPRIO"),
    ("rttime", "RLIMIT_RTTIME"),
    ("sigpending", "RLIMIT_SIGPENDING"),
    ("stack", "RLIMIT_STACK"),
];

/// The `RLIMIT_*` name of a Docker ulimit name (`nofile` → `RLIMIT_NOFILE`), `None` if unknown.
pub fn rlimit_name(name: &str) -> Option<&'static str> {
    NAMES.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

/// Parses `name=soft[:hard]`; a missing hard limit equals the soft one, -1 means unlimited.
pub fn parse_ulimit(s: &str) -> Result<Ulimit, ShorthandError> {
    let Some((name, limits)) = s.split_once('=') else {
        return Err(ShorthandError::new(format!("invalid ulimit argument: {s}")));
    };
    if rlimit_name(name).is_none() {
        return Err(ShorthandError::new(format!("invalid ulimit type: {name}")));
    }
    let number = |v: &str| {
        v.parse::<i64>()
            .map_err(|_| ShorthandError::new(format!("invalid ulimit value {v:?} in {s:?}")))
    };
    let parts: Vec<&str> = limits.split(':').collect();
    let (soft, hard) = match parts.as_slice() {
        [soft] => {
            let soft = number(soft)?;
            (soft, soft)
        }
        [soft, hard] => (number(soft)?, number(hard)?),
        _ => {
            return Err(ShorthandError::new(format!(
                "too many limit value arguments - {limits}, can only have up to two, \
                 `soft[:hard]`"
            )));
        }
    };
    if hard != -1 && soft > hard {
        return Err(ShorthandError::new(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )));
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulimit_table() {
        let u = parse_ulimit("nofile=1024:2048").unwrap();
        assert_eq!((u.name.as_str(), u.soft, u.hard), ("nofile", 1024, 2048));
        let u = parse_ulimit("nproc=100").unwrap();
        assert_eq!((u.soft, u.hard), (100, 100));
        let u = parse_ulimit("core=-1:-1").unwrap();
        assert_eq!((u.soft, u.hard), (-1, -1));
        let bad = [
            ("nofile", "invalid ulimit argument: nofile"),
            ("files=1", "invalid ulimit type: files"),
            ("nofile=a", "invalid ulimit value \"a\""),
            ("nofile=1:2:3", "too many limit value arguments - 1:2:3"),
            (
                "nofile=10:5",
                "soft limit must be less than or equal to hard limit: 10 > 5",
            ),
        ];
        for (input, want) in bad {
            let e = parse_ulimit(input).unwrap_err().to_string();
            assert!(e.contains(want), "{input}: {e}");
        }
        assert_eq!(rlimit_name("nofile"), Some("RLIMIT_NOFILE"));
        assert_eq!(rlimit_name("x"), None);
    }
}
