//! `berth stats`: the docker CLI's table of CPU, memory, network, block I/O and PIDs per
//! container, computed from the daemon's samples as the docker CLI computes them.

use crate::client::{query, seg, Client};
use crate::format::{go_g, human_size, short_id};
use crate::template::{render_rows, string_map};
use crate::types::ContainerRow;
use berth_model::api::StatsResponse;
use clap::Args;
use http_body_util::BodyExt;
use hyper::Method;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Format output using a custom template:
    /// 'table':            Print output in table format with column headers (default)
    /// 'table TEMPLATE':   Print output in table format using the given Go template
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template.
    #[arg(long, value_name = "string", verbatim_doc_comment)]
    pub format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub const STATS_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// One row as the docker CLI's `StatsEntry` holds it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    /// What the user named (or the ID when listing).
    pub container: String,
    pub name: String,
    pub id: String,
    pub cpu_percent: f64,
    pub memory: f64,
    pub memory_limit: f64,
    pub memory_percent: f64,
    pub net_rx: f64,
    pub net_tx: f64,
    pub block_read: f64,
    pub block_write: f64,
    pub pids: u64,
    /// Set when the daemon could not be asked; the row shows `--`.
    pub invalid: bool,
}

/// go-units `BytesSize`: binary units, `%.4g`.
pub fn bytes_size(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut size = size;
    let mut i = 0;
    while size >= 1024.0 && i < UNITS.len() - 1 {
        size /= 1024.0;
        i += 1;
    }
    format!("{}{}", go_g(size, 4), UNITS[i])
}

/// The docker CLI's `calculateCPUPercentUnix`: the container's share of the host's CPU
/// time between the two samples, times the CPUs.
fn cpu_percent(s: &StatsResponse) -> f64 {
    let cpu_delta =
        s.cpu_stats.cpu_usage.total_usage as f64 - s.precpu_stats.cpu_usage.total_usage as f64;
    let system_delta = s.cpu_stats.system_cpu_usage as f64 - s.precpu_stats.system_cpu_usage as f64;
    let mut cpus = f64::from(s.cpu_stats.online_cpus);
    if cpus == 0.0 {
        cpus = s
            .cpu_stats
            .cpu_usage
            .percpu_usage
            .as_ref()
            .map_or(0, Vec::len) as f64;
    }
    if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * cpus * 100.0
    } else {
        0.0
    }
}

/// `calculateMemUsageUnixNoCache`: usage without the inactive file cache
/// (`total_inactive_file` on v1, `inactive_file` on v2).
fn mem_usage(s: &StatsResponse) -> f64 {
    let m = &s.memory_stats;
    if let Some(v) = m.stats.get("total_inactive_file") {
        if *v < m.usage {
            return (m.usage - v) as f64;
        }
    }
    match m.stats.get("inactive_file") {
        Some(v) if *v < m.usage => (m.usage - v) as f64,
        _ => m.usage as f64,
    }
}

pub fn entry(container: &str, s: &StatsResponse) -> Entry {
    let memory = mem_usage(s);
    let limit = s.memory_stats.limit as f64;
    let (mut read, mut write) = (0.0, 0.0);
    for e in s.blkio_stats.io_service_bytes_recursive.iter().flatten() {
        match e.op.to_ascii_lowercase().as_str() {
            "read" => read += e.value as f64,
            "write" => write += e.value as f64,
            _ => {}
        }
    }
    let (mut rx, mut tx) = (0.0, 0.0);
    for n in s.networks.iter().flat_map(|m| m.values()) {
        rx += n.rx_bytes as f64;
        tx += n.tx_bytes as f64;
    }
    Entry {
        container: container.to_string(),
        name: s.name.clone(),
        id: s.id.clone(),
        cpu_percent: cpu_percent(s),
        memory,
        memory_limit: limit,
        memory_percent: if limit != 0.0 {
            memory / limit * 100.0
        } else {
            0.0
        },
        net_rx: rx,
        net_tx: tx,
        block_read: read,
        block_write: write,
        pids: s.pids_stats.current,
        invalid: false,
    }
}

/// The template context of a row, with the docker CLI's field names and formatting.
pub fn row(e: &Entry, trunc: bool) -> gotmpl::Value {
    let dash = |v: String| if e.invalid { "--".to_string() } else { v };
    let name = e.name.strip_prefix('/').unwrap_or(&e.name);
    let id = if trunc { short_id(&e.id) } else { e.id.clone() };
    string_map(&[
        ("Container", e.container.clone()),
        (
            "Name",
            if name.is_empty() {
                "--".into()
            } else {
                name.into()
            },
        ),
        ("ID", id),
        ("CPUPerc", dash(format!("{:.2}%", e.cpu_percent))),
        (
            "MemUsage",
            dash(format!(
                "{} / {}",
                bytes_size(e.memory),
                bytes_size(e.memory_limit)
            )),
        ),
        ("MemPerc", dash(format!("{:.2}%", e.memory_percent))),
        (
            "NetIO",
            dash(format!(
                "{} / {}",
                human_size(e.net_rx, 3),
                human_size(e.net_tx, 3)
            )),
        ),
        (
            "BlockIO",
            dash(format!(
                "{} / {}",
                human_size(e.block_read, 3),
                human_size(e.block_write, 3)
            )),
        ),
        ("PIDs", dash(e.pids.to_string())),
    ])
}

fn headers() -> Vec<(&'static str, String)> {
    [
        ("Container", "CONTAINER"),
        ("Name", "NAME"),
        ("ID", "CONTAINER ID"),
        ("CPUPerc", "CPU %"),
        ("MemUsage", "MEM USAGE / LIMIT"),
        ("MemPerc", "MEM %"),
        ("NetIO", "NET I/O"),
        ("BlockIO", "BLOCK I/O"),
        ("PIDs", "PIDS"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

/// The whole table (or lines) for these rows; `json` is `{{json .}}` as in the CLI.
pub fn render(entries: &[Entry], format: Option<&str>, trunc: bool) -> anyhow::Result<String> {
    let format = match format {
        None | Some("") | Some("table") => STATS_TABLE,
        Some("json") => "{{json .}}",
        Some(f) => f,
    };
    let rows: Vec<_> = entries.iter().map(|e| row(e, trunc)).collect();
    render_rows(format, &headers(), &rows)
}

/// One `GET /containers/{c}/stats` per container. Without `stream` the daemon answers
/// with one sample (two taken a second apart, so CPU % is meaningful); with it, each line
/// replaces the row's numbers as it arrives.
async fn collect(client: Client, container: String, stream: bool, slot: Arc<Mutex<Entry>>) {
    let q = query(&[("stream", if stream { "1" } else { "0" }.to_string())]);
    let path = format!("/containers/{}/stats{q}", seg(&container));
    let fail = |slot: &Arc<Mutex<Entry>>| {
        if let Ok(mut e) = slot.lock() {
            e.invalid = true;
        }
    };
    let resp = match client
        .send(Method::GET, &path, None, crate::client::empty())
        .await
    {
        Ok(r) => r,
        Err(_) => return fail(&slot),
    };
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return fail(&slot);
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            if let Ok(s) = serde_json::from_slice::<StatsResponse>(&line) {
                if let Ok(mut e) = slot.lock() {
                    *e = entry(&container, &s);
                }
            }
        }
    }
    if let Ok(s) = serde_json::from_slice::<StatsResponse>(&buf) {
        if let Ok(mut e) = slot.lock() {
            *e = entry(&container, &s);
        }
    }
}

pub async fn stats(client: &Client, a: StatsArgs) -> anyhow::Result<i32> {
    // A bad template fails before anything is asked.
    render(&[], a.format.as_deref(), !a.no_trunc)?;
    client.ping().await?;
    let names: Vec<String> = if a.containers.is_empty() {
        let q = if a.all { "?all=1" } else { "" };
        let rows: Vec<ContainerRow> = client.get_json(&format!("/containers/json{q}")).await?;
        rows.into_iter().map(|r| r.id).collect()
    } else {
        // Named containers must exist: docker reports the unknown ones and exits 1.
        let mut out = Vec::new();
        let mut missing = Vec::new();
        for n in &a.containers {
            match client
                .get_raw(&format!("/containers/{}/json", seg(n)))
                .await
            {
                Ok(_) => out.push(n.clone()),
                Err(e) => missing.push(
                    crate::client::api_error(&e)
                        .map_or_else(|| e.to_string(), |ae| ae.message.clone()),
                ),
            }
        }
        if !missing.is_empty() {
            anyhow::bail!("{}", missing.join("\n"));
        }
        out
    };
    let slots: Vec<Arc<Mutex<Entry>>> = names
        .iter()
        .map(|n| {
            Arc::new(Mutex::new(Entry {
                container: n.clone(),
                id: n.clone(),
                ..Default::default()
            }))
        })
        .collect();
    let stream = !a.no_stream;
    let mut tasks = Vec::new();
    for (n, slot) in names.iter().zip(&slots) {
        tasks.push(tokio::spawn(collect(
            client.clone(),
            n.clone(),
            stream,
            slot.clone(),
        )));
    }
    let snapshot = || -> Vec<Entry> {
        slots
            .iter()
            .map(|s| s.lock().map(|e| e.clone()).unwrap_or_default())
            .collect()
    };
    let mut out = std::io::stdout();
    if !stream {
        for t in tasks {
            let _ = t.await;
        }
        out.write_all(render(&snapshot(), a.format.as_deref(), !a.no_trunc)?.as_bytes())?;
        out.flush()?;
        return Ok(0);
    }
    let tty = out.is_terminal();
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tick.tick().await;
        let text = render(&snapshot(), a.format.as_deref(), !a.no_trunc)?;
        // Like docker: home the cursor and clear the screen, then redraw the table.
        if tty {
            out.write_all(b"\x1b[2J\x1b[H")?;
        }
        out.write_all(text.as_bytes())?;
        out.flush()?;
        if tasks.iter().all(|t| t.is_finished()) {
            return Ok(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace_sample() -> StatsResponse {
        let trace =
            std::fs::read_to_string("/work/shared/reference/api-traces/31_events_stats.txt")
                .unwrap();
        let line = trace
            .lines()
            .find(|l| l.starts_with("{\"read\""))
            .unwrap()
            .trim_end_matches("\\n");
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn table_like_the_trace() {
        let e = entry("research-trace-ev", &trace_sample());
        let trace =
            std::fs::read_to_string("/work/shared/reference/api-traces/31_events_stats.txt")
                .unwrap();
        let want: String = trace
            .lines()
            .skip_while(|l| !l.starts_with("#   CONTAINER ID"))
            .take(2)
            .map(|l| format!("{}\n", l.strip_prefix("#   ").unwrap()))
            .collect();
        assert_eq!(render(&[e], None, true).unwrap(), want);
    }

    #[test]
    fn numbers_like_the_docker_cli() {
        assert_eq!(bytes_size(327680.0), "320KiB");
        assert_eq!(bytes_size(25276059648.0), "23.54GiB");
        assert_eq!(bytes_size(0.0), "0B");
        assert_eq!(bytes_size(67108864.0), "64MiB");
        let mut s = trace_sample();
        s.precpu_stats.cpu_usage.total_usage = 0;
        s.precpu_stats.system_cpu_usage = s.cpu_stats.system_cpu_usage - 2_000_000_000;
        s.cpu_stats.cpu_usage.total_usage = 500_000_000;
        // 0.5 s of 2 s of host time on 2 CPUs.
        assert_eq!(format!("{:.2}", cpu_percent(&s)), "50.00");
        let e = entry("x", &s);
        assert_eq!(e.net_rx, 486.0);
        let mut bad = e.clone();
        bad.invalid = true;
        let line = render(&[bad], Some("{{.CPUPerc}} {{.MemUsage}} {{.Name}}"), true).unwrap();
        assert_eq!(line, "-- -- research-trace-ev\n");
    }

    #[test]
    fn formats() {
        let e = entry("ev", &trace_sample());
        let json = render(std::slice::from_ref(&e), Some("json"), true).unwrap();
        let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
        assert_eq!(v["Container"], "ev");
        assert_eq!(v["PIDs"], "1");
        assert_eq!(v["ID"], "cc4b0ab8a7d4");
        assert_eq!(
            json,
            render(std::slice::from_ref(&e), Some("{{json .}}"), true).unwrap()
        );
        let full = render(std::slice::from_ref(&e), Some("{{.ID}}"), false).unwrap();
        assert_eq!(full.trim().len(), 64);
        assert_eq!(
            render(&[e], Some("table {{.Name}}\t{{.PIDs}}"), true).unwrap(),
            "NAME                PIDS\nresearch-trace-ev   1\n"
        );
        assert!(render(&[], Some("{{.Name"), true).is_err());
    }
}
