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

/// Picks a free port in [`EPHEMERAL_PORTS`] by binding to it and letting it go. The search
/// starts at a point derived from the clock, so callers that allocate several ports before
/// using them should also check their own table (the engine remembers what it handed out).
pub fn allocate_host_port(proto: Proto, host_ip: Option<Ipv4Addr>) -> Result<u16> {
    let lo = *EPHEMERAL_PORTS.start() as u32;
    let span = *EPHEMERAL_PORTS.end() as u32 - lo + 1;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or(0)
        ^ std::process::id();
    for i in 0..span {
        let port = (lo + (seed.wrapping_add(i)) % span) as u16;
        if try_bind(proto, host_ip, port).is_ok() {
            return Ok(port);
        }
    }
    Err(NetError::Exhausted(format!(
        "no free {proto} port in {}-{} on {}",
        EPHEMERAL_PORTS.start(),
        EPHEMERAL_PORTS.end(),
        host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED)
    )))
}

/// Ok when `port` can be bound on `host_ip` (all addresses when `None`); else a Conflict in
/// Docker's words: "Bind for 0.0.0.0:8080 failed: port is already allocated".
pub fn check_port_free(proto: Proto, host_ip: Option<Ipv4Addr>, port: u16) -> Result<()> {
    match try_bind(proto, host_ip, port) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(NetError::Conflict(format!(
            "Bind for {}:{port} failed: port is already allocated",
            host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED)
        ))),
        Err(e) => Err(NetError::io(
            format!(
                "bind {proto} {}:{port}",
                host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED)
            ),
            e,
        )),
    }
}

/// Binds and at once closes a socket on the port (TCP: a listener, as a published port
/// conflicts with a listening process).
fn try_bind(proto: Proto, host_ip: Option<Ipv4Addr>, port: u16) -> std::io::Result<()> {
    let addr = std::net::SocketAddrV4::new(host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED), port);
    match proto {
        Proto::Tcp => std::net::TcpListener::bind(addr).map(drop),
        Proto::Udp => std::net::UdpSocket::bind(addr).map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proto_parses_and_prints() {
        assert_eq!("tcp".parse::<Proto>().unwrap(), Proto::Tcp);
        assert_eq!("UDP".parse::<Proto>().unwrap(), Proto::Udp);
        assert!("sctp".parse::<Proto>().is_err());
        assert_eq!(Proto::Udp.to_string(), "udp");
        assert_eq!(serde_json::to_string(&Proto::Tcp).unwrap(), "\"tcp\"");
    }

    #[test]
    fn allocated_port_is_in_range_and_free() {
        for proto in [Proto::Tcp, Proto::Udp] {
            let p = allocate_host_port(proto, Some(Ipv4Addr::LOCALHOST)).unwrap();
            assert!(EPHEMERAL_PORTS.contains(&p), "{p}");
            check_port_free(proto, Some(Ipv4Addr::LOCALHOST), p).unwrap();
        }
    }

    #[test]
    fn held_port_is_reported_in_dockers_words() {
        let l = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let e = check_port_free(Proto::Tcp, None, port).unwrap_err();
        assert_eq!(e.kind(), berth_model::ErrorKind::Conflict);
        assert_eq!(
            e.to_string(),
            format!("Bind for 0.0.0.0:{port} failed: port is already allocated")
        );
        let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let uport = u.local_addr().unwrap().port();
        assert!(check_port_free(Proto::Udp, Some(Ipv4Addr::LOCALHOST), uport).is_err());
        drop(u);
        check_port_free(Proto::Udp, Some(Ipv4Addr::LOCALHOST), uport).unwrap();
    }
}
