//! `berth network`: create, ls, inspect, rm, prune, connect, disconnect, with the docker
//! CLI's flags, output and exit codes.

use crate::client::{api_error, query, seg, Client};
use crate::cmd::container::{filters_json, print_inspected};
use crate::format::short_id;
use crate::template::{render_rows, string_map};
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::Write;

#[derive(Debug, Subcommand)]
pub enum NetworkCmd {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    pub subnet: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long)]
    pub gateway: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range")]
    pub ip_range: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Enable manual container attachment
    #[arg(long)]
    pub attachable: bool,
    /// Set metadata on a network
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short, long = "opt")]
    pub opt: Vec<String>,
    /// Enable IPv6 networking
    #[arg(long)]
    pub ipv6: bool,
    pub name: String,
}

#[derive(Debug, Clone, Args)]
pub struct LsArgs {
    /// Only display network IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
}

#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    pub format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short, long)]
    pub verbose: bool,
    #[arg(required = true)]
    pub networks: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub networks: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long)]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long)]
    pub alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long)]
    pub ip: Option<String>,
    /// Add link to another container
    #[arg(long)]
    pub link: Vec<String>,
    pub network: String,
    pub container: String,
}

#[derive(Debug, Clone, Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    pub force: bool,
    pub network: String,
    pub container: String,
}

fn kv(list: &[String]) -> Map<String, Value> {
    list.iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), Value::String(v.to_string())),
            None => (l.to_string(), Value::String(String::new())),
        })
        .collect()
}

/// The body the docker CLI sends for `network create`.
pub fn create_body(a: &CreateArgs) -> anyhow::Result<Value> {
    if a.gateway.len() > a.subnet.len() {
        anyhow::bail!("every ip-range or gateway must have a corresponding subnet");
    }
    let config: Vec<Value> = a
        .subnet
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut c = json!({"Subnet": s});
            if let Some(g) = a.gateway.get(i) {
                c["Gateway"] = json!(g);
            }
            if let Some(r) = a.ip_range.get(i) {
                c["IPRange"] = json!(r);
            }
            c
        })
        .collect();
    Ok(json!({
        "Driver": a.driver,
        "Scope": "",
        "IPAM": {"Driver": "default", "Options": {}, "Config": config},
        "Internal": a.internal,
        "Attachable": a.attachable,
        "Ingress": false,
        "ConfigOnly": false,
        "ConfigFrom": null,
        "EnableIPv6": a.ipv6,
        "Options": kv(&a.opt),
        "Labels": kv(&a.label),
        "Name": a.name,
        "CheckDuplicate": true,
    }))
}

const LS_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

/// The rows of `network ls`, as the docker CLI renders them.
pub fn render_ls(nets: &[Value], a: &LsArgs) -> anyhow::Result<String> {
    let rows: Vec<_> = nets
        .iter()
        .map(|n| {
            let s = |k: &str| n.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let id = if a.no_trunc {
                s("Id")
            } else {
                short_id(&s("Id"))
            };
            let labels = n
                .get("Labels")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            let b = |k: &str| {
                n.get(k)
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                    .to_string()
            };
            string_map(&[
                ("ID", id),
                ("Name", s("Name")),
                ("Driver", s("Driver")),
                ("Scope", s("Scope")),
                ("IPv6", b("EnableIPv6")),
                ("Internal", b("Internal")),
                ("Labels", labels),
                ("CreatedAt", s("Created")),
            ])
        })
        .collect();
    let format = match (&a.format, a.quiet) {
        (_, true) => "{{.ID}}".to_string(),
        (Some(f), _) if !f.is_empty() => f.clone(),
        _ => LS_TABLE.to_string(),
    };
    let headers = [
        ("ID", "NETWORK ID".to_string()),
        ("Name", "NAME".to_string()),
        ("Driver", "DRIVER".to_string()),
        ("Scope", "SCOPE".to_string()),
        ("IPv6", "IPV6".to_string()),
        ("Internal", "INTERNAL".to_string()),
        ("Labels", "LABELS".to_string()),
        ("CreatedAt", "CREATED AT".to_string()),
    ];
    render_rows(&format, &headers, &rows)
}

fn daemon_error(e: &anyhow::Error) -> String {
    match api_error(e) {
        Some(a) => format!("Error response from daemon: {}", a.message),
        None => format!("Error: {e:#}"),
    }
}

pub async fn network(client: &Client, cmd: NetworkCmd) -> anyhow::Result<i32> {
    client.ping().await?;
    match cmd {
        NetworkCmd::Create(a) => {
            let body = create_body(&a)?;
            let resp: Value = client.post_json("/networks/create", &body).await?;
            println!("{}", resp["Id"].as_str().unwrap_or(""));
            Ok(0)
        }
        NetworkCmd::Ls(a) => {
            let q = match filters_json(&a.filter)? {
                Some(f) => query(&[("filters", f)]),
                None => String::new(),
            };
            let mut nets: Vec<Value> = client.get_json(&format!("/networks{q}")).await?;
            nets.sort_by(|x, y| {
                x["Name"]
                    .as_str()
                    .unwrap_or("")
                    .cmp(y["Name"].as_str().unwrap_or(""))
            });
            print!("{}", render_ls(&nets, &a)?);
            Ok(0)
        }
        NetworkCmd::Inspect(a) => {
            let mut found = Vec::new();
            let mut errors = Vec::new();
            for n in &a.networks {
                match client.get_raw(&format!("/networks/{}", seg(n))).await {
                    Ok(b) => found.push(b),
                    Err(e) => errors.push(daemon_error(&e)),
                }
            }
            print_inspected(&found, a.format.as_deref())?;
            for e in &errors {
                eprintln!("{e}");
            }
            Ok(if errors.is_empty() { 0 } else { 1 })
        }
        NetworkCmd::Rm(a) => {
            let mut code = 0;
            for n in &a.networks {
                match client.delete(&format!("/networks/{}", seg(n))).await {
                    Ok(()) => println!("{n}"),
                    Err(e) if a.force && crate::client::is_not_found(&e) => {}
                    Err(e) => {
                        eprintln!("{}", daemon_error(&e));
                        code = 1;
                    }
                }
            }
            Ok(code)
        }
        NetworkCmd::Prune(a) => {
            if !a.force {
                print!("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ");
                std::io::stdout().flush()?;
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                if !matches!(line.trim(), "y" | "Y") {
                    return Ok(0);
                }
            }
            let q = match filters_json(&a.filter)? {
                Some(f) => query(&[("filters", f)]),
                None => String::new(),
            };
            let resp: Value = client
                .post_json(&format!("/networks/prune{q}"), &json!({}))
                .await?;
            let deleted: Vec<String> = resp["NetworksDeleted"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            if !deleted.is_empty() {
                println!("Deleted Networks:");
                for d in deleted {
                    println!("{d}");
                }
            }
            Ok(0)
        }
        NetworkCmd::Connect(a) => {
            let mut ep = json!({
                "IPAMConfig": null, "Links": null, "Aliases": null,
            });
            if let Some(ip) = &a.ip {
                ep["IPAMConfig"] = json!({"IPv4Address": ip});
            }
            if !a.link.is_empty() {
                ep["Links"] = json!(a.link);
            }
            if !a.alias.is_empty() {
                ep["Aliases"] = json!(a.alias);
            }
            let body = json!({"Container": a.container, "EndpointConfig": ep});
            let _: Value = client
                .post_json(&format!("/networks/{}/connect", seg(&a.network)), &body)
                .await
                .or_else(empty_ok)?;
            Ok(0)
        }
        NetworkCmd::Disconnect(a) => {
            let body = json!({"Container": a.container, "Force": a.force});
            let _: Value = client
                .post_json(&format!("/networks/{}/disconnect", seg(&a.network)), &body)
                .await
                .or_else(empty_ok)?;
            Ok(0)
        }
    }
}

/// connect/disconnect answer 200 with an empty body, which is not JSON.
fn empty_ok(e: anyhow::Error) -> anyhow::Result<Value> {
    if api_error(&e).is_some() {
        Err(e)
    } else {
        Ok(Value::Null)
    }
}

/// Parses `--filter` lists the way the daemon gets them (for tests).
pub fn filter_map(filters: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in filters {
        if let Some((k, v)) = f.split_once('=') {
            m.entry(k.to_string()).or_default().push(v.to_string());
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_like_the_trace() {
        let a = CreateArgs {
            driver: "bridge".into(),
            subnet: vec![],
            gateway: vec![],
            ip_range: vec![],
            internal: false,
            attachable: false,
            label: vec![],
            opt: vec![],
            ipv6: false,
            name: "research-trace-net".into(),
        };
        let b = create_body(&a).unwrap();
        assert_eq!(
            b["IPAM"],
            json!({"Driver": "default", "Options": {}, "Config": []})
        );
        assert_eq!(b["CheckDuplicate"], json!(true));
        let a = CreateArgs {
            subnet: vec!["10.99.0.0/24".into()],
            gateway: vec!["10.99.0.254".into()],
            label: vec!["a=b".into()],
            internal: true,
            ..a
        };
        let b = create_body(&a).unwrap();
        assert_eq!(
            b["IPAM"]["Config"],
            json!([{"Subnet": "10.99.0.0/24", "Gateway": "10.99.0.254"}])
        );
        assert_eq!(b["Labels"], json!({"a": "b"}));
        assert_eq!(b["Internal"], json!(true));
    }

    #[test]
    fn ls_like_the_trace() {
        let nets: Vec<Value> = serde_json::from_str(r#"[
            {"Name":"bridge","Id":"69655fddef5d9a20efa80f84c50e0d4511899ef8e15eadeafcfddf5d8592b5f7","Scope":"local","Driver":"bridge"},
            {"Name":"host","Id":"17cfea442fcb7de7a016d8a7ef4e78bcb8910fcf04fac7448577e9320306b79f","Scope":"local","Driver":"host"},
            {"Name":"none","Id":"5166b2de370f85620a3a16742899c8f9f134d6caa6ff98dd2eccbf2dd1c4d1a9","Scope":"local","Driver":"null"},
            {"Name":"research-trace-net","Id":"8425c6608f2bd0cebcc798a9477b1124391aaca335f27fbc72888c6346c4a0a7","Scope":"local","Driver":"bridge"}
        ]"#).unwrap();
        let a = LsArgs {
            quiet: false,
            filter: vec![],
            format: None,
            no_trunc: false,
        };
        assert_eq!(
            render_ls(&nets, &a).unwrap(),
            "NETWORK ID     NAME                 DRIVER    SCOPE\n\
             69655fddef5d   bridge               bridge    local\n\
             17cfea442fcb   host                 host      local\n\
             5166b2de370f   none                 null      local\n\
             8425c6608f2b   research-trace-net   bridge    local\n"
        );
        let q = LsArgs {
            quiet: true,
            ..a.clone()
        };
        assert_eq!(render_ls(&nets[..1], &q).unwrap(), "69655fddef5d\n");
        let f = LsArgs {
            format: Some("{{.Name}}:{{.Driver}}".into()),
            ..a
        };
        assert_eq!(render_ls(&nets[2..3], &f).unwrap(), "none:null\n");
        assert_eq!(filter_map(&["name=a".into()])["name"], ["a"]);
    }
}
