//! IP address management: subnets, per-network address pools and the choice of a free
//! subnet for a new network. Pure: no system calls.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{NetError, Result};

/// The default bridge network's Linux bridge (Docker's `docker0`).
pub const DEFAULT_BRIDGE: &str = "berth0";
/// The default bridge network's subnet.
pub const DEFAULT_SUBNET: Subnet = Subnet {
    addr: Ipv4Addr::new(10, 77, 0, 0),
    prefix: 16,
};
/// The default bridge network's gateway (the bridge's own address).
pub const DEFAULT_GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);

/// An IPv4 network: `addr` is always the network address (host bits zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    /// The subnet of `prefix` bits containing `addr` (host bits are cleared).
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Subnet> {
        if prefix > 32 {
            return Err(NetError::InvalidArgument(format!(
                "invalid subnet {addr}/{prefix}: prefix length must be at most 32"
            )));
        }
        Ok(Subnet {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        })
    }

    pub fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(mask(self.prefix))
    }

    pub fn network(&self) -> Ipv4Addr {
        self.addr
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !mask(self.prefix))
    }

    /// How many addresses the subnet spans (network and broadcast included).
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.addr)
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        let p = self.prefix.min(other.prefix);
        u32::from(self.addr) & mask(p) == u32::from(other.addr) & mask(p)
    }

    /// The first host address (Docker's default gateway). `None` for /31 and /32.
    pub fn default_gateway(&self) -> Option<Ipv4Addr> {
        if self.prefix > 30 {
            return None;
        }
        Some(Ipv4Addr::from(u32::from(self.addr) + 1))
    }

    /// Whether `ip` may be given to an endpoint: inside, and neither network nor broadcast.
    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && (self.prefix > 30 || (ip != self.network() && ip != self.broadcast()))
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = NetError;
    /// Parses "10.77.0.0/16" (a bare address means /32). Host bits are cleared.
    fn from_str(s: &str) -> Result<Subnet> {
        let bad = || {
            NetError::InvalidArgument(format!(
                "invalid subnet {s}: expected an IPv4 CIDR such as 10.1.0.0/16"
            ))
        };
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, p),
            None => (s, "32"),
        };
        let addr: Ipv4Addr = a.trim().parse().map_err(|_| bad())?;
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 2 {
            return Err(bad());
        }
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        Subnet::new(addr, prefix)
    }
}

impl Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Subnet, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The addresses of one network: which are handed out, and where the last one was, so
/// allocation goes round the subnet instead of reusing a just-released address at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    #[serde(default)]
    pub used: BTreeSet<Ipv4Addr>,
    #[serde(default)]
    pub last: Option<Ipv4Addr>,
}

impl Pool {
    /// A pool over `subnet`; the gateway defaults to the first host address.
    pub fn new(subnet: Subnet, gateway: Option<Ipv4Addr>) -> Result<Pool> {
        if subnet.prefix > 30 {
            return Err(NetError::InvalidArgument(format!(
                "subnet {subnet} is too small: it has no room for a gateway and endpoints"
            )));
        }
        let gateway = match gateway {
            Some(g) if !subnet.is_host(g) => {
                return Err(NetError::InvalidArgument(format!(
                    "gateway {g} is not a host address of subnet {subnet}"
                )))
            }
            Some(g) => g,
            None => subnet.default_gateway().expect("prefix <= 30"),
        };
        Ok(Pool {
            subnet,
            gateway,
            used: BTreeSet::new(),
            last: None,
        })
    }

    fn usable(&self, ip: Ipv4Addr) -> bool {
        self.subnet.is_host(ip) && ip != self.gateway
    }

    /// Hands out `preferred` when given (an error when it is outside the subnet, reserved or
    /// in use), else the next free address after the last one handed out, wrapping round.
    pub fn allocate(&mut self, preferred: Option<Ipv4Addr>) -> Result<Ipv4Addr> {
        if let Some(ip) = preferred {
            if !self.subnet.contains(ip) {
                return Err(NetError::InvalidArgument(format!(
                    "address {ip} is not in subnet {}",
                    self.subnet
                )));
            }
            if !self.usable(ip) {
                return Err(NetError::InvalidArgument(format!(
                    "address {ip} is reserved in subnet {}",
                    self.subnet
                )));
            }
            if self.used.contains(&ip) {
                return Err(NetError::Conflict(format!("Address already in use: {ip}")));
            }
            self.used.insert(ip);
            return Ok(ip);
        }
        let first = u32::from(self.subnet.network()) + 1;
        let last = u32::from(self.subnet.broadcast()) - 1;
        let hosts = u64::from(last - first) + 1;
        let start = match self.last {
            Some(l) if self.subnet.contains(l) && u32::from(l) < last && u32::from(l) >= first => {
                u32::from(l) + 1
            }
            _ => first,
        };
        let mut cand = start;
        for _ in 0..hosts {
            let ip = Ipv4Addr::from(cand);
            if self.usable(ip) && !self.used.contains(&ip) {
                self.used.insert(ip);
                self.last = Some(ip);
                return Ok(ip);
            }
            cand = if cand >= last { first } else { cand + 1 };
        }
        Err(NetError::Exhausted(format!(
            "no available IPv4 addresses on this network's address pools: {}",
            self.subnet
        )))
    }

    /// Marks `ip` as in use (restoring state). Errors when it is not usable in this subnet;
    /// reserving an address already in use is not an error.
    pub fn reserve(&mut self, ip: Ipv4Addr) -> Result<()> {
        if !self.usable(ip) {
            return Err(NetError::InvalidArgument(format!(
                "address {ip} cannot be reserved in subnet {}",
                self.subnet
            )));
        }
        self.used.insert(ip);
        Ok(())
    }

    /// Gives `ip` back; releasing an address that is not in use does nothing.
    pub fn release(&mut self, ip: Ipv4Addr) {
        self.used.remove(&ip);
    }
}

/// The first /16 from 10.78.0.0/16 to 10.127.0.0/16 that overlaps nothing in `taken` (the
/// subnets of existing networks and the host's routes). Default routes (prefix 0) in
/// `taken` are ignored: they overlap everything.
pub fn next_free_subnet(taken: &[Subnet]) -> Option<Subnet> {
    (78u8..=127)
        .map(|b| Subnet {
            addr: Ipv4Addr::new(10, b, 0, 0),
            prefix: 16,
        })
        .find(|cand| !taken.iter().any(|t| t.prefix > 0 && t.overlaps(cand)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }
    fn sn(s: &str) -> Subnet {
        s.parse().unwrap()
    }

    #[test]
    fn subnet_parses_prints_and_normalises() {
        let s = sn("10.77.0.0/16");
        assert_eq!(s.addr, ip("10.77.0.0"));
        assert_eq!(s.prefix, 16);
        assert_eq!(s.to_string(), "10.77.0.0/16");
        assert_eq!(sn("10.77.3.4/16").to_string(), "10.77.0.0/16");
        assert_eq!(sn("192.168.1.7").to_string(), "192.168.1.7/32");
        assert_eq!(sn("0.0.0.0/0").to_string(), "0.0.0.0/0");
        for bad in [
            "",
            "10.0.0.0/",
            "10.0.0.0/33",
            "10.0.0/8",
            "x/8",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "::1/64",
            "10.0.0.0/008",
        ] {
            let e = bad.parse::<Subnet>().unwrap_err();
            assert_eq!(e.kind(), berth_model::ErrorKind::InvalidArgument, "{bad}");
            assert!(e.to_string().contains(bad), "{e}");
        }
        assert_eq!(DEFAULT_SUBNET, sn("10.77.0.0/16"));
        assert_eq!(DEFAULT_SUBNET.default_gateway(), Some(DEFAULT_GATEWAY));
    }

    #[test]
    fn subnet_serde_is_a_cidr_string() {
        let s = sn("10.78.0.0/16");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"10.78.0.0/16\"");
        assert_eq!(
            serde_json::from_str::<Subnet>("\"10.78.0.0/16\"").unwrap(),
            s
        );
        assert!(serde_json::from_str::<Subnet>("\"10.78.0.0/40\"").is_err());
    }

    #[test]
    fn subnet_geometry() {
        let s = sn("10.77.0.0/16");
        assert_eq!(s.mask(), ip("255.255.0.0"));
        assert_eq!(s.broadcast(), ip("10.77.255.255"));
        assert_eq!(s.size(), 65536);
        assert!(s.contains(ip("10.77.200.1")));
        assert!(!s.contains(ip("10.78.0.1")));
        assert!(s.is_host(ip("10.77.0.1")));
        assert!(!s.is_host(ip("10.77.0.0")));
        assert!(!s.is_host(ip("10.77.255.255")));
        assert_eq!(sn("0.0.0.0/0").size(), 1 << 32);
        assert!(sn("0.0.0.0/0").contains(ip("1.2.3.4")));
        assert_eq!(sn("10.0.0.0/31").default_gateway(), None);
        assert_eq!(sn("10.0.0.0/30").default_gateway(), Some(ip("10.0.0.1")));
    }

    #[test]
    fn overlaps_both_ways() {
        assert!(sn("10.0.0.0/8").overlaps(&sn("10.77.0.0/16")));
        assert!(sn("10.77.0.0/16").overlaps(&sn("10.0.0.0/8")));
        assert!(sn("10.77.5.0/24").overlaps(&sn("10.77.0.0/16")));
        assert!(!sn("10.77.0.0/16").overlaps(&sn("10.78.0.0/16")));
        assert!(!sn("192.168.0.0/24").overlaps(&sn("192.168.1.0/24")));
        assert!(sn("0.0.0.0/0").overlaps(&sn("1.0.0.0/8")));
    }

    #[test]
    fn pool_allocates_sequentially_skipping_network_gateway_broadcast() {
        let mut p = Pool::new(sn("10.9.0.0/29"), None).unwrap();
        assert_eq!(p.gateway, ip("10.9.0.1"));
        let got: Vec<_> = (0..5).map(|_| p.allocate(None).unwrap()).collect();
        assert_eq!(
            got,
            ["10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"].map(ip)
        );
        let e = p.allocate(None).unwrap_err();
        assert_eq!(e.kind(), berth_model::ErrorKind::Unavailable);
        assert!(e.to_string().contains("10.9.0.0/29"), "{e}");
    }

    #[test]
    fn pool_goes_round_after_release_instead_of_reusing_at_once() {
        let mut p = Pool::new(sn("10.9.0.0/29"), None).unwrap();
        let a = p.allocate(None).unwrap();
        let b = p.allocate(None).unwrap();
        p.release(a);
        // The next one is after the last handed out, not the one just released.
        assert_eq!(p.allocate(None).unwrap(), ip("10.9.0.4"));
        assert_ne!(b, a);
        for _ in 0..2 {
            p.allocate(None).unwrap(); // .5, .6
        }
        // Wraps round to the released address.
        assert_eq!(p.allocate(None).unwrap(), a);
        assert!(p.allocate(None).is_err());
        p.release(ip("10.9.0.5"));
        assert_eq!(p.allocate(None).unwrap(), ip("10.9.0.5"));
    }

    #[test]
    fn pool_preferred_address() {
        let mut p = Pool::new(sn("10.9.0.0/24"), Some(ip("10.9.0.254"))).unwrap();
        assert_eq!(p.allocate(Some(ip("10.9.0.50"))).unwrap(), ip("10.9.0.50"));
        let e = p.allocate(Some(ip("10.9.0.50"))).unwrap_err();
        assert_eq!(e.kind(), berth_model::ErrorKind::Conflict);
        assert_eq!(e.to_string(), "Address already in use: 10.9.0.50");
        for bad in ["10.9.1.1", "10.9.0.0", "10.9.0.255", "10.9.0.254"] {
            let e = p.allocate(Some(ip(bad))).unwrap_err();
            assert_eq!(e.kind(), berth_model::ErrorKind::InvalidArgument, "{bad}");
            assert!(e.to_string().contains(bad));
        }
        // With a custom gateway, .1 is an ordinary address and comes first.
        assert_eq!(p.allocate(None).unwrap(), ip("10.9.0.1"));
        // A preferred address does not move the sequential cursor.
        assert_eq!(p.last, Some(ip("10.9.0.1")));
    }

    #[test]
    fn pool_never_hands_out_the_gateway() {
        let mut p = Pool::new(sn("10.9.0.0/30"), Some(ip("10.9.0.2"))).unwrap();
        assert_eq!(p.allocate(None).unwrap(), ip("10.9.0.1"));
        assert!(p.allocate(None).is_err());
    }

    #[test]
    fn pool_reserve_restores_state() {
        let mut p = Pool::new(sn("10.9.0.0/29"), None).unwrap();
        p.reserve(ip("10.9.0.2")).unwrap();
        p.reserve(ip("10.9.0.2")).unwrap();
        assert_eq!(p.allocate(None).unwrap(), ip("10.9.0.3"));
        assert!(p.reserve(ip("10.9.0.1")).is_err());
        assert!(p.reserve(ip("10.9.0.7")).is_err());
        assert!(p.reserve(ip("10.10.0.2")).is_err());
        p.release(ip("10.9.0.6")); // not in use: nothing happens
        let json = serde_json::to_string(&p).unwrap();
        let back: Pool = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
        // Old records without used/last still load.
        let bare: Pool =
            serde_json::from_str(r#"{"subnet":"10.9.0.0/29","gateway":"10.9.0.1"}"#).unwrap();
        assert!(bare.used.is_empty() && bare.last.is_none());
    }

    #[test]
    fn pool_rejects_bad_setup() {
        assert!(Pool::new(sn("10.9.0.0/31"), None).is_err());
        assert!(Pool::new(sn("10.9.0.0/24"), Some(ip("10.9.1.1"))).is_err());
        assert!(Pool::new(sn("10.9.0.0/24"), Some(ip("10.9.0.255"))).is_err());
    }

    #[test]
    fn pool_last_outside_subnet_restarts_at_the_beginning() {
        let mut p = Pool::new(sn("10.9.0.0/29"), None).unwrap();
        p.last = Some(ip("10.9.0.6"));
        assert_eq!(p.allocate(None).unwrap(), ip("10.9.0.2"));
        p.last = Some(ip("192.168.0.1"));
        assert_eq!(p.allocate(None).unwrap(), ip("10.9.0.3"));
    }

    #[test]
    fn big_pool_is_fast_to_fill_sequentially() {
        let mut p = Pool::new(sn("10.77.0.0/16"), None).unwrap();
        for _ in 0..1000 {
            p.allocate(None).unwrap();
        }
        assert_eq!(p.last, Some(ip("10.77.3.233")));
    }

    #[test]
    fn next_free_subnet_skips_taken_and_routes() {
        assert_eq!(next_free_subnet(&[]), Some(sn("10.78.0.0/16")));
        assert_eq!(
            next_free_subnet(&[sn("10.78.0.0/16"), sn("10.79.4.0/24")]),
            Some(sn("10.80.0.0/16"))
        );
        // A default route does not take everything; a 10/8 route does.
        assert_eq!(
            next_free_subnet(&[sn("0.0.0.0/0")]),
            Some(sn("10.78.0.0/16"))
        );
        assert_eq!(next_free_subnet(&[sn("10.0.0.0/8")]), None);
        assert_eq!(
            next_free_subnet(&[sn("10.64.0.0/11")]),
            Some(sn("10.96.0.0/16"))
        );
        let all: Vec<Subnet> = (78u8..=127)
            .map(|b| Subnet::new(Ipv4Addr::new(10, b, 0, 0), 16).unwrap())
            .collect();
        assert_eq!(next_free_subnet(&all), None);
        // The default bridge's subnet is never offered.
        assert!(!next_free_subnet(&[]).unwrap().overlaps(&DEFAULT_SUBNET));
    }
}
