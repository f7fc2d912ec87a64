//! NAT, port publishing and isolation in nftables, in a table of berth's own that is
//! replaced whole, atomically, on every change (one `nft -f` transaction).
//!
//! What the table does:
//! - `prerouting`/`output` (nat): published ports are DNAT'd to their container when
//!   addressed to a local address (`fib daddr type local`) or to the given host address;
//!   `output` covers connections made on the host itself, 127.0.0.1 included (the bridge has
//!   `route_localnet`, and 127.0.0.0/8 sources going out a bridge are masqueraded).
//! - `postrouting` (nat): a non-internal subnet leaving by another interface is masqueraded;
//!   DNAT'd traffic from a bridge's subnet that goes back out that bridge (a container
//!   reaching its own or a sibling's published port by a host address) is masqueraded too
//!   (hairpin).
//! - `forward` (filter, policy accept): internal bridges talk only to themselves; traffic
//!   between two different berth bridges is dropped unless DNAT'd (a published port reached
//!   by a host address); new connections into a bridge from elsewhere are dropped unless
//!   DNAT'd.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

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

/// An interface name as an nft string literal. Interface names cannot hold quotes, but a
/// bad one must not break the script: anything outside the safe set is dropped.
fn q(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | ':'))
        .collect();
    format!("\"{clean}\"")
}

fn set_of(names: &[&str]) -> String {
    let items: Vec<String> = names.iter().map(|n| q(n)).collect();
    format!("{{ {} }}", items.join(", "))
}

/// [`render`] for a table of another name (tests use their own).
pub fn render_table(table: &str, rs: &Ruleset) -> String {
    let table = q(table).trim_matches('"').to_string();
    let mut s = String::new();
    // Declaring the table first makes the delete valid when it does not exist yet; both and
    // the new table go in one transaction, so the replacement is atomic.
    let _ = writeln!(s, "table inet {table} {{}}");
    let _ = writeln!(s, "delete table inet {table}");
    let _ = writeln!(s, "table inet {table} {{");

    // Published ports.
    let mut dnat = Vec::new();
    for p in &rs.ports {
        let dst = match p.host_ip {
            Some(ip) => format!("ip daddr {ip}"),
            None => "fib daddr type local".to_string(),
        };
        dnat.push(format!(
            "{dst} {proto} dport {hp} dnat ip to {cip}:{cp}",
            proto = p.proto,
            hp = p.host_port,
            cip = p.ctr_ip,
            cp = p.ctr_port
        ));
    }
    let _ = writeln!(s, "\tchain prerouting {{");
    let _ = writeln!(
        s,
        "\t\ttype nat hook prerouting priority dstnat; policy accept;"
    );
    for r in &dnat {
        let _ = writeln!(s, "\t\t{r}");
    }
    let _ = writeln!(s, "\t}}");
    let _ = writeln!(s, "\tchain output {{");
    let _ = writeln!(s, "\t\ttype nat hook output priority -100; policy accept;");
    for r in &dnat {
        let _ = writeln!(s, "\t\t{r}");
    }
    let _ = writeln!(s, "\t}}");

    let _ = writeln!(s, "\tchain postrouting {{");
    let _ = writeln!(
        s,
        "\t\ttype nat hook postrouting priority srcnat; policy accept;"
    );
    for n in &rs.networks {
        let b = q(&n.bridge);
        if n.internal {
            continue;
        }
        let _ = writeln!(s, "\t\toifname {b} ip saddr 127.0.0.0/8 masquerade");
        // Hairpin: only routed traffic leaves a bridge from its own subnet (bridged frames
        // never reach this hook without br_netfilter, and are not DNAT'd with it). `iifname`
        // is not known in postrouting, hence the source subnet.
        let _ = writeln!(
            s,
            "\t\toifname {b} ip saddr {} ct status dnat masquerade",
            n.subnet
        );
        let _ = writeln!(s, "\t\tip saddr {} oifname != {b} masquerade", n.subnet);
    }
    let _ = writeln!(s, "\t}}");

    let _ = writeln!(s, "\tchain forward {{");
    let _ = writeln!(
        s,
        "\t\ttype filter hook forward priority filter - 10; policy accept;"
    );
    let bridges: Vec<&str> = rs.networks.iter().map(|n| n.bridge.as_str()).collect();
    for n in &rs.networks {
        let b = q(&n.bridge);
        if n.internal {
            let _ = writeln!(s, "\t\tiifname {b} oifname != {b} drop");
            let _ = writeln!(s, "\t\toifname {b} iifname != {b} drop");
            continue;
        }
        let others: Vec<&str> = bridges.iter().copied().filter(|o| *o != n.bridge).collect();
        if !others.is_empty() {
            // A published port of a container on another network stays reachable through
            // a host address (as through Docker's proxy): only DNAT'd connections pass.
            let _ = writeln!(
                s,
                "\t\tiifname {b} oifname {} ct status & dnat == 0 drop",
                set_of(&others)
            );
        }
        let _ = writeln!(
            s,
            "\t\toifname {b} iifname != {b} ct state new ct status & dnat == 0 drop"
        );
    }
    let _ = writeln!(s, "\t}}");
    let _ = writeln!(s, "}}");
    s
}

/// Replaces `table inet berth` with `rs`, atomically.
pub fn apply(rs: &Ruleset) -> Result<()> {
    apply_table(TABLE, rs)
}

/// [`apply`] for a table of another name.
pub fn apply_table(table: &str, rs: &Ruleset) -> Result<()> {
    run_nft(&render_table(table, rs))
}

/// Deletes `table inet berth`; Ok when it does not exist.
pub fn remove_table() -> Result<()> {
    remove_table_named(TABLE)
}

/// [`remove_table`] for a table of another name.
pub fn remove_table_named(table: &str) -> Result<()> {
    let table = q(table).trim_matches('"').to_string();
    run_nft(&format!(
        "table inet {table} {{}}\ndelete table inet {table}\n"
    ))
}

/// Feeds `script` to `nft -f -`; the error carries nft's stderr.
fn run_nft(script: &str) -> Result<()> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| NetError::io("run nft", e))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let written = stdin.write_all(script.as_bytes());
    drop(stdin);
    let out = child
        .wait_with_output()
        .map_err(|e| NetError::io("wait for nft", e))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(NetError::Nft(format!("nft failed ({}): {err}", out.status)));
    }
    written.map_err(|e| NetError::io("write to nft", e))
}

#[cfg(test)]
mod tests;
