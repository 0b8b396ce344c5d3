//! Docker's human-readable numbers (the `go-units` package): sizes in decimal units, memory in
//! binary units, and durations like "2 hours". Output must match Docker's byte for byte because
//! people diff `berth images` against `docker images`, and scripts parse it.

use std::time::Duration;

const DECIMAL: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// Go's `fmt.Sprintf("%.*g", precision, x)`: `precision` significant digits, trailing zeros
/// dropped, exponent form when the exponent is below -4 or at least `precision`.
pub fn go_g(x: f64, precision: usize) -> String {
    let p = precision.max(1);
    if x == 0.0 {
        return "0".to_string();
    }
    if !x.is_finite() {
        return if x.is_nan() {
            "NaN".into()
        } else if x > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let sci = format!("{:.*e}", p - 1, x);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{x:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn scaled(size: f64, base: f64, units: &[&'static str]) -> (f64, &'static str) {
    let mut size = size;
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    (size, units[i])
}

/// `units.HumanSizeWithPrecision`: decimal units, e.g. `4.26MB` for precision 3.
pub fn human_size_with_precision(size: f64, precision: usize) -> String {
    let (s, unit) = scaled(size, 1000.0, &DECIMAL);
    format!("{}{unit}", go_g(s, precision))
}

/// `units.HumanSize`: four significant digits (`Total reclaimed space: 1.235MB`).
pub fn human_size(size: f64) -> String {
    human_size_with_precision(size, 4)
}

/// `units.BytesSize`: binary units (`Total Memory: 7.637GiB`).
pub fn bytes_size(size: f64) -> String {
    let (s, unit) = scaled(size, 1024.0, &BINARY);
    format!("{}{unit}", go_g(s, 4))
}

/// `units.HumanDuration`: "Less than a second", "About a minute", "3 hours", "2 weeks", ...
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    if seconds < 1 {
        return "Less than a second".into();
    }
    if seconds == 1 {
        return "1 second".into();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = seconds / 60;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    // Go rounds to the nearest hour here (half away from zero).
    let hours = (d.as_secs_f64() / 3600.0).round() as u64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", seconds / 3600 / 24 / 365)
}

/// "N ago" for a Unix timestamp, relative to `now` (also Unix seconds); future times count as
/// "Less than a second ago" like Docker's.
pub fn since(created: i64, now: i64) -> String {
    let secs = now.saturating_sub(created).max(0) as u64;
    format!("{} ago", human_duration(Duration::from_secs(secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_g_matches_go() {
        assert_eq!(go_g(4.261234, 3), "4.26");
        assert_eq!(go_g(4.0, 3), "4");
        assert_eq!(go_g(865.0, 3), "865");
        assert_eq!(go_g(999.96, 3), "1e+03");
        assert_eq!(go_g(123.456, 4), "123.5");
        assert_eq!(go_g(0.0001234, 3), "0.000123");
        assert_eq!(go_g(0.00001234, 3), "1.23e-05");
        assert_eq!(go_g(10.0, 3), "10");
    }

    #[test]
    fn sizes_match_docker() {
        assert_eq!(human_size_with_precision(4_261_234.0, 3), "4.26MB");
        assert_eq!(human_size_with_precision(865_000.0, 3), "865kB");
        assert_eq!(human_size_with_precision(0.0, 3), "0B");
        assert_eq!(human_size_with_precision(999.0, 3), "999B");
        assert_eq!(human_size_with_precision(1_000.0, 3), "1kB");
        assert_eq!(human_size(1_234_567.0), "1.235MB");
        assert_eq!(human_size(4_261_234.0), "4.261MB");
        assert_eq!(bytes_size(8_200_000_000.0), "7.637GiB");
    }

    #[test]
    fn durations_match_docker() {
        let d = |s: u64| human_duration(Duration::from_secs(s));
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(d(1), "1 second");
        assert_eq!(d(45), "45 seconds");
        assert_eq!(d(61), "About a minute");
        assert_eq!(d(59 * 60), "59 minutes");
        assert_eq!(d(3600 + 1700), "About an hour");
        assert_eq!(d(2 * 3600), "2 hours");
        assert_eq!(d(47 * 3600), "47 hours");
        assert_eq!(d(3 * 86400), "3 days");
        assert_eq!(d(20 * 86400), "2 weeks");
        assert_eq!(d(90 * 86400), "3 months");
        assert_eq!(d(3 * 365 * 86400), "3 years");
        assert_eq!(since(100, 100 + 7200), "2 hours ago");
        assert_eq!(since(200, 100), "Less than a second ago");
    }
}
