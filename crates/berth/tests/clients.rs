//! Programs that speak the Docker API, not written by us: bollard (Rust) and docker-py
//! (Python, installed from PyPI into a venv this test makes), for exec and stats.

mod common;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, StatsOptionsBuilder,
};
use common::{stderr, stdout, Daemon};
use futures_util::StreamExt;
use std::path::PathBuf;
use std::process::Command;

#[tokio::test(flavor = "multi_thread")]
async fn bollard_exec_and_stats() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let docker =
        bollard::Docker::connect_with_unix(&d.host(), 30, bollard::API_DEFAULT_VERSION).unwrap();
    let body = ContainerCreateBody {
        image: Some("busybox".into()),
        cmd: Some(vec!["sleep".into(), "1000".into()]),
        host_config: Some(HostConfig {
            memory: Some(64 * 1024 * 1024),
            ..Default::default()
        }),
        ..Default::default()
    };
    let opts = CreateContainerOptionsBuilder::default()
        .name("bolt")
        .build();
    let id = docker.create_container(Some(opts), body).await.unwrap().id;
    docker.start_container(&id, None).await.unwrap();

    let exec = docker
        .create_exec(
            &id,
            CreateExecOptions {
                cmd: Some(vec!["sh", "-c", "echo out; echo err >&2; exit 4"]),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                env: Some(vec!["X=1"]),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    let (mut out, mut err) = (String::new(), String::new());
    match docker.start_exec(&exec, None).await.unwrap() {
        StartExecResults::Attached { mut output, .. } => {
            while let Some(chunk) = output.next().await {
                match chunk.unwrap() {
                    bollard::container::LogOutput::StdOut { message } => {
                        out.push_str(&String::from_utf8_lossy(&message))
                    }
                    bollard::container::LogOutput::StdErr { message } => {
                        err.push_str(&String::from_utf8_lossy(&message))
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        StartExecResults::Detached => panic!("detached"),
    }
    assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
    let info = docker.inspect_exec(&exec).await.unwrap();
    assert_eq!(info.exit_code, Some(4));
    assert_eq!(info.running, Some(false));

    let one = StatsOptionsBuilder::default()
        .stream(false)
        .one_shot(true)
        .build();
    let s = docker.stats(&id, Some(one)).next().await.unwrap().unwrap();
    assert_eq!(s.name.as_deref(), Some("/bolt"));
    let mem = s.memory_stats.unwrap();
    assert_eq!(mem.limit, Some(64 * 1024 * 1024));
    assert!(mem.usage.unwrap_or(0) > 0);
    assert!(s.pids_stats.unwrap().current.unwrap_or(0) >= 1);
    let cpu = s.cpu_stats.unwrap();
    assert!(cpu.cpu_usage.unwrap().total_usage.unwrap_or(0) > 0);

    let streaming = StatsOptionsBuilder::default().stream(true).build();
    let samples: Vec<_> = docker.stats(&id, Some(streaming)).take(2).collect().await;
    assert_eq!(samples.len(), 2);
    let (a, b) = (samples[0].as_ref().unwrap(), samples[1].as_ref().unwrap());
    assert_eq!(
        b.precpu_stats
            .as_ref()
            .unwrap()
            .cpu_usage
            .as_ref()
            .unwrap()
            .total_usage,
        a.cpu_stats
            .as_ref()
            .unwrap()
            .cpu_usage
            .as_ref()
            .unwrap()
            .total_usage
    );

    let rm = RemoveContainerOptionsBuilder::default().force(true).build();
    docker.remove_container(&id, Some(rm)).await.unwrap();
}

/// Runs a docker-py script from `tests/py` against a fresh daemon with busybox; it must
/// exit 0 and print `ok_line`.
fn run_docker_py(script: &str, ok_line: &str) {
    let py = common::docker_py_venv();
    let d = Daemon::start().with_busybox();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(script);
    let o = Command::new(py)
        .arg(path)
        .env("DOCKER_HOST", d.host())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{script} failed:\n{}\n{}\n{}",
        stdout(&o),
        stderr(&o),
        d.log()
    );
    assert!(stdout(&o).contains(ok_line));
}

#[test]
fn docker_py_exec_and_stats() {
    require_root!();
    run_docker_py("docker_py_check.py", "docker-py ok");
}

#[test]
fn docker_py_commit_save_load_archive_df() {
    require_root!();
    run_docker_py("docker_py_images.py", "docker-py images ok");
}
