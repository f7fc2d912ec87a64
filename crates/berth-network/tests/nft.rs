//! The nft ruleset against the real kernel, with namespaces on test bridges standing in for
//! containers and for the outside world (root only; skipped otherwise). Every test uses its
//! own table, never `inet berth`, so a running berthd is not disturbed.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::time::Duration;

use berth_network::ports::{allocate_host_port, Proto};
use berth_network::{netns, nft, NetRule, PortRule, Ruleset, Subnet};
use common::*;

fn net(f: &Fixture, n: u8, internal: bool) -> NetRule {
    let (addr, prefix) = f.subnet(n);
    NetRule {
        bridge: f.name(&format!("b{n}")),
        subnet: Subnet::new(addr, prefix).unwrap(),
        internal,
    }
}

/// A TCP server inside `ns` on `port` that answers every connection with the peer address
/// it sees, then closes. Serves `count` connections.
fn serve_peer_addr(ns: &Path, port: u16, count: usize) {
    let l = netns::run_in(ns, move || TcpListener::bind(("0.0.0.0", port)).unwrap()).unwrap();
    std::thread::spawn(move || {
        for _ in 0..count {
            let Ok((mut s, peer)) = l.accept() else {
                return;
            };
            let _ = s.write_all(peer.ip().to_string().as_bytes());
        }
    });
}

/// Connects (from the calling thread's namespace) and returns what the server said.
fn fetch(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn fetch_from(ns: &Path, addr: SocketAddr) -> std::io::Result<String> {
    netns::run_in(ns, move || fetch(addr)).unwrap()
}

#[tokio::test]
async fn bridges_are_isolated_once_the_ruleset_is_applied() {
    if !root("bridges_are_isolated_once_the_ruleset_is_applied") {
        return;
    }
    let mut f = Fixture::new();
    f.bridge(0).await;
    f.bridge(1).await;
    let a = f.netns("a");
    let c = f.netns("c");
    f.attach(&a, 0, 2, true).await;
    f.attach(&c, 1, 2, true).await;
    // Without the table the host routes between the two bridges...
    assert!(
        ping(&a, f.ip(1, 2)),
        "no route between the bridges to begin with"
    );
    let t = f.table();
    let hp = allocate_host_port(Proto::Tcp, None).unwrap();
    let rs = Ruleset {
        networks: vec![net(&f, 0, false), net(&f, 1, false)],
        ports: vec![PortRule {
            proto: Proto::Tcp,
            host_ip: None,
            host_port: hp,
            ctr_ip: f.ip(1, 2),
            ctr_port: 80,
            bridge: f.name("b1"),
        }],
    };
    nft::apply_table(&t, &rs).unwrap();
    // ...with it, not in either direction; each bridge still works within itself.
    assert!(!ping(&a, f.ip(1, 2)), "a reaches c across bridges");
    assert!(!ping(&c, f.ip(0, 2)), "c reaches a across bridges");
    assert!(ping(&a, f.ip(0, 1)));
    assert!(ping(&c, f.ip(1, 1)));
    // c's published port is still reachable from a through a host address (a's gateway),
    // while c's unpublished address stays out of reach.
    serve_peer_addr(&c, 80, 1);
    // c sees the connection come from its own gateway (a's subnet is masqueraded leaving
    // by another bridge), as it would from Docker's proxy.
    let peer = fetch_from(&a, SocketAddr::from((f.ip(0, 1), hp))).unwrap();
    assert_eq!(peer, f.ip(1, 1).to_string());
    let direct = netns::run_in(&a, {
        let to = SocketAddr::from((f.ip(1, 2), 80));
        move || TcpStream::connect_timeout(&to, Duration::from_secs(2))
    })
    .unwrap();
    assert!(direct.is_err(), "a connects to c directly across bridges");
    nft::remove_table_named(&t).unwrap();
    assert!(
        ping(&a, f.ip(1, 2)),
        "removing the table did not lift the isolation"
    );
}

#[tokio::test]
async fn published_ports_reach_a_listener_in_a_namespace() {
    if !root("published_ports_reach_a_listener_in_a_namespace") {
        return;
    }
    let mut f = Fixture::new();
    f.bridge(0).await;
    let a = f.netns("a");
    f.attach(&a, 0, 2, true).await;
    let hp = allocate_host_port(Proto::Tcp, None).unwrap();
    let hpu = allocate_host_port(Proto::Udp, Some(Ipv4Addr::LOCALHOST)).unwrap();
    let bridge = f.name("b0");
    let t = f.table();
    let rs = Ruleset {
        networks: vec![net(&f, 0, false)],
        ports: vec![
            PortRule {
                proto: Proto::Tcp,
                host_ip: None,
                host_port: hp,
                ctr_ip: f.ip(0, 2),
                ctr_port: 80,
                bridge: bridge.clone(),
            },
            PortRule {
                proto: Proto::Udp,
                host_ip: Some(Ipv4Addr::LOCALHOST),
                host_port: hpu,
                ctr_ip: f.ip(0, 2),
                ctr_port: 53,
                bridge,
            },
        ],
    };
    // Nothing answers on the host port before the rules exist.
    assert!(fetch(SocketAddr::from((Ipv4Addr::LOCALHOST, hp))).is_err());
    nft::apply_table(&t, &rs).unwrap();
    serve_peer_addr(&a, 80, 3);

    // From the host over loopback: DNAT in output, and the 127.0.0.1 source masqueraded to
    // the bridge's address on its way out.
    let peer = fetch(SocketAddr::from((Ipv4Addr::LOCALHOST, hp))).unwrap();
    assert_eq!(peer, f.ip(0, 1).to_string());

    // From the host to its own non-loopback address.
    match host_address() {
        Some(ip) => {
            let peer = fetch(SocketAddr::from((ip, hp))).unwrap();
            assert_eq!(peer, ip.to_string());
            // Hairpin: the container reaches its own published port by the host's address
            // (DNAT in prerouting, back out the bridge, masqueraded to the gateway).
            let peer = fetch_from(&a, SocketAddr::from((ip, hp))).unwrap();
            assert_eq!(peer, f.ip(0, 1).to_string());
        }
        None => eprintln!("no non-loopback host address: skipped the host-address checks"),
    }

    // UDP, published on 127.0.0.1 only.
    let u = netns::run_in(&a, || UdpSocket::bind("0.0.0.0:53").unwrap()).unwrap();
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        let (n, from) = u.recv_from(&mut buf).unwrap();
        u.send_to(&buf[..n], from).unwrap();
    });
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.send_to(b"ping", ("127.0.0.1", hpu)).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = c.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping");
    assert_eq!(from, SocketAddr::from((Ipv4Addr::LOCALHOST, hpu)));
    echo.join().unwrap();
}

#[tokio::test]
async fn outgoing_traffic_is_masqueraded_and_internal_networks_stay_inside() {
    if !root("outgoing_traffic_is_masqueraded_and_internal_networks_stay_inside") {
        return;
    }
    let mut f = Fixture::new();
    // b0: a normal network; b1: an internal one; b9: "the outside world", not a berth network.
    f.bridge(0).await;
    f.bridge(1).await;
    f.bridge(9).await;
    let a = f.netns("a");
    let i = f.netns("i");
    let i2 = f.netns("i2");
    let out = f.netns("out");
    f.attach(&a, 0, 2, true).await;
    f.attach(&i, 1, 2, true).await;
    f.attach(&i2, 1, 3, true).await;
    f.attach(&out, 9, 2, true).await;
    serve_peer_addr(&out, 8000, 3);
    let outside = SocketAddr::from((f.ip(9, 2), 8000));

    // Baseline without the table: routed, not masqueraded (the peer sees the container).
    assert_eq!(fetch_from(&a, outside).unwrap(), f.ip(0, 2).to_string());
    assert!(
        ping(&i, f.ip(9, 2)),
        "internal namespace not routed to begin with"
    );

    let t = f.table();
    let rs = Ruleset {
        networks: vec![net(&f, 0, false), net(&f, 1, true)],
        ports: vec![],
    };
    nft::apply_table(&t, &rs).unwrap();
    let (_, listing) = nft_list_table(&t);
    let (sub0, _) = f.subnet(0);
    assert!(
        listing.contains(&format!(
            "ip saddr {sub0}/24 oifname != \"{}\" masquerade",
            f.name("b0")
        )),
        "{listing}"
    );

    // Masqueraded: the outside sees the host's address on its own link.
    assert_eq!(fetch_from(&a, outside).unwrap(), f.ip(9, 1).to_string());
    // The internal network reaches nothing beyond its bridge, in either direction...
    assert!(
        !ping(&i, f.ip(9, 2)),
        "internal network reaches the outside"
    );
    assert!(
        !ping(&i, f.ip(0, 2)),
        "internal network reaches another bridge"
    );
    assert!(
        !ping(&out, f.ip(1, 2)),
        "the outside reaches the internal network"
    );
    // ...but its members reach each other.
    assert!(ping(&i, f.ip(1, 3)));
    // Unsolicited connections from elsewhere into a normal bridge are dropped too.
    assert!(
        !ping(&out, f.ip(0, 2)),
        "the outside reaches a container directly"
    );
}

#[tokio::test]
async fn apply_is_atomic_and_idempotent_and_remove_leaves_nothing() {
    if !root("apply_is_atomic_and_idempotent_and_remove_leaves_nothing") {
        return;
    }
    let mut f = Fixture::new();
    let t = f.table();
    let mk = |port: u16| Ruleset {
        networks: vec![net(&f, 0, false), net(&f, 1, true)],
        ports: vec![PortRule {
            proto: Proto::Tcp,
            host_ip: None,
            host_port: port,
            ctr_ip: f.ip(0, 2),
            ctr_port: 80,
            bridge: f.name("b0"),
        }],
    };
    let (one, two) = (mk(40001), mk(40002));

    // Idempotent: applying the same ruleset twice leaves the same table.
    nft::apply_table(&t, &one).unwrap();
    let (ok, first) = nft_list_table(&t);
    assert!(ok, "{first}");
    nft::apply_table(&t, &one).unwrap();
    assert_eq!(nft_list_table(&t).1, first);
    assert_eq!(first.matches("dport 40001").count(), 2, "{first}");

    // Replacing: the old rules are gone, not added to.
    nft::apply_table(&t, &two).unwrap();
    let (_, second) = nft_list_table(&t);
    assert!(
        !second.contains("40001") && second.matches("dport 40002").count() == 2,
        "{second}"
    );

    // Atomic: while the table is replaced over and over, a reader only ever sees one whole
    // version, never a missing or half-built table.
    let writer = {
        let (t, one, two) = (t.clone(), one.clone(), two.clone());
        std::thread::spawn(move || {
            for k in 0..40 {
                nft::apply_table(&t, if k % 2 == 0 { &one } else { &two }).unwrap();
            }
        })
    };
    loop {
        let done = writer.is_finished();
        let (ok, now) = nft_list_table(&t);
        assert!(ok, "table missing during a replacement: {now}");
        assert!(now == first || now == second, "partial table:\n{now}");
        if done {
            break;
        }
    }
    writer.join().unwrap();

    // A ruleset nft refuses changes nothing: the previous table stays whole, and the error
    // carries nft's own message.
    let bad = Ruleset {
        networks: vec![NetRule {
            bridge: "x".repeat(40),
            subnet: "10.1.0.0/16".parse().unwrap(),
            internal: false,
        }],
        ports: vec![],
    };
    nft::apply_table(&t, &two).unwrap();
    let e = nft::apply_table(&t, &bad).unwrap_err();
    assert!(e.to_string().contains("exceeds maximum length"), "{e}");
    assert_eq!(nft_list_table(&t).1, second);

    // Removal leaves nothing, twice over; berth's own table is never touched by name.
    nft::remove_table_named(&t).unwrap();
    assert!(!nft_list_tables().contains(&format!("inet {t}")));
    assert!(!nft_list_table(&t).0);
    nft::remove_table_named(&t).unwrap();
}
