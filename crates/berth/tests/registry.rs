//! Registries end to end: berthd pulls from and pushes to `berth-registry` (and Debian's
//! `docker-registry` when installed) through `berth` and the real docker CLI, with
//! `login`; images round-trip between data roots bit for bit; failures are quick and clear.

mod common;
use common::{ok, stderr, stdout, with_stdin, Daemon};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const REGISTRY: &str = env!("CARGO_BIN_EXE_berth-registry");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A registry process on a loopback port, killed (by pid) on drop.
struct Registry {
    child: Child,
    addr: String,
}

impl Registry {
    fn spawn(mut cmd: Command, addr: String, log: &Path) -> Registry {
        let log = std::fs::File::create(log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn registry");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "registry at {addr} did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Registry { child, addr }
    }

    /// `berth-registry serve` with its storage under `dir`.
    fn berth(dir: &Path, extra: &[&str]) -> Registry {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut cmd = Command::new(REGISTRY);
        cmd.arg("serve")
            .arg("--addr")
            .arg(&addr)
            .arg("--root")
            .arg(dir.join("registry"))
            .args(extra);
        Registry::spawn(cmd, addr, &dir.join("registry.log"))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `berth` with its own docker config directory (credentials of `login`).
fn berth_in(d: &Daemon, config: &Path, args: &[&str]) -> Command {
    let mut c = d.berth_cmd(args);
    c.env("DOCKER_CONFIG", config);
    c
}

fn docker_in(d: &Daemon, config: &Path, args: &[&str]) -> Command {
    let mut c = d.docker_cmd(args);
    c.env("DOCKER_CONFIG", config);
    c
}

/// The manifest digest of push's `TAG: digest: sha256:... size: N` line.
fn out_digest(push_output: &str) -> String {
    let at = push_output.find("digest: ").expect("a digest line") + "digest: ".len();
    push_output[at..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn inspect(d: &Daemon, format: &str, image: &str) -> String {
    ok(&d.berth(&["image", "inspect", "--format", format, image]))
        .trim()
        .to_string()
}

/// An image with three layers (busybox, a RUN, a COPY) built on `d`.
fn build_app(d: &Daemon, tag: &str) {
    let ctx = d.dir.join("app-ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN head -c 300000 /dev/urandom > /rand && echo ran > /ran\nCOPY f /f\nLABEL purpose=registry-test\n",
    )
    .unwrap();
    std::fs::write(ctx.join("f"), "file from context\n").unwrap();
    ok(&d.berth(&["build", "-q", "-t", tag, ctx.to_str().unwrap()]));
}

#[test]
fn push_and_pull_round_trip_between_data_roots() {
    require_root!();
    let d1 = Daemon::start().with_busybox();
    let reg = Registry::berth(&d1.dir, &[]);
    let image = format!("{}/test/app:1", reg.addr);
    build_app(&d1, &image);
    let id = inspect(&d1, "{{.Id}}", &image);
    let layers = inspect(&d1, "{{json .RootFS.Layers}}", &image);

    let out = ok(&d1.berth(&["push", &image]));
    assert!(out.contains("The push refers to repository"), "{out}");
    assert!(out.contains("1: digest: sha256:"), "{out}");
    // A second push finds every layer there.
    let again_push = ok(&d1.berth(&["push", &image]));
    assert!(again_push.contains("Layer already exists"), "{again_push}");

    let d2 = Daemon::start();
    let out = ok(&d2.berth(&["pull", &image]));
    assert!(out.contains("Status: Downloaded newer image for"), "{out}");
    assert!(out.trim_end().ends_with(&image), "{out}");
    assert_eq!(inspect(&d2, "{{.Id}}", &image), id);
    assert_eq!(inspect(&d2, "{{json .RootFS.Layers}}", &image), layers);
    assert_eq!(
        ok(&d2.berth(&["run", "--rm", &image, "cat", "/f", "/ran"])),
        "file from context\nran\n"
    );
    let again = ok(&d2.berth(&["pull", &image]));
    assert!(again.contains("Image is up to date"), "{again}");

    // By digest (as push reported it), into a third store.
    let pushed = out_digest(&again_push);
    let digest = format!("{}/test/app@{pushed}", reg.addr);
    let d3 = Daemon::start();
    ok(&d3.berth(&["pull", &digest]));
    assert_eq!(inspect(&d3, "{{.Id}}", &digest), id);
}

#[test]
fn run_pulls_a_missing_image_and_docker_cli_pushes_and_pulls() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let reg = Registry::berth(&d.dir, &[]);
    let config = d.dir.join("docker-config");
    let image = format!("{}/lib/bb:t1", reg.addr);
    ok(&d.berth(&["tag", "busybox", &image]));
    ok(&docker_in(&d, &config, &["push", &image]).output().unwrap());
    ok(&d.berth(&["rmi", &image]));
    ok(&d.berth(&["rmi", "busybox"]));
    // `run` pulls what is missing, saying so on stderr as the docker CLI does.
    let o = d.berth(&["run", "--rm", &image, "echo", "pulled-and-ran"]);
    assert_eq!(ok(&o), "pulled-and-ran\n");
    assert!(
        stderr(&o).contains(&format!("Unable to find image '{image}' locally")),
        "{}",
        stderr(&o)
    );
    ok(&d.berth(&["rmi", &image]));
    let o = docker_in(&d, &config, &["pull", &image]).output().unwrap();
    assert!(ok(&o).contains("Downloaded newer image"), "{}", stdout(&o));
}

#[test]
fn login_with_htpasswd_and_bearer_tokens() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let htpasswd = d.dir.join("htpasswd");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    std::fs::write(&htpasswd, format!("alice:{hash}\n")).unwrap();
    let reg = Registry::berth(&d.dir, &["--htpasswd", htpasswd.to_str().unwrap()]);
    let config = d.dir.join("cfg");
    let image = format!("{}/private/bb:1", reg.addr);
    ok(&d.berth(&["tag", "busybox", &image]));

    // Without credentials: refused, and quickly.
    let o = berth_in(&d, &config, &["push", &image]).output().unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).to_lowercase().contains("unauthorized")
            || stderr(&o).contains("authentication required"),
        "{}",
        stderr(&o)
    );
    // A wrong password is refused by login.
    let o = with_stdin(
        berth_in(
            &d,
            &config,
            &["login", &reg.addr, "-u", "alice", "--password-stdin"],
        ),
        b"wrong\n",
    );
    assert!(!o.status.success(), "{}", stdout(&o));
    // The right one is stored Docker's way and then used.
    let o = with_stdin(
        berth_in(
            &d,
            &config,
            &["login", &reg.addr, "-u", "alice", "--password-stdin"],
        ),
        b"s3cret\n",
    );
    assert!(ok(&o).contains("Login Succeeded"));
    let conf = std::fs::read_to_string(config.join("config.json")).unwrap();
    assert!(
        conf.contains(&reg.addr) && conf.contains("\"auth\""),
        "{conf}"
    );
    ok(&berth_in(&d, &config, &["push", &image]).output().unwrap());
    ok(&d.berth(&["rmi", &image]));
    ok(&berth_in(&d, &config, &["pull", &image]).output().unwrap());

    // The docker CLI logs in through berthd (POST /auth) and sends X-Registry-Auth.
    let dconf = d.dir.join("dcfg");
    let o = with_stdin(
        docker_in(
            &d,
            &dconf,
            &["login", &reg.addr, "-u", "alice", "--password-stdin"],
        ),
        b"s3cret\n",
    );
    assert!(ok(&o).contains("Login Succeeded"));
    ok(&d.berth(&["rmi", &image]));
    ok(&docker_in(&d, &dconf, &["pull", &image]).output().unwrap());
    let o = berth_in(&d, &config, &["logout", &reg.addr])
        .output()
        .unwrap();
    assert!(ok(&o).contains("Removing login credentials"));
}

#[test]
fn errors_are_quick_and_clear() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let reg = Registry::berth(&d.dir, &[]);
    let t0 = Instant::now();
    let o = d.berth(&["pull", &format!("{}/nope/nothing:1", reg.addr)]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("manifest unknown") || stderr(&o).contains("not found"),
        "{}",
        stderr(&o)
    );
    // Nothing listens on this port: refused at once, no hang.
    let closed = format!("127.0.0.1:{}/x/y:1", free_port());
    let o = d.berth(&["pull", &closed]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("connection refused") || stderr(&o).contains("connect"),
        "{}",
        stderr(&o)
    );
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    let o = d.berth(&["push", "127.0.0.1:1/not/local:1"]);
    assert!(!o.status.success());
}

/// A loopback proxy in front of a registry that counts blob GETs by digest and can hold
/// the requests for one digest unanswered (a layer that never arrives).
struct Proxy {
    addr: String,
    gets: Arc<Mutex<HashMap<String, u32>>>,
    stall: Arc<Mutex<Option<String>>>,
    /// The first reply for this digest is cut after this many bytes.
    cut: Arc<Mutex<Option<(String, usize)>>>,
    /// The `Range` headers of the blob GETs seen.
    ranges: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    fn start(upstream: &str) -> Proxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let proxy = Proxy {
            addr,
            gets: Arc::default(),
            stall: Arc::default(),
            cut: Arc::default(),
            ranges: Arc::default(),
        };
        let shared = proxy.shared();
        let up = upstream.to_string();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(client) = conn else { return };
                let Ok(server) = TcpStream::connect(&up) else {
                    continue;
                };
                let p = shared.shared();
                std::thread::spawn(move || p.serve(client, server));
            }
        });
        proxy
    }

    fn shared(&self) -> Proxy {
        Proxy {
            addr: self.addr.clone(),
            gets: self.gets.clone(),
            stall: self.stall.clone(),
            cut: self.cut.clone(),
            ranges: self.ranges.clone(),
        }
    }

    fn serve(self, mut client: TcpStream, mut server: TcpStream) {
        let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        // Bytes of the current reply still let through, once a cut is armed.
        let budget: Arc<Mutex<Option<usize>>> = Arc::default();
        let b2 = budget.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = match s2.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let mut left = b2.lock().unwrap();
                let n = match *left {
                    Some(l) if l < n => {
                        let _ = c2.write_all(&buf[..l]);
                        break;
                    }
                    Some(l) => {
                        *left = Some(l - n);
                        n
                    }
                    None => n,
                };
                if c2.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = c2.shutdown(std::net::Shutdown::Both);
            let _ = s2.shutdown(std::net::Shutdown::Both);
        });
        let (gets, stall) = (self.gets, self.stall);
        let mut buf = vec![0u8; 64 * 1024];
        let mut held = false;
        loop {
            let n = match client.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if held {
                continue;
            }
            // Requests are small: each arrives whole in one read.
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            for line in text.lines().filter(|l| l.starts_with("GET /v2/")) {
                if let Some(at) = line.find("/blobs/sha256:") {
                    let digest = line[at + "/blobs/".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap()
                        .to_string();
                    *gets.lock().unwrap().entry(digest.clone()).or_default() += 1;
                    if let Some(r) = text
                        .lines()
                        .find(|l| l.to_ascii_lowercase().starts_with("range:"))
                    {
                        self.ranges.lock().unwrap().push(r.to_string());
                    }
                    let mut cut = self.cut.lock().unwrap();
                    if cut.as_ref().is_some_and(|(d, _)| *d == digest) {
                        *budget.lock().unwrap() = cut.take().map(|(_, n)| n);
                    }
                    if stall.lock().unwrap().as_deref() == Some(digest.as_str()) {
                        held = true;
                    }
                }
            }
            if !held && server.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = server.shutdown(std::net::Shutdown::Both);
    }

    fn gets(&self, digest: &str) -> u32 {
        self.gets.lock().unwrap().get(digest).copied().unwrap_or(0)
    }
}

/// The layer digests of a manifest, fetched straight from the registry.
fn layer_digests(registry: &str, repo: &str, tag: &str) -> Vec<String> {
    let mut s = TcpStream::connect(registry).unwrap();
    write!(
        s,
        "GET /v2/{repo}/manifests/{tag} HTTP/1.1\r\nHost: {registry}\r\nAccept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let body = &reply[reply.find("\r\n\r\n").expect("an HTTP reply") + 4..];
    let m: serde_json::Value = serde_json::from_str(body).unwrap();
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_connection_dropped_mid_layer_is_resumed_with_range() {
    require_root!();
    let d1 = Daemon::start().with_busybox();
    let reg = Registry::berth(&d1.dir, &[]);
    let pushed = format!("{}/test/app:1", reg.addr);
    build_app(&d1, &pushed);
    ok(&d1.berth(&["push", &pushed]));
    let id = inspect(&d1, "{{.Id}}", &pushed);
    let layers = layer_digests(&reg.addr, "test/app", "1");
    let proxy = Proxy::start(&reg.addr);
    // The RUN layer (300 kB of random bytes): its first reply stops after 100 kB.
    *proxy.cut.lock().unwrap() = Some((layers[1].clone(), 100_000));
    let image = format!("{}/test/app:1", proxy.addr);
    let d2 = Daemon::start();
    ok(&d2.berth(&["pull", &image]));
    assert_eq!(inspect(&d2, "{{.Id}}", &image), id);
    assert!(proxy.cut.lock().unwrap().is_none(), "the cut was not armed");
    assert_eq!(proxy.gets(&layers[1]), 2);
    let ranges = proxy.ranges.lock().unwrap().clone();
    assert_eq!(ranges.len(), 1, "{ranges:?}");
    let from: u64 = ranges[0]
        .split('=')
        .nth(1)
        .and_then(|r| r.trim().trim_end_matches('-').parse().ok())
        .expect("bytes=N-");
    assert!(from > 0 && from <= 100_000, "{ranges:?}");
    assert_eq!(
        ok(&d2.berth(&["run", "--rm", &image, "cat", "/ran"])),
        "ran\n"
    );
}

#[test]
fn kill_9_mid_pull_then_a_pull_that_downloads_only_what_was_missing() {
    require_root!();
    let d1 = Daemon::start().with_busybox();
    let reg = Registry::berth(&d1.dir, &[]);
    build_app(&d1, &format!("{}/test/app:1", reg.addr));
    ok(&d1.berth(&["push", &format!("{}/test/app:1", reg.addr)]));
    let layers = layer_digests(&reg.addr, "test/app", "1");
    assert_eq!(layers.len(), 3, "{layers:?}");
    let proxy = Proxy::start(&reg.addr);
    let top = layers[2].clone();
    *proxy.stall.lock().unwrap() = Some(top.clone());
    let image = format!("{}/test/app:1", proxy.addr);

    // The top layer never comes; the two below are fetched, verified and kept.
    let mut d2 = Daemon::start();
    let mut pull = d2
        .berth_cmd(&["pull", &image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let blob = |d: &Daemon, digest: &str| {
        d.data_root
            .join("content/blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    common::wait_until("the lower layers", Duration::from_secs(60), || {
        proxy.gets(&top) == 1 && blob(&d2, &layers[0]).exists() && blob(&d2, &layers[1]).exists()
    });
    d2.crash();
    let _ = pull.kill();
    let _ = pull.wait();
    assert!(!blob(&d2, &top).exists());

    d2.restart();
    *proxy.stall.lock().unwrap() = None;
    let out = ok(&d2.berth(&["pull", &image]));
    assert!(out.contains("Downloaded newer image"), "{out}");
    assert_eq!(proxy.gets(&layers[0]), 1, "lower layer fetched again");
    assert_eq!(proxy.gets(&layers[1]), 1, "middle layer fetched again");
    assert_eq!(proxy.gets(&top), 2);
    assert_eq!(
        ok(&d2.berth(&["run", "--rm", &image, "cat", "/f", "/ran"])),
        "file from context\nran\n"
    );
    let snapshots: Vec<String> = std::fs::read_dir(d2.data_root.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        snapshots.iter().all(|n| !n.starts_with("tmp-")),
        "{snapshots:?}"
    );
}

#[test]
fn search_lists_repositories_by_name() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let reg = Registry::berth(&d.dir, &[]);
    for repo in ["tools/alpha", "tools/beta", "other/gamma"] {
        let image = format!("{}/{repo}:1", reg.addr);
        ok(&d.berth(&["tag", "busybox", &image]));
        ok(&d.berth(&["push", &image]));
    }
    let out = ok(&d.berth(&["search", &format!("{}/tools", reg.addr)]));
    assert!(out.starts_with("NAME"), "{out}");
    assert!(
        out.contains("tools/alpha") && out.contains("tools/beta"),
        "{out}"
    );
    assert!(!out.contains("gamma"), "{out}");
    let out = ok(&d.docker(&["search", &format!("{}/gamma", reg.addr)]));
    assert!(out.contains("other/gamma"), "{out}");
}

/// Debian's `docker-registry` (distribution 2.8), a peer Berth did not write.
#[test]
fn debian_docker_registry_interop() {
    require_root!();
    let bin = Path::new("/usr/bin/docker-registry");
    if !bin.exists() {
        eprintln!("skipped: /usr/bin/docker-registry is not installed");
        return;
    }
    let d = Daemon::start().with_busybox();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let root: PathBuf = d.dir.join("distribution");
    let conf = d.dir.join("distribution.yml");
    std::fs::write(
        &conf,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            root.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("serve").arg(&conf);
    let _reg = Registry::spawn(cmd, addr.clone(), &d.dir.join("distribution.log"));
    let image = format!("{addr}/peer/app:2");
    build_app(&d, &image);
    let id = inspect(&d, "{{.Id}}", &image);
    ok(&d.berth(&["push", &image]));
    let d2 = Daemon::start();
    ok(&d2.berth(&["pull", &image]));
    assert_eq!(inspect(&d2, "{{.Id}}", &image), id);
    assert_eq!(
        ok(&d2.berth(&["run", "--rm", &image, "cat", "/f"])),
        "file from context\n"
    );
}
