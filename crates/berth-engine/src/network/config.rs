//! A container's network settings: what it asked for (mode, networks, aliases, ports,
//! DNS options), parsed from the create request, and what it holds while it runs
//! (addresses, veths, host ports), persisted in its record.

use berth_model::api::{ContainerCreateRequest, EndpointConfig, HostConfig};
use berth_model::ports::port_range as host_port_range;
use berth_model::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// The daemon's network flags (`--bridge`, `--bip`), plus the name of its nft table.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// The default bridge's interface name.
    pub bridge: String,
    /// The default bridge's address and prefix (`10.77.0.1/16`).
    pub bip: Option<String>,
    /// `table inet <name>`; other names let test daemons run side by side.
    pub nft_table: String,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            bridge: berth_network::DEFAULT_BRIDGE.into(),
            bip: None,
            nft_table: berth_network::nft::TABLE.into(),
        }
    }
}

impl NetworkConfig {
    /// (subnet, gateway) of the default bridge.
    pub fn default_subnet(&self) -> Result<(berth_network::Subnet, Ipv4Addr)> {
        match &self.bip {
            None => Ok((
                berth_network::DEFAULT_SUBNET,
                berth_network::DEFAULT_GATEWAY,
            )),
            Some(bip) => {
                let (ip, prefix) = bip.split_once('/').ok_or_else(|| {
                    Error::invalid(format!("invalid --bip {bip}: want ip/prefix"))
                })?;
                let ip: Ipv4Addr = ip
                    .parse()
                    .map_err(|_| Error::invalid(format!("invalid --bip {bip}: bad address")))?;
                let prefix: u8 = prefix
                    .parse()
                    .map_err(|_| Error::invalid(format!("invalid --bip {bip}: bad prefix")))?;
                let net = berth_network::Subnet::new(ip, prefix).map_err(super::net_err)?;
                let net =
                    berth_network::Subnet::new(net.network(), prefix).map_err(super::net_err)?;
                Ok((net, ip))
            }
        }
    }
}

/// One network a container belongs to: its settings and, while it runs, its endpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Endpoint {
    pub network_id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `name:alias` of `--link` (user networks keep them per endpoint).
    #[serde(default)]
    pub links: Vec<String>,
    /// `--ip`.
    #[serde(default)]
    pub want_ip: Option<Ipv4Addr>,
    /// `--mac-address`.
    #[serde(default)]
    pub want_mac: Option<String>,
    // While running:
    #[serde(default)]
    pub endpoint_id: String,
    #[serde(default)]
    pub ip: Option<Ipv4Addr>,
    #[serde(default)]
    pub prefix: u8,
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
    #[serde(default)]
    pub mac: String,
    #[serde(default)]
    pub host_if: String,
}

impl Endpoint {
    pub fn clear_runtime(&mut self) {
        self.endpoint_id.clear();
        self.ip = None;
        self.prefix = 0;
        self.gateway = None;
        self.mac.clear();
        self.host_if.clear();
    }
}

/// One host port a running container holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PublishedPort {
    /// `80/tcp`.
    pub port: String,
    /// `0.0.0.0` for every address.
    pub host_ip: String,
    pub host_port: u16,
}

/// What a container record keeps about networking.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ContainerNet {
    /// Network name → endpoint; the network of `NetworkMode` first by `order`.
    #[serde(default)]
    pub endpoints: BTreeMap<String, Endpoint>,
    /// Network names in the order they were joined (eth0, eth1, ...).
    #[serde(default)]
    pub order: Vec<String>,
    /// Host ports held while running.
    #[serde(default)]
    pub ports: Vec<PublishedPort>,
    /// The namespace file while running (`SandboxKey`).
    #[serde(default)]
    pub sandbox_key: String,
    /// Sandbox ID shown in inspect (one per run).
    #[serde(default)]
    pub sandbox_id: String,
}

impl ContainerNet {
    pub fn for_create(wanted: Option<(String, Endpoint)>) -> Self {
        let mut n = ContainerNet::default();
        if let Some((name, ep)) = wanted {
            n.order.push(name.clone());
            n.endpoints.insert(name, ep);
        }
        n
    }
}

/// The network modes of `HostConfig.NetworkMode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `default`, `bridge` or a user network: the container's own namespace with veths.
    Bridge(String),
    None,
    Host,
    Container(String),
}

pub fn mode(network_mode: &str) -> Mode {
    match network_mode {
        "" | "default" | "bridge" => Mode::Bridge(super::BRIDGE.into()),
        "none" => Mode::None,
        "host" => Mode::Host,
        m => match m.strip_prefix("container:") {
            Some(c) => Mode::Container(c.to_string()),
            None => Mode::Bridge(m.to_string()),
        },
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `HostConfig.Dns`, `DnsSearch`, `DnsOptions` (kept in the untyped part of HostConfig).
pub fn dns_settings(hc: &HostConfig) -> (Vec<String>, Vec<String>, Vec<String>) {
    (
        strings(hc.extra.get("Dns")),
        strings(hc.extra.get("DnsSearch")),
        strings(hc.extra.get("DnsOptions")),
    )
}

/// `HostConfig.Links` as (container, alias).
pub fn links(hc: &HostConfig) -> Vec<(String, String)> {
    strings(hc.extra.get("Links"))
        .into_iter()
        .map(|l| parse_link(&l))
        .collect()
}

/// `name:alias`, `name` (alias = name), or dockerd's stored `/name:/ctr/alias`.
pub fn parse_link(l: &str) -> (String, String) {
    let (n, a) = l.split_once(':').unwrap_or((l, l));
    let n = n.trim_start_matches('/');
    let a = a.rsplit('/').next().unwrap_or(a);
    (n.to_string(), a.to_string())
}

pub fn publish_all(hc: &HostConfig) -> bool {
    hc.extra
        .get("PublishAllPorts")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// One requested binding: container port key (`80/tcp`), host ip (`""` = all), host
/// port (0 = pick one); `HostPort: "8000-8010"` asks for one free port of that range
/// (`host_port` 8000, `host_port_end` 8010; equal for a single port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedPort {
    pub port: String,
    pub ctr_port: u16,
    pub proto: berth_network::Proto,
    pub host_ip: String,
    pub host_port: u16,
    pub host_port_end: u16,
}

/// The ports of an `ExposedPorts` key: `80/tcp`, or `80-81/tcp` from images whose
/// EXPOSE ranges were kept unexpanded.
pub fn expand_port_key(key: &str) -> Result<Vec<(u16, berth_network::Proto)>> {
    let (num, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let bad = || Error::invalid(format!("invalid port specification: \"{key}\""));
    let (a, b) = berth_model::ports::port_range(num).ok_or_else(bad)?;
    let proto: berth_network::Proto = proto.parse().map_err(super::net_err)?;
    Ok((a..=b).map(|p| (p, proto)).collect())
}

fn split_port(key: &str) -> Result<(u16, berth_network::Proto)> {
    let (num, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let n: u16 = num
        .parse()
        .map_err(|_| Error::invalid(format!("invalid port specification: \"{key}\"")))?;
    let proto: berth_network::Proto = proto.parse().map_err(super::net_err)?;
    Ok((n, proto))
}

/// `PortBindings`, then (with `PublishAllPorts`) every other exposed port, as dockerd
/// publishes them.
pub fn wanted_ports(
    hc: &HostConfig,
    exposed: Option<&BTreeMap<String, Value>>,
) -> Result<Vec<WantedPort>> {
    let mut out = Vec::new();
    let bindings = hc
        .extra
        .get("PortBindings")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (key, list) in &bindings {
        let (ctr_port, proto) = split_port(key)?;
        let key = format!("{ctr_port}/{proto}");
        let list = list.as_array().cloned().unwrap_or_default();
        let list = if list.is_empty() {
            vec![Value::Null]
        } else {
            list
        };
        for b in list {
            let host_ip = b
                .get("HostIp")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let hp = b.get("HostPort").and_then(Value::as_str).unwrap_or("");
            let (host_port, host_port_end) = if hp.is_empty() {
                (0, 0)
            } else {
                host_port_range(hp).ok_or_else(|| {
                    Error::invalid(format!("invalid port specification: \"{hp}\""))
                })?
            };
            if !host_ip.is_empty() && host_ip.parse::<Ipv4Addr>().is_err() {
                return Err(Error::invalid(format!(
                    "invalid IP address in port binding: {host_ip}"
                )));
            }
            out.push(WantedPort {
                port: key.clone(),
                ctr_port,
                proto,
                host_ip,
                host_port,
                host_port_end,
            });
        }
    }
    if publish_all(hc) {
        for key in exposed
            .map(|e| e.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            for (ctr_port, proto) in expand_port_key(&key)? {
                let key = format!("{ctr_port}/{proto}");
                if out.iter().any(|w| w.port == key) {
                    continue;
                }
                out.push(WantedPort {
                    port: key,
                    ctr_port,
                    proto,
                    host_ip: String::new(),
                    host_port: 0,
                    host_port_end: 0,
                });
            }
        }
    }
    Ok(out)
}

fn endpoint_from(cfg: Option<&EndpointConfig>) -> Result<Endpoint> {
    let mut ep = Endpoint::default();
    if let Some(c) = cfg {
        ep.aliases = c.aliases.clone().unwrap_or_default();
        ep.links = c.links.clone().unwrap_or_default();
        if let Some(ip) = c.ipam_config.as_ref().map(|i| i.ipv4_address.as_str()) {
            if !ip.is_empty() {
                ep.want_ip = Some(
                    ip.parse()
                        .map_err(|_| Error::invalid(format!("invalid IPv4 address: {ip}")))?,
                );
            }
        }
        if !c.mac_address.is_empty() {
            ep.want_mac = Some(c.mac_address.clone());
        }
    }
    Ok(ep)
}

pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    let bad = || Error::invalid(format!("invalid MAC address: {s}"));
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut out = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        out[i] = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// The endpoints a new container asks for: the network of `NetworkMode` with the
/// settings `NetworkingConfig.EndpointsConfig` gives it (under its name, or `default`).
/// `MacAddress` may also come in the container config (API < 1.44).
pub fn requested(
    req: &ContainerCreateRequest,
    hc: &HostConfig,
) -> Result<(Mode, Option<(String, Endpoint)>)> {
    let m = mode(&hc.network_mode);
    let endpoints: BTreeMap<String, EndpointConfig> = req
        .networking_config
        .as_ref()
        .and_then(|n| n.get("EndpointsConfig"))
        .filter(|v| !v.is_null())
        .map(|v| serde_json::from_value(v.clone()))
        .transpose()
        .map_err(|e| Error::invalid(format!("invalid EndpointsConfig: {e}")))?
        .unwrap_or_default();
    let legacy_mac = req
        .config
        .extra
        .get("MacAddress")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match &m {
        Mode::Bridge(name) => {
            let cfg = endpoints
                .get(name)
                .or_else(|| endpoints.get(&hc.network_mode))
                .or_else(|| endpoints.get("default"))
                .or_else(|| endpoints.values().next());
            let mut ep = endpoint_from(cfg)?;
            if ep.want_mac.is_none() && !legacy_mac.is_empty() {
                ep.want_mac = Some(legacy_mac);
            }
            if let Some(mac) = &ep.want_mac {
                parse_mac(mac)?;
            }
            Ok((m.clone(), Some((name.clone(), ep))))
        }
        _ => Ok((m, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn modes() {
        assert_eq!(mode("default"), Mode::Bridge("bridge".into()));
        assert_eq!(mode("none"), Mode::None);
        assert_eq!(mode("container:abc"), Mode::Container("abc".into()));
        assert_eq!(mode("mynet"), Mode::Bridge("mynet".into()));
    }

    #[test]
    fn ports_from_bindings_and_publish_all() {
        let mut hc = HostConfig::default();
        hc.extra.insert(
            "PortBindings".into(),
            json!({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}], "53/udp": [{"HostIp": "", "HostPort": ""}]}),
        );
        hc.extra.insert("PublishAllPorts".into(), json!(true));
        let exposed: BTreeMap<String, Value> = [
            ("80/tcp".to_string(), json!({})),
            ("443/tcp".to_string(), json!({})),
        ]
        .into();
        let w = wanted_ports(&hc, Some(&exposed)).unwrap();
        assert_eq!(w.len(), 3);
        assert!(w
            .iter()
            .any(|p| p.port == "80/tcp" && p.host_port == 8080 && p.host_ip == "127.0.0.1"));
        assert!(w.iter().any(|p| p.port == "53/udp" && p.host_port == 0));
        assert!(w.iter().any(|p| p.port == "443/tcp" && p.host_port == 0));
        hc.extra.insert("PortBindings".into(), json!({"x/tcp": []}));
        assert!(wanted_ports(&hc, None).is_err());
    }

    #[test]
    fn host_port_ranges_and_exposed_ranges() {
        let mut hc = HostConfig::default();
        hc.extra.insert(
            "PortBindings".into(),
            json!({"80/tcp": [{"HostIp": "", "HostPort": "8000-8010"}], "81/udp": [{"HostIp": "", "HostPort": "9000"}]}),
        );
        let w = wanted_ports(&hc, None).unwrap();
        let r = w.iter().find(|p| p.port == "80/tcp").unwrap();
        assert_eq!((r.host_port, r.host_port_end), (8000, 8010));
        let one = w.iter().find(|p| p.port == "81/udp").unwrap();
        assert_eq!((one.host_port, one.host_port_end), (9000, 9000));
        for bad in ["8010-8000", "x", "8000-", "70000"] {
            hc.extra.insert(
                "PortBindings".into(),
                json!({"80/tcp": [{"HostIp": "", "HostPort": bad}]}),
            );
            let e = wanted_ports(&hc, None).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("invalid port specification: \"{bad}\"")
            );
        }
        hc.extra.insert("PortBindings".into(), json!({}));
        hc.extra.insert("PublishAllPorts".into(), json!(true));
        let exposed: BTreeMap<String, Value> = [("80-81/tcp".to_string(), json!({}))].into();
        let w = wanted_ports(&hc, Some(&exposed)).unwrap();
        let keys: Vec<&str> = w.iter().map(|p| p.port.as_str()).collect();
        assert_eq!(keys, ["80/tcp", "81/tcp"]);
        assert!(expand_port_key("81-80/tcp").is_err());
        assert!(expand_port_key("80/sctpx").is_err());
    }

    #[test]
    fn links_and_macs() {
        assert_eq!(parse_link("web:w"), ("web".into(), "w".into()));
        assert_eq!(parse_link("web"), ("web".into(), "web".into()));
        assert_eq!(parse_link("/web:/me/w"), ("web".into(), "w".into()));
        assert_eq!(
            parse_mac("02:42:0a:00:00:05").unwrap(),
            [2, 0x42, 10, 0, 0, 5]
        );
        assert!(parse_mac("zz").is_err());
    }

    #[test]
    fn bip() {
        let c = NetworkConfig {
            bip: Some("10.99.3.1/24".into()),
            ..Default::default()
        };
        let (s, g) = c.default_subnet().unwrap();
        assert_eq!(s.to_string(), "10.99.3.0/24");
        assert_eq!(g, Ipv4Addr::new(10, 99, 3, 1));
    }
}
