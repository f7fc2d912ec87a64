//! Container commands other than run/create/start: ps, logs, wait, stop, kill, rm,
//! inspect.

use crate::client::{is_not_found, query, seg, Client};
use crate::errors::report;
use crate::format::{
    created_at, ellipsis, go_quote, human_duration, human_size, json_indent, short_id,
};
use crate::stream::{OutputDecoder, StdSink};
use crate::template::{render_json, render_rows, string_map};
use crate::types::{ContainerBrief, ContainerRow, WaitBody};
use clap::{Args, ValueEnum};
use http_body_util::BodyExt;
use hyper::Method;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short, long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long, value_name = "int", default_value_t = -1, allow_negative_numbers = true)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short, long)]
    pub latest: bool,
    /// Display total file sizes
    #[arg(short, long)]
    pub size: bool,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
}

pub const PS_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// `{"name":{"web":true}}`: the map form the docker CLI sends.
pub fn filters_json(filters: &[String]) -> anyhow::Result<Option<String>> {
    let mut m: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    for f in filters {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value)"))?;
        m.entry(k.trim().to_lowercase())
            .or_default()
            .insert(v.to_string(), true);
    }
    Ok(if m.is_empty() {
        None
    } else {
        Some(serde_json::to_string(&m)?)
    })
}

fn display_ports(c: &ContainerRow) -> String {
    crate::ports::displayable_ports(&c.ports)
}

fn names(c: &ContainerRow, trunc: bool) -> String {
    let names: Vec<&str> = c
        .names
        .iter()
        .map(|n| n.strip_prefix('/').unwrap_or(n))
        .collect();
    if trunc {
        if let Some(n) = names.iter().find(|n| !n.contains('/')) {
            return n.to_string();
        }
    }
    names.join(",")
}

fn image_name(c: &ContainerRow, trunc: bool) -> String {
    if c.image.is_empty() {
        return "<no image>".into();
    }
    if trunc {
        if short_id(&c.image_id) == short_id(&c.image) && c.image.starts_with("sha256:") {
            return short_id(&c.image);
        }
        if let Some((name, _digest)) = c.image.split_once('@') {
            return name.to_string();
        }
    }
    c.image.clone()
}

/// One row's template context, with the same field names as the docker CLI's.
pub fn ps_row(c: &ContainerRow, trunc: bool, now: f64) -> gotmpl::Value {
    let id = if trunc { short_id(&c.id) } else { c.id.clone() };
    let command = if trunc {
        ellipsis(&c.command, 20)
    } else {
        c.command.clone()
    };
    let labels = c
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let networks = c
        .network_settings
        .get("Networks")
        .and_then(|n| n.as_object())
        .map(|m| m.keys().cloned().collect::<Vec<_>>().join(","))
        .unwrap_or_default();
    let mounts = c
        .mounts
        .iter()
        .filter_map(|m| m.get("Name").or(m.get("Source")).and_then(|v| v.as_str()))
        .map(|s| {
            if trunc {
                ellipsis(s, 15)
            } else {
                s.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    let size = match (c.size_rw, c.size_root_fs) {
        (Some(rw), Some(root)) => {
            format!(
                "{} (virtual {})",
                human_size(rw as f64, 3),
                human_size(root as f64, 3)
            )
        }
        (Some(rw), None) => human_size(rw as f64, 3),
        _ => "0B".into(),
    };
    string_map(&[
        ("ID", id),
        ("Image", image_name(c, trunc)),
        ("Command", go_quote(&command)),
        ("CreatedAt", created_at(c.created)),
        (
            "RunningFor",
            format!("{} ago", human_duration((now - c.created as f64).max(0.0))),
        ),
        ("Ports", display_ports(c)),
        ("State", c.state.clone()),
        ("Status", c.status.clone()),
        ("Size", size),
        ("Names", names(c, trunc)),
        ("Labels", labels),
        ("Mounts", mounts),
        ("Networks", networks),
        ("LocalVolumes", c.mounts.len().to_string()),
    ])
}

pub fn ps_headers() -> Vec<(&'static str, String)> {
    [
        ("ID", "CONTAINER ID"),
        ("Image", "IMAGE"),
        ("Command", "COMMAND"),
        ("CreatedAt", "CREATED AT"),
        ("RunningFor", "CREATED"),
        ("Ports", "PORTS"),
        ("State", "STATE"),
        ("Status", "STATUS"),
        ("Size", "SIZE"),
        ("Names", "NAMES"),
        ("Labels", "LABELS"),
        ("Mounts", "MOUNTS"),
        ("Networks", "NETWORKS"),
        ("LocalVolumes", "LOCAL VOLUMES"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

pub fn render_ps(rows: &[ContainerRow], a: &PsArgs, now: f64) -> anyhow::Result<String> {
    let trunc = !a.no_trunc;
    let format = if a.quiet {
        "{{.ID}}".to_string()
    } else {
        match a.format.as_deref() {
            None | Some("") | Some("table") => {
                if a.size {
                    format!("{PS_TABLE}\t{{{{.Size}}}}")
                } else {
                    PS_TABLE.to_string()
                }
            }
            Some(f) => f.to_string(),
        }
    };
    let values: Vec<_> = rows.iter().map(|c| ps_row(c, trunc, now)).collect();
    render_rows(&format, &ps_headers(), &values)
}

pub async fn ps(client: &Client, a: PsArgs) -> anyhow::Result<i32> {
    let mut q = Vec::new();
    let limit = if a.latest { 1 } else { a.last };
    if a.all {
        q.push(("all", "1".to_string()));
    }
    if limit > 0 {
        q.push(("limit", limit.to_string()));
    }
    if a.size {
        q.push(("size", "1".to_string()));
    }
    if let Some(f) = filters_json(&a.filter)? {
        q.push(("filters", f));
    }
    client.ping().await?;
    let rows: Vec<ContainerRow> = client
        .get_json(&format!("/containers/json{}", query(&q)))
        .await?;
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    print!("{}", render_ps(&rows, &a, now)?);
    Ok(0)
}

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all", value_name = "string")]
    pub tail: String,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")
    #[arg(long, value_name = "string")]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative (e.g. "42m")
    #[arg(long, value_name = "string")]
    pub until: Option<String>,
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    pub container: String,
}

/// Go's `time.ParseDuration` for the units a user types (h, m, s, ms, us, ns).
pub fn parse_go_duration(s: &str) -> Option<f64> {
    let mut rest = s;
    let mut total = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if n_end == 0 {
            return None;
        }
        let n: f64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[u_end..];
    }
    Some(total)
}

/// docker's `timetypes.GetTimestamp`: a duration ago, a date, or unix seconds as given.
pub fn get_timestamp(value: &str, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<String> {
    if value != "0" {
        if let Some(d) = parse_go_duration(value) {
            return Ok((now.timestamp() - d as i64).to_string());
        }
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(format!(
            "{}.{:09}",
            t.timestamp(),
            t.timestamp_subsec_nanos()
        ));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d",
    ] {
        let parsed = chrono::NaiveDateTime::parse_from_str(value, f)
            .ok()
            .or_else(|| {
                chrono::NaiveDate::parse_from_str(value, f)
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            });
        if let Some(n) = parsed {
            use chrono::TimeZone;
            if let Some(t) = chrono::Local.from_local_datetime(&n).single() {
                return Ok(format!(
                    "{}.{:09}",
                    t.timestamp(),
                    t.timestamp_subsec_nanos()
                ));
            }
        }
    }
    let (secs, frac) = value.split_once('.').unwrap_or((value, "0"));
    if !value.contains('-') && secs.parse::<i64>().is_ok() && frac.parse::<u64>().is_ok() {
        return Ok(value.to_string());
    }
    anyhow::bail!("failed to parse value as time or duration: {value:?}")
}

pub async fn logs(client: &Client, a: LogsArgs) -> anyhow::Result<i32> {
    client.ping().await?;
    let c: ContainerBrief = client
        .get_json(&format!("/containers/{}/json", seg(&a.container)))
        .await?;
    let now = chrono::Utc::now();
    let mut q = vec![
        ("stderr", "1".to_string()),
        ("stdout", "1".to_string()),
        ("tail", a.tail.clone()),
    ];
    if a.follow {
        q.push(("follow", "1".into()));
    }
    if a.timestamps {
        q.push(("timestamps", "1".into()));
    }
    if a.details {
        q.push(("details", "1".into()));
    }
    if let Some(s) = &a.since {
        q.push(("since", get_timestamp(s, now)?));
    }
    if let Some(u) = &a.until {
        q.push(("until", get_timestamp(u, now)?));
    }
    let resp = client
        .send(
            Method::GET,
            &format!("/containers/{}/logs{}", seg(&c.id), query(&q)),
            None,
            crate::client::empty(),
        )
        .await?;
    let mut body = resp.into_body();
    let mut decoder = OutputDecoder::new(c.config.tty);
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            decoder.feed(&data, &mut StdSink);
        }
    }
    Ok(0)
}

#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Condition to wait for: not-running (default), next-exit or removed (the API's
    /// `condition`, which the docker CLI does not expose)
    #[arg(long, value_name = "string")]
    pub condition: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// How many containers a multi-container verb works on at once, as the docker CLI's
/// `parallelOperation` does for `rm`, `stop`, `kill`, `pause`...
const PARALLEL: usize = 16;

/// Runs `f` for each name, several at a time, printing what each returns in the order the
/// names were given, reporting failures docker-style and exiting 1 if any failed.
pub(crate) async fn for_each<F, Fut>(client: &Client, names: &[String], f: F) -> anyhow::Result<i32>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<String>>,
{
    use futures_util::StreamExt;
    client.ping().await?;
    let mut code = 0;
    let mut results = futures_util::stream::iter(names.iter().cloned().map(&f)).buffered(PARALLEL);
    while let Some(r) = results.next().await {
        match r {
            Ok(line) => println!("{line}"),
            Err(e) => {
                report(&e);
                code = 1;
            }
        }
    }
    Ok(code)
}

pub async fn wait(client: &Client, a: WaitArgs) -> anyhow::Result<i32> {
    let cond = a.condition.clone();
    for_each(client, &a.containers, |n| {
        let cond = cond.clone();
        async move {
            let mut path = format!("/containers/{}/wait", seg(&n));
            if let Some(c) = cond {
                path.push_str(&format!("?condition={}", seg(&c)));
            }
            let resp = client
                .send(Method::POST, &path, None, crate::client::empty())
                .await?;
            let b: WaitBody = crate::client::read_json(resp).await?;
            if let Some(e) = b.error.filter(|e| !e.message.is_empty()) {
                anyhow::bail!(e.message);
            }
            Ok(b.status_code.to_string())
        }
    })
    .await
}

#[derive(Debug, Clone, Args)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short, long, value_name = "string")]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "timeout",
        visible_alias = "time",
        value_name = "int",
        allow_negative_numbers = true
    )]
    pub time: Option<i64>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `stop` and `restart`, which take the same flags and query.
pub async fn stop(client: &Client, a: StopArgs, verb: &str) -> anyhow::Result<i32> {
    let mut q = Vec::new();
    if let Some(s) = &a.signal {
        q.push(("signal", s.clone()));
    }
    if let Some(t) = a.time {
        q.push(("t", t.to_string()));
    }
    let q = query(&q);
    for_each(client, &a.containers, |n| {
        let q = q.clone();
        async move {
            client
                .post(&format!("/containers/{}/{verb}{q}", seg(&n)))
                .await?;
            Ok(n)
        }
    })
    .await
}

#[derive(Debug, Clone, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, value_name = "string")]
    pub signal: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub async fn kill(client: &Client, a: KillArgs) -> anyhow::Result<i32> {
    let q = match &a.signal {
        Some(s) => query(&[("signal", s.clone())]),
        None => String::new(),
    };
    for_each(client, &a.containers, |n| {
        let q = q.clone();
        async move {
            client
                .post(&format!("/containers/{}/kill{q}", seg(&n)))
                .await?;
            Ok(n)
        }
    })
    .await
}

#[derive(Debug, Clone, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    pub volumes: bool,
    /// Remove the specified link
    #[arg(short, long)]
    pub link: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub async fn rm(client: &Client, a: RmArgs) -> anyhow::Result<i32> {
    let mut q = Vec::new();
    if a.force {
        q.push(("force", "1".to_string()));
    }
    if a.link {
        q.push(("link", "1".to_string()));
    }
    if a.volumes {
        q.push(("v", "1".to_string()));
    }
    let q = query(&q);
    for_each(client, &a.containers, |n| {
        let q = q.clone();
        async move {
            client
                .delete(&format!("/containers/{}{q}", seg(&n)))
                .await?;
            Ok(n)
        }
    })
    .await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ObjectType {
    Container,
    Image,
    Network,
    Volume,
}

/// The docker CLI's generic lookup order (swarm objects and plugins left out).
const INSPECT_ORDER: [ObjectType; 4] = [
    ObjectType::Container,
    ObjectType::Image,
    ObjectType::Network,
    ObjectType::Volume,
];

#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long, value_name = "string")]
    pub format: Option<String>,
    /// Return JSON for specified type
    #[arg(long = "type", value_enum)]
    pub kind: Option<ObjectType>,
    /// Display total file sizes if the type is container
    #[arg(short, long)]
    pub size: bool,
    #[arg(required = true, value_name = "NAME|ID")]
    pub names: Vec<String>,
}

/// The object of the first kind that has `name`; with a `--type`, that kind's error
/// as the daemon words it.
async fn inspect_one(
    client: &Client,
    name: &str,
    kind: Option<ObjectType>,
    size: bool,
) -> anyhow::Result<Option<bytes::Bytes>> {
    for k in INSPECT_ORDER {
        if kind.is_some_and(|want| want != k) {
            continue;
        }
        let path = match k {
            ObjectType::Container => {
                let q = if size { "?size=1" } else { "" };
                format!("/containers/{}/json{q}", seg(name))
            }
            ObjectType::Image => format!("/images/{}/json", seg(name)),
            ObjectType::Network => format!("/networks/{}", seg(name)),
            ObjectType::Volume => format!("/volumes/{}", seg(name)),
        };
        match client.get_raw(&path).await {
            Ok(b) => {
                if size && k != ObjectType::Container {
                    let what = format!("{k:?}").to_lowercase();
                    eprintln!("WARNING: --size ignored for {what}");
                }
                return Ok(Some(b));
            }
            Err(e) if kind.is_none() && is_not_found(&e) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Default inspect output: the daemon's objects as one JSON array, 4-space indented with
/// the keys in the daemon's order (docker's `json.Indent`).
pub fn inspect_array(objects: &[bytes::Bytes]) -> String {
    let mut raw = Vec::from(&b"["[..]);
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            raw.push(b',');
        }
        raw.extend_from_slice(o.trim_ascii());
    }
    raw.push(b']');
    json_indent(&raw, "    ")
}

/// What every `inspect` prints for the objects found: each through `--format`, or all as
/// [`inspect_array`].
pub fn print_inspected(found: &[bytes::Bytes], format: Option<&str>) -> anyhow::Result<()> {
    match format {
        Some(f) if !f.is_empty() => {
            for b in found {
                let v: serde_json::Value = serde_json::from_slice(b)?;
                println!("{}", render_json(f, &v)?);
            }
        }
        _ => println!("{}", inspect_array(found)),
    }
    Ok(())
}

pub async fn inspect(client: &Client, a: InspectArgs) -> anyhow::Result<i32> {
    client.ping().await?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for n in &a.names {
        match inspect_one(client, n, a.kind, a.size).await {
            Ok(Some(b)) => found.push(b),
            // As the docker CLI: not found as any kind, or the daemon's word for one.
            Ok(None) => errors.push(format!("Error: No such object: {n}")),
            Err(e) if crate::client::api_error(&e).is_some() => errors.push(e.to_string()),
            Err(e) => return Err(e),
        }
    }
    print_inspected(&found, a.format.as_deref())?;
    for e in &errors {
        eprintln!("{e}");
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct P {
        #[command(flatten)]
        a: PsArgs,
    }

    fn ps_args(argv: &[&str]) -> PsArgs {
        P::try_parse_from(std::iter::once("ps").chain(argv.iter().copied()))
            .unwrap()
            .a
    }

    fn trace_rows() -> Vec<ContainerRow> {
        let body = r#"[{"Id":"01e16c49631c28433362f8cd38c1264d84ca85f5c7828bde33b0927437ffeac0","Names":["/research-trace-d"],"Image":"busybox","ImageID":"sha256:c5d0e22aaf7a","Command":"sleep 300","Created":1795948968,"Ports":[],"Labels":{},"State":"running","Status":"Up Less than a second","HostConfig":{"NetworkMode":"default"},"NetworkSettings":{"Networks":{"bridge":{}}},"Mounts":[]},{"Id":"d7cbb76153886cf8e8ce4e6f2f374dcce35fae3ce4818408508454adc4012bb7","Names":["/hx-22-logs-follow-916110-a"],"Image":"busybox","Command":"sh -c 'echo early; sleep 2; echo late; sleep 60'","Created":1795948968,"State":"running","Status":"Up Less than a second"}]"#;
        serde_json::from_str(body).unwrap()
    }

    #[test]
    fn ps_table_like_docker() {
        let out = render_ps(&trace_rows(), &ps_args(&[]), 1795948969.2).unwrap();
        let want = "CONTAINER ID   IMAGE     COMMAND                  CREATED        STATUS                  PORTS     NAMES\n\
                    01e16c49631c   busybox   \"sleep 300\"              1 second ago   Up Less than a second             research-trace-d\n\
                    d7cbb7615388   busybox   \"sh -c 'echo early; …\"   1 second ago   Up Less than a second             hx-22-logs-follow-916110-a\n";
        assert_eq!(out, want);
    }

    #[test]
    fn ps_format_quiet_and_no_trunc() {
        let rows = trace_rows();
        let a = ps_args(&[
            "-a",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.Names}} {{.Status}}",
        ]);
        let out = render_ps(&rows[..1], &a, 1795948969.0).unwrap();
        assert_eq!(
            out,
            "01e16c49631c28433362f8cd38c1264d84ca85f5c7828bde33b0927437ffeac0 research-trace-d Up Less than a second\n"
        );
        let out = render_ps(&rows, &ps_args(&["-q"]), 0.0).unwrap();
        assert_eq!(out, "01e16c49631c\nd7cbb7615388\n");
        let empty = render_ps(&[], &ps_args(&[]), 0.0).unwrap();
        assert_eq!(
            empty,
            "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"
        );
    }

    #[test]
    fn ps_filters_and_ports() {
        assert_eq!(
            filters_json(&["name=research-trace".into()])
                .unwrap()
                .unwrap(),
            r#"{"name":{"research-trace":true}}"#
        );
        assert!(filters_json(&["bad".into()]).is_err());
        let c: ContainerRow = serde_json::from_str(
            r#"{"Ports":[{"IP":"127.0.0.1","PrivatePort":80,"PublicPort":18089,"Type":"tcp"},{"PrivatePort":53,"Type":"udp"}]}"#,
        )
        .unwrap();
        assert_eq!(display_ports(&c), "53/udp, 127.0.0.1:18089->80/tcp");
    }

    #[test]
    fn timestamps_for_logs() {
        let now = chrono::DateTime::from_timestamp(1_000_000, 0).unwrap();
        assert_eq!(get_timestamp("10m", now).unwrap(), "999400");
        assert_eq!(
            get_timestamp("1h30m", now).unwrap(),
            (1_000_000 - 5400).to_string()
        );
        assert_eq!(
            get_timestamp("2013-01-02T13:23:37Z", now).unwrap(),
            "1357133017.000000000"
        );
        assert_eq!(get_timestamp("1357133017", now).unwrap(), "1357133017");
        assert_eq!(get_timestamp("1357133017.5", now).unwrap(), "1357133017.5");
        assert!(get_timestamp("yesterday", now).is_err());
    }

    #[test]
    fn inspect_array_output() {
        let objs = vec![bytes::Bytes::from_static(
            b"{\"Id\":\"x\",\"State\":{\"Running\":true}}\n",
        )];
        assert_eq!(
            inspect_array(&objs),
            "[\n    {\n        \"Id\": \"x\",\n        \"State\": {\n            \"Running\": true\n        }\n    }\n]"
        );
        assert_eq!(inspect_array(&[]), "[]");
    }
}
