//! `berthd`: flags as dockerd's, socket setup, engine start, serve until a signal.

use anyhow::{bail, Context, Result};
use berth_engine::{Engine, EngineConfig};
use clap::Parser;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(name = "berthd", version, about = "Berth container engine daemon")]
pub struct Flags {
    /// Daemon socket to listen on (unix:///path).
    #[arg(
        short = 'H',
        long = "host",
        default_value = "unix:///run/berth/berth.sock"
    )]
    pub host: Vec<String>,
    /// Root of persistent state.
    #[arg(long, default_value = "/var/lib/berth")]
    pub data_root: PathBuf,
    /// Root of run state (shim sockets, runtime state).
    #[arg(long, default_value = "/run/berth")]
    pub exec_root: PathBuf,
    /// Where to write the daemon's pid (default: <exec-root>/berthd.pid).
    #[arg(short = 'p', long)]
    pub pidfile: Option<PathBuf>,
    /// debug, info, warn, error or fatal.
    #[arg(short = 'l', long, default_value = "info")]
    pub log_level: String,
    /// Same as --log-level debug.
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Run an init inside containers to forward signals and reap processes.
    #[arg(long)]
    pub init: bool,
    /// Path to the init binary (default: berth-init next to berthd; it must be static).
    #[arg(long)]
    pub init_path: Option<PathBuf>,
    /// A registry that may be reached over plain HTTP (host[:port] or an IPv4 CIDR);
    /// repeatable. Loopback registries always may.
    #[arg(long = "insecure-registry")]
    pub insecure_registry: Vec<String>,
    /// Daemon configuration file (dockerd's daemon.json; `insecure-registries` is read).
    #[arg(long)]
    pub config_file: Option<PathBuf>,
    /// Interface name of the default bridge network.
    #[arg(short = 'b', long, default_value = "berth0")]
    pub bridge: String,
    /// The default bridge's address and prefix (default 10.77.0.1/16).
    #[arg(long)]
    pub bip: Option<String>,
    /// The nftables table (`inet`) berthd keeps its NAT and port rules in.
    #[arg(long, default_value = "berth", hide = true)]
    pub nft_table: String,
}

/// The `insecure-registries` of a daemon.json-style file.
fn config_file_insecure(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read(path).with_context(|| format!("read config file {}", path.display()))?;
    let cfg: serde_json::Value = serde_json::from_slice(&text)
        .with_context(|| format!("invalid config file {}", path.display()))?;
    match cfg.get("insecure-registries") {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(v) => serde_json::from_value(v.clone()).with_context(|| {
            format!(
                "invalid config file {}: insecure-registries must be a list of strings",
                path.display()
            )
        }),
    }
}

/// `--insecure-registry` flags, then the config file's list.
fn insecure_registries(flags: &Flags) -> Result<Vec<String>> {
    let mut out = flags.insecure_registry.clone();
    if let Some(p) = &flags.config_file {
        for r in config_file_insecure(p)? {
            if !out.contains(&r) {
                out.push(r);
            }
        }
    }
    Ok(out)
}

/// The init binary: `--init-path`, else `berth-init` beside berthd, where the build puts
/// it. Its absence is reported when a container asks for it, not here, so a daemon
/// without one still serves every other container.
fn init_path(flag: Option<&Path>, exe: &Path) -> Result<PathBuf> {
    match flag {
        Some(p) => Ok(std::path::absolute(p)?),
        None => Ok(exe.with_file_name("berth-init")),
    }
}

fn socket_path(host: &str) -> Result<PathBuf> {
    match host.strip_prefix("unix://") {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => bail!("unsupported host {host:?}: only unix:///path is served"),
    }
}

/// Binds the socket, replacing a stale file left by a crashed daemon but never one a live
/// daemon still answers on.
fn bind(path: &Path) -> Result<tokio::net::UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("another daemon is listening on {}", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("remove stale {}", path.display()))?;
    }
    let l =
        tokio::net::UnixListener::bind(path).with_context(|| format!("bind {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(l)
}

/// Containers inherit at most berthd's open-file limit: take the hard limit (and 1048576
/// when allowed), as dockerd's systemd unit does.
fn raise_nofile() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if setrlimit(Resource::RLIMIT_NOFILE, 1_048_576, 1_048_576).is_err() {
        if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

pub async fn run(flags: Flags) -> Result<()> {
    let level = if flags.debug {
        "debug".to_string()
    } else {
        flags.log_level.replace("fatal", "error")
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&level).context("bad --log-level")?)
        .with_writer(std::io::stderr)
        .init();
    raise_nofile();
    let data_root = std::path::absolute(&flags.data_root)?;
    let exec_root = std::path::absolute(&flags.exec_root)?;
    std::fs::create_dir_all(&exec_root)?;
    let pidfile = flags
        .pidfile
        .clone()
        .unwrap_or_else(|| exec_root.join("berthd.pid"));
    std::fs::write(&pidfile, format!("{}\n", std::process::id()))
        .with_context(|| format!("write pidfile {}", pidfile.display()))?;
    let sock = socket_path(flags.host.first().map(String::as_str).unwrap_or_default())?;
    let listener = bind(&sock)?;
    let exe = std::env::current_exe().context("locate own binary for the shim")?;
    let insecure_registries = insecure_registries(&flags)?;
    let engine = Engine::open(EngineConfig {
        insecure_registries,
        data_root,
        exec_root,
        init: flags.init,
        init_path: init_path(flags.init_path.as_deref(), &exe)?,
        shim_exe: exe,
        network: berth_engine::network::NetworkConfig {
            bridge: flags.bridge.clone(),
            bip: flags.bip.clone(),
            nft_table: flags.nft_table.clone(),
        },
    })
    .await
    .map_err(|e| anyhow::anyhow!("start engine: {e}"))?;
    tracing::info!(socket = %sock.display(), "berthd serving API");
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("sigterm handler");
        tokio::select! {
            _ = term.recv() => {},
            _ = tokio::signal::ctrl_c() => {},
        }
        tracing::info!("shutting down; containers keep running");
    };
    berth_api::serve_unix(listener, crate::wiring::backends(engine), shutdown).await?;
    let _ = std::fs::remove_file(&sock);
    let _ = std::fs::remove_file(&pidfile);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_binary_defaults_beside_berthd() {
        let exe = Path::new("/opt/berth/bin/berthd");
        assert_eq!(
            init_path(None, exe).unwrap(),
            Path::new("/opt/berth/bin/berth-init")
        );
        assert_eq!(
            init_path(Some(Path::new("/usr/libexec/docker-init")), exe).unwrap(),
            Path::new("/usr/libexec/docker-init")
        );
        let flags = Flags::try_parse_from(["berthd", "--init", "--init-path", "/x/init"]).unwrap();
        assert!(flags.init);
        assert_eq!(flags.init_path.as_deref(), Some(Path::new("/x/init")));
        assert!(!Flags::try_parse_from(["berthd"]).unwrap().init);
    }

    #[test]
    fn insecure_registries_from_flags_and_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("daemon.json");
        std::fs::write(
            &cfg,
            r#"{"insecure-registries": ["reg.local:5000", "10.0.0.0/8"], "debug": true}"#,
        )
        .unwrap();
        let flags = Flags::try_parse_from([
            "berthd",
            "--insecure-registry",
            "a:5000",
            "--insecure-registry=reg.local:5000",
            "--config-file",
            cfg.to_str().unwrap(),
        ])
        .unwrap();
        assert_eq!(
            insecure_registries(&flags).unwrap(),
            vec!["a:5000", "reg.local:5000", "10.0.0.0/8"]
        );
    }
}
