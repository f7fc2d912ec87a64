//! Startup: load the network records (creating the predefined ones), bring the bridges
//! up, rebuild the address pools from the containers that still run, and after the
//! containers are reconciled, remove what dead ones left (veths, namespaces, DNS entries)
//! and rebuild the nft table.

use super::{lock, net_err, new_id, NetworkRecord, BRIDGE, HOST, NONE};
use crate::container::{now_rfc3339, Record, Status};
use crate::Engine;
use berth_model::{Error, Result};
use berth_network::{link, Pool};
use std::collections::HashSet;
use std::sync::Arc;

impl Engine {
    /// Before containers are reconciled: records, bridges, pools with the addresses of
    /// containers recorded as running.
    pub(crate) async fn net_init(self: &Arc<Self>) -> Result<()> {
        let rows = self
            .blocking(|s| s.list_networks().map_err(Error::from))
            .await?;
        let mut recs: Vec<NetworkRecord> = Vec::new();
        for (id, bytes) in rows {
            match serde_json::from_slice::<NetworkRecord>(&bytes) {
                Ok(r) => recs.push(r),
                Err(e) => tracing::error!(network = %id, "unreadable network record, skipped: {e}"),
            }
        }
        let (subnet, gateway) = self.cfg.network.default_subnet()?;
        for (name, driver) in [(BRIDGE, "bridge"), (HOST, "host"), (NONE, "null")] {
            let existing = recs.iter_mut().find(|r| r.name == name);
            let mut want = match existing {
                Some(r) => r.clone(),
                None => NetworkRecord {
                    id: new_id(),
                    name: name.into(),
                    driver: driver.into(),
                    created: now_rfc3339(),
                    subnet: None,
                    gateway: None,
                    internal: false,
                    attachable: false,
                    labels: Default::default(),
                    options: Default::default(),
                    bridge: String::new(),
                    user_ipam: false,
                },
            };
            if name == BRIDGE {
                want.subnet = Some(subnet);
                want.gateway = Some(gateway);
                want.bridge = self.cfg.network.bridge.clone();
            }
            if recs.iter().find(|r| r.name == name) != Some(&want) {
                self.persist_network(&want).await?;
                recs.retain(|r| r.name != name);
                recs.push(want);
            }
        }
        // Addresses held by containers that were running.
        let containers = self
            .blocking(|s| s.list_containers().map_err(Error::from))
            .await?;
        let running: Vec<Record> = containers
            .iter()
            .filter_map(|(_, b)| serde_json::from_slice::<Record>(b).ok())
            .filter(|r| {
                matches!(
                    r.state.status,
                    Status::Running | Status::Paused | Status::Restarting
                )
            })
            .collect();
        for r in &recs {
            let (Some(subnet), Some(gw), true) = (r.subnet, r.gateway, r.is_bridge()) else {
                continue;
            };
            // Not fatal: berthd still serves everything else, and starting a container
            // on this network reports the error.
            if let Err(e) = link::ensure_bridge(&r.bridge, gw, subnet.prefix).await {
                tracing::error!(network = %r.name, "bring up bridge {}: {e}", r.bridge);
            }
            let mut pool = Pool::new(subnet, Some(gw)).map_err(net_err)?;
            for c in &running {
                for e in c.net.endpoints.values() {
                    if e.network_id == r.id {
                        if let Some(ip) = e.ip {
                            let _ = pool.reserve(ip);
                        }
                    }
                }
            }
            lock(&self.net.pools).insert(r.id.clone(), pool);
        }
        // Ports held by running containers.
        for c in &running {
            for p in &c.net.ports {
                let (_, proto) = p.port.split_once('/').unwrap_or(("", "tcp"));
                lock(&self.net.ports).insert(
                    (proto.to_string(), p.host_ip.clone(), p.host_port),
                    c.id.clone(),
                );
            }
        }
        let mut map = lock(&self.net.records);
        for r in recs {
            map.insert(r.id.clone(), r);
        }
        Ok(())
    }

    /// After containers are reconciled: DNS servers again for the live ones, leftovers of
    /// dead ones away, the nft table rebuilt.
    pub(crate) async fn net_after_reconcile(self: &Arc<Self>) {
        let mut live_ns: HashSet<String> = HashSet::new();
        let mut live_if: HashSet<String> = HashSet::new();
        let mut all_if: HashSet<String> = HashSet::new();
        let nets: Vec<String> = self.networks_snapshot().into_iter().map(|n| n.id).collect();
        for c in self.all_containers() {
            let rec = c.record();
            for n in &nets {
                all_if.insert(berth_network::host_if_name(&rec.id, n));
            }
            if c.is_running() {
                live_ns.insert(rec.id.clone());
                for e in rec.net.endpoints.values() {
                    if !e.host_if.is_empty() {
                        live_if.insert(e.host_if.clone());
                    }
                }
                if let Err(e) = self.start_dns(&c).await {
                    tracing::warn!(container = %rec.id, "restart embedded dns: {e}");
                }
            } else if !rec.net.sandbox_key.is_empty()
                || rec.net.endpoints.values().any(|e| e.ip.is_some())
            {
                self.net_stop(&c).await;
                let _ = self.persist(&c).await;
            }
        }
        match link::list_links_with_prefix("veth").await {
            Ok(links) => {
                for l in links {
                    if all_if.contains(&l) && !live_if.contains(&l) {
                        tracing::info!(link = %l, "removing a leftover veth");
                        let _ = link::delete_link(&l).await;
                    }
                }
            }
            Err(e) => tracing::warn!("list veths: {e}"),
        }
        if let Ok(entries) = std::fs::read_dir(self.netns_dir()) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if !live_ns.contains(&name) {
                    tracing::info!(netns = %name, "removing a leftover network namespace");
                    let _ = berth_network::netns::remove(&e.path());
                }
            }
        }
        if let Err(e) = self.apply_rules().await {
            tracing::error!("apply nft rules: {e}");
        }
    }
}
