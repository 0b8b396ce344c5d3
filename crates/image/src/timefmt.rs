//! Time stamps as Docker writes and reads them: RFC 3339 with nanoseconds, Unix seconds, and
//! the `until` filter's forms (a time stamp, Unix seconds, or a Go duration back from now).

use crate::error::{ImageError, Result};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use berth_common::time::now_rfc3339;

/// Unix seconds of an RFC 3339 time stamp; 0 when missing or malformed (Docker shows such
/// images as created at the epoch rather than failing the listing).
pub fn unix_seconds(s: Option<&str>) -> i64 {
    s.and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
        .map(|t| t.unix_timestamp())
        .unwrap_or(0)
}

/// Parses an `until`/`since` filter value into Unix seconds: RFC 3339, `YYYY-MM-DD`, Unix
/// seconds (with optional fraction) or a Go duration (`10m`, `1h30m`) counted back from `now`.
pub fn parse_filter_time(value: &str, now: i64) -> Result<i64> {
    let v = value.trim();
    if let Ok(t) = OffsetDateTime::parse(v, &Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    if let Ok(t) = OffsetDateTime::parse(&format!("{v}T00:00:00Z"), &Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    if let Some(secs) = v.split('.').next().and_then(|s| s.parse::<i64>().ok())
        && v.split('.')
            .nth(1)
            .is_none_or(|f| f.bytes().all(|b| b.is_ascii_digit()))
    {
        return Ok(secs);
    }
    if let Some(d) = parse_go_duration(v) {
        return Ok(now - d);
    }
    Err(ImageError::InvalidArgument(format!(
        "invalid time value {value:?}: expected an RFC 3339 time stamp, Unix seconds or a duration such as 24h"
    )))
}

/// Seconds in a Go duration such as `1h30m`, `90s`, `2h`.
fn parse_go_duration(s: &str) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * factor;
        rest = &rest[unit_end..];
    }
    Some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_common::time::format_rfc3339;

    #[test]
    fn formats_with_nanoseconds() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_000).unwrap();
        assert_eq!(format_rfc3339(t), "2023-11-14T22:13:20.123456Z");
        assert_eq!(
            unix_seconds(Some("2023-11-14T22:13:20.123456Z")),
            1_700_000_000
        );
        assert_eq!(unix_seconds(None), 0);
    }

    #[test]
    fn filter_times() {
        assert_eq!(parse_filter_time("1700000000", 0).unwrap(), 1_700_000_000);
        assert_eq!(parse_filter_time("1h30m", 10_000).unwrap(), 10_000 - 5400);
        assert_eq!(
            parse_filter_time("2023-11-14T22:13:20Z", 0).unwrap(),
            1_700_000_000
        );
        assert!(parse_filter_time("soon", 0).is_err());
    }
}
