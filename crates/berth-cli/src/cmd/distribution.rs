//! `pull`, `push`, `login`, `logout` and `search`. Credentials live in a Docker-compatible
//! `config.json` (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`: the same file
//! the docker CLI uses, so a login with either works for both) and go to the daemon as
//! `X-Registry-Auth`, base64url JSON, as the docker CLI sends them.

use crate::client::{empty, full, query, query_escape, Client};
use crate::cmd::progress::Progress;
use anyhow::Context;
use base64::Engine as _;
use berth_model::api::AuthConfig;
use berth_model::Reference;
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::{json, Value};
use std::io::{IsTerminal, Read};
use std::path::PathBuf;

/// Docker Hub's key in `config.json`, as the docker CLI writes it.
pub const DEFAULT_INDEX: &str = "https://index.docker.io/v1/";

#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Download all tagged images in the repository (not supported)
    #[arg(short = 'a', long)]
    pub all_tags: bool,
    pub name: String,
}

#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// Push all tags of an image to the repository (not supported)
    #[arg(short = 'a', long)]
    pub all_tags: bool,
    pub name: String,
}

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
    pub server: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct LogoutArgs {
    pub server: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// Max number of search results
    #[arg(long)]
    pub limit: Option<usize>,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output based on conditions provided (accepted, not applied)
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Pretty-print search using a Go template
    #[arg(long)]
    pub format: Option<String>,
    pub term: String,
}

fn config_path() -> PathBuf {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("config.json"),
        _ => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/root"))
            .join(".docker/config.json"),
    }
}

fn read_config() -> anyhow::Result<Value> {
    let p = config_path();
    match std::fs::read(&p) {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(json!({})),
        Ok(b) => serde_json::from_slice(&b).with_context(|| format!("read {}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(e) => Err(e).with_context(|| format!("read {}", p.display())),
    }
}

/// Writes `config.json` atomically (temp file, fsync, rename), mode 0600 as docker does.
fn write_config(v: &Value) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let p = config_path();
    let dir = p.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let tmp = dir.join(format!(".config.json.{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("create {}", tmp.display()))?;
    f.write_all(serde_json::to_string_pretty(v)?.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &p).with_context(|| format!("write {}", p.display()))?;
    Ok(())
}

/// The `config.json` key of the registry an image reference lives on.
pub fn registry_key(reference: &str) -> String {
    match Reference::parse_normalized(reference) {
        Ok(r) if r.domain != "docker.io" => r.domain,
        _ => DEFAULT_INDEX.to_string(),
    }
}

/// The key a `login`/`logout` server argument is stored under (`https://` and a trailing
/// path dropped for anything but Docker Hub, as the docker CLI does).
pub fn server_key(server: Option<&str>) -> String {
    match server {
        None | Some("") => DEFAULT_INDEX.to_string(),
        Some(s) => {
            let host = s
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or(s);
            if matches!(
                host,
                "docker.io" | "index.docker.io" | "registry-1.docker.io"
            ) {
                DEFAULT_INDEX.to_string()
            } else {
                host.to_string()
            }
        }
    }
}

/// Stored credentials for `key`, if any.
pub fn credentials(key: &str) -> Option<AuthConfig> {
    let cfg = read_config().ok()?;
    let entry = cfg.get("auths")?.get(key)?;
    let mut a = AuthConfig {
        serveraddress: key.to_string(),
        ..Default::default()
    };
    if let Some(t) = entry.get("identitytoken").and_then(Value::as_str) {
        a.identitytoken = t.to_string();
    }
    if let Some(enc) = entry.get("auth").and_then(Value::as_str) {
        let raw = base64::engine::general_purpose::STANDARD.decode(enc).ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (u, p) = text.split_once(':')?;
        a.username = u.to_string();
        a.password = p.to_string();
    }
    (!a.is_empty()).then_some(a)
}

/// The `X-Registry-Auth` value for a reference: its registry's stored credentials, or
/// `{}` as the docker CLI sends when there are none.
pub fn auth_header(reference: &str) -> String {
    let cfg = credentials(&registry_key(reference)).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE.encode(serde_json::to_vec(&cfg).unwrap_or_default())
}

/// Reads a progress stream to its end through `show`; an `errorDetail` is the error.
async fn run_stream(
    resp: hyper::Response<hyper::body::Incoming>,
    progress: &mut Progress,
) -> anyhow::Result<()> {
    let mut body = resp.into_body();
    let mut pending: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        let mut it = serde_json::Deserializer::from_slice(&pending).into_iter::<Value>();
        let mut consumed = 0;
        loop {
            match it.next() {
                Some(Ok(msg)) => {
                    consumed = it.byte_offset();
                    progress.message(&msg)?;
                }
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(e)) => anyhow::bail!("cannot decode the daemon's progress: {e}"),
                None => {
                    consumed = pending.len();
                    break;
                }
            }
        }
        pending.drain(..consumed);
    }
    progress.finish();
    Ok(())
}

/// The reference as the docker CLI names it in its last line (`busybox:latest` stays
/// familiar; a registry host is kept).
fn shown(reference: &str) -> String {
    match Reference::parse_normalized(reference) {
        Ok(mut r) => {
            if r.tag.is_none() && r.digest.is_none() {
                r.tag = Some("latest".into());
            }
            if r.domain == "docker.io" {
                r.to_string()
            } else {
                r.familiar()
            }
        }
        Err(_) => reference.to_string(),
    }
}

/// Pulls `name` through the daemon, drawing progress unless `quiet`. Shared with `run`
/// and `create`, which pull a missing image first.
pub async fn pull_image(
    client: &Client,
    name: &str,
    quiet: bool,
    platform: Option<&str>,
    to_stderr: bool,
) -> anyhow::Result<()> {
    let r = Reference::parse_normalized(name)
        .map_err(|e| anyhow::anyhow!("invalid reference format: {e}"))?;
    let (image, tag) = match (&r.tag, &r.digest) {
        (_, Some(d)) => (r.full_name(), d.to_string()),
        (Some(t), None) => (r.full_name(), t.clone()),
        (None, None) => (r.full_name(), "latest".to_string()),
    };
    let mut q = vec![("fromImage", image), ("tag", tag)];
    if let Some(p) = platform.filter(|p| !p.is_empty()) {
        q.push(("platform", p.to_string()));
    }
    let auth = auth_header(name);
    let resp = client
        .send_with(
            Method::POST,
            &format!("/images/create{}", query(&q)),
            &[("X-Registry-Auth", auth.as_str())],
            empty(),
        )
        .await?;
    let mut progress = Progress::new(quiet, std::io::stderr().is_terminal() && !quiet);
    progress.to_stderr = to_stderr;
    run_stream(resp, &mut progress).await
}

pub async fn pull(client: &Client, a: PullArgs) -> anyhow::Result<i32> {
    if a.all_tags {
        anyhow::bail!("pulling all tags (-a) is not supported");
    }
    pull_image(client, &a.name, a.quiet, a.platform.as_deref(), false).await?;
    println!("{}", shown(&a.name));
    Ok(0)
}

pub async fn push(client: &Client, a: PushArgs) -> anyhow::Result<i32> {
    if a.all_tags {
        anyhow::bail!("pushing all tags (-a) is not supported");
    }
    let r = Reference::parse_normalized(&a.name)
        .map_err(|e| anyhow::anyhow!("invalid reference format: {e}"))?;
    let mut q = Vec::new();
    if let Some(t) = &r.tag {
        q.push(("tag", t.clone()));
    }
    let auth = auth_header(&a.name);
    let resp = client
        .send_with(
            Method::POST,
            &format!(
                "/images/{}/push{}",
                r.full_name()
                    .split('/')
                    .map(query_escape)
                    .collect::<Vec<_>>()
                    .join("/"),
                query(&q)
            ),
            &[("X-Registry-Auth", auth.as_str())],
            empty(),
        )
        .await?;
    let mut progress = Progress::new(a.quiet, std::io::stderr().is_terminal() && !a.quiet);
    run_stream(resp, &mut progress).await?;
    if a.quiet {
        println!("{}", shown(&a.name));
    }
    Ok(0)
}

pub async fn login(client: &Client, a: LoginArgs) -> anyhow::Result<i32> {
    let key = server_key(a.server.as_deref());
    if a.password.is_some() && a.password_stdin {
        anyhow::bail!("--password and --password-stdin are mutually exclusive");
    }
    let password = if a.password_stdin {
        if a.username.is_none() {
            anyhow::bail!("Must provide --username with --password-stdin");
        }
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = a.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p
    } else {
        anyhow::bail!("Cannot perform an interactive login from a non TTY device: use --username and --password-stdin");
    };
    let username = a
        .username
        .ok_or_else(|| anyhow::anyhow!("Error: Username is required"))?;
    let cfg = AuthConfig {
        username: username.clone(),
        password: password.clone(),
        serveraddress: key.clone(),
        ..Default::default()
    };
    let resp = client
        .send(
            Method::POST,
            "/auth",
            Some("application/json"),
            full(serde_json::to_vec(&cfg)?),
        )
        .await?;
    let body = resp.into_body().collect().await?.to_bytes();
    let v: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
    let mut conf = read_config()?;
    if !conf.is_object() {
        conf = json!({});
    }
    let auths = conf
        .as_object_mut()
        .expect("object")
        .entry("auths")
        .or_insert_with(|| json!({}));
    if !auths.is_object() {
        *auths = json!({});
    }
    let mut entry = json!({
        "auth": base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
    });
    if let Some(t) = v
        .get("IdentityToken")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        entry = json!({ "identitytoken": t });
    }
    auths.as_object_mut().expect("object").insert(key, entry);
    write_config(&conf)?;
    println!(
        "{}",
        v.get("Status")
            .and_then(Value::as_str)
            .unwrap_or("Login Succeeded")
    );
    Ok(0)
}

pub async fn logout(_client: &Client, a: LogoutArgs) -> anyhow::Result<i32> {
    let key = server_key(a.server.as_deref());
    let mut conf = read_config()?;
    let removed = conf
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove(&key))
        .is_some();
    if removed {
        println!("Removing login credentials for {key}");
        write_config(&conf)?;
    } else {
        println!("Not logged in to {key}");
    }
    Ok(0)
}

pub async fn search(client: &Client, a: SearchArgs) -> anyhow::Result<i32> {
    let mut q = vec![("term", a.term.clone())];
    if let Some(l) = a.limit {
        q.push(("limit", l.to_string()));
    }
    let auth = auth_header(&a.term);
    let resp = client
        .send_with(
            Method::GET,
            &format!("/images/search{}", query(&q)),
            &[("X-Registry-Auth", auth.as_str())],
            empty(),
        )
        .await?;
    let body = resp.into_body().collect().await?.to_bytes();
    let rows: Vec<Value> = serde_json::from_slice(&body)?;
    if let Some(f) = &a.format {
        for r in &rows {
            let obj = json!({
                "Name": r.get("name"),
                "Description": r.get("description"),
                "StarCount": r.get("star_count"),
                "IsOfficial": r.get("is_official"),
                "IsAutomated": r.get("is_automated"),
            });
            println!("{}", crate::template::render_json(f, &obj)?);
        }
        return Ok(0);
    }
    let trunc = |s: &str| {
        if a.no_trunc || s.chars().count() <= 45 {
            s.to_string()
        } else {
            format!("{}...", s.chars().take(42).collect::<String>())
        }
    };
    let mut text = String::from("NAME\tDESCRIPTION\tSTARS\tOFFICIAL\n");
    for r in &rows {
        let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            s("name"),
            trunc(&s("description").replace('\n', " ")),
            r.get("star_count").and_then(Value::as_i64).unwrap_or(0),
            if r.get("is_official")
                .and_then(Value::as_bool)
                .unwrap_or(false)
            {
                "[OK]"
            } else {
                ""
            },
        ));
    }
    print!("{}", crate::format::tabwrite(&text));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_docker_cli() {
        assert_eq!(registry_key("busybox"), DEFAULT_INDEX);
        assert_eq!(registry_key("127.0.0.1:5000/a/b:1"), "127.0.0.1:5000");
        assert_eq!(server_key(None), DEFAULT_INDEX);
        assert_eq!(
            server_key(Some("https://127.0.0.1:5000/v2/")),
            "127.0.0.1:5000"
        );
        assert_eq!(server_key(Some("docker.io")), DEFAULT_INDEX);
    }

    #[test]
    fn shown_names_match_docker() {
        assert_eq!(shown("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(
            shown("127.0.0.1:5055/research/busybox:t1"),
            "127.0.0.1:5055/research/busybox:t1"
        );
    }
}
