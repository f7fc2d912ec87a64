//! `GET /system/df` and `system df [-v]`: images sharing a layer count it once in
//! `LayersSize` and show it as `SharedSize`; containers report their read-write bytes.
//! Checked through the API, `berth` and the docker CLI.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn df_json(d: &Daemon) -> Value {
    let resp = d
        .request("GET", "/v1.41/system/df", "")
        .expect("GET /system/df");
    let (head, body) = resp.split_once("\r\n\r\n").expect("http response");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{resp}"
    );
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Bytes of regular-file content in a tar: what a layer made from it holds.
fn tar_content_size(path: &Path) -> i64 {
    let mut a = tar::Archive::new(std::fs::File::open(path).unwrap());
    a.entries()
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.header().entry_type().is_file())
        .map(|e| e.header().size().unwrap() as i64)
        .sum()
}

/// busybox plus one file of `extra` bytes: a layer of its own.
fn busybox_plus(dir: &Path, extra: usize) -> PathBuf {
    let path = dir.join("plus.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
    let mut base = tar::Archive::new(std::fs::File::open(busybox_tar()).unwrap());
    for e in base.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        b.append(&h, &mut e).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(extra as u64);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, "extra.bin", &vec![7u8; extra][..])
        .unwrap();
    b.finish().unwrap();
    path
}

fn ok(o: &std::process::Output, what: &str) -> String {
    assert!(o.status.success(), "{what}: {}{}", stdout(o), stderr(o));
    stdout(o)
}

fn image<'a>(du: &'a Value, id: &str) -> &'a Value {
    du["Images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["Id"] == id)
        .unwrap_or_else(|| panic!("image {id} not in {du}"))
}

/// go-units HumanSize for the sizes these tests produce.
fn human(n: i64) -> String {
    let mut x = n as f64;
    let units = ["B", "kB", "MB", "GB"];
    let mut i = 0;
    while x >= 1000.0 && i < units.len() - 1 {
        x /= 1000.0;
        i += 1;
    }
    let digits = if x >= 100.0 {
        1
    } else if x >= 10.0 {
        2
    } else {
        3
    };
    let s = format!("{x:.digits$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{}", units[i])
}

/// Runs `docker`, `berth`, `docker` with the same arguments: berth must print what one of
/// the docker runs printed (a "N seconds ago" may tick between runs).
fn same_as_docker(d: &Daemon, args: &[&str]) -> String {
    let before = ok(&d.docker(args), "docker");
    let ours = ok(&d.berth(args), "berth");
    let after = ok(&d.docker(args), "docker");
    assert!(
        ours == before || ours == after,
        "berth {args:?} printed:\n{ours}\ndocker printed:\n{before}"
    );
    ours
}

#[test]
fn shared_layers_count_once() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let busybox = busybox_tar();
    let base = tar_content_size(&busybox);
    let extra = 250_000;
    // A second image on the very same layer, and one with a layer of its own.
    let b = ok(
        &d.berth(&["import", "-m", "b", busybox.to_str().unwrap(), "second:1"]),
        "import",
    )
    .trim()
    .to_string();
    let plus = busybox_plus(&d.dir, extra);
    let c = ok(
        &d.berth(&["import", plus.to_str().unwrap(), "plus:1"]),
        "import",
    )
    .trim()
    .to_string();
    let a = ok(
        &d.berth(&["images", "-q", "--no-trunc", "busybox"]),
        "images",
    )
    .trim()
    .to_string();
    // A stopped container that wrote 12345 bytes, on busybox.
    ok(
        &d.berth(&[
            "run",
            "--name",
            "writer",
            "busybox",
            "sh",
            "-c",
            "head -c 12345 /dev/zero > /written",
        ]),
        "run",
    );

    // Its changes committed: an image of two layers, the base shared with busybox.
    let written = 12345i64;
    let e = ok(&d.berth(&["commit", "writer", "committed:1"]), "commit")
        .trim()
        .to_string();

    let du = df_json(&d);
    let layers = base + (base + extra as i64) + written;
    assert_eq!(du["LayersSize"], layers, "{du}");
    for (id, size, shared, containers) in [
        (&a, base, base, 1),
        (&b, base, base, 0),
        (&c, base + extra as i64, 0, 0),
        (&e, base + written, base, 0),
    ] {
        let i = image(&du, id);
        assert_eq!(i["Size"], size, "{i}");
        assert_eq!(i["SharedSize"], shared, "{i}");
        assert_eq!(i["Containers"], containers, "{i}");
    }
    assert_eq!(image(&du, &b)["RepoTags"][0], "second:1");
    let ctrs = du["Containers"].as_array().unwrap();
    assert_eq!(ctrs.len(), 1, "{du}");
    assert_eq!(ctrs[0]["Names"][0], "/writer");
    assert_eq!(ctrs[0]["SizeRw"], 12345, "{du}");
    assert_eq!(ctrs[0]["SizeRootFs"], 12345 + base, "{du}");
    assert_eq!(du["Volumes"], serde_json::json!([]));
    assert_eq!(du["BuilderSize"], 0);

    // The summary table, the same from berth and the docker CLI.
    let table = same_as_docker(&d, &["system", "df"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    );
    // Reclaimable: all layers but the unique part of the one image in use (none: its
    // layer is shared), so everything.
    let reclaim = layers;
    let want = format!(
        "Images 4 1 {} {} ({}%)",
        human(layers),
        human(reclaim),
        reclaim * 100 / layers
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>().join(" "),
        want,
        "{table}"
    );
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>().join(" "),
        format!("Containers 1 0 {} {} (100%)", human(12345), human(12345)),
        "{table}"
    );
    assert!(lines[3].starts_with("Local Volumes   0         0         0B        0B"));
    assert!(lines[4].starts_with("Build Cache     0         0         0B        0B"));

    // Verbose: per image shared and unique sizes, per container its size.
    let verbose = same_as_docker(&d, &["system", "df", "-v"]);
    let row = |name: &str| {
        verbose
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row in\n{verbose}"))
            .split("  ")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let plus_row = row("plus ");
    assert_eq!(
        plus_row[plus_row.len() - 3..],
        [
            "0B".to_string(),
            human(base + extra as i64),
            "0".to_string()
        ],
        "{verbose}"
    );
    let second = row("second ");
    assert_eq!(
        second[second.len() - 3..],
        [human(base), "0B".to_string(), "0".to_string()],
        "{verbose}"
    );
    let committed = row("committed ");
    assert_eq!(
        committed[committed.len() - 3..],
        [human(base), human(written), "0".to_string()],
        "{verbose}"
    );
    assert!(row("busybox ").last().unwrap() == "1", "{verbose}");
    assert!(verbose.contains("12.3kB"), "{verbose}");
    // Formats.
    let json = ok(&d.berth(&["system", "df", "--format", "json"]), "json");
    let first: Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["Type"], "Images");
    assert_eq!(first["TotalCount"], "4");
    same_as_docker(&d, &["system", "df", "--format", "{{.Type}}={{.Size}}"]);

    // Deleting the unique image takes its layer out of LayersSize.
    ok(&d.berth(&["rmi", "plus:1"]), "rmi");
    let du = df_json(&d);
    assert_eq!(du["LayersSize"], base + written, "{du}");
    ok(&d.berth(&["rmi", "committed:1"]), "rmi");
    let du = df_json(&d);
    assert_eq!(du["LayersSize"], base, "{du}");
    assert_eq!(image(&du, &a)["SharedSize"], base, "{du}");
    ok(&d.berth(&["rm", "writer"]), "rm");
    let du = df_json(&d);
    assert_eq!(du["Containers"], serde_json::json!([]));
    assert_eq!(image(&du, &a)["Containers"], 0);
}
