//! Bridges, veths and namespaces against the real kernel (root only; skipped otherwise).

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};

use berth_network::{link, mac_for, netns};
use common::*;

#[tokio::test]
async fn two_namespaces_on_one_bridge_ping_each_other() {
    if !root("two_namespaces_on_one_bridge_ping_each_other") {
        return;
    }
    let mut f = Fixture::new();
    let br = f.bridge(0).await;
    // Idempotent: a second call with the same settings changes nothing and succeeds.
    link::ensure_bridge(&br, f.ip(0, 1), 24).await.unwrap();
    let (_, addrs) = run("ip", &["-4", "-o", "addr", "show", "dev", &br]);
    assert_eq!(addrs.matches("inet ").count(), 1, "{addrs}");
    assert!(
        addrs.contains(&format!("inet {}/24", f.ip(0, 1))),
        "{addrs}"
    );
    let localnet = std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{br}/route_localnet"));
    assert_eq!(localnet.unwrap().trim(), "1");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
            .unwrap()
            .trim(),
        "1"
    );

    let host_eth0_v6 = std::fs::read_to_string("/proc/sys/net/ipv6/conf/eth0/disable_ipv6").ok();
    let a = f.netns("a");
    let b = f.netns("b");
    let ea = f.attach(&a, 0, 2, true).await;
    f.attach(&b, 0, 3, true).await;

    assert!(ping(&a, f.ip(0, 3)), "a cannot ping b");
    assert!(ping(&b, f.ip(0, 2)), "b cannot ping a");
    assert!(ping(&a, f.ip(0, 1)), "a cannot ping the gateway");

    // Inside: eth0 with Docker's MAC, the address, the default route, lo up.
    let (ok, eth0) = run_in_ns(&a, &["ip", "-o", "link", "show", "eth0"]);
    assert!(ok, "{eth0}");
    let m = mac_for(f.ip(0, 2));
    let mac = m
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    assert!(eth0.contains(&mac), "{eth0} lacks {mac}");
    assert!(eth0.contains("UP"), "{eth0}");
    let (_, route) = run_in_ns(&a, &["ip", "-4", "route", "show", "default"]);
    assert!(
        route.contains(&format!("default via {} dev eth0", f.ip(0, 1))),
        "{route}"
    );
    let (_, v6) = run_in_ns(&a, &["ip", "-6", "-o", "addr", "show", "dev", "eth0"]);
    assert!(v6.trim().is_empty(), "eth0 has IPv6 addresses: {v6}");
    // The host's own eth0 (if it has one) kept its setting: the write went to the namespace.
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv6/conf/eth0/disable_ipv6").ok(),
        host_eth0_v6
    );
    let (_, lo) = run_in_ns(&a, &["ip", "-o", "link", "show", "lo"]);
    assert!(lo.contains("UP"), "{lo}");
    // The host end is a port of the bridge, up, with hairpin on.
    let (_, host) = run("ip", &["-d", "link", "show", "dev", &ea.host_if]);
    assert!(host.contains(&format!("master {br}")), "{host}");
    assert!(host.contains("hairpin on"), "{host}");
    let listed = link::list_links_with_prefix(&f.prefix).await.unwrap();
    assert_eq!(listed, vec![br.clone(), ea.host_if.clone(), f.name("v0x3")]);
}

#[tokio::test]
async fn detach_and_remove_leave_no_veth_or_netns() {
    if !root("detach_and_remove_leave_no_veth_or_netns") {
        return;
    }
    let mut f = Fixture::new();
    let br = f.bridge(0).await;
    let a = f.netns("a");
    let ea = f.attach(&a, 0, 2, true).await;
    assert!(link_exists(&ea.host_if));
    assert!(run_in_ns(&a, &["ip", "link", "show", "eth0"]).0);

    link::detach(&ea.host_if).await.unwrap();
    assert!(!link_exists(&ea.host_if));
    let (ok, out) = run_in_ns(&a, &["ip", "link", "show", "eth0"]);
    assert!(!ok, "eth0 still in the namespace: {out}");
    // Again: nothing to do, still Ok.
    link::detach(&ea.host_if).await.unwrap();

    netns::remove(&a).unwrap();
    assert!(!a.exists());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(a.to_str().unwrap()), "{a:?} still mounted");
    netns::remove(&a).unwrap();

    link::delete_link(&br).await.unwrap();
    assert!(!link_exists(&br));
    link::delete_link(&br).await.unwrap();
    assert!(link::list_links_with_prefix(&f.prefix)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_namespace_that_goes_away_takes_its_veth_with_it() {
    if !root("a_namespace_that_goes_away_takes_its_veth_with_it") {
        return;
    }
    let mut f = Fixture::new();
    f.bridge(0).await;
    let a = f.netns("a");
    let ea = f.attach(&a, 0, 2, false).await;
    netns::remove(&a).unwrap();
    // The kernel frees the namespace (and the veth pair with it) asynchronously.
    let gone = (0..100).any(|_| {
        if link_exists(&ea.host_if) {
            std::thread::sleep(std::time::Duration::from_millis(50));
            false
        } else {
            true
        }
    });
    assert!(gone, "{} outlived its namespace", ea.host_if);
}

#[tokio::test]
async fn attach_errors_name_what_is_wrong_and_leave_nothing() {
    if !root("attach_errors_name_what_is_wrong_and_leave_nothing") {
        return;
    }
    let mut f = Fixture::new();
    f.bridge(0).await;
    let a = f.netns("a");
    let mut att = berth_network::Attach {
        netns: a.clone(),
        bridge: f.name("nob"),
        host_if: f.name("v0x9"),
        ctr_if: "eth0".into(),
        ip: f.ip(0, 9),
        prefix: 24,
        gateway: Some(f.ip(0, 1)),
        mac: None,
    };
    let e = link::attach(&att).await.unwrap_err();
    assert_eq!(e.kind(), berth_model::ErrorKind::NotFound);
    assert!(e.to_string().contains(&att.bridge), "{e}");
    assert!(!link_exists(&att.host_if));

    att.bridge = f.name("b0");
    att.netns = f.dir.join("missing");
    let e = link::attach(&att).await.unwrap_err();
    assert_eq!(e.kind(), berth_model::ErrorKind::NotFound);
    assert!(e.to_string().contains("missing"), "{e}");
    assert!(!link_exists(&att.host_if));

    // A gateway outside the subnet: the route cannot be added, and the pair is deleted.
    att.netns = a.clone();
    att.gateway = Some(Ipv4Addr::new(192, 0, 2, 254));
    let e = link::attach(&att).await.unwrap_err();
    assert!(e.to_string().contains("default route"), "{e}");
    assert!(
        !link_exists(&att.host_if),
        "veth left after a failed attach"
    );
    assert!(!run_in_ns(&a, &["ip", "link", "show", "eth0"]).0);
}

#[tokio::test]
async fn ensure_bridge_refuses_a_link_that_is_not_a_bridge() {
    if !root("ensure_bridge_refuses_a_link_that_is_not_a_bridge") {
        return;
    }
    let mut f = Fixture::new();
    let name = f.name("d0");
    let peer = f.name("d1");
    assert!(!link_exists(&name) && !link_exists(&peer));
    f.adopt(&name);
    f.adopt(&peer);
    let (ok, out) = run(
        "ip",
        &["link", "add", &name, "type", "veth", "peer", "name", &peer],
    );
    assert!(ok, "{out}");
    let e = link::ensure_bridge(&name, f.ip(0, 1), 24)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), berth_model::ErrorKind::Conflict);
    assert_eq!(
        e.to_string(),
        format!("link {name} exists and is not a bridge")
    );
    let (_, addrs) = run("ip", &["-4", "-o", "addr", "show", "dev", &name]);
    assert!(addrs.trim().is_empty(), "address added anyway: {addrs}");
}

#[test]
fn run_in_creates_sockets_inside_the_namespace() {
    if !root("run_in_creates_sockets_inside_the_namespace") {
        return;
    }
    let mut f = Fixture::new();
    let a = f.netns("a");
    let host_ns = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    let inner = netns::run_in(&a, || {
        std::fs::read_link("/proc/thread-self/ns/net").unwrap()
    })
    .unwrap();
    assert_ne!(inner, host_ns);
    // The calling thread did not move.
    assert_eq!(
        std::fs::read_link("/proc/thread-self/ns/net").unwrap(),
        host_ns
    );
    // The same namespace every time.
    assert_eq!(
        netns::run_in(&a, || std::fs::read_link("/proc/thread-self/ns/net")
            .unwrap())
        .unwrap(),
        inner
    );

    // A listener made inside answers on the namespace's loopback, not the host's.
    let l = netns::run_in(&a, || TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    let port = l.local_addr().unwrap().port();
    // Not on the host's loopback.
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.write_all(b"inside").unwrap();
    });
    let got = netns::run_in(&a, move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut buf = String::new();
        s.read_to_string(&mut buf).unwrap();
        buf
    })
    .unwrap();
    assert_eq!(got, "inside");
    t.join().unwrap();

    // /proc/<pid>/ns/net works as a path too.
    let own = format!("/proc/{}/ns/net", std::process::id());
    let same = netns::run_in(std::path::Path::new(&own), || {
        std::fs::read_link("/proc/thread-self/ns/net").unwrap()
    })
    .unwrap();
    assert_eq!(same, host_ns);

    // Errors: a second create on the same path, and a missing namespace.
    let e = netns::create(&a).unwrap_err();
    assert_eq!(e.kind(), berth_model::ErrorKind::Conflict);
    assert!(e.to_string().contains(a.to_str().unwrap()), "{e}");
    let missing = f.dir.join("nope");
    let e = netns::run_in(&missing, || ()).unwrap_err();
    assert_eq!(e.kind(), berth_model::ErrorKind::NotFound);
}
