//! `version` and `info`.

use crate::client::Client;
use crate::template::render_json;
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
}
