//! `berth build` (also `berth image build`): the docker CLI's legacy builder client. The
//! context is streamed to `POST /build` as a chunked tar and the daemon's JSON message
//! stream is shown as it arrives.

use crate::client::{query, Client};
use crate::cmd::build_context::{self as bctx, ExtraDockerfile};
use crate::cmd::build_output::{finish_build, BuildOutput};
use crate::errors::StatusError;
use crate::opts::{ram_in_bytes, FlagError};
use crate::stream::{Sink, StdSink};
use berth_model::reference::ReferenceError;
use berth_model::Reference;
use bytes::Bytes;
use clap::Args;
use http_body_util::BodyExt;
use hyper::Method;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag", value_name = "list")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (Default is "PATH/Dockerfile")
    #[arg(short = 'f', long = "file", value_name = "string")]
    pub file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg", value_name = "list")]
    pub build_args: Vec<String>,
    /// Set the target build stage to build
    #[arg(long, value_name = "string")]
    pub target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    pub quiet: bool,
    /// Write the image ID to the file
    #[arg(long, value_name = "string")]
    pub iidfile: Option<PathBuf>,
    /// Set metadata for an image
    #[arg(long = "label", value_name = "list")]
    pub labels: Vec<String>,
    /// Remove intermediate containers after a successful build
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", require_equals = true)]
    pub rm: bool,
    /// Always remove intermediate containers
    #[arg(long = "force-rm")]
    pub force_rm: bool,
    /// Images to consider as cache sources
    #[arg(long = "cache-from", value_name = "strings")]
    pub cache_from: Vec<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long, value_name = "string")]
    pub network: Option<String>,
    /// Add a custom host-to-IP mapping ("host:ip")
    #[arg(long = "add-host", value_name = "list")]
    pub add_host: Vec<String>,
    /// Set type of progress output (auto, plain, tty); the legacy builder ignores it
    #[arg(long, value_name = "string", default_value = "auto")]
    pub progress: String,
    /// Size of "/dev/shm"
    #[arg(long = "shm-size", value_name = "bytes")]
    pub shm_size: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long, value_name = "bytes")]
    pub memory: Option<String>,
    /// PATH | URL | -
    #[arg(value_name = "PATH | URL | -")]
    pub path: String,
}

/// The flag values after docker's per-flag validators ran.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuildOptions {
    pub tags: Vec<String>,
    pub dockerfile: String,
    /// `None` for `--build-arg KEY` with KEY unset in the environment: docker sends null.
    pub build_args: BTreeMap<String, Option<String>>,
    pub labels: BTreeMap<String, String>,
    pub target: String,
    pub no_cache: bool,
    pub pull: bool,
    pub quiet: bool,
    pub rm: bool,
    pub force_rm: bool,
    pub cache_from: Vec<String>,
    pub platform: String,
    pub network: String,
    pub extra_hosts: Vec<String>,
    pub shm_size: i64,
    pub memory: i64,
}

fn flag_err(flag: &'static str, value: &str, reason: impl std::fmt::Display) -> anyhow::Error {
    FlagError {
        flag,
        value: value.to_string(),
        reason: reason.to_string(),
    }
    .into()
}

/// `opts.ValidateEnv` then `ConvertKVStringsToMapWithNil`: a bare KEY takes its value
/// from the environment, or stays null for the daemon to treat as unset.
pub fn parse_build_arg(
    val: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<(String, Option<String>)> {
    let (k, v) = match val.split_once('=') {
        Some((k, v)) => (k, Some(v.to_string())),
        None => (val, None),
    };
    if k.is_empty() {
        return Err(flag_err(
            "--build-arg",
            val,
            format!("invalid environment variable: {val}"),
        ));
    }
    Ok((k.to_string(), v.or_else(|| env(k))))
}

/// `opts.ValidateExtraHost`: `host:ip` or `host=ip`, sent as `host:ip`.
pub fn parse_extra_host(val: &str) -> anyhow::Result<String> {
    let split = val.split_once('=').or_else(|| val.split_once(':'));
    let bad = || {
        flag_err(
            "--add-host",
            val,
            format!("bad format for add-host: {val:?}"),
        )
    };
    let Some((k, v)) = split else {
        return Err(bad());
    };
    if k.is_empty() || k.contains(':') {
        return Err(bad());
    }
    if v != "host-gateway" {
        let ip = if v.len() > 2 && v.starts_with('[') && v.ends_with(']') {
            &v[1..v.len() - 1]
        } else {
            v
        };
        if ip.parse::<std::net::IpAddr>().is_err() {
            return Err(flag_err(
                "--add-host",
                val,
                format!("invalid IP address in add-host: {ip:?}"),
            ));
        }
    }
    Ok(format!("{k}:{v}"))
}

impl BuildOptions {
    pub fn from_args(a: &BuildArgs, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut o = BuildOptions {
            rm: a.rm,
            force_rm: a.force_rm,
            no_cache: a.no_cache,
            pull: a.pull,
            quiet: a.quiet,
            target: a.target.clone().unwrap_or_default(),
            cache_from: a.cache_from.clone(),
            platform: a.platform.clone().unwrap_or_default(),
            network: a.network.clone().unwrap_or_default(),
            ..Default::default()
        };
        for t in &a.tags {
            Reference::parse_normalized(t).map_err(|e| match e {
                // distribution/reference says no more than this for a malformed name.
                ReferenceError::Invalid(_) | ReferenceError::Empty => {
                    flag_err("-t, --tag", t, "invalid reference format")
                }
                // Go names the repository as normalised (`library/…` on Docker Hub).
                ReferenceError::Uppercase(name) if !name.contains('/') => flag_err(
                    "-t, --tag",
                    t,
                    format!(
                        "invalid reference format: repository name (library/{name}) \
                         must be lowercase"
                    ),
                ),
                e => flag_err("-t, --tag", t, e),
            })?;
            o.tags.push(t.clone());
        }
        for b in &a.build_args {
            let (k, v) = parse_build_arg(b, env)?;
            o.build_args.insert(k, v);
        }
        for l in &a.labels {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            if k.trim().is_empty() {
                return Err(flag_err(
                    "--label",
                    l,
                    format!("invalid label '{l}': empty name"),
                ));
            }
            o.labels.insert(k.to_string(), v.to_string());
        }
        for h in &a.add_host {
            o.extra_hosts.push(parse_extra_host(h)?);
        }
        if let Some(m) = &a.memory {
            o.memory = ram_in_bytes(m).map_err(|e| flag_err("-m, --memory", m, e))?;
        }
        if let Some(s) = &a.shm_size {
            o.shm_size = ram_in_bytes(s).map_err(|e| flag_err("--shm-size", s, e))?;
        }
        Ok(o)
    }
}

/// Go's `json.Marshal` of a string: HTML-sensitive characters escaped too, so the query
/// is byte for byte the docker CLI's.
pub fn go_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn go_json_map<'a, V: 'a>(
    m: impl IntoIterator<Item = (&'a String, V)>,
    val: impl Fn(V) -> String,
) -> String {
    let parts: Vec<String> = m
        .into_iter()
        .map(|(k, v)| format!("{}:{}", go_json_string(k), val(v)))
        .collect();
    format!("{{{}}}", parts.join(","))
}

/// `imageBuildOptionsToQuery` of the docker client: only what differs from the daemon's
/// defaults is sent (`rm=0`, never `rm=1`), and `version=1` selects the legacy builder.
pub fn build_query(o: &BuildOptions) -> Vec<(&'static str, String)> {
    let mut q: Vec<(&'static str, String)> = o.tags.iter().map(|t| ("t", t.clone())).collect();
    q.extend(o.extra_hosts.iter().map(|h| ("extrahosts", h.clone())));
    let flag = |q: &mut Vec<(&'static str, String)>, on: bool, k: &'static str, v: &str| {
        if on {
            q.push((k, v.to_string()));
        }
    };
    flag(&mut q, o.quiet, "q", "1");
    flag(&mut q, o.no_cache, "nocache", "1");
    flag(&mut q, !o.rm, "rm", "0");
    flag(&mut q, o.force_rm, "forcerm", "1");
    flag(&mut q, o.pull, "pull", "1");
    if !o.network.is_empty() && o.network != "default" {
        q.push(("networkmode", o.network.clone()));
    }
    if o.memory != 0 {
        q.push(("memory", o.memory.to_string()));
    }
    if o.shm_size != 0 {
        q.push(("shmsize", o.shm_size.to_string()));
    }
    if !o.dockerfile.is_empty() {
        q.push(("dockerfile", o.dockerfile.clone()));
    }
    if !o.target.is_empty() {
        q.push(("target", o.target.clone()));
    }
    if !o.build_args.is_empty() {
        let json = go_json_map(&o.build_args, |v: &Option<String>| match v {
            Some(s) => go_json_string(s),
            None => "null".into(),
        });
        q.push(("buildargs", json));
    }
    if !o.labels.is_empty() {
        q.push(("labels", go_json_map(&o.labels, |v| go_json_string(v))));
    }
    if !o.cache_from.is_empty() {
        let items: Vec<String> = o.cache_from.iter().map(|c| go_json_string(c)).collect();
        q.push(("cachefrom", format!("[{}]", items.join(","))));
    }
    if !o.platform.is_empty() {
        q.push(("platform", o.platform.to_lowercase()));
    }
    q.push(("version", "1".into()));
    q
}

fn is_git_url(s: &str) -> bool {
    s.starts_with("git://")
        || s.starts_with("github.com/")
        || s.starts_with("git@")
        || ((s.starts_with("http://") || s.starts_with("https://"))
            && (s.split('#').next().is_some_and(|p| p.ends_with(".git"))))
}

pub(crate) fn fail(message: String) -> anyhow::Error {
    StatusError {
        code: 1,
        message: Some(message),
    }
    .into()
}

fn prepare_err(e: impl std::fmt::Display) -> anyhow::Error {
    fail(format!("unable to prepare context: {e}"))
}

/// Reads stdin until `want` bytes or EOF.
fn read_head(r: &mut impl Read, want: usize) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(want);
    r.take(want as u64).read_to_end(&mut head)?;
    Ok(head)
}

type Tx = tokio::sync::mpsc::Sender<std::io::Result<Bytes>>;

/// What goes into the request body; each producer runs on its own thread.
enum Source {
    /// Bytes already in memory, then (maybe) the rest of stdin.
    Stdin { head: Vec<u8>, rest: bool },
    Dir {
        dir: PathBuf,
        matcher: berth_dockerfile::Matcher,
        extra: Option<ExtraDockerfile>,
    },
}

fn produce(source: Source, tx: Tx, failed: Arc<Mutex<Option<String>>>) {
    let report = |e: std::io::Error| {
        if tx.is_closed() {
            // The request is gone already; its own error says why.
            return;
        }
        *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
        let _ = tx.blocking_send(Err(e));
    };
    match source {
        Source::Stdin { head, rest } => {
            if !head.is_empty() && tx.blocking_send(Ok(Bytes::from(head))).is_err() {
                return;
            }
            if !rest {
                return;
            }
            let mut stdin = std::io::stdin();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        if tx
                            .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                            .is_err()
                        {
                            return;
                        }
                    }
                    Err(e) => return report(e),
                }
            }
        }
        Source::Dir {
            dir,
            matcher,
            extra,
        } => {
            let w = bctx::ChunkWriter::new(tx.clone());
            if let Err(e) = bctx::write_context(&dir, &matcher, extra.as_ref(), w) {
                report(e);
            }
        }
    }
}

/// Counts what is sent and prints docker's `Sending build context` line once it is all
/// out (docker prints only the last progress update when not on a terminal).
fn counted(
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    quiet: bool,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    futures_util::stream::unfold((rx, 0u64, false), move |(mut rx, n, done)| async move {
        if done {
            return None;
        }
        match rx.recv().await {
            Some(Ok(b)) => {
                let n = n + b.len() as u64;
                Some((Ok(b), (rx, n, false)))
            }
            Some(Err(e)) => Some((Err(e), (rx, n, true))),
            None => {
                if !quiet {
                    let size = crate::format::human_size(n as f64, 4);
                    StdSink.err(
                        format!("Sending build context to Docker daemon  {size:>7}\n").as_bytes(),
                    );
                }
                None
            }
        }
    })
}

/// Works out what to send and the `dockerfile` to name, as `runBuild` does.
fn prepare(a: &BuildArgs) -> anyhow::Result<(Source, String)> {
    let df_stdin = a.file.as_deref() == Some("-");
    let given_df = a.file.clone().unwrap_or_default();
    if a.path == "-" {
        if df_stdin {
            return Err(fail(
                "invalid argument: can't use stdin for both build context and dockerfile".into(),
            ));
        }
        let mut stdin = std::io::stdin();
        let head = read_head(&mut stdin, 1024).map_err(prepare_err)?;
        if bctx::is_archive(&head) {
            return Ok((Source::Stdin { head, rest: true }, given_df));
        }
        // A bare Dockerfile: wrapped in a tar as `Dockerfile`, as `GetContextFromReader`.
        let mut all = head;
        stdin.read_to_end(&mut all).map_err(prepare_err)?;
        let tar = bctx::dockerfile_tar(&all).map_err(prepare_err)?;
        return Ok((
            Source::Stdin {
                head: tar,
                rest: false,
            },
            "Dockerfile".into(),
        ));
    }
    let path = std::path::Path::new(&a.path);
    if !std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        if is_git_url(&a.path) || a.path.starts_with("http://") || a.path.starts_with("https://") {
            return Err(prepare_err(format!(
                "remote build contexts are not supported by berth: {}",
                a.path
            )));
        }
        return Err(prepare_err(format!("path {:?} not found", a.path)));
    }
    let ctx = bctx::resolve_local(path, a.file.as_deref()).map_err(prepare_err)?;
    let extra = if df_stdin {
        let mut content = Vec::new();
        std::io::stdin()
            .read_to_end(&mut content)
            .map_err(prepare_err)?;
        Some(ExtraDockerfile::new(content)?)
    } else if ctx.dockerfile_outside() {
        let content = std::fs::read(ctx.dir.join(&ctx.rel_dockerfile))
            .map_err(|e| fail(format!("unable to open Dockerfile: {}", bctx::io_text(&e))))?;
        Some(ExtraDockerfile::new(content)?)
    } else {
        None
    };
    let matcher = bctx::context_matcher(&ctx.dir, &ctx.rel_dockerfile, df_stdin)
        .map_err(|e| fail(e.to_string()))?;
    let dockerfile = match &extra {
        Some(x) => x.name.clone(),
        None => ctx.rel_dockerfile.clone(),
    };
    Ok((
        Source::Dir {
            dir: ctx.dir,
            matcher,
            extra,
        },
        dockerfile,
    ))
}

/// A refused flag value: cobra's flag-error form, exit 125.
fn usage_error(cmd: &str, err: anyhow::Error) -> anyhow::Error {
    match err.downcast_ref::<FlagError>() {
        Some(f) => StatusError {
            code: 125,
            message: Some(format!(
                "{f}\n\nUsage:  berth {cmd} [OPTIONS] PATH | URL | -\n\n\
                 Run 'berth {cmd} --help' for more information"
            )),
        }
        .into(),
        None => err,
    }
}

pub async fn build(client: &Client, a: BuildArgs) -> anyhow::Result<i32> {
    build_as(client, a, "build").await
}

pub async fn build_as(client: &Client, a: BuildArgs, cmd: &str) -> anyhow::Result<i32> {
    build_to(client, a, cmd, &mut StdSink).await
}

/// [`build_as`] with the daemon's output going to `sink` (tests capture it).
pub async fn build_to(
    client: &Client,
    a: BuildArgs,
    cmd: &str,
    sink: &mut dyn Sink,
) -> anyhow::Result<i32> {
    let mut opts =
        BuildOptions::from_args(&a, &|k| std::env::var(k).ok()).map_err(|e| usage_error(cmd, e))?;
    if let Some(f) = &a.iidfile {
        // A stale ID must not survive a failed build.
        let _ = std::fs::remove_file(f);
    }
    let (source, dockerfile) = prepare(&a)?;
    opts.dockerfile = dockerfile;
    client.ping().await?;

    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let failed = Arc::new(Mutex::new(None));
    let failed2 = failed.clone();
    std::thread::spawn(move || produce(source, tx, failed2));
    let body = crate::client::streaming(counted(rx, opts.quiet));
    let path = format!("/build{}", query(&build_query(&opts)));
    let sent = client
        .send_with(
            Method::POST,
            &path,
            &[
                ("Content-Type", "application/x-tar"),
                ("X-Registry-Config", "e30="),
            ],
            body,
        )
        .await;
    let context_error = || {
        failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .map(|m| fail(format!("error checking context: {m}")))
    };
    let resp = match sent {
        Ok(r) => r,
        Err(e) => return Err(context_error().unwrap_or(e)),
    };
    let mut out = BuildOutput::new(opts.quiet);
    let mut body = resp.into_body();
    let mut result = Ok(());
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => return Err(context_error().unwrap_or_else(|| e.into())),
        };
        if let Ok(data) = frame.into_data() {
            result = out.feed(&data, sink);
            if result.is_err() {
                break;
            }
        }
    }
    if result.is_ok() {
        result = out.finish();
    }
    finish_build(out, result, a.iidfile.as_deref(), sink)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct B {
        #[command(flatten)]
        a: BuildArgs,
    }

    fn args(argv: &[&str]) -> BuildArgs {
        B::try_parse_from(std::iter::once("build").chain(argv.iter().copied()))
            .unwrap()
            .a
    }

    fn env(k: &str) -> Option<String> {
        (k == "FROM_ENV").then(|| "env value".to_string())
    }

    fn q(argv: &[&str]) -> String {
        let mut o = BuildOptions::from_args(&args(argv), &env).unwrap();
        o.dockerfile = "Dockerfile".into();
        query(&build_query(&o))
    }

    #[test]
    fn default_query_is_the_traced_one() {
        assert_eq!(
            q(&["-t", "research-trace:legacy", "."]),
            "?dockerfile=Dockerfile&t=research-trace%3Alegacy&version=1"
        );
    }

    #[test]
    fn flags_become_docker_query() {
        let got = q(&[
            "-t",
            "a",
            "--tag=b:1",
            "--build-arg",
            "A=1",
            "--build-arg",
            "FROM_ENV",
            "--build-arg",
            "UNSET_X",
            "--label",
            "k=<v>",
            "--label",
            "bare",
            "--target",
            "s1",
            "--no-cache",
            "--pull",
            "-q",
            "--rm=false",
            "--force-rm",
            "--cache-from",
            "x:1",
            "--cache-from",
            "y",
            "--platform",
            "Linux/AMD64",
            "--network",
            "host",
            "--add-host",
            "h=10.0.0.1",
            "-m",
            "64m",
            "--shm-size",
            "1g",
            "--progress",
            "plain",
            ".",
        ]);
        let want = [
            "buildargs=".to_string()
                + &crate::client::query_escape(
                    r#"{"A":"1","FROM_ENV":"env value","UNSET_X":null}"#,
                ),
            "cachefrom=".to_string() + &crate::client::query_escape(r#"["x:1","y"]"#),
            "dockerfile=Dockerfile".into(),
            "extrahosts=h%3A10.0.0.1".into(),
            "forcerm=1".into(),
            "labels=".to_string()
                + &crate::client::query_escape(r#"{"bare":"","k":"\u003cv\u003e"}"#),
            "memory=67108864".into(),
            "networkmode=host".into(),
            "nocache=1".into(),
            "platform=linux%2Famd64".into(),
            "pull=1".into(),
            "q=1".into(),
            "rm=0".into(),
            "shmsize=1073741824".into(),
            "t=a".into(),
            "t=b%3A1".into(),
            "target=s1".into(),
            "version=1".into(),
        ];
        assert_eq!(got, format!("?{}", want.join("&")));
        // Defaults: no rm=1, and the default network is not sent.
        assert_eq!(
            q(&["--network", "default", "--rm", "."]),
            "?dockerfile=Dockerfile&version=1"
        );
    }

    #[test]
    fn build_args_and_flag_errors() {
        assert_eq!(
            parse_build_arg("K=a=b", &env).unwrap(),
            ("K".into(), Some("a=b".into()))
        );
        assert_eq!(
            parse_build_arg("K=", &env).unwrap(),
            ("K".into(), Some(String::new()))
        );
        assert_eq!(
            parse_build_arg("NOPE", &env).unwrap(),
            ("NOPE".into(), None)
        );
        let e = parse_build_arg("=x", &env).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"invalid argument "=x" for "--build-arg" flag: invalid environment variable: =x"#
        );
        let e = BuildOptions::from_args(&args(&["-t", "bad tag", "."]), &env).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"invalid argument "bad tag" for "-t, --tag" flag: invalid reference format"#
        );
        let e = usage_error("build", e);
        let s = e.downcast_ref::<StatusError>().unwrap();
        assert_eq!(s.code, 125);
        assert!(s
            .message
            .as_deref()
            .unwrap()
            .ends_with("Run 'berth build --help' for more information"));
        let e = BuildOptions::from_args(&args(&["-t", "BAD:1", "."]), &env).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid argument \"BAD:1\" for \"-t, --tag\" flag: \
             invalid reference format: repository name (library/BAD) must be lowercase"
        );
        assert!(parse_extra_host("nocolon").is_err());
        assert_eq!(
            parse_extra_host("h:host-gateway").unwrap(),
            "h:host-gateway"
        );
        assert_eq!(parse_extra_host("h=[::1]").unwrap(), "h:[::1]");
        assert!(parse_extra_host("h:999.1.1.1").is_err());
    }

    #[test]
    fn json_strings_like_go() {
        assert_eq!(
            go_json_string("a\"b\\<&>\n\u{1}"),
            r#""a\"b\\\u003c\u0026\u003e\n\u0001""#
        );
    }

    #[test]
    fn urls_are_recognised() {
        assert!(is_git_url("git@github.com:a/b.git"));
        assert!(is_git_url("https://x/y.git#main"));
        assert!(!is_git_url("https://x/ctx.tar.gz"));
    }
}
