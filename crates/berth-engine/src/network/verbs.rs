//! The `/networks` verbs: create, list, inspect, remove, prune, connect, disconnect.

use super::config::Endpoint;
use super::{lock, net_err, new_id, not_found, NetworkRecord, BRIDGE, HOST, NONE};
use crate::container::{now_rfc3339, Status};
use crate::Engine;
use berth_model::api::{EndpointConfig, NetworkCreateRequest};
use berth_model::{Error, ErrorKind, Result};
use berth_network::{link, Pool, Subnet};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// The IPv4 routes of the host (`/proc/net/route`), so new subnets avoid them.
fn host_routes() -> Vec<Subnet> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        let (Ok(dst), Ok(mask)) = (u32::from_str_radix(f[1], 16), u32::from_str_radix(f[7], 16))
        else {
            continue;
        };
        if mask == 0 {
            continue; // the default route overlaps everything
        }
        let dst = Ipv4Addr::from(u32::from_be(dst));
        let prefix = u32::from_be(mask).leading_ones() as u8;
        if let Ok(s) = Subnet::new(dst, prefix) {
            out.push(s);
        }
    }
    out
}

fn driver_of(rec: &NetworkRecord) -> &str {
    &rec.driver
}

impl Engine {
    /// `POST /networks/create`.
    pub async fn network_create(&self, req: NetworkCreateRequest) -> Result<Value> {
        if req.name.is_empty() {
            return Err(Error::invalid("network name cannot be empty"));
        }
        let driver = if req.driver.is_empty() {
            "bridge"
        } else {
            req.driver.as_str()
        };
        if (matches!(req.name.as_str(), BRIDGE | HOST | NONE)
            || driver == "host"
            || driver == "null")
            && driver != "bridge"
        {
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!("only one instance of \"{driver}\" network is allowed"),
            ));
        }
        if driver != "bridge" {
            return Err(Error::not_found(format!("plugin \"{driver}\" not found")));
        }
        if req.enable_ipv6 {
            return Err(Error::new(
                ErrorKind::NotImplemented,
                "IPv6 networks are not supported",
            ));
        }
        let _g = self.net.nft.lock().await;
        if lock(&self.net.records).values().any(|r| r.name == req.name) {
            return Err(Error::conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let taken: Vec<Subnet> = lock(&self.net.records)
            .values()
            .filter_map(|r| r.subnet)
            .collect();
        let configs = req
            .ipam
            .as_ref()
            .and_then(|i| i.config.clone())
            .unwrap_or_default();
        if configs.len() > 1 {
            return Err(Error::invalid(
                "only one IPv4 IPAM configuration is supported",
            ));
        }
        let (subnet, gateway, user_ipam) = match configs.first().filter(|c| !c.subnet.is_empty()) {
            Some(c) => {
                let s: Subnet = c.subnet.parse().map_err(net_err)?;
                if let Some(o) = taken.iter().find(|t| t.overlaps(&s)) {
                    return Err(Error::new(
                        ErrorKind::Forbidden,
                        format!("Pool overlaps with other one on this address space ({o})"),
                    ));
                }
                let gw = if c.gateway.is_empty() {
                    None
                } else {
                    Some(c.gateway.parse::<Ipv4Addr>().map_err(|_| {
                        Error::invalid(format!("invalid gateway address {}", c.gateway))
                    })?)
                };
                (s, gw, true)
            }
            None => {
                if configs.first().is_some_and(|c| !c.gateway.is_empty()) {
                    return Err(Error::invalid("gateway can only be given with a subnet"));
                }
                let mut avoid = taken.clone();
                avoid.extend(host_routes());
                let s = berth_network::next_free_subnet(&avoid).ok_or_else(|| {
                    Error::new(
                        ErrorKind::Forbidden,
                        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network",
                    )
                })?;
                (
                    s,
                    None,
                    req.ipam.as_ref().is_some_and(|i| i.config.is_some()),
                )
            }
        };
        let pool = Pool::new(subnet, gateway).map_err(net_err)?;
        let id = new_id();
        let rec = NetworkRecord {
            id: id.clone(),
            name: req.name.clone(),
            driver: "bridge".into(),
            created: now_rfc3339(),
            subnet: Some(subnet),
            gateway: Some(pool.gateway),
            internal: req.internal,
            attachable: req.attachable,
            labels: req.labels.clone().unwrap_or_default(),
            options: req.options.clone().unwrap_or_default(),
            bridge: berth_network::bridge_name(&id),
            user_ipam,
        };
        link::ensure_bridge(&rec.bridge, pool.gateway, subnet.prefix)
            .await
            .map_err(net_err)?;
        if let Err(e) = self.persist_network(&rec).await {
            let _ = link::delete_link(&rec.bridge).await;
            return Err(e);
        }
        lock(&self.net.pools).insert(id.clone(), pool);
        lock(&self.net.records).insert(id.clone(), rec.clone());
        drop(_g);
        if let Err(e) = self.apply_rules().await {
            tracing::warn!(network = %id, "apply nft rules: {e}");
        }
        self.emit_network(&rec, "create", None);
        Ok(json!({"Id": id, "Warning": ""}))
    }

    /// The containers with an endpoint on a network (running, with an address).
    fn network_members(&self, rec: &NetworkRecord) -> Vec<(String, String, Endpoint)> {
        let mut out = Vec::new();
        for c in self.all_containers() {
            let inner = c.lock();
            let r = &inner.record;
            for (n, e) in &r.net.endpoints {
                if (e.network_id == rec.id || (e.network_id.is_empty() && *n == rec.name))
                    && e.ip.is_some()
                {
                    out.push((r.id.clone(), r.name.clone(), e.clone()));
                }
            }
            if rec.name == HOST
                && r.host_config.network_mode == HOST
                && matches!(r.state.status, Status::Running | Status::Paused)
            {
                out.push((r.id.clone(), r.name.clone(), Endpoint::default()));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Whether any container (running or not) is configured to use the network.
    fn network_in_use(&self, rec: &NetworkRecord) -> bool {
        self.all_containers().iter().any(|c| {
            let inner = c.lock();
            let r = &inner.record;
            r.net
                .endpoints
                .iter()
                .any(|(n, e)| e.network_id == rec.id || (e.network_id.is_empty() && *n == rec.name))
        })
    }

    pub(crate) fn network_json(&self, rec: &NetworkRecord, with_containers: bool) -> Value {
        let config = match (rec.subnet, rec.gateway) {
            (Some(s), Some(g)) => json!([{"Subnet": s.to_string(), "Gateway": g.to_string()}]),
            _ => json!([]),
        };
        let mut containers = serde_json::Map::new();
        if with_containers {
            for (id, name, e) in self.network_members(rec) {
                containers.insert(
                    id,
                    json!({
                        "Name": name,
                        "EndpointID": e.endpoint_id,
                        "MacAddress": e.mac,
                        "IPv4Address": e.ip.map(|ip| format!("{ip}/{}", e.prefix)).unwrap_or_default(),
                        "IPv6Address": "",
                    }),
                );
            }
        }
        let mut options: serde_json::Map<String, Value> = rec
            .options
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        if rec.name == BRIDGE {
            for (k, v) in [
                ("com.docker.network.bridge.default_bridge", "true"),
                ("com.docker.network.bridge.enable_icc", "true"),
                ("com.docker.network.bridge.enable_ip_masquerade", "true"),
                ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
                ("com.docker.network.bridge.name", rec.bridge.as_str()),
                ("com.docker.network.driver.mtu", "1500"),
            ] {
                options.insert(k.into(), v.into());
            }
        }
        json!({
            "Name": rec.name,
            "Id": rec.id,
            "Created": rec.created,
            "Scope": "local",
            "Driver": driver_of(rec),
            "EnableIPv6": false,
            "IPAM": {
                "Driver": "default",
                "Options": if rec.user_ipam { json!({}) } else { Value::Null },
                "Config": config,
            },
            "Internal": rec.internal,
            "Attachable": rec.attachable,
            "Ingress": false,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Containers": containers,
            "Options": options,
            "Labels": rec.labels,
        })
    }

    /// `GET /networks/{id}`.
    pub async fn network_inspect(&self, id_or_name: &str) -> Result<Value> {
        let rec = self.network(id_or_name)?;
        Ok(self.network_json(&rec, true))
    }

    fn network_matches(
        &self,
        rec: &NetworkRecord,
        filters: &BTreeMap<String, Vec<String>>,
    ) -> Result<bool> {
        for (k, vals) in filters {
            if vals.is_empty() {
                continue;
            }
            let ok = match k.as_str() {
                "name" => vals.iter().any(|v| rec.name.contains(v.as_str())),
                "id" => vals.iter().any(|v| rec.id.starts_with(v.as_str())),
                "driver" => vals.contains(&rec.driver),
                "scope" => vals.iter().any(|v| v == "local"),
                "type" => vals.iter().try_fold(false, |acc, v| match v.as_str() {
                    "custom" => Ok(acc || !rec.is_predefined()),
                    "builtin" => Ok(acc || rec.is_predefined()),
                    _ => Err(Error::invalid(format!("invalid filter: 'type'='{v}'"))),
                })?,
                "label" => vals.iter().all(|v| match v.split_once('=') {
                    Some((lk, lv)) => rec.labels.get(lk).is_some_and(|x| x == lv),
                    None => rec.labels.contains_key(v.as_str()),
                }),
                "dangling" => {
                    let want = vals.iter().any(|v| v == "true" || v == "1");
                    let dangling = !rec.is_predefined() && !self.network_in_use(rec);
                    dangling == want
                }
                other => return Err(Error::invalid(format!("invalid filter '{other}'"))),
            };
            if !ok {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// `GET /networks`.
    pub async fn network_list(&self, filters: BTreeMap<String, Vec<String>>) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut recs = self.networks_snapshot();
        recs.sort_by(|a, b| a.created.cmp(&b.created));
        for r in recs {
            if self.network_matches(&r, &filters)? {
                out.push(self.network_json(&r, false));
            }
        }
        Ok(out)
    }

    /// `DELETE /networks/{id}`.
    pub async fn network_remove(&self, id_or_name: &str) -> Result<()> {
        let rec = self.network(id_or_name)?;
        if rec.is_predefined() {
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!(
                    "{} is a pre-defined network and cannot be removed",
                    rec.name
                ),
            ));
        }
        let g = self.net.nft.lock().await;
        if !self.network_members(&rec).is_empty() {
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!(
                    "error while removing network: network {} id {} has active endpoints",
                    rec.name, rec.id
                ),
            ));
        }
        link::delete_link(&rec.bridge).await.map_err(net_err)?;
        let id = rec.id.clone();
        self.blocking(move |s| s.delete_network(&id).map_err(Error::from))
            .await?;
        lock(&self.net.records).remove(&rec.id);
        lock(&self.net.pools).remove(&rec.id);
        drop(g);
        if let Err(e) = self.apply_rules().await {
            tracing::warn!(network = %rec.id, "apply nft rules: {e}");
        }
        self.emit_network(&rec, "destroy", None);
        Ok(())
    }

    /// `POST /networks/prune`: user networks no container uses.
    pub async fn network_prune(&self, filters: BTreeMap<String, Vec<String>>) -> Result<Value> {
        let mut deleted = Vec::new();
        for r in self.networks_snapshot() {
            if r.is_predefined() || !self.network_members(&r).is_empty() || self.network_in_use(&r)
            {
                continue;
            }
            let mut f = filters.clone();
            f.remove("until");
            if !self.network_matches(&r, &f)? {
                continue;
            }
            if self.network_remove(&r.id).await.is_ok() {
                deleted.push(r.name.clone());
            }
        }
        Ok(
            json!({"NetworksDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) }}),
        )
    }

    /// `POST /networks/{id}/connect`.
    pub async fn network_connect(
        self: &Arc<Self>,
        id_or_name: &str,
        container: &str,
        cfg: Option<EndpointConfig>,
    ) -> Result<()> {
        let net = self.network(id_or_name)?;
        let c = self.get(container)?;
        let _op = c.op.lock().await;
        let rec = c.record();
        let mode = super::config::mode(&rec.host_config.network_mode);
        if !matches!(mode, super::config::Mode::Bridge(_)) || !net.is_bridge() {
            if net.name == HOST || rec.host_config.network_mode == HOST {
                return Err(Error::new(
                    ErrorKind::Forbidden,
                    "container cannot be disconnected from host network or connected to host network",
                ));
            }
            return Err(Error::new(
                ErrorKind::Forbidden,
                "container sharing network namespace with another container or host cannot be connected to any other network",
            ));
        }
        if rec.net.endpoints.values().any(|e| e.network_id == net.id)
            || rec.net.endpoints.contains_key(&net.name)
        {
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!(
                    "endpoint with name {} already exists in network {}",
                    rec.name, net.name
                ),
            ));
        }
        let cfg = cfg.unwrap_or_default();
        let mut ep = Endpoint {
            network_id: net.id.clone(),
            aliases: cfg.aliases.clone().unwrap_or_default(),
            links: cfg.links.clone().unwrap_or_default(),
            ..Default::default()
        };
        if let Some(ip) = cfg
            .ipam_config
            .as_ref()
            .map(|i| i.ipv4_address.clone())
            .filter(|s| !s.is_empty())
        {
            ep.want_ip = Some(
                ip.parse()
                    .map_err(|_| Error::invalid(format!("invalid IPv4 address: {ip}")))?,
            );
        }
        if !cfg.mac_address.is_empty() {
            super::config::parse_mac(&cfg.mac_address)?;
            ep.want_mac = Some(cfg.mac_address.clone());
        }
        if let (Some(ip), Some(subnet)) = (ep.want_ip, net.subnet) {
            if !subnet.contains(ip) {
                return Err(Error::invalid(format!(
                    "no configured subnet or ip-range contain the IP address {ip}"
                )));
            }
        }
        if net.name == BRIDGE && (!ep.aliases.is_empty() || ep.want_ip.is_some()) {
            return Err(Error::invalid(if ep.want_ip.is_some() {
                "user specified IP address is supported on user defined networks only"
            } else {
                "network-scoped alias is supported only for containers in user defined networks"
            }));
        }
        {
            let mut inner = c.lock();
            inner.record.net.endpoints.insert(net.name.clone(), ep);
            inner.record.net.order.push(net.name.clone());
        }
        // dockerd connects a stopped container in its config only: the endpoint, and the
        // `connect` event, come when it starts (as for the networks it was created on).
        let running = c.is_running() && !rec.net.sandbox_key.is_empty();
        if running {
            let idx = rec.net.order.len();
            let ns = std::path::PathBuf::from(&rec.net.sandbox_key);
            if let Err(e) = self.attach_endpoint(&c, &net.name, idx, &ns).await {
                let mut inner = c.lock();
                inner.record.net.endpoints.remove(&net.name);
                inner.record.net.order.retain(|n| *n != net.name);
                return Err(e);
            }
            if net.has_dns() {
                if let Err(e) = self.start_dns(&c).await {
                    tracing::warn!(container = %c.id, "dns on connect: {e}");
                }
            }
        }
        self.persist(&c).await?;
        if running {
            self.emit_network(&net, "connect", Some(&c.id));
        }
        Ok(())
    }

    /// After a rename: the running container's names in its networks' DNS follow its new
    /// name (the old one no longer resolves), as dockerd renames its endpoints.
    pub(crate) fn dns_rename(&self, c: &crate::container::Container) {
        if !c.is_running() {
            return;
        }
        let rec = c.record();
        for (n, e) in &rec.net.endpoints {
            let (Some(ip), Ok(net)) = (
                e.ip,
                self.network(&e.network_id).or_else(|_| self.network(n)),
            ) else {
                continue;
            };
            if !net.has_dns() {
                continue;
            }
            let mut names = vec![rec.name.clone()];
            names.extend(e.aliases.iter().cloned());
            names.push(rec.id[..12].to_string());
            self.net.dns.set_endpoint(&net.id, &rec.id, names, ip);
        }
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn network_disconnect(
        self: &Arc<Self>,
        id_or_name: &str,
        container: &str,
        force: bool,
    ) -> Result<()> {
        let net = self.network(id_or_name)?;
        let c = match self.get(container) {
            Ok(c) => c,
            Err(e) if force => {
                let _ = e;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let _op = c.op.lock().await;
        let rec = c.record();
        let name = rec
            .net
            .endpoints
            .iter()
            .find(|(n, e)| e.network_id == net.id || (e.network_id.is_empty() && **n == net.name))
            .map(|(n, _)| n.clone());
        let Some(name) = name else {
            if rec.host_config.network_mode == HOST || net.name == HOST {
                return Err(Error::new(
                    ErrorKind::Forbidden,
                    "container cannot be disconnected from host network or connected to host network",
                ));
            }
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!(
                    "container {} is not connected to network {}",
                    rec.id, net.name
                ),
            ));
        };
        let had_ip = rec.net.endpoints.get(&name).is_some_and(|e| e.ip.is_some());
        self.detach_endpoint(&c, &name).await;
        {
            let mut inner = c.lock();
            inner.record.net.endpoints.remove(&name);
            inner.record.net.order.retain(|n| *n != name);
        }
        if c.is_running() {
            if let Err(e) = self.start_dns(&c).await {
                tracing::warn!(container = %c.id, "dns on disconnect: {e}");
            }
            if !rec.net.ports.is_empty() {
                let _ = self.apply_rules().await;
            }
        }
        self.persist(&c).await?;
        if !had_ip {
            // A running container's endpoint said so as it went.
            self.emit_network(&net, "disconnect", Some(&c.id));
        }
        Ok(())
    }

    /// Checks the endpoints a new container asks for and fills in their network ids.
    pub(crate) fn network_for_create(
        &self,
        hc: &berth_model::api::HostConfig,
        wanted: &mut Option<(String, Endpoint)>,
    ) -> Result<()> {
        match super::config::mode(&hc.network_mode) {
            super::config::Mode::Container(other) => {
                self.get(&other)
                    .map_err(|_| Error::not_found(format!("No such container: {other}")))?;
            }
            super::config::Mode::Bridge(name) => {
                let net = self.network(&name).map_err(|e| match e.kind {
                    ErrorKind::NotFound => not_found(&name),
                    _ => e,
                })?;
                if !net.is_bridge() {
                    return Ok(());
                }
                if let Some((n, ep)) = wanted.as_mut() {
                    *n = net.name.clone();
                    ep.network_id = net.id.clone();
                    if net.name == BRIDGE {
                        if ep.want_ip.is_some() {
                            return Err(Error::invalid(
                                "user specified IP address is supported on user defined networks only",
                            ));
                        }
                        if !ep.aliases.is_empty() {
                            return Err(Error::invalid(
                                "network-scoped alias is supported only for containers in user defined networks",
                            ));
                        }
                    }
                    if let (Some(ip), Some(s)) = (ep.want_ip, net.subnet) {
                        if !s.contains(ip) {
                            return Err(Error::invalid(format!(
                                "no configured subnet or ip-range contain the IP address {ip}"
                            )));
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}
