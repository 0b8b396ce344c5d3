//! RFC 3339 timestamps with nanoseconds (`2024-01-02T15:04:05.123456789Z`), the format of
//! Docker's json-file `time` field and of `State.StartedAt`/`FinishedAt`.
//!
//! Done by hand (a few lines of calendar arithmetic) so that this crate, which the engine and
//! the shim both link, needs no date-time dependency. Times are carried as nanoseconds since
//! the Unix epoch in an `i128`, which compares and subtracts without surprises.

use std::time::{SystemTime, UNIX_EPOCH};

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

/// Formats `nanos` since the epoch as UTC with all nine fractional digits.
pub fn format_nanos(nanos: i128) -> String {
    let secs = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400) as i64;
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:09}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// The current time, formatted by [`format_nanos`].
pub fn now() -> String {
    format_nanos(now_nanos())
}

/// Parses an RFC 3339 date-time (`Z` or `±hh:mm` offset, 0–9 fractional digits) into
/// nanoseconds since the epoch; `None` when it is not one.
pub fn parse_nanos(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac: i128 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &s[start..i];
        if digits.is_empty() {
            return None;
        }
        let kept = &digits[..digits.len().min(9)];
        frac = kept.parse::<i128>().ok()? * 10i128.pow(9 - kept.len() as u32);
    }
    let offset_secs: i64 = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let v = oh * 3600 + om * 60;
            if *sign == b'-' { -v } else { v }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_secs;
    Some(secs as i128 * 1_000_000_000 + frac)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
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
