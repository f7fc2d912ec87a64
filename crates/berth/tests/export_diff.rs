//! `export` and `diff` (`container diff`) through berth and the docker CLI, on stopped and
//! running containers, and that neither leaves a mount behind.

mod common;
use common::{stderr, stdout, wait_until, Daemon};
use std::process::Command;
use std::time::Duration;

const CHANGES: &str = "mkdir /new; echo x > /new/f; rm /bin/ls; echo y >> /etc/passwd";

/// The lines docker prints for [`CHANGES`], in its (path) order.
const EXPECTED: [&str; 6] = [
    "C /bin",
    "D /bin/ls",
    "C /etc",
    "C /etc/passwd",
    "A /new",
    "A /new/f",
];

/// Exactly the expected lines (plus `extra`), sorted by path as docker prints them: the
/// mount points the runtime made are not changes.
fn check_diff(out: &str, extra: &[&str]) {
    let lines: Vec<&str> = out.lines().collect();
    let mut want: Vec<&str> = EXPECTED.iter().chain(extra).copied().collect();
    want.sort_by_key(|l| l.get(2..).unwrap_or(""));
    assert_eq!(lines, want, "{out}");
}

/// Names in a tar file, as `tar -tf` lists them (without `./` or trailing `/`).
fn tar_names(file: &std::path::Path) -> Vec<String> {
    let o = Command::new("tar").arg("-tf").arg(file).output().unwrap();
    assert!(o.status.success(), "tar -tf: {}", stderr(&o));
    stdout(&o)
        .lines()
        .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_string())
        .collect()
}

fn check_tar(file: &std::path::Path) {
    let names = tar_names(file);
    assert!(names.iter().any(|n| n == "new/f"), "no new/f in {names:?}");
    assert!(
        names.iter().any(|n| n == "bin/busybox" || n == "bin/sh"),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n == "bin/ls"), "bin/ls still there");
    assert!(
        !names.iter().any(|n| n.contains(".wh.")),
        "whiteout names in the tar"
    );
    // The file's content and the appended line made it.
    let o = Command::new("tar")
        .arg("-xOf")
        .arg(file)
        .arg("etc/passwd")
        .output()
        .unwrap();
    assert!(stdout(&o).ends_with("y\n"), "{}", stdout(&o));
}

/// Runs `cmd` with stdout redirected to `file` (what `> file` does in a shell).
fn to_file(mut cmd: Command, file: &std::path::Path) {
    let f = std::fs::File::create(file).unwrap();
    let o = cmd.stdout(f).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn export_and_diff_of_a_stopped_container() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let o = d.berth(&["run", "--name", "c1", "busybox", "sh", "-c", CHANGES]);
    assert!(o.status.success(), "{}", stderr(&o));

    for args in [&["diff", "c1"][..], &["container", "diff", "c1"]] {
        let o = d.berth(args);
        assert!(o.status.success(), "{}", stderr(&o));
        check_diff(&stdout(&o), &[]);
        let o = d.docker(args);
        assert!(o.status.success(), "{}", stderr(&o));
        check_diff(&stdout(&o), &[]);
    }

    let berth_tar = d.dir.join("berth.tar");
    to_file(d.berth_cmd(&["export", "c1"]), &berth_tar);
    check_tar(&berth_tar);
    let docker_tar = d.dir.join("docker.tar");
    to_file(d.docker_cmd(&["export", "c1"]), &docker_tar);
    check_tar(&docker_tar);
    assert_eq!(
        std::fs::read(&berth_tar).unwrap().len(),
        std::fs::read(&docker_tar).unwrap().len()
    );

    // -o writes the file itself (and `container export` is the same verb).
    let out = d.dir.join("o.tar");
    let o = d.berth(&["export", "-o", out.to_str().unwrap(), "c1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    check_tar(&out);
    let out2 = d.dir.join("o2.tar");
    let o = d.docker(&["container", "export", "-o", out2.to_str().unwrap(), "c1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    check_tar(&out2);

    assert!(d.mounts().is_empty(), "mounts left: {:?}", d.mounts());
}

#[test]
fn export_and_diff_of_a_running_container() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let script = format!("{CHANGES}; touch /ready; sleep 300");
    let o = d.berth(&["run", "-d", "--name", "r1", "busybox", "sh", "-c", &script]);
    assert!(o.status.success(), "{}", stderr(&o));
    wait_until(
        "the container made its changes",
        Duration::from_secs(10),
        || stdout(&d.berth(&["diff", "r1"])).contains("A /ready"),
    );
    let mounts_before = d.mounts();

    check_diff(&stdout(&d.berth(&["diff", "r1"])), &["A /ready"]);
    check_diff(&stdout(&d.docker(&["diff", "r1"])), &["A /ready"]);

    let tar = d.dir.join("running.tar");
    to_file(d.berth_cmd(&["export", "r1"]), &tar);
    check_tar(&tar);
    let tar = d.dir.join("running-docker.tar");
    to_file(d.docker_cmd(&["export", "r1"]), &tar);
    check_tar(&tar);

    // Exporting mounted nothing new; removing the container leaves nothing at all.
    assert_eq!(d.mounts(), mounts_before);
    let o = d.berth(&["rm", "-f", "r1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(d.mounts().is_empty(), "mounts left: {:?}", d.mounts());
}

#[test]
fn unknown_containers_and_a_terminal() {
    require_root!();
    let d = Daemon::start().with_busybox();
    for verb in ["diff", "export"] {
        let o = d.berth(&[verb, "x"]);
        assert_eq!(o.status.code(), Some(1), "{verb}");
        assert_eq!(
            stderr(&o).trim(),
            "Error response from daemon: No such container: x",
            "{verb}"
        );
        let mut cmd = d.docker_cmd(&[verb, "x"]);
        let o = cmd.stdout(std::process::Stdio::piped()).output().unwrap();
        assert_ne!(o.status.code(), Some(0), "{verb}");
        assert!(
            stderr(&o).contains("No such container: x"),
            "{verb}: {}",
            stderr(&o)
        );
    }
    let o = d.berth(&["export", "-o", d.dir.join("x.tar").to_str().unwrap(), "x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!d.dir.join("x.tar").exists());

    // An unchanged container: no lines (the API says `null`).
    let o = d.berth(&["create", "--name", "quiet", "busybox", "true"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = d.berth(&["diff", "quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        d.request("GET", "/containers/quiet/changes", "").map(|r| r
            .rsplit("\r\n\r\n")
            .next()
            .unwrap_or("")
            .trim()
            .to_string()),
        Some("null".to_string())
    );
    let o = d.docker(&["diff", "quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
}

/// `export` to a terminal is refused before anything is sent (`script` gives it a pty).
#[test]
fn export_refuses_a_terminal() {
    require_root!();
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no script(1)");
        return;
    }
    let d = Daemon::start().with_busybox();
    let cmd = format!("BERTH_HOST={} {} export nope", d.host(), common::BERTH);
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(
        out.contains("cowardly refusing to save to a terminal. Use the -o flag or redirect"),
        "{out}"
    );
    assert!(!out.contains("No such container"), "{out}");
}
