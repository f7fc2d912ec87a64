//! `berth-registry`: the private registry server (OCI distribution API) and its garbage
//! collector, as a standalone binary so it runs without berthd.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "berth-registry",
    about = "A private container registry (OCI distribution API)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Serve the registry.
    Serve {
        /// Address to listen on.
        #[arg(long)]
        addr: Option<String>,
        /// Storage root.
        #[arg(long)]
        root: Option<PathBuf>,
        /// htpasswd file (bcrypt entries, `htpasswd -B`); turns authentication on.
        #[arg(long)]
        htpasswd: Option<PathBuf>,
        /// PEM certificate chain; serve HTTPS.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Config file (JSON, or `key = value` lines); flags override it.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Allow pulls without credentials when authentication is on.
        #[arg(long)]
        anonymous_read: bool,
    },
    /// Print an htpasswd line (bcrypt) for a user, the password read from stdin, for
    /// machines without apache's `htpasswd -B`.
    Htpasswd {
        user: String,
        /// bcrypt cost.
        #[arg(long, default_value_t = 10)]
        cost: u32,
    },
    /// Remove blobs that no manifest references.
    GarbageCollect {
        /// Storage root.
        #[arg(long)]
        root: PathBuf,
        /// Only report what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().cmd {
        Cmd::Serve {
            addr,
            root,
            htpasswd,
            tls_cert,
            tls_key,
            config,
            anonymous_read,
        } => {
            let mut cfg = match &config {
                Some(p) => berth_registry::server::Config::load(p)?,
                None => berth_registry::server::Config::default(),
            };
            anyhow::ensure!(
                root.is_some() || config.is_some(),
                "--root (or --config naming a root) is required"
            );
            if let Some(r) = root {
                cfg.root = r;
            }
            cfg.htpasswd = htpasswd.or(cfg.htpasswd);
            cfg.tls_cert = tls_cert.or(cfg.tls_cert);
            cfg.tls_key = tls_key.or(cfg.tls_key);
            cfg.anonymous_read |= anonymous_read;
            let addr = addr
                .or(cfg.addr.clone())
                .unwrap_or_else(|| "127.0.0.1:5000".into());
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .with_context(|| format!("listen on {addr}"))?;
            tracing::info!(
                "berth-registry serving {} on {}://{}",
                cfg.root.display(),
                if cfg.tls_cert.is_some() {
                    "https"
                } else {
                    "http"
                },
                listener.local_addr()?
            );
            tokio::select! {
                r = berth_registry::server::serve(cfg, listener) => r?,
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Cmd::Htpasswd { user, cost } => {
            anyhow::ensure!(!user.contains(':'), "user {user:?} contains ':'");
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            println!(
                "{}",
                berth_registry::server::auth::htpasswd_line(&user, password, cost)?
            );
        }
        Cmd::GarbageCollect { root, dry_run } => {
            let report = berth_registry::server::garbage_collect(&root, dry_run)
                .with_context(|| format!("garbage-collect {}", root.display()))?;
            let verb = if dry_run { "would remove" } else { "removed" };
            for d in &report.removed {
                println!("{verb} {d}");
            }
            println!(
                "{verb} {} blobs ({} bytes); {} kept, {} links dropped, {} stale uploads",
                report.removed.len(),
                report.bytes,
                report.kept,
                report.unlinked,
                report.uploads_purged
            );
        }
    }
    Ok(())
}
