//! Bridges and veth pairs through rtnetlink, plus the few sysctls they need.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::error::{NetError, Result};

/// One endpoint to wire: a veth pair whose host end joins `bridge` and whose other end
/// becomes `ctr_if` inside the namespace at `netns`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attach {
    /// The namespace file (`<exec_root>/netns/<id>` or `/proc/<pid>/ns/net`).
    pub netns: PathBuf,
    pub bridge: String,
    /// The host end's name, from [`host_if_name`].
    pub host_if: String,
    /// The name inside the namespace: "eth0", "eth1"...
    pub ctr_if: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    /// The default route's gateway, when this endpoint carries it.
    pub gateway: Option<Ipv4Addr>,
    /// Defaults to [`mac_for`] of `ip`.
    pub mac: Option<[u8; 6]>,
}

/// Creates the bridge when missing, gives it `gateway/prefix`, sets it up, and turns on
/// `net.ipv4.ip_forward` and the bridge's `route_localnet`.
pub async fn ensure_bridge(name: &str, gateway: Ipv4Addr, prefix: u8) -> Result<()> {
    let _ = (name, gateway, prefix);
    Err(NetError::NotImplemented("not implemented yet".into()))
}

/// Deletes a link by name; Ok when it does not exist.
pub async fn delete_link(name: &str) -> Result<()> {
    let _ = name;
    Err(NetError::NotImplemented("not implemented yet".into()))
}

/// Wires one endpoint (see [`Attach`]).
pub async fn attach(a: &Attach) -> Result<()> {
    let _ = a;
    Err(NetError::NotImplemented("not implemented yet".into()))
}

/// Deletes the veth pair by its host end; Ok when it does not exist.
pub async fn detach(host_if: &str) -> Result<()> {
    delete_link(host_if).await
}

/// The names of the host's links that start with `prefix` ("veth", "br-").
pub async fn list_links_with_prefix(prefix: &str) -> Result<Vec<String>> {
    let _ = prefix;
    Err(NetError::NotImplemented("not implemented yet".into()))
}

/// "veth" + 7 hex digits of a hash of both ids: stable, at most 15 characters.
pub fn host_if_name(container_id: &str, network_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(container_id.as_bytes());
    h.update(b"/");
    h.update(network_id.as_bytes());
    let hex = hex::encode(h.finalize());
    format!("veth{}", &hex[..7])
}

/// "br-" + the first 12 characters of the network id.
pub fn bridge_name(network_id: &str) -> String {
    let n: String = network_id.chars().take(12).collect();
    format!("br-{n}")
}

/// Docker's MAC for an address: 02:42 followed by the address's four bytes.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}
