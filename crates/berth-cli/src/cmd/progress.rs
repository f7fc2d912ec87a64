//! Pull and push progress from dockerd's JSON messages. Off a terminal it prints what the
//! docker CLI prints there (one `id: status` line per change, no bars); on a terminal it
//! draws a bar per layer and one for the total, with sizes and speed.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use std::collections::HashMap;

pub struct Progress {
    quiet: bool,
    /// Lines off a terminal go to stderr (a pull `run` makes) instead of stdout.
    pub to_stderr: bool,
    bars: Option<Bars>,
}

struct Bars {
    multi: MultiProgress,
    layers: HashMap<String, (ProgressBar, u64, u64)>,
    total: ProgressBar,
}

fn layer_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}: {msg:<18} {bar:30} {bytes:>10}/{total_bytes:<10}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn done_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}: {msg}").unwrap_or_else(|_| ProgressStyle::default_bar())
}

impl Progress {
    /// `tty`: draw bars (stderr is a terminal); `quiet`: show nothing but errors.
    pub fn new(quiet: bool, tty: bool) -> Self {
        let bars = tty.then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let total = multi.add(ProgressBar::new(0));
            total.set_style(
                ProgressStyle::with_template(
                    "total {bar:30} {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} {elapsed}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            Bars {
                multi,
                layers: HashMap::new(),
                total,
            }
        });
        Progress {
            quiet,
            to_stderr: false,
            bars,
        }
    }

    /// Shows one message; an `errorDetail` (or `error`) is returned as the error.
    pub fn message(&mut self, msg: &Value) -> anyhow::Result<()> {
        if let Some(e) = msg
            .get("errorDetail")
            .and_then(|d| d.get("message"))
            .or(msg.get("error"))
            .and_then(Value::as_str)
        {
            anyhow::bail!("{e}");
        }
        if self.quiet {
            return Ok(());
        }
        let status = msg.get("status").and_then(Value::as_str).unwrap_or("");
        let id = msg.get("id").and_then(Value::as_str).unwrap_or("");
        let detail = msg.get("progressDetail");
        let current = detail
            .and_then(|d| d.get("current"))
            .and_then(Value::as_u64);
        let total = detail.and_then(|d| d.get("total")).and_then(Value::as_u64);
        match &mut self.bars {
            None => {
                // The docker CLI off a terminal skips messages that only move a bar.
                if current.is_some() || status.is_empty() {
                    return Ok(());
                }
                let line = if id.is_empty() {
                    format!("{status}\n")
                } else {
                    format!("{id}: {status}\n")
                };
                let mut sink = crate::stream::StdSink;
                if self.to_stderr {
                    crate::stream::Sink::err(&mut sink, line.as_bytes());
                } else {
                    crate::stream::Sink::out(&mut sink, line.as_bytes());
                }
            }
            Some(b) => {
                if status.is_empty() {
                    return Ok(());
                }
                if id.is_empty() {
                    b.multi.suspend(|| eprintln!("{status}"));
                    return Ok(());
                }
                let entry = b.layers.entry(id.to_string()).or_insert_with(|| {
                    let bar = b.multi.insert_before(&b.total, ProgressBar::new(0));
                    bar.set_style(done_style());
                    bar.set_prefix(id.to_string());
                    (bar, 0, 0)
                });
                let (bar, seen_cur, seen_total) = entry;
                bar.set_message(status.to_string());
                if let (Some(c), Some(t)) = (current, total) {
                    bar.set_style(layer_style());
                    bar.set_length(t);
                    bar.set_position(c.min(t));
                    // The total bar sums each layer's latest figures.
                    b.total.inc_length(t.saturating_sub(*seen_total));
                    *seen_total = (*seen_total).max(t);
                    if c > *seen_cur {
                        b.total.inc(c - *seen_cur);
                        *seen_cur = c;
                    }
                } else {
                    bar.set_style(done_style());
                    bar.tick();
                }
            }
        }
        Ok(())
    }

    /// Leaves the final picture on the terminal.
    pub fn finish(&mut self) {
        if let Some(b) = &self.bars {
            for (bar, _, _) in b.layers.values() {
                bar.set_style(done_style());
                bar.finish();
            }
            b.total.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_end_the_stream_and_quiet_shows_nothing_else() {
        let mut p = Progress::new(true, false);
        p.message(&json!({"status": "Pulling fs layer", "id": "abc"}))
            .unwrap();
        let e = p
            .message(&json!({"errorDetail": {"message": "manifest unknown"}, "error": "manifest unknown"}))
            .unwrap_err();
        assert_eq!(e.to_string(), "manifest unknown");
    }

    #[test]
    fn bars_add_up_layers_into_the_total() {
        let mut p = Progress::new(false, true);
        for (id, c, t) in [("a", 10, 100), ("b", 5, 50), ("a", 100, 100)] {
            p.message(&json!({"status": "Downloading", "id": id, "progressDetail": {"current": c, "total": t}}))
                .unwrap();
        }
        let b = p.bars.as_ref().unwrap();
        assert_eq!(b.total.length(), Some(150));
        assert_eq!(b.total.position(), 105);
        p.finish();
    }
}
