//! `run`/`create` flags and their translation into the create body, field for field as
//! the docker CLI builds it (the traces' bodies are the reference in the tests below).

use anyhow::{anyhow, bail, Context};
use berth_model::api::{
    ContainerConfig, ContainerCreateRequest, HostConfig, LogConfig, RestartPolicy,
};
use clap::{ArgAction, Args};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Args)]
pub struct CreateOpts {
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short, long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long = "workdir", value_name = "string")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long, value_name = "string")]
    pub user: Option<String>,
    /// Container host name
    #[arg(short = 'h', long, value_name = "string")]
    pub hostname: Option<String>,
    /// Container NIS domain name
    #[arg(long, value_name = "string")]
    pub domainname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long, value_name = "string")]
    pub entrypoint: Option<String>,
    /// Set meta data on a container
    #[arg(short, long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Restart policy to apply when a container exits
    #[arg(long, default_value = "no", value_name = "string")]
    pub restart: String,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Add Linux capabilities
    #[arg(long = "cap-add", value_name = "list")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop", value_name = "list")]
    pub cap_drop: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Security Options
    #[arg(long = "security-opt", value_name = "list")]
    pub security_opt: Vec<String>,
    /// Connect a container to a network
    #[arg(long, alias = "net", value_name = "network")]
    pub network: Option<String>,
    /// Bind mount a volume
    #[arg(short, long = "volume", value_name = "list")]
    pub volume: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(short, long = "publish", value_name = "list")]
    pub publish: Vec<String>,
    /// Expose a port or a range of ports
    #[arg(long, value_name = "list")]
    pub expose: Vec<String>,
    /// Memory limit
    #[arg(short, long, value_name = "bytes")]
    pub memory: Option<String>,
    /// Number of CPUs
    #[arg(long, value_name = "decimal")]
    pub cpus: Option<f64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int")]
    pub pids_limit: Option<i64>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "list")]
    pub add_host: Vec<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal", value_name = "string")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", value_name = "int")]
    pub stop_timeout: Option<i64>,
    /// Logging driver for the container
    #[arg(long = "log-driver", value_name = "string")]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt", value_name = "list")]
    pub log_opt: Vec<String>,
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
}

/// Docker's env-file format: `KEY=VAL` taken verbatim, a bare `KEY` takes its value from
/// our environment (skipped when unset), blank lines and `#` comments ignored.
pub fn parse_env_file(
    content: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Vec<String>> {
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let mut out = Vec::new();
    for line in content.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        let key = key.trim_start();
        if key.is_empty() {
            bail!("no variable name on line '{line}'");
        }
        if key.contains(char::is_whitespace) {
            bail!("variable '{}' contains whitespaces", key.trim_end());
        }
        match value {
            Some(v) => out.push(format!("{key}={v}")),
            None => {
                if let Some(v) = lookup(key.trim()) {
                    out.push(format!("{}={v}", key.trim()));
                }
            }
        }
    }
    Ok(out)
}

/// `-e KEY` without `=` takes the value from our environment, as docker's ValidateEnv.
pub fn expand_env(e: &str, lookup: &impl Fn(&str) -> Option<String>) -> String {
    if e.contains('=') {
        return e.to_string();
    }
    match lookup(e) {
        Some(v) => format!("{e}={v}"),
        None => e.to_string(),
    }
}

/// go-units `RAMInBytes`: binary multiples, optional trailing `b`.
pub fn ram_in_bytes(s: &str) -> anyhow::Result<i64> {
    let lower = s.trim().to_ascii_lowercase();
    let num_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(num_end);
    let n: f64 = num.parse().map_err(|_| anyhow!("invalid size: '{s}'"))?;
    let mult: f64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => bail!("invalid size: '{s}'"),
    };
    Ok((n * mult) as i64)
}

pub fn parse_restart(s: &str) -> anyhow::Result<RestartPolicy> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (n, Some(c)),
        None => (s, None),
    };
    let maximum_retry_count = match count {
        Some(c) if name == "on-failure" => c.parse().map_err(|_| {
            anyhow!("invalid restart policy format: maximum retry count must be an integer")
        })?,
        Some(_) => bail!(
            "invalid restart policy format: maximum retry count can only be used with 'on-failure'"
        ),
        None => 0,
    };
    match name {
        "" | "no" | "always" | "unless-stopped" | "on-failure" => {}
        _ => bail!("invalid restart policy format: unknown policy '{name}'"),
    }
    Ok(RestartPolicy {
        name: if name.is_empty() {
            "no".into()
        } else {
            name.into()
        },
        maximum_retry_count,
    })
}

/// `[ip:][hostPort:]containerPort[/proto]` → ("80/tcp", HostIp, HostPort).
pub fn parse_publish(spec: &str) -> anyhow::Result<(String, String, String)> {
    let (addr, proto) = match spec.rsplit_once('/') {
        Some((a, p)) => (a, p),
        None => (spec, "tcp"),
    };
    let parts: Vec<&str> = addr.rsplitn(3, ':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [c] => ("", "", *c),
        [c, h] => ("", *h, *c),
        [c, h, ip] => (*ip, *h, *c),
        _ => bail!("invalid port format: {spec}"),
    };
    if container.is_empty() || !container.chars().all(|c| c.is_ascii_digit() || c == '-') {
        bail!("invalid containerPort: {container}");
    }
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    Ok((
        format!("{container}/{proto}"),
        ip.to_string(),
        host.to_string(),
    ))
}

fn none_if_empty(v: &[String]) -> Option<Vec<String>> {
    if v.is_empty() {
        None
    } else {
        Some(v.to_vec())
    }
}

/// HostConfig fields the docker CLI always sends that Berth's typed model does not name.
fn host_config_defaults() -> Map<String, Value> {
    let v: Value = serde_json::from_str(
        r#"{
        "ContainerIDFile": "", "PortBindings": {}, "VolumeDriver": "", "VolumesFrom": null,
        "CgroupnsMode": "", "Dns": [], "DnsOptions": [], "DnsSearch": [], "GroupAdd": null,
        "IpcMode": "", "Cgroup": "", "Links": null, "OomScoreAdj": 0, "PidMode": "",
        "PublishAllPorts": false, "UTSMode": "", "UsernsMode": "", "Isolation": "",
        "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0,
        "BlkioWeightDevice": [], "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [], "CpuPeriod": 0, "CpuQuota": 0,
        "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "",
        "Devices": [], "DeviceCgroupRules": null, "DeviceRequests": null,
        "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": -1,
        "OomKillDisable": false, "PidsLimit": 0, "Ulimits": [], "CpuCount": 0,
        "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0
    }"#,
    )
    .unwrap_or_default();
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn default_endpoint() -> Value {
    json!({
        "IPAMConfig": null, "Links": null, "Aliases": null, "MacAddress": "",
        "DriverOpts": null, "GwPriority": 0, "NetworkID": "", "EndpointID": "",
        "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": null
    })
}

/// How the container will be used, which decides the Attach*/StdinOnce fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mode {
    pub detach: bool,
    pub auto_remove: bool,
    /// `[rows, cols]` of our terminal when `-t` and stdout is one.
    pub console_size: [u32; 2],
}

pub fn build_create(
    o: &CreateOpts,
    image: &str,
    cmd: &[String],
    mode: Mode,
    lookup: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<ContainerCreateRequest> {
    let mut env = Vec::new();
    for f in &o.env_file {
        let content = std::fs::read_to_string(f).with_context(|| format!("open {f}"))?;
        env.extend(parse_env_file(&content, &lookup)?);
    }
    env.extend(o.env.iter().map(|e| expand_env(e, &lookup)));

    let labels: BTreeMap<String, String> = o
        .label
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect();

    let restart_policy = parse_restart(&o.restart)?;
    if mode.auto_remove && restart_policy.name != "no" {
        bail!("Conflicting options: --restart and --rm");
    }

    let mut binds = Vec::new();
    let mut volumes = BTreeMap::new();
    for v in &o.volume {
        if v.contains(':') {
            binds.push(v.clone());
        } else {
            volumes.insert(v.clone(), json!({}));
        }
    }

    let mut exposed = BTreeMap::new();
    let mut bindings: Map<String, Value> = Map::new();
    for p in &o.publish {
        let (port, ip, host) = parse_publish(p)?;
        exposed.insert(port.clone(), json!({}));
        let entry = bindings.entry(port).or_insert_with(|| json!([]));
        if let Value::Array(a) = entry {
            a.push(json!({"HostIp": ip, "HostPort": host}));
        }
    }
    for e in &o.expose {
        let port = if e.contains('/') {
            e.clone()
        } else {
            format!("{e}/tcp")
        };
        exposed.insert(port, json!({}));
    }

    let entrypoint = o.entrypoint.as_ref().map(|e| vec![e.clone()]);
    let attach = !mode.detach;
    let config = ContainerConfig {
        hostname: o.hostname.clone().unwrap_or_default(),
        domainname: o.domainname.clone().unwrap_or_default(),
        user: o.user.clone().unwrap_or_default(),
        attach_stdin: attach && o.interactive,
        attach_stdout: attach,
        attach_stderr: attach,
        tty: o.tty,
        open_stdin: o.interactive,
        stdin_once: attach && o.interactive,
        env: if env.is_empty() { None } else { Some(env) },
        cmd: if cmd.is_empty() {
            None
        } else {
            Some(cmd.to_vec())
        },
        image: image.to_string(),
        volumes: Some(volumes),
        working_dir: o.workdir.clone().unwrap_or_default(),
        entrypoint,
        on_build: None,
        labels: Some(labels),
        stop_signal: o.stop_signal.clone(),
        stop_timeout: o.stop_timeout,
        exposed_ports: if exposed.is_empty() {
            None
        } else {
            Some(exposed)
        },
        healthcheck: None,
        extra: Map::new(),
    };

    let mut extra = host_config_defaults();
    extra.insert("PortBindings".into(), Value::Object(bindings));
    if let Some(m) = &o.memory {
        extra.insert("Memory".into(), ram_in_bytes(m)?.into());
    }
    if let Some(c) = o.cpus {
        extra.insert("NanoCpus".into(), ((c * 1e9).round() as i64).into());
    }
    if let Some(p) = o.pids_limit {
        extra.insert("PidsLimit".into(), p.into());
    }
    let log_config = LogConfig {
        kind: o.log_driver.clone().unwrap_or_default(),
        config: o
            .log_opt
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv.to_string(), String::new()),
            })
            .collect(),
    };
    let network_mode = o.network.clone().unwrap_or_else(|| "default".into());
    let host_config = HostConfig {
        binds: none_if_empty(&binds),
        log_config,
        network_mode: network_mode.clone(),
        restart_policy,
        auto_remove: mode.auto_remove,
        cap_add: none_if_empty(&o.cap_add),
        cap_drop: none_if_empty(&o.cap_drop),
        privileged: o.privileged,
        readonly_rootfs: o.read_only,
        security_opt: none_if_empty(&o.security_opt),
        extra_hosts: none_if_empty(&o.add_host),
        shm_size: 0,
        init: if o.init { Some(true) } else { None },
        console_size: Some(mode.console_size),
        masked_paths: None,
        readonly_paths: None,
        extra,
    };
    let endpoints = if network_mode == "default" {
        json!({"default": default_endpoint()})
    } else {
        json!({})
    };
    Ok(ContainerCreateRequest {
        config,
        host_config: Some(host_config),
        networking_config: Some(json!({"EndpointsConfig": endpoints})),
    })
}

/// The wire body: Go omits an unset `Init` (`*bool,omitempty`), our model would say null.
pub fn create_body(req: &ContainerCreateRequest) -> anyhow::Result<Value> {
    let mut v = serde_json::to_value(req)?;
    if let Some(hc) = v.get_mut("HostConfig").and_then(Value::as_object_mut) {
        if hc.get("Init") == Some(&Value::Null) {
            hc.remove("Init");
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    #[command(disable_help_flag = true)]
    struct T {
        #[command(flatten)]
        o: CreateOpts,
        #[arg(long)]
        rm: bool,
        #[arg(short, long)]
        detach: bool,
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    }

    fn body_for(argv: &[&str]) -> (Value, Option<String>) {
        let t = T::try_parse_from(std::iter::once("run").chain(argv.iter().copied())).unwrap();
        let mode = Mode {
            detach: t.detach,
            auto_remove: t.rm,
            console_size: [0, 0],
        };
        let req = build_create(&t.o, &t.args[0], &t.args[1..], mode, |_| None).unwrap();
        (create_body(&req).unwrap(), t.o.name.clone())
    }

    /// The create body of a trace, as JSON.
    fn trace_body(file: &str) -> Value {
        let path = format!("/work/shared/reference/api-traces/{file}");
        let text = std::fs::read_to_string(path).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("{\"Hostname\""))
            .unwrap();
        serde_json::from_str(line.trim_end_matches("\\n")).unwrap()
    }

    fn traces_present() -> bool {
        std::path::Path::new("/work/shared/reference/api-traces").exists()
    }

    #[test]
    fn matches_docker_cli_bodies() {
        if !traces_present() {
            return;
        }
        let cases: &[(&str, &[&str])] = &[
            ("01_run_true.txt", &["--rm", "busybox", "true"]),
            ("02_run_stdin.txt", &["--rm", "-i", "busybox", "cat"]),
            (
                "04_run_detached.txt",
                &[
                    "-d",
                    "--name",
                    "research-trace-d",
                    "busybox",
                    "sleep",
                    "300",
                ],
            ),
            (
                "22_run_tty.txt",
                &["--rm", "-it", "busybox", "sh", "-c", "echo hi-tty; exit 3"],
            ),
            (
                "27_create_start_attach.txt",
                &[
                    "--name",
                    "research-trace-c",
                    "busybox",
                    "echo",
                    "created-then-started",
                ],
            ),
            (
                "23_run_flags.txt",
                &[
                    "--rm",
                    "--name",
                    "research-trace-flags",
                    "-e",
                    "A=1",
                    "-e",
                    "B=two",
                    "-v",
                    "research-trace-vol:/data",
                    "-v",
                    "/scratch/buildctx:/ctx:ro",
                    "-p",
                    "127.0.0.1:18089:80",
                    "-m",
                    "64m",
                    "--cpus",
                    "0.5",
                    "--pids-limit",
                    "50",
                    "-w",
                    "/data",
                    "-u",
                    "0:0",
                    "--hostname",
                    "rth",
                    "--network",
                    "bridge",
                    "--label",
                    "k=v",
                    "--entrypoint",
                    "/bin/sh",
                    "busybox",
                    "-c",
                    "echo $A $B; ls /ctx; hostname; pwd",
                ],
            ),
        ];
        for (file, argv) in cases {
            let (got, _) = body_for(argv);
            assert_eq!(got, trace_body(file), "body for {file}");
        }
    }

    #[test]
    fn passthrough_flags() {
        let (b, name) = body_for(&[
            "--name",
            "x",
            "--restart",
            "on-failure:3",
            "--init",
            "--privileged",
            "--cap-add",
            "NET_ADMIN",
            "--cap-drop",
            "ALL",
            "--read-only",
            "--security-opt",
            "no-new-privileges",
            "--network",
            "host",
            "-l",
            "solo",
            "img",
        ]);
        assert_eq!(name.as_deref(), Some("x"));
        let hc = &b["HostConfig"];
        assert_eq!(
            hc["RestartPolicy"],
            json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        assert_eq!(hc["Init"], json!(true));
        assert_eq!(hc["Privileged"], json!(true));
        assert_eq!(hc["CapAdd"], json!(["NET_ADMIN"]));
        assert_eq!(hc["CapDrop"], json!(["ALL"]));
        assert_eq!(hc["ReadonlyRootfs"], json!(true));
        assert_eq!(hc["SecurityOpt"], json!(["no-new-privileges"]));
        assert_eq!(hc["NetworkMode"], json!("host"));
        assert_eq!(b["Labels"], json!({"solo": ""}));
        assert_eq!(b["Cmd"], Value::Null);
        assert_eq!(b["AttachStdout"], json!(true));
    }

    #[test]
    fn rm_conflicts_with_restart() {
        let o = CreateOpts {
            restart: "always".into(),
            ..Default::default()
        };
        let mode = Mode {
            auto_remove: true,
            ..Default::default()
        };
        let err = build_create(&o, "img", &[], mode, |_| None).unwrap_err();
        assert_eq!(err.to_string(), "Conflicting options: --restart and --rm");
    }

    #[test]
    fn env_file_format() {
        let lookup = |k: &str| (k == "FROM_HOST").then(|| "hv".to_string());
        let content = "\u{feff}# comment\nA=1\n\n  B = x y \nFROM_HOST\nUNSET\nC=\"q\"\n";
        let err = parse_env_file(content, lookup).unwrap_err();
        assert!(err.to_string().contains("contains whitespaces"), "{err}");
        let content = "# comment\nA=1\n\n  B= x y \nFROM_HOST\nUNSET\nC=\"q\"\nD=\n";
        assert_eq!(
            parse_env_file(content, lookup).unwrap(),
            vec!["A=1", "B= x y ", "FROM_HOST=hv", "C=\"q\"", "D="]
        );
        assert!(parse_env_file("=x\n", lookup).is_err());
        assert_eq!(expand_env("FROM_HOST", &lookup), "FROM_HOST=hv");
        assert_eq!(expand_env("NOPE", &lookup), "NOPE");
    }

    #[test]
    fn sizes_ports_restart() {
        assert_eq!(ram_in_bytes("64m").unwrap(), 67108864);
        assert_eq!(ram_in_bytes("1GB").unwrap(), 1 << 30);
        assert_eq!(ram_in_bytes("512").unwrap(), 512);
        assert!(ram_in_bytes("12x").is_err());
        assert_eq!(
            parse_publish("80").unwrap(),
            ("80/tcp".into(), "".into(), "".into())
        );
        assert_eq!(
            parse_publish("8080:80/udp").unwrap(),
            ("80/udp".into(), "".into(), "8080".into())
        );
        assert_eq!(
            parse_publish("127.0.0.1:18089:80").unwrap(),
            ("80/tcp".into(), "127.0.0.1".into(), "18089".into())
        );
        assert!(parse_restart("sometimes").is_err());
        assert!(parse_restart("always:3").is_err());
        assert_eq!(
            parse_restart("unless-stopped").unwrap().name,
            "unless-stopped"
        );
    }
}
