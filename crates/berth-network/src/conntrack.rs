//! Dropping UDP flows from the kernel's connection tracking (ctnetlink over
//! NETLINK_NETFILTER). A UDP "connection" keeps the NAT decision of its first datagram
//! for as long as datagrams keep coming: after a published UDP port changes hands, its old
//! flows would go on to the old container (or nowhere) until they time out. Deleting them
//! makes the next datagram take the current rules, as dockerd does when it unmaps a port.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    bind, recv, send, setsockopt, socket, sockopt, AddressFamily, MsgFlags, NetlinkAddr, SockFlag,
    SockProtocol, SockType,
};

use crate::error::{NetError, Result};
use crate::nft::Ruleset;
use crate::ports::Proto;

const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_DST_PORT: u16 = 3;
const IPPROTO_UDP: u8 = 17;
const AF_INET: u8 = libc::AF_INET as u8;
const HDR: usize = 16;
const NFGEN: usize = 4;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// A netlink message of ctnetlink: header, `nfgenmsg` for IPv4, then `attrs`.
fn message(kind: u16, flags: u16, seq: u32, attrs: &[u8]) -> Vec<u8> {
    let len = HDR + NFGEN + attrs.len();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&((NFNL_SUBSYS_CTNETLINK << 8) | kind).to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&[AF_INET, 0, 0, 0]);
    m.extend_from_slice(attrs);
    m
}

/// `IPCTNL_MSG_CT_GET` with `NLM_F_DUMP`: every IPv4 flow.
pub fn dump_request(seq: u32) -> Vec<u8> {
    message(IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, seq, &[])
}

/// `IPCTNL_MSG_CT_DELETE` of the flow whose original tuple is `tuple` (the payload of a
/// dumped `CTA_TUPLE_ORIG`). Never without a tuple: the kernel reads that as "flush all".
pub fn delete_request(seq: u32, tuple: &[u8]) -> Vec<u8> {
    let mut a = Vec::with_capacity(4 + align4(tuple.len()));
    a.extend_from_slice(&((4 + tuple.len()) as u16).to_ne_bytes());
    a.extend_from_slice(&(CTA_TUPLE_ORIG | NLA_F_NESTED).to_ne_bytes());
    a.extend_from_slice(tuple);
    a.resize(align4(a.len()), 0);
    message(IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, seq, &a)
}

/// The attributes of a buffer as (type without flags, payload).
fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let kind = u16::from_ne_bytes([b[2], b[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > b.len() {
            break;
        }
        out.push((kind, &b[4..len]));
        b = &b[align4(len).min(b.len())..];
    }
    out
}

/// The original-direction tuple of one dumped flow when it is UDP to one of `ports`.
fn udp_tuple_to<'a>(payload: &'a [u8], ports: &BTreeSet<u16>) -> Option<&'a [u8]> {
    let (_, tuple) = attrs(payload)
        .into_iter()
        .find(|(k, _)| *k == CTA_TUPLE_ORIG)?;
    let (_, proto) = attrs(tuple)
        .into_iter()
        .find(|(k, _)| *k == CTA_TUPLE_PROTO)?;
    let p = attrs(proto);
    let num = p.iter().find(|(k, _)| *k == CTA_PROTO_NUM)?.1.first()?;
    let dport = p.iter().find(|(k, _)| *k == CTA_PROTO_DST_PORT)?.1;
    let dport = u16::from_be_bytes([*dport.first()?, *dport.get(1)?]);
    (*num == IPPROTO_UDP && ports.contains(&dport)).then_some(tuple)
}

/// One received buffer of netlink messages: the tuples of matching flows, whether the
/// dump is done, and the first error code the kernel sent (negative errno).
fn parse_dump(mut b: &[u8], ports: &BTreeSet<u16>, out: &mut Vec<Vec<u8>>) -> (bool, i32) {
    let mut err = 0;
    while b.len() >= HDR {
        let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let kind = u16::from_ne_bytes([b[4], b[5]]);
        if len < HDR || len > b.len() {
            break;
        }
        match kind {
            NLMSG_DONE => return (true, err),
            NLMSG_ERROR => {
                if len >= HDR + 4 {
                    let e = i32::from_ne_bytes([b[16], b[17], b[18], b[19]]);
                    if err == 0 {
                        err = e;
                    }
                }
                return (true, err);
            }
            _ if len >= HDR + NFGEN => {
                if let Some(t) = udp_tuple_to(&b[HDR + NFGEN..len], ports) {
                    out.push(t.to_vec());
                }
            }
            _ => {}
        }
        b = &b[align4(len).min(b.len())..];
    }
    (false, err)
}

/// The UDP host ports whose mapping differs between the rules last applied (`None` after
/// a daemon start) and `next`: added, removed, or now going to another container.
pub fn udp_ports_changed(last: Option<&Ruleset>, next: &Ruleset) -> BTreeSet<u16> {
    type Key = (u16, Option<Ipv4Addr>, Ipv4Addr, u16, String);
    let udp = |rs: &Ruleset| -> BTreeSet<Key> {
        rs.ports
            .iter()
            .filter(|p| p.proto == Proto::Udp)
            .map(|p| {
                (
                    p.host_port,
                    p.host_ip,
                    p.ctr_ip,
                    p.ctr_port,
                    p.bridge.clone(),
                )
            })
            .collect()
    };
    let new = udp(next);
    let old = last.map(udp).unwrap_or_default();
    old.symmetric_difference(&new).map(|k| k.0).collect()
}

fn open() -> Result<OwnedFd> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkNetFilter,
    )
    .map_err(|e| NetError::errno("ctnetlink socket", e))?;
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))
        .map_err(|e| NetError::errno("bind ctnetlink socket", e))?;
    let tv = nix::sys::time::TimeVal::new(2, 0);
    setsockopt(&fd, sockopt::ReceiveTimeout, &tv)
        .map_err(|e| NetError::errno("ctnetlink receive timeout", e))?;
    Ok(fd)
}

fn send_all(fd: &OwnedFd, m: &[u8], what: &str) -> Result<()> {
    send(fd.as_raw_fd(), m, MsgFlags::empty()).map_err(|e| NetError::errno(what, e))?;
    Ok(())
}

/// Deletes every IPv4 UDP flow whose original destination port is one of `ports`;
/// returns how many went. Flows that vanish meanwhile are not an error.
pub fn delete_udp_flows(ports: &BTreeSet<u16>) -> Result<usize> {
    if ports.is_empty() {
        return Ok(0);
    }
    let fd = open()?;
    send_all(&fd, &dump_request(1), "ctnetlink dump")?;
    let mut tuples = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty())
            .map_err(|e| NetError::errno("ctnetlink dump", e))?;
        if n == 0 {
            break;
        }
        let (done, err) = parse_dump(&buf[..n], ports, &mut tuples);
        if err < 0 {
            return Err(NetError::io(
                "ctnetlink dump",
                std::io::Error::from_raw_os_error(-err),
            ));
        }
        if done {
            break;
        }
    }
    let mut deleted = 0;
    for (i, t) in tuples.iter().enumerate() {
        send_all(&fd, &delete_request(2 + i as u32, t), "ctnetlink delete")?;
        let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty())
            .map_err(|e| NetError::errno("ctnetlink delete", e))?;
        let (_, err) = parse_dump(&buf[..n], &BTreeSet::new(), &mut Vec::new());
        match err {
            0 => deleted += 1,
            e if e == -libc::ENOENT => {}
            e => {
                return Err(NetError::io(
                    "ctnetlink delete",
                    std::io::Error::from_raw_os_error(-e),
                ))
            }
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nft::PortRule;

    fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut a = ((4 + payload.len()) as u16).to_ne_bytes().to_vec();
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(payload);
        a.resize(align4(a.len()), 0);
        a
    }

    /// A dumped flow as the kernel sends it: the original tuple, then another attribute.
    fn flow(proto: u8, dport: u16) -> (Vec<u8>, Vec<u8>) {
        let ip = [
            attr(1, &Ipv4Addr::LOCALHOST.octets()),
            attr(2, &Ipv4Addr::LOCALHOST.octets()),
        ]
        .concat();
        let pr = [
            attr(CTA_PROTO_NUM, &[proto]),
            attr(2, &40000u16.to_be_bytes()),
            attr(CTA_PROTO_DST_PORT, &dport.to_be_bytes()),
        ]
        .concat();
        let tuple = [
            attr(1 | NLA_F_NESTED, &ip),
            attr(CTA_TUPLE_PROTO | NLA_F_NESTED, &pr),
        ]
        .concat();
        let body = [
            attr(CTA_TUPLE_ORIG | NLA_F_NESTED, &tuple),
            attr(3, &[0, 0, 0, 1]),
        ]
        .concat();
        (message(0, 2, 1, &body), tuple)
    }

    #[test]
    fn dump_picks_udp_flows_to_the_ports() {
        let (udp, tuple) = flow(IPPROTO_UDP, 5353);
        let (tcp, _) = flow(6, 5353);
        let (other, _) = flow(IPPROTO_UDP, 53);
        let mut done = message(0, 2, 1, &[]);
        done[4..6].copy_from_slice(&NLMSG_DONE.to_ne_bytes());
        let buf = [udp, tcp, other, done].concat();
        let mut got = Vec::new();
        let (finished, err) = parse_dump(&buf, &[5353].into(), &mut got);
        assert!(finished);
        assert_eq!(err, 0);
        assert_eq!(got, std::slice::from_ref(&tuple));
        // The delete carries exactly that tuple, nested, after an IPv4 nfgenmsg.
        let del = delete_request(7, &tuple);
        assert_eq!(
            u32::from_ne_bytes(del[0..4].try_into().unwrap()) as usize,
            del.len()
        );
        assert_eq!(u16::from_ne_bytes([del[4], del[5]]), (1 << 8) | 2);
        assert_eq!(del[16], AF_INET);
        let a = attrs(&del[20..]);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0], (CTA_TUPLE_ORIG, &tuple[..]));
    }

    #[test]
    fn errors_end_the_stream() {
        let mut e = message(0, 0, 1, &[]);
        e[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        e[16..20].copy_from_slice(&(-libc::ENOENT).to_ne_bytes());
        let (done, err) = parse_dump(&e, &BTreeSet::new(), &mut Vec::new());
        assert!(done);
        assert_eq!(err, -libc::ENOENT);
        let req = dump_request(1);
        assert_eq!(req.len(), 20);
        assert_eq!(u16::from_ne_bytes([req[6], req[7]]), 0x301);
    }

    fn rule(proto: Proto, host_port: u16, last: u8) -> PortRule {
        PortRule {
            proto,
            host_ip: None,
            host_port,
            ctr_ip: Ipv4Addr::new(10, 0, 0, last),
            ctr_port: 80,
            bridge: "b0".into(),
        }
    }

    #[test]
    fn changed_udp_ports() {
        let a = Ruleset {
            ports: vec![rule(Proto::Udp, 5000, 2), rule(Proto::Tcp, 6000, 2)],
            ..Default::default()
        };
        assert_eq!(udp_ports_changed(None, &a), [5000].into());
        assert!(udp_ports_changed(Some(&a), &a).is_empty());
        let gone = Ruleset::default();
        assert_eq!(udp_ports_changed(Some(&a), &gone), [5000].into());
        // The same port now going to another container.
        let b = Ruleset {
            ports: vec![rule(Proto::Udp, 5000, 3), rule(Proto::Tcp, 6001, 2)],
            ..Default::default()
        };
        assert_eq!(udp_ports_changed(Some(&a), &b), [5000].into());
    }
}
