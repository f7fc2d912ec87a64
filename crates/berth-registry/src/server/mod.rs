//! The registry server: the OCI distribution API (as Docker's registry 2.8 speaks it) over
//! a filesystem store, with htpasswd and token auth, TLS, garbage collection and a v1
//! search endpoint that Docker's registry lacks.
//!
//! Start it in-process (tests, embedders) with [`serve`] on any bound listener:
//!
//! ```no_run
//! # async fn f() -> Result<(), berth_registry::server::ServerError> {
//! let cfg = berth_registry::server::Config::new("/tmp/registry");
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! berth_registry::server::serve(cfg, listener).await
//! # }
//! ```

mod blobs;
mod config;
mod error;
mod gc;
mod manifests;
mod routes;
mod search;
mod tls;
mod token;

pub mod auth;
pub mod storage;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::HeaderValue;
use axum::response::Response;
use axum::Router;
use sha2::Sha256;
use tokio::net::TcpListener;

pub use config::Config;
pub use error::{ApiError, ServerError};
pub use gc::{garbage_collect, GcReport};
pub use storage::Storage;

use auth::{Htpasswd, TokenSigner};

/// Everything a request handler needs, shared by all connections.
pub(crate) struct AppState {
    pub store: Storage,
    pub cfg: Config,
    pub htpasswd: Option<Htpasswd>,
    pub signer: TokenSigner,
    /// Running digests of upload sessions, keyed by session id, with the offset they cover,
    /// so finishing an upload does not read the whole file again. Lost on restart, in
    /// which case the file is hashed once more.
    pub hashers: Mutex<HashMap<String, (u64, Sha256)>>,
    /// Whether clients reach us over TLS (for the token realm's scheme).
    pub tls: bool,
}

pub(crate) type Shared = Arc<AppState>;

/// Builds the axum router for a configuration (without binding anything).
pub fn router(cfg: Config) -> Result<Router, ServerError> {
    let tls = cfg.tls_cert.is_some();
    Ok(routes::router(Arc::new(state(cfg, tls)?)))
}

fn state(cfg: Config, tls: bool) -> Result<AppState, ServerError> {
    let store = Storage::open(&cfg.root)?;
    let htpasswd = cfg.htpasswd.as_deref().map(Htpasswd::load).transpose()?;
    let secret = match &cfg.token_secret {
        Some(s) => s.as_bytes().to_vec(),
        None => {
            use rand::RngCore;
            let mut k = vec![0u8; 32];
            rand::thread_rng().fill_bytes(&mut k);
            k
        }
    };
    Ok(AppState {
        store,
        cfg,
        htpasswd,
        signer: TokenSigner::new(secret),
        hashers: Mutex::new(HashMap::new()),
        tls,
    })
}

/// Serves the registry on `listener` until the task is dropped or the listener fails;
/// HTTPS when the config names a certificate and key.
pub async fn serve(cfg: Config, listener: TcpListener) -> Result<(), ServerError> {
    let acceptor = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(c), Some(k)) => Some(tls::acceptor(c, k)?),
        (None, None) => None,
        _ => {
            return Err(ServerError::Tls(
                "--tls-cert and --tls-key go together".into(),
            ));
        }
    };
    let app = routes::router(Arc::new(state(cfg, acceptor.is_some())?));
    match acceptor {
        None => axum::serve(listener, app).await?,
        Some(acceptor) => tls::serve(listener, acceptor, app).await?,
    }
    Ok(())
}

/// A server started by [`start`]: where it listens, and its task (abort it to stop).
#[derive(Debug)]
pub struct Running {
    pub addr: std::net::SocketAddr,
    /// `http://127.0.0.1:PORT` or `https://...`, for clients and tests.
    pub url: String,
    pub task: tokio::task::JoinHandle<Result<(), ServerError>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `cfg.addr` (default `127.0.0.1:0`, a free port) and serves in a background task;
/// config errors (htpasswd, TLS files) are reported here, before anything listens. Other
/// crates' tests start a registry with this.
pub async fn start(cfg: Config) -> Result<Running, ServerError> {
    let acceptor = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(c), Some(k)) => Some(tls::acceptor(c, k)?),
        (None, None) => None,
        _ => {
            return Err(ServerError::Tls(
                "--tls-cert and --tls-key go together".into(),
            ))
        }
    };
    let bind = cfg.addr.clone().unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = TcpListener::bind(&bind).await?;
    let addr = listener.local_addr()?;
    let tls = acceptor.is_some();
    let app = routes::router(Arc::new(state(cfg, tls)?));
    let task = tokio::spawn(async move {
        match acceptor {
            None => axum::serve(listener, app).await?,
            Some(acceptor) => tls::serve(listener, acceptor, app).await?,
        }
        Ok(())
    });
    let scheme = if tls { "https" } else { "http" };
    Ok(Running {
        addr,
        url: format!("{scheme}://{addr}"),
        task,
    })
}

pub(crate) fn api_version_header(mut r: Response) -> Response {
    r.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    r
}
