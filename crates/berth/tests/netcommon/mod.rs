//! What the networking tests share: a daemon with its own bridge, subnet and nft table
//! (removed at the end), and small HTTP helpers for busybox httpd.
#![allow(dead_code)]

use crate::common::{stderr, stdout, wait_until, Daemon};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A daemon with its own default bridge (`bw<n>`), subnet and nft table, all removed at
/// the end with whatever user networks the test left.
pub struct NetDaemon {
    pub d: Option<Daemon>,
    pub bridge: String,
    pub table: String,
    /// The third octet of this test's subnets: 10.230.<k>.0/24 (default bridge),
    /// 10.231.<k>.0/24 and 10.232.<k>.0/24 (user networks).
    pub k: u32,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl NetDaemon {
    pub fn start() -> NetDaemon {
        // Unique per test process and test: pid and a counter.
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let k = (std::process::id() * 7 + n * 13) % 250 + 1;
        let bridge = format!("bw{}x{n}", std::process::id() % 100000);
        let table = format!("berthtest{}x{n}", std::process::id());
        let bip = format!("10.230.{k}.1/24");
        let d =
            Daemon::start_with_args(&["--bridge", &bridge, "--bip", &bip, "--nft-table", &table])
                .with_busybox();
        NetDaemon {
            d: Some(d),
            bridge,
            table,
            k,
        }
    }

    pub fn d(&self) -> &Daemon {
        self.d.as_ref().unwrap()
    }

    pub fn d_mut(&mut self) -> &mut Daemon {
        self.d.as_mut().unwrap()
    }

    pub fn subnet(&self, which: u32) -> String {
        format!("10.{}.{}.0/24", 230 + which, self.k)
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.d().berth(args);
        assert!(
            o.status.success(),
            "berth {args:?} failed: {}{}",
            stdout(&o),
            stderr(&o)
        );
        stdout(&o)
    }

    pub fn nft(&self) -> String {
        let o = Command::new("nft")
            .args(["list", "table", "inet", &self.table])
            .output()
            .unwrap();
        stdout(&o)
    }

    /// Links enslaved to a bridge.
    pub fn ports_of(bridge: &str) -> usize {
        let o = Command::new("ip")
            .args(["-o", "link", "show", "master", bridge])
            .output()
            .unwrap();
        stdout(&o).lines().count()
    }

    pub fn link_exists(name: &str) -> bool {
        Command::new("ip")
            .args(["link", "show", name])
            .output()
            .unwrap()
            .status
            .success()
    }
}

impl Drop for NetDaemon {
    fn drop(&mut self) {
        let mut bridges = vec![self.bridge.clone()];
        if let Some(d) = &self.d {
            if d.ping() {
                let _ = d.berth_cmd(&["ps", "-aq"]).output().map(|o| {
                    for id in stdout(&o).split_whitespace() {
                        let _ = d.berth(&["rm", "-f", id]);
                    }
                });
                let o = d.berth(&[
                    "network",
                    "ls",
                    "-q",
                    "--no-trunc",
                    "--filter",
                    "type=custom",
                ]);
                for id in stdout(&o).split_whitespace() {
                    bridges.push(format!("br-{}", &id[..12]));
                    let _ = d.berth(&["network", "rm", id]);
                }
            }
        }
        self.d.take();
        for b in bridges {
            let _ = Command::new("ip").args(["link", "del", &b]).output();
        }
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &self.table])
            .output();
    }
}

/// `GET /` over plain TCP from the host; the body, or None when nothing answers.
pub fn http_get(addr: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(3)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

pub fn httpd(body: &str) -> String {
    format!("mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p 80 -h /www")
}

/// The host's first global IPv4 address that is not one of berth's bridges.
pub fn host_address() -> Option<String> {
    let o = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
        .ok()?;
    stdout(&o).lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let dev = *f.get(1)?;
        if dev.starts_with("br-") || dev.starts_with("bw") || dev.starts_with("berth") {
            return None;
        }
        f.get(3)
            .map(|a| a.split('/').next().unwrap_or("").to_string())
    })
}

/// Waits until the httpd in container `c` answers on its own loopback.
pub fn wait_ready(t: &NetDaemon, c: &str) {
    wait_until(&format!("httpd in {c}"), Duration::from_secs(10), || {
        t.d()
            .berth(&["exec", c, "wget", "-qO-", "http://127.0.0.1/"])
            .status
            .success()
    });
}

pub fn wait_http(addr: &str, want: &str) {
    wait_until(&format!("{addr} answers"), Duration::from_secs(10), || {
        http_get(addr).is_some_and(|b| b.contains(want))
    });
}

/// Now, as `events --since` takes it.
pub fn chrono_now() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("{}.{:09}", t.as_secs(), t.subsec_nanos())
}
