//! Containers: the persisted record, the in-memory handle, and one file per lifecycle verb.

mod archive;
mod attach;
mod commit;
mod create;
pub(crate) mod exec;
pub(crate) mod export;
pub mod health;
mod inspect;
mod logs;
mod ops;
mod prune;
mod reconcile;
mod remove;
mod restart;
mod start;
mod stats;
mod stop;
mod update;
mod wait;

pub use archive::PutArchiveOptions;
pub use attach::EngineAttach;
pub(crate) use commit::image_from_rw_layer;
pub use commit::CommitOpts;
pub use export::FsChange;
pub use logs::EngineLogs;
pub use prune::ContainerPruneReport;

use crate::Engine;
use berth_model::api::{ContainerConfig, HostConfig};
use berth_model::{Error, Result};
use berth_runtime::ShimClient;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// Go's zero time, which Docker prints for "never".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Removing => "removing",
            Self::Exited => "exited",
            Self::Dead => "dead",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateRecord {
    pub status: Status,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    pub oom_killed: bool,
    /// Present once a container with a health check has started (Docker keeps it after
    /// the container stops).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<berth_model::api::Health>,
}

/// What is persisted for a container: one redb record, rewritten whole on every change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub name: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    /// The container config with the image's defaults merged in, as Docker stores it.
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    pub image_id: String,
    pub state: StateRecord,
    pub restart_count: i64,
    /// Set by a user's stop or kill, cleared by start: restart policies leave such a
    /// container alone.
    #[serde(default)]
    pub manually_stopped: bool,
    /// Binds, volumes and tmpfs mounts, resolved at create.
    #[serde(default)]
    pub mounts: Vec<crate::volumes::MountRecord>,
    /// Networks joined, and the endpoints and host ports held while running.
    #[serde(default)]
    pub net: crate::network::ContainerNet,
}

/// Changes other tasks wait on (`wait`, `stop`, `logs -f`).
#[derive(Debug, Clone, Default)]
pub struct Events {
    pub running: bool,
    /// Bumped on every exit, so `wait?condition=next-exit` can tell a new exit from an old.
    pub exits: u64,
    pub exit_code: i64,
    pub removed: bool,
}

pub(crate) struct Inner {
    pub record: Record,
    pub shim: Option<ShimClient>,
    pub pending: Vec<attach::Pending>,
    /// The restart back-off in use (ms); 0 before the first restart.
    pub backoff_ms: u64,
    /// The health monitor of the current run, if any.
    pub health: Option<health::Monitor>,
}

pub struct Container {
    pub id: String,
    inner: Mutex<Inner>,
    pub(crate) events: watch::Sender<Events>,
    /// Serialises start/stop/restart/remove of this container.
    pub(crate) op: tokio::sync::Mutex<()>,
}

impl Container {
    pub(crate) fn new(record: Record) -> Arc<Self> {
        let running = record.state.status == Status::Running;
        let (events, _) = watch::channel(Events {
            running,
            exit_code: record.state.exit_code,
            ..Default::default()
        });
        Arc::new(Self {
            id: record.id.clone(),
            inner: Mutex::new(Inner {
                record,
                shim: None,
                pending: Vec::new(),
                backoff_ms: 0,
                health: None,
            }),
            events,
            op: tokio::sync::Mutex::new(()),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record(&self) -> Record {
        self.lock().record.clone()
    }

    /// Whether its process lives (running or paused).
    pub fn is_running(&self) -> bool {
        matches!(
            self.lock().record.state.status,
            Status::Running | Status::Paused
        )
    }

    pub fn is_paused(&self) -> bool {
        self.lock().record.state.status == Status::Paused
    }

    pub(crate) fn shim(&self) -> Option<ShimClient> {
        self.lock().shim.clone()
    }
}

impl Engine {
    /// Finds a container by full ID, name (with or without `/`), or unique ID prefix, as
    /// Docker does.
    pub fn get(&self, id_or_name: &str) -> Result<Arc<Container>> {
        let map = self.containers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(id_or_name) {
            return Ok(c.clone());
        }
        let name = id_or_name.strip_prefix('/').unwrap_or(id_or_name);
        if let Some(c) = map.values().find(|c| c.lock().record.name == name) {
            return Ok(c.clone());
        }
        if !id_or_name.is_empty() {
            let mut hits = map.iter().filter(|(k, _)| k.starts_with(id_or_name));
            if let Some((_, c)) = hits.next() {
                if hits.next().is_some() {
                    return Err(Error::invalid(format!(
                        "multiple IDs found with provided prefix: {id_or_name}"
                    )));
                }
                return Ok(c.clone());
            }
        }
        Err(Error::no_such_container(id_or_name))
    }

    pub(crate) fn all_containers(&self) -> Vec<Arc<Container>> {
        let map = self.containers.lock().unwrap_or_else(|p| p.into_inner());
        map.values().cloned().collect()
    }

    /// Writes the container's record (one redb transaction).
    pub(crate) async fn persist(&self, c: &Container) -> Result<()> {
        let rec = c.record();
        let bytes = serde_json::to_vec(&rec).map_err(|e| Error::internal(e.to_string()))?;
        let id = rec.id.clone();
        self.blocking(move |s| s.put_container(&id, &bytes).map_err(Error::from))
            .await
    }
}
