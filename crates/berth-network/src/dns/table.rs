//! The names the embedded DNS answers for: endpoints per network, and what one container sees.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::{Arc, RwLock};

/// What one container's resolver sees: the networks it is attached to (ids, in the order they
/// were connected) and its `--link` aliases (name -> ip), which are checked first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsView {
    pub networks: Vec<String>,
    pub links: HashMap<String, Ipv4Addr>,
}

/// All endpoints of all user networks, shared by every container's DNS server. Cloning is
/// cheap: clones share the same table.
#[derive(Debug, Clone, Default)]
pub struct DnsTable {
    inner: Arc<RwLock<Networks>>,
}

/// network id -> endpoint key -> endpoint. Ordered maps so answers come in a stable order.
type Networks = BTreeMap<String, BTreeMap<String, Endpoint>>;

#[derive(Debug, Clone)]
struct Endpoint {
    /// Lower-case names without a trailing dot; the first one is the name used for PTR.
    names: Vec<String>,
    ip: Ipv4Addr,
}

/// The form names are compared in: lower case (ASCII) and without one trailing dot.
pub(crate) fn normalize(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

impl DnsTable {
    pub fn new() -> DnsTable {
        DnsTable::default()
    }

    /// Adds or replaces the endpoint `endpoint_key` (a container id, typically) on a network,
    /// reachable under `names` (container name, aliases, short id). Empty names are ignored.
    pub fn set_endpoint(
        &self,
        network_id: &str,
        endpoint_key: &str,
        names: Vec<String>,
        ip: Ipv4Addr,
    ) {
        let mut seen = Vec::with_capacity(names.len());
        for n in names.iter().map(|n| normalize(n)) {
            if !n.is_empty() && !seen.contains(&n) {
                seen.push(n);
            }
        }
        let mut nets = self.write();
        nets.entry(network_id.to_string())
            .or_default()
            .insert(endpoint_key.to_string(), Endpoint { names: seen, ip });
    }

    /// Removes an endpoint; nothing happens when it is not there.
    pub fn remove_endpoint(&self, network_id: &str, endpoint_key: &str) {
        let mut nets = self.write();
        if let Some(eps) = nets.get_mut(network_id) {
            eps.remove(endpoint_key);
            if eps.is_empty() {
                nets.remove(network_id);
            }
        }
    }

    /// The addresses `name` has on any of `networks` (case-insensitive, a trailing dot
    /// ignored), in network order, without duplicates. Empty when the name is unknown there.
    pub fn lookup(&self, networks: &[String], name: &str) -> Vec<Ipv4Addr> {
        let name = normalize(name);
        let mut out = Vec::new();
        if name.is_empty() {
            return out;
        }
        let nets = self.read();
        for net in networks {
            let Some(eps) = nets.get(net) else { continue };
            for ep in eps.values() {
                if ep.names.contains(&name) && !out.contains(&ep.ip) {
                    out.push(ep.ip);
                }
            }
        }
        out
    }

    /// The name of the endpoint that has `ip` on one of `networks` (its first name), for PTR.
    pub fn reverse(&self, networks: &[String], ip: Ipv4Addr) -> Option<String> {
        let nets = self.read();
        networks
            .iter()
            .filter_map(|net| nets.get(net))
            .flat_map(|eps| eps.values())
            .find(|ep| ep.ip == ip && !ep.names.is_empty())
            .map(|ep| ep.names[0].clone())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Networks> {
        // A panic while holding the lock cannot leave the maps half-changed (each change is
        // one insert or remove), so a poisoned lock is still usable.
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Networks> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl DnsView {
    /// Addresses of `name` as this container sees it: its links first, then its networks.
    pub fn resolve(&self, table: &DnsTable, name: &str) -> Vec<Ipv4Addr> {
        let wanted = normalize(name);
        let linked: Vec<Ipv4Addr> = self
            .links
            .iter()
            .filter(|(n, _)| normalize(n) == wanted)
            .map(|(_, ip)| *ip)
            .collect();
        if !linked.is_empty() {
            return linked;
        }
        table.lookup(&self.networks, &wanted)
    }

    /// The name of `ip` as this container sees it (a link alias first), for PTR answers.
    pub fn reverse(&self, table: &DnsTable, ip: Ipv4Addr) -> Option<String> {
        let mut linked: Vec<&String> = self
            .links
            .iter()
            .filter(|(_, i)| **i == ip)
            .map(|(n, _)| n)
            .collect();
        // Several aliases can share an address; pick the same one every time.
        linked.sort();
        if let Some(n) = linked.first() {
            return Some(normalize(n));
        }
        table.reverse(&self.networks, ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn nets(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lookup_matches_any_name_case_insensitively_with_or_without_trailing_dot() {
        let t = DnsTable::new();
        t.set_endpoint(
            "n1",
            "c1",
            vec!["Web".into(), "frontend".into(), "0123456789ab".into()],
            ip("10.78.0.2"),
        );
        for q in ["web", "WEB", "web.", "Frontend.", "0123456789AB"] {
            assert_eq!(t.lookup(&nets(&["n1"]), q), vec![ip("10.78.0.2")], "{q}");
        }
        assert!(t.lookup(&nets(&["n1"]), "db").is_empty());
        assert!(t.lookup(&nets(&["n1"]), "").is_empty());
        assert!(t.lookup(&nets(&["n1"]), ".").is_empty());
        assert!(t.lookup(&nets(&["n1"]), "web..").is_empty());
    }

    #[test]
    fn lookup_sees_only_the_given_networks() {
        let t = DnsTable::new();
        t.set_endpoint("n1", "c1", vec!["web".into()], ip("10.78.0.2"));
        t.set_endpoint("n2", "c2", vec!["db".into()], ip("10.79.0.2"));
        assert!(t.lookup(&nets(&["n1"]), "db").is_empty());
        assert!(t.lookup(&[], "web").is_empty());
        assert_eq!(t.lookup(&nets(&["n1", "n2"]), "db"), vec![ip("10.79.0.2")]);
    }

    #[test]
    fn a_shared_alias_gives_every_address_once_in_network_order() {
        let t = DnsTable::new();
        t.set_endpoint("n2", "c2", vec!["svc".into()], ip("10.79.0.2"));
        t.set_endpoint(
            "n1",
            "c1",
            vec!["svc".into(), "SVC".into()],
            ip("10.78.0.2"),
        );
        t.set_endpoint("n1", "c3", vec!["svc".into()], ip("10.78.0.3"));
        // The same container on two networks with one address each.
        assert_eq!(
            t.lookup(&nets(&["n1", "n2"]), "svc"),
            vec![ip("10.78.0.2"), ip("10.78.0.3"), ip("10.79.0.2")]
        );
        assert_eq!(t.lookup(&nets(&["n2", "n1"]), "svc")[0], ip("10.79.0.2"));
    }

    #[test]
    fn set_endpoint_replaces_and_remove_endpoint_forgets() {
        let t = DnsTable::new();
        t.set_endpoint("n1", "c1", vec!["web".into()], ip("10.78.0.2"));
        t.set_endpoint("n1", "c1", vec!["web2".into()], ip("10.78.0.5"));
        assert!(t.lookup(&nets(&["n1"]), "web").is_empty());
        assert_eq!(t.lookup(&nets(&["n1"]), "web2"), vec![ip("10.78.0.5")]);
        let clone = t.clone();
        clone.remove_endpoint("n1", "c1");
        assert!(t.lookup(&nets(&["n1"]), "web2").is_empty());
        // Removing what is not there is fine.
        t.remove_endpoint("n1", "c1");
        t.remove_endpoint("nope", "c1");
    }

    #[test]
    fn reverse_names_the_first_name_on_the_given_networks() {
        let t = DnsTable::new();
        t.set_endpoint(
            "n1",
            "c1",
            vec!["Web".into(), "alias".into()],
            ip("10.78.0.2"),
        );
        assert_eq!(
            t.reverse(&nets(&["n1"]), ip("10.78.0.2")).as_deref(),
            Some("web")
        );
        assert_eq!(t.reverse(&nets(&["n2"]), ip("10.78.0.2")), None);
        assert_eq!(t.reverse(&nets(&["n1"]), ip("10.78.0.3")), None);
    }

    #[test]
    fn view_checks_links_first_then_networks() {
        let t = DnsTable::new();
        t.set_endpoint("n1", "c1", vec!["db".into(), "web".into()], ip("10.78.0.2"));
        let mut links = HashMap::new();
        links.insert("DB".to_string(), ip("10.77.0.9"));
        let v = DnsView {
            networks: nets(&["n1"]),
            links,
        };
        assert_eq!(v.resolve(&t, "db."), vec![ip("10.77.0.9")]);
        assert_eq!(v.resolve(&t, "web"), vec![ip("10.78.0.2")]);
        assert!(v.resolve(&t, "other").is_empty());
        assert_eq!(v.reverse(&t, ip("10.77.0.9")).as_deref(), Some("db"));
        assert_eq!(v.reverse(&t, ip("10.78.0.2")).as_deref(), Some("db"));
        let none = DnsView::default();
        assert!(none.resolve(&t, "web").is_empty());
    }
}
