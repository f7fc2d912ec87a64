//! `kill -9` of berthd in the middle of `rmi` and the collection behind it: the daemon
//! starts again, `berthd check` finds nothing but what `--repair` removes, and the images
//! that remain run.

mod common;

use common::*;
use std::path::{Path, PathBuf};
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

/// Asserts the check found only what repair removes (exit 0 or 1, no error lines).
fn assert_repairable(out: &Output, when: &str) {
    let text = stdout(out);
    let code = out.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "{when}: berthd check exited {code:?}: {text}{}",
        stderr(out)
    );
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error:")).collect();
    assert!(errors.is_empty(), "{when}: check found errors:\n{text}");
    assert!(
        text.lines().last().is_some_and(|l| l.contains("checked")),
        "{when}: no summary: {text}"
    );
}

/// busybox plus `files` files of its own: a layer no other image has, big enough that
/// removing its snapshot takes a while.
fn unique_tar(dir: &Path, n: usize, files: usize) -> PathBuf {
    let path = dir.join(format!("unique-{n}.tar"));
    let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
    let mut base = tar::Archive::new(std::fs::File::open(busybox_tar()).unwrap());
    for e in base.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        b.append(&h, &mut e).unwrap();
    }
    for i in 0..files {
        let body = format!("image {n} file {i}\n").repeat(20);
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(body.len() as u64);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, format!("data/{}/f{i}", i % 16), body.as_bytes())
            .unwrap();
    }
    b.finish().unwrap();
    path
}

fn import(d: &Daemon, tar: &Path, reference: &str, message: &str) -> String {
    let out = d.berth(&["import", "-m", message, tar.to_str().unwrap(), reference]);
    assert!(out.status.success(), "import {reference}: {}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    assert!(id.starts_with("sha256:"), "import printed {id:?}");
    id
}

fn image_ids(d: &Daemon) -> Vec<String> {
    let out = d.berth(&["images", "-q", "--no-trunc"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut v: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn rmi_killed_at_any_moment_leaves_a_repairable_store() {
    require_root!();
    let mut d = Daemon::start().with_busybox();
    let work = d.dir.join("tars");
    std::fs::create_dir_all(&work).unwrap();
    let busybox = busybox_tar();
    // Kept all along: shares its layer with every `shared*` image.
    let keep = import(&d, &busybox, "keep:1", "keep");

    let delays_ms = [0u64, 1, 3, 5, 8, 12, 17, 25, 35, 50, 80, 120];
    let mut deleted_seen = 0;
    for (round, delay) in delays_ms.iter().enumerate() {
        // Several images sharing the busybox layer, more tags, and one with its own layer.
        let shared_a = import(
            &d,
            &busybox,
            &format!("shared{round}:a"),
            &format!("a{round}"),
        );
        let shared_b = import(
            &d,
            &busybox,
            &format!("shared{round}:b"),
            &format!("b{round}"),
        );
        for t in ["x", "y"] {
            let out = d.berth(&["tag", &shared_a, &format!("alias{round}:{t}")]);
            assert!(out.status.success(), "tag: {}", stderr(&out));
        }
        let tar = unique_tar(&work, round, 1500);
        let own = import(&d, &tar, &format!("own{round}:1"), &format!("own{round}"));
        std::fs::remove_file(&tar).unwrap();
        // A committed image: busybox's layer under one of its own.
        let ctr = format!("c{round}");
        let out = d.berth(&["run", "--name", &ctr, "busybox", "sh", "-c", "echo x > /f"]);
        assert!(out.status.success(), "run: {}", stderr(&out));
        let out = d.berth(&["commit", &ctr, &format!("committed{round}:1")]);
        assert!(out.status.success(), "commit: {}", stderr(&out));
        let committed = stdout(&out).trim().to_string();
        let out = d.berth(&["rm", &ctr]);
        assert!(out.status.success(), "rm: {}", stderr(&out));
        let targets = [
            shared_a.clone(),
            own.clone(),
            committed.clone(),
            shared_b.clone(),
        ];

        let mut rmi = d.berth_cmd(&[
            "rmi",
            "-f",
            &targets[0],
            &targets[1],
            &targets[2],
            &targets[3],
        ]);
        let mut child = rmi
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(*delay));
        d.crash();
        let _ = child.wait();

        let out = check(&d.data_root, false);
        assert_repairable(&out, &format!("round {round} after kill at {delay}ms"));
        eprintln!("round {round}, kill at {delay}ms:\n{}", stdout(&out));
        if round % 2 == 1 {
            // Repair now and then, so later rounds start from a repaired store too.
            let out = check(&d.data_root, true);
            assert_eq!(
                out.status.code(),
                Some(0),
                "round {round}: repair left problems: {}",
                stdout(&out)
            );
        }

        d.restart();
        assert!(
            d.ping(),
            "round {round}: daemon does not answer after restart"
        );
        let ids = image_ids(&d);
        assert!(
            ids.contains(&keep),
            "round {round}: keep:1 is gone: {ids:?}"
        );
        deleted_seen += targets.iter().filter(|t| !ids.contains(t)).count();
        // An image either is whole (inspect works) or is gone from every list.
        for t in &targets {
            let resp = d
                .request("GET", &format!("/images/{t}/json"), "")
                .unwrap_or_default();
            let status = resp.lines().next().unwrap_or_default().to_string();
            assert_eq!(
                status.contains("200"),
                ids.contains(t),
                "round {round}: image {t} listed {} but inspect says {status}",
                ids.contains(t),
            );
        }
        // Finish what the killed rmi started; collection must cope with its leftovers.
        for t in &targets {
            if ids.contains(t) {
                let out = d.berth(&["rmi", "-f", t]);
                assert!(out.status.success(), "rmi {t}: {}", stderr(&out));
            }
        }
    }
    assert!(deleted_seen > 0, "no kill came after a deletion");

    d.crash();
    let out = check(&d.data_root, true);
    assert_eq!(
        out.status.code(),
        Some(0),
        "repair did not make the store clean: {}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = check(&d.data_root, false);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("store is clean"), "{}", stdout(&out));

    d.restart();
    let ids = image_ids(&d);
    assert!(ids.contains(&keep));
    for id in &ids {
        let out = d.berth(&["run", "--rm", id, "sh", "-c", "echo ran"]);
        assert!(
            out.status.success() && stdout(&out).contains("ran"),
            "image {id} does not run: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }
}

#[test]
fn check_refuses_a_store_a_daemon_has_open() {
    let mut d = Daemon::start();
    let out = check(&d.data_root, true);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("berthd is running"),
        "{}",
        stderr(&out)
    );
    d.crash();
    let out = check(&d.data_root, false);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}
