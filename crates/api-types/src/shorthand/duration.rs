//! Go durations (`--health-interval 1m30s`, `--stop-timeout 10`): the docker CLI parses
//! `--health-*` with Go's `time.ParseDuration` and sends nanoseconds, so compose files and the
//! CLI must accept exactly Go's syntax.

use super::ShorthandError;

/// Parses a Go duration (`300ms`, `-1.5h`, `2h45m`, `1us`, `1µs`, `0`) into nanoseconds.
/// Errors use Go's wording: `time: invalid duration "x"`.
pub fn parse_duration(s: &str) -> Result<i64, ShorthandError> {
    let invalid = || ShorthandError::new(format!("time: invalid duration {s:?}"));
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let int_part = &rest[..int_end];
        rest = &rest[int_end..];
        let mut frac_part = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_end = after_dot
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after_dot.len());
            frac_part = &after_dot[..frac_end];
            rest = &after_dot[frac_end..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        if unit.is_empty() {
            return Err(ShorthandError::new(format!(
                "time: missing unit in duration {s:?}"
            )));
        }
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(ShorthandError::new(format!(
                    "time: unknown unit {unit:?} in duration {s:?}"
                )));
            }
        };
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut value = whole.checked_mul(scale).ok_or_else(invalid)?;
        // Fractions: add frac * scale / 10^len, truncating like Go does.
        let mut divisor: u128 = 1;
        let mut frac_value: u128 = 0;
        for d in frac_part.bytes().take(20) {
            frac_value = frac_value * 10 + u128::from(d - b'0');
            divisor *= 10;
        }
        value += frac_value * scale / divisor;
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > i64::MAX as u128 + u128::from(negative) {
            return Err(invalid());
        }
    }
    let total = i128::try_from(total).map_err(|_| invalid())?;
    let signed = if negative { -total } else { total };
    i64::try_from(signed).map_err(|_| invalid())
}

/// Parses `--stop-timeout`: whole seconds; negative values (-1 = wait forever) are allowed.
pub fn parse_stop_timeout(s: &str) -> Result<i64, ShorthandError> {
    s.trim()
        .parse()
        .map_err(|_| ShorthandError::new(format!("invalid stop timeout {s:?}: not an integer")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn go_duration_table() {
        let ok = [
            ("0", 0),
            ("-0", 0),
            ("30s", 30 * S),
            ("1m30s", 90 * S),
            ("500ms", S / 2),
            ("1.5h", 5400 * S),
            ("2h45m", (2 * 3600 + 45 * 60) * S),
            ("1us", 1_000),
            ("1µs", 1_000),
            ("1μs", 1_000),
            ("10ns", 10),
            (".5s", S / 2),
            ("1.s", S),
            ("-1.5s", -3 * S / 2),
            ("+5s", 5 * S),
            ("1.0000000001s", S),
        ];
        for (input, want) in ok {
            assert_eq!(parse_duration(input), Ok(want), "{input}");
        }
    }

    #[test]
    fn go_duration_errors() {
        let cases = [
            ("", r#"time: invalid duration """#),
            ("abc", r#"time: invalid duration "abc""#),
            ("-", r#"time: invalid duration "-""#),
            (".s", r#"time: invalid duration ".s""#),
            ("1", r#"time: missing unit in duration "1""#),
            ("1q", r#"time: unknown unit "q" in duration "1q""#),
            ("10s5", r#"time: missing unit in duration "10s5""#),
            (
                "9999999999999h",
                r#"time: invalid duration "9999999999999h""#,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_duration(input).unwrap_err().to_string(),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn stop_timeout() {
        assert_eq!(parse_stop_timeout("10"), Ok(10));
        assert_eq!(parse_stop_timeout("-1"), Ok(-1));
        assert!(
            parse_stop_timeout("10s")
                .unwrap_err()
                .to_string()
                .contains("10s")
        );
    }
}
