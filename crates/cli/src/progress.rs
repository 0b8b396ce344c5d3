//! Shows a JSON message stream (load, import, pull, push, build).
//!
//! On a terminal each item (`id`) gets an indicatif bar, the way Docker redraws its progress
//! lines; otherwise progress updates are dropped and status and stream text is printed plainly,
//! which is what logs and scripts want. A message with `error` ends the command with that error.

use crate::output;
use anyhow::{Result, bail};
use berth_api_types::progress::JsonMessage;
use berth_client::JsonStream;
use futures_util::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;

/// Text printed for a message without bars (non-terminal output), or `None` to skip it.
pub fn plain_line(m: &JsonMessage) -> Option<String> {
    if let Some(s) = &m.stream {
        return Some(s.clone());
    }
    let has_progress = m
        .progress_detail
        .as_ref()
        .is_some_and(|p| p.current.is_some() || p.total.is_some())
        || m.progress.as_deref().is_some_and(|p| !p.is_empty());
    if has_progress {
        return None;
    }
    let status = m.status.as_deref()?;
    Some(match &m.id {
        Some(id) => format!("{id}: {status}\n"),
        None => format!("{status}\n"),
    })
}

/// The failure a message carries, if any.
pub fn error_of(m: &JsonMessage) -> Option<String> {
    m.error
        .clone()
        .or_else(|| m.error_detail.as_ref().map(|d| d.message.clone()))
}

/// Reads the stream to its end, showing it; fails on the first error message.
pub async fn show(mut stream: JsonStream<JsonMessage>, tty: bool) -> Result<()> {
    let mut bars = if tty { Some(Bars::new()) } else { None };
    while let Some(m) = stream.next().await {
        let m = m?;
        if let Some(e) = error_of(&m) {
            if let Some(b) = bars.as_mut() {
                b.abandon();
            }
            bail!("{e}");
        }
        match bars.as_mut() {
            Some(b) => b.update(&m),
            None => {
                if let Some(line) = plain_line(&m) {
                    output::print(&line)?;
                }
            }
        }
    }
    if let Some(b) = bars.as_mut() {
        b.finish();
    }
    Ok(())
}

/// Reads the stream to its end without showing it (`-q`); fails on the first error message.
pub async fn consume(mut stream: JsonStream<JsonMessage>) -> Result<()> {
    while let Some(m) = stream.next().await {
        if let Some(e) = error_of(&m?) {
            bail!("{e}");
        }
    }
    Ok(())
}

/// Live bars, one per item id.
struct Bars {
    multi: MultiProgress,
    by_id: HashMap<String, ProgressBar>,
}

impl Bars {
    fn new() -> Bars {
        Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
            by_id: HashMap::new(),
        }
    }

    fn style(sized: bool) -> ProgressStyle {
        let tpl = if sized {
            "{prefix}: {msg:<18} [{bar:40}] {decimal_bytes}/{decimal_total_bytes}"
        } else {
            "{prefix}: {msg}"
        };
        ProgressStyle::with_template(tpl)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ")
    }

    fn update(&mut self, m: &JsonMessage) {
        let Some(id) = m.id.as_deref() else {
            let text = m.stream.as_deref().or(m.status.as_deref()).unwrap_or("");
            let text = text.strip_suffix('\n').unwrap_or(text);
            if !text.is_empty() {
                let _ = self.multi.println(text);
            }
            return;
        };
        let multi = &self.multi;
        let bar = self.by_id.entry(id.to_string()).or_insert_with(|| {
            let b = multi.add(ProgressBar::no_length());
            b.set_style(Bars::style(false));
            b.set_prefix(id.to_string());
            b
        });
        let status = m.status.clone().unwrap_or_default();
        match m
            .progress_detail
            .as_ref()
            .and_then(|p| p.current.map(|c| (c, p.total)))
        {
            Some((current, total)) => {
                if let Some(t) = total.filter(|t| *t > 0)
                    && bar.length() != Some(t)
                {
                    bar.set_style(Bars::style(true));
                    bar.set_length(t);
                }
                bar.set_position(current);
                bar.set_message(status);
            }
            None => {
                // A status without numbers is the item's final word ("Loading layer done").
                bar.set_style(Bars::style(false));
                bar.finish_with_message(status);
            }
        }
    }

    fn finish(&mut self) {
        for b in self.by_id.values() {
            if !b.is_finished() {
                b.finish();
            }
        }
    }

    fn abandon(&mut self) {
        for b in self.by_id.values() {
            b.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_output_skips_progress_updates() {
        assert_eq!(
            plain_line(&JsonMessage::stream("Loaded image: a:b\n")).as_deref(),
            Some("Loaded image: a:b\n")
        );
        assert_eq!(
            plain_line(&JsonMessage::status("sha256:abc")).as_deref(),
            Some("sha256:abc\n")
        );
        assert_eq!(
            plain_line(&JsonMessage::progress("Loading layer", "abc", 10, Some(20))),
            None
        );
        let done = JsonMessage {
            id: Some("abc".into()),
            ..JsonMessage::status("Loading layer done")
        };
        assert_eq!(
            plain_line(&done).as_deref(),
            Some("abc: Loading layer done\n")
        );
        assert_eq!(
            error_of(&JsonMessage::error("boom")).as_deref(),
            Some("boom")
        );
    }

    #[tokio::test]
    async fn errors_end_the_stream() {
        let msgs = vec![
            Ok(JsonMessage::progress("x", "a", 1, None)),
            Ok(JsonMessage::error("bad archive")),
        ];
        let stream = futures_util::stream::iter(msgs).boxed();
        let err = show(stream, false).await.unwrap_err();
        assert_eq!(err.to_string(), "bad archive");
    }
}
