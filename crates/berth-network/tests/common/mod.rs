//! Fixtures for the kernel-touching tests: uniquely named bridges, veths, namespaces and nft
//! tables ("bt" + random), all torn down in Drop even when a test fails. Nothing here touches
//! links, namespaces or tables it did not create.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use berth_network::{link, netns, nft, Attach};

/// True when running as root; otherwise says why the test is skipped.
pub fn root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        true
    } else {
        eprintln!("skipping {test}: needs root (network namespaces, bridges, nftables)");
        false
    }
}

/// A second octet for this test process (10.N.x.0), and a third octet block per fixture.
fn octets() -> (u8, u8) {
    static SECOND: OnceLock<u8> = OnceLock::new();
    static NEXT: AtomicU8 = AtomicU8::new(0);
    let second = *SECOND.get_or_init(|| 200 + (rand::random::<u8>() % 50));
    let block = NEXT.fetch_add(1, Ordering::SeqCst);
    (second, block.wrapping_mul(10))
}

pub struct Fixture {
    /// "bt" + 6 hex digits: every name made here starts with it.
    pub prefix: String,
    second: u8,
    third: u8,
    pub dir: PathBuf,
    links: Vec<String>,
    namespaces: Vec<PathBuf>,
    tables: Vec<String>,
}

impl Fixture {
    pub fn new() -> Fixture {
        let prefix = format!("bt{:06x}", rand::random::<u32>() & 0xff_ffff);
        let (second, third) = octets();
        let dir = std::env::temp_dir().join(format!("berth-nettest-{prefix}"));
        std::fs::create_dir_all(&dir).unwrap();
        Fixture {
            prefix,
            second,
            third,
            dir,
            links: Vec::new(),
            namespaces: Vec::new(),
            tables: Vec::new(),
        }
    }

    /// The n-th /24 of this fixture: 10.S.(T+n).0/24.
    pub fn subnet(&self, n: u8) -> (Ipv4Addr, u8) {
        (Ipv4Addr::new(10, self.second, self.third + n, 0), 24)
    }

    /// Host `h` in the n-th /24.
    pub fn ip(&self, n: u8, h: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, self.second, self.third + n, h)
    }

    pub fn name(&self, suffix: &str) -> String {
        let n = format!("{}{suffix}", self.prefix);
        assert!(n.len() <= 15, "{n} is too long for an interface name");
        n
    }

    /// Takes a link the test made itself into the fixture's care (deleted in Drop).
    pub fn adopt(&mut self, name: &str) {
        assert!(name.starts_with(&self.prefix));
        self.links.push(name.to_string());
    }

    /// The nft table of this fixture (removed in Drop).
    pub fn table(&mut self) -> String {
        let t = self.prefix.clone();
        if !self.tables.contains(&t) {
            self.tables.push(t.clone());
        }
        t
    }

    /// A bridge `<prefix>b<n>` with gateway .1 of subnet n.
    pub async fn bridge(&mut self, n: u8) -> String {
        let name = self.name(&format!("b{n}"));
        // Never adopt (and later delete) a link this fixture did not make.
        assert!(!link_exists(&name), "{name} exists already");
        self.links.push(name.clone());
        link::ensure_bridge(&name, self.ip(n, 1), 24).await.unwrap();
        name
    }

    /// A new namespace `<dir>/<tag>`.
    pub fn netns(&mut self, tag: &str) -> PathBuf {
        let p = self.dir.join(tag);
        self.namespaces.push(p.clone());
        netns::create(&p).unwrap();
        p
    }

    /// Wires `ns` to bridge `n` as eth0 with address .h, default route via .1 when `route`.
    pub async fn attach(&mut self, ns: &Path, n: u8, h: u8, route: bool) -> Attach {
        let a = Attach {
            netns: ns.to_path_buf(),
            bridge: self.name(&format!("b{n}")),
            host_if: self.name(&format!("v{n}x{h}")),
            ctr_if: "eth0".into(),
            ip: self.ip(n, h),
            prefix: 24,
            gateway: route.then(|| self.ip(n, 1)),
            mac: None,
        };
        assert!(!link_exists(&a.host_if), "{} exists already", a.host_if);
        self.links.push(a.host_if.clone());
        link::attach(&a).await.unwrap();
        a
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for t in &self.tables {
            let _ = nft::remove_table_named(t);
        }
        for ns in &self.namespaces {
            let _ = netns::remove(ns);
        }
        // Veths first, then bridges; only names this fixture made.
        for l in self.links.iter().rev() {
            if link_exists(l) {
                // Output captured: a veth may vanish on its own meanwhile (its namespace went).
                let _ = Command::new("ip").args(["link", "delete", l]).output();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn run(cmd: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(cmd).args(args).output().unwrap();
    let mut s = String::from_utf8_lossy(&out.stdout).to_string();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), s)
}

/// Runs a command inside the namespace at `ns` (nsenter).
pub fn run_in_ns(ns: &Path, args: &[&str]) -> (bool, String) {
    let net = format!("--net={}", ns.display());
    let mut all = vec![net.as_str()];
    all.extend_from_slice(args);
    run("nsenter", &all)
}

/// One ping from `ns` to `ip`, tried up to 3 times (the first may wait for ARP).
pub fn ping(ns: &Path, ip: Ipv4Addr) -> bool {
    let ip = ip.to_string();
    (0..3).any(|_| run_in_ns(ns, &["busybox", "ping", "-c1", "-W1", &ip]).0)
}

pub fn link_exists(name: &str) -> bool {
    run("ip", &["link", "show", "dev", name]).0
}

/// The host's own address on its default-route interface, if it has one.
pub fn host_address() -> Option<Ipv4Addr> {
    let (_, routes) = run("ip", &["-4", "route", "show", "default"]);
    let dev = routes
        .split_whitespace()
        .skip_while(|w| *w != "dev")
        .nth(1)?
        .to_string();
    let (_, addrs) = run(
        "ip",
        &["-4", "-o", "addr", "show", "dev", &dev, "scope", "global"],
    );
    addrs
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)?
        .split('/')
        .next()?
        .parse()
        .ok()
}

pub fn nft_list_tables() -> String {
    run("nft", &["list", "tables"]).1
}

pub fn nft_list_table(table: &str) -> (bool, String) {
    run("nft", &["list", "table", "inet", table])
}
