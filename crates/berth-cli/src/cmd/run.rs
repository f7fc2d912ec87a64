//! `run`, `create` and `start`: the docker CLI's request order — create, attach (upgrade)
//! before start, wait registered before start, then start, resize, stream, exit code.

use crate::client::{query, read_json, seg, Client};
use crate::errors::{run_error, status};
use crate::opts::{build_create, create_body, CreateOpts, Mode};
use crate::stream::{parse_detach_keys, pump, stdin_channel, Outcome, StdSink};
use crate::tty;
use crate::types::{ContainerBrief, CreateResponse, WaitBody};
use clap::{ArgAction, Args};
use hyper::body::Incoming;
use hyper::{Method, Response};
use std::io::IsTerminal;

const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub opts: CreateOpts,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long)]
    pub rm: bool,
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", action = ArgAction::Set, default_value_t = true,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE [COMMAND] [ARG...]"
    )]
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub opts: CreateOpts,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE [COMMAND] [ARG...]"
    )]
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

fn lookup_env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

async fn create_container(
    client: &Client,
    opts: &CreateOpts,
    args: &[String],
    mode: Mode,
) -> anyhow::Result<CreateResponse> {
    let req = build_create(opts, &args[0], &args[1..], mode, lookup_env)?;
    let body = create_body(&req)?;
    let q = match &opts.name {
        Some(n) => query(&[("name", n.clone())]),
        None => String::new(),
    };
    client.ping().await?;
    let path = format!("/containers/create{q}");
    let resp: CreateResponse = match client.post_json(&path, &body).await {
        Err(e) if missing_image(&e) => {
            // As the docker CLI: pull the image (progress on stderr), then create again.
            let image = &args[0];
            eprintln!("Unable to find image '{}' locally", full_ref(image));
            crate::cmd::distribution::pull_image(client, image, false, None, true).await?;
            client.post_json(&path, &body).await?
        }
        r => r?,
    };
    for w in resp.warnings.iter().flatten() {
        eprintln!("WARNING: {w}");
    }
    Ok(resp)
}

fn missing_image(e: &anyhow::Error) -> bool {
    crate::client::api_error(e)
        .is_some_and(|a| a.status.as_u16() == 404 && a.message.starts_with("No such image"))
}

/// The name `Unable to find image` shows: the one given, with `:latest` when untagged.
fn full_ref(image: &str) -> String {
    match berth_model::Reference::parse_normalized(image) {
        Ok(r) if r.tag.is_none() && r.digest.is_none() => format!("{image}:latest"),
        _ => image.to_string(),
    }
}

fn console_size(tty: bool) -> [u32; 2] {
    match tty.then(tty::size).flatten() {
        Some((h, w)) => [h as u32, w as u32],
        None => [0, 0],
    }
}

pub async fn create(client: &Client, a: CreateArgs) -> anyhow::Result<i32> {
    let mode = Mode {
        detach: false,
        auto_remove: a.rm,
        console_size: console_size(a.opts.tty),
    };
    let resp = create_container(client, &a.opts, &a.args, mode)
        .await
        .map_err(|e| run_error("create", e))?;
    println!("{}", resp.id);
    Ok(0)
}

/// Registers a wait before start so that a fast exit cannot be missed; the reply's
/// headers arrive at once, its body when the condition is met.
async fn start_wait(
    client: &Client,
    id: &str,
    condition: &str,
) -> anyhow::Result<Response<Incoming>> {
    let q = query(&[("condition", condition.to_string())]);
    client
        .send(
            Method::POST,
            &format!("/containers/{}/wait{q}", seg(id)),
            None,
            crate::client::empty(),
        )
        .await
}

/// The exit status in a wait reply, or 125 with docker's message when waiting failed.
async fn wait_status(resp: Response<Incoming>) -> i32 {
    match read_json::<WaitBody>(resp).await {
        Ok(WaitBody { error: Some(e), .. }) if !e.message.is_empty() => {
            eprintln!("Error waiting for container: {}", e.message);
            125
        }
        Ok(b) => b.status_code as i32,
        Err(e) => {
            eprintln!("Error waiting for container: {e}");
            125
        }
    }
}

/// Forwards the signals a user sends us to the container (`--sig-proxy`), which is what
/// makes Ctrl-C stop a foreground container without a TTY.
fn proxy_signals(client: Client, id: String) -> tokio::task::JoinHandle<()> {
    use tokio::signal::unix::{signal, SignalKind};
    // Handlers are registered before this returns, so a signal that arrives once the
    // caller goes on (e.g. right after the first output line) is never the default action.
    let kinds = [
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::quit(), "SIGQUIT"),
        (SignalKind::user_defined1(), "SIGUSR1"),
        (SignalKind::user_defined2(), "SIGUSR2"),
    ];
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    let mut forwarders = Vec::new();
    for (kind, name) in kinds {
        let Ok(mut s) = signal(kind) else { continue };
        let tx = tx.clone();
        forwarders.push(tokio::spawn(async move {
            while s.recv().await.is_some() {
                if tx.send(name).is_err() {
                    break;
                }
            }
        }));
    }
    drop(tx);
    tokio::spawn(async move {
        let _forwarders = AbortOnDrop(forwarders);
        while let Some(name) = rx.recv().await {
            let q = query(&[("signal", name.to_string())]);
            let _ = client
                .post(&format!("/containers/{}/kill{q}", seg(&id)))
                .await;
        }
    })
}

/// Stops the per-signal forwarding tasks with the proxy that owns them.
struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

struct Attach {
    conn: crate::client::Upgraded,
    stdin: bool,
}

async fn attach(
    client: &Client,
    id: &str,
    stdin: bool,
    detach_keys: Option<&str>,
) -> anyhow::Result<Attach> {
    let mut q = vec![
        ("stderr", "1".to_string()),
        ("stdout", "1".to_string()),
        ("stream", "1".to_string()),
    ];
    if stdin {
        q.push(("stdin", "1".to_string()));
    }
    if let Some(k) = detach_keys {
        q.push(("detachKeys", k.to_string()));
    }
    let conn = client
        .upgrade(&format!("/containers/{}/attach{}", seg(id), query(&q)))
        .await?;
    Ok(Attach { conn, stdin })
}

/// Streams an attached, started container to completion; `None` when the user detached.
async fn stream_attached(
    client: &Client,
    id: &str,
    a: Attach,
    tty: bool,
    sig_proxy: bool,
    detach_keys: Option<&str>,
) -> anyhow::Result<Option<()>> {
    let resize = (tty && std::io::stdout().is_terminal())
        .then(|| tty::monitor_size(client.clone(), id.to_string()));
    let signals = (!tty && sig_proxy).then(|| proxy_signals(client.clone(), id.to_string()));
    let keys = match (tty && a.stdin, detach_keys) {
        (true, k) => Some(parse_detach_keys(k.unwrap_or(DEFAULT_DETACH_KEYS))?),
        (false, _) => None,
    };
    let stdin = a.stdin.then(stdin_channel);
    let outcome = pump(a.conn, tty, stdin, keys, &mut StdSink).await;
    if let Some(h) = resize {
        h.abort();
    }
    if let Some(h) = signals {
        h.abort();
    }
    Ok(match outcome? {
        Outcome::Ended => Some(()),
        Outcome::Detached => None,
    })
}

pub async fn run(client: &Client, a: RunArgs) -> anyhow::Result<i32> {
    run_inner(client, a).await.map_err(|e| run_error("run", e))
}

async fn run_inner(client: &Client, a: RunArgs) -> anyhow::Result<i32> {
    let o = &a.opts;
    let mode = Mode {
        detach: a.detach,
        auto_remove: a.rm,
        console_size: console_size(o.tty),
    };
    if let Some(k) = &a.detach_keys {
        parse_detach_keys(k)?;
    }
    let created = create_container(client, o, &a.args, mode).await?;
    let id = created.id;
    let condition = if a.rm { "removed" } else { "next-exit" };

    if a.detach {
        let wait = start_wait(client, &id, condition).await?;
        client
            .post(&format!("/containers/{}/start", seg(&id)))
            .await?;
        drop(wait);
        println!("{id}");
        return Ok(0);
    }

    // Raw mode before attaching, as docker does, so no keystroke is echoed twice.
    let _raw = (o.tty && o.interactive).then(tty::RawGuard::new).flatten();
    let att = attach(client, &id, o.interactive, a.detach_keys.as_deref()).await?;
    let wait = start_wait(client, &id, condition).await?;
    if let Err(e) = client
        .post(&format!("/containers/{}/start", seg(&id)))
        .await
    {
        drop(att);
        if a.rm {
            let _ = wait_status(wait).await;
        }
        return Err(e);
    }
    match stream_attached(
        client,
        &id,
        att,
        o.tty,
        a.sig_proxy,
        a.detach_keys.as_deref(),
    )
    .await?
    {
        Some(()) => {}
        None => return Ok(0),
    }
    drop(_raw);
    let code = wait_status(wait).await;
    if code != 0 {
        return Err(status(code));
    }
    Ok(0)
}

pub async fn start(client: &Client, a: StartArgs) -> anyhow::Result<i32> {
    client.ping().await?;
    if !a.attach && !a.interactive {
        let mut failed = Vec::new();
        for c in &a.containers {
            match client.post(&format!("/containers/{}/start", seg(c))).await {
                Ok(()) => println!("{c}"),
                Err(e) => {
                    crate::errors::report(&e);
                    failed.push(c.clone());
                }
            }
        }
        if !failed.is_empty() {
            anyhow::bail!("failed to start containers: {}", failed.join(", "));
        }
        return Ok(0);
    }
    if a.containers.len() > 1 {
        anyhow::bail!("you cannot start and attach multiple containers at once");
    }
    let name = &a.containers[0];
    let c: ContainerBrief = client
        .get_json(&format!("/containers/{}/json", seg(name)))
        .await?;
    let with_stdin = a.interactive && c.config.open_stdin;
    let _raw = (c.config.tty && with_stdin)
        .then(tty::RawGuard::new)
        .flatten();
    let att = attach(client, &c.id, with_stdin, a.detach_keys.as_deref()).await?;
    let wait = start_wait(client, &c.id, "next-exit").await?;
    if let Err(e) = client
        .post(&format!("/containers/{}/start", seg(&c.id)))
        .await
    {
        drop(att);
        return Err(e);
    }
    if stream_attached(
        client,
        &c.id,
        att,
        c.config.tty,
        true,
        a.detach_keys.as_deref(),
    )
    .await?
    .is_none()
    {
        return Ok(0);
    }
    drop(_raw);
    let code = wait_status(wait).await;
    if code != 0 {
        return Err(status(code));
    }
    Ok(0)
}

#[derive(Debug, Clone, Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", action = ArgAction::Set, default_value_t = true,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// `attach`: docker's order — wait registered (`not-running`), inspect (refuses a stopped,
/// paused or restarting container), attach, stream; the exit code is the container's.
pub async fn attach_cmd(client: &Client, a: AttachArgs) -> anyhow::Result<i32> {
    if let Some(k) = &a.detach_keys {
        parse_detach_keys(k)?;
    }
    let wait = start_wait(client, &a.container, "not-running").await?;
    let c: ContainerBrief = client
        .get_json(&format!("/containers/{}/json", seg(&a.container)))
        .await?;
    match c.state.status.as_str() {
        _ if !c.state.running => {
            anyhow::bail!("You cannot attach to a stopped container, start it first")
        }
        "paused" => anyhow::bail!("You cannot attach to a paused container, unpause it first"),
        "restarting" => {
            anyhow::bail!("You cannot attach to a restarting container, wait until it is running")
        }
        _ => {}
    }
    let with_stdin = !a.no_stdin && c.config.open_stdin;
    let _raw = (c.config.tty && with_stdin)
        .then(tty::RawGuard::new)
        .flatten();
    let att = attach(client, &c.id, with_stdin, a.detach_keys.as_deref()).await?;
    if stream_attached(
        client,
        &c.id,
        att,
        c.config.tty,
        a.sig_proxy,
        a.detach_keys.as_deref(),
    )
    .await?
    .is_none()
    {
        // The docker CLI's attach (unlike run's) reports the detach as its error.
        drop(_raw);
        anyhow::bail!("read escape sequence");
    }
    drop(_raw);
    let code = wait_status(wait).await;
    if code != 0 {
        return Err(status(code));
    }
    Ok(0)
}
