//! Per-container wiring: at start, a network namespace with one veth per network, an
//! address from each pool, published ports, `/etc/hosts` and `/etc/resolv.conf`, the
//! embedded DNS server for user networks and the nft ruleset; all taken away at exit.

use super::config::{self, Endpoint, Mode, PublishedPort};
use super::{lock, net_err, new_id, NetworkRecord};
use crate::container::{Container, Record, Status};
use crate::Engine;
use berth_model::{Error, Result};
use berth_network::dns::{DnsServer, DnsView};
use berth_network::{link, netns, nft, Proto};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What the runtime spec needs to know about the container's network namespace.
#[derive(Debug, Clone, Default)]
pub(crate) struct NetPlan {
    /// Join this namespace; `None` with `host == false` means a new one with only `lo`.
    pub netns_path: Option<PathBuf>,
    /// Share the host's namespace.
    pub host: bool,
    /// The namespace still needs its endpoints, ports, files and DNS: [`Engine::net_wire`].
    pub wire: bool,
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("blocking task failed: {e}")))
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text)
        .map_err(|e| Error::internal(format!("write {}: {e}", path.display())))
}

/// The host's resolv.conf's `search` and `options` lines.
fn host_search_options(host: &str) -> (Vec<String>, Vec<String>) {
    let mut search = Vec::new();
    let mut options = Vec::new();
    for line in host.lines() {
        let mut w = line.split_whitespace();
        match w.next() {
            Some("search") | Some("domain") => search = w.map(str::to_string).collect(),
            Some("options") => options.extend(w.map(str::to_string)),
            _ => {}
        }
    }
    (search, options)
}

/// The container's resolv.conf, as dockerd writes it: `--dns*` override the host's; user
/// networks point at the embedded server (127.0.0.11) with `ndots:0`.
pub(crate) fn resolv_conf(
    host: &str,
    embedded: bool,
    dns: &[String],
    search: &[String],
    opts: &[String],
) -> String {
    if !embedded && dns.is_empty() && search.is_empty() && opts.is_empty() {
        return berth_runtime::spec::resolv_conf_from_host(host);
    }
    let (host_search, host_opts) = host_search_options(host);
    let search = if search.is_empty() {
        host_search
    } else {
        search.to_vec()
    };
    let mut options = if opts.is_empty() {
        host_opts
    } else {
        opts.to_vec()
    };
    let mut out = String::new();
    if embedded {
        if !search.is_empty() && search != ["."] {
            out.push_str(&format!("search {}\n", search.join(" ")));
        }
        out.push_str("nameserver 127.0.0.11\n");
        if !options.iter().any(|o| o.starts_with("ndots:")) {
            options.insert(0, "ndots:0".into());
        }
        out.push_str(&format!("options {}\n", options.join(" ")));
        return out;
    }
    if !search.is_empty() && search != ["."] {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if dns.is_empty() {
        for line in berth_runtime::spec::resolv_conf_from_host(host).lines() {
            if line.starts_with("nameserver") {
                out.push_str(line);
                out.push('\n');
            }
        }
    } else {
        for d in dns {
            out.push_str(&format!("nameserver {d}\n"));
        }
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// `/etc/hosts`: the fixed entries, `--add-host`s, links, then the container's own line.
pub(crate) fn hosts(
    rec: &Record,
    ip: Option<Ipv4Addr>,
    links: &[(String, String, Ipv4Addr)],
) -> String {
    let cfg = &rec.config;
    let mut out = berth_runtime::spec::default_hosts(&cfg.hostname);
    for extra in rec.host_config.extra_hosts.iter().flatten() {
        if let Some((h, ip)) = extra.split_once(':') {
            out.push_str(&format!("{ip}\t{h}\n"));
        }
    }
    for (name, alias, ip) in links {
        if alias == name {
            out.push_str(&format!("{ip}\t{alias}\n"));
        } else {
            out.push_str(&format!("{ip}\t{alias} {name}\n"));
        }
    }
    if let Some(ip) = ip {
        let full = berth_runtime::spec::hosts_file(&cfg.hostname, &cfg.domainname, Some(ip.into()));
        let base = berth_runtime::spec::default_hosts(&cfg.hostname);
        out.push_str(full.strip_prefix(&base).unwrap_or(""));
    }
    out
}

fn mac_text(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl Engine {
    pub(crate) fn netns_dir(&self) -> PathBuf {
        self.cfg.exec_root.join("netns")
    }

    /// The network records a container's endpoints refer to (by id, else by name).
    fn endpoint_network(&self, name: &str, ep: &Endpoint) -> Result<NetworkRecord> {
        self.network(&ep.network_id).or_else(|_| self.network(name))
    }

    /// Makes what the runtime spec names (the namespace file) before the shim starts. A
    /// plan with `wire` set is finished by [`Engine::net_wire`] while the runtime creates
    /// the container: the process runs no user code before `start`, and the two overlap
    /// on separate cores. On failure nothing is left behind.
    pub(crate) async fn net_start(self: &Arc<Self>, c: &Arc<Container>) -> Result<NetPlan> {
        let rec = c.record();
        let dir = self.container_dir(&rec.id);
        match config::mode(&rec.host_config.network_mode) {
            // A namespace of our own, so that `lo` is up, as Docker's sandbox has it.
            Mode::None => Ok(NetPlan {
                netns_path: Some(self.own_netns(c).await?),
                ..NetPlan::default()
            }),
            Mode::Host => {
                let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
                write(&dir.join("hosts"), &hosts)?;
                let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
                write(&dir.join("resolv.conf"), &resolv)?;
                Ok(NetPlan {
                    host: true,
                    ..NetPlan::default()
                })
            }
            Mode::Container(other) => {
                let o = self.get(&other)?;
                let orec = o.record();
                if !matches!(orec.state.status, Status::Running | Status::Paused)
                    || orec.state.pid <= 0
                {
                    return Err(Error::conflict(format!(
                        "cannot join network of a non running container: {}",
                        orec.id
                    )));
                }
                let odir = self.container_dir(&orec.id);
                for f in ["hosts", "resolv.conf", "hostname"] {
                    let _ = std::fs::copy(odir.join(f), dir.join(f));
                }
                Ok(NetPlan {
                    netns_path: Some(PathBuf::from(format!("/proc/{}/ns/net", orec.state.pid))),
                    ..NetPlan::default()
                })
            }
            Mode::Bridge(_) => {
                let ns = self.own_netns(c).await?;
                c.lock().record.net.sandbox_id = new_id();
                Ok(NetPlan {
                    netns_path: Some(ns),
                    wire: true,
                    ..NetPlan::default()
                })
            }
        }
    }

    /// Makes the container's namespace file under the exec root and records it.
    async fn own_netns(&self, c: &Container) -> Result<PathBuf> {
        let ns = self.netns_dir().join(&c.id);
        std::fs::create_dir_all(self.netns_dir())?;
        let p = ns.clone();
        blocking(move || netns::create(&p))
            .await?
            .map_err(net_err)?;
        c.lock().record.net.sandbox_key = ns.display().to_string();
        Ok(ns)
    }

    /// Finishes a bridge plan of [`Engine::net_start`]: endpoints, published ports,
    /// /etc/hosts and resolv.conf (written in place, so the runtime's bind mounts of them
    /// see the result), DNS and rules. On failure the caller runs [`Engine::net_stop`]
    /// once the runtime is done with the namespace.
    pub(crate) async fn net_wire(self: &Arc<Self>, c: &Arc<Container>) -> Result<()> {
        let rec = c.record();
        let ns = self.netns_dir().join(&rec.id);
        let order = {
            let net = &rec.net;
            let mut o: Vec<String> = net.order.clone();
            for k in net.endpoints.keys() {
                if !o.contains(k) {
                    o.push(k.clone());
                }
            }
            o
        };
        for (i, name) in order.iter().enumerate() {
            self.attach_endpoint(c, name, i, &ns).await?;
            // dockerd reports each network a starting container joins.
            let ep = c.lock().record.net.endpoints.get(name).cloned();
            if let Some(net) = ep.and_then(|e| self.endpoint_network(name, &e).ok()) {
                self.emit_network(&net, "connect", Some(&rec.id));
            }
        }
        self.publish_ports(c).await?;
        self.write_net_files(c).await?;
        self.start_dns(c).await?;
        self.apply_rules().await?;
        Ok(())
    }

    /// Gives the container an endpoint on one network: an address, a veth pair named
    /// `eth<idx>` inside, and (for the first) the default route.
    pub(crate) async fn attach_endpoint(
        &self,
        c: &Container,
        name: &str,
        idx: usize,
        ns: &Path,
    ) -> Result<()> {
        let (id, ep) = {
            let inner = c.lock();
            let ep = inner
                .record
                .net
                .endpoints
                .get(name)
                .cloned()
                .unwrap_or_default();
            (inner.record.id.clone(), ep)
        };
        let net = self.endpoint_network(name, &ep)?;
        let (Some(subnet), true) = (net.subnet, net.is_bridge()) else {
            return Err(Error::invalid(format!(
                "network {name} cannot carry endpoints"
            )));
        };
        let ip = {
            let mut pools = lock(&self.net.pools);
            let pool = pools.get_mut(&net.id).ok_or_else(|| {
                Error::internal(format!("network {} has no address pool", net.name))
            })?;
            pool.allocate(ep.want_ip).map_err(net_err)?
        };
        let mac = match &ep.want_mac {
            Some(m) => config::parse_mac(m)?,
            None => berth_network::mac_for(ip),
        };
        let host_if = berth_network::host_if_name(&id, &net.id);
        let attach = link::Attach {
            netns: ns.to_path_buf(),
            bridge: net.bridge.clone(),
            host_if: host_if.clone(),
            ctr_if: format!("eth{idx}"),
            ip,
            prefix: subnet.prefix,
            gateway: (idx == 0 && !net.internal).then_some(net.gateway).flatten(),
            mac: Some(mac),
        };
        let mut res = link::attach(&attach).await;
        if res.is_err() {
            // A veth of the previous run that the kernel has not removed yet.
            let _ = link::detach(&host_if).await;
            res = link::attach(&attach).await;
        }
        if let Err(e) = res {
            if let Some(p) = lock(&self.net.pools).get_mut(&net.id) {
                p.release(ip);
            }
            let _ = link::detach(&host_if).await;
            return Err(net_err(e));
        }
        let mut inner = c.lock();
        let e = inner
            .record
            .net
            .endpoints
            .entry(name.to_string())
            .or_default();
        e.network_id = net.id.clone();
        e.endpoint_id = new_id();
        e.ip = Some(ip);
        e.prefix = subnet.prefix;
        e.gateway = net.gateway;
        e.mac = mac_text(mac);
        e.host_if = host_if;
        if !inner.record.net.order.iter().any(|n| n == name) {
            inner.record.net.order.push(name.to_string());
        }
        Ok(())
    }

    /// Takes one endpoint away (address, veth, DNS names); the record keeps its settings.
    pub(crate) async fn detach_endpoint(&self, c: &Container, name: &str) {
        self.detach_endpoint_with(c, name, true).await
    }

    /// [`Engine::detach_endpoint`]; `delete_veth: false` leaves the veth pair to the
    /// kernel, which removes it with the namespace it lives in (deleting it here would cost
    /// an RCU grace period, ~15 ms, on every container exit).
    async fn detach_endpoint_with(&self, c: &Container, name: &str, delete_veth: bool) {
        let ep = {
            let mut inner = c.lock();
            let Some(e) = inner.record.net.endpoints.get_mut(name) else {
                return;
            };
            let old = e.clone();
            e.clear_runtime();
            old
        };
        self.net.dns.remove_endpoint(&ep.network_id, &c.id);
        if let Some(ip) = ep.ip {
            if let Ok(net) = self.endpoint_network(name, &ep) {
                self.emit_network(&net, "disconnect", Some(&c.id));
            }
            if delete_veth && !ep.host_if.is_empty() {
                if let Err(e) = link::detach(&ep.host_if).await {
                    tracing::warn!(container = %c.id, "detach {}: {e}", ep.host_if);
                }
            }
            if let Some(p) = lock(&self.net.pools).get_mut(&ep.network_id) {
                p.release(ip);
            }
        }
    }

    /// The primary endpoint's address and network (the one ports are published on).
    fn primary(&self, rec: &Record) -> Option<(Ipv4Addr, NetworkRecord)> {
        let first = rec
            .net
            .order
            .iter()
            .find_map(|n| rec.net.endpoints.get(n).map(|e| (n, e)))?;
        let ip = first.1.ip?;
        let net = self.endpoint_network(first.0, first.1).ok()?;
        Some((ip, net))
    }

    /// Reserves the host ports of `PortBindings` / `-P` (our table first, then the host).
    async fn publish_ports(&self, c: &Container) -> Result<()> {
        let rec = c.record();
        let wanted = config::wanted_ports(&rec.host_config, rec.config.exposed_ports.as_ref())?;
        if wanted.is_empty() {
            return Ok(());
        }
        if self.primary(&rec).is_some_and(|(_, n)| n.internal) {
            return Ok(());
        }
        let mut held = Vec::new();
        for w in wanted {
            let host_ip = if w.host_ip.is_empty() {
                "0.0.0.0".to_string()
            } else {
                w.host_ip.clone()
            };
            let ip: Option<Ipv4Addr> = (!w.host_ip.is_empty())
                .then(|| host_ip.parse().ok())
                .flatten();
            let key = |p: u16| (w.proto.as_str().to_string(), host_ip.clone(), p);
            let taken = |p: u16| {
                let t = lock(&self.net.ports);
                t.contains_key(&key(p))
                    || t.contains_key(&(w.proto.as_str().to_string(), "0.0.0.0".to_string(), p))
                    || (host_ip == "0.0.0.0"
                        && t.keys()
                            .any(|(pr, _, tp)| pr == w.proto.as_str() && *tp == p))
            };
            let port = if w.host_port == 0 {
                let mut got = None;
                for _ in 0..64 {
                    let p =
                        berth_network::ports::allocate_host_port(w.proto, ip).map_err(net_err)?;
                    if !taken(p) {
                        got = Some(p);
                        break;
                    }
                }
                got.ok_or_else(|| Error::conflict("no free host port left to publish on"))?
            } else if w.host_port_end > w.host_port {
                // `HostPort: "8000-8010"`: the first free port of the range, as dockerd.
                let free = |p: &u16| {
                    !taken(*p) && berth_network::ports::check_port_free(w.proto, ip, *p).is_ok()
                };
                match (w.host_port..=w.host_port_end).find(free) {
                    Some(p) => p,
                    None => {
                        self.unpublish(&c.id);
                        return Err(Error::internal(format!(
                            "driver failed programming external connectivity on endpoint {} ({}): Bind for {host_ip}:{}-{} failed: port is already allocated",
                            rec.name, rec.net.sandbox_id, w.host_port, w.host_port_end
                        )));
                    }
                }
            } else {
                let fail = || {
                    Error::internal(format!(
                        "driver failed programming external connectivity on endpoint {} ({}): Bind for {host_ip}:{} failed: port is already allocated",
                        rec.name, rec.net.sandbox_id, w.host_port
                    ))
                };
                if taken(w.host_port) {
                    self.unpublish(&c.id);
                    return Err(fail());
                }
                if berth_network::ports::check_port_free(w.proto, ip, w.host_port).is_err() {
                    self.unpublish(&c.id);
                    return Err(fail());
                }
                w.host_port
            };
            lock(&self.net.ports).insert(key(port), c.id.clone());
            held.push(PublishedPort {
                port: w.port.clone(),
                host_ip: host_ip.clone(),
                host_port: port,
            });
        }
        c.lock().record.net.ports = held;
        Ok(())
    }

    fn unpublish(&self, id: &str) {
        lock(&self.net.ports).retain(|_, v| v != id);
    }

    /// The addresses of `--link` targets on the container's networks.
    fn link_targets(&self, rec: &Record) -> Vec<(String, String, Ipv4Addr)> {
        let mut out = Vec::new();
        let mut all: Vec<(String, String)> = config::links(&rec.host_config);
        for e in rec.net.endpoints.values() {
            all.extend(e.links.iter().map(|l| config::parse_link(l)));
        }
        for (name, alias) in all {
            let Ok(t) = self.get(&name) else { continue };
            let trec = t.record();
            let shared = rec
                .net
                .endpoints
                .iter()
                .find_map(|(n, _)| trec.net.endpoints.get(n).and_then(|e| e.ip));
            if let Some(ip) = shared {
                out.push((trec.name.clone(), alias, ip));
            }
        }
        out
    }

    pub(crate) async fn write_net_files(&self, c: &Container) -> Result<()> {
        let rec = c.record();
        let dir = self.container_dir(&rec.id);
        let ip = self.primary(&rec).map(|(ip, _)| ip);
        let links = self.link_targets(&rec);
        write(&dir.join("hosts"), &hosts(&rec, ip, &links))?;
        let embedded = rec
            .net
            .endpoints
            .iter()
            .any(|(n, e)| self.endpoint_network(n, e).is_ok_and(|r| r.has_dns()));
        let (dns, search, opts) = config::dns_settings(&rec.host_config);
        let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        write(
            &dir.join("resolv.conf"),
            &resolv_conf(&host, embedded, &dns, &search, &opts),
        )?;
        Ok(())
    }

    fn dns_view(&self, rec: &Record) -> DnsView {
        let mut view = DnsView::default();
        for n in &rec.net.order {
            if let Some(e) = rec.net.endpoints.get(n) {
                if e.ip.is_some() && self.endpoint_network(n, e).is_ok_and(|r| r.has_dns()) {
                    view.networks.push(e.network_id.clone());
                }
            }
        }
        view.links = self
            .link_targets(rec)
            .into_iter()
            .map(|(_, alias, ip)| (alias, ip))
            .collect::<HashMap<_, _>>();
        view
    }

    /// Registers the container's names on its user networks and serves DNS in its namespace.
    pub(crate) async fn start_dns(&self, c: &Container) -> Result<()> {
        let rec = c.record();
        let mut any = false;
        for (n, e) in &rec.net.endpoints {
            let (Some(ip), Ok(net)) = (e.ip, self.endpoint_network(n, e)) else {
                continue;
            };
            if !net.has_dns() {
                continue;
            }
            any = true;
            let mut names = vec![rec.name.clone()];
            names.extend(e.aliases.iter().cloned());
            names.push(rec.id[..12].to_string());
            self.net.dns.set_endpoint(&net.id, &rec.id, names, ip);
        }
        let view = self.dns_view(&rec);
        if let Some(s) = lock(&self.net.dns_servers).get(&rec.id) {
            s.set_view(view);
            return Ok(());
        }
        if !any || rec.net.sandbox_key.is_empty() {
            return Ok(());
        }
        let (dns, _, _) = config::dns_settings(&rec.host_config);
        let upstream: Vec<std::net::SocketAddr> = if dns.is_empty() {
            let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            berth_network::dns::upstream_from_resolv_conf(&host)
        } else {
            dns.iter()
                .filter_map(|d| d.parse::<std::net::IpAddr>().ok())
                .map(|ip| std::net::SocketAddr::new(ip, 53))
                .collect()
        };
        let server = DnsServer::start_in(
            Path::new(&rec.net.sandbox_key),
            self.net.dns.clone(),
            view,
            upstream,
        )
        .map_err(net_err)?;
        lock(&self.net.dns_servers).insert(rec.id.clone(), server);
        Ok(())
    }

    /// Recomputes `table inet berth` from every bridge network and running container's
    /// published ports, and applies it when it changed (one `nft -f`).
    pub(crate) async fn apply_rules(&self) -> Result<()> {
        let _g = self.net.nft.lock().await;
        let mut rs = nft::Ruleset::default();
        for n in self.networks_snapshot() {
            if let (true, Some(subnet)) = (n.is_bridge(), n.subnet) {
                rs.networks.push(nft::NetRule {
                    bridge: n.bridge.clone(),
                    subnet,
                    internal: n.internal,
                });
            }
        }
        rs.networks.sort_by(|a, b| a.bridge.cmp(&b.bridge));
        for c in self.all_containers() {
            let rec = c.record();
            if rec.net.ports.is_empty() {
                continue;
            }
            let Some((ctr_ip, net)) = self.primary(&rec) else {
                continue;
            };
            for p in &rec.net.ports {
                let (num, proto) = p.port.split_once('/').unwrap_or((&p.port, "tcp"));
                let (Ok(ctr_port), Ok(proto)) = (num.parse::<u16>(), proto.parse::<Proto>()) else {
                    continue;
                };
                rs.ports.push(nft::PortRule {
                    proto,
                    host_ip: (p.host_ip != "0.0.0.0")
                        .then(|| p.host_ip.parse().ok())
                        .flatten(),
                    host_port: p.host_port,
                    ctr_ip,
                    ctr_port,
                    bridge: net.bridge.clone(),
                });
            }
        }
        rs.ports.sort_by_key(|p| (p.host_port, p.proto, p.host_ip));
        {
            let last = lock(&self.net.applied);
            if last.as_ref() == Some(&rs) {
                return Ok(());
            }
        }
        let flush =
            berth_network::conntrack::udp_ports_changed(lock(&self.net.applied).as_ref(), &rs);
        let table = self.cfg.network.nft_table.clone();
        let rs2 = rs.clone();
        blocking(move || nft::apply_table(&table, &rs2))
            .await?
            .map_err(net_err)?;
        *lock(&self.net.applied) = Some(rs);
        if !flush.is_empty() {
            // UDP flows keep their first NAT decision: drop those of remapped ports.
            if let Ok(Err(e)) =
                blocking(move || berth_network::conntrack::delete_udp_flows(&flush)).await
            {
                tracing::warn!("delete udp conntrack flows: {e}");
            }
        }
        Ok(())
    }

    /// Undoes [`Engine::net_start`]: DNS, endpoints, ports, the namespace. Idempotent;
    /// the caller persists the record.
    pub(crate) async fn net_stop(&self, c: &Container) {
        if let Some(mut s) = lock(&self.net.dns_servers).remove(&c.id) {
            s.stop();
        }
        let (names, own_ns) = {
            let inner = c.lock();
            let ns = &inner.record.net.sandbox_key;
            let own = !ns.is_empty() && Path::new(ns).starts_with(self.netns_dir());
            (
                inner
                    .record
                    .net
                    .endpoints
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>(),
                own,
            )
        };
        for n in names {
            self.detach_endpoint_with(c, &n, !own_ns).await;
        }
        self.unpublish(&c.id);
        let (ns, had_ports) = {
            let mut inner = c.lock();
            let ns = std::mem::take(&mut inner.record.net.sandbox_key);
            inner.record.net.sandbox_id.clear();
            let had = !inner.record.net.ports.is_empty();
            inner.record.net.ports.clear();
            (ns, had)
        };
        if !ns.is_empty() && Path::new(&ns).starts_with(self.netns_dir()) {
            let p = PathBuf::from(ns);
            if let Ok(Err(e)) = blocking(move || netns::remove(&p)).await {
                tracing::warn!(container = %c.id, "remove netns: {e}");
            }
        }
        if had_ports {
            if let Err(e) = self.apply_rules().await {
                tracing::warn!(container = %c.id, "apply nft rules: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_for_user_networks_and_overrides() {
        let host = "search example.com\nnameserver 192.168.1.1\noptions edns0\n";
        assert_eq!(
            resolv_conf(host, true, &[], &[], &[]),
            "search example.com\nnameserver 127.0.0.11\noptions ndots:0 edns0\n"
        );
        assert_eq!(
            resolv_conf(
                host,
                false,
                &["1.1.1.1".into()],
                &["a.b".into()],
                &["ndots:2".into()]
            ),
            "search a.b\nnameserver 1.1.1.1\noptions ndots:2\n"
        );
        assert_eq!(
            resolv_conf(host, false, &[], &[], &[]),
            berth_runtime::spec::resolv_conf_from_host(host)
        );
    }
}
