//! `kill -9` of berthd in the middle of `load` and of `commit`: the store opens again,
//! `berthd check` finds nothing `--repair` cannot remove, the image is either whole or
//! absent, and doing the operation again works.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn check(data_root: &Path, repair: bool) -> Output {
    let mut c = Command::new(BERTHD);
    c.arg("check").arg("--data-root").arg(data_root);
    if repair {
        c.arg("--repair");
    }
    c.output().expect("run berthd check")
}

/// Kills the daemon, then requires the store to be clean after at most a repair.
fn crash_and_repair(d: &mut Daemon, when: &str) {
    d.crash();
    let out = check(&d.data_root, false);
    let text = stdout(&out);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{when}: check exited {:?}: {text}{}",
        out.status.code(),
        stderr(&out)
    );
    assert!(
        !text.lines().any(|l| l.starts_with("error:")),
        "{when}: check found errors:\n{text}"
    );
    let out = check(&d.data_root, true);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{when}: repair: {}",
        stdout(&out)
    );
    let out = check(&d.data_root, false);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{when}: after repair: {}",
        stdout(&out)
    );
    d.restart();
    assert!(d.ping(), "{when}: daemon does not answer after restart");
}

fn has_image(d: &Daemon, name: &str) -> bool {
    d.berth(&["image", "inspect", name]).status.success()
}

#[test]
fn load_and_commit_killed_at_any_moment_leave_a_repairable_store() {
    require_root!();
    let mut d = Daemon::start().with_busybox();
    // 40 MB of incompressible data in a layer of its own, so load and commit take a while.
    ok(&d.berth(&[
        "run",
        "--name",
        "big",
        "busybox",
        "sh",
        "-c",
        "mkdir /big && for i in 1 2 3 4 5 6 7 8; do head -c 5242880 /dev/urandom > /big/f$i; done; \
         mkdir /many && for i in $(seq 2000); do echo $i > /many/$i; done",
    ]));
    ok(&d.berth(&["commit", "big", "big:1"]));
    let archive = d.dir.join("big.tar");
    ok(&d.berth(&["save", "-o", archive.to_str().unwrap(), "big:1"]));
    let id = ok(&d.berth(&["image", "inspect", "--format", "{{.Id}}", "big:1"]));

    let delays = [0u64, 5, 20, 60, 120, 250, 500];
    let mut interrupted = 0;
    for delay in delays {
        // load, killed
        if has_image(&d, "big:1") {
            ok(&d.berth(&["rmi", "big:1"]));
        }
        let mut child = d
            .berth_cmd(&["load", "-q", "-i", archive.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        crash_and_repair(&mut d, &format!("load killed at {delay}ms"));
        let finished = child.wait().unwrap().success();
        if has_image(&d, "big:1") {
            // Whole: the same ID and its files.
            assert_eq!(
                ok(&d.berth(&["image", "inspect", "--format", "{{.Id}}", "big:1"])),
                id
            );
        } else {
            interrupted += 1;
            assert!(!finished, "load said it finished but the image is gone");
        }
        ok(&d.berth(&["load", "-q", "-i", archive.to_str().unwrap()]));
        assert_eq!(
            ok(&d.berth(&["run", "--rm", "big:1", "sh", "-c", "ls /big | wc -l"])).trim(),
            "8"
        );

        // commit, killed
        let tag = format!("again:{delay}");
        let mut child = d
            .berth_cmd(&["commit", "big", &tag])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        crash_and_repair(&mut d, &format!("commit killed at {delay}ms"));
        let _ = child.wait();
        if !has_image(&d, &tag) {
            interrupted += 1;
            ok(&d.berth(&["commit", "big", &tag]));
        }
        assert_eq!(
            ok(&d.berth(&["run", "--rm", &tag, "sh", "-c", "ls /many | wc -l"])).trim(),
            "2000"
        );
        ok(&d.berth(&["rmi", &tag]));
    }
    assert!(interrupted > 0, "no kill landed inside a load or commit");
}
