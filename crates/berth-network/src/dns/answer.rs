//! From one received packet to what to do with it: answer it from the table, forward it, or
//! drop it. Pure (no sockets), so every case is unit tested.

use std::net::Ipv4Addr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::table::{DnsTable, DnsView};

/// TTL of the answers for container names, as Docker's embedded DNS gives.
pub const TTL: u32 = 600;
/// The payload size we advertise in our EDNS answers (the DNS flag day value).
const OUR_EDNS_PAYLOAD: u16 = 1232;
const HEADER_LEN: usize = 12;

/// How a query came in, which bounds the size of the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Send these bytes back to the client.
    Reply(Vec<u8>),
    /// Not one of our names: relay the packet to the upstream servers unchanged, and send
    /// `servfail` back if none of them answers.
    Forward { id: u16, servfail: Vec<u8> },
    /// Send nothing (a response rather than a query, or too short to carry an id).
    Drop,
}

/// Decides what to do with one packet received from a container.
pub(crate) fn handle(
    packet: &[u8],
    table: &DnsTable,
    view: &DnsView,
    transport: Transport,
) -> Outcome {
    if packet.len() < HEADER_LEN || packet[2] & 0x80 != 0 {
        // Too short to reply to, or a response (answering those could loop).
        return Outcome::Drop;
    }
    let req = match Message::from_vec(packet) {
        Ok(m) => m,
        Err(_) => return raw_error(packet, ResponseCode::FormErr),
    };
    if req.metadata.op_code != OpCode::Query {
        return reply_error(&req, ResponseCode::NotImp);
    }
    if req.queries.len() != 1 {
        return reply_error(&req, ResponseCode::FormErr);
    }
    let query = &req.queries[0];
    let forward = || Outcome::Forward {
        id: req.metadata.id,
        servfail: encode_error(&req, ResponseCode::ServFail).unwrap_or_default(),
    };
    if query.query_class() != DNSClass::IN {
        return forward();
    }
    let Some(name) = plain_name(query.name()) else {
        return forward();
    };
    let mut answers = Vec::new();
    if let Some(ip) = arpa_ip(&name) {
        if query.query_type() != RecordType::PTR {
            return forward();
        }
        let Some(target) = view.reverse(table, ip).and_then(|n| fqdn(&n)) else {
            return forward();
        };
        answers.push(Record::from_rdata(
            query.name().clone(),
            TTL,
            RData::PTR(PTR(target)),
        ));
    } else {
        let mut ips = view.resolve(table, &name);
        if ips.is_empty() {
            return forward();
        }
        // A known name: A records for an A query, an empty NOERROR answer for other types
        // (AAAA, MX...), so that resolvers do not go on asking upstream for it.
        if query.query_type() == RecordType::A {
            // Several containers behind one alias: start the list at a different one per
            // query (ids are random), so clients that take the first spread their load.
            let first = usize::from(req.metadata.id) % ips.len();
            ips.rotate_left(first);
            for ip in ips {
                answers.push(Record::from_rdata(
                    query.name().clone(),
                    TTL,
                    RData::A(A(ip)),
                ));
            }
        }
    }
    let mut resp = response_to(&req, ResponseCode::NoError);
    resp.metadata.authoritative = true;
    resp.answers = answers;
    let limit = match transport {
        Transport::Tcp => usize::from(u16::MAX),
        Transport::Udp => req.edns.as_ref().map_or(512, |e| {
            usize::from(e.max_payload()).clamp(512, usize::from(OUR_EDNS_PAYLOAD))
        }),
    };
    match resp.to_vec() {
        Ok(bytes) if bytes.len() <= limit => Outcome::Reply(bytes),
        Ok(_) => {
            // Too many addresses for one datagram: say so, and the client asks again over TCP.
            resp.answers.clear();
            resp.metadata.truncation = true;
            resp.to_vec().map_or(Outcome::Drop, Outcome::Reply)
        }
        Err(_) => reply_error(&req, ResponseCode::ServFail),
    }
}

/// A response header for `req`: same id, opcode, RD and CD, the question echoed, and EDNS
/// when the client used it.
fn response_to(req: &Message, rcode: ResponseCode) -> Message {
    let mut resp = Message::new(req.metadata.id, MessageType::Response, req.metadata.op_code);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.checking_disabled = req.metadata.checking_disabled;
    resp.metadata.recursion_available = true;
    resp.metadata.response_code = rcode;
    resp.queries = req.queries.clone();
    if req.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(OUR_EDNS_PAYLOAD);
        resp.edns = Some(edns);
    }
    resp
}

fn encode_error(req: &Message, rcode: ResponseCode) -> Option<Vec<u8>> {
    response_to(req, rcode).to_vec().ok()
}

fn reply_error(req: &Message, rcode: ResponseCode) -> Outcome {
    encode_error(req, rcode).map_or(Outcome::Drop, Outcome::Reply)
}

/// An error reply built from the header bytes alone, for packets that do not parse.
fn raw_error(packet: &[u8], rcode: ResponseCode) -> Outcome {
    let id = u16::from_be_bytes([packet[0], packet[1]]);
    let mut resp = Message::new(
        id,
        MessageType::Response,
        OpCode::from_u8((packet[2] >> 3) & 0x0f),
    );
    resp.metadata.recursion_desired = packet[2] & 0x01 != 0;
    resp.metadata.recursion_available = true;
    resp.metadata.response_code = rcode;
    resp.to_vec().map_or(Outcome::Drop, Outcome::Reply)
}

/// The query name as lower-case dotted text without the final dot, when every label is
/// printable ASCII without dots (anything else cannot be one of our names).
fn plain_name(name: &Name) -> Option<String> {
    let mut out = String::new();
    for (i, label) in name.iter().enumerate() {
        if label.is_empty() || !label.iter().all(|b| b.is_ascii_graphic() && *b != b'.') {
            return None;
        }
        if i > 0 {
            out.push('.');
        }
        out.extend(label.iter().map(|b| char::from(b.to_ascii_lowercase())));
    }
    (!out.is_empty()).then_some(out)
}

/// The address a complete `d.c.b.a.in-addr.arpa` name stands for.
fn arpa_ip(name: &str) -> Option<Ipv4Addr> {
    let rest = name.strip_suffix(".in-addr.arpa")?;
    let mut octets = [0u8; 4];
    let mut parts = rest.split('.');
    for slot in octets.iter_mut().rev() {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = p.parse().ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Ipv4Addr::from(octets))
}

fn fqdn(name: &str) -> Option<Name> {
    let mut n = Name::from_ascii(name).ok()?;
    n.set_fqdn(true);
    Some(n)
}

#[cfg(test)]
#[path = "answer_tests.rs"]
mod tests;
