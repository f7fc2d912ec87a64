use std::collections::HashMap;

use hickory_proto::op::Query;

use super::*;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn setup() -> (DnsTable, DnsView) {
    let t = DnsTable::new();
    t.set_endpoint(
        "n1",
        "c1",
        vec!["web".into(), "frontend".into()],
        ip("10.78.0.2"),
    );
    t.set_endpoint("n1", "c2", vec!["svc".into()], ip("10.78.0.3"));
    t.set_endpoint("n1", "c3", vec!["svc".into()], ip("10.78.0.4"));
    t.set_endpoint("n2", "c4", vec!["db".into()], ip("10.79.0.2"));
    let mut links = HashMap::new();
    links.insert("cache".to_string(), ip("10.77.0.5"));
    let view = DnsView {
        networks: vec!["n1".into()],
        links,
    };
    (t, view)
}

fn query_msg(name: &str, rtype: RecordType) -> Message {
    let mut m = Message::new(0x1234, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(raw_name(name), rtype));
    m
}

/// A name from dotted text taken byte for byte (so labels such as "+2" are possible).
fn raw_name(name: &str) -> Name {
    let mut n =
        Name::from_labels(name.split('.').filter(|l| !l.is_empty()).map(str::as_bytes)).unwrap();
    n.set_fqdn(true);
    n
}

fn query(name: &str, rtype: RecordType) -> Vec<u8> {
    query_msg(name, rtype).to_vec().unwrap()
}

fn reply(out: Outcome) -> Message {
    match out {
        Outcome::Reply(bytes) => Message::from_vec(&bytes).unwrap(),
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn a_records(m: &Message) -> Vec<Ipv4Addr> {
    m.answers
        .iter()
        .map(|r| match r.data {
            RData::A(A(ip)) => ip,
            ref other => panic!("not an A record: {other:?}"),
        })
        .collect()
}

#[test]
fn a_query_for_a_container_name_is_answered_with_ttl_600() {
    let (t, v) = setup();
    let m = reply(handle(
        &query("web.", RecordType::A),
        &t,
        &v,
        Transport::Udp,
    ));
    assert_eq!(m.metadata.id, 0x1234);
    assert_eq!(m.metadata.message_type, MessageType::Response);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.recursion_desired && m.metadata.authoritative);
    assert_eq!(m.queries, query_msg("web.", RecordType::A).queries);
    assert_eq!(a_records(&m), vec![ip("10.78.0.2")]);
    assert_eq!(m.answers[0].ttl, 600);
    assert_eq!(m.answers[0].name, Name::from_ascii("web.").unwrap());
}

#[test]
fn names_match_case_insensitively_and_keep_the_asked_case() {
    let (t, v) = setup();
    let m = reply(handle(
        &query("FrontEnd", RecordType::A),
        &t,
        &v,
        Transport::Udp,
    ));
    assert_eq!(a_records(&m), vec![ip("10.78.0.2")]);
    assert!(m.answers[0]
        .name
        .eq_case(&Name::from_ascii("FrontEnd.").unwrap()));
}

#[test]
fn a_shared_alias_gives_all_addresses() {
    let (t, v) = setup();
    let m = reply(handle(
        &query("svc.", RecordType::A),
        &t,
        &v,
        Transport::Tcp,
    ));
    assert_eq!(a_records(&m), vec![ip("10.78.0.3"), ip("10.78.0.4")]);
}

#[test]
fn the_order_of_several_addresses_turns_with_the_query_id() {
    let (t, v) = setup();
    let mut q = query_msg("svc.", RecordType::A);
    q.metadata.id = 0x1235;
    let m = reply(handle(&q.to_vec().unwrap(), &t, &v, Transport::Udp));
    assert_eq!(a_records(&m), vec![ip("10.78.0.4"), ip("10.78.0.3")]);
}

#[test]
fn link_aliases_resolve() {
    let (t, v) = setup();
    let m = reply(handle(
        &query("CACHE.", RecordType::A),
        &t,
        &v,
        Transport::Udp,
    ));
    assert_eq!(a_records(&m), vec![ip("10.77.0.5")]);
}

#[test]
fn other_types_of_known_names_get_an_empty_noerror() {
    let (t, v) = setup();
    for rtype in [RecordType::AAAA, RecordType::MX, RecordType::TXT] {
        let m = reply(handle(&query("web.", rtype), &t, &v, Transport::Udp));
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{rtype}");
        assert!(m.answers.is_empty(), "{rtype}");
    }
}

fn assert_forwarded(out: Outcome, name: &str, rtype: RecordType) {
    match out {
        Outcome::Forward { id, servfail } => {
            assert_eq!(id, 0x1234);
            let m = Message::from_vec(&servfail).unwrap();
            assert_eq!(m.metadata.id, 0x1234);
            assert_eq!(m.metadata.message_type, MessageType::Response);
            assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
            assert_eq!(m.queries, query_msg(name, rtype).queries);
        }
        other => panic!("expected forwarding of {name}, got {other:?}"),
    }
}

#[test]
fn unknown_names_and_names_of_other_networks_are_forwarded() {
    let (t, v) = setup();
    for name in ["example.com.", "db.", "web.example.com.", "web.n1."] {
        assert_forwarded(
            handle(&query(name, RecordType::A), &t, &v, Transport::Udp),
            name,
            RecordType::A,
        );
    }
    // Not class IN, and the root name.
    let mut m = query_msg("web.", RecordType::A);
    m.queries[0].set_query_class(DNSClass::CH);
    assert!(matches!(
        handle(&m.to_vec().unwrap(), &t, &v, Transport::Udp),
        Outcome::Forward { .. }
    ));
    assert_forwarded(
        handle(&query(".", RecordType::NS), &t, &v, Transport::Udp),
        ".",
        RecordType::NS,
    );
}

#[test]
fn ptr_of_known_addresses_is_answered_and_others_forwarded() {
    let (t, v) = setup();
    let m = reply(handle(
        &query("2.0.78.10.in-addr.arpa.", RecordType::PTR),
        &t,
        &v,
        Transport::Udp,
    ));
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].ttl, 600);
    match &m.answers[0].data {
        RData::PTR(PTR(n)) => assert_eq!(n.to_ascii(), "web."),
        other => panic!("not a PTR: {other:?}"),
    }
    let m = reply(handle(
        &query("5.0.77.10.IN-ADDR.ARPA.", RecordType::PTR),
        &t,
        &v,
        Transport::Udp,
    ));
    assert_eq!(m.answers.len(), 1);
    for name in [
        "2.0.79.10.in-addr.arpa.", // on a network this container is not on
        "9.0.78.10.in-addr.arpa.",
        "0.78.10.in-addr.arpa.",
        "1.2.0.78.10.in-addr.arpa.",
        "256.0.78.10.in-addr.arpa.",
        "+2.0.78.10.in-addr.arpa.",
    ] {
        assert_forwarded(
            handle(&query(name, RecordType::PTR), &t, &v, Transport::Udp),
            name,
            RecordType::PTR,
        );
    }
    let name = "2.0.78.10.in-addr.arpa.";
    assert_forwarded(
        handle(&query(name, RecordType::A), &t, &v, Transport::Udp),
        name,
        RecordType::A,
    );
}

#[test]
fn arpa_names_parse_only_when_complete() {
    assert_eq!(arpa_ip("4.3.2.1.in-addr.arpa"), Some(ip("1.2.3.4")));
    assert_eq!(arpa_ip("255.0.0.010.in-addr.arpa"), Some(ip("10.0.0.255")));
    for bad in [
        "in-addr.arpa",
        ".in-addr.arpa",
        "3.2.1.in-addr.arpa",
        "a.3.2.1.in-addr.arpa",
        "1.2.3.4",
        "1000.3.2.1.in-addr.arpa",
    ] {
        assert_eq!(arpa_ip(bad), None, "{bad}");
    }
}

#[test]
fn udp_answers_that_do_not_fit_are_truncated_and_tcp_ones_are_not() {
    let t = DnsTable::new();
    for i in 0..40u8 {
        t.set_endpoint(
            "n1",
            &format!("c{i}"),
            vec!["many".into()],
            Ipv4Addr::new(10, 78, 1, i),
        );
    }
    let v = DnsView {
        networks: vec!["n1".into()],
        links: HashMap::new(),
    };
    let m = reply(handle(
        &query("many.", RecordType::A),
        &t,
        &v,
        Transport::Udp,
    ));
    assert!(m.metadata.truncation);
    assert!(m.answers.is_empty());
    let m = reply(handle(
        &query("many.", RecordType::A),
        &t,
        &v,
        Transport::Tcp,
    ));
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 40);
    // With EDNS the client takes bigger datagrams, and gets EDNS back.
    let mut q = query_msg("many.", RecordType::A);
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    q.edns = Some(edns);
    let m = reply(handle(&q.to_vec().unwrap(), &t, &v, Transport::Udp));
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 40);
    assert_eq!(m.edns.map(|e| e.max_payload()), Some(OUR_EDNS_PAYLOAD));
}

#[test]
fn short_packets_and_responses_are_dropped() {
    let (t, v) = setup();
    for p in [
        &[][..],
        &[0x12],
        &[0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0],
    ] {
        assert_eq!(handle(p, &t, &v, Transport::Udp), Outcome::Drop);
    }
    let mut resp = query_msg("web.", RecordType::A);
    resp.metadata.message_type = MessageType::Response;
    assert_eq!(
        handle(&resp.to_vec().unwrap(), &t, &v, Transport::Udp),
        Outcome::Drop
    );
}

#[test]
fn undecodable_queries_get_formerr_with_their_id() {
    let (t, v) = setup();
    // A header announcing one question that is not there.
    let p = [0xab, 0xcd, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    let m = reply(handle(&p, &t, &v, Transport::Udp));
    assert_eq!(m.metadata.id, 0xabcd);
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    assert!(m.metadata.recursion_desired);
    // A label pointing at itself.
    let mut p = query("web.", RecordType::A);
    p.truncate(HEADER_LEN);
    p.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    assert_eq!(
        reply(handle(&p, &t, &v, Transport::Udp))
            .metadata
            .response_code,
        ResponseCode::FormErr
    );
}

#[test]
fn no_or_several_questions_are_formerr_and_other_opcodes_notimp() {
    let (t, v) = setup();
    let none = Message::new(7, MessageType::Query, OpCode::Query);
    let m = reply(handle(&none.to_vec().unwrap(), &t, &v, Transport::Udp));
    assert_eq!(
        (m.metadata.id, m.metadata.response_code),
        (7, ResponseCode::FormErr)
    );
    let mut two = query_msg("web.", RecordType::A);
    two.add_query(Query::query(
        Name::from_ascii("db.").unwrap(),
        RecordType::A,
    ));
    let m = reply(handle(&two.to_vec().unwrap(), &t, &v, Transport::Udp));
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    let mut status = query_msg("web.", RecordType::A);
    status.metadata.op_code = OpCode::Status;
    let m = reply(handle(&status.to_vec().unwrap(), &t, &v, Transport::Udp));
    assert_eq!(m.metadata.response_code, ResponseCode::NotImp);
}

#[test]
fn garbage_and_every_prefix_of_a_query_never_panic() {
    let (t, v) = setup();
    let good = query("web.", RecordType::A);
    for n in 0..good.len() {
        check_no_panic(&good[..n], &t, &v);
    }
    // Deterministic pseudo-random packets, some starting with a plausible header.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..5000 {
        let mut p = Vec::new();
        let len = (round % 90) + 1;
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            p.push(x as u8);
        }
        if round % 2 == 0 && p.len() > HEADER_LEN {
            p[2] &= 0x7f;
            p[4] = 0;
            p[5] = 1;
        }
        check_no_panic(&p, &t, &v);
        // The same bytes after a valid header and question.
        let mut q = good.clone();
        q.extend_from_slice(&p);
        check_no_panic(&q, &t, &v);
    }
}

fn check_no_panic(p: &[u8], t: &DnsTable, v: &DnsView) {
    for transport in [Transport::Udp, Transport::Tcp] {
        if let Outcome::Reply(bytes) = handle(p, t, v, transport) {
            // What we send back is always a well-formed response to the same id.
            let m = Message::from_vec(&bytes).unwrap();
            assert_eq!(m.metadata.id, u16::from_be_bytes([p[0], p[1]]));
            assert_eq!(m.metadata.message_type, MessageType::Response);
        }
    }
}
