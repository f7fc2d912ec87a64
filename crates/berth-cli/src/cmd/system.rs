//! `version`, `info` and `system df`.

use crate::client::Client;
use crate::template::{render_json, string_map};
use clap::Args;
use serde_json::{json, Value};

#[derive(Debug, Clone, Args)]
pub struct VersionArgs {
    /// Format output using a custom template
    #[arg(short, long, value_name = "string")]
    pub format: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct InfoArgs {
    /// Format output using a custom template
    #[arg(short, long, value_name = "string")]
    pub format: Option<String>,
}

fn client_info(host: &str) -> Value {
    json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": berth_model::api::API_VERSION,
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
        "Context": "default",
        "Host": host,
    })
}

/// Go's GOARCH names, which docker prints and scripts match on.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

pub fn render_version(client: &Value, server: Option<&Value>) -> String {
    let mut out = format!(
        "Client:\n Version:           {}\n API version:       {}\n OS/Arch:           {}/{}\n Context:           {}\n",
        s(client, "Version"),
        s(client, "ApiVersion"),
        s(client, "Os"),
        s(client, "Arch"),
        s(client, "Context"),
    );
    let Some(server) = server else { return out };
    let platform = server.get("Platform").map(|p| s(p, "Name")).unwrap_or("");
    out.push_str(&format!("\nServer: {platform}\n").replace(": \n", ":\n"));
    let components = server
        .get("Components")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if components.is_empty() {
        out.push_str(&format!(
            " Engine:\n  Version:          {}\n  API version:      {} (minimum version {})\n  OS/Arch:          {}/{}\n",
            s(server, "Version"),
            s(server, "ApiVersion"),
            s(server, "MinAPIVersion"),
            s(server, "Os"),
            s(server, "Arch"),
        ));
    }
    for c in &components {
        let details = c.get("Details").cloned().unwrap_or(Value::Null);
        if s(c, "Name") == "Engine" {
            out.push_str(&format!(
                " Engine:\n  Version:          {}\n  API version:      {} (minimum version {})\n  Git commit:       {}\n  OS/Arch:          {}/{}\n  Experimental:     {}\n",
                s(c, "Version"),
                s(&details, "ApiVersion"),
                s(&details, "MinAPIVersion"),
                s(&details, "GitCommit"),
                s(&details, "Os"),
                s(&details, "Arch"),
                details.get("Experimental").and_then(Value::as_str).unwrap_or("false"),
            ));
        } else {
            out.push_str(&format!(
                " {}:\n  Version:          {}\n",
                s(c, "Name"),
                s(c, "Version")
            ));
            if let Some(g) = details.get("GitCommit").and_then(Value::as_str) {
                out.push_str(&format!("  GitCommit:        {g}\n"));
            }
        }
    }
    out
}

pub async fn version(client: &Client, a: VersionArgs) -> anyhow::Result<i32> {
    let ci = client_info(client.host());
    let server = match client.get_json::<Value>("/version").await {
        Ok(v) => Some(v),
        Err(e) => {
            print!("{}", render_version(&ci, None));
            return Err(e);
        }
    };
    match a.format {
        Some(f) => println!(
            "{}",
            render_json(&f, &json!({"Client": ci, "Server": server}))?
        ),
        None => print!("{}", render_version(&ci, server.as_ref())),
    }
    Ok(0)
}

fn line(o: &mut String, indent: usize, k: &str, v: String) {
    let sep = if v.is_empty() { "" } else { " " };
    o.push_str(&format!("{}{k}:{sep}{v}\n", " ".repeat(indent)));
}

fn num(v: &Value, k: &str) -> i64 {
    v.get(k).and_then(Value::as_i64).unwrap_or(0)
}

/// docker's human `info` layout, limited to the fields berthd reports.
pub fn render_info(i: &Value) -> String {
    let mut o = String::from("Client:\n Version:    ");
    o.push_str(env!("CARGO_PKG_VERSION"));
    o.push_str("\n Context:    default\n Debug Mode: false\n\nServer:\n");
    line(&mut o, 1, "Containers", num(i, "Containers").to_string());
    line(
        &mut o,
        2,
        "Running",
        num(i, "ContainersRunning").to_string(),
    );
    line(&mut o, 2, "Paused", num(i, "ContainersPaused").to_string());
    line(
        &mut o,
        2,
        "Stopped",
        num(i, "ContainersStopped").to_string(),
    );
    line(&mut o, 1, "Images", num(i, "Images").to_string());
    line(
        &mut o,
        1,
        "Server Version",
        s(i, "ServerVersion").to_string(),
    );
    line(&mut o, 1, "Storage Driver", s(i, "Driver").to_string());
    for pair in i
        .get("DriverStatus")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some([k, v]) = pair.as_array().map(Vec::as_slice) {
            line(
                &mut o,
                2,
                k.as_str().unwrap_or(""),
                v.as_str().unwrap_or("").to_string(),
            );
        }
    }
    line(
        &mut o,
        1,
        "Logging Driver",
        s(i, "LoggingDriver").to_string(),
    );
    line(&mut o, 1, "Cgroup Driver", s(i, "CgroupDriver").to_string());
    line(
        &mut o,
        1,
        "Cgroup Version",
        s(i, "CgroupVersion").to_string(),
    );
    if let Some(p) = i.get("Plugins").and_then(Value::as_object) {
        line(&mut o, 1, "Plugins", String::new());
        for k in ["Volume", "Network", "Log"] {
            if let Some(list) = p.get(k).and_then(Value::as_array) {
                let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
                line(&mut o, 2, k, names.join(" "));
            }
        }
    }
    if let Some(r) = i.get("Runtimes").and_then(Value::as_object) {
        line(
            &mut o,
            1,
            "Runtimes",
            r.keys().cloned().collect::<Vec<_>>().join(" "),
        );
    }
    line(
        &mut o,
        1,
        "Default Runtime",
        s(i, "DefaultRuntime").to_string(),
    );
    if let Some(opts) = i.get("SecurityOptions").and_then(Value::as_array) {
        o.push_str(" Security Options:\n");
        for opt in opts.iter().filter_map(Value::as_str) {
            // `name=seccomp,profile=default` prints as "seccomp" then "Profile: default".
            let mut parts = opt.split(',');
            let name = parts.next().unwrap_or("").trim_start_matches("name=");
            o.push_str(&format!("  {name}\n"));
            for kv in parts {
                if let Some((k, v)) = kv.split_once('=') {
                    let mut k = k.to_string();
                    if let Some(f) = k.get_mut(0..1) {
                        f.make_ascii_uppercase();
                    }
                    o.push_str(&format!("   {k}: {v}\n"));
                }
            }
        }
    }
    line(
        &mut o,
        1,
        "Kernel Version",
        s(i, "KernelVersion").to_string(),
    );
    line(
        &mut o,
        1,
        "Operating System",
        s(i, "OperatingSystem").to_string(),
    );
    line(&mut o, 1, "OSType", s(i, "OSType").to_string());
    line(&mut o, 1, "Architecture", s(i, "Architecture").to_string());
    line(&mut o, 1, "CPUs", num(i, "NCPU").to_string());
    line(
        &mut o,
        1,
        "Total Memory",
        human_binary(num(i, "MemTotal") as f64),
    );
    line(&mut o, 1, "Name", s(i, "Name").to_string());
    line(&mut o, 1, "ID", s(i, "ID").to_string());
    line(
        &mut o,
        1,
        "Berth Root Dir",
        s(i, "DockerRootDir").to_string(),
    );
    line(
        &mut o,
        1,
        "Debug Mode",
        i.get("Debug")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            .to_string(),
    );
    line(
        &mut o,
        1,
        "Experimental",
        i.get("ExperimentalBuild")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            .to_string(),
    );
    line(
        &mut o,
        1,
        "Live Restore Enabled",
        i.get("LiveRestoreEnabled")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            .to_string(),
    );
    o.push('\n');
    o
}

/// go-units `BytesSize` (binary units, 4 significant digits), for "Total Memory".
pub fn human_binary(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut size = size;
    let mut i = 0;
    while size >= 1024.0 && i < UNITS.len() - 1 {
        size /= 1024.0;
        i += 1;
    }
    format!("{}{}", crate::format::go_g(size, 4), UNITS[i])
}

pub async fn info(client: &Client, a: InfoArgs) -> anyhow::Result<i32> {
    client.ping().await?;
    let i: Value = client.get_json("/info").await?;
    match a.format {
        Some(f) => println!("{}", render_json(&f, &i)?),
        None => print!("{}", render_info(&i)),
    }
    Ok(0)
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum SystemCmd {
    /// Show docker disk usage
    Df(DfArgs),
    /// Display system-wide information
    Info(InfoArgs),
    /// Remove unused data
    Prune(crate::cmd::prune::SystemPruneArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short, long)]
    pub verbose: bool,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go
    /// template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
}

pub async fn system(client: &Client, c: SystemCmd) -> anyhow::Result<i32> {
    match c {
        SystemCmd::Df(a) => df(client, a).await,
        SystemCmd::Info(a) => info(client, a).await,
        SystemCmd::Prune(a) => crate::cmd::prune::system_prune(client, a).await,
    }
}

pub async fn df(client: &Client, a: DfArgs) -> anyhow::Result<i32> {
    client.ping().await?;
    let du: Value = client.get_json("/system/df").await?;
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    print!("{}", render_df(&du, &a, now)?);
    Ok(0)
}

const DF_TABLE: &str = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
const DF_RAW: &str = "type: {{.Type}}\ntotal: {{.TotalCount}}\nactive: {{.Active}}\nsize: {{.Size}}\nreclaimable: {{.Reclaimable}}\n";
const DF_IMAGES: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}";
const DF_CONTAINERS: &str = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}";
const DF_VOLUMES: &str = "table {{.Name}}\t{{.Links}}\t{{.Size}}";
const DF_BUILD_CACHE: &str = "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}";

fn headers(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

fn list<'a>(du: &'a Value, k: &str) -> &'a [Value] {
    du.get(k)
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
}

/// The docker CLI's `HumanSize` (4 significant digits).
fn hs(n: i64) -> String {
    crate::format::human_size(n as f64, 4)
}

/// "1.2MB (50%)" when there is a total to take a share of, else just the size.
fn share(part: i64, total: i64) -> String {
    if total > 0 {
        format!("{} ({}%)", hs(part), part * 100 / total)
    } else {
        hs(part)
    }
}

fn rw(c: &Value) -> i64 {
    num(c, "SizeRw")
}

fn vol_size(v: &Value) -> i64 {
    v.get("UsageData").map_or(-1, |u| num(u, "Size")).max(0)
}

fn vol_refs(v: &Value) -> i64 {
    v.get("UsageData").map_or(0, |u| num(u, "RefCount"))
}

fn container_active(c: &Value) -> bool {
    let st = s(c, "State");
    st.contains("running") || st.contains("paused") || st.contains("restarting")
}

/// The four summary rows, with the docker CLI's arithmetic.
fn df_summary(du: &Value) -> Vec<gotmpl::Value> {
    let images = list(du, "Images");
    let layers = num(du, "LayersSize");
    let active_images = images.iter().filter(|i| num(i, "Containers") > 0).count();
    let used: i64 = images
        .iter()
        .filter(|i| num(i, "Containers") != 0)
        .filter(|i| num(i, "Size") != -1 && num(i, "SharedSize") != -1)
        .map(|i| num(i, "Size") - num(i, "SharedSize"))
        .sum();
    let containers = list(du, "Containers");
    let total_rw: i64 = containers.iter().map(rw).sum();
    let idle_rw: i64 = containers
        .iter()
        .filter(|c| !container_active(c))
        .map(rw)
        .sum();
    let volumes = list(du, "Volumes");
    let vol_total: i64 = volumes.iter().map(vol_size).sum();
    let vol_idle: i64 = volumes
        .iter()
        .filter(|v| vol_refs(v) == 0)
        .map(vol_size)
        .sum();
    let cache = list(du, "BuildCache");
    let builder = num(du, "BuilderSize");
    let in_use: i64 = cache
        .iter()
        .filter(|c| c.get("InUse") == Some(&Value::Bool(true)))
        .filter(|c| c.get("Shared") != Some(&Value::Bool(true)))
        .map(|c| num(c, "Size"))
        .sum();
    let row = |t: &str, total: usize, active: usize, size: String, reclaimable: String| {
        string_map(&[
            ("Type", t.to_string()),
            ("TotalCount", total.to_string()),
            ("Active", active.to_string()),
            ("Size", size),
            ("Reclaimable", reclaimable),
        ])
    };
    vec![
        row(
            "Images",
            images.len(),
            active_images,
            hs(layers),
            share(layers - used, layers),
        ),
        row(
            "Containers",
            containers.len(),
            containers.iter().filter(|c| container_active(c)).count(),
            hs(total_rw),
            share(idle_rw, total_rw),
        ),
        row(
            "Local Volumes",
            volumes.len(),
            volumes.iter().filter(|v| vol_refs(v) > 0).count(),
            hs(vol_total),
            share(vol_idle, vol_total),
        ),
        row(
            "Build Cache",
            cache.len(),
            cache
                .iter()
                .filter(|c| c.get("InUse") == Some(&Value::Bool(true)))
                .count(),
            hs(builder),
            hs(builder - in_use),
        ),
    ]
}

/// One `-v` image row: the first tag only, as the docker CLI shows it.
fn df_image_row(i: &Value, trunc: bool, now: f64) -> gotmpl::Value {
    let tags: Vec<&str> = i
        .get("RepoTags")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let digests: Vec<&str> = i
        .get("RepoDigests")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let dangling = tags == ["<none>:<none>"] && digests == ["<none>@<none>"];
    let (repo, tag) = match tags.first() {
        Some(t) if !dangling => crate::cmd::image::split_repo_tag(t),
        _ => ("<none>".to_string(), "<none>".to_string()),
    };
    let id = s(i, "Id");
    let (size, shared, containers) = (num(i, "Size"), num(i, "SharedSize"), num(i, "Containers"));
    let created = num(i, "Created");
    string_map(&[
        (
            "ID",
            if trunc {
                crate::format::short_id(id)
            } else {
                id.to_string()
            },
        ),
        ("Repository", repo),
        ("Tag", tag),
        (
            "CreatedSince",
            format!(
                "{} ago",
                crate::format::human_duration((now - created as f64).max(0.0))
            ),
        ),
        ("CreatedAt", crate::format::created_at(created)),
        ("Size", crate::format::human_size(size as f64, 3)),
        ("VirtualSize", hs(size)),
        (
            "SharedSize",
            if shared == -1 {
                "N/A".into()
            } else {
                hs(shared)
            },
        ),
        (
            "UniqueSize",
            if size == -1 || shared == -1 {
                "N/A".into()
            } else {
                hs(size - shared)
            },
        ),
        (
            "Containers",
            if containers == -1 {
                "N/A".into()
            } else {
                containers.to_string()
            },
        ),
    ])
}

fn df_image_headers() -> Vec<(&'static str, String)> {
    headers(&[
        ("ID", "IMAGE ID"),
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("Size", "SIZE"),
        ("VirtualSize", "VIRTUAL SIZE"),
        ("SharedSize", "SHARED SIZE"),
        ("UniqueSize", "UNIQUE SIZE"),
        ("Containers", "CONTAINERS"),
    ])
}

fn df_container_rows(du: &Value, trunc: bool, now: f64) -> anyhow::Result<Vec<gotmpl::Value>> {
    let mut rows = Vec::new();
    for c in list(du, "Containers") {
        let mut row: crate::types::ContainerRow = serde_json::from_value(c.clone())?;
        // Verbose df leaves the virtual size out.
        row.size_root_fs = None;
        row.size_rw = Some(row.size_rw.unwrap_or(0));
        rows.push(crate::cmd::container::ps_row(&row, trunc, now));
    }
    Ok(rows)
}

/// `system df -v` volume rows: name, how many containers use it, its size.
fn df_volume_rows(du: &Value) -> Vec<gotmpl::Value> {
    list(du, "Volumes")
        .iter()
        .map(|v| {
            let size = v.get("UsageData").map_or(-1, |u| num(u, "Size"));
            string_map(&[
                ("Name", s(v, "Name").to_string()),
                ("Links", vol_refs(v).to_string()),
                ("Size", if size < 0 { "N/A".into() } else { hs(size) }),
                ("Driver", s(v, "Driver").to_string()),
                ("Mountpoint", s(v, "Mountpoint").to_string()),
            ])
        })
        .collect()
}

pub fn render_df(du: &Value, a: &DfArgs, now: f64) -> anyhow::Result<String> {
    let format = a.format.as_deref().unwrap_or("");
    if !a.verbose {
        let format = match format {
            "" | "table" => DF_TABLE,
            "json" => "{{json .}}",
            "raw" => DF_RAW,
            f => f,
        };
        let h = headers(&[
            ("Type", "TYPE"),
            ("TotalCount", "TOTAL"),
            ("Active", "ACTIVE"),
            ("Size", "SIZE"),
            ("Reclaimable", "RECLAIMABLE"),
        ]);
        return crate::template::render_rows(format, &h, &df_summary(du));
    }
    let trunc = matches!(format, "" | "table") || format.starts_with("table ");
    let images: Vec<_> = list(du, "Images")
        .iter()
        .map(|i| df_image_row(i, trunc, now))
        .collect();
    let containers = df_container_rows(du, trunc, now)?;
    if !matches!(format, "" | "table") {
        // A template over the four lists, as the docker CLI runs it.
        let format = if format == "json" {
            "{{json .}}"
        } else {
            format
        };
        let list = |v: Vec<gotmpl::Value>| gotmpl::Value::List(v.into());
        let data = gotmpl::Value::Map(std::sync::Arc::new(
            [
                ("Images", list(images)),
                ("Containers", list(containers)),
                ("Volumes", list(df_volume_rows(du))),
                ("BuildCache", list(Vec::new())),
            ]
            .into_iter()
            .map(|(k, v)| (std::sync::Arc::<str>::from(k), v))
            .collect(),
        ));
        let (_, body) = crate::template::split_table(format);
        let mut out = crate::template::render(&crate::template::parse(&body)?, &data)?;
        out.push('\n');
        return Ok(out);
    }
    let mut out = String::from("Images space usage:\n\n");
    out += &crate::template::render_rows(DF_IMAGES, &df_image_headers(), &images)?;
    out += "\nContainers space usage:\n\n";
    out += &crate::template::render_rows(
        DF_CONTAINERS,
        &crate::cmd::container::ps_headers(),
        &containers,
    )?;
    out += "\nLocal Volumes space usage:\n\n";
    out += &crate::template::render_rows(
        DF_VOLUMES,
        &headers(&[
            ("Name", "VOLUME NAME"),
            ("Links", "LINKS"),
            ("Size", "SIZE"),
        ]),
        &df_volume_rows(du),
    )?;
    out += &format!("\nBuild cache usage: {}\n\n", hs(num(du, "BuilderSize")));
    out += &crate::template::render_rows(
        DF_BUILD_CACHE,
        &headers(&[
            ("ID", "CACHE ID"),
            ("CacheType", "CACHE TYPE"),
            ("Size", "SIZE"),
            ("CreatedSince", "CREATED"),
            ("LastUsedSince", "LAST USED"),
            ("UsageCount", "USAGE"),
            ("Shared", "SHARED"),
        ]),
        &[],
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_summary() {
        let i = json!({"Containers":2,"ContainersRunning":1,"ContainersPaused":0,"ContainersStopped":1,"Images":4,"Driver":"overlay2","DriverStatus":[["Backing Filesystem","extfs"]],"SecurityOptions":["name=seccomp,profile=default"],"NCPU":2,"MemTotal":25276059648u64,"Name":"vm","ServerVersion":"0.1.0"});
        let out = render_info(&i);
        assert!(
            out.contains(
                "Server:\n Containers: 2\n  Running: 1\n  Paused: 0\n  Stopped: 1\n Images: 4\n"
            ),
            "{out}"
        );
        assert!(out.contains(" Storage Driver: overlay2\n  Backing Filesystem: extfs\n"));
        assert!(
            out.contains(" Security Options:\n  seccomp\n   Profile: default\n"),
            "{out}"
        );
        assert!(out.contains(" Total Memory: 23.54GiB\n"), "{out}");
    }

    #[test]
    fn version_sections() {
        let server = json!({"Components":[{"Name":"Engine","Version":"0.1.0","Details":{"ApiVersion":"1.41","MinAPIVersion":"1.24","Os":"linux","Arch":"amd64","GitCommit":"abc"}}],"Version":"0.1.0"});
        let out = render_version(&client_info("unix:///x"), Some(&server));
        assert!(out.contains("Server:\n Engine:\n  Version:          0.1.0\n  API version:      1.41 (minimum version 1.24)\n"), "{out}");
    }

    fn du() -> Value {
        json!({
            "LayersSize": 3_000_000,
            "Images": [
                {"Id": "sha256:aaaaaaaaaaaaaaaaaaaa", "Created": 100, "RepoTags": ["busybox:latest", "b:1"],
                 "RepoDigests": [], "Size": 2_000_000, "SharedSize": 1_000_000, "Containers": 1},
                {"Id": "sha256:bbbbbbbbbbbbbbbbbbbb", "Created": 100, "RepoTags": ["<none>:<none>"],
                 "RepoDigests": ["<none>@<none>"], "Size": 2_000_000, "SharedSize": 1_000_000, "Containers": 0}
            ],
            "Containers": [
                {"Id": "cccccccccccccccccccc", "Names": ["/c1"], "Image": "busybox", "ImageID": "sha256:aaaaaaaaaaaaaaaaaaaa",
                 "Command": "sh", "Created": 100, "State": "running", "Status": "Up 1 second",
                 "SizeRw": 1500, "SizeRootFs": 2_001_500, "Mounts": []},
                {"Id": "dddddddddddddddddddd", "Names": ["/c2"], "Image": "busybox", "ImageID": "sha256:aaaaaaaaaaaaaaaaaaaa",
                 "Command": "true", "Created": 100, "State": "exited", "Status": "Exited (0) 1 second ago",
                 "SizeRw": 500, "SizeRootFs": 2_000_500, "Mounts": []}
            ],
            "Volumes": [],
            "BuildCache": null,
            "BuilderSize": 0
        })
    }

    fn df_args(verbose: bool, format: Option<&str>) -> DfArgs {
        DfArgs {
            verbose,
            format: format.map(str::to_string),
        }
    }

    #[test]
    fn df_summary_table() {
        let out = render_df(&du(), &df_args(false, None), 200.0).unwrap();
        // Images: 3MB of layers, the active image holds 2MB - 1MB shared = 1MB.
        assert_eq!(
            out,
            "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n\
             Images          2         1         3MB       2MB (66%)\n\
             Containers      2         1         2kB       500B (25%)\n\
             Local Volumes   0         0         0B        0B\n\
             Build Cache     0         0         0B        0B\n"
        );
        let out = render_df(&du(), &df_args(false, Some("{{.Type}}: {{.Size}}")), 0.0).unwrap();
        assert_eq!(
            out,
            "Images: 3MB\nContainers: 2kB\nLocal Volumes: 0B\nBuild Cache: 0B\n"
        );
        let out = render_df(&du(), &df_args(false, Some("json")), 0.0).unwrap();
        let first: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        assert_eq!(first["Reclaimable"], "2MB (66%)");
    }

    #[test]
    fn df_verbose_tables() {
        let out = render_df(&du(), &df_args(true, None), 160.0).unwrap();
        assert!(out.starts_with("Images space usage:\n\nREPOSITORY   TAG       IMAGE ID       CREATED              SIZE      SHARED SIZE   UNIQUE SIZE   CONTAINERS\nbusybox      latest    aaaaaaaaaaaa   About a minute ago   2MB       1MB           1MB           1\n<none>       <none>    bbbbbbbbbbbb"), "{out}");
        assert!(out.contains("\nContainers space usage:\n\nCONTAINER ID   IMAGE     COMMAND   LOCAL VOLUMES   SIZE      CREATED              STATUS                    NAMES\ncccccccccccc   busybox   \"sh\"      0               1.5kB     About a minute ago   Up 1 second               c1\n"), "{out}");
        assert!(out.ends_with("\nLocal Volumes space usage:\n\nVOLUME NAME   LINKS     SIZE\n\nBuild cache usage: 0B\n\nCACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED\n"), "{out}");
    }
}
