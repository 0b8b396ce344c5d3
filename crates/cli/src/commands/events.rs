//! `events`: prints the daemon's events as they happen, like `docker events`.
//!
//! The daemon accepts only absolute times, so relative `--since 10m` values are turned into
//! unix timestamps here (as the docker CLI does). Without `--until` the command runs until it is
//! interrupted.

use crate::args::EventsArgs;
use crate::autostart::Target;
use crate::format::template::{self, Missing};
use anyhow::{Context, Result, anyhow};
use berth_api_types::Filters;
use berth_api_types::events::EventMessage;
use berth_api_types::shorthand::parse_duration;
use futures_util::StreamExt;
use std::io::Write;
use time::format_description::well_known::Rfc3339;

/// Runs `berth events`.
pub async fn run(target: &Target, args: EventsArgs) -> Result<()> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    let since = args
        .since
        .as_deref()
        .map(|s| timestamp(s, now))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|s| timestamp(s, now))
        .transpose()?;
    let filters = Filters::from_cli(&args.filter).map_err(|e| anyhow!("{e}"))?;
    let tmpl = match args.format.as_deref() {
        None | Some("") | Some("json") => None,
        Some(src) => Some(template::parse(src, Missing::NoValue, false)?),
    };
    let json = args.format.as_deref() == Some("json");
    let client = target.connect().await?;
    let mut stream = client
        .events(since.as_deref(), until.as_deref(), &filters)
        .await?;
    let mut out = std::io::stdout();
    loop {
        let next = tokio::select! {
            n = stream.next() => n,
            _ = tokio::signal::ctrl_c() => None,
        };
        let Some(event) = next else { break };
        let event = event?;
        let line = if json {
            serde_json::to_string(&event)?
        } else if let Some(t) = &tmpl {
            template::execute(t, &template::to_value(&event)?)?
        } else {
            default_line(&event)
        };
        writeln!(out, "{line}").context("writing to stdout")?;
        out.flush().context("writing to stdout")?;
    }
    Ok(())
}

/// Docker's `GetTimestamp`: a duration is relative to `now_nanos`; RFC 3339 and unix seconds
/// (optionally fractional) become `seconds.nanoseconds`, the form every daemon accepts.
pub fn timestamp(value: &str, now_nanos: i128) -> Result<String> {
    let nanos: i128 = if let Ok(d) = parse_duration(value) {
        now_nanos - i128::from(d)
    } else if value.chars().all(|c| c.is_ascii_digit() || c == '.') && !value.is_empty() {
        return Ok(value.to_string());
    } else {
        time::OffsetDateTime::parse(value, &Rfc3339)
            .map_err(|_| anyhow!("invalid timestamp {value:?}: use unix seconds, RFC 3339 or a duration such as 10m"))?
            .unix_timestamp_nanos()
    };
    let secs = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000);
    Ok(format!("{secs}.{frac:09}"))
}

/// `2024-01-02T15:04:05.123456789Z image tag sha256:… (name=busybox:latest)`.
pub fn default_line(e: &EventMessage) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(e.time_nano))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let stamp = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond()
    );
    let mut line = format!("{stamp} {} {} {}", e.typ.as_str(), e.action, e.actor.id);
    if !e.actor.attributes.is_empty() {
        let attrs: Vec<String> = e
            .actor
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        line.push_str(&format!(" ({})", attrs.join(", ")));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api_types::events::EventType;

    #[test]
    fn timestamps_become_absolute() {
        let now = 1_000 * 1_000_000_000i128;
        assert_eq!(timestamp("10m", now).unwrap(), "400.000000000");
        assert_eq!(timestamp("1700000000.5", now).unwrap(), "1700000000.5");
        assert_eq!(
            timestamp("1970-01-01T00:00:10Z", now).unwrap(),
            "10.000000000"
        );
        assert!(timestamp("yesterday", now).is_err());
    }

    #[test]
    fn default_line_is_dockers() {
        let e = EventMessage::new(
            EventType::Image,
            "tag",
            "sha256:abc",
            [("name".to_string(), "busybox:latest".to_string())].into(),
            1_704_207_845_123_456_789,
        );
        assert_eq!(
            default_line(&e),
            "2024-01-02T15:04:05.123456789Z image tag sha256:abc (name=busybox:latest)"
        );
    }
}
