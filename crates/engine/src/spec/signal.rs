//! Stop signal and stop timeout: resolved by the engine when it stops a container, kept pure so
//! `docker create` can reject a bad `--stop-signal` before anything runs.

use super::SpecError;
use berth_api_types::container::ContainerConfig;
use berth_api_types::image::ImageConfig;

/// Linux signal numbers by name (without `SIG`).
const SIGNALS: &[(&str, i32)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("IOT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("POLL", 29),
    ("PWR", 30),
    ("SYS", 31),
];

const SIGRTMIN: i32 = 34;
const SIGRTMAX: i32 = 64;

/// Parses a signal as Docker does: a number (1–64), or a name with or without `SIG`, any case,
/// including `RTMIN+n` and `RTMAX-n`.
pub fn parse_signal(raw: &str) -> Result<i32, SpecError> {
    let bad = || SpecError::Signal(raw.to_string());
    if let Ok(n) = raw.parse::<i32>() {
        return if (1..=SIGRTMAX).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let upper = raw.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some((_, n)) = SIGNALS.iter().find(|(s, _)| *s == name) {
        return Ok(*n);
    }
    let rt = |base: i32, rest: &str, sign: i32| -> Result<i32, SpecError> {
        let off: i32 = if rest.is_empty() {
            0
        } else {
            rest.parse().map_err(|_| bad())?
        };
        let n = base + sign * off;
        if (SIGRTMIN..=SIGRTMAX).contains(&n) && off >= 0 {
            Ok(n)
        } else {
            Err(bad())
        }
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return rt(SIGRTMIN, rest.strip_prefix('+').unwrap_or(rest), 1);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return rt(SIGRTMAX, rest.strip_prefix('-').unwrap_or(rest), -1);
    }
    Err(bad())
}

/// The signal that stops this container: the request's, else the image's, else `SIGTERM`.
pub fn stop_signal(image: &ImageConfig, config: &ContainerConfig) -> Result<i32, SpecError> {
    let raw = [config.stop_signal.as_deref(), image.stop_signal.as_deref()]
        .into_iter()
        .flatten()
        .find(|s| !s.is_empty());
    raw.map_or(Ok(15), parse_signal)
}

/// Seconds between the stop signal and `SIGKILL`: the request's `StopTimeout`, else 10.
pub fn stop_timeout(config: &ContainerConfig) -> i64 {
    config.stop_timeout.unwrap_or(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_table() {
        let ok = [
            ("SIGTERM", 15),
            ("TERM", 15),
            ("sigquit", 3),
            ("9", 9),
            ("SIGRTMIN", 34),
            ("RTMIN+3", 37),
            ("SIGRTMAX-2", 62),
            ("SIGRTMAX", 64),
            ("USR1", 10),
        ];
        for (input, want) in ok {
            assert_eq!(parse_signal(input).unwrap(), want, "{input}");
        }
        for bad in ["0", "65", "-1", "SIGFOO", "", "RTMIN+40", "RTMIN-1"] {
            assert_eq!(
                parse_signal(bad).unwrap_err().to_string(),
                format!("Invalid signal: {bad}")
            );
        }
    }

    #[test]
    fn stop_signal_precedence() {
        let image = ImageConfig {
            stop_signal: Some("SIGQUIT".into()),
            ..Default::default()
        };
        let mut config = ContainerConfig::default();
        assert_eq!(stop_signal(&ImageConfig::default(), &config).unwrap(), 15);
        assert_eq!(stop_signal(&image, &config).unwrap(), 3);
        config.stop_signal = Some("SIGINT".into());
        assert_eq!(stop_signal(&image, &config).unwrap(), 2);
        assert_eq!(stop_timeout(&config), 10);
        config.stop_timeout = Some(3);
        assert_eq!(stop_timeout(&config), 3);
    }
}
