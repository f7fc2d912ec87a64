//! The daemon core: containers' state machine, images, startup reconciliation. berthd wires
//! it to the API's backend traits; this crate knows nothing of HTTP.
#![forbid(unsafe_code)]
#![recursion_limit = "256"]

pub mod build;
pub mod container;
pub mod disk_usage;
pub mod events;
pub mod image_archive;
pub mod image_ops;
pub mod images;
pub mod names;
pub mod network;
pub mod registry;
pub mod signal;
pub mod system;
pub mod volumes;

use berth_model::{Error, Result};
use berth_store::Store;
use container::Container;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Daemon settings the engine needs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    /// The binary re-executed as `<exe> shim` for each container.
    pub shim_exe: PathBuf,
    /// dockerd's `--init`: run an init in containers that do not say otherwise.
    pub init: bool,
    /// The static init binary mounted at `/sbin/docker-init` (dockerd's `--init-path`).
    pub init_path: PathBuf,
    /// dockerd's `insecure-registries`: registries reached over plain HTTP (or HTTPS
    /// without verification); loopback registries always are.
    pub insecure_registries: Vec<String>,
    /// The default bridge and the nft table (`--bridge`, `--bip`).
    pub network: network::NetworkConfig,
}

/// The engine: the single writer of all state under the data root.
pub struct Engine {
    pub(crate) cfg: EngineConfig,
    pub(crate) store: Arc<Store>,
    /// Live containers by full ID. The map lock is held only to look up or insert; each
    /// container has its own lock for its state.
    pub(crate) containers: Mutex<HashMap<String, Arc<Container>>>,
    /// Serialises name reservation with creation so two creates cannot take one name.
    pub(crate) create_lock: tokio::sync::Mutex<()>,
    /// Set while a container prune runs: dockerd refuses a second one (409).
    pub(crate) container_prune_running: std::sync::atomic::AtomicBool,
    /// Exec instances by ID (in memory, as dockerd keeps them).
    pub(crate) execs: Mutex<HashMap<String, container::exec::ExecHandle>>,
    pub(crate) events: Arc<events::EventBus>,
    /// What registry operations remember (blob sources for cross-repository mounts).
    pub(crate) registry: registry::RegistryState,
    /// Volumes in use by running containers (driver options mounted while used).
    pub(crate) volumes: volumes::VolumeState,
    /// Networks, address pools, published ports, embedded DNS.
    pub(crate) net: network::NetState,
}

impl Engine {
    /// Opens the store, then reconnects to the shims of containers that were running when
    /// the previous berthd stopped (or records how they ended while it was gone).
    pub async fn open(cfg: EngineConfig) -> Result<Arc<Engine>> {
        for dir in [&cfg.data_root, &cfg.exec_root] {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::internal(format!("create {}: {e}", dir.display())))?;
        }
        std::fs::create_dir_all(cfg.exec_root.join("shim"))?;
        let data_root = cfg.data_root.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&data_root))
            .await
            .map_err(|e| Error::internal(e.to_string()))?
            .map_err(Error::from)?;
        let engine = Arc::new(Engine {
            cfg,
            store: Arc::new(store),
            containers: Mutex::new(HashMap::new()),
            create_lock: tokio::sync::Mutex::new(()),
            container_prune_running: std::sync::atomic::AtomicBool::new(false),
            execs: Mutex::new(HashMap::new()),
            events: Arc::new(events::EventBus::default()),
            registry: registry::RegistryState::default(),
            volumes: volumes::VolumeState::default(),
            net: network::NetState::default(),
        });
        engine.net_init().await?;
        engine.reconcile().await?;
        engine.reconcile_volumes().await;
        engine.net_after_reconcile().await;
        engine.start_on_boot().await;
        Ok(engine)
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    pub(crate) fn container_dir(&self, id: &str) -> PathBuf {
        self.cfg.data_root.join("containers").join(id)
    }

    pub(crate) fn shim_socket(&self, id: &str) -> PathBuf {
        // Under the exec root, not the container dir: unix socket paths are limited to 108
        // bytes and data roots can be deep.
        self.cfg.exec_root.join("shim").join(format!("{id}.sock"))
    }

    pub(crate) fn runtime_root(&self) -> PathBuf {
        self.cfg.exec_root.join("runtime")
    }

    pub(crate) fn data_root(&self) -> &Path {
        &self.cfg.data_root
    }

    /// Runs blocking store work off the async threads.
    pub(crate) async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| Error::internal(format!("blocking task failed: {e}")))?
    }
}
