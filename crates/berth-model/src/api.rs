//! Docker Engine API bodies (the 1.41 subset Berth serves). Field names follow the spec;
//! fields Berth does not act on yet are kept in `extra` so that what a client sent comes
//! back unchanged in `inspect`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Newest and oldest API versions served.
pub const API_VERSION: &str = "1.41";
pub const MIN_API_VERSION: &str = "1.24";

/// Docker's `StrSlice`: a JSON string is accepted where a list is expected (`"Cmd":"sh"`).
fn str_slice<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::One(s)) => Some(vec![s]),
        Some(OneOrMany::Many(v)) => Some(v),
    })
}

/// `Config` of a container (create body without HostConfig/NetworkingConfig).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub domainname: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub attach_stdin: bool,
    #[serde(default)]
    pub attach_stdout: bool,
    #[serde(default)]
    pub attach_stderr: bool,
    #[serde(default)]
    pub tty: bool,
    #[serde(default)]
    pub open_stdin: bool,
    #[serde(default)]
    pub stdin_once: bool,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default, deserialize_with = "str_slice")]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub volumes: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub working_dir: String,
    #[serde(default, deserialize_with = "str_slice")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub on_build: Option<Vec<String>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub maximum_retry_count: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfig {
    #[serde(default, rename = "Type")]
    pub kind: String,
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

/// `HostConfig`: the fields Berth acts on, the rest kept verbatim.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    #[serde(default)]
    pub binds: Option<Vec<String>>,
    #[serde(default)]
    pub log_config: LogConfig,
    #[serde(default)]
    pub network_mode: String,
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    #[serde(default)]
    pub auto_remove: bool,
    #[serde(default)]
    pub cap_add: Option<Vec<String>>,
    #[serde(default)]
    pub cap_drop: Option<Vec<String>>,
    #[serde(default)]
    pub privileged: bool,
    #[serde(default)]
    pub readonly_rootfs: bool,
    #[serde(default)]
    pub security_opt: Option<Vec<String>>,
    #[serde(default)]
    pub extra_hosts: Option<Vec<String>>,
    #[serde(default)]
    pub shm_size: i64,
    #[serde(default)]
    pub init: Option<bool>,
    #[serde(default)]
    pub console_size: Option<[u32; 2]>,
    #[serde(default)]
    pub masked_paths: Option<Vec<String>>,
    #[serde(default)]
    pub readonly_paths: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `POST /containers/create` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerCreateRequest {
    #[serde(flatten)]
    pub config: ContainerConfig,
    #[serde(default)]
    pub host_config: Option<HostConfig>,
    #[serde(default)]
    pub networking_config: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerCreateResponse {
    pub id: String,
    pub warnings: Vec<String>,
}

/// `POST /networks/create` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkCreateRequest {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub driver: String,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default, rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    #[serde(default, rename = "IPAM")]
    pub ipam: Option<NetworkIpam>,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub check_duplicate: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkIpam {
    #[serde(default)]
    pub driver: String,
    #[serde(default)]
    pub config: Option<Vec<NetworkIpamConfig>>,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkIpamConfig {
    #[serde(default)]
    pub subnet: String,
    #[serde(default)]
    pub gateway: String,
    #[serde(default, rename = "IPRange")]
    pub ip_range: String,
}

/// A container's settings for one network (`NetworkingConfig.EndpointsConfig` values, and
/// `EndpointConfig` of `POST /networks/{id}/connect`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointConfig {
    #[serde(default, rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpamConfig>,
    #[serde(default)]
    pub links: Option<Vec<String>>,
    #[serde(default)]
    pub aliases: Option<Vec<String>>,
    #[serde(default)]
    pub mac_address: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EndpointIpamConfig {
    #[serde(default, rename = "IPv4Address")]
    pub ipv4_address: String,
    #[serde(default, rename = "IPv6Address")]
    pub ipv6_address: String,
}

/// `POST /networks/{id}/connect` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkConnectRequest {
    #[serde(default)]
    pub container: String,
    #[serde(default)]
    pub endpoint_config: Option<EndpointConfig>,
}

/// `POST /networks/{id}/disconnect` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkDisconnectRequest {
    #[serde(default)]
    pub container: String,
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerState {
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GraphDriver {
    pub name: String,
    pub data: BTreeMap<String, String>,
}

/// `GET /containers/{id}/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerInspect {
    pub id: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    pub state: ContainerState,
    pub image: String,
    pub resolv_conf_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub log_path: String,
    pub name: String,
    pub restart_count: i64,
    pub driver: String,
    pub platform: String,
    pub mount_label: String,
    pub process_label: String,
    pub app_armor_profile: String,
    #[serde(rename = "ExecIDs")]
    pub exec_ids: Option<Vec<String>>,
    pub host_config: HostConfig,
    pub graph_driver: GraphDriver,
    pub mounts: Vec<Value>,
    pub config: ContainerConfig,
    pub network_settings: Value,
}

/// One row of `GET /containers/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerSummary {
    pub id: String,
    pub names: Vec<String>,
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    pub command: String,
    pub created: i64,
    pub ports: Vec<Value>,
    pub labels: BTreeMap<String, String>,
    pub state: String,
    pub status: String,
    pub host_config: Value,
    pub network_settings: Value,
    pub mounts: Vec<Value>,
}

/// `POST /containers/{id}/wait` reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitResponse {
    pub error: Option<WaitError>,
    pub status_code: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitError {
    pub message: String,
}

/// One row of `GET /images/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageSummary {
    pub containers: i64,
    pub created: i64,
    pub id: String,
    pub labels: Option<BTreeMap<String, String>>,
    pub parent_id: String,
    pub repo_digests: Option<Vec<String>>,
    pub repo_tags: Option<Vec<String>>,
    pub shared_size: i64,
    pub size: i64,
    pub virtual_size: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageRootFs {
    #[serde(rename = "Type")]
    pub kind: String,
    pub layers: Vec<String>,
}

/// `GET /images/{name}/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub parent: String,
    pub comment: String,
    pub created: String,
    pub container: String,
    pub container_config: Value,
    pub docker_version: String,
    pub author: String,
    pub config: Value,
    pub architecture: String,
    pub os: String,
    pub size: i64,
    pub virtual_size: i64,
    pub graph_driver: GraphDriver,
    #[serde(rename = "RootFS")]
    pub root_fs: ImageRootFs,
    pub metadata: Value,
}

/// `GET /version`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Version {
    pub platform: Value,
    pub components: Vec<Value>,
    pub version: String,
    pub api_version: String,
    pub min_api_version: String,
    pub git_commit: String,
    pub go_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    pub build_time: String,
}

/// Options of `GET /containers/{id}/logs`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogsOptions {
    pub follow: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Unix seconds (fractional); 0 means no bound.
    pub since: f64,
    pub until: f64,
    pub timestamps: bool,
    /// `None` is "all".
    pub tail: Option<usize>,
    /// Prefix each line with the log attributes (`--log-opt labels/env`), as `--details`.
    pub details: bool,
}

/// Options of `POST /containers/{id}/attach`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub stream: bool,
    pub logs: bool,
    pub detach_keys: Option<String>,
}

/// Options of `GET /containers/json`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListOptions {
    pub all: bool,
    pub limit: Option<usize>,
    pub size: bool,
    /// Decoded `filters` JSON: name → accepted values.
    pub filters: BTreeMap<String, Vec<String>>,
}

/// Which standard stream a chunk of container output came from (the multiplexed stream's
/// first header byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StdStream {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
}

impl StdStream {
    pub fn name(self) -> &'static str {
        match self {
            Self::Stdin => "stdin",
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// One line of a json-file log, as Docker writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub log: String,
    pub stream: String,
    /// Docker's `attrs`: the labels and env values chosen by `--log-opt labels/env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attrs: Option<BTreeMap<String, String>>,
    pub time: String,
}

/// Decodes the `filters` query parameter; Docker accepts both `{"k":["v"]}` and the older
/// `{"k":{"v":true}}`.
pub fn parse_filters(raw: &str) -> Result<BTreeMap<String, Vec<String>>, crate::Error> {
    if raw.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    let v: Value = serde_json::from_str(raw)
        .map_err(|e| crate::Error::invalid(format!("invalid filter: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| crate::Error::invalid("invalid filter: not an object"))?;
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        let vals = match v {
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            Value::Object(o) => o
                .iter()
                .filter(|(_, b)| b.as_bool().unwrap_or(false))
                .map(|(s, _)| s.clone())
                .collect(),
            _ => return Err(crate::Error::invalid(format!("invalid filter '{k}'"))),
        };
        out.insert(k.clone(), vals);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_from_docker_cli_keeps_unknown_fields() {
        let body = r#"{"Hostname":"","User":"","Tty":false,"Env":null,"Cmd":["true"],"Image":"busybox","Volumes":{},"Entrypoint":null,"Labels":{},"Future":1,"HostConfig":{"AutoRemove":true,"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"CpuShares":0,"LogConfig":{"Type":"","Config":{}}},"NetworkingConfig":{"EndpointsConfig":{}}}"#;
        let req: ContainerCreateRequest = serde_json::from_str(body).unwrap();
        assert_eq!(req.config.cmd, Some(vec!["true".to_string()]));
        assert_eq!(req.config.image, "busybox");
        let hc = req.host_config.unwrap();
        assert!(hc.auto_remove);
        assert_eq!(hc.extra.get("CpuShares"), Some(&Value::from(0)));
        assert_eq!(req.config.extra.get("Future"), Some(&Value::from(1)));
    }

    #[test]
    fn cmd_accepts_a_string() {
        let c: ContainerConfig = serde_json::from_str(r#"{"Cmd":"sh","Entrypoint":null}"#).unwrap();
        assert_eq!(c.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(c.entrypoint, None);
    }

    #[test]
    fn filters_both_forms() {
        let f = parse_filters(r#"{"status":["running"],"name":{"web":true}}"#).unwrap();
        assert_eq!(f["status"], vec!["running"]);
        assert_eq!(f["name"], vec!["web"]);
        assert!(parse_filters("[").is_err());
        assert!(parse_filters("").unwrap().is_empty());
    }
}

/// `POST /containers/{id}/exec` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecConfig {
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub privileged: bool,
    #[serde(default)]
    pub tty: bool,
    #[serde(default)]
    pub attach_stdin: bool,
    #[serde(default)]
    pub attach_stdout: bool,
    #[serde(default)]
    pub attach_stderr: bool,
    #[serde(default)]
    pub detach_keys: String,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub working_dir: String,
    #[serde(default, deserialize_with = "str_slice")]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub console_size: Option<[u32; 2]>,
}

/// `POST /exec/{id}/start` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecStartConfig {
    #[serde(default)]
    pub detach: bool,
    #[serde(default)]
    pub tty: bool,
    #[serde(default)]
    pub console_size: Option<[u32; 2]>,
}

/// `ProcessConfig` of an exec inspect (lower-case keys, as Docker sends them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecProcessConfig {
    pub tty: bool,
    pub entrypoint: String,
    pub arguments: Vec<String>,
    pub privileged: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
}

/// `GET /exec/{id}/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecInspect {
    #[serde(rename = "ID")]
    pub id: String,
    pub running: bool,
    pub exit_code: Option<i64>,
    pub process_config: ExecProcessConfig,
    pub open_stdin: bool,
    pub open_stderr: bool,
    pub open_stdout: bool,
    pub can_remove: bool,
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    pub detach_keys: String,
    pub pid: i64,
}

/// `GET /containers/{id}/top`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TopResponse {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// `Actor` of an event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventActor {
    #[serde(rename = "ID")]
    pub id: String,
    pub attributes: BTreeMap<String, String>,
}

/// One message of `GET /events`, with the legacy `status`/`id`/`from` fields Docker still
/// sends for containers and images.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventMessage {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: EventActor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

/// Options of `GET /events`: bounds in Unix nanoseconds, decoded filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventsOptions {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub filters: BTreeMap<String, Vec<String>>,
}

/// `HealthConfig`: a container's or image's health check. Durations are nanoseconds and
/// 0 means "inherit" (from the image) or "default", so zeros are left out as Go does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    #[serde(
        default,
        deserialize_with = "str_slice",
        skip_serializing_if = "Option::is_none"
    )]
    pub test: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// One probe run in `State.Health.Log`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthcheckResult {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

/// `State.Health`: present only for a container started with a health check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    pub failing_streak: i64,
    /// The last few results, oldest first.
    #[serde(default)]
    pub log: Vec<HealthcheckResult>,
}

fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

/// `pids_stats` of a stats sample; both fields are `omitempty` in Docker.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PidsStats {
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub current: u64,
    /// 0 when unlimited.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub limit: u64,
}

/// One row of a `blkio_stats` list: a device and an operation (`Read`, `Write`, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlkioStatEntry {
    #[serde(default)]
    pub major: u64,
    #[serde(default)]
    pub minor: u64,
    #[serde(default)]
    pub op: String,
    #[serde(default)]
    pub value: u64,
}

/// `blkio_stats`: Go slices without `omitempty`, so an unread list is `null` and an
/// empty one `[]` (dockerd sends `[]` on cgroup v1, `null` for what v2 cannot tell).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlkioStats {
    #[serde(default)]
    pub io_service_bytes_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub io_serviced_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub io_queue_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub io_service_time_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub io_wait_time_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub io_merged_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub io_time_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub sectors_recursive: Option<Vec<BlkioStatEntry>>,
}

/// `storage_stats` (Windows only in Docker): always `{}` on Linux.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StorageStats {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_count_normalized: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_size_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_count_normalized: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_size_bytes: Option<u64>,
}

/// CPU time of the container in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuUsage {
    #[serde(default)]
    pub total_usage: u64,
    /// Per CPU (cgroup v1 only; absent on v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percpu_usage: Option<Vec<u64>>,
    #[serde(default)]
    pub usage_in_kernelmode: u64,
    #[serde(default)]
    pub usage_in_usermode: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ThrottlingData {
    #[serde(default)]
    pub periods: u64,
    #[serde(default)]
    pub throttled_periods: u64,
    #[serde(default)]
    pub throttled_time: u64,
}

/// `cpu_stats` / `precpu_stats`; `system_cpu_usage` is the host's CPU time in
/// nanoseconds, the denominator of the CLI's CPU %.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuStats {
    #[serde(default)]
    pub cpu_usage: CpuUsage,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub system_cpu_usage: u64,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub online_cpus: u32,
    #[serde(default)]
    pub throttling_data: ThrottlingData,
}

/// `memory_stats`: every field `omitempty`, so a stopped container's is `{}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryStats {
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub usage: u64,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub max_usage: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stats: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub failcnt: u64,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub limit: u64,
}

/// Counters of one interface of the container's network namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkStats {
    #[serde(default)]
    pub rx_bytes: u64,
    #[serde(default)]
    pub rx_packets: u64,
    #[serde(default)]
    pub rx_errors: u64,
    #[serde(default)]
    pub rx_dropped: u64,
    #[serde(default)]
    pub tx_bytes: u64,
    #[serde(default)]
    pub tx_packets: u64,
    #[serde(default)]
    pub tx_errors: u64,
    #[serde(default)]
    pub tx_dropped: u64,
}

/// One sample of `GET /containers/{id}/stats`, fields in dockerd's order (trace
/// 31_events_stats). `networks` is left out when the container has no interface but `lo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatsResponse {
    #[serde(default)]
    pub read: String,
    #[serde(default)]
    pub preread: String,
    #[serde(default)]
    pub pids_stats: PidsStats,
    #[serde(default)]
    pub blkio_stats: BlkioStats,
    #[serde(default)]
    pub num_procs: u32,
    #[serde(default)]
    pub storage_stats: StorageStats,
    #[serde(default)]
    pub cpu_stats: CpuStats,
    #[serde(default)]
    pub precpu_stats: CpuStats,
    #[serde(default)]
    pub memory_stats: MemoryStats,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<BTreeMap<String, NetworkStats>>,
}

/// `POST /containers/{id}/update` body (Docker's `UpdateConfig`: `Resources` plus
/// `RestartPolicy`). Zero means "leave as is", as in dockerd; `PidsLimit` is a pointer
/// there, so absent differs from 0 (which, like any value ≤ 0, means unlimited).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerUpdateRequest {
    #[serde(default)]
    pub blkio_weight: u16,
    #[serde(default)]
    pub cpu_shares: i64,
    #[serde(default)]
    pub memory: i64,
    #[serde(default)]
    pub nano_cpus: i64,
    #[serde(default)]
    pub cpu_period: i64,
    #[serde(default)]
    pub cpu_quota: i64,
    #[serde(default)]
    pub cpuset_cpus: String,
    #[serde(default)]
    pub cpuset_mems: String,
    #[serde(default)]
    pub memory_reservation: i64,
    #[serde(default)]
    pub memory_swap: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    /// Other `Resources` fields a client sent; accepted, not acted on.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `POST /containers/{id}/update` reply; Go's nil slice is `null`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerUpdateResponse {
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

/// Registry credentials as the docker CLI sends them: the `X-Registry-Auth` header (base64url
/// JSON) and the body of `POST /auth`. Field names are Docker's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// `base64(user:password)`, as stored in `config.json`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serveraddress: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub identitytoken: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub registrytoken: String,
}

impl AuthConfig {
    /// Whether any credential is present (`{}` is none).
    pub fn is_empty(&self) -> bool {
        self.username.is_empty()
            && self.password.is_empty()
            && self.auth.is_empty()
            && self.identitytoken.is_empty()
            && self.registrytoken.is_empty()
    }
}

/// `POST /volumes/create` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeCreateRequest {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub driver: String,
    #[serde(default)]
    pub driver_opts: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

/// `UsageData` of a volume in `GET /system/df` (`-1` when not computed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeUsageData {
    pub size: i64,
    pub ref_count: i64,
}

/// A volume as `GET /volumes/{name}` shows it (fields in dockerd's order).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub created_at: String,
    pub driver: String,
    pub labels: Option<BTreeMap<String, String>>,
    pub mountpoint: String,
    pub name: String,
    pub options: Option<BTreeMap<String, String>>,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<VolumeUsageData>,
}

/// `GET /volumes` reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeListResponse {
    pub volumes: Vec<Volume>,
    pub warnings: Option<Vec<String>>,
}

/// `POST /volumes/prune` reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumePruneResponse {
    pub volumes_deleted: Option<Vec<String>>,
    pub space_reclaimed: u64,
}

/// One entry of `HostConfig.Mounts` (`--mount`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Mount {
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub source: String,
    #[serde(default, rename = "Type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub consistency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<MountBindOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<MountVolumeOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<MountTmpfsOptions>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountBindOptions {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub propagation: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub non_recursive: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountVolumeOptions {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_copy: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<MountDriverConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountDriverConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountTmpfsOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// One entry of a container's `Mounts` in inspect and `ps` (dockerd's `MountPoint`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub source: String,
    pub destination: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
}
