//! Host ports for publishing: the protocol type, picking a free port, checking one.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{NetError, Result};

/// The first and last port handed out for `-p CTR_PORT` without a host port (Docker's
/// ephemeral range).
pub const EPHEMERAL_PORTS: std::ops::RangeInclusive<u16> = 49153..=60999;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(&self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Proto {
    type Err = NetError;
    fn from_str(s: &str) -> Result<Proto> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            _ => Err(NetError::InvalidArgument(format!("invalid proto: {s}"))),
        }
    }
}

/// Picks a free port in [`EPHEMERAL_PORTS`] by binding to it and letting it go.
pub fn allocate_host_port(proto: Proto, host_ip: Option<Ipv4Addr>) -> Result<u16> {
    let _ = (proto, host_ip);
    Err(NetError::NotImplemented("not implemented yet".into()))
}

/// Ok when `port` can be bound on `host_ip` (all addresses when `None`).
pub fn check_port_free(proto: Proto, host_ip: Option<Ipv4Addr>, port: u16) -> Result<()> {
    let _ = (proto, host_ip, port);
    Err(NetError::NotImplemented("not implemented yet".into()))
}
