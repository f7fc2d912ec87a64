//! `logs --since/--until/--timestamps/--details`, through berth and the docker CLI.

mod common;
use common::*;

/// Timestamps of each line as `logs -t` prints them, with the line text.
fn stamped(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(t, rest)| (t.to_string(), rest.to_string()))
        .collect()
}

#[test]
fn since_until_timestamps_and_details() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let o = d.berth(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--label",
        "team=a b",
        "-e",
        "TIER=web",
        "--log-opt",
        "labels=team",
        "--log-opt",
        "env=TIER",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4; do echo line-$i; sleep 0.4; done",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&d.berth(&["wait", "slow"])).trim(), "0");

    let lines = stamped(&stdout(&d.berth(&["logs", "-t", "slow"])));
    assert_eq!(lines.len(), 4, "{lines:?}");
    for (t, _) in &lines {
        // RFC3339NanoFixed: always nine fractional digits, like dockerd.
        let frac = t.split('.').nth(1).unwrap_or("");
        assert_eq!(frac.len(), 10, "{t}");
        assert!(frac.ends_with('Z'), "{t}");
    }
    // --since the second line's time keeps lines 2..4; --until it keeps lines 1..2.
    let second = &lines[1].0;
    assert_eq!(
        stdout(&d.berth(&["logs", "--since", second, "slow"])),
        "line-2\nline-3\nline-4\n"
    );
    assert_eq!(
        stdout(&d.berth(&["logs", "--until", second, "slow"])),
        "line-1\nline-2\n"
    );
    assert_eq!(
        stdout(&d.docker(&["logs", "--since", second, "--until", &lines[2].0, "slow"])),
        "line-2\nline-3\n"
    );
    // Relative times count back from now: --since 1h keeps all, --until 1h none.
    assert_eq!(
        stdout(&d.berth(&["logs", "--since", "1h", "slow"]))
            .lines()
            .count(),
        4
    );
    let o = d.berth(&["logs", "--until", "1h", "slow"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");

    // --details prefixes the attributes chosen by --log-opt labels/env, query-escaped.
    for out in [
        d.berth(&["logs", "--details", "slow"]),
        d.docker(&["logs", "--details", "slow"]),
    ] {
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            stdout(&out).lines().next(),
            Some("TIER=web,team=a+b line-1"),
            "{}",
            stdout(&out)
        );
    }
    let raw = std::fs::read_to_string(
        d.data_root
            .join("containers")
            .join(stdout(&d.berth(&["inspect", "-f", "{{.Id}}", "slow"])).trim())
            .join(format!(
                "{}-json.log",
                stdout(&d.berth(&["inspect", "-f", "{{.Id}}", "slow"])).trim()
            )),
    )
    .unwrap();
    assert!(
        raw.lines()
            .next()
            .unwrap()
            .contains(r#""stream":"stdout","attrs":{"TIER":"web","team":"a b"},"time":"#),
        "{raw}"
    );

    // Without log attrs, --details still adds dockerd's separating space.
    d.berth(&["run", "--name", "plain", "busybox", "echo", "x"]);
    assert_eq!(stdout(&d.berth(&["logs", "--details", "plain"])), " x\n");
    // A bad regex is refused with the option named.
    let o = d.berth(&["run", "--log-opt", "env-regex=(", "busybox", "true"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("env-regex"), "{}", stderr(&o));
}
