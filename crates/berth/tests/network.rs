//! Networking with real containers: the default bridge with NAT, user networks with the
//! embedded DNS and isolation, the none/host/container modes, the files Docker generates,
//! and cleanup on every path (rm, network rm, a crashed container, a `kill -9` of
//! berthd). Published ports are in `network_ports.rs`. Each test's daemon has a bridge,
//! subnet and nft table of its own, so tests (and other daemons on the host) do not see
//! each other's rules.

mod common;
mod netcommon;

use common::{stderr, stdout, wait_until};
use netcommon::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn default_bridge_address_route_nat_and_files() {
    require_root!();
    let t = NetDaemon::start();
    let out = t.ok(&[
        "run", "--rm", "--hostname", "box", "--add-host", "db.local:10.1.2.3", "--dns", "192.0.2.53",
        "--dns-search", "example.test", "busybox", "sh", "-c",
        "ip -o -4 addr show eth0; ip route; cat /etc/hosts; echo ---; cat /etc/resolv.conf; ping -c1 -W2 $(ip route | awk '/default/ {print $3}') >/dev/null && echo gw-ok",
    ]);
    let net = format!("10.230.{}.", t.k);
    assert!(out.contains(&format!("inet {net}")), "{out}");
    assert!(
        out.contains(&format!("default via {net}1 dev eth0")),
        "{out}"
    );
    assert!(out.contains("10.1.2.3\tdb.local"), "{out}");
    assert!(out.contains("\tbox\n"), "{out}");
    let resolv = out.split("---").nth(1).unwrap();
    assert!(
        resolv.contains("nameserver 192.0.2.53") && resolv.contains("search example.test"),
        "{resolv}"
    );
    assert!(out.contains("gw-ok"), "{out}");
    // Outbound NAT for the subnet, forwarding on.
    let rules = t.nft();
    assert!(
        rules.contains(&format!(
            "ip saddr 10.230.{}.0/24 oifname != \"{}\" masquerade",
            t.k, t.bridge
        )),
        "{rules}"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
            .unwrap()
            .trim(),
        "1"
    );
    // The container's address is released: the next one reuses nothing while it runs.
    let a = t.ok(&["run", "-d", "busybox", "sleep", "60"]);
    let b = t.ok(&["run", "-d", "busybox", "sleep", "60"]);
    let ip = |c: &str| t.ok(&["inspect", c.trim(), "-f", "{{.NetworkSettings.IPAddress}}"]);
    assert_ne!(ip(&a), ip(&b));
    let mac = t.ok(&["inspect", a.trim(), "-f", "{{.NetworkSettings.MacAddress}}"]);
    assert!(mac.starts_with("02:42:0a:e6:"), "{mac}");
    // --link on the default bridge: an /etc/hosts line for the alias and the name.
    t.ok(&["rename", a.trim(), "target"]);
    let hosts = t.ok(&[
        "run",
        "--rm",
        "--link",
        "target:tgt",
        "busybox",
        "cat",
        "/etc/hosts",
    ]);
    assert!(
        hosts.contains(&format!("{}\ttgt target\n", ip("target").trim())),
        "{hosts}"
    );
}

#[test]
fn user_networks_dns_aliases_links_and_isolation() {
    require_root!();
    let t = NetDaemon::start();
    let (s1, s2) = (t.subnet(1), t.subnet(2));
    t.ok(&[
        "network", "create", "--subnet", &s1, "--label", "team=a", "n1",
    ]);
    t.ok(&["network", "create", "--subnet", &s2, "n2"]);
    let o = t.d().berth(&["network", "create", "--subnet", &s2, "n1"]);
    assert!(
        stderr(&o).contains("network with name n1 already exists"),
        "{}",
        stderr(&o)
    );
    let ls = t.ok(&[
        "network",
        "ls",
        "--filter",
        "label=team=a",
        "--format",
        "{{.Name}} {{.Driver}}",
    ]);
    assert_eq!(ls, "n1 bridge\n");
    t.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "n1",
        "--network-alias",
        "www",
        "busybox",
        "sh",
        "-c",
        &httpd("hello-n1"),
    ]);
    wait_ready(&t, "web");
    let id = t.ok(&["inspect", "web", "-f", "{{.Id}}"]);
    let short = &id.trim()[..12];
    // By name, alias, short id, and a --link alias.
    for host in ["web", "www", short, "linked"] {
        let out = t.ok(&[
            "run",
            "--rm",
            "--network",
            "n1",
            "--link",
            "web:linked",
            "busybox",
            "timeout",
            "5",
            "wget",
            "-qO-",
            &format!("http://{host}/"),
        ]);
        assert!(out.contains("hello-n1"), "{host}: {out}");
    }
    let resolv = t.ok(&[
        "run",
        "--rm",
        "--network",
        "n1",
        "busybox",
        "cat",
        "/etc/resolv.conf",
    ]);
    assert!(resolv.contains("nameserver 127.0.0.11"), "{resolv}");
    // Another network neither resolves nor reaches it.
    let ip = t.ok(&[
        "inspect",
        "web",
        "-f",
        "{{.NetworkSettings.Networks.n1.IPAddress}}",
    ]);
    let ip = ip.trim();
    assert!(ip.starts_with(&format!("10.231.{}.", t.k)), "{ip}");
    let o = t.d().berth(&[
        "run",
        "--rm",
        "--network",
        "n2",
        "busybox",
        "nslookup",
        "web",
        "127.0.0.11",
    ]);
    assert!(
        !o.status.success() || stdout(&o).contains("NXDOMAIN"),
        "{}",
        stdout(&o)
    );
    // Not as the container's pid 1, which SIGTERM from `timeout` would not stop.
    let o = t.d().berth(&[
        "run",
        "--rm",
        "--network",
        "n2",
        "busybox",
        "sh",
        "-c",
        &format!("timeout 3 wget -qO- http://{ip}/ && echo REACHED"),
    ]);
    assert!(
        !stdout(&o).contains("REACHED"),
        "n2 reached n1: {}",
        stdout(&o)
    );
    assert!(
        !stdout(&o).contains("hello-n1"),
        "n2 reached n1: {}",
        stdout(&o)
    );
    // connect/disconnect of a running container, with an alias on the new network.
    t.ok(&[
        "run",
        "-d",
        "--name",
        "other",
        "--network",
        "n2",
        "busybox",
        "sleep",
        "300",
    ]);
    t.ok(&["network", "connect", "--alias", "web2", "n2", "web"]);
    let out = t.ok(&[
        "exec",
        "other",
        "timeout",
        "5",
        "wget",
        "-qO-",
        "http://web2/",
    ]);
    assert!(out.contains("hello-n1"), "{out}");
    let members = t.ok(&["network", "inspect", "n2", "-f", "{{len .Containers}}"]);
    assert_eq!(members.trim(), "2");
    t.ok(&["network", "disconnect", "n2", "web"]);
    let o = t.d().berth(&[
        "exec",
        "other",
        "timeout",
        "3",
        "wget",
        "-qO-",
        "http://web2/",
    ]);
    assert!(!o.status.success());
    // rm refuses a network in use, then works; the bridge goes with it.
    let nid = t.ok(&["network", "inspect", "n1", "-f", "{{.Id}}"]);
    let o = t.d().berth(&["network", "rm", "n1"]);
    assert!(
        stderr(&o).contains(&format!(
            "error while removing network: network n1 id {} has active endpoints",
            nid.trim()
        )),
        "{}",
        stderr(&o)
    );
    t.ok(&["rm", "-f", "web", "other"]);
    t.ok(&["network", "rm", "n1"]);
    assert!(!NetDaemon::link_exists(&format!(
        "br-{}",
        &nid.trim()[..12]
    )));
    let o = t.d().berth(&["network", "inspect", "n1"]);
    assert!(
        stderr(&o).contains("network n1 not found"),
        "{}",
        stderr(&o)
    );
    let pruned = t.ok(&["network", "prune", "-f"]);
    assert!(pruned.contains("n2"), "{pruned}");
}

#[test]
fn modes_none_host_container_and_fixed_ip_mac() {
    require_root!();
    let t = NetDaemon::start();
    let links = t.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.contains("lo:") && links.contains("UP"), "{links}");
    let host_links: Vec<String> =
        stdout(&Command::new("ip").args(["-o", "link"]).output().unwrap())
            .lines()
            .filter_map(|l| {
                l.split(':')
                    .nth(1)
                    .map(|n| n.trim().split('@').next().unwrap().to_string())
            })
            .collect();
    let inside = t.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    for name in host_links
        .iter()
        .filter(|n| *n == "lo" || n.starts_with("eth"))
    {
        assert!(
            inside.contains(&format!(" {name}:")),
            "{name} missing in {inside}"
        );
    }
    t.ok(&["run", "-d", "--name", "base", "busybox", "sleep", "300"]);
    let ip = t.ok(&["inspect", "base", "-f", "{{.NetworkSettings.IPAddress}}"]);
    let shared = t.ok(&[
        "run",
        "--rm",
        "--network",
        "container:base",
        "busybox",
        "ip",
        "-o",
        "-4",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(shared.contains(&format!("inet {}/", ip.trim())), "{shared}");
    t.ok(&["network", "create", "--subnet", &t.subnet(1), "fixed"]);
    let want_ip = format!("10.231.{}.77", t.k);
    let out = t.ok(&[
        "run",
        "--rm",
        "--network",
        "fixed",
        "--ip",
        &want_ip,
        "--mac-address",
        "02:42:aa:bb:cc:dd",
        "busybox",
        "sh",
        "-c",
        "ip -o -4 addr show eth0; cat /sys/class/net/eth0/address",
    ]);
    assert!(out.contains(&format!("inet {want_ip}/24")), "{out}");
    assert!(out.contains("02:42:aa:bb:cc:dd"), "{out}");
    let o = t
        .d()
        .berth(&["run", "--rm", "--ip", "10.230.1.5", "busybox", "true"]);
    assert!(
        stderr(&o).contains("user specified IP address is supported on user defined networks only"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn cleanup_after_crash_of_container_and_daemon() {
    require_root!();
    let mut t = NetDaemon::start();
    t.ok(&["network", "create", "--subnet", &t.subnet(1), "cn"]);
    let port = 21000 + t.k as u16 * 10;
    let p = format!("127.0.0.1:{port}:80");
    t.ok(&[
        "run",
        "-d",
        "--name",
        "keep",
        "--network",
        "cn",
        "busybox",
        "sh",
        "-c",
        &httpd("kept"),
    ]);
    t.ok(&[
        "run",
        "-d",
        "--name",
        "doomed",
        "--network",
        "cn",
        "-p",
        &p,
        "busybox",
        "sleep",
        "300",
    ]);
    wait_ready(&t, "keep");
    let keep_ip = t.ok(&[
        "inspect",
        "keep",
        "-f",
        "{{.NetworkSettings.Networks.cn.IPAddress}}",
    ]);
    let doomed_pid: i32 = t
        .ok(&["inspect", "doomed", "-f", "{{.State.Pid}}"])
        .trim()
        .parse()
        .unwrap();
    let nid = t.ok(&["network", "inspect", "cn", "-f", "{{.Id}}"]);
    let br = format!("br-{}", &nid.trim()[..12]);
    assert_eq!(NetDaemon::ports_of(&br), 2);
    assert!(t.nft().contains(&format!("dport {port}")));
    // berthd dies, then a container dies while it is gone.
    t.d_mut().crash();
    // SAFETY: kill(2) of the init of a container this test started.
    unsafe { libc::kill(doomed_pid, libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(300));
    t.d_mut().restart();
    wait_until("doomed recorded as exited", Duration::from_secs(10), || {
        t.ok(&["inspect", "doomed", "-f", "{{.State.Status}}"])
            .trim()
            == "exited"
    });
    // Its veth, namespace and rule are gone; the survivor keeps its address, its DNS name
    // answers again, and a new container gets a different address.
    wait_until(
        "the dead container's veth gone",
        Duration::from_secs(10),
        || NetDaemon::ports_of(&br) == 1,
    );
    assert!(!t.nft().contains(&format!("dport {port}")), "{}", t.nft());
    let netns = std::fs::read_dir(t.d().exec_root.join("netns"))
        .unwrap()
        .count();
    assert_eq!(netns, 1);
    let out = t.ok(&[
        "run",
        "--rm",
        "--network",
        "cn",
        "busybox",
        "sh",
        "-c",
        "timeout 5 wget -qO- http://keep/; ip -o -4 addr show eth0",
    ]);
    assert!(out.contains("kept"), "{out}");
    assert!(!out.contains(&format!("inet {}/", keep_ip.trim())), "{out}");
    // A restarted container publishes again; rm of everything leaves nothing.
    t.ok(&["start", "doomed"]);
    assert!(t.nft().contains(&format!("dport {port}")));
    t.ok(&["rm", "-f", "keep", "doomed"]);
    wait_until("veths gone", Duration::from_secs(10), || {
        NetDaemon::ports_of(&br) == 0
    });
    assert!(!t.nft().contains(&format!("dport {port}")));
    assert_eq!(
        std::fs::read_dir(t.d().exec_root.join("netns"))
            .unwrap()
            .count(),
        0
    );
    t.ok(&["network", "rm", "cn"]);
    assert!(!NetDaemon::link_exists(&br));
}

#[test]
fn docker_cli_network_flows() {
    require_root!();
    let t = NetDaemon::start();
    let d = t.d();
    let ok = |args: &[&str]| {
        let o = d.docker(args);
        assert!(o.status.success(), "docker {args:?}: {}", stderr(&o));
        stdout(&o)
    };
    ok(&["network", "create", "--subnet", &t.subnet(1), "dn"]);
    let ls = ok(&["network", "ls", "--format", "{{.Name}}"]);
    for n in ["bridge", "host", "none", "dn"] {
        assert!(ls.lines().any(|l| l == n), "{ls}");
    }
    let o = d.docker(&["network", "create", "dn"]);
    assert!(
        stderr(&o).contains("network with name dn already exists"),
        "{}",
        stderr(&o)
    );
    let port = 22000 + t.k as u16 * 10;
    ok(&[
        "run",
        "-d",
        "--name",
        "dweb",
        "--network",
        "dn",
        "--network-alias",
        "dalias",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "sh",
        "-c",
        &httpd("docker-web"),
    ]);
    wait_http(&format!("127.0.0.1:{port}"), "docker-web");
    assert_eq!(
        ok(&["port", "dweb"]).trim(),
        format!("80/tcp -> 127.0.0.1:{port}")
    );
    let out = ok(&[
        "run",
        "--rm",
        "--network",
        "dn",
        "busybox",
        "timeout",
        "5",
        "wget",
        "-qO-",
        "http://dalias/",
    ]);
    assert!(out.contains("docker-web"), "{out}");
    let hosts = ok(&[
        "run",
        "--rm",
        "--network",
        "dn",
        "--name",
        "hn",
        "busybox",
        "cat",
        "/etc/hosts",
    ]);
    assert!(hosts.starts_with("127.0.0.1\tlocalhost\n"), "{hosts}");
    assert!(
        hosts
            .lines()
            .last()
            .unwrap()
            .starts_with(&format!("10.231.{}.", t.k)),
        "{hosts}"
    );
    let o = d.docker(&["network", "rm", "dn"]);
    assert!(
        stderr(&o).contains("has active endpoints"),
        "{}",
        stderr(&o)
    );
    let o = d.docker(&["network", "rm", "bridge"]);
    assert!(
        stderr(&o).contains("bridge is a pre-defined network and cannot be removed"),
        "{}",
        stderr(&o)
    );
    ok(&["rm", "-f", "dweb"]);
    ok(&["network", "rm", "dn"]);
    let o = d.docker(&["network", "inspect", "dn"]);
    assert!(
        stderr(&o).contains("network dn not found"),
        "{}",
        stderr(&o)
    );
    // Events of a network's life.
    let since = chrono_now();
    ok(&["network", "create", "--subnet", &t.subnet(2), "ev"]);
    ok(&["run", "--rm", "--network", "ev", "busybox", "true"]);
    ok(&["network", "rm", "ev"]);
    let ev = ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &chrono_now(),
        "--filter",
        "type=network",
        "--format",
        "{{.Action}}",
    ]);
    let actions: Vec<&str> = ev.lines().collect();
    assert_eq!(
        actions,
        ["create", "connect", "disconnect", "destroy"],
        "{ev}"
    );
}

/// What the embedded DNS of `client`'s networks answers for `name` (nslookup's output;
/// empty when the lookup fails).
fn lookup(t: &NetDaemon, client: &str, name: &str) -> String {
    stdout(
        &t.d()
            .berth(&["exec", client, "nslookup", name, "127.0.0.11"]),
    )
}

#[test]
fn dns_name_follows_rename() {
    require_root!();
    let t = NetDaemon::start();
    t.ok(&["network", "create", "--subnet", &t.subnet(1), "rn"]);
    for name in ["rn-old", "rn-client"] {
        t.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "rn",
            "busybox",
            "sleep",
            "300",
        ]);
    }
    let ip = t.ok(&[
        "inspect",
        "rn-old",
        "-f",
        "{{.NetworkSettings.Networks.rn.IPAddress}}",
    ]);
    let ip = ip.trim().to_string();
    assert!(ip.starts_with(&format!("10.231.{}.", t.k)), "{ip}");
    assert!(lookup(&t, "rn-client", "rn-old").contains(&ip));

    t.ok(&["rename", "rn-old", "rn-new"]);
    let got = lookup(&t, "rn-client", "rn-new");
    assert!(got.contains(&ip), "new name: {got}");
    let got = lookup(&t, "rn-client", "rn-old");
    assert!(!got.contains(&ip), "old name still resolves: {got}");
    // The renamed container keeps working under its new name, and through the docker
    // CLI's rename too.
    let o = t.d().docker(&["rename", "rn-new", "rn-third"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(lookup(&t, "rn-client", "rn-third").contains(&ip));
    assert!(!lookup(&t, "rn-client", "rn-new").contains(&ip));
    // A new start registers the current name (the record has it).
    t.ok(&["stop", "-t", "0", "rn-third"]);
    t.ok(&["start", "rn-third"]);
    let ip2 = t.ok(&[
        "inspect",
        "rn-third",
        "-f",
        "{{.NetworkSettings.Networks.rn.IPAddress}}",
    ]);
    assert!(lookup(&t, "rn-client", "rn-third").contains(ip2.trim()));
    t.ok(&["rm", "-f", "rn-third", "rn-client"]);
    t.ok(&["network", "rm", "rn"]);
}

/// `network` events' (action, network name) pairs between two instants.
fn network_events(t: &NetDaemon, since: &str, until: &str) -> Vec<(String, String)> {
    let ev = t.ok(&[
        "events",
        "--since",
        since,
        "--until",
        until,
        "--filter",
        "type=network",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    ev.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, n)| (a.to_string(), n.to_string()))
        .collect()
}

#[test]
fn connect_of_a_stopped_container_takes_effect_at_start() {
    require_root!();
    let t = NetDaemon::start();
    t.ok(&["network", "create", "--subnet", &t.subnet(1), "cs1"]);
    t.ok(&["network", "create", "--subnet", &t.subnet(2), "cs2"]);
    t.ok(&[
        "create",
        "--name",
        "sc",
        "--network",
        "cs1",
        "busybox",
        "sleep",
        "300",
    ]);
    let since = chrono_now();
    // An address outside the network's subnet is refused at once.
    let o = t
        .d()
        .berth(&["network", "connect", "--ip", "192.0.2.9", "cs2", "sc"]);
    assert!(
        stderr(&o).contains("no configured subnet or ip-range contain the IP address 192.0.2.9"),
        "{}",
        stderr(&o)
    );
    t.ok(&["network", "connect", "--alias", "scal", "cs2", "sc"]);
    // In the config, without an address, and no event yet (dockerd's order).
    let nets = t.ok(&["inspect", "sc", "-f", "{{json .NetworkSettings.Networks}}"]);
    let v: serde_json::Value = serde_json::from_str(nets.trim()).unwrap();
    assert_eq!(v["cs2"]["IPAddress"], "", "{v}");
    assert_eq!(v["cs2"]["Aliases"][0], "scal", "{v}");
    let mid = chrono_now();
    assert_eq!(network_events(&t, &since, &mid), []);
    // Connecting twice is refused as for a running container.
    let o = t.d().berth(&["network", "connect", "cs2", "sc"]);
    assert!(
        stderr(&o).contains("already exists in network cs2"),
        "{}",
        stderr(&o)
    );

    t.ok(&["start", "sc"]);
    let mut ev = network_events(&t, &mid, &chrono_now());
    ev.sort();
    assert_eq!(
        ev,
        [
            ("connect".to_string(), "cs1".to_string()),
            ("connect".to_string(), "cs2".to_string())
        ]
    );
    let ip = t.ok(&[
        "inspect",
        "sc",
        "-f",
        "{{.NetworkSettings.Networks.cs2.IPAddress}}",
    ]);
    let ip = ip.trim().to_string();
    assert!(ip.starts_with(&format!("10.232.{}.", t.k)), "{ip}");
    let addrs = t.ok(&["exec", "sc", "ip", "-o", "-4", "addr", "show"]);
    assert!(addrs.contains(&format!("{ip}/24")), "{addrs}");
    t.ok(&[
        "run",
        "-d",
        "--name",
        "peer",
        "--network",
        "cs2",
        "busybox",
        "sleep",
        "300",
    ]);
    for name in ["sc", "scal"] {
        let got = lookup(&t, "peer", name);
        assert!(got.contains(&ip), "{name}: {got}");
    }
    // A stop and start keeps the network (it is in the config now).
    t.ok(&["stop", "-t", "0", "sc"]);
    t.ok(&["start", "sc"]);
    let ip2 = t.ok(&[
        "inspect",
        "sc",
        "-f",
        "{{.NetworkSettings.Networks.cs2.IPAddress}}",
    ]);
    assert!(lookup(&t, "peer", "sc").contains(ip2.trim()));

    // The same through the docker CLI.
    let d = t.d();
    let ok = |args: &[&str]| {
        let o = d.docker(args);
        assert!(o.status.success(), "docker {args:?}: {}", stderr(&o));
        stdout(&o)
    };
    ok(&[
        "create",
        "--name",
        "dsc",
        "--network",
        "cs1",
        "busybox",
        "sleep",
        "300",
    ]);
    ok(&["network", "connect", "cs2", "dsc"]);
    ok(&["start", "dsc"]);
    let dip = ok(&[
        "inspect",
        "dsc",
        "-f",
        "{{.NetworkSettings.Networks.cs2.IPAddress}}",
    ]);
    assert!(dip.trim().starts_with(&format!("10.232.{}.", t.k)), "{dip}");
    assert!(lookup(&t, "peer", "dsc").contains(dip.trim()));
    t.ok(&["rm", "-f", "sc", "dsc", "peer"]);
    t.ok(&["network", "rm", "cs1", "cs2"]);
}
