//! Bridges and veth pairs through rtnetlink, plus the few sysctls they need.
//!
//! Every function opens its own netlink socket, drives it in place and closes it before it
//! returns: they must run on a tokio runtime (the socket registers with its reactor) and
//! hold no state between calls. They only touch the links they are named.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use futures_util::stream::TryStreamExt;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkInfo, LinkMessage,
};
use rtnetlink::{Handle, LinkBridge, LinkBridgePort, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::error::{NetError, Result};
use crate::netns;

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

const ENODEV: i32 = libc::ENODEV;
const EEXIST: i32 = libc::EEXIST;

/// The errno a netlink error carries, if it is one.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

fn nl(op: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetError {
    let op = op.into();
    move |e| {
        let msg = match errno(&e) {
            Some(n) => std::io::Error::from_raw_os_error(n)
                .to_string()
                .to_lowercase(),
            None => e.to_string(),
        };
        NetError::Netlink { op, msg }
    }
}

fn check_ifname(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b'"' || b.is_ascii_whitespace() || b == 0);
    if ok {
        Ok(())
    } else {
        Err(NetError::InvalidArgument(format!(
            "invalid interface name {name:?}"
        )))
    }
}

type Conn = rtnetlink::proto::Connection<netlink_packet_route::RouteNetlinkMessage>;

/// A netlink connection in the daemon's own namespace.
fn host_conn() -> Result<(Conn, Handle)> {
    let (conn, handle, _) =
        rtnetlink::new_connection().map_err(|e| NetError::io("open netlink socket", e))?;
    Ok((conn, handle))
}

/// A netlink connection whose socket lives in the namespace at `path`.
fn ns_conn(path: &Path) -> Result<(Conn, Handle)> {
    let rt = tokio::runtime::Handle::current();
    let (conn, handle, _) = netns::run_in(path, move || {
        let _enter = rt.enter();
        rtnetlink::new_connection()
    })?
    .map_err(|e| NetError::io(format!("open netlink socket in {}", path.display()), e))?;
    Ok((conn, handle))
}

/// Runs `work` while driving `conn`, and closes the socket as soon as `work` is done (a
/// socket left open in a container's namespace would keep that namespace alive).
async fn drive<T>(conn: Conn, work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::select! {
        biased;
        r = work => r,
        () = conn => Err(NetError::Internal("netlink connection closed early".into())),
    }
}

/// The link called `name`, or None.
async fn get_link(h: &Handle, name: &str) -> Result<Option<LinkMessage>> {
    let mut links = h.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(l) => Ok(l),
        Err(e) if errno(&e) == Some(ENODEV) => Ok(None),
        Err(e) => Err(nl(format!("look up link {name}"))(e)),
    }
}

async fn link_index(h: &Handle, name: &str) -> Result<u32> {
    get_link(h, name)
        .await?
        .map(|l| l.header.index)
        .ok_or_else(|| NetError::NotFound(format!("link {name} does not exist")))
}

/// Writes `value` to `/proc/sys/<rel>` (`rel` uses slashes, as interface names may hold dots).
fn write_sysctl(rel: &str, value: &str) -> Result<()> {
    let path = format!("/proc/sys/{rel}");
    std::fs::write(&path, value).map_err(|e| NetError::io(format!("write {path}"), e))
}

/// Creates the bridge when missing, gives it `gateway/prefix`, sets it up, and turns on
/// `net.ipv4.ip_forward` and the bridge's `route_localnet`.
pub async fn ensure_bridge(name: &str, gateway: Ipv4Addr, prefix: u8) -> Result<()> {
    check_ifname(name)?;
    if prefix > 32 {
        return Err(NetError::InvalidArgument(format!(
            "invalid prefix length {prefix}"
        )));
    }
    let (conn, h) = host_conn()?;
    drive(conn, ensure_bridge_on(&h, name, gateway, prefix)).await?;
    write_sysctl("net/ipv4/ip_forward", "1")?;
    write_sysctl(&format!("net/ipv4/conf/{name}/route_localnet"), "1")?;
    Ok(())
}

async fn ensure_bridge_on(h: &Handle, name: &str, gateway: Ipv4Addr, prefix: u8) -> Result<()> {
    let index = match get_link(h, name).await? {
        Some(l) if !is_bridge(&l) => {
            return Err(NetError::Conflict(format!(
                "link {name} exists and is not a bridge"
            )))
        }
        Some(l) => l.header.index,
        None => {
            match h.link().add(LinkBridge::new(name).build()).execute().await {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(EEXIST) => {}
                Err(e) => return Err(nl(format!("create bridge {name}"))(e)),
            }
            link_index(h, name).await?
        }
    };
    let mut has_addr = false;
    let mut addrs = h.address().get().set_link_index_filter(index).execute();
    while let Some(a) = addrs
        .try_next()
        .await
        .map_err(nl(format!("list addresses of {name}")))?
    {
        let same = a.attributes.iter().any(|at| {
            matches!(at, AddressAttribute::Local(IpAddr::V4(ip)) if *ip == gateway)
                || matches!(at, AddressAttribute::Address(IpAddr::V4(ip)) if *ip == gateway)
        });
        if same && a.header.prefix_len == prefix {
            has_addr = true;
        }
    }
    if !has_addr {
        match h
            .address()
            .add(index, IpAddr::V4(gateway), prefix)
            .execute()
            .await
        {
            Ok(()) => {}
            Err(e) if errno(&e) == Some(EEXIST) => {}
            Err(e) => return Err(nl(format!("add address {gateway}/{prefix} to {name}"))(e)),
        }
    }
    h.link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(nl(format!("set {name} up")))?;
    Ok(())
}

fn is_bridge(l: &LinkMessage) -> bool {
    l.attributes.iter().any(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos
            .iter()
            .any(|i| matches!(i, LinkInfo::Kind(InfoKind::Bridge))),
        _ => false,
    })
}

/// Deletes a link by name; Ok when it does not exist.
pub async fn delete_link(name: &str) -> Result<()> {
    check_ifname(name)?;
    let (conn, h) = host_conn()?;
    drive(conn, delete_link_on(&h, name)).await
}

async fn delete_link_on(h: &Handle, name: &str) -> Result<()> {
    let Some(l) = get_link(h, name).await? else {
        return Ok(());
    };
    match h.link().del(l.header.index).execute().await {
        Ok(()) => Ok(()),
        Err(e) if errno(&e) == Some(ENODEV) => Ok(()),
        Err(e) => Err(nl(format!("delete link {name}"))(e)),
    }
}

/// Wires one endpoint (see [`Attach`]): creates the veth pair with its peer made directly
/// in the namespace under its final name and MAC, enslaves the host end to the bridge with
/// hairpin on, sets both ends up, and gives the peer its address and default route. On
/// failure the pair is deleted again.
pub async fn attach(a: &Attach) -> Result<()> {
    check_ifname(&a.host_if)?;
    check_ifname(&a.ctr_if)?;
    if a.prefix > 32 {
        return Err(NetError::InvalidArgument(format!(
            "invalid prefix length {}",
            a.prefix
        )));
    }
    let (conn, h) = host_conn()?;
    drive(conn, attach_on(&h, a)).await
}

async fn attach_on(h: &Handle, a: &Attach) -> Result<()> {
    let bridge = link_index(h, &a.bridge).await?;
    let ns = std::fs::File::open(&a.netns).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            NetError::NotFound(format!(
                "network namespace {} does not exist",
                a.netns.display()
            ))
        } else {
            NetError::io(format!("open {}", a.netns.display()), e)
        }
    })?;
    let mac = a.mac.unwrap_or_else(|| mac_for(a.ip));
    let peer = LinkUnspec::new_with_name(&a.ctr_if)
        .address(mac.to_vec())
        .setns_by_fd(ns.as_raw_fd())
        .build();
    let msg = LinkVeth::new(&a.host_if, &a.ctr_if)
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .controller(bridge)
        .build();
    h.link().add(msg).execute().await.map_err(nl(format!(
        "create veth pair {} ({} in {})",
        a.host_if,
        a.ctr_if,
        a.netns.display()
    )))?;
    drop(ns);
    if let Err(e) = finish_attach(h, a).await {
        if let Ok(Some(l)) = get_link(h, &a.host_if).await {
            let _ = h.link().del(l.header.index).execute().await;
        }
        return Err(e);
    }
    Ok(())
}

async fn finish_attach(h: &Handle, a: &Attach) -> Result<()> {
    let host = link_index(h, &a.host_if).await?;
    h.link()
        .set_port(LinkBridgePort::new(host).hairpin(true).build())
        .execute()
        .await
        .map_err(nl(format!("turn hairpin on for {}", a.host_if)))?;
    h.link()
        .set(LinkUnspec::new_with_index(host).up().build())
        .execute()
        .await
        .map_err(nl(format!("set {} up", a.host_if)))?;

    let (conn, c) = ns_conn(&a.netns)?;
    drive(conn, configure_inside(&c, a)).await
}

/// The namespace side: address, up, default route.
async fn configure_inside(c: &Handle, a: &Attach) -> Result<()> {
    let inner = link_index(c, &a.ctr_if).await?;
    // IPv4-only networks: no IPv6 (link-local) address on the interface, as Docker does.
    // /proc/sys/net is that of the namespace of the thread that opens it.
    let key = format!("net/ipv6/conf/{}/disable_ipv6", a.ctr_if);
    match netns::run_in(&a.netns, move || write_sysctl(&key, "1"))? {
        Err(NetError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
        other => other?,
    }
    c.address()
        .add(inner, IpAddr::V4(a.ip), a.prefix)
        .execute()
        .await
        .map_err(nl(format!(
            "add address {}/{} to {}",
            a.ip, a.prefix, a.ctr_if
        )))?;
    c.link()
        .set(LinkUnspec::new_with_index(inner).up().build())
        .execute()
        .await
        .map_err(nl(format!("set {} up", a.ctr_if)))?;
    if let Some(gw) = a.gateway {
        let route = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gw)
            .output_interface(inner)
            .build();
        c.route()
            .add(route)
            .execute()
            .await
            .map_err(nl(format!("add default route via {gw} on {}", a.ctr_if)))?;
    }
    Ok(())
}

/// Deletes the veth pair by its host end; Ok when it does not exist.
pub async fn detach(host_if: &str) -> Result<()> {
    delete_link(host_if).await
}

/// The names of the host's links that start with `prefix` ("veth", "br-").
pub async fn list_links_with_prefix(prefix: &str) -> Result<Vec<String>> {
    let (conn, h) = host_conn()?;
    drive(conn, list_links_on(&h, prefix)).await
}

async fn list_links_on(h: &Handle, prefix: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut links = h.link().get().execute();
    while let Some(l) = links.try_next().await.map_err(nl("list links"))? {
        for at in &l.attributes {
            if let LinkAttribute::IfName(n) = at {
                if n.starts_with(prefix) {
                    out.push(n.clone());
                }
            }
        }
    }
    out.sort();
    Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let a = host_if_name("c0ffee", "net1");
        assert_eq!(a, host_if_name("c0ffee", "net1"));
        assert_ne!(a, host_if_name("c0ffee", "net2"));
        assert!(a.starts_with("veth") && a.len() == 11);
        assert_eq!(bridge_name("0123456789abcdef0123"), "br-0123456789ab");
        assert!(bridge_name("0123456789abcdef").len() <= 15);
        assert_eq!(
            mac_for(Ipv4Addr::new(10, 77, 0, 2)),
            [2, 0x42, 10, 77, 0, 2]
        );
    }

    #[test]
    fn interface_names_are_checked() {
        assert!(check_ifname("eth0").is_ok());
        assert!(check_ifname("br-0123456789ab").is_ok());
        assert!(check_ifname("").is_err());
        assert!(check_ifname("0123456789abcdef").is_err());
        assert!(check_ifname("a/b").is_err());
        assert!(check_ifname("a\"b").is_err());
    }
}
