//! RFC 3339 time stamps, the one home of their formats, each named for where Docker uses it:
//! - [`format_nanos`]: nine fractional digits always (`2024-01-02T15:04:05.123456789Z`), the
//!   json-file `time` field and `State.StartedAt`/`FinishedAt`, so log lines sort as text;
//! - [`format_rfc3339`]: Go's `RFC3339Nano` (trailing zeros of the fraction dropped), image and
//!   volume `Created`, runc's state `created`;
//! - [`format_seconds`]: Go's `RFC3339` (whole seconds), as the CLI prints times.
//!
//! Times are carried as nanoseconds since the Unix epoch in an `i128`, which compares and
//! subtracts without surprises; the calendar work is the `time` crate's.

use std::time::{SystemTime, UNIX_EPOCH};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// Nanoseconds since the Unix epoch (negative before 1970).
pub fn unix_nanos(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// The current time as nanoseconds since the epoch.
pub fn now_nanos() -> i128 {
    unix_nanos(SystemTime::now())
}

/// Formats `nanos` since the epoch as UTC with all nine fractional digits (times outside the
/// calendar's range print as the epoch).
pub fn format_nanos(nanos: i128) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z");
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .format(format)
        .unwrap_or_default()
}

/// The current time, formatted by [`format_nanos`].
pub fn now() -> String {
    format_nanos(now_nanos())
}

/// Formats `t` as RFC 3339 with the fraction's trailing zeros dropped (Go's `RFC3339Nano`).
pub fn format_rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

/// Now, by [`format_rfc3339`].
pub fn now_rfc3339() -> String {
    format_rfc3339(OffsetDateTime::now_utc())
}

/// Formats Unix seconds as Go's `RFC3339` in UTC (`2024-01-02T15:04:05Z`); empty when out of
/// the calendar's range.
pub fn format_seconds(unix: i64) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

/// Parses an RFC 3339 date-time (`Z` or `±hh:mm` offset, optional fraction) into nanoseconds
/// since the epoch; `None` when it is not one.
pub fn parse_nanos(s: &str) -> Option<i128> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_round_trip() {
        let t = parse_nanos("2024-01-02T15:04:05.123456789Z").unwrap();
        assert_eq!(format_nanos(t), "2024-01-02T15:04:05.123456789Z");
        assert_eq!(format_nanos(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(parse_nanos("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(parse_nanos("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(
            parse_nanos("2000-02-29T00:00:00.5Z"),
            Some(951_782_400_500_000_000)
        );
        let now = now_nanos();
        assert_eq!(parse_nanos(&format_nanos(now)), Some(now));
    }

    #[test]
    fn the_three_formats() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_704_207_845_120_000_000).unwrap();
        assert_eq!(
            format_nanos(t.unix_timestamp_nanos()),
            "2024-01-02T15:04:05.120000000Z"
        );
        assert_eq!(format_rfc3339(t), "2024-01-02T15:04:05.12Z");
        assert_eq!(format_seconds(t.unix_timestamp()), "2024-01-02T15:04:05Z");
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "2024-01-02",
            "2024-13-02T00:00:00Z",
            "2024-01-02T00:00:00",
            "x".repeat(30).as_str(),
        ] {
            assert_eq!(parse_nanos(bad), None, "{bad}");
        }
    }
}
