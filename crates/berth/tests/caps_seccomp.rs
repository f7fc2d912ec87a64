//! The default confinement of a container and of an exec into it, as runc gives it:
//! Docker's default capability set in every set but inheritable, one seccomp filter, and
//! no `no_new_privs` (Berth loads a precompiled filter, then narrows the capabilities
//! itself: this proves the end state is the same).

mod common;
use common::{stderr, stdout, Daemon};

/// Docker's default capabilities as a kernel mask (CHOWN DAC_OVERRIDE FOWNER FSETID KILL
/// SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP).
const DEFAULT_CAPS: &str = "00000000a80425fb";

fn status(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in {text}"))
        .trim()
        .to_string()
}

fn check(text: &str, caps: &str) {
    assert_eq!(status(text, "Seccomp"), "2", "{text}");
    assert_eq!(status(text, "Seccomp_filters"), "1", "{text}");
    assert_eq!(status(text, "NoNewPrivs"), "0", "{text}");
    for set in ["CapBnd", "CapEff", "CapPrm"] {
        assert_eq!(status(text, set), caps, "{set} in {text}");
    }
    assert_eq!(status(text, "CapInh"), "0000000000000000", "{text}");
}

#[test]
fn init_and_exec_are_confined_like_runc() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let o = d.berth(&["run", "--rm", "busybox", "cat", "/proc/self/status"]);
    assert!(o.status.success(), "{}", stderr(&o));
    check(&stdout(&o), DEFAULT_CAPS);

    // --cap-drop and --cap-add reach every set; CAP_SYS_ADMIN, which the filter load
    // borrows, is gone again unless asked for.
    let o = d.berth(&[
        "run",
        "--rm",
        "--cap-drop",
        "NET_RAW",
        "--cap-add",
        "SYS_PTRACE",
        "busybox",
        "cat",
        "/proc/self/status",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    check(&stdout(&o), "00000000a80c05fb");

    let o = d.berth(&["run", "-d", "--name", "conf", "busybox", "sleep", "1000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for _ in 0..2 {
        let o = d.berth(&["exec", "conf", "cat", "/proc/self/status"]);
        assert!(o.status.success(), "{}", stderr(&o));
        check(&stdout(&o), DEFAULT_CAPS);
    }
    // A non-root exec user ends with no capabilities, as with runc.
    let o = d.berth(&["exec", "-u", "1000", "conf", "cat", "/proc/self/status"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(status(&stdout(&o), "CapEff"), "0000000000000000");
    assert_eq!(status(&stdout(&o), "Seccomp"), "2");
    // The filter filters: Docker's profile refuses unshare(CLONE_NEWUSER), which the
    // kernel alone would allow; unconfined, it works.
    let o = d.berth(&["exec", "conf", "unshare", "-U", "true"]);
    assert!(
        stderr(&o).contains("Operation not permitted"),
        "{}",
        stderr(&o)
    );
    let o = d.berth(&["run", "--rm", "busybox", "unshare", "-U", "true"]);
    assert!(
        stderr(&o).contains("Operation not permitted"),
        "{}",
        stderr(&o)
    );
    let o = d.berth(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "unshare",
        "-U",
        "true",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // CAP_SYS_ADMIN, borrowed for the filter load, really is gone: mount fails.
    let o = d.berth(&["exec", "conf", "mount", "-t", "tmpfs", "t", "/mnt"]);
    assert!(!o.status.success());
    // Filters are compiled once per profile and exec root: the default one and the one
    // --cap-add SYS_PTRACE widens (Docker's profile depends on the capabilities).
    let cached: Vec<_> = std::fs::read_dir(d.exec_root.join("seccomp"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(cached.len(), 2, "{cached:?}");
}

#[test]
fn privileged_gets_every_capability_the_daemon_holds() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    let held = status(&own, "CapBnd");
    let o = d.berth(&[
        "run",
        "--rm",
        "--privileged",
        "busybox",
        "sh",
        "-c",
        "cat /proc/self/status; mount -t tmpfs t /tmp && echo mounted",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(status(&out, "CapEff"), held, "{out}");
    assert_eq!(status(&out, "Seccomp"), "0", "{out}");
    assert!(out.contains("mounted"), "{out}");
    let o = d.docker(&[
        "run",
        "--rm",
        "--cap-add",
        "ALL",
        "busybox",
        "cat",
        "/proc/self/status",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(status(&stdout(&o), "CapEff"), held);
}
