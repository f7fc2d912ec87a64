//! Soak: 200 containers started, exec'd into, stopped and removed by four clients at once,
//! then nothing may be left: no shim, no mount, no cgroup, no container dir, and berthd
//! holds no more file descriptors than before.

mod common;
use common::{stderr, stdout, Daemon};
use std::path::Path;

const WORKERS: usize = 4;
const PER_WORKER: usize = 50;

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Cgroup dirs of `id` left in any v1 hierarchy or in the unified one.
fn cgroups_of(id: &str) -> Vec<String> {
    let mut left = Vec::new();
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let p = h.path().join("berth").join(id);
        if p.exists() {
            left.push(p.display().to_string());
        }
    }
    left
}

/// One container's whole life; returns its full ID.
fn cycle(d: &Daemon, name: &str) -> String {
    let o = d.berth(&[
        "run",
        "-d",
        "--name",
        name,
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; sleep 3600 & wait",
    ]);
    assert!(o.status.success(), "run {name}: {}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    let o = d.berth(&["exec", name, "sh", "-c", "echo in-$HOSTNAME"]);
    assert!(o.status.success(), "exec {name}: {}", stderr(&o));
    assert_eq!(stdout(&o).trim(), format!("in-{}", &id[..12]));
    let o = d.berth(&["stop", name]);
    assert!(o.status.success(), "stop {name}: {}", stderr(&o));
    assert_eq!(
        stdout(&d.berth(&["inspect", "-f", "{{.State.ExitCode}}", name])).trim(),
        "0"
    );
    let o = d.berth(&["rm", name]);
    assert!(o.status.success(), "rm {name}: {}", stderr(&o));
    id
}

#[test]
fn two_hundred_containers_leave_nothing_behind() {
    require_root!();
    let d = Daemon::start().with_busybox();
    // One cycle first, so lazily opened files (the store, the event bus) are counted.
    cycle(&d, "warmup");
    let fds_before = fd_count(d.pid());

    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..WORKERS)
            .map(|w| {
                let d = &d;
                s.spawn(move || {
                    (0..PER_WORKER)
                        .map(|i| cycle(d, &format!("soak-{w}-{i}")))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(ids.len(), WORKERS * PER_WORKER);

    assert_eq!(stdout(&d.berth(&["ps", "-aq"])), "");
    assert_eq!(d.shim_pids(), Vec::<i32>::new(), "shims left");
    assert_eq!(d.mounts(), Vec::<String>::new(), "mounts left");
    for id in &ids {
        assert_eq!(cgroups_of(id), Vec::<String>::new());
        assert!(
            !d.data_root.join("containers").join(id).exists(),
            "{id} dir left"
        );
    }
    let shim_dir = d.exec_root.join("shim");
    let sockets = std::fs::read_dir(&shim_dir).map(|r| r.count()).unwrap_or(0);
    assert_eq!(sockets, 0, "shim sockets left in {}", shim_dir.display());
    let fds_after = fd_count(d.pid());
    assert!(
        fds_after <= fds_before,
        "berthd holds {fds_after} fds after the soak, {fds_before} before: {:?}",
        std::fs::read_dir(format!("/proc/{}/fd", d.pid()))
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .collect::<Vec<_>>()
    );
    assert!(Path::new(&format!("/proc/{}", d.pid())).exists());
}
