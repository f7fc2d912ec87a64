//! `berth events`: the daemon's event stream, printed as it arrives.

use crate::client::{query, Client};
use crate::cmd::container::{filters_json, get_timestamp};
use crate::template::{from_json, parse, render};
use berth_model::api::EventMessage;
use chrono::{Offset, TimeZone};
use clap::Args;
use gotmpl::Template;
use http_body_util::BodyExt;
use hyper::Method;
use std::io::Write;

#[derive(Debug, Clone, Args)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short, long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template:
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template.
    #[arg(long, value_name = "string", verbatim_doc_comment)]
    pub format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long, value_name = "string")]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long, value_name = "string")]
    pub until: Option<String>,
}

/// The request path the docker CLI sends: filters as `{"k":{"v":true}}`, bounds converted
/// by `timetypes.GetTimestamp` (a duration becomes whole Unix seconds ago).
pub fn events_path(a: &EventsArgs, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<String> {
    let mut q = Vec::new();
    if let Some(f) = filters_json(&a.filter)? {
        q.push(("filters", f));
    }
    if let Some(s) = a.since.as_deref().filter(|s| !s.is_empty()) {
        q.push(("since", get_timestamp(s, now)?));
    }
    if let Some(u) = a.until.as_deref().filter(|s| !s.is_empty()) {
        q.push(("until", get_timestamp(u, now)?));
    }
    Ok(format!("/events{}", query(&q)))
}

/// Go's `2006-01-02T15:04:05.000000000Z07:00` (the CLI's `rfc3339NanoFixed`) in `tz`.
pub fn format_time<Tz: TimeZone>(nanos: i64, tz: &Tz) -> String {
    let t = tz.timestamp_nanos(nanos);
    let off = t.offset().fix().local_minus_utc();
    let zone = if off == 0 {
        "Z".to_string()
    } else {
        let sign = if off < 0 { '-' } else { '+' };
        let a = off.abs();
        format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
    };
    format!("{}{zone}", t.naive_local().format("%Y-%m-%dT%H:%M:%S%.9f"))
}

/// The docker CLI's `prettyPrintEvent`: time, type, action, actor ID, then the actor's
/// attributes sorted by key.
pub fn pretty_line<Tz: TimeZone>(ev: &EventMessage, tz: &Tz) -> String {
    let mut out = String::new();
    if ev.time_nano != 0 {
        out.push_str(&format_time(ev.time_nano, tz));
        out.push(' ');
    } else if ev.time != 0 {
        out.push_str(&format_time(ev.time.saturating_mul(1_000_000_000), tz));
        out.push(' ');
    }
    out.push_str(&format!("{} {} {}", ev.kind, ev.action, ev.actor.id));
    if !ev.actor.attributes.is_empty() {
        let attrs: Vec<String> = ev
            .actor
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        out.push_str(&format!(" ({})", attrs.join(", ")));
    }
    out.push('\n');
    out
}

/// The message as a template sees Go's `events.Message`: field names, not JSON keys.
fn template_value(ev: &EventMessage) -> gotmpl::Value {
    from_json(&serde_json::json!({
        "Status": ev.status,
        "ID": ev.id,
        "From": ev.from,
        "Type": ev.kind,
        "Action": ev.action,
        "Actor": {"ID": ev.actor.id, "Attributes": ev.actor.attributes},
        "Scope": ev.scope,
        "Time": ev.time,
        "TimeNano": ev.time_nano,
    }))
}

/// How each event is printed.
pub enum Printer {
    Pretty,
    /// `json` or `{{json .}}`: the message as the daemon's JSON (Go field tags).
    Json,
    Template(Box<Template>),
}

impl Printer {
    /// Like the CLI's `makeTemplate`: the template is parsed and tried on an empty
    /// message before anything is requested, so a bad one fails early.
    pub fn new(format: Option<&str>) -> anyhow::Result<Self> {
        let Some(f) = format.filter(|f| !f.is_empty()) else {
            return Ok(Self::Pretty);
        };
        let f = f.replace("\\t", "\t").replace("\\n", "\n");
        let compact: String = f.chars().filter(|c| !c.is_whitespace()).collect();
        if f == "json" || compact == "{{json.}}" {
            return Ok(Self::Json);
        }
        let t = parse(&f)?;
        render(&t, &template_value(&EventMessage::default()))?;
        Ok(Self::Template(Box::new(t)))
    }

    pub fn line(&self, ev: &EventMessage) -> anyhow::Result<String> {
        Ok(match self {
            Self::Pretty => pretty_line(ev, &chrono::Local),
            Self::Json => format!("{}\n", serde_json::to_string(ev)?),
            Self::Template(t) => format!("{}\n", render(t, &template_value(ev))?),
        })
    }
}

/// Requests the stream and prints each event as its line arrives, until the daemon ends it.
pub async fn stream_events(
    client: &Client,
    a: &EventsArgs,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let printer = Printer::new(a.format.as_deref())?;
    let path = events_path(a, chrono::Utc::now())?;
    client.ping().await?;
    let resp = client
        .send(Method::GET, &path, None, crate::client::empty())
        .await?;
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    let emit = |line: &[u8], out: &mut (dyn Write + Send)| -> anyhow::Result<()> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let ev: EventMessage = serde_json::from_slice(line)
            .map_err(|e| anyhow::anyhow!("cannot decode event: {e}"))?;
        out.write_all(printer.line(&ev)?.as_bytes())?;
        out.flush()?;
        Ok(())
    };
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            buf.extend_from_slice(&data);
            while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                emit(&line, out)?;
            }
        }
    }
    emit(&buf, out)
}

pub async fn events(client: &Client, a: EventsArgs) -> anyhow::Result<i32> {
    let mut stdout = std::io::stdout();
    stream_events(client, &a, &mut stdout).await?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    const ID: &str = "cc4b0ab8a7d4d13a44f04d76a0614b46a7e772ccb5f43fc6ee5d4621e260f375";
    const LINE: &str = r#"{"status":"create","id":"cc4b0ab8a7d4d13a44f04d76a0614b46a7e772ccb5f43fc6ee5d4621e260f375","from":"busybox","Type":"container","Action":"create","Actor":{"ID":"cc4b0ab8a7d4d13a44f04d76a0614b46a7e772ccb5f43fc6ee5d4621e260f375","Attributes":{"name":"research-trace-ev","image":"busybox"}},"scope":"local","time":1795949037,"timeNano":1795949037274027302}"#;

    #[derive(Debug, Parser)]
    struct Wrap {
        #[command(flatten)]
        a: EventsArgs,
    }

    fn args(argv: &[&str]) -> EventsArgs {
        Wrap::try_parse_from(std::iter::once("events").chain(argv.iter().copied()))
            .unwrap()
            .a
    }

    fn ev() -> EventMessage {
        serde_json::from_str(LINE).unwrap()
    }

    #[test]
    fn request_like_the_trace() {
        // The trace: `--since 10s --filter container=research-trace-ev` at 1795949039.
        let now = chrono::DateTime::from_timestamp(1_795_949_039, 500_000_000).unwrap();
        let a = args(&["--since", "10s", "--filter", "container=research-trace-ev"]);
        assert_eq!(
            events_path(&a, now).unwrap(),
            "/events?filters=%7B%22container%22%3A%7B%22research-trace-ev%22%3Atrue%7D%7D&since=1795949029"
        );
        let a = args(&["--since", "1m30s", "--until", "2026-11-29T10:43:57.5Z"]);
        assert_eq!(
            events_path(&a, now).unwrap(),
            "/events?since=1795948949&until=1795949037.500000000"
        );
        let a = args(&[
            "--since",
            "0",
            "--until",
            "1795949040.25",
            "-f",
            "type=container",
            "-f",
            "event=start",
        ]);
        let path = events_path(&a, now).unwrap();
        assert_eq!(
            path,
            "/events?filters=%7B%22event%22%3A%7B%22start%22%3Atrue%7D%2C%22type%22%3A%7B%22container%22%3Atrue%7D%7D&since=0&until=1795949040.25"
        );
        assert_eq!(
            events_path(&args(&["--since", "2h"]), now).unwrap(),
            "/events?since=1795941839"
        );
        assert_eq!(events_path(&args(&[]), now).unwrap(), "/events");
        assert!(events_path(&args(&["--since", "yesterday"]), now).is_err());
        assert!(events_path(&args(&["-f", "nokey"]), now).is_err());
    }

    #[test]
    fn filter_json() {
        assert_eq!(
            filters_json(&[
                "container=x".into(),
                "container=y".into(),
                "type=container".into()
            ])
            .unwrap()
            .unwrap(),
            r#"{"container":{"x":true,"y":true},"type":{"container":true}}"#
        );
    }

    #[test]
    fn pretty_lines_like_the_docker_cli() {
        assert_eq!(
            pretty_line(&ev(), &chrono::Utc),
            format!("2026-11-29T10:43:57.274027302Z container create {ID} (image=busybox, name=research-trace-ev)\n")
        );
        let plus2 = chrono::FixedOffset::east_opt(2 * 3600).unwrap();
        let minus = chrono::FixedOffset::west_opt(3 * 3600 + 30 * 60).unwrap();
        assert_eq!(
            format_time(1_795_949_037_000_000_000, &plus2),
            "2026-11-29T12:43:57.000000000+02:00"
        );
        assert_eq!(
            format_time(1_795_949_037_000_000_005, &minus),
            "2026-11-29T07:13:57.000000005-03:30"
        );
        // No timeNano: whole seconds; no attributes: no parentheses.
        let mut e = ev();
        e.time_nano = 0;
        e.actor.attributes.clear();
        assert_eq!(
            pretty_line(&e, &chrono::Utc),
            format!("2026-11-29T10:43:57.000000000Z container create {ID}\n")
        );
    }

    #[test]
    fn formats() {
        assert!(matches!(Printer::new(None).unwrap(), Printer::Pretty));
        let json = Printer::new(Some("{{json .}}")).unwrap();
        let line = json.line(&ev()).unwrap();
        let mut want = LINE.replace(
            r#"{"name":"research-trace-ev","image":"busybox"}"#,
            r#"{"image":"busybox","name":"research-trace-ev"}"#,
        );
        want.push('\n');
        assert_eq!(line, want);
        assert_eq!(
            Printer::new(Some("json")).unwrap().line(&ev()).unwrap(),
            want
        );
        let t = Printer::new(Some(
            "{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.TimeNano}}",
        ))
        .unwrap();
        assert_eq!(
            t.line(&ev()).unwrap(),
            "container create research-trace-ev 1795949037274027302\n"
        );
        let t = Printer::new(Some("{{.ID}}\\t{{json .Actor.Attributes}}")).unwrap();
        assert_eq!(
            t.line(&ev()).unwrap(),
            format!("{ID}\t{{\"image\":\"busybox\",\"name\":\"research-trace-ev\"}}\n")
        );
        assert!(Printer::new(Some("{{.Action")).is_err());
    }
}
