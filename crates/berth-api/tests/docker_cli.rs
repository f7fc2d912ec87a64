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

/// `docker start -a` drives attach (101 upgrade, multiplexed frames) and wait together,
/// like trace 27_create_start_attach.
#[tokio::test(flavor = "multi_thread")]
async fn docker_cli_start_attach_stdin() {
    let s = support::start().await;
    let cfg = s.dir.join("docker-config");
    std::fs::create_dir_all(&cfg).unwrap();
    let fake = s.fake.clone();
    // The fake's wait resolves on this signal; the CLI exits with its status code (3).
    let releaser = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        fake.exit.send_replace(true);
    });
    let mut cmd = tokio::process::Command::new("docker");
    cmd.args(["start", "-a", "-i", "echo"])
        .env("DOCKER_HOST", format!("unix://{}", s.sock.display()))
        .env("DOCKER_CONFIG", &cfg)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => panic!("{e}"),
    };
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"hello-stdin\n").await.unwrap();
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("docker start -a hung")
        .unwrap();
    releaser.await.unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
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
    s.shutdown().await;
}
