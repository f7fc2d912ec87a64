//! Networks: the persisted records (the predefined `bridge`, `host` and `none`, and user
//! bridge networks), the address pools derived from them and from running containers, and
//! the verbs of `/networks` (create, ls, inspect, rm, prune, connect, disconnect).
//! Per-container wiring at start and exit is in [`setup`], startup repair in [`reconcile`].

pub mod config;
mod reconcile;
pub(crate) mod setup;
mod verbs;

pub use config::{ContainerNet, Endpoint, NetworkConfig, PublishedPort};

use crate::Engine;
use berth_model::{Error, ErrorKind, Result};
use berth_network::{Pool, Subnet};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Mutex;

pub const BRIDGE: &str = "bridge";
pub const HOST: &str = "host";
pub const NONE: &str = "none";

/// What is persisted for a network: one redb record in `networks`, keyed by its id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    pub created: String,
    /// `None` for `host` and `none`.
    #[serde(default)]
    pub subnet: Option<Subnet>,
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// The host interface: `berth0` (or `--bridge`), `br-<id12>`; empty for host/none.
    #[serde(default)]
    pub bridge: String,
    /// Whether the user gave the IPAM config (inspect then shows `Options: {}`).
    #[serde(default)]
    pub user_ipam: bool,
}

impl NetworkRecord {
    pub fn is_predefined(&self) -> bool {
        matches!(self.name.as_str(), BRIDGE | HOST | NONE)
    }
    pub fn is_bridge(&self) -> bool {
        self.driver == "bridge"
    }
    /// User networks get the embedded DNS server; the default bridge does not (Docker).
    pub fn has_dns(&self) -> bool {
        self.is_bridge() && self.name != BRIDGE
    }
}

/// In-memory network state: records by id, the address pools of bridge networks, the
/// host ports held by running containers, the DNS table and servers.
#[derive(Default)]
pub(crate) struct NetState {
    pub records: Mutex<BTreeMap<String, NetworkRecord>>,
    pub pools: Mutex<HashMap<String, Pool>>,
    /// (proto, host ip or "0.0.0.0", port) → container id.
    pub ports: Mutex<HashMap<(String, String, u16), String>>,
    pub dns: berth_network::dns::DnsTable,
    pub dns_servers: Mutex<HashMap<String, berth_network::dns::DnsServer>>,
    /// Serialises applying the nft ruleset and link changes of one network.
    pub nft: tokio::sync::Mutex<()>,
    /// The ruleset last applied, so an unchanged one is not applied again.
    pub applied: Mutex<Option<berth_network::nft::Ruleset>>,
}

pub(crate) fn net_err(e: berth_network::NetError) -> Error {
    Error::new(e.kind(), e.to_string())
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn new_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

pub(crate) fn not_found(name: &str) -> Error {
    Error::new(ErrorKind::NotFound, format!("network {name} not found"))
}

impl Engine {
    /// Finds a network by full id, then name, then unique id prefix, as dockerd does.
    pub fn network(&self, id_or_name: &str) -> Result<NetworkRecord> {
        let recs = lock(&self.net.records);
        if let Some(r) = recs.get(id_or_name) {
            return Ok(r.clone());
        }
        if let Some(r) = recs.values().find(|r| r.name == id_or_name) {
            return Ok(r.clone());
        }
        if !id_or_name.is_empty() {
            let hits: Vec<&NetworkRecord> = recs
                .values()
                .filter(|r| r.id.starts_with(id_or_name))
                .collect();
            match hits.as_slice() {
                [one] => return Ok((*one).clone()),
                [] => {}
                _ => {
                    return Err(Error::invalid(format!(
                        "network {id_or_name} is ambiguous ({} matches found based on ID prefix)",
                        hits.len()
                    )))
                }
            }
        }
        Err(not_found(id_or_name))
    }

    pub(crate) fn networks_snapshot(&self) -> Vec<NetworkRecord> {
        lock(&self.net.records).values().cloned().collect()
    }

    pub(crate) async fn persist_network(&self, rec: &NetworkRecord) -> Result<()> {
        let bytes = serde_json::to_vec(rec).map_err(|e| Error::internal(e.to_string()))?;
        let id = rec.id.clone();
        self.blocking(move |s| s.put_network(&id, &bytes).map_err(Error::from))
            .await
    }

    pub(crate) fn emit_network(&self, rec: &NetworkRecord, action: &str, container: Option<&str>) {
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_string(), rec.name.clone());
        attrs.insert("type".to_string(), rec.driver.clone());
        if let Some(c) = container {
            attrs.insert("container".to_string(), c.to_string());
        }
        self.emit("network", action, &rec.id, attrs);
    }
}

/// `NetworkSettings` of a container's inspect, and the `Ports`/`NetworkSettings` of `ps`.
pub(crate) mod show {
    use super::config::{self, Endpoint};
    use crate::container::Record;
    use crate::Engine;
    use serde_json::{json, Value};

    fn endpoint_json(e: &Endpoint) -> Value {
        let links: Vec<String> = e.links.clone();
        json!({
            "IPAMConfig": e.want_ip.map(|ip| json!({"IPv4Address": ip.to_string()})),
            "Links": if links.is_empty() { Value::Null } else { json!(links) },
            "Aliases": if e.aliases.is_empty() { Value::Null } else { json!(e.aliases) },
            "NetworkID": e.network_id,
            "EndpointID": e.endpoint_id,
            "Gateway": e.gateway.map(|g| g.to_string()).unwrap_or_default(),
            "IPAddress": e.ip.map(|g| g.to_string()).unwrap_or_default(),
            "IPPrefixLen": e.prefix,
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "MacAddress": e.mac,
            "DriverOpts": null,
        })
    }

    /// `"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]`, null for exposed only.
    pub fn ports(rec: &Record, running: bool) -> Value {
        let mut m = serde_json::Map::new();
        if !running {
            return Value::Object(m);
        }
        for k in rec.config.exposed_ports.iter().flat_map(|e| e.keys()) {
            match config::expand_port_key(k) {
                Ok(list) => {
                    for (n, proto) in list {
                        m.insert(format!("{n}/{proto}"), Value::Null);
                    }
                }
                Err(_) => {
                    let key = if k.contains('/') {
                        k.clone()
                    } else {
                        format!("{k}/tcp")
                    };
                    m.insert(key, Value::Null);
                }
            }
        }
        for p in &rec.net.ports {
            let entry = m.entry(p.port.clone()).or_insert(Value::Null);
            if entry.is_null() {
                *entry = json!([]);
            }
            if let Value::Array(a) = entry {
                a.push(json!({"HostIp": p.host_ip, "HostPort": p.host_port.to_string()}));
            }
        }
        Value::Object(m)
    }

    fn networks(rec: &Record, engine: &Engine) -> Value {
        let mut nets = serde_json::Map::new();
        match config::mode(&rec.host_config.network_mode) {
            config::Mode::Host | config::Mode::None => {
                let name = rec.host_config.network_mode.clone();
                let id = engine.network(&name).map(|n| n.id).unwrap_or_default();
                let e = Endpoint {
                    network_id: id,
                    ..Default::default()
                };
                let mut v = endpoint_json(&e);
                if matches!(rec.state.status, crate::container::Status::Running) {
                    v["EndpointID"] = json!(super::new_id());
                }
                nets.insert(name, v);
            }
            config::Mode::Container(_) => {}
            config::Mode::Bridge(_) => {
                for (n, e) in &rec.net.endpoints {
                    nets.insert(n.clone(), endpoint_json(e));
                }
            }
        }
        Value::Object(nets)
    }

    pub fn inspect(rec: &Record, engine: &Engine, running: bool) -> Value {
        let primary = rec
            .net
            .order
            .iter()
            .find_map(|n| rec.net.endpoints.get(n).map(|e| (n.clone(), e.clone())));
        // The top-level fields describe the default bridge's endpoint only (Docker).
        let def = primary
            .filter(|(n, _)| n == super::BRIDGE)
            .map(|(_, e)| e)
            .unwrap_or_default();
        json!({
            "Bridge": "",
            "SandboxID": rec.net.sandbox_id,
            "HairpinMode": false,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "Ports": ports(rec, running),
            "SandboxKey": rec.net.sandbox_key,
            "SecondaryIPAddresses": null,
            "SecondaryIPv6Addresses": null,
            "EndpointID": def.endpoint_id,
            "Gateway": def.gateway.map(|g| g.to_string()).unwrap_or_default(),
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "IPAddress": def.ip.map(|g| g.to_string()).unwrap_or_default(),
            "IPPrefixLen": def.prefix,
            "IPv6Gateway": "",
            "MacAddress": def.mac,
            "Networks": networks(rec, engine),
        })
    }

    /// `ps`'s `Ports`: one entry per binding, and exposed ports without one.
    pub fn summary_ports(rec: &Record, running: bool) -> Vec<Value> {
        let mut out = Vec::new();
        let Value::Object(m) = ports(rec, running) else {
            return out;
        };
        for (k, v) in m {
            let (num, proto) = k.split_once('/').unwrap_or((&k, "tcp"));
            let private: u16 = num.parse().unwrap_or(0);
            match v.as_array() {
                Some(list) => {
                    for b in list {
                        out.push(json!({
                            "IP": b["HostIp"],
                            "PrivatePort": private,
                            "PublicPort": b["HostPort"].as_str().and_then(|p| p.parse::<u16>().ok()).unwrap_or(0),
                            "Type": proto,
                        }));
                    }
                }
                None => out.push(json!({"PrivatePort": private, "Type": proto})),
            }
        }
        out
    }

    pub fn summary_networks(rec: &Record, engine: &Engine) -> Value {
        json!({"Networks": networks(rec, engine)})
    }
}
