//! `berth build`, `docker build` (legacy builder) and docker-py `images.build` against a
//! real berthd: every instruction's effect on the image, the step cache and its miss
//! reasons, `.dockerignore`, multi-stage builds, failing RUNs and parse errors, a large
//! context, reproducible builds with SOURCE_DATE_EPOCH, and contexts and Dockerfiles on
//! stdin.

mod common;
use common::{ok, stderr, stdout, with_stdin, Daemon};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Writes a build context under the daemon's directory (removed with it).
fn context(d: &Daemon, name: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let dir = d.dir.join(name);
    for (path, data) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn inspect(d: &Daemon, format: &str, image: &str) -> String {
    ok(&d.berth(&["image", "inspect", "--format", format, image]))
        .trim()
        .to_string()
}

fn image_id(d: &Daemon, image: &str) -> String {
    inspect(d, "{{.Id}}", image)
}

/// `berth run --rm IMAGE sh -c SCRIPT` as root with no entrypoint; its stdout.
fn sh(d: &Daemon, image: &str, script: &str) -> String {
    ok(&d.berth(&[
        "run",
        "--rm",
        "--user",
        "0",
        "--entrypoint",
        "",
        image,
        "sh",
        "-c",
        script,
    ]))
}

/// Lines of a build's output that report a step's cache outcome, in order.
fn cache_lines(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.contains("Using cache") || l.contains("cache miss"))
        .map(str::to_string)
        .collect()
}

#[test]
fn instructions_set_config_files_and_history() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let mut tarball = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(9);
    h.set_mode(0o640);
    h.set_mtime(1_700_000_000);
    tarball
        .append_data(&mut h, "sub/in-tar.txt", &b"from tar\n"[..])
        .unwrap();
    let tarball = tarball.into_inner().unwrap();
    let mut gzip = Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = gzip.stdin.take().unwrap();
    let copy = tarball.clone();
    let feeder = std::thread::spawn(move || std::io::Write::write_all(&mut input, &copy));
    let gz = gzip.wait_with_output().unwrap().stdout;
    feeder.join().unwrap().unwrap();
    let dockerfile = r#"FROM busybox
MAINTAINER Tester <t@example.com>
ARG A=b
ENV E1=v1 E2="two words"
LABEL l1=x "l 2"=y
WORKDIR /w/deep
COPY f.txt /app/f.txt
COPY --chown=1000:1000 --chmod=0600 f.txt /app/owned.txt
ADD arch.tar /ex/
ADD arch.tar.gz /gz
RUN echo "$A $E1" > /arg.txt
RUN <<EOF
echo heredoc-run > /hd-run.txt
echo second-line >> /hd-run.txt
EOF
COPY <<EOF /hd-copy.txt
heredoc copy
EOF
ONBUILD RUN echo onbuild > /tmp/ob.txt
USER app
EXPOSE 80 53/udp
VOLUME /vol
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s --retries=4 CMD true
SHELL ["/bin/sh", "-xc"]
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo hello from cmd"]
"#;
    let ctx = context(
        &d,
        "ctx",
        &[
            ("Dockerfile", dockerfile.as_bytes()),
            ("f.txt", b"file\n"),
            ("arch.tar", &tarball),
            ("arch.tar.gz", &gz),
        ],
    );
    let out = ok(&d.berth(&["build", "--label", "extra=1", "-t", "all:v1", s(&ctx)]));
    assert!(out.contains("Successfully tagged all:v1"), "{out}");

    let cfg: serde_json::Value =
        serde_json::from_str(&inspect(&d, "{{json .Config}}", "all:v1")).unwrap();
    let env: Vec<&str> = cfg["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(env.contains(&"E1=v1"), "{cfg}");
    assert!(env.contains(&"E2=two words"), "{cfg}");
    assert_eq!(cfg["Cmd"], serde_json::json!(["echo hello from cmd"]));
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(cfg["WorkingDir"], "/w/deep");
    assert_eq!(cfg["User"], "app");
    assert_eq!(
        cfg["ExposedPorts"],
        serde_json::json!({"80/tcp": {}, "53/udp": {}})
    );
    assert_eq!(cfg["Volumes"], serde_json::json!({"/vol": {}}));
    assert_eq!(
        cfg["Labels"],
        serde_json::json!({"l1": "x", "l 2": "y", "extra": "1"})
    );
    assert_eq!(cfg["StopSignal"], "SIGUSR1");
    assert_eq!(
        cfg["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "true"])
    );
    assert_eq!(cfg["Healthcheck"]["Interval"], 5_000_000_000u64);
    assert_eq!(cfg["Healthcheck"]["Retries"], 4);
    assert_eq!(cfg["Shell"], serde_json::json!(["/bin/sh", "-xc"]));
    assert_eq!(
        cfg["OnBuild"],
        serde_json::json!(["RUN echo onbuild > /tmp/ob.txt"])
    );
    assert_eq!(
        inspect(&d, "{{.Author}}", "all:v1"),
        "Tester <t@example.com>"
    );

    // Files: COPY, COPY --chown --chmod, ADD's extraction, RUN with a build arg and ENV,
    // heredocs, WORKDIR's directory.
    let files = sh(
        &d,
        "all:v1",
        "stat -c '%n %u:%g %a' /app/f.txt /app/owned.txt /ex/sub/in-tar.txt /w/deep; \
         cat /app/owned.txt /ex/sub/in-tar.txt /gz/sub/in-tar.txt /arg.txt /hd-run.txt /hd-copy.txt; \
         ls /ex",
    );
    let want = "/app/f.txt 0:0 644\n/app/owned.txt 1000:1000 600\n/ex/sub/in-tar.txt 0:0 640\n\
                /w/deep 0:0 755\nfile\nfrom tar\nfrom tar\nb v1\nheredoc-run\nsecond-line\nheredoc copy\nsub\n";
    assert_eq!(files, want);

    // The image's own entrypoint + cmd, as USER app in WORKDIR.
    let o = ok(&d.berth(&["run", "--rm", "all:v1", "echo $(id -u) $(pwd) $E2"]));
    assert_eq!(o.trim(), "1000 /w/deep two words");

    // History: metadata steps as `#(nop)`, RUN with its build args.
    let hist = ok(&d.berth(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        "all:v1",
    ]));
    assert!(
        hist.lines()
            .any(|l| l.contains("#(nop)  ENV E1=v1") && l.starts_with("/bin/sh -c")),
        "{hist}"
    );
    assert!(
        hist.lines()
            .any(|l| l.starts_with("|1 A=b /bin/sh -c echo \"$A $E1\" > /arg.txt")),
        "{hist}"
    );
    assert!(
        hist.contains("#(nop)  CMD [\"echo hello from cmd\"]"),
        "{hist}"
    );
    assert!(hist.contains("#(nop) WORKDIR /w/deep"), "{hist}");

    // ONBUILD: the trigger runs when a child builds FROM it.
    let child = context(
        &d,
        "child",
        &[("Dockerfile", b"FROM all:v1\nLABEL child=1\n")],
    );
    let out = ok(&d.berth(&["build", "-t", "child", s(&child)]));
    assert!(out.contains("Executing 1 build trigger"), "{out}");
    assert_eq!(sh(&d, "child", "cat /tmp/ob.txt"), "onbuild\n");
    assert_eq!(inspect(&d, "{{json .Config.OnBuild}}", "child"), "null");
}

#[test]
fn cache_hits_misses_and_reasons() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let df = "FROM busybox\nARG V=1\nENV X=1\nRUN echo pre > /pre\nCOPY f.txt /f.txt\n\
              RUN cat /f.txt > /copy\nCOPY g.txt /g.txt\nRUN echo $V > /v\n";
    let ctx = context(
        &d,
        "ctx",
        &[
            ("Dockerfile", df.as_bytes()),
            ("f.txt", b"a\n"),
            ("g.txt", b"g\n"),
        ],
    );
    let first = ok(&d.berth(&["build", "-t", "c:1", s(&ctx)]));
    assert!(cache_lines(&first).is_empty(), "{first}");
    let id1 = image_id(&d, "c:1");

    // Same inputs: every step hits and the image is the same.
    let second = ok(&d.berth(&["build", "-t", "c:2", s(&ctx)]));
    let lines = cache_lines(&second);
    assert_eq!(lines.len(), 7, "{second}");
    assert!(lines.iter().all(|l| l == " ---> Using cache"), "{second}");
    assert_eq!(image_id(&d, "c:2"), id1);

    // f.txt changes: the steps before its COPY hit, the COPY says why, the rest follow.
    std::fs::write(ctx.join("f.txt"), b"b\n").unwrap();
    let third = ok(&d.berth(&["build", "-t", "c:3", s(&ctx)]));
    assert_eq!(
        cache_lines(&third),
        vec![
            " ---> Using cache",
            " ---> Using cache",
            " ---> Using cache",
            " ---> cache miss: COPY f.txt /f.txt (f.txt changed)",
            " ---> cache miss: RUN cat /f.txt > /copy (previous step changed)",
            " ---> cache miss: COPY g.txt /g.txt (previous step changed)",
            " ---> cache miss: RUN echo $V > /v (previous step changed)",
        ],
        "{third}"
    );
    assert_ne!(image_id(&d, "c:3"), id1);
    assert_eq!(sh(&d, "c:3", "cat /copy /v"), "b\n1\n");

    // --no-cache: nothing from the cache, and RUN steps run again.
    let fresh = ok(&d.berth(&["build", "--no-cache", "-t", "c:4", s(&ctx)]));
    assert!(!fresh.contains("Using cache"), "{fresh}");
    assert_eq!(fresh.matches("Running in").count(), 3, "{fresh}");

    // A changed build arg: the RUN steps after the ARG miss, naming the arg.
    let arg = ok(&d.berth(&["build", "--build-arg", "V=2", "-t", "c:5", s(&ctx)]));
    assert!(
        arg.contains("cache miss: RUN echo pre > /pre (build arg V changed)"),
        "{arg}"
    );
    assert_eq!(
        cache_lines(&arg)[..2],
        [" ---> Using cache", " ---> Using cache"]
    );
    assert_eq!(sh(&d, "c:5", "cat /v"), "2\n");
    // And back to the default: all hits against the earlier build.
    let back = ok(&d.berth(&["build", "-t", "c:6", s(&ctx)]));
    assert!(
        cache_lines(&back).iter().all(|l| l == " ---> Using cache"),
        "{back}"
    );
}

#[test]
fn dockerignore_excludes_files() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let ctx = context(
        &d,
        "ctx",
        &[
            ("Dockerfile", b"FROM busybox\nCOPY . /ctx\n"),
            (".dockerignore", b"*.log\n!keep.log\n**/tmp\n"),
            ("a.txt", b"a"),
            ("drop.log", b"x"),
            ("keep.log", b"k"),
            ("sub/nested.log", b"n"),
            ("tmp/t.txt", b"t"),
            ("sub/tmp/t.txt", b"t"),
            ("sub/deep/tmp/t.txt", b"t"),
            ("sub/b.txt", b"b"),
        ],
    );
    ok(&d.berth(&["build", "-t", "ign", s(&ctx)]));
    let found = sh(&d, "ign", "cd /ctx && find . -type f | sort");
    // Like docker: `*.log` only matches at the root, so sub/nested.log stays.
    assert_eq!(
        found,
        "./.dockerignore\n./Dockerfile\n./a.txt\n./keep.log\n./sub/b.txt\n./sub/nested.log\n",
    );
    let dirs = sh(&d, "ign", "cd /ctx && find . -name tmp");
    assert_eq!(dirs, "");

    // Naming an excluded file fails as dockerd does.
    std::fs::write(ctx.join("Dockerfile"), b"FROM busybox\nCOPY drop.log /x\n").unwrap();
    let o = d.berth(&["build", s(&ctx)]);
    let all = stdout(&o) + &stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert!(
        all.contains(
            "COPY failed: file not found in build context or excluded by .dockerignore: \
             stat drop.log: file does not exist"
        ),
        "{all}"
    );
}

#[test]
fn multi_stage_copy_from_target_and_skipped_stages() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let df = r#"FROM busybox AS builder
RUN echo built > /out.txt
FROM busybox AS broken
RUN exit 7
FROM scratch AS final
COPY --from=builder /out.txt /out.txt
COPY --from=busybox /bin/busybox /bin/busybox
CMD ["/bin/busybox", "cat", "/out.txt"]
FROM final AS extra
COPY --from=0 /out.txt /extra.txt
"#;
    let ctx = context(&d, "ctx", &[("Dockerfile", df.as_bytes())]);

    // The last stage: `broken` is never needed, so its failing RUN never runs.
    let out = ok(&d.berth(&["build", "-t", "ms:all", s(&ctx)]));
    assert!(!out.contains("exit 7"), "{out}");
    assert!(!out.contains("non-zero"), "{out}");
    assert_eq!(ok(&d.berth(&["run", "--rm", "ms:all"])), "built\n");
    let o = ok(&d.berth(&["run", "--rm", "ms:all", "/bin/busybox", "cat", "/extra.txt"]));
    assert_eq!(o, "built\n");

    // --target final: the `extra` stage is not built.
    let out = ok(&d.berth(&["build", "--target", "final", "-t", "ms:final", s(&ctx)]));
    assert!(!out.contains("/extra.txt"), "{out}");
    let o = d.berth(&[
        "run",
        "--rm",
        "ms:final",
        "/bin/busybox",
        "ls",
        "/extra.txt",
    ]);
    assert!(!o.status.success());
    assert_eq!(ok(&d.berth(&["run", "--rm", "ms:final"])), "built\n");

    // --target builder: only the first stage.
    let out = ok(&d.berth(&["build", "--target", "builder", "-t", "ms:b", s(&ctx)]));
    assert!(!out.contains("COPY"), "{out}");
    assert_eq!(sh(&d, "ms:b", "cat /out.txt"), "built\n");

    // --target broken fails with the RUN's code.
    let o = d.berth(&["build", "--target", "broken", s(&ctx)]);
    assert_eq!(o.status.code(), Some(7), "{}{}", stdout(&o), stderr(&o));

    // An unknown target is refused.
    let o = d.berth(&["build", "--target", "nope", s(&ctx)]);
    assert!(!o.status.success());
    assert!((stdout(&o) + &stderr(&o)).contains("nope"));
}

fn data_root_mounts(d: &Daemon) -> Vec<String> {
    let root = d.data_root.to_string_lossy().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&root))
        .map(str::to_string)
        .collect()
}

#[test]
fn failing_run_and_parse_errors() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let ctx = context(
        &d,
        "ctx",
        &[(
            "Dockerfile",
            b"FROM busybox\nRUN echo before > /b\nRUN exit 3\nRUN echo after\n",
        )],
    );
    let o = d.berth(&["build", "-t", "fail", s(&ctx)]);
    let all = stdout(&o) + &stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{all}");
    assert!(
        all.contains("The command '/bin/sh -c exit 3' returned a non-zero code: 3"),
        "{all}"
    );
    assert!(!all.contains("echo after"), "{all}");

    let o = d
        .docker_cmd(&["build", "-t", "fail", s(&ctx)])
        .output()
        .unwrap();
    let all = stdout(&o) + &stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{all}");
    assert!(
        all.contains("The command '/bin/sh -c exit 3' returned a non-zero code: 3"),
        "{all}"
    );
    assert_eq!(ok(&d.berth(&["ps", "-a", "-q"])), "");
    let m = data_root_mounts(&d);
    assert!(m.is_empty(), "{m:#?}");
    let o = d.berth(&["image", "inspect", "fail"]);
    assert!(!o.status.success());

    // Parse error: names the line, exit 1, no image, nothing run.
    let images_before = ok(&d.berth(&["images", "-a", "-q"]));
    let bad = context(
        &d,
        "bad",
        &[(
            "Dockerfile",
            b"FROM busybox\nRUN echo one > /one\nNOTANINSTRUCTION foo\n",
        )],
    );
    let o = d.berth(&["build", "-t", "bad", s(&bad)]);
    let all = stdout(&o) + &stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert!(all.contains("dockerfile parse error line 3"), "{all}");
    assert!(!all.contains("Running in"), "{all}");
    let o = d
        .docker_cmd(&["build", "-t", "bad", s(&bad)])
        .output()
        .unwrap();
    let all = stdout(&o) + &stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert!(all.contains("dockerfile parse error line 3"), "{all}");
    assert_eq!(ok(&d.berth(&["images", "-a", "-q"])), images_before);
    assert_eq!(ok(&d.berth(&["ps", "-a", "-q"])), "");
}

#[test]
fn large_context_is_copied_intact() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let ctx = context(
        &d,
        "ctx",
        &[("Dockerfile", b"FROM busybox\nCOPY big.bin /big.bin\n")],
    );
    // 100 MiB from xorshift64*: incompressible enough, fast to make.
    let mut data = vec![0u8; 100 << 20];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for chunk in data.chunks_exact_mut(8) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        chunk.copy_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    std::fs::write(ctx.join("big.bin"), &data).unwrap();
    drop(data);
    let outside = ok(&Command::new("sha256sum")
        .arg(ctx.join("big.bin"))
        .output()
        .unwrap());
    let outside = outside.split_whitespace().next().unwrap().to_string();
    ok(&d.berth(&["build", "-t", "big", s(&ctx)]));
    let inside = sh(&d, "big", "sha256sum /big.bin; stat -c %s /big.bin");
    assert_eq!(inside, format!("{outside}  /big.bin\n{}\n", 100u64 << 20));
}

#[test]
fn source_date_epoch_builds_are_reproducible_across_data_roots() {
    require_root!();
    let d1 = Daemon::start().with_busybox();
    let d2 = Daemon::start();
    // The same base on both: d1's busybox saved and loaded into d2.
    let archive = d1.dir.join("busybox-save.tar");
    ok(&d1.berth(&["save", "-o", s(&archive), "busybox:latest"]));
    ok(&d2.berth(&["load", "-i", s(&archive)]));
    assert_eq!(image_id(&d1, "busybox"), image_id(&d2, "busybox"));

    let files: &[(&str, &[u8])] = &[
        (
            "Dockerfile",
            b"FROM scratch\nCOPY a.txt /a.txt\nCOPY dir /dir\nENV K=v\nCMD [\"/x\"]\n",
        ),
        ("a.txt", b"a\n"),
        ("dir/b.txt", b"b\n"),
    ];
    let run_files: &[(&str, &[u8])] = &[(
        "Dockerfile",
        b"FROM busybox\nRUN echo made > /made && mkdir -p /d/e && echo x > /d/e/f\nLABEL k=v\n",
    )];
    let mut ids = Vec::new();
    for (i, d) in [&d1, &d2].into_iter().enumerate() {
        let scratch = context(d, &format!("scratch{i}"), files);
        let run = context(d, &format!("run{i}"), run_files);
        let mut pair = Vec::new();
        for ctx in [&scratch, &run] {
            let o = ok(&d.berth(&[
                "build",
                "-q",
                "--build-arg",
                "SOURCE_DATE_EPOCH=1700000000",
                s(ctx),
            ]));
            pair.push(o.trim().to_string());
        }
        ids.push(pair);
    }
    assert!(ids[0][0].starts_with("sha256:"), "{ids:?}");
    assert_eq!(ids[0], ids[1]);
    assert_eq!(
        inspect(&d1, "{{.Created}}", &ids[0][0]),
        "2023-11-14T22:13:20Z"
    );
}

#[test]
fn docker_cli_build_flows() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let ctx = context(
        &d,
        "ctx",
        &[
            (
                "Dockerfile",
                b"FROM busybox\nCOPY f.txt /f.txt\nCMD [\"cat\", \"/f.txt\"]\n",
            ),
            (
                "other.Dockerfile",
                b"FROM busybox AS one\nARG WHO=nobody\nRUN echo \"hi $WHO\" > /who\n\
                  FROM one AS two\nRUN echo two > /two\n",
            ),
            ("f.txt", b"from ctx\n"),
        ],
    );

    // No DOCKER_BUILDKIT: the docker CLI without buildx falls back to the legacy builder.
    let o = ok(&d
        .docker_cmd(&["build", "-t", "x", s(&ctx)])
        .env_remove("DOCKER_BUILDKIT")
        .output()
        .unwrap());
    assert!(o.contains("Successfully tagged x:latest"), "{o}");
    assert_eq!(ok(&d.berth(&["run", "--rm", "x"])), "from ctx\n");
    let o = ok(&d.docker(&["build", "-t", "x0", s(&ctx)]));
    assert!(o.contains("Using cache"), "{o}");
    assert_eq!(image_id(&d, "x0"), image_id(&d, "x"));

    // -f, --build-arg, --target.
    let other = ctx.join("other.Dockerfile");
    ok(&d.docker(&[
        "build",
        "-f",
        s(&other),
        "--build-arg",
        "WHO=docker",
        "--target",
        "one",
        "-t",
        "y",
        s(&ctx),
    ]));
    assert_eq!(
        sh(&d, "y", "cat /who; ls /two 2>/dev/null; true"),
        "hi docker\n"
    );

    // -q prints only the ID; --iidfile writes it.
    let iid = d.dir.join("iid");
    let q = ok(&d.docker(&["build", "-q", "--iidfile", s(&iid), s(&ctx)]));
    let id = image_id(&d, "x");
    assert_eq!(q.trim(), id);
    assert_eq!(std::fs::read_to_string(&iid).unwrap().trim(), id);

    // A bare Dockerfile on stdin (no context).
    let o = with_stdin(
        d.docker_cmd(&["build", "-t", "stdin1", "-"]),
        b"FROM busybox\nRUN echo stdin > /s\n",
    );
    ok(&o);
    assert_eq!(sh(&d, "stdin1", "cat /s"), "stdin\n");
}

/// `docker build -f - DIR`: the docker CLI (28.2.2, legacy builder) adds the Dockerfile to
/// the context tar as `.dockerfile.<random>` plus a `.dockerignore`, and the tar it sends
/// ends right after the last entry's data (no padding, no end-of-archive blocks). dockerd
/// (Go's archive/tar) takes that as the end of the archive.
#[test]
fn docker_cli_build_dockerfile_from_stdin_with_context_dir() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let ctx = context(&d, "ctx", &[("f.txt", b"from ctx\n")]);
    let o = with_stdin(
        d.docker_cmd(&["build", "-f", "-", "-t", "stdin2", s(&ctx)]),
        b"FROM busybox\nCOPY f.txt /g.txt\n",
    );
    ok(&o);
    assert_eq!(sh(&d, "stdin2", "cat /g.txt"), "from ctx\n");
}

#[test]
fn berth_build_from_stdin() {
    require_root!();
    let d = Daemon::start().with_busybox();
    // A context tar on stdin.
    let mut t = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("Dockerfile", &b"FROM busybox\nCOPY in.txt /in.txt\n"[..]),
        (
            "alt/Build.file",
            &b"FROM busybox\nCOPY in.txt /alt.txt\n"[..],
        ),
        ("in.txt", &b"tarred\n"[..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        t.append_data(&mut h, name, data).unwrap();
    }
    let tarball = t.into_inner().unwrap();
    ok(&with_stdin(
        d.berth_cmd(&["build", "-t", "t1", "-"]),
        &tarball,
    ));
    assert_eq!(sh(&d, "t1", "cat /in.txt"), "tarred\n");
    ok(&with_stdin(
        d.berth_cmd(&["build", "-f", "alt/Build.file", "-t", "t2", "-"]),
        &tarball,
    ));
    assert_eq!(sh(&d, "t2", "cat /alt.txt"), "tarred\n");

    // A bare Dockerfile on stdin.
    ok(&with_stdin(
        d.berth_cmd(&["build", "-t", "t3", "-"]),
        b"FROM busybox\nRUN echo bare > /bare\n",
    ));
    assert_eq!(sh(&d, "t3", "cat /bare"), "bare\n");

    // -f - with a context directory: the Dockerfile on stdin wins over the context's.
    let ctx = context(
        &d,
        "ctx",
        &[
            ("in.txt", b"dir\n"),
            (
                "Dockerfile",
                b"FROM busybox\nCOPY in.txt /from-ctx-dockerfile\n",
            ),
        ],
    );
    ok(&with_stdin(
        d.berth_cmd(&["build", "-f", "-", "-t", "t4", s(&ctx)]),
        b"FROM busybox\nCOPY in.txt /in.txt\n",
    ));
    assert_eq!(
        sh(
            &d,
            "t4",
            "cat /in.txt; ls /from-ctx-dockerfile 2>&1 >/dev/null | wc -l"
        ),
        "dir\n1\n"
    );
}

/// `berth build -f - DIR` where DIR has no Dockerfile: the docker CLI takes `-` as "the
/// Dockerfile comes from stdin" and never looks for DIR/Dockerfile.
#[test]
fn berth_build_dockerfile_from_stdin_without_one_in_context() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let ctx = context(&d, "ctx", &[("in.txt", b"dir\n")]);
    ok(&with_stdin(
        d.berth_cmd(&["build", "-f", "-", "-t", "t5", s(&ctx)]),
        b"FROM busybox\nCOPY in.txt /in.txt\n",
    ));
    assert_eq!(sh(&d, "t5", "cat /in.txt"), "dir\n");
}

#[test]
fn docker_py_images_build() {
    require_root!();
    let py = common::docker_py_venv();
    let d = Daemon::start().with_busybox();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/docker_py_build.py");
    let ctx = context(
        &d,
        "ctx",
        &[
            (
                "Dockerfile",
                b"FROM busybox\nARG WHO=nobody\nCOPY f.txt /f.txt\nRUN echo \"hi $WHO\" > /who\n",
            ),
            ("f.txt", b"py ctx\n"),
        ],
    );
    let o = Command::new(py)
        .arg(script)
        .arg(&ctx)
        .env("DOCKER_HOST", d.host())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "docker_py_build.py failed:\n{}\n{}\n{}",
        stdout(&o),
        stderr(&o),
        d.log()
    );
    assert!(stdout(&o).contains("docker-py build ok"), "{}", stdout(&o));
}

/// A one-file HTTP server on loopback for ADD's remote sources; answers `count` requests.
fn serve_once(body: &'static [u8], count: usize) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        for _ in 0..count {
            let Ok((mut c, _)) = l.accept() else { return };
            let mut buf = [0u8; 2048];
            let _ = c.read(&mut buf);
            let req = String::from_utf8_lossy(&buf);
            let reply = if req.starts_with("GET /files/data.txt ") {
                let mut r = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                r.extend_from_slice(body);
                r
            } else {
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
            };
            let _ = c.write_all(&reply);
        }
    });
    (format!("http://{addr}"), h)
}

#[test]
fn add_fetches_a_remote_url() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let (base, server) = serve_once(b"remote content\n", 2);
    let ctx = context(
        &d,
        "ctx",
        &[(
            "Dockerfile",
            format!("FROM busybox\nADD {base}/files/data.txt /srv/\n").as_bytes(),
        )],
    );
    ok(&d.berth(&["build", "-t", "remote", s(&ctx)]));
    assert_eq!(
        sh(&d, "remote", "cat /srv/data.txt; stat -c %a /srv/data.txt"),
        "remote content\n600\n"
    );
    // A missing file fails the build with the status.
    let ctx2 = context(
        &d,
        "ctx2",
        &[(
            "Dockerfile",
            format!("FROM busybox\nADD {base}/nope /x\n").as_bytes(),
        )],
    );
    let o = d.berth(&["build", s(&ctx2)]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("404"), "{}", stderr(&o));
    server.join().unwrap();
}

/// `kill -9` of berthd while a RUN runs: after a restart the RUN container (its process
/// still alive under its shim) and its mounts are gone, and the store checks clean.
#[test]
fn daemon_killed_mid_run_leaves_nothing_after_restart() {
    require_root!();
    let mut d = Daemon::start().with_busybox();
    let ctx = context(
        &d,
        "ctx",
        &[
            ("Dockerfile", b"FROM busybox\nCOPY f /f\nRUN sleep 30\n"),
            ("f", b"x\n"),
        ],
    );
    let mut build = d
        .berth_cmd(&["build", "-t", "killed", s(&ctx)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    common::wait_until(
        "the RUN container",
        std::time::Duration::from_secs(20),
        || !stdout(&d.berth(&["ps", "-q"])).trim().is_empty(),
    );
    d.restart();
    let _ = build.wait();
    common::wait_until(
        "the leftover RUN container removed",
        std::time::Duration::from_secs(20),
        || d.ping() && stdout(&d.berth(&["ps", "-aq"])).trim().is_empty(),
    );
    assert_eq!(d.mounts(), Vec::<String>::new());
    assert!(!ok(&d.berth(&["images", "-a"])).contains("killed"));
    // The store a crashed build leaves behind checks clean (the daemon must be down).
    d.crash();
    let out = Command::new(env!("CARGO_BIN_EXE_berthd"))
        .arg("check")
        .arg("--data-root")
        .arg(&d.data_root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "check: {}{}",
        stdout(&out),
        stderr(&out)
    );
    d.restart();
}

/// `history` names every local step image, as dockerd does for a legacy build.
#[test]
fn history_names_intermediate_images() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let ctx = context(
        &d,
        "ctx",
        &[("Dockerfile", b"FROM busybox\nENV A=1\nRUN echo hi > /x\n")],
    );
    ok(&d.berth(&["build", "-t", "h", s(&ctx)]));
    let ids = ok(&d.berth(&["history", "-q", "--no-trunc", "h"]));
    let ids: Vec<&str> = ids.lines().collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_eq!(ids[0], image_id(&d, "h"));
    assert_eq!(ids[2], image_id(&d, "busybox"));
    assert!(ids[1].starts_with("sha256:"), "{ids:?}");
    // Intermediate images are listed only with -a, and are not dangling.
    let all = ok(&d.berth(&["images", "-a", "-q", "--no-trunc"]));
    assert!(all.contains(ids[1]));
    let plain = ok(&d.berth(&["images", "-q", "--no-trunc"]));
    assert!(!plain.contains(ids[1]));
    let dangling = ok(&d.berth(&["images", "-q", "--no-trunc", "-f", "dangling=true"]));
    assert!(!dangling.contains(ids[1]));
    // Removing the image takes its untagged parents with it.
    let out = ok(&d.berth(&["rmi", "h"]));
    assert!(out.contains(&format!("Deleted: {}", ids[1])), "{out}");
    assert!(ok(&d.berth(&["images", "-a", "-q"])).lines().count() == 1);
}
