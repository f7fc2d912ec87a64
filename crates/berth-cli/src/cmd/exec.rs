//! `exec`: the docker CLI's sequence — inspect the container, `POST /containers/{c}/exec`,
//! `POST /exec/{id}/start` (hijacked unless `-d`), stream, then `GET /exec/{id}/json` for
//! the exit code.

use crate::client::{api_error, full, read_json, seg, Client};
use crate::errors::{run_exit_code, status, StatusError};
use crate::opts::{expand_env, parse_env_file};
use crate::stream::{parse_detach_keys, pump, stdin_channel, StdSink};
use crate::tty;
use crate::types::{ContainerBrief, CreateResponse, ExecBrief};
use anyhow::Context;
use berth_model::api::{ExecConfig, ExecStartConfig};
use clap::Args;
use hyper::Method;
use serde::Serialize;
use std::io::IsTerminal;

#[derive(Debug, Clone, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short, long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short, long, value_name = "string")]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long = "workdir", value_name = "string")]
    pub workdir: Option<String>,
    /// CONTAINER COMMAND [ARG...]; everything after the container belongs to the command
    #[arg(
        required = true,
        num_args = 2..,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CONTAINER COMMAND [ARG...]"
    )]
    pub args: Vec<String>,
}

/// docker's `parseExec`: the create options from the flags (`ConsoleSize` stays unset:
/// the client drops it below API 1.42, and Berth speaks 1.41).
pub fn build_exec(
    a: &ExecArgs,
    lookup: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<ExecConfig> {
    let mut env = Vec::new();
    for f in &a.env_file {
        let content = std::fs::read_to_string(f).with_context(|| format!("open {f}"))?;
        env.extend(parse_env_file(&content, &lookup)?);
    }
    env.extend(a.env.iter().map(|e| expand_env(e, &lookup)));
    let attach = !a.detach;
    Ok(ExecConfig {
        user: a.user.clone().unwrap_or_default(),
        privileged: a.privileged,
        tty: a.tty,
        attach_stdin: attach && a.interactive,
        attach_stdout: attach,
        attach_stderr: attach,
        detach_keys: a.detach_keys.clone().unwrap_or_default(),
        env: if env.is_empty() { None } else { Some(env) },
        working_dir: a.workdir.clone().unwrap_or_default(),
        cmd: Some(a.args[1..].to_vec()),
        console_size: None,
    })
}

/// The create body in the docker CLI's field order (Go's `container.ExecOptions`), which
/// also carries the `Detach` flag our model does not need.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ExecWire<'a> {
    user: &'a str,
    privileged: bool,
    tty: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    console_size: Option<[u32; 2]>,
    attach_stdin: bool,
    attach_stderr: bool,
    attach_stdout: bool,
    detach: bool,
    detach_keys: &'a str,
    env: &'a Option<Vec<String>>,
    working_dir: &'a str,
    cmd: &'a Option<Vec<String>>,
}

/// The exact bytes docker sends for `POST /containers/{c}/exec` (Go's encoder adds `\n`).
pub fn exec_create_body(c: &ExecConfig, detach: bool) -> anyhow::Result<Vec<u8>> {
    let wire = ExecWire {
        user: &c.user,
        privileged: c.privileged,
        tty: c.tty,
        console_size: c.console_size,
        attach_stdin: c.attach_stdin,
        attach_stderr: c.attach_stderr,
        attach_stdout: c.attach_stdout,
        detach,
        detach_keys: &c.detach_keys,
        env: &c.env,
        working_dir: &c.working_dir,
        cmd: &c.cmd,
    };
    let mut v = serde_json::to_vec(&wire)?;
    v.push(b'\n');
    Ok(v)
}

/// `{"Detach":false,"Tty":false}\n`, `ConsoleSize` omitted as below API 1.42.
pub fn exec_start_body(s: &ExecStartConfig) -> anyhow::Result<Vec<u8>> {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Wire {
        detach: bool,
        tty: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        console_size: Option<[u32; 2]>,
    }
    let mut v = serde_json::to_vec(&Wire {
        detach: s.detach,
        tty: s.tty,
        console_size: s.console_size,
    })?;
    v.push(b'\n');
    Ok(v)
}

/// A start refused with "executable file not found"-like words keeps docker's 126/127.
fn start_error(err: anyhow::Error) -> anyhow::Error {
    let code = api_error(&err).map(|e| (run_exit_code(&e.message), e.to_string()));
    match code {
        Some((c @ (126 | 127), text)) => StatusError {
            code: c,
            message: Some(text),
        }
        .into(),
        _ => err,
    }
}

pub async fn exec(client: &Client, a: ExecArgs) -> anyhow::Result<i32> {
    let config = build_exec(&a, |k| std::env::var(k).ok())?;
    if let Some(k) = &a.detach_keys {
        parse_detach_keys(k)?;
    }
    let container = &a.args[0];
    client.ping().await?;
    // As docker: a dummy inspect first so "No such container" wins over other errors.
    let _: ContainerBrief = client
        .get_json(&format!("/containers/{}/json", seg(container)))
        .await?;
    if !a.detach && config.tty && config.attach_stdin && !std::io::stdin().is_terminal() {
        // docker prints this one bare, exit 1.
        return Err(StatusError {
            code: 1,
            message: Some("the input device is not a TTY".into()),
        }
        .into());
    }
    let body = exec_create_body(&config, a.detach)?;
    let resp = client
        .send(
            Method::POST,
            &format!("/containers/{}/exec", seg(container)),
            Some("application/json"),
            full(body),
        )
        .await?;
    let created: CreateResponse = read_json(resp).await?;
    let id = created.id;
    if id.is_empty() {
        anyhow::bail!("exec ID empty");
    }
    let start = ExecStartConfig {
        detach: a.detach,
        tty: config.tty,
        console_size: None,
    };
    let start_path = format!("/exec/{}/start", seg(&id));
    let start_body = exec_start_body(&start)?;
    if a.detach {
        client
            .send(
                Method::POST,
                &start_path,
                Some("application/json"),
                full(start_body),
            )
            .await
            .map_err(start_error)?;
        return Ok(0);
    }

    // Raw mode only when our stdin feeds the TTY, as docker's hijacked streamer does.
    let raw = (config.tty && config.attach_stdin)
        .then(tty::RawGuard::new)
        .flatten();
    let conn = client
        .upgrade_with(&start_path, "application/json", full(start_body))
        .await
        .map_err(start_error)?;
    let resize = (config.tty && std::io::stdin().is_terminal())
        .then(|| tty::monitor_size_at(client.clone(), "exec", id.clone()));
    let keys = if config.tty && config.attach_stdin {
        let k = a.detach_keys.as_deref().unwrap_or("ctrl-p,ctrl-q");
        Some(parse_detach_keys(k)?)
    } else {
        None
    };
    let stdin = config.attach_stdin.then(stdin_channel);
    let outcome = pump(conn, config.tty, stdin, keys, &mut StdSink).await;
    if let Some(h) = resize {
        h.abort();
    }
    drop(raw);
    outcome?;
    let inspect: ExecBrief = client.get_json(&format!("/exec/{}/json", seg(&id))).await?;
    match inspect.exit_code.unwrap_or(0) {
        0 => Ok(0),
        c => Err(status(c as i32)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: ExecArgs,
    }

    fn parse(argv: &[&str]) -> ExecArgs {
        T::try_parse_from(std::iter::once("exec").chain(argv.iter().copied()))
            .unwrap()
            .a
    }

    /// The `POST …/exec` body of a trace, byte for byte (with its trailing newline).
    fn trace_body(file: &str) -> String {
        let path = format!("/work/shared/reference/api-traces/{file}");
        let text = std::fs::read_to_string(path).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("{\"User\":"))
            .expect("exec body in trace");
        format!("{}\n", line.trim_end_matches("\\n"))
    }

    fn body(argv: &[&str]) -> String {
        let a = parse(argv);
        let c = build_exec(&a, |_| None).unwrap();
        String::from_utf8(exec_create_body(&c, a.detach).unwrap()).unwrap()
    }

    #[test]
    fn create_body_matches_traces() {
        assert_eq!(
            body(&["research-trace-d", "echo", "hi-from-exec"]),
            trace_body("08_exec.txt")
        );
        assert_eq!(
            body(&["-i", "research-trace-d", "cat"]),
            trace_body("09_exec_stdin.txt")
        );
        assert_eq!(
            body(&[
                "-it",
                "research-trace-et",
                "sh",
                "-c",
                "echo hi-exec-tty; exit 4"
            ]),
            trace_body("37_exec_tty.txt")
        );
    }

    #[test]
    fn create_body_round_trips_through_the_model() {
        let a = parse(&[
            "-u",
            "1000:1000",
            "-w",
            "/tmp",
            "-e",
            "A=1",
            "-e",
            "FROM_HOST",
            "--privileged",
            "--detach-keys",
            "ctrl-x",
            "c",
            "env",
        ]);
        let lookup = |k: &str| (k == "FROM_HOST").then(|| "hv".to_string());
        let c = build_exec(&a, lookup).unwrap();
        let bytes = exec_create_body(&c, false).unwrap();
        let back: ExecConfig = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, c);
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["Env"], serde_json::json!(["A=1", "FROM_HOST=hv"]));
        assert_eq!(v["User"], "1000:1000");
        assert_eq!(v["WorkingDir"], "/tmp");
        assert_eq!(v["DetachKeys"], "ctrl-x");
        assert_eq!(v["Privileged"], true);
        // -d: nothing attached, Detach set.
        let a = parse(&["-d", "-i", "c", "sleep", "1"]);
        let c = build_exec(&a, |_| None).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&exec_create_body(&c, a.detach).unwrap()).unwrap();
        assert_eq!(
            (
                &v["AttachStdin"],
                &v["AttachStdout"],
                &v["AttachStderr"],
                &v["Detach"]
            ),
            (
                &serde_json::json!(false),
                &serde_json::json!(false),
                &serde_json::json!(false),
                &serde_json::json!(true)
            )
        );
    }

    #[test]
    fn start_body_matches_traces() {
        let s = |detach, tty| {
            String::from_utf8(
                exec_start_body(&ExecStartConfig {
                    detach,
                    tty,
                    console_size: None,
                })
                .unwrap(),
            )
            .unwrap()
        };
        assert_eq!(s(false, false), "{\"Detach\":false,\"Tty\":false}\n");
        assert_eq!(s(false, true), "{\"Detach\":false,\"Tty\":true}\n");
        assert_eq!(s(true, false), "{\"Detach\":true,\"Tty\":false}\n");
    }

    #[test]
    fn args_after_the_container_are_the_command() {
        let a = parse(&["-it", "c", "sh", "-c", "x"]);
        assert!(a.interactive && a.tty && !a.detach);
        assert_eq!(a.args, ["c", "sh", "-c", "x"]);
        let a = parse(&["-e", "K=V", "c", "ls", "-l", "-e", "--privileged", "-d"]);
        assert_eq!(a.env, ["K=V"]);
        assert!(!a.privileged && !a.detach);
        assert_eq!(a.args, ["c", "ls", "-l", "-e", "--privileged", "-d"]);
        assert!(T::try_parse_from(["exec", "c"]).is_err());
        assert!(T::try_parse_from(["exec"]).is_err());
    }

    #[test]
    fn start_refusals_keep_docker_codes() {
        let e = |m: &str| {
            start_error(
                crate::client::ApiError {
                    status: hyper::StatusCode::CONFLICT,
                    message: m.into(),
                }
                .into(),
            )
        };
        let code = |err: &anyhow::Error| err.downcast_ref::<StatusError>().map(|s| s.code);
        assert_eq!(
            code(&e("exec: \"nope\": executable file not found in $PATH")),
            Some(127)
        );
        assert_eq!(code(&e("exec /etc: permission denied")), Some(126));
        let err = e("Container x is not running");
        assert_eq!(code(&err), None);
        assert_eq!(crate::errors::report(&err), 1);
    }
}
