//! `volume create|ls|inspect|rm|prune`, with the docker CLI's flags, output and exit codes.

use crate::client::{query, seg, Client};
use crate::cmd::container::{filters_json, print_inspected};
use crate::template::{render_rows, string_map};
use clap::{Args, Subcommand};
use hyper::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;

#[derive(Debug, Subcommand)]
pub enum VolumeCmd {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short, long, default_value = "local", value_name = "string")]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long, value_name = "list")]
    pub label: Vec<String>,
    /// Specify volume name
    #[arg(long = "name", value_name = "string")]
    pub name_flag: Option<String>,
    /// Set driver specific options
    #[arg(short, long = "opt", value_name = "map")]
    pub opt: Vec<String>,
    /// [VOLUME]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct LsArgs {
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short, long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Only display volume names
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long, value_name = "string")]
    pub format: Option<String>,
    #[arg(required = true, value_name = "VOLUME")]
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true, value_name = "VOLUME")]
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    pub all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

pub async fn volume(client: &Client, c: VolumeCmd) -> anyhow::Result<i32> {
    match c {
        VolumeCmd::Create(a) => create(client, a).await,
        VolumeCmd::Ls(a) => ls(client, a).await,
        VolumeCmd::Inspect(a) => inspect(client, a).await,
        VolumeCmd::Rm(a) => rm(client, a).await,
        VolumeCmd::Prune(a) => prune(client, a).await,
    }
}

/// `k=v` list flags as a map (a bare `k` has an empty value).
fn kv_map(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

/// The create body exactly as the docker CLI sends it (empty maps left out).
pub fn create_body(a: &CreateArgs) -> anyhow::Result<Value> {
    let name = match (&a.name, &a.name_flag) {
        (Some(n), Some(f)) if n != f => {
            anyhow::bail!(
                "conflicting options: either specify --name or provide positional arg, not both"
            )
        }
        (Some(n), _) | (None, Some(n)) => n.clone(),
        (None, None) => String::new(),
    };
    let mut body = json!({"Driver": a.driver, "Name": name});
    let opts = kv_map(&a.opt);
    if !opts.is_empty() {
        body["DriverOpts"] = json!(opts);
    }
    let labels = kv_map(&a.label);
    if !labels.is_empty() {
        body["Labels"] = json!(labels);
    }
    Ok(body)
}

async fn create(client: &Client, a: CreateArgs) -> anyhow::Result<i32> {
    let body = create_body(&a)?;
    client.ping().await?;
    let v: Value = client.post_json("/volumes/create", &body).await?;
    println!("{}", v["Name"].as_str().unwrap_or_default());
    Ok(0)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VolumeRow {
    name: String,
    driver: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    mountpoint: String,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListReply {
    #[serde(default)]
    volumes: Option<Vec<VolumeRow>>,
    #[serde(default)]
    warnings: Option<Vec<String>>,
}

/// One `ls` row for the templates (`.Name`, `.Driver`, `.Scope`, `.Mountpoint`,
/// `.Labels`, `.Links`, `.Size`).
fn row(v: &VolumeRow) -> gotmpl::Value {
    let labels = v
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    string_map(&[
        ("Name", v.name.clone()),
        ("Driver", v.driver.clone()),
        ("Scope", v.scope.clone()),
        ("Mountpoint", v.mountpoint.clone()),
        ("Labels", labels),
        ("Links", "N/A".into()),
        ("Size", "N/A".into()),
    ])
}

const LS_TABLE: &str = "table {{.Driver}}\t{{.Name}}";

fn headers() -> Vec<(&'static str, String)> {
    vec![
        ("Name", "VOLUME NAME".into()),
        ("Driver", "DRIVER".into()),
        ("Scope", "SCOPE".into()),
        ("Mountpoint", "MOUNTPOINT".into()),
        ("Labels", "LABELS".into()),
        ("Links", "LINKS".into()),
        ("Size", "SIZE".into()),
    ]
}

async fn ls(client: &Client, a: LsArgs) -> anyhow::Result<i32> {
    let mut q = Vec::new();
    if let Some(f) = filters_json(&a.filter)? {
        q.push(("filters", f));
    }
    client.ping().await?;
    let reply: ListReply = client.get_json(&format!("/volumes{}", query(&q))).await?;
    let mut vols = reply.volumes.unwrap_or_default();
    vols.sort_by(|x, y| x.name.cmp(&y.name));
    for w in reply.warnings.iter().flatten() {
        eprintln!("{w}");
    }
    let format = match a.format.as_deref() {
        Some(f) if !f.is_empty() => f.to_string(),
        _ if a.quiet => "{{.Name}}".to_string(),
        _ => LS_TABLE.to_string(),
    };
    let format = if format == "table" {
        LS_TABLE.to_string()
    } else {
        format
    };
    let rows: Vec<gotmpl::Value> = vols.iter().map(row).collect();
    print!("{}", render_rows(&format, &headers(), &rows)?);
    Ok(0)
}

async fn inspect(client: &Client, a: InspectArgs) -> anyhow::Result<i32> {
    client.ping().await?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for n in &a.names {
        match client.get_raw(&format!("/volumes/{}", seg(n))).await {
            Ok(b) => found.push(b),
            Err(e) => errors.push(e.to_string()),
        }
    }
    print_inspected(&found, a.format.as_deref())?;
    if errors.is_empty() {
        return Ok(0);
    }
    eprintln!("{}", errors.join("\n"));
    Ok(1)
}

async fn rm(client: &Client, a: RmArgs) -> anyhow::Result<i32> {
    client.ping().await?;
    let mut failed = false;
    for n in &a.names {
        let q = if a.force {
            query(&[("force", "1".to_string())])
        } else {
            String::new()
        };
        match client.delete(&format!("/volumes/{}{q}", seg(n))).await {
            Ok(()) => println!("{n}"),
            Err(e) => {
                failed = true;
                eprintln!("{e}");
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PruneReport {
    #[serde(default)]
    pub volumes_deleted: Option<Vec<String>>,
    #[serde(default)]
    pub space_reclaimed: u64,
}

/// What `docker volume prune` prints after the daemon answered.
pub fn prune_output(r: &PruneReport) -> String {
    let items = r.volumes_deleted.as_deref().unwrap_or_default();
    super::prune::section("Deleted Volumes", items) + &super::prune::total_line(r.space_reclaimed)
}

async fn prune(client: &Client, a: PruneArgs) -> anyhow::Result<i32> {
    if !a.force {
        // API 1.41 semantics: every unused volume goes, unless `all=false` is asked for.
        print!("WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            return Ok(0);
        }
    }
    let mut filters = a.filter.clone();
    if a.all {
        filters.push("all=true".into());
    }
    let mut q = Vec::new();
    if let Some(f) = filters_json(&filters)? {
        q.push(("filters", f));
    }
    client.ping().await?;
    let resp = client
        .send(
            Method::POST,
            &format!("/volumes/prune{}", query(&q)),
            None,
            crate::client::empty(),
        )
        .await?;
    let report: PruneReport = crate::client::read_json(resp).await?;
    print!("{}", prune_output(&report));
    Ok(0)
}

/// Go's `strconv.ParseBool`.
fn go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// One `--mount` value (the docker CLI's `MountOpt.Set`) as a `HostConfig.Mounts` entry.
/// The error is the reason pflag prints after `invalid argument ... for "--mount" flag:`.
pub fn parse_mount_flag(value: &str) -> Result<Value, String> {
    let mut kind = "volume".to_string();
    let mut m = serde_json::Map::new();
    let mut bind = serde_json::Map::new();
    let mut vol = serde_json::Map::new();
    let mut vol_labels = serde_json::Map::new();
    let mut vol_opts = serde_json::Map::new();
    let mut driver = String::new();
    let mut tmpfs = serde_json::Map::new();
    for field in value.split(',').filter(|f| !f.is_empty()) {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v)),
            None => (field.to_ascii_lowercase(), None),
        };
        let flag = |v: Option<&str>| -> Result<bool, String> {
            match v {
                None => Ok(true),
                Some(v) => go_bool(v).ok_or_else(|| format!("invalid value for {key}: {v}")),
            }
        };
        match key.as_str() {
            "readonly" | "ro" => {
                m.insert("ReadOnly".into(), json!(flag(val)?));
                continue;
            }
            "volume-nocopy" => {
                vol.insert("NoCopy".into(), json!(flag(val)?));
                continue;
            }
            "bind-nonrecursive" => {
                bind.insert("NonRecursive".into(), json!(flag(val)?));
                continue;
            }
            _ => {}
        }
        let Some(val) = val else {
            return Err(format!("invalid field '{field}' must be a key=value pair"));
        };
        match key.as_str() {
            "type" => kind = val.to_ascii_lowercase(),
            "source" | "src" => {
                m.insert("Source".into(), json!(val));
            }
            "target" | "dst" | "destination" => {
                m.insert("Target".into(), json!(val));
            }
            "consistency" => {
                m.insert("Consistency".into(), json!(val));
            }
            "bind-propagation" => {
                bind.insert("Propagation".into(), json!(val.to_ascii_lowercase()));
            }
            "volume-driver" => driver = val.to_string(),
            "volume-label" => {
                let (k, v) = val.split_once('=').unwrap_or((val, ""));
                vol_labels.insert(k.into(), json!(v));
            }
            "volume-opt" => {
                let (k, v) = val.split_once('=').unwrap_or((val, ""));
                vol_opts.insert(k.into(), json!(v));
            }
            "tmpfs-size" => {
                let n = crate::opts::ram_in_bytes(val)
                    .map_err(|_| format!("invalid value for {key}: {val}"))?;
                tmpfs.insert("SizeBytes".into(), json!(n));
            }
            "tmpfs-mode" => {
                let n = u32::from_str_radix(val, 8)
                    .map_err(|_| format!("invalid value for {key}: {val}"))?;
                tmpfs.insert("Mode".into(), json!(n));
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if !vol_labels.is_empty() {
        vol.insert("Labels".into(), Value::Object(vol_labels));
    }
    if !driver.is_empty() || !vol_opts.is_empty() {
        let mut d = serde_json::Map::new();
        d.insert("Name".into(), json!(driver));
        if !vol_opts.is_empty() {
            d.insert("Options".into(), Value::Object(vol_opts));
        }
        vol.insert("DriverConfig".into(), Value::Object(d));
    }
    m.insert("Type".into(), json!(kind));
    if !m.contains_key("Target") {
        return Err("target is required".into());
    }
    if !bind.is_empty() {
        if kind != "bind" {
            return Err(format!(
                "cannot mix 'bind-*' options with mount type '{kind}'"
            ));
        }
        m.insert("BindOptions".into(), Value::Object(bind));
    }
    if !vol.is_empty() {
        if kind != "volume" {
            return Err(format!(
                "cannot mix 'volume-*' options with mount type '{kind}'"
            ));
        }
        m.insert("VolumeOptions".into(), Value::Object(vol));
    }
    if !tmpfs.is_empty() {
        if kind != "tmpfs" {
            return Err(format!(
                "cannot mix 'tmpfs-*' options with mount type '{kind}'"
            ));
        }
        m.insert("TmpfsOptions".into(), Value::Object(tmpfs));
    }
    Ok(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct P {
        #[command(subcommand)]
        c: VolumeCmd,
    }

    fn parse(argv: &[&str]) -> VolumeCmd {
        P::try_parse_from(std::iter::once("volume").chain(argv.iter().copied()))
            .unwrap()
            .c
    }

    #[test]
    fn create_body_as_docker_sends_it() {
        let VolumeCmd::Create(a) = parse(&["create", "v1"]) else {
            panic!()
        };
        assert_eq!(
            serde_json::to_string(&create_body(&a).unwrap()).unwrap(),
            r#"{"Driver":"local","Name":"v1"}"#
        );
        let VolumeCmd::Create(a) = parse(&[
            "create",
            "--label",
            "a=1",
            "-o",
            "type=tmpfs",
            "--opt",
            "device=tmpfs",
        ]) else {
            panic!()
        };
        let b = create_body(&a).unwrap();
        assert_eq!(b["Name"], "");
        assert_eq!(b["Labels"]["a"], "1");
        assert_eq!(b["DriverOpts"]["type"], "tmpfs");
        assert_eq!(b["DriverOpts"]["device"], "tmpfs");
        let VolumeCmd::Create(a) = parse(&["create", "--name", "x", "y"]) else {
            panic!()
        };
        assert!(create_body(&a).is_err());
    }

    #[test]
    fn mount_flags() {
        let m = parse_mount_flag("type=volume,src=data,dst=/d,readonly,volume-nocopy").unwrap();
        assert_eq!(
            m,
            json!({"Type": "volume", "Source": "data", "Target": "/d", "ReadOnly": true,
                   "VolumeOptions": {"NoCopy": true}})
        );
        let m = parse_mount_flag("type=bind,source=/h,target=/d,bind-propagation=rshared").unwrap();
        assert_eq!(m["BindOptions"]["Propagation"], "rshared");
        let m =
            parse_mount_flag("type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap();
        assert_eq!(
            m["TmpfsOptions"],
            json!({"SizeBytes": 1048576, "Mode": 0o1770})
        );
        let m = parse_mount_flag("target=/x").unwrap();
        assert_eq!(m, json!({"Type": "volume", "Target": "/x"}));
        assert_eq!(
            parse_mount_flag("source=v").unwrap_err(),
            "target is required"
        );
        assert_eq!(
            parse_mount_flag("type=bind,target=/x,volume-nocopy").unwrap_err(),
            "cannot mix 'volume-*' options with mount type 'bind'"
        );
        assert_eq!(
            parse_mount_flag("target=/x,colour=red").unwrap_err(),
            "unexpected key 'colour' in 'colour=red'"
        );
        assert_eq!(
            parse_mount_flag("target").unwrap_err(),
            "invalid field 'target' must be a key=value pair"
        );
    }

    #[test]
    fn ls_table_and_prune_text() {
        let rows = vec![row(&VolumeRow {
            name: "data".into(),
            driver: "local".into(),
            scope: "local".into(),
            mountpoint: String::new(),
            labels: None,
        })];
        assert_eq!(
            render_rows(LS_TABLE, &headers(), &rows).unwrap(),
            "DRIVER    VOLUME NAME\nlocal     data\n"
        );
        let r = PruneReport {
            volumes_deleted: Some(vec!["a".into(), "b".into()]),
            space_reclaimed: 1234,
        };
        assert_eq!(
            prune_output(&r),
            "Deleted Volumes:\na\nb\n\nTotal reclaimed space: 1.234kB\n"
        );
        let none = PruneReport {
            volumes_deleted: None,
            space_reclaimed: 0,
        };
        assert_eq!(prune_output(&none), "Total reclaimed space: 0B\n");
        assert!(matches!(
            parse(&["ls", "-q"]),
            VolumeCmd::Ls(LsArgs { quiet: true, .. })
        ));
        assert!(matches!(
            parse(&["prune", "-af"]),
            VolumeCmd::Prune(PruneArgs {
                all: true,
                force: true,
                ..
            })
        ));
    }
}
