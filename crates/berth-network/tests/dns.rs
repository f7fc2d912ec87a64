//! The embedded DNS server in network namespaces made by the tests (root only; skipped
//! otherwise): queries are sent from inside the namespace to 127.0.0.11:53, and forwarded
//! queries go to fake upstream servers on 127.0.0.1 of the host namespace.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_network::dns::{DnsServer, DnsTable, DnsView};
use berth_network::netns;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

/// A guard against a hang, not a measurement: replies come in milliseconds.
const PATIENCE: Duration = Duration::from_secs(20);
const DNS: &str = "127.0.0.11:53";

macro_rules! require_root {
    () => {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
    };
}

/// A network namespace of the test's own, removed on drop.
struct Ns(PathBuf);

impl Ns {
    fn new(tag: &str) -> Ns {
        let path = PathBuf::from(format!("/run/berth-test-dns/{tag}-{}", std::process::id()));
        let _ = netns::remove(&path);
        netns::create(&path).unwrap();
        Ns(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = netns::remove(&self.0);
    }
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn nets(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// Two networks: n1 has web (alias frontend, short id) and n2 has db.
fn table() -> DnsTable {
    let t = DnsTable::new();
    t.set_endpoint(
        "n1",
        "c1",
        vec!["web".into(), "frontend".into(), "0123456789ab".into()],
        ip("10.78.0.2"),
    );
    t.set_endpoint("n2", "c2", vec!["db".into()], ip("10.79.0.2"));
    t
}

fn view(networks: &[&str]) -> DnsView {
    DnsView {
        networks: nets(networks),
        links: HashMap::new(),
    }
}

fn query_bytes(id: u16, name: &str, rtype: RecordType) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    m.to_vec().unwrap()
}

/// A UDP socket made inside the namespace, connected to the embedded DNS.
async fn client_udp(ns: &Path) -> tokio::net::UdpSocket {
    let sock = netns::run_in(ns, || std::net::UdpSocket::bind("127.0.0.1:0"))
        .unwrap()
        .unwrap();
    sock.set_nonblocking(true).unwrap();
    let sock = tokio::net::UdpSocket::from_std(sock).unwrap();
    sock.connect(DNS).await.unwrap();
    sock
}

async fn recv_msg(sock: &tokio::net::UdpSocket) -> Message {
    let mut buf = vec![0u8; 65535];
    let n = tokio::time::timeout(PATIENCE, sock.recv(&mut buf))
        .await
        .expect("no dns reply")
        .unwrap();
    Message::from_vec(&buf[..n]).unwrap()
}

async fn udp_query(ns: &Path, name: &str, rtype: RecordType) -> Message {
    let sock = client_udp(ns).await;
    sock.send(&query_bytes(0x4242, name, rtype)).await.unwrap();
    let m = recv_msg(&sock).await;
    assert_eq!(m.metadata.id, 0x4242);
    assert_eq!(m.metadata.message_type, MessageType::Response);
    m
}

async fn client_tcp(ns: &Path) -> tokio::net::TcpStream {
    let s = netns::run_in(ns, || std::net::TcpStream::connect(DNS))
        .unwrap()
        .unwrap();
    s.set_nonblocking(true).unwrap();
    tokio::net::TcpStream::from_std(s).unwrap()
}

async fn tcp_exchange(stream: &mut tokio::net::TcpStream, packet: &[u8]) -> Message {
    let mut out = (packet.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(packet);
    stream.write_all(&out).await.unwrap();
    let read = async {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await.unwrap();
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut buf).await.unwrap();
        buf
    };
    let buf = tokio::time::timeout(PATIENCE, read)
        .await
        .expect("no dns reply over tcp");
    Message::from_vec(&buf).unwrap()
}

async fn tcp_query(ns: &Path, name: &str, rtype: RecordType) -> Message {
    let mut stream = client_tcp(ns).await;
    let m = tcp_exchange(&mut stream, &query_bytes(0x4343, name, rtype)).await;
    assert_eq!(m.metadata.id, 0x4343);
    m
}

fn a_records(m: &Message) -> Vec<Ipv4Addr> {
    m.answers
        .iter()
        .filter_map(|r| match r.data {
            RData::A(A(ip)) => Some(ip),
            _ => None,
        })
        .collect()
}

/// A fake upstream resolver on 127.0.0.1 (host namespace), UDP and TCP on one port: it
/// answers every A query with `answer`, or over UDP only with an empty truncated reply when
/// `truncate`. It records the names it was asked.
struct Upstream {
    addr: SocketAddr,
    asked: Arc<Mutex<Vec<String>>>,
    tcp_hits: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn upstream_reply(packet: &[u8], answer: Ipv4Addr, truncate: bool) -> Option<Vec<u8>> {
    let req = Message::from_vec(packet).ok()?;
    let mut resp = Message::new(req.metadata.id, MessageType::Response, OpCode::Query);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.queries = req.queries.clone();
    if truncate {
        resp.metadata.truncation = true;
    } else if req.queries[0].query_type() == RecordType::A {
        resp.add_answer(Record::from_rdata(
            req.queries[0].name().clone(),
            60,
            RData::A(A(answer)),
        ));
    }
    resp.to_vec().ok()
}

async fn upstream(answer: Ipv4Addr, truncate: bool) -> Upstream {
    let (udp, tcp) = loop {
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = udp.local_addr().unwrap().port();
        if let Ok(tcp) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            break (udp, tcp);
        }
    };
    let addr = udp.local_addr().unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let tcp_hits = Arc::new(AtomicUsize::new(0));
    let udp_asked = asked.clone();
    let udp_task = tokio::spawn(async move {
        let mut buf = vec![0u8; 65535];
        loop {
            let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                continue;
            };
            if let Ok(m) = Message::from_vec(&buf[..n]) {
                udp_asked
                    .lock()
                    .unwrap()
                    .push(m.queries[0].name().to_ascii());
            }
            if let Some(r) = upstream_reply(&buf[..n], answer, truncate) {
                let _ = udp.send_to(&r, peer).await;
            }
        }
    });
    let hits = tcp_hits.clone();
    let tcp_task = tokio::spawn(async move {
        while let Ok((mut s, _)) = tcp.accept().await {
            hits.fetch_add(1, Ordering::SeqCst);
            let mut len = [0u8; 2];
            if s.read_exact(&mut len).await.is_err() {
                continue;
            }
            let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
            if s.read_exact(&mut buf).await.is_err() {
                continue;
            }
            if let Some(r) = upstream_reply(&buf, answer, false) {
                let mut out = (r.len() as u16).to_be_bytes().to_vec();
                out.extend_from_slice(&r);
                let _ = s.write_all(&out).await;
            }
        }
    });
    Upstream {
        addr,
        asked,
        tcp_hits,
        tasks: vec![udp_task, tcp_task],
    }
}

/// A UDP socket on 127.0.0.1 that never answers: an upstream server that is down.
async fn silent_upstream() -> tokio::net::UdpSocket {
    tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_names_aliases_and_short_ids_resolve_over_udp_and_tcp() {
    require_root!();
    let ns = Ns::new("names");
    let _srv = DnsServer::start_in(ns.path(), table(), view(&["n1"]), vec![]).unwrap();
    for name in ["web.", "FRONTEND.", "0123456789ab", "Web"] {
        let m = udp_query(ns.path(), name, RecordType::A).await;
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{name}");
        assert_eq!(a_records(&m), vec![ip("10.78.0.2")], "{name}");
        assert_eq!(m.answers[0].ttl, 600);
        let m = tcp_query(ns.path(), name, RecordType::A).await;
        assert_eq!(a_records(&m), vec![ip("10.78.0.2")], "{name} over tcp");
    }
    let m = udp_query(ns.path(), "2.0.78.10.in-addr.arpa.", RecordType::PTR).await;
    match &m.answers[..] {
        [r] => assert!(matches!(&r.data, RData::PTR(p) if p.0.to_ascii() == "web.")),
        other => panic!("ptr answers: {other:?}"),
    }
    let m = udp_query(ns.path(), "web.", RecordType::AAAA).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_of_other_networks_are_forwarded_and_set_view_switches_networks() {
    require_root!();
    let ns = Ns::new("view");
    let up = upstream(ip("192.0.2.7"), false).await;
    let srv = DnsServer::start_in(ns.path(), table(), view(&["n1"]), vec![up.addr]).unwrap();
    // db is on n2 only: not ours to answer, so the upstream's answer comes back.
    let m = udp_query(ns.path(), "db.", RecordType::A).await;
    assert_eq!(a_records(&m), vec![ip("192.0.2.7")]);
    assert_eq!(up.asked.lock().unwrap().as_slice(), ["db."]);
    let m = udp_query(ns.path(), "web.", RecordType::A).await;
    assert_eq!(a_records(&m), vec![ip("10.78.0.2")]);

    srv.set_view(view(&["n2"]));
    let m = udp_query(ns.path(), "db.", RecordType::A).await;
    assert_eq!(a_records(&m), vec![ip("10.79.0.2")]);
    let m = tcp_query(ns.path(), "web.", RecordType::A).await;
    assert_eq!(a_records(&m), vec![ip("192.0.2.7")]);
    assert_eq!(up.asked.lock().unwrap().as_slice(), ["db.", "web."]);

    srv.set_view(view(&["n1", "n2"]));
    assert_eq!(
        a_records(&udp_query(ns.path(), "db.", RecordType::A).await),
        vec![ip("10.79.0.2")]
    );
    assert_eq!(
        a_records(&udp_query(ns.path(), "web.", RecordType::A).await),
        vec![ip("10.78.0.2")]
    );
    assert_eq!(up.asked.lock().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_aliases_and_table_changes_are_seen_live() {
    require_root!();
    let ns = Ns::new("links");
    let up = upstream(ip("192.0.2.8"), false).await;
    let t = table();
    let mut v = view(&["n1"]);
    v.links.insert("mydb".into(), ip("10.77.0.9"));
    v.links.insert("web".into(), ip("10.77.0.10"));
    let _srv = DnsServer::start_in(ns.path(), t.clone(), v, vec![up.addr]).unwrap();
    assert_eq!(
        a_records(&udp_query(ns.path(), "MyDB.", RecordType::A).await),
        vec![ip("10.77.0.9")]
    );
    // A link alias is checked before the networks.
    assert_eq!(
        a_records(&udp_query(ns.path(), "web.", RecordType::A).await),
        vec![ip("10.77.0.10")]
    );

    t.set_endpoint("n1", "c9", vec!["late".into()], ip("10.78.0.9"));
    assert_eq!(
        a_records(&udp_query(ns.path(), "late.", RecordType::A).await),
        vec![ip("10.78.0.9")]
    );
    t.remove_endpoint("n1", "c9");
    assert_eq!(
        a_records(&udp_query(ns.path(), "late.", RecordType::A).await),
        vec![ip("192.0.2.8")]
    );
    assert!(up.asked.lock().unwrap().iter().all(|n| n == "late."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_tries_the_next_upstream_and_servfails_when_none_answers() {
    require_root!();
    let ns = Ns::new("fwd");
    let dead = silent_upstream().await;
    let up = upstream(ip("192.0.2.9"), false).await;
    let srv = DnsServer::start_in(
        ns.path(),
        table(),
        view(&["n1"]),
        vec![dead.local_addr().unwrap(), up.addr],
    )
    .unwrap();
    let m = udp_query(ns.path(), "example.com.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_records(&m), vec![ip("192.0.2.9")]);
    srv.shutdown().await;

    let _srv = DnsServer::start_in(
        ns.path(),
        table(),
        view(&["n1"]),
        vec![dead.local_addr().unwrap()],
    )
    .unwrap();
    let m = udp_query(ns.path(), "example.com.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(m.queries[0].name().to_ascii(), "example.com.");
    let m = tcp_query(ns.path(), "example.com.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_upstream_answers_are_fetched_again_over_tcp_for_tcp_clients() {
    require_root!();
    let ns = Ns::new("trunc");
    let up = upstream(ip("192.0.2.10"), true).await;
    let _srv = DnsServer::start_in(ns.path(), table(), view(&["n1"]), vec![up.addr]).unwrap();
    // A UDP client gets the truncated answer as it came, and would retry over TCP.
    let m = udp_query(ns.path(), "big.example.", RecordType::A).await;
    assert!(m.metadata.truncation);
    assert!(m.answers.is_empty());
    assert_eq!(up.tcp_hits.load(Ordering::SeqCst), 0);
    let m = tcp_query(ns.path(), "big.example.", RecordType::A).await;
    assert!(!m.metadata.truncation);
    assert_eq!(a_records(&m), vec![ip("192.0.2.10")]);
    assert_eq!(up.tcp_hits.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_forward_does_not_hold_up_other_queries() {
    require_root!();
    let ns = Ns::new("slow");
    let dead = silent_upstream().await;
    let _srv = DnsServer::start_in(
        ns.path(),
        table(),
        view(&["n1"]),
        vec![dead.local_addr().unwrap()],
    )
    .unwrap();
    let sock = client_udp(ns.path()).await;
    sock.send(&query_bytes(1, "example.com.", RecordType::A))
        .await
        .unwrap();
    sock.send(&query_bytes(2, "web.", RecordType::A))
        .await
        .unwrap();
    // The local answer comes first; the forwarded one only after the upstream timed out.
    let first = recv_msg(&sock).await;
    assert_eq!(first.metadata.id, 2);
    assert_eq!(a_records(&first), vec![ip("10.78.0.2")]);
    let second = recv_msg(&sock).await;
    assert_eq!(
        (second.metadata.id, second.metadata.response_code),
        (1, ResponseCode::ServFail)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_packets_get_formerr_or_nothing_and_serving_goes_on() {
    require_root!();
    let ns = Ns::new("garbage");
    let _srv = DnsServer::start_in(ns.path(), table(), view(&["n1"]), vec![]).unwrap();
    let sock = client_udp(ns.path()).await;
    sock.send(&[1, 2, 3]).await.unwrap();
    // A header that announces a question that is missing.
    sock.send(&[0xab, 0xcd, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0])
        .await
        .unwrap();
    let m = recv_msg(&sock).await;
    assert_eq!(
        (m.metadata.id, m.metadata.response_code),
        (0xabcd, ResponseCode::FormErr)
    );
    sock.send(&query_bytes(5, "web.", RecordType::A))
        .await
        .unwrap();
    let m = recv_msg(&sock).await;
    assert_eq!(m.metadata.id, 5);
    assert_eq!(a_records(&m), vec![ip("10.78.0.2")]);

    // Over TCP: a bad message is answered, and the same connection goes on serving.
    let mut stream = client_tcp(ns.path()).await;
    let m = tcp_exchange(
        &mut stream,
        &[0x11, 0x22, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0],
    )
    .await;
    assert_eq!(
        (m.metadata.id, m.metadata.response_code),
        (0x1122, ResponseCode::FormErr)
    );
    let m = tcp_exchange(&mut stream, &query_bytes(6, "frontend.", RecordType::A)).await;
    assert_eq!(a_records(&m), vec![ip("10.78.0.2")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busybox_nslookup_in_the_namespace_resolves_a_container_name() {
    require_root!();
    let ns = Ns::new("busybox");
    let _srv = DnsServer::start_in(ns.path(), table(), view(&["n1"]), vec![]).unwrap();
    let out = tokio::process::Command::new("nsenter")
        .arg(format!("--net={}", ns.path().display()))
        .args(["busybox", "nslookup", "web", "127.0.0.11"])
        .output();
    let out = tokio::time::timeout(PATIENCE, out)
        .await
        .expect("nslookup hung")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("10.78.0.2"),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn bind_both(ns: &Path) -> std::io::Result<()> {
    netns::run_in(ns, || {
        std::net::UdpSocket::bind(DNS)?;
        std::net::TcpListener::bind(DNS)?;
        Ok(())
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_frees_the_port_and_a_second_server_is_refused_meanwhile() {
    require_root!();
    let ns = Ns::new("stop");
    let srv = DnsServer::start_in(ns.path(), table(), view(&["n1"]), vec![]).unwrap();
    assert!(bind_both(ns.path()).is_err());
    let err = DnsServer::start_in(ns.path(), table(), view(&["n1"]), vec![]).unwrap_err();
    assert!(err.to_string().contains("127.0.0.11:53"), "{err}");
    // An open TCP connection does not keep the server alive either.
    let _conn = client_tcp(ns.path()).await;
    srv.shutdown().await;
    bind_both(ns.path()).unwrap();

    // stop() (and Drop) from synchronous code: the sockets go once the runtime drops the tasks.
    let mut srv = DnsServer::start_in(ns.path(), table(), view(&["n1"]), vec![]).unwrap();
    assert_eq!(
        a_records(&udp_query(ns.path(), "web.", RecordType::A).await),
        vec![ip("10.78.0.2")]
    );
    srv.stop();
    let freed = async {
        while bind_both(ns.path()).is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(PATIENCE, freed)
        .await
        .expect("port still bound after stop()");
    drop(srv);
    let srv = DnsServer::start_in(ns.path(), table(), view(&["n1"]), vec![]).unwrap();
    drop(srv);
    let freed = async {
        while bind_both(ns.path()).is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(PATIENCE, freed)
        .await
        .expect("port still bound after drop");
}
