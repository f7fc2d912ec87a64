//! The real docker CLI against the API over the fake backend: the client whose
//! expectations the traces record. Skipped when no `docker` binary is installed.

mod support;

use std::process::Output;

async fn docker(
    sock: &std::path::Path,
    config_dir: &std::path::Path,
    args: &[&str],
) -> Option<Output> {
    let out = tokio::process::Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", format!("unix://{}", sock.display()))
        .env("DOCKER_CONFIG", config_dir)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_API_VERSION")
        .output()
        .await;
    match out {
        Ok(o) => Some(o),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("running docker: {e}"),
    }
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_cli_version_ps_images_inspect() {
    let s = support::start().await;
    let cfg = s.dir.join("docker-config");
    std::fs::create_dir_all(&cfg).unwrap();
    let Some(out) = docker(&s.sock, &cfg, &["version"]).await else {
        eprintln!("docker CLI not installed; skipping");
        return;
    };
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("API version:      1.41"), "{}", text(&out));

    let out = docker(&s.sock, &cfg, &["ps", "-a"]).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("c1c1c1c1c1c1"),
        "{}",
        text(&out)
    );

    let out = docker(&s.sock, &cfg, &["images"]).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("busybox"),
        "{}",
        text(&out)
    );

    let out = docker(
        &s.sock,
        &cfg,
        &["inspect", "--type", "container", "-f", "{{.Name}}", "c1"],
    )
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "/c1");

    let out = docker(&s.sock, &cfg, &["inspect", "--type", "container", "nope"])
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No such container: nope"),
        "{}",
        text(&out)
    );

    let out = docker(&s.sock, &cfg, &["logs", "c1"]).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "line1\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");

    let out = docker(&s.sock, &cfg, &["stop", "c1"]).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = docker(&s.sock, &cfg, &["rm", "-f", "c1"]).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    s.shutdown().await;
}

/// Runs docker with `stdin` piped in, bounded in time so a hang fails instead of blocking.
async fn docker_with_stdin(s: &support::TestServer, args: &[&str], stdin: &[u8]) -> Option<Output> {
    use tokio::io::AsyncWriteExt;
    let cfg = s.dir.join("docker-config");
    std::fs::create_dir_all(&cfg).unwrap();
    let mut child = match tokio::process::Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", format!("unix://{}", s.sock.display()))
        .env("DOCKER_CONFIG", &cfg)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("{e}"),
    };
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin).await.unwrap();
    drop(pipe);
    let out = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("docker hung")
        .unwrap();
    Some(out)
}

/// `docker start -a -i` drives attach (101 upgrade, multiplexed frames, stdin then
/// half-close) and wait together, like trace 27_create_start_attach.
#[tokio::test(flavor = "multi_thread")]
async fn docker_cli_start_attach_stdin() {
    let s = support::start().await;
    let Some(out) = docker_with_stdin(&s, &["start", "-a", "-i", "echo"], b"hello-stdin\n").await
    else {
        return;
    };
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello-stdin\n",
        "{}",
        text(&out)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "bye\n",
        "{}",
        text(&out)
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    s.shutdown().await;
}

/// `docker run --rm -i`: create, attach, wait?condition=removed, start (traces 01, 02).
#[tokio::test(flavor = "multi_thread")]
async fn docker_cli_run_with_stdin() {
    let s = support::start().await;
    let Some(out) = docker_with_stdin(
        &s,
        &["run", "--rm", "-i", "busybox", "cat"],
        b"hello-stdin\n",
    )
    .await
    else {
        return;
    };
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello-stdin\n",
        "{}",
        text(&out)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "bye\n",
        "{}",
        text(&out)
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let created = s.fake.created.lock().unwrap().clone();
    assert_eq!(created[0].1.config.cmd, Some(vec!["cat".to_string()]));
    assert!(created[0].1.host_config.as_ref().unwrap().auto_remove);
    s.shutdown().await;
}

/// `docker import -` streams stdin as the body of `POST /images/create?fromSrc=-`.
#[tokio::test(flavor = "multi_thread")]
async fn docker_cli_import() {
    let s = support::start().await;
    let body = vec![1u8; 100_000];
    let Some(out) = docker_with_stdin(&s, &["import", "-", "myimg:v1"], &body).await else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("sha256:{:064}", body.len())
    );
    let imported = s.fake.imported.lock().unwrap().clone();
    assert_eq!(imported[0].0, body.len());
    assert_eq!(imported[0].1.repo.as_deref(), Some("myimg:v1"));
    s.shutdown().await;
}

/// `docker exec`: inspect, exec create, start hijacked (101, multiplexed, half-close),
/// then exec inspect for the exit code (traces 08 and 09).
#[tokio::test(flavor = "multi_thread")]
async fn docker_cli_exec() {
    let s = support::start().await;
    let Some(out) = docker_with_stdin(&s, &["exec", "c1", "echo", "hi"], b"").await else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hi\n",
        "{}",
        text(&out)
    );
    assert!(out.stderr.is_empty(), "{}", text(&out));

    let out = docker_with_stdin(&s, &["exec", "-i", "c1", "cat"], b"piped\n")
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "piped\n",
        "{}",
        text(&out)
    );

    // The exit code comes from the exec inspect after the stream ends.
    let out = docker_with_stdin(&s, &["exec", "c1", "false", "x"], b"")
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "x\n",
        "{}",
        text(&out)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "failed\n",
        "{}",
        text(&out)
    );

    let out = docker_with_stdin(&s, &["exec", "-d", "c1", "echo", "bg"], b"")
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));

    let out = docker_with_stdin(&s, &["exec", "stopped", "ls"], b"")
        .await
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Container stopped is not running"),
        "{}",
        text(&out)
    );
    let calls = s.fake.calls();
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("exec-start ") && c.ends_with("detach=true tty=false")),
        "{calls:?}"
    );
    s.shutdown().await;
}

/// `docker top/pause/unpause/rename` as trace 28 drives them.
#[tokio::test(flavor = "multi_thread")]
async fn docker_cli_pause_unpause_rename_top() {
    let s = support::start().await;
    let Some(out) = docker_with_stdin(&s, &["top", "c1"], b"").await else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    let titles: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        titles,
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
        "{}",
        text(&out)
    );
    let row = lines.next().unwrap();
    assert!(
        row.starts_with("root") && row.ends_with("sleep 300"),
        "{}",
        text(&out)
    );

    for (args, want) in [
        (&["pause", "c1"][..], "c1\n"),
        (&["unpause", "c1"][..], "c1\n"),
        (&["rename", "c1", "c2"][..], ""),
    ] {
        let out = docker_with_stdin(&s, args, b"").await.unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{}", text(&out));
    }
    let out = docker_with_stdin(&s, &["unpause", "c1"], b"")
        .await
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Container c1 is not paused"),
        "{}",
        text(&out)
    );
    let calls = s.fake.calls();
    for c in ["top c1 None", "pause c1", "unpause c1", "rename c1 c2"] {
        assert!(calls.contains(&c.to_string()), "{c}: {calls:?}");
    }
    s.shutdown().await;
}
