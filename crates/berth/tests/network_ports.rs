//! Published ports with real containers: single ports on loopback, the host's address and
//! random ports; port ranges as the docker CLI expands them; `-P` with an image's EXPOSE
//! range; the PORTS column of `ps`. Each test's daemon has its own bridge and nft table.

mod common;
mod netcommon;

use common::{stderr, stdout, wait_until};
use netcommon::*;
use serde_json::Value;
use std::time::Duration;

#[test]
fn published_ports_on_loopback_host_address_and_random() {
    require_root!();
    let t = NetDaemon::start();
    let port = 20000 + t.k as u16 * 10;
    let lo = format!("127.0.0.1:{port}:80");
    let all = format!("{}:80", port + 1);
    t.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &lo,
        "-p",
        &all,
        "--expose",
        "81",
        "busybox",
        "sh",
        "-c",
        &httpd("hello-web"),
    ]);
    wait_http(&format!("127.0.0.1:{port}"), "hello-web");
    // The all-addresses binding answers on loopback and on the host's own address.
    wait_http(&format!("127.0.0.1:{}", port + 1), "hello-web");
    if let Some(ip) = host_address() {
        wait_http(&format!("{ip}:{}", port + 1), "hello-web");
    }
    // The loopback-only binding does not answer on the host's address.
    if let Some(ip) = host_address() {
        assert!(http_get(&format!("{ip}:{port}")).is_none());
    }
    let lines = t.ok(&["port", "web"]);
    assert!(
        lines.contains(&format!("80/tcp -> 127.0.0.1:{port}")),
        "{lines}"
    );
    assert!(
        lines.contains(&format!("80/tcp -> 0.0.0.0:{}", port + 1)),
        "{lines}"
    );
    let ports = t.ok(&["inspect", "web", "-f", "{{json .NetworkSettings.Ports}}"]);
    let v: serde_json::Value = serde_json::from_str(ports.trim()).unwrap();
    assert_eq!(v["81/tcp"], serde_json::Value::Null, "{v}");
    assert_eq!(v["80/tcp"].as_array().unwrap().len(), 2, "{v}");
    let pb = t.ok(&["inspect", "web", "-f", "{{json .HostConfig.PortBindings}}"]);
    assert!(
        pb.contains(&format!("\"HostIp\":\"127.0.0.1\",\"HostPort\":\"{port}\"")),
        "{pb}"
    );
    // The rules are in this daemon's table.
    assert!(t.nft().contains(&format!("dport {port}")), "{}", t.nft());

    // A port another container holds is refused with Docker's words.
    let o = t
        .d()
        .berth(&["run", "-d", "-p", &all, "busybox", "sleep", "5"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("port is already allocated"),
        "{}",
        stderr(&o)
    );

    // -P: every exposed port on a random host port, reachable.
    t.ok(&[
        "run",
        "-d",
        "--name",
        "pall",
        "-P",
        "--expose",
        "80",
        "busybox",
        "sh",
        "-c",
        &httpd("hello-pall"),
    ]);
    let hp = t.ok(&["port", "pall", "80"]);
    let hp = hp.trim().rsplit(':').next().unwrap().to_string();
    let n: u16 = hp.parse().unwrap();
    assert!((49153..=60999).contains(&n), "{hp}");
    wait_http(&format!("127.0.0.1:{hp}"), "hello-pall");

    // From another container, through the host's address (hairpin through the bridge).
    if let Some(ip) = host_address() {
        let out = t.ok(&[
            "run",
            "--rm",
            "busybox",
            "timeout",
            "5",
            "wget",
            "-qO-",
            &format!("http://{ip}:{}/", port + 1),
        ]);
        assert!(out.contains("hello-web"), "{out}");
    }

    // Removal takes the rules and the veths away.
    t.ok(&["rm", "-f", "web", "pall"]);
    assert!(!t.nft().contains(&format!("dport {port}")), "{}", t.nft());
    assert!(http_get(&format!("127.0.0.1:{port}")).is_none());
    // The kernel takes the veths away with their namespaces, a moment later.
    wait_until("veths gone", Duration::from_secs(10), || {
        NetDaemon::ports_of(&t.bridge) == 0
    });
}

/// Two httpds, on container ports 80 and 81, answering `<tag>80` and `<tag>81`.
fn httpd_pair(tag: &str) -> String {
    format!(
        "mkdir -p /w80 /w81 && echo {tag}80 > /w80/index.html && echo {tag}81 > /w81/index.html \
         && httpd -p 81 -h /w81 && exec httpd -f -p 80 -h /w80"
    )
}

fn json_of(t: &NetDaemon, c: &str, field: &str) -> Value {
    let s = t.ok(&["inspect", c, "-f", &format!("{{{{json {field}}}}}")]);
    serde_json::from_str(s.trim()).unwrap()
}

/// The host port of `80/tcp`-style `key` in `NetworkSettings.Ports`.
fn bound_port(t: &NetDaemon, c: &str, key: &str) -> u16 {
    let v = json_of(t, c, ".NetworkSettings.Ports");
    v[key][0]["HostPort"]
        .as_str()
        .unwrap_or_else(|| panic!("{key} not bound: {v}"))
        .parse()
        .unwrap()
}

#[test]
fn port_ranges_as_docker() {
    require_root!();
    let t = NetDaemon::start();
    let d = t.d();
    let base = 24000 + t.k as u16 * 10;
    let docker_ok = |args: &[&str]| {
        let o = d.docker(args);
        assert!(o.status.success(), "docker {args:?}: {}", stderr(&o));
        stdout(&o)
    };

    // The berth CLI sends the same PortBindings and ExposedPorts as the docker CLI.
    let specs = [
        format!("{}-{}:80-81", base, base + 1),
        format!("127.0.0.1:{}-{}:80-81/udp", base, base + 1),
        "80-81".to_string(),
        format!("{}-{}:80", base, base + 5),
        "127.0.0.1::90".to_string(),
    ];
    for (i, spec) in specs.iter().enumerate() {
        let (b, k) = (format!("b{i}"), format!("k{i}"));
        t.ok(&[
            "create",
            "--name",
            &b,
            "-p",
            spec,
            "--expose",
            "7000-7001",
            "busybox",
            "true",
        ]);
        docker_ok(&[
            "create",
            "--name",
            &k,
            "-p",
            spec,
            "--expose",
            "7000-7001",
            "busybox",
            "true",
        ]);
        for field in [".HostConfig.PortBindings", ".Config.ExposedPorts"] {
            assert_eq!(
                json_of(&t, &b, field),
                json_of(&t, &k, field),
                "{spec} {field}"
            );
        }
        t.ok(&["rm", &b, &k]);
    }
    // What the expansion looks like (the docker CLI's form).
    t.ok(&[
        "create",
        "--name",
        "shape",
        "-p",
        &format!("{}-{}:80", base, base + 5),
        "busybox",
        "true",
    ]);
    assert_eq!(
        json_of(&t, "shape", ".HostConfig.PortBindings"),
        serde_json::json!({"80/tcp": [{"HostIp": "", "HostPort": format!("{}-{}", base, base + 5)}]})
    );
    t.ok(&["rm", "shape"]);

    // Docker's refusals, from both CLIs, before anything is created.
    for (spec, want) in [
        (
            "8000-8002:80-81",
            "invalid ranges specified for container and host Ports: 80-81 and 8000-8002",
        ),
        (
            "8000:80-81",
            "invalid ranges specified for container and host Ports: 80-81 and 8000",
        ),
        ("8000:81-80", "invalid containerPort: 81-80"),
        ("70000:80", "invalid hostPort: 70000"),
    ] {
        let o = d.berth(&["run", "-p", spec, "busybox", "true"]);
        assert_eq!(o.status.code(), Some(125), "{spec}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{spec}: {}", stderr(&o));
        let o = d.docker(&["run", "-p", spec, "busybox", "true"]);
        assert_eq!(o.status.code(), Some(125), "{spec}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "docker {spec}: {}", stderr(&o));
    }
    assert!(t.ok(&["ps", "-aq"]).trim().is_empty());

    // A range of two host ports on loopback to two container ports, through berth and
    // through the docker CLI.
    let (p, q) = (base, base + 2);
    t.ok(&[
        "run",
        "-d",
        "--name",
        "rb",
        "-p",
        &format!("127.0.0.1:{}-{}:80-81", p, p + 1),
        "busybox",
        "sh",
        "-c",
        &httpd_pair("rb"),
    ]);
    docker_ok(&[
        "run",
        "-d",
        "--name",
        "rd",
        "-p",
        &format!("127.0.0.1:{}-{}:80-81", q, q + 1),
        "busybox",
        "sh",
        "-c",
        &httpd_pair("rd"),
    ]);
    wait_http(&format!("127.0.0.1:{p}"), "rb80");
    wait_http(&format!("127.0.0.1:{}", p + 1), "rb81");
    wait_http(&format!("127.0.0.1:{q}"), "rd80");
    wait_http(&format!("127.0.0.1:{}", q + 1), "rd81");
    let want = format!("80/tcp -> 127.0.0.1:{p}\n81/tcp -> 127.0.0.1:{}\n", p + 1);
    assert_eq!(t.ok(&["port", "rb"]), want);
    assert_eq!(docker_ok(&["port", "rb"]), want);
    assert_eq!(
        json_of(&t, "rb", ".NetworkSettings.Ports"),
        serde_json::json!({
            "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": p.to_string()}],
            "81/tcp": [{"HostIp": "127.0.0.1", "HostPort": (p + 1).to_string()}],
        })
    );

    // A host range for one container port: one free port of it. The first container
    // gets the range's first port, the next one another port of the range.
    let (r0, r1) = (base + 4, base + 8);
    let range = format!("127.0.0.1:{r0}-{r1}:80");
    t.ok(&[
        "run",
        "-d",
        "--name",
        "h1",
        "-p",
        &range,
        "busybox",
        "sh",
        "-c",
        &httpd("h1"),
    ]);
    docker_ok(&[
        "run",
        "-d",
        "--name",
        "h2",
        "-p",
        &range,
        "busybox",
        "sh",
        "-c",
        &httpd("h2"),
    ]);
    let (a, b) = (
        bound_port(&t, "h1", "80/tcp"),
        bound_port(&t, "h2", "80/tcp"),
    );
    assert_eq!(a, r0);
    assert!((r0..=r1).contains(&b) && a != b, "{a} {b}");
    wait_http(&format!("127.0.0.1:{a}"), "h1");
    wait_http(&format!("127.0.0.1:{b}"), "h2");
    assert_eq!(
        json_of(&t, "h2", ".HostConfig.PortBindings"),
        serde_json::json!({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": format!("{r0}-{r1}")}]})
    );

    // The PORTS column: berth's and the docker CLI's are the same; ports published on
    // their own numbers collapse into a range.
    let same = format!(
        "127.0.0.1:{}-{}:{}-{}",
        base + 9,
        base + 10,
        base + 9,
        base + 10
    );
    t.ok(&[
        "run", "-d", "--name", "same", "-p", &same, "--expose", "90-91", "busybox", "sleep", "60",
    ]);
    for c in ["rb", "h1", "same"] {
        let f = [
            "ps",
            "--filter",
            &format!("name={c}"),
            "--format",
            "{{.Ports}}",
        ];
        assert_eq!(t.ok(&f), docker_ok(&f), "{c}");
    }
    let f = ["ps", "--filter", "name=same", "--format", "{{.Ports}}"];
    assert_eq!(
        t.ok(&f).trim(),
        format!(
            "90-91/tcp, 127.0.0.1:{}-{}->{}-{}/tcp",
            base + 9,
            base + 10,
            base + 9,
            base + 10
        )
    );
    let f = ["ps", "--filter", "name=rb", "--format", "{{.Ports}}"];
    assert_eq!(
        t.ok(&f).trim(),
        format!("127.0.0.1:{p}->80/tcp, 127.0.0.1:{}->81/tcp", p + 1)
    );

    // -P with an image's `EXPOSE 80-81`: both ports on random host ports.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nEXPOSE 80-81\n",
    )
    .unwrap();
    t.ok(&["build", "-q", "-t", "exposer", ctx.path().to_str().unwrap()]);
    let exposed = json_of(&t, "exposer", ".Config.ExposedPorts");
    assert_eq!(exposed, serde_json::json!({"80/tcp": {}, "81/tcp": {}}));
    t.ok(&[
        "run",
        "-d",
        "--name",
        "pp",
        "-P",
        "exposer",
        "sh",
        "-c",
        &httpd_pair("pp"),
    ]);
    let (x, y) = (
        bound_port(&t, "pp", "80/tcp"),
        bound_port(&t, "pp", "81/tcp"),
    );
    assert!((49153..=60999).contains(&x) && (49153..=60999).contains(&y) && x != y);
    wait_http(&format!("127.0.0.1:{x}"), "pp80");
    wait_http(&format!("127.0.0.1:{y}"), "pp81");

    // Removal frees every port of the ranges.
    t.ok(&["rm", "-f", "rb", "rd", "h1", "h2", "same", "pp"]);
    for port in [p, p + 1, q, q + 1, a, b, x, y] {
        assert!(
            !t.nft().contains(&format!("dport {port}")),
            "{port}: {}",
            t.nft()
        );
        assert!(http_get(&format!("127.0.0.1:{port}")).is_none(), "{port}");
    }
}

/// A UDP server on `port` inside a container's network namespace (busybox's `nc` here
/// has no `-u`): a thread of the test joins the namespace, binds, and answers every
/// datagram with `<tag>:<datagram>`. Stops when dropped.
struct UdpTagger {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl UdpTagger {
    fn start(t: &NetDaemon, container: &str, port: u16, tag: &'static str) -> UdpTagger {
        use std::os::fd::AsRawFd;
        let key = t.ok(&[
            "inspect",
            container,
            "-f",
            "{{.NetworkSettings.SandboxKey}}",
        ]);
        let ns = std::fs::File::open(key.trim()).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (ready, bound) = std::sync::mpsc::channel();
        let halt = stop.clone();
        let thread = std::thread::spawn(move || {
            // SAFETY: setns moves only this thread into the namespace `ns` names.
            assert_eq!(
                unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) },
                0
            );
            let s = std::net::UdpSocket::bind(("0.0.0.0", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            ready.send(()).unwrap();
            let mut buf = [0u8; 512];
            while !halt.load(std::sync::atomic::Ordering::SeqCst) {
                if let Ok((n, peer)) = s.recv_from(&mut buf) {
                    let reply = format!("{tag}:{}", String::from_utf8_lossy(&buf[..n]));
                    let _ = s.send_to(reply.as_bytes(), peer);
                }
            }
        });
        bound.recv().unwrap();
        UdpTagger {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for UdpTagger {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sends from `sock` (always the same source port) until a reply starts with `tag`.
fn udp_until(sock: &std::net::UdpSocket, tag: &str) {
    let mut buf = [0u8; 512];
    let mut i = 0;
    wait_until(
        &format!("udp reply from {tag}"),
        Duration::from_secs(15),
        || {
            i += 1;
            let _ = sock.send(format!("ping{i}").as_bytes());
            matches!(sock.recv(&mut buf), Ok(n) if buf[..n].starts_with(format!("{tag}:").as_bytes()))
        },
    );
}

#[test]
fn udp_flows_follow_a_remapped_port() {
    require_root!();
    let t = NetDaemon::start();
    let port = 24000 + t.k as u16 * 10 + 7;
    let map = format!("127.0.0.1:{port}:5000/udp");
    // Fixed addresses on a user network, so the old and new containers differ.
    let sub = t.subnet(1);
    t.ok(&["network", "create", "--subnet", &sub, "un"]);
    let ip = |last: u8| format!("10.231.{}.{last}", t.k);
    let run = |name: &str, last: u8| {
        t.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "un",
            "--ip",
            &ip(last),
            "-p",
            &map,
            "busybox",
            "sleep",
            "300",
        ]);
    };
    run("ua", 10);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    sock.connect(("127.0.0.1", port)).unwrap();
    {
        let _a = UdpTagger::start(&t, "ua", 5000, "ua");
        udp_until(&sock, "ua");
        let flows = std::fs::read_to_string("/proc/net/nf_conntrack").unwrap_or_default();
        assert!(
            flows
                .lines()
                .any(|l| l.contains(&format!("dport={port} "))
                    && l.contains(&format!("src={}", ip(10)))),
            "no flow to ua:\n{flows}"
        );
    }
    // The same source port keeps sending while the mapping changes hands: the flow the
    // kernel tracked for ua must not keep the datagrams from ub.
    t.ok(&["rm", "-f", "ua"]);
    let flows = std::fs::read_to_string("/proc/net/nf_conntrack").unwrap_or_default();
    assert!(
        !flows.lines().any(
            |l| l.contains(&format!("dport={port} ")) && l.contains(&format!("src={}", ip(10)))
        ),
        "flow to the removed container left:\n{flows}"
    );
    run("ub", 20);
    let _b = UdpTagger::start(&t, "ub", 5000, "ub");
    udp_until(&sock, "ub");
    t.ok(&["rm", "-f", "ub"]);
    t.ok(&["network", "rm", "un"]);
}
