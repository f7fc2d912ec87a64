//! NAT, port publishing and isolation in nftables, in a table of berth's own that is
//! replaced whole, atomically, on every change.

use std::net::Ipv4Addr;

use crate::error::{NetError, Result};
use crate::ipam::Subnet;
use crate::ports::Proto;

/// The table berthd owns: `table inet berth`.
pub const TABLE: &str = "berth";

/// Everything the table must say, recomputed from all networks and running containers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub networks: Vec<NetRule>,
    pub ports: Vec<PortRule>,
}

/// One bridge network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetRule {
    pub bridge: String,
    pub subnet: Subnet,
    pub internal: bool,
}

/// One published port: host `host_ip:host_port` goes to `ctr_ip:ctr_port` on `bridge`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRule {
    pub proto: Proto,
    /// `None` = every host address.
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub ctr_ip: Ipv4Addr,
    pub ctr_port: u16,
    pub bridge: String,
}

/// The `nft -f` script that replaces `table inet berth` with `rs`.
pub fn render(rs: &Ruleset) -> String {
    render_table(TABLE, rs)
}

/// [`render`] for a table of another name (tests use their own).
pub fn render_table(table: &str, rs: &Ruleset) -> String {
    let _ = (table, rs);
    String::new()
}

/// Replaces `table inet berth` with `rs`, atomically.
pub fn apply(rs: &Ruleset) -> Result<()> {
    apply_table(TABLE, rs)
}

/// [`apply`] for a table of another name.
pub fn apply_table(table: &str, rs: &Ruleset) -> Result<()> {
    let _ = (table, rs);
    Err(NetError::NotImplemented("not implemented yet".into()))
}

/// Deletes `table inet berth`; Ok when it does not exist.
pub fn remove_table() -> Result<()> {
    remove_table_named(TABLE)
}

/// [`remove_table`] for a table of another name.
pub fn remove_table_named(table: &str) -> Result<()> {
    let _ = table;
    Err(NetError::NotImplemented("not implemented yet".into()))
}
