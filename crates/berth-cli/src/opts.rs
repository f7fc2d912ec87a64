//! `run`/`create` flags and their translation into the create body, field for field as
//! the docker CLI builds it (the traces' bodies are the reference in the tests below).

use anyhow::{anyhow, bail, Context};
use berth_model::api::{
    ContainerConfig, ContainerCreateRequest, HealthConfig, HostConfig, LogConfig, RestartPolicy,
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
    /// Attach a filesystem mount to the container
    #[arg(long = "mount", value_name = "mount")]
    pub mount: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from", value_name = "list")]
    pub volumes_from: Vec<String>,
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
    pub cpus: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes")]
    pub memory_reservation: Option<String>,
    /// Tune container memory swappiness (0 to 100)
    #[arg(
        long = "memory-swappiness",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub memory_swappiness: Option<String>,
    /// CPU shares (relative weight)
    #[arg(
        short = 'c',
        long = "cpu-shares",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub cpu_shares: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int", allow_hyphen_values = true)]
    pub cpu_period: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int", allow_hyphen_values = true)]
    pub cpu_quota: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "string")]
    pub cpuset_mems: Option<String>,
    /// Ulimit options
    #[arg(long = "ulimit", value_name = "ulimit")]
    pub ulimit: Vec<String>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", value_name = "int", allow_hyphen_values = true)]
    pub oom_score_adj: Option<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size", value_name = "bytes")]
    pub shm_size: Option<String>,
    /// Sysctl options
    #[arg(long = "sysctl", value_name = "map")]
    pub sysctl: Vec<String>,
    /// Add a host device to the container
    #[arg(long = "device", value_name = "list")]
    pub device: Vec<String>,
    /// Add a rule to the cgroup allowed devices list
    #[arg(long = "device-cgroup-rule", value_name = "list")]
    pub device_cgroup_rule: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long = "tmpfs", value_name = "list")]
    pub tmpfs: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "list")]
    pub add_host: Vec<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", value_name = "list")]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long = "ip", value_name = "string")]
    pub ip: Option<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address", value_name = "string")]
    pub mac_address: Option<String>,
    /// Set custom DNS servers
    #[arg(long = "dns", value_name = "list")]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_name = "list")]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt", value_name = "list")]
    pub dns_option: Vec<String>,
    /// Add link to another container
    #[arg(long = "link", value_name = "list")]
    pub link: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
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
    /// Command to run to check health
    #[arg(long = "health-cmd", value_name = "string")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-interval",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub health_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(
        long = "health-retries",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub health_retries: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-timeout",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub health_timeout: Option<String>,
    /// Start period for the container to initialize before starting health-retries
    /// countdown (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-start-period",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-start-interval",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
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

/// A flag value pflag's `Set` refused: docker prints it as
/// `invalid argument "v" for "-m, --memory" flag: why` and exits 125.
#[derive(Debug)]
pub struct FlagError {
    /// How pflag names the flag: `-m, --memory` or `--memory-swap`.
    pub flag: &'static str,
    pub value: String,
    pub reason: String,
}

impl std::fmt::Display for FlagError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid argument {} for \"{}\" flag: {}",
            go_quote(&self.value),
            self.flag,
            self.reason
        )
    }
}

impl std::error::Error for FlagError {}

/// Go's `%q` for the strings that flag values are.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn flag_err(flag: &'static str, value: &str, reason: impl std::fmt::Display) -> anyhow::Error {
    FlagError {
        flag,
        value: value.to_string(),
        reason: reason.to_string(),
    }
    .into()
}

/// Go's `strconv.ParseInt(s, 0, 64)` as pflag's int flags use it, with its messages.
pub fn parse_go_int(s: &str) -> Result<i64, String> {
    let syntax = || format!("strconv.ParseInt: parsing {}: invalid syntax", go_quote(s));
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d, true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d, true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..], true)
    } else {
        (10, lower.as_str(), false)
    };
    // Underscores only between digits (or after a base prefix), as Go's underscoreOK.
    if digits.contains('_') {
        let ok = !digits.ends_with('_')
            && !digits.contains("__")
            && (prefixed || !digits.starts_with('_'));
        if !ok {
            return Err(syntax());
        }
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() || !clean.chars().all(|c| c.is_digit(radix)) {
        return Err(syntax());
    }
    let mag = u128::from_str_radix(&clean, radix).ok();
    let limit: u128 = if neg { 1 << 63 } else { (1 << 63) - 1 };
    match mag {
        Some(m) if m <= limit => Ok(if neg {
            (m as i128).wrapping_neg() as i64
        } else {
            m as i64
        }),
        _ => Err(format!(
            "strconv.ParseInt: parsing {}: value out of range",
            go_quote(s)
        )),
    }
}

fn int_flag(flag: &'static str, v: &Option<String>) -> anyhow::Result<Option<i64>> {
    v.as_deref()
        .map(|s| parse_go_int(s).map_err(|e| flag_err(flag, s, e)))
        .transpose()
}

fn duration_flag(flag: &'static str, v: &Option<String>) -> anyhow::Result<i64> {
    v.as_deref()
        .map(|s| berth_model::health::parse_go_duration(s).map_err(|e| flag_err(flag, s, e)))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// The `--health-*` flags as the docker CLI turns them into `Healthcheck`: a check only
/// when some flag has a non-zero value, `--no-healthcheck` alone as `["NONE"]`.
fn healthcheck(o: &CreateOpts) -> anyhow::Result<Option<HealthConfig>> {
    let interval = duration_flag("--health-interval", &o.health_interval)?;
    let timeout = duration_flag("--health-timeout", &o.health_timeout)?;
    let start_period = duration_flag("--health-start-period", &o.health_start_period)?;
    let start_interval = duration_flag("--health-start-interval", &o.health_start_interval)?;
    let retries = int_flag("--health-retries", &o.health_retries)?.unwrap_or(0);
    let cmd = o.health_cmd.clone().unwrap_or_default();
    let any = !cmd.is_empty()
        || interval != 0
        || timeout != 0
        || start_period != 0
        || retries != 0
        || start_interval != 0;
    if o.no_healthcheck {
        if any {
            bail!("--no-healthcheck conflicts with --health-* options");
        }
        return Ok(Some(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        }));
    }
    if !any {
        return Ok(None);
    }
    for (flag, negative) in [
        ("--health-interval", interval < 0),
        ("--health-timeout", timeout < 0),
        ("--health-retries", retries < 0),
        ("--health-start-period", start_period < 0),
        ("--health-start-interval", start_interval < 0),
    ] {
        if negative {
            bail!("{flag} cannot be negative");
        }
    }
    Ok(Some(HealthConfig {
        test: (!cmd.is_empty()).then(|| vec!["CMD-SHELL".into(), cmd]),
        interval,
        timeout,
        start_period,
        start_interval,
        retries,
    }))
}

fn bytes_flag(flag: &'static str, v: &Option<String>) -> anyhow::Result<Option<i64>> {
    v.as_deref()
        .map(|s| ram_in_bytes(s).map_err(|e| flag_err(flag, s, e)))
        .transpose()
}

/// docker's `NanoCPUs.Set`: a rational number of CPUs, exact to the nanosecond.
pub fn parse_cpus(s: &str) -> anyhow::Result<i64> {
    let bad = || anyhow!("failed to parse {s} as a rational number");
    let c: f64 = s.parse().map_err(|_| bad())?;
    if !c.is_finite() || s.to_ascii_lowercase().contains("inf") {
        return Err(bad());
    }
    let digits = s.split(['e', 'E']).next().unwrap_or(s);
    if let Some((_, frac)) = digits.split_once('.') {
        let exp: i32 = s
            .split_once(['e', 'E'])
            .and_then(|(_, e)| e.parse().ok())
            .unwrap_or(0);
        if frac.trim_end_matches('0').len() as i32 - exp > 9 {
            bail!("value is too precise");
        }
    }
    Ok((c * 1e9).round() as i64)
}

/// go-units `ParseUlimit`: `name=soft[:hard]`, hard defaulting to soft.
pub fn parse_ulimit(val: &str) -> anyhow::Result<Value> {
    const NAMES: &[&str] = &[
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    ];
    let Some((name, limits)) = val.split_once('=') else {
        bail!("invalid ulimit argument: {val}");
    };
    if !NAMES.contains(&name) {
        bail!("invalid ulimit type: {name}");
    }
    let dec = |s: &str| -> anyhow::Result<i64> {
        let bad = |why: &str| anyhow!("strconv.ParseInt: parsing {}: {why}", go_quote(s));
        let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("invalid syntax"));
        }
        s.parse::<i64>().map_err(|_| bad("value out of range"))
    };
    let parts: Vec<&str> = limits.split(':').collect();
    let (soft, hard) = match parts.as_slice() {
        [soft, hard] => {
            let hard = dec(hard)?;
            (dec(soft)?, hard)
        }
        [soft] => {
            let soft = dec(soft)?;
            (soft, soft)
        }
        _ => bail!(
            "too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"
        ),
    };
    if hard != -1 && soft > hard {
        bail!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}");
    }
    Ok(json!({"Name": name, "Hard": hard, "Soft": soft}))
}

/// docker's `opts.ValidateSysctl`: only namespaced sysctls.
pub fn validate_sysctl(val: &str) -> anyhow::Result<(String, String)> {
    const ALLOWED: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let Some((k, v)) = val.split_once('=') else {
        bail!("sysctl '{val}' is not allowed");
    };
    if ALLOWED.contains(&k) || k.starts_with("net.") || k.starts_with("fs.mqueue.") {
        Ok((k.to_string(), v.to_string()))
    } else {
        bail!("sysctl '{val}' is not allowed")
    }
}

fn valid_device_mode(mode: &str) -> bool {
    if mode.is_empty() || mode.len() > 3 {
        return false;
    }
    let mut seen = [false; 3];
    for c in mode.chars() {
        let i = match c {
            'r' => 0,
            'w' => 1,
            'm' => 2,
            _ => return false,
        };
        if seen[i] {
            return false;
        }
        seen[i] = true;
    }
    true
}

/// docker's `--device` handling: `validateLinuxPath` (which cleans the paths), then
/// `parseLinuxDevice` into a DeviceMapping. Its failures are `parse`-time errors.
pub fn parse_device(val: &str) -> anyhow::Result<Value> {
    if val.matches(':').count() > 2 {
        bail!("bad format for path: {val}");
    }
    let split: Vec<&str> = val.splitn(3, ':').collect();
    if split[0].is_empty() {
        bail!("bad format for path: {val}");
    }
    let (cleaned, container_path) = match split.as_slice() {
        [p] => (go_clean(p), p.to_string()),
        [h, m] if valid_device_mode(m) => (format!("{}:{m}", go_clean(h)), h.to_string()),
        [h, c] => (format!("{h}:{}", go_clean(c)), c.to_string()),
        [h, c, m] => {
            if !valid_device_mode(m) {
                bail!("bad mode specified: {m}");
            }
            (format!("{h}:{c}:{m}"), c.to_string())
        }
        _ => bail!("bad format for path: {val}"),
    };
    if !container_path.starts_with('/') {
        bail!("{container_path} is not an absolute path");
    }
    let arr: Vec<&str> = cleaned.splitn(4, ':').collect();
    let mut permissions = "rwm".to_string();
    let mut dst = String::new();
    if arr.len() == 3 {
        permissions = arr[2].to_string();
    }
    if arr.len() >= 2 {
        if valid_device_mode(arr[1]) {
            permissions = arr[1].to_string();
        } else {
            dst = arr[1].to_string();
        }
    }
    let src = arr[0].to_string();
    if dst.is_empty() {
        dst = src.clone();
    }
    Ok(json!({"PathOnHost": src, "PathInContainer": dst, "CgroupPermissions": permissions}))
}

/// go-units (v0.5) `RAMInBytes`: a number, an optional space, then an optional suffix
/// `b`, `k`/`m`/`g`/`t`/`p` (binary multiples) maybe followed by `i`, `b` or `ib`.
pub fn ram_in_bytes(s: &str) -> anyhow::Result<i64> {
    let Some(sep) = s.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ') else {
        bail!("invalid size: '{s}'");
    };
    let (num, sfx) = if s.as_bytes()[sep] == b' ' {
        (&s[..sep], &s[sep + 1..])
    } else {
        (&s[..=sep], &s[sep + 1..])
    };
    let size: f64 = match num.parse::<f64>() {
        Ok(f) if f.is_infinite() && !num.to_ascii_lowercase().contains("inf") => bail!(
            "strconv.ParseFloat: parsing {}: value out of range",
            go_quote(num)
        ),
        Ok(f) => f,
        Err(_) => bail!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            go_quote(num)
        ),
    };
    if size < 0.0 {
        bail!("invalid size: '{s}'");
    }
    if sfx.is_empty() {
        return Ok(size as i64);
    }
    let bad = |sfx: &str| anyhow!("invalid suffix: '{sfx}'");
    if sfx.len() > 3 {
        return Err(bad(sfx));
    }
    let lower = sfx.to_ascii_lowercase();
    let b = lower.as_bytes();
    if b[0] == b'b' {
        return if b.len() == 1 {
            Ok(size as i64)
        } else {
            Err(bad(&lower))
        };
    }
    let mult: f64 = match b[0] {
        b'k' => 1024.0,
        b'm' => 1024f64.powi(2),
        b'g' => 1024f64.powi(3),
        b't' => 1024f64.powi(4),
        b'p' => 1024f64.powi(5),
        _ => return Err(bad(&lower)),
    };
    match &b[1..] {
        [] | [b'i'] | [b'b'] | [b'i', b'b'] => Ok((size * mult) as i64),
        _ => Err(bad(&lower)),
    }
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

/// `[ip:][hostPort:]containerPort[/proto]` → ("80/tcp", HostIp, HostPort) per container
/// port, ranges expanded as the docker CLI does (see [`crate::ports`]).
pub fn parse_publish(spec: &str) -> anyhow::Result<Vec<(String, String, String)>> {
    Ok(crate::ports::parse_port_spec(spec)?
        .into_iter()
        .map(|m| (m.port, m.host_ip, m.host_port))
        .collect())
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

/// The resource flags' HostConfig fields, validated as pflag and docker's `parse` do.
struct Resources {
    fields: Map<String, Value>,
    shm_size: i64,
}

fn resources(o: &CreateOpts) -> anyhow::Result<Resources> {
    let mut f = Map::new();
    // Flag-time (pflag `Set`) failures first, each with docker's flag name.
    let memory = bytes_flag("-m, --memory", &o.memory)?;
    let nano_cpus = o
        .cpus
        .as_deref()
        .map(|c| parse_cpus(c).map_err(|e| flag_err("--cpus", c, e)))
        .transpose()?;
    let memory_swap = match o.memory_swap.as_deref() {
        Some("-1") => Some(-1),
        _ => bytes_flag("--memory-swap", &o.memory_swap)?,
    };
    let memory_reservation = bytes_flag("--memory-reservation", &o.memory_reservation)?;
    let shm_size = bytes_flag("--shm-size", &o.shm_size)?;
    let swappiness = int_flag("--memory-swappiness", &o.memory_swappiness)?;
    let cpu_shares = int_flag("-c, --cpu-shares", &o.cpu_shares)?;
    let cpu_period = int_flag("--cpu-period", &o.cpu_period)?;
    let cpu_quota = int_flag("--cpu-quota", &o.cpu_quota)?;
    let pids_limit = int_flag("--pids-limit", &o.pids_limit)?;
    let oom_score_adj = int_flag("--oom-score-adj", &o.oom_score_adj)?;
    // UlimitOpt keeps one entry per name, the last flag winning.
    let mut ulimits: BTreeMap<String, Value> = BTreeMap::new();
    for u in &o.ulimit {
        let v = parse_ulimit(u).map_err(|e| flag_err("--ulimit", u, e))?;
        ulimits.insert(v["Name"].as_str().unwrap_or_default().to_string(), v);
    }
    let mut sysctls = Map::new();
    for s in &o.sysctl {
        let (k, v) = validate_sysctl(s).map_err(|e| flag_err("--sysctl", s, e))?;
        sysctls.insert(k, v.into());
    }
    let mut devices = Vec::new();
    for d in &o.device {
        devices.push(parse_device(d)?);
    }
    // Then the checks of docker's `parse`.
    if let Some(s) = swappiness {
        if s != -1 && !(0..=100).contains(&s) {
            bail!("invalid value: {s}. Valid memory swappiness range is 0-100");
        }
    }
    let mut put = |k: &str, v: Option<i64>| {
        if let Some(v) = v {
            f.insert(k.into(), v.into());
        }
    };
    put("Memory", memory);
    put("MemorySwap", memory_swap);
    put("MemoryReservation", memory_reservation);
    put("MemorySwappiness", swappiness);
    put("CpuShares", cpu_shares);
    put("CpuPeriod", cpu_period);
    put("CpuQuota", cpu_quota);
    put("PidsLimit", pids_limit);
    put("OomScoreAdj", oom_score_adj);
    if let Some(n) = nano_cpus {
        f.insert("NanoCpus".into(), n.into());
    }
    if let Some(c) = &o.cpuset_cpus {
        f.insert("CpusetCpus".into(), c.clone().into());
    }
    if let Some(m) = &o.cpuset_mems {
        f.insert("CpusetMems".into(), m.clone().into());
    }
    if o.oom_kill_disable {
        f.insert("OomKillDisable".into(), true.into());
    }
    f.insert(
        "Ulimits".into(),
        Value::Array(ulimits.into_values().collect()),
    );
    f.insert("Devices".into(), Value::Array(devices));
    if !o.device_cgroup_rule.is_empty() {
        for rule in &o.device_cgroup_rule {
            crate::secopts::validate_device_cgroup_rule(rule)
                .map_err(|e| flag_err("--device-cgroup-rule", rule, e))?;
        }
        f.insert("DeviceCgroupRules".into(), json!(o.device_cgroup_rule));
    }
    // `Sysctls` and `Tmpfs` are omitempty maps.
    if !sysctls.is_empty() {
        f.insert("Sysctls".into(), Value::Object(sysctls));
    }
    let tmpfs: Map<String, Value> = o
        .tmpfs
        .iter()
        .map(|t| match t.split_once(':') {
            Some((k, v)) => (k.to_string(), v.into()),
            None => (t.to_string(), "".into()),
        })
        .collect();
    if !tmpfs.is_empty() {
        f.insert("Tmpfs".into(), Value::Object(tmpfs));
    }
    Ok(Resources {
        fields: f,
        shm_size: shm_size.unwrap_or(0),
    })
}

pub fn build_create(
    o: &CreateOpts,
    image: &str,
    cmd: &[String],
    mode: Mode,
    lookup: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<ContainerCreateRequest> {
    let resources = resources(o)?;
    let healthcheck = healthcheck(o)?;
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
        for (port, ip, host) in parse_publish(p)? {
            exposed.insert(port.clone(), json!({}));
            let entry = bindings.entry(port).or_insert_with(|| json!([]));
            if let Value::Array(a) = entry {
                a.push(json!({"HostIp": ip, "HostPort": host}));
            }
        }
    }
    for e in &o.expose {
        for port in crate::ports::expand_expose(e)? {
            exposed.insert(port, json!({}));
        }
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
        healthcheck,
        extra: Map::new(),
    };

    let mut extra = host_config_defaults();
    extra.insert("PortBindings".into(), Value::Object(bindings));
    let shm_size = resources.shm_size;
    extra.extend(resources.fields);
    let mut mounts = Vec::new();
    for m in &o.mount {
        mounts.push(
            crate::cmd::volume::parse_mount_flag(m)
                .map_err(|reason| flag_err("--mount", m, reason))?,
        );
    }
    if !mounts.is_empty() {
        extra.insert("Mounts".into(), Value::Array(mounts));
    }
    if !o.volumes_from.is_empty() {
        extra.insert("VolumesFrom".into(), json!(o.volumes_from));
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
    extra.insert("Dns".into(), json!(o.dns));
    extra.insert("DnsSearch".into(), json!(o.dns_search));
    extra.insert("DnsOptions".into(), json!(o.dns_option));
    if !o.link.is_empty() {
        extra.insert("Links".into(), json!(o.link));
    }
    if o.publish_all {
        extra.insert("PublishAllPorts".into(), json!(true));
    }
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
        security_opt: none_if_empty(&crate::secopts::parse_security_opts(&o.security_opt)?),
        extra_hosts: none_if_empty(&o.add_host),
        shm_size,
        init: if o.init { Some(true) } else { None },
        console_size: Some(mode.console_size),
        masked_paths: None,
        readonly_paths: None,
        extra,
    };
    let custom = !o.network_alias.is_empty() || o.ip.is_some() || o.mac_address.is_some();
    let endpoints = if network_mode == "default" || custom {
        let mut ep = default_endpoint();
        if !o.network_alias.is_empty() {
            ep["Aliases"] = json!(o.network_alias);
        }
        if let Some(ip) = &o.ip {
            ep["IPAMConfig"] = json!({"IPv4Address": ip});
        }
        if let Some(mac) = &o.mac_address {
            ep["MacAddress"] = json!(mac);
        }
        json!({ network_mode.clone(): ep })
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

/// Go's `filepath.Clean`.
pub fn go_clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
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

    fn err_for(argv: &[&str]) -> anyhow::Error {
        let t = T::try_parse_from(std::iter::once("run").chain(argv.iter().copied())).unwrap();
        let mode = Mode {
            detach: t.detach,
            auto_remove: t.rm,
            console_size: [0, 0],
        };
        build_create(&t.o, &t.args[0], &t.args[1..], mode, |_| None).unwrap_err()
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
            [("80/tcp".into(), "".into(), "".into())]
        );
        assert_eq!(
            parse_publish("8080:80/udp").unwrap(),
            [("80/udp".into(), "".into(), "8080".into())]
        );
        assert_eq!(
            parse_publish("127.0.0.1:18089:80").unwrap(),
            [("80/tcp".into(), "127.0.0.1".into(), "18089".into())]
        );
        assert!(parse_restart("sometimes").is_err());
        assert!(parse_restart("always:3").is_err());
        assert_eq!(
            parse_restart("unless-stopped").unwrap().name,
            "unless-stopped"
        );
    }

    /// Bodies docker CLI 28.2.2 sent for the same flags (see tests/data/README.md).
    #[test]
    fn resource_flags_match_docker_cli_bodies() {
        let one: Value =
            serde_json::from_str(include_str!("../tests/data/run_resource_flags_1.json")).unwrap();
        let (got, _) = body_for(&[
            "--rm",
            "--memory-swap",
            "-1",
            "--memory-reservation",
            "32m",
            "-c",
            "512",
            "--cpuset-cpus",
            "0-1",
            "--cpuset-mems",
            "0",
            "--cpu-period",
            "100000",
            "--cpu-quota",
            "50000",
            "--ulimit",
            "nofile=1024:2048",
            "--ulimit",
            "nproc=50",
            "--ulimit",
            "core=0",
            "--oom-kill-disable",
            "--shm-size",
            "128m",
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "--sysctl",
            "kernel.shmmax=1000",
            "--device",
            "/dev/null",
            "--device",
            "/dev/zero:/dev/z",
            "--device",
            "/dev/full:r",
            "--device",
            "/dev/random:/dev/rnd:rw",
            "--memory-swappiness",
            "10",
            "--oom-score-adj",
            "-500",
            "--tmpfs",
            "/run",
            "--tmpfs",
            "/tmp:rw,size=64m",
            "--init",
            "busybox",
            "true",
        ]);
        assert_eq!(got, one);
        let two: Value =
            serde_json::from_str(include_str!("../tests/data/run_resource_flags_2.json")).unwrap();
        let (got, _) = body_for(&[
            "-m",
            "1.5g",
            "--memory-swap",
            "3g",
            "--cpus",
            "1.25",
            "--pids-limit",
            "-1",
            "--cpu-shares",
            "0x10",
            "--cpu-quota",
            "-1",
            "--ulimit",
            "nofile=10",
            "--ulimit",
            "nofile=20:-1",
            "--ulimit",
            "stack=-1:-1",
            "--shm-size",
            "1KiB",
            "--sysctl",
            "fs.mqueue.msg_max=20",
            "--sysctl",
            "net.core.somaxconn=",
            "--device",
            "/dev/a/../b/",
            "--device",
            "/dev/sda:/dev/xvda/:rw",
            "--device",
            "/dev/c/:m",
            "--tmpfs",
            "/run:size=1m",
            "--tmpfs",
            "/run:size=2m",
            "--memory-swappiness",
            "-1",
            "--oom-score-adj",
            "2000",
            "--memory-reservation",
            "10 mb",
            "busybox",
            "sh",
            "-c",
            "echo hi",
        ]);
        assert_eq!(got, two);
    }

    #[test]
    fn each_resource_flag_alone() {
        let hc = |argv: &[&str]| {
            let mut a = argv.to_vec();
            a.push("img");
            body_for(&a).0["HostConfig"].clone()
        };
        assert_eq!(hc(&["--memory-swap", "-1"])["MemorySwap"], json!(-1));
        assert_eq!(hc(&["--memory-swap", "1g"])["MemorySwap"], json!(1 << 30));
        assert_eq!(
            hc(&["--memory-reservation", "512k"])["MemoryReservation"],
            json!(512 * 1024)
        );
        assert_eq!(hc(&["-c", "2"])["CpuShares"], json!(2));
        assert_eq!(hc(&["--cpu-shares=1024"])["CpuShares"], json!(1024));
        assert_eq!(hc(&["--cpuset-cpus", "1,3"])["CpusetCpus"], json!("1,3"));
        assert_eq!(hc(&["--cpuset-mems", "0-1"])["CpusetMems"], json!("0-1"));
        assert_eq!(hc(&["--cpu-period", "50000"])["CpuPeriod"], json!(50000));
        assert_eq!(hc(&["--cpu-quota", "25000"])["CpuQuota"], json!(25000));
        assert_eq!(
            hc(&["--ulimit", "nofile=5"])["Ulimits"],
            json!([{"Name": "nofile", "Soft": 5, "Hard": 5}])
        );
        assert_eq!(hc(&["--oom-kill-disable"])["OomKillDisable"], json!(true));
        assert_eq!(hc(&[])["OomKillDisable"], json!(false));
        assert_eq!(hc(&["--shm-size", "64m"])["ShmSize"], json!(64 << 20));
        assert_eq!(hc(&[])["ShmSize"], json!(0));
        assert_eq!(
            hc(&["--sysctl", "kernel.sem=1 2 3 4"])["Sysctls"],
            json!({"kernel.sem": "1 2 3 4"})
        );
        assert!(hc(&[]).get("Sysctls").is_none());
        assert_eq!(
            hc(&["--device", "/dev/fuse"])["Devices"],
            json!([{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"}])
        );
        assert_eq!(hc(&[])["Devices"], json!([]));
        assert_eq!(
            hc(&["--memory-swappiness", "0"])["MemorySwappiness"],
            json!(0)
        );
        assert_eq!(hc(&[])["MemorySwappiness"], json!(-1));
        assert_eq!(hc(&["--oom-score-adj", "-17"])["OomScoreAdj"], json!(-17));
        assert_eq!(
            hc(&["--tmpfs", "/scratch:noexec"])["Tmpfs"],
            json!({"/scratch": "noexec"})
        );
        assert!(hc(&[]).get("Tmpfs").is_none());
        assert_eq!(hc(&["--init"])["Init"], json!(true));
        assert!(hc(&[]).get("Init").is_none());
        assert_eq!(hc(&["--pids-limit", "0"])["PidsLimit"], json!(0));
        assert_eq!(hc(&["--cpus", "2"])["NanoCpus"], json!(2_000_000_000i64));
    }

    /// Messages as docker CLI 28.2.2 printed them for the same values.
    #[test]
    fn invalid_resource_values() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["-m", "x"],
                r#"invalid argument "x" for "-m, --memory" flag: invalid size: 'x'"#,
            ),
            (
                &["--memory-swap", "x"],
                r#"invalid argument "x" for "--memory-swap" flag: invalid size: 'x'"#,
            ),
            (
                &["--memory-swap", "-2"],
                r#"invalid argument "-2" for "--memory-swap" flag: invalid size: '-2'"#,
            ),
            (
                &["--memory-reservation", "1q"],
                r#"invalid argument "1q" for "--memory-reservation" flag: invalid suffix: 'q'"#,
            ),
            (
                &["--shm-size", "abc"],
                r#"invalid argument "abc" for "--shm-size" flag: invalid size: 'abc'"#,
            ),
            (
                &["-m", "1.2.3"],
                r#"invalid argument "1.2.3" for "-m, --memory" flag: strconv.ParseFloat: parsing "1.2.3": invalid syntax"#,
            ),
            (
                &["-m", "x1"],
                r#"invalid argument "x1" for "-m, --memory" flag: strconv.ParseFloat: parsing "x1": invalid syntax"#,
            ),
            (
                &["-m", "1bb"],
                r#"invalid argument "1bb" for "-m, --memory" flag: invalid suffix: 'bb'"#,
            ),
            (
                &["-m", "1KIBX"],
                r#"invalid argument "1KIBX" for "-m, --memory" flag: invalid suffix: 'KIBX'"#,
            ),
            (
                &["-m", "1e400"],
                r#"invalid argument "1e400" for "-m, --memory" flag: strconv.ParseFloat: parsing "1e400": value out of range"#,
            ),
            (
                &["-c", "x"],
                r#"invalid argument "x" for "-c, --cpu-shares" flag: strconv.ParseInt: parsing "x": invalid syntax"#,
            ),
            (
                &["--cpu-period", "1.5"],
                r#"invalid argument "1.5" for "--cpu-period" flag: strconv.ParseInt: parsing "1.5": invalid syntax"#,
            ),
            (
                &["--cpu-quota", "99999999999999999999"],
                r#"invalid argument "99999999999999999999" for "--cpu-quota" flag: strconv.ParseInt: parsing "99999999999999999999": value out of range"#,
            ),
            (
                &["--pids-limit", "x"],
                r#"invalid argument "x" for "--pids-limit" flag: strconv.ParseInt: parsing "x": invalid syntax"#,
            ),
            (
                &["--memory-swappiness", "x"],
                r#"invalid argument "x" for "--memory-swappiness" flag: strconv.ParseInt: parsing "x": invalid syntax"#,
            ),
            (
                &["--memory-swappiness", "101"],
                "invalid value: 101. Valid memory swappiness range is 0-100",
            ),
            (
                &["--oom-score-adj", "x"],
                r#"invalid argument "x" for "--oom-score-adj" flag: strconv.ParseInt: parsing "x": invalid syntax"#,
            ),
            (
                &["--ulimit", "x"],
                r#"invalid argument "x" for "--ulimit" flag: invalid ulimit argument: x"#,
            ),
            (
                &["--ulimit", "foo=1"],
                r#"invalid argument "foo=1" for "--ulimit" flag: invalid ulimit type: foo"#,
            ),
            (
                &["--ulimit", "nofile=a"],
                r#"invalid argument "nofile=a" for "--ulimit" flag: strconv.ParseInt: parsing "a": invalid syntax"#,
            ),
            (
                &["--ulimit", "nofile=2:1"],
                r#"invalid argument "nofile=2:1" for "--ulimit" flag: ulimit soft limit must be less than or equal to hard limit: 2 > 1"#,
            ),
            (
                &["--ulimit", "nofile=1:2:3"],
                r#"invalid argument "nofile=1:2:3" for "--ulimit" flag: too many limit value arguments - 1:2:3, can only have up to two, `soft[:hard]`"#,
            ),
            (
                &["--sysctl", "kernel.foo=1"],
                r#"invalid argument "kernel.foo=1" for "--sysctl" flag: sysctl 'kernel.foo=1' is not allowed"#,
            ),
            (
                &["--sysctl", "x"],
                r#"invalid argument "x" for "--sysctl" flag: sysctl 'x' is not allowed"#,
            ),
            (&["--device", ":/x"], "bad format for path: :/x"),
            (&["--device", "/dev/a:rel"], "rel is not an absolute path"),
            (&["--device", "/dev/a:/b:q"], "bad mode specified: q"),
            (&["--device", "/a:/b:c:d"], "bad format for path: /a:/b:c:d"),
            (
                &["--cpus", "x"],
                r#"invalid argument "x" for "--cpus" flag: failed to parse x as a rational number"#,
            ),
        ];
        for (argv, want) in cases {
            let mut a = argv.to_vec();
            a.push("img");
            let err = err_for(&a);
            assert_eq!(err.to_string(), *want, "for {argv:?}");
            let is_flag = err.downcast_ref::<FlagError>().is_some();
            assert_eq!(is_flag, want.starts_with("invalid argument"), "{argv:?}");
        }
    }

    /// Bodies docker CLI 28.2.2 sent for the health flags (see tests/data/README.md).
    #[test]
    fn health_flags_match_docker_cli_bodies() {
        let cases: &[(&str, &[&str])] = &[
            (
                include_str!("../tests/data/run_health_flags_1.json"),
                &[
                    "--rm",
                    "--health-cmd",
                    "curl -f http://localhost/ || exit 1",
                    "--health-interval",
                    "200ms",
                    "--health-timeout",
                    "2s",
                    "--health-start-period",
                    "1m30s",
                    "--health-start-interval",
                    "5s",
                    "--health-retries",
                    "4",
                    "busybox",
                    "true",
                ],
            ),
            (
                include_str!("../tests/data/run_health_flags_2.json"),
                &[
                    "-d",
                    "--name",
                    "hc",
                    "--health-cmd",
                    "true",
                    "--health-interval",
                    "200ms",
                    "busybox",
                    "sleep",
                    "100",
                ],
            ),
            (
                include_str!("../tests/data/create_no_healthcheck.json"),
                &["--no-healthcheck", "busybox", "true"],
            ),
        ];
        for (want, argv) in cases {
            let want: Value = serde_json::from_str(want).unwrap();
            let got = body_for(argv).0;
            assert_eq!(got, want, "body for {argv:?}");
        }
        let health = |argv: &[&str]| {
            let mut a = argv.to_vec();
            a.push("img");
            body_for(&a).0.get("Healthcheck").cloned()
        };
        // What docker CLI 28.2.2 sent for these, captured the same way.
        assert_eq!(
            health(&["--health-interval", "1s"]),
            Some(json!({"Interval": 1_000_000_000i64}))
        );
        assert_eq!(
            health(&[
                "--health-start-interval",
                "1us",
                "--health-timeout",
                "1.5µs"
            ]),
            Some(json!({"Timeout": 1500, "StartInterval": 1000}))
        );
        assert_eq!(
            health(&["--health-retries", "0", "--health-interval", "1.5h2m"]),
            Some(json!({"Interval": 5_520_000_000_000i64}))
        );
        assert_eq!(health(&["--health-cmd", ""]), None);
        assert_eq!(health(&[]), None);
        assert_eq!(
            health(&["--no-healthcheck", "--health-cmd", ""]),
            Some(json!({"Test": ["NONE"]}))
        );
        assert_eq!(
            health(&["--health-interval", "0s", "--no-healthcheck"]),
            Some(json!({"Test": ["NONE"]}))
        );
    }

    /// Messages as docker CLI 28.2.2 printed them.
    #[test]
    fn invalid_health_values() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["--no-healthcheck", "--health-retries", "2"],
                "--no-healthcheck conflicts with --health-* options",
            ),
            (
                &["--health-interval", "-1s"],
                "--health-interval cannot be negative",
            ),
            (
                &["--health-timeout", "-1s"],
                "--health-timeout cannot be negative",
            ),
            (
                &["--health-retries", "-1"],
                "--health-retries cannot be negative",
            ),
            (
                &["--health-start-period", "-1s"],
                "--health-start-period cannot be negative",
            ),
            (
                &["--health-start-interval", "-1ns"],
                "--health-start-interval cannot be negative",
            ),
            (
                &["--health-interval", "abc"],
                r#"invalid argument "abc" for "--health-interval" flag: time: invalid duration "abc""#,
            ),
            (
                &["--health-interval", "5"],
                r#"invalid argument "5" for "--health-interval" flag: time: missing unit in duration "5""#,
            ),
            (
                &["--health-retries", "x"],
                r#"invalid argument "x" for "--health-retries" flag: strconv.ParseInt: parsing "x": invalid syntax"#,
            ),
        ];
        for (argv, want) in cases {
            let mut a = argv.to_vec();
            a.push("img");
            let err = err_for(&a);
            assert_eq!(err.to_string(), *want, "for {argv:?}");
            let is_flag = err.downcast_ref::<FlagError>().is_some();
            assert_eq!(is_flag, want.starts_with("invalid argument"), "{argv:?}");
        }
    }

    #[test]
    fn go_number_parsing() {
        assert_eq!(parse_go_int("0x10"), Ok(16));
        assert_eq!(parse_go_int("010"), Ok(8));
        assert_eq!(parse_go_int("0b11"), Ok(3));
        assert_eq!(parse_go_int("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_go_int("1_000"), Ok(1000));
        assert!(parse_go_int("9223372036854775808")
            .unwrap_err()
            .ends_with("value out of range"));
        assert!(parse_go_int("").is_err());
        assert!(parse_go_int("08").is_err());
        assert_eq!(ram_in_bytes("1 kb").unwrap(), 1024);
        assert_eq!(ram_in_bytes("1 ").unwrap(), 1);
        assert_eq!(ram_in_bytes(".5k").unwrap(), 512);
        assert_eq!(ram_in_bytes("5.k").unwrap(), 5120);
        assert_eq!(ram_in_bytes("1e3").unwrap(), 1000);
        assert_eq!(ram_in_bytes("1b").unwrap(), 1);
        assert_eq!(parse_cpus("0.000000001").unwrap(), 1);
        assert_eq!(
            parse_cpus("0.0000000001").unwrap_err().to_string(),
            "value is too precise"
        );
    }
}
