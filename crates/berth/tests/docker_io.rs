//! Interoperability with Debian's docker.io (dockerd 20.10): `docker save` there, `berth
//! load` here, and back, with the same image IDs and deleted files staying deleted. Skips
//! cleanly when `dockerd` is not installed. dockerd runs on its own temporary root and
//! socket with no iptables, no bridge and no forwarding, so it touches nothing of the host's.

mod common;
use common::{ok, stderr, stdout, Daemon};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A private dockerd, stopped (by its pid) and its directories removed on drop.
struct Dockerd {
    dir: PathBuf,
    child: Child,
}

impl Dockerd {
    fn start(dir: &Path) -> Option<Dockerd> {
        let bin = ["/usr/sbin/dockerd", "/usr/bin/dockerd"]
            .into_iter()
            .find(|p| Path::new(p).exists())?;
        let dir = dir.join("dk");
        std::fs::create_dir_all(&dir).unwrap();
        let log = std::fs::File::create(dir.join("log")).unwrap();
        let child = Command::new(bin)
            .arg("--data-root")
            .arg(dir.join("root"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", dir.join("d.sock").display()))
            .arg("--pidfile")
            .arg(dir.join("pid"))
            .args([
                "--iptables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--bridge=none",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .ok()?;
        let d = Dockerd { dir, child };
        let ready = (0..300).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            d.docker(&["version"]).status.success()
        });
        assert!(
            ready,
            "dockerd did not start: {}",
            std::fs::read_to_string(d.dir.join("log")).unwrap_or_default()
        );
        Some(d)
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .args(args)
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.dir.join("d.sock").display()),
            )
            .env("DOCKER_CONFIG", self.dir.join("cfg"))
            .output()
            .unwrap()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SAFETY: kill has no memory preconditions; the pid is our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn save_and_load_round_trip_with_debian_docker() {
    require_root!();
    let d = Daemon::start();
    let Some(dk) = Dockerd::start(&d.dir) else {
        eprintln!("skipped: dockerd (Debian's docker.io) is not installed");
        return;
    };
    let bb = common::busybox_tar();
    ok(&dk.docker(&["import", bb.to_str().unwrap(), "busybox:latest"]));
    ok(&dk.docker(&[
        "run",
        "--network",
        "none",
        "--name",
        "mk",
        "busybox",
        "sh",
        "-c",
        "echo from-docker > /hello; rm /bin/vi",
    ]));
    ok(&dk.docker(&["commit", "mk", "dk:multi"]));
    let from_docker = d.dir.join("from-docker.tar");
    ok(&dk.docker(&[
        "save",
        "-o",
        from_docker.to_str().unwrap(),
        "dk:multi",
        "busybox",
    ]));
    let dk_id = ok(&dk.docker(&["image", "inspect", "--format", "{{.Id}}", "dk:multi"]));

    // Docker 20.10's archive (`<id>/layer.tar`, `<hex>.json`) into berth.
    let out = ok(&d.berth(&["load", "-i", from_docker.to_str().unwrap()]));
    assert!(out.contains("Loaded image: dk:multi"), "{out}");
    let id = ok(&d.berth(&["image", "inspect", "--format", "{{.Id}}", "dk:multi"]));
    assert_eq!(id, dk_id);
    let o = d.berth(&[
        "run",
        "--rm",
        "dk:multi",
        "sh",
        "-c",
        "cat /hello; ls /bin/vi",
    ]);
    assert!(stdout(&o).contains("from-docker"), "{}", stdout(&o));
    assert!(stderr(&o).contains("No such file"), "{}", stderr(&o));

    // Berth's commit and archive into dockerd.
    ok(&d.berth(&[
        "run",
        "--name",
        "bc",
        "dk:multi",
        "sh",
        "-c",
        "echo from-berth > /b; rm /hello",
    ]));
    ok(&d.berth(&["commit", "-c", "CMD [\"cat\",\"/b\"]", "bc", "bz:made"]));
    let from_berth = d.dir.join("from-berth.tar");
    ok(&d.berth(&["save", "-o", from_berth.to_str().unwrap(), "bz:made"]));
    let out = ok(&dk.docker(&["load", "-i", from_berth.to_str().unwrap()]));
    assert!(out.contains("Loaded image: bz:made"), "{out}");
    let bz_id = ok(&d.berth(&["image", "inspect", "--format", "{{.Id}}", "bz:made"]));
    assert_eq!(
        ok(&dk.docker(&["image", "inspect", "--format", "{{.Id}}", "bz:made"])),
        bz_id
    );
    assert_eq!(
        ok(&dk.docker(&["run", "--rm", "--network", "none", "bz:made"])).trim(),
        "from-berth"
    );
    let o = dk.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "bz:made",
        "ls",
        "/hello",
    ]);
    assert!(
        !o.status.success(),
        "a file deleted before commit came back in dockerd"
    );
    ok(&dk.docker(&["rm", "-f", "mk"]));
}
