//! Named volumes with Docker's `local` driver: records in the store (one transaction
//! each), data under `<data_root>/volumes/<name>/_data`, driver options (`type`, `device`,
//! `o`) mounted there while a container uses the volume. Create, inspect, list, remove,
//! prune; what containers mount is in [`mounts`].

mod local;
pub(crate) mod mounts;

pub use mounts::MountRecord;

use crate::Engine;
use berth_model::api::{Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse};
use berth_model::{Error, ErrorKind, Result};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;

/// What the engine keeps in memory about volumes in use.
#[derive(Default)]
pub(crate) struct VolumeState {
    /// Volume name → containers running with it (for driver options: mounted while > 0).
    active: Mutex<HashMap<String, usize>>,
    /// Container ID → the volumes it holds while running.
    held: Mutex<HashMap<String, Vec<String>>>,
}

/// A volume as persisted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct VolumeRecord {
    pub name: String,
    pub created_at: String,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
    /// Made for a container (`VOLUME`, `-v /path`): `rm -v` removes it.
    #[serde(default)]
    pub anonymous: bool,
}

fn random_name() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn no_such_volume(name: &str) -> Error {
    Error::not_found(format!("get {name}: no such volume"))
}

/// dockerd's `label` filter: `key` or `key=value`.
fn label_matches(labels: &Option<BTreeMap<String, String>>, filter: &str) -> bool {
    let labels = labels.clone().unwrap_or_default();
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(filter),
    }
}

fn bool_filter(key: &str, values: &[String]) -> Result<Option<bool>> {
    let mut out = None;
    for v in values {
        out = Some(match v.to_ascii_lowercase().as_str() {
            "1" | "true" => true,
            "0" | "false" => false,
            _ => return Err(Error::invalid(format!("invalid filter '{key}={v}'"))),
        });
    }
    Ok(out)
}

impl Engine {
    pub(crate) fn volumes_root(&self) -> PathBuf {
        self.data_root().join("volumes")
    }

    /// Where a volume's data is (and where its driver options are mounted).
    pub(crate) fn volume_data(&self, name: &str) -> PathBuf {
        self.volumes_root().join(name).join("_data")
    }

    fn volume_api(&self, rec: &VolumeRecord) -> Volume {
        Volume {
            created_at: rec.created_at.clone(),
            driver: "local".into(),
            labels: rec.labels.clone(),
            mountpoint: self.volume_data(&rec.name).display().to_string(),
            name: rec.name.clone(),
            options: rec.options.clone(),
            scope: "local".into(),
            usage_data: None,
        }
    }

    pub(crate) async fn load_volume(&self, name: &str) -> Result<Option<VolumeRecord>> {
        let key = name.to_string();
        let bytes = self
            .blocking(move |s| s.get_volume(&key).map_err(Error::from))
            .await?;
        bytes
            .map(|b| {
                serde_json::from_slice(&b)
                    .map_err(|e| Error::internal(format!("volume record {name}: {e}")))
            })
            .transpose()
    }

    pub(crate) async fn all_volumes(&self) -> Result<Vec<VolumeRecord>> {
        let rows = self
            .blocking(|s| s.list_volumes().map_err(Error::from))
            .await?;
        let mut out = Vec::new();
        for (name, bytes) in rows {
            match serde_json::from_slice(&bytes) {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!(volume = %name, "unreadable volume record: {e}"),
            }
        }
        Ok(out)
    }

    /// Creates a volume, or returns the one of that name (as dockerd's local driver).
    /// The caller holds `create_lock`, so no container can start using a name between
    /// the check and the write.
    pub(crate) async fn ensure_volume(
        &self,
        name: &str,
        labels: Option<BTreeMap<String, String>>,
        options: Option<BTreeMap<String, String>>,
        anonymous: bool,
    ) -> Result<VolumeRecord> {
        if let Some(rec) = self.load_volume(name).await? {
            return Ok(rec);
        }
        if !berth_runtime::spec::valid_volume_name(name) {
            return Err(Error::invalid(format!(
                "create {name}: {}",
                berth_runtime::spec::invalid_volume_name(name)
            )));
        }
        let options = options.filter(|o| !o.is_empty());
        if let Some(opts) = &options {
            local::validate_options(opts)
                .map_err(|e| Error::new(e.kind, format!("create {name}: {}", e.message)))?;
        }
        let rec = VolumeRecord {
            name: name.to_string(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            labels,
            options,
            anonymous,
        };
        let data = self.volume_data(name);
        std::fs::create_dir_all(&data)
            .map_err(|e| Error::internal(format!("create {}: {e}", data.display())))?;
        let bytes = serde_json::to_vec(&rec).map_err(|e| Error::internal(e.to_string()))?;
        let key = name.to_string();
        self.blocking(move |s| s.put_volume(&key, &bytes).map_err(Error::from))
            .await?;
        self.emit(
            "volume",
            "create",
            name,
            BTreeMap::from([("driver".into(), "local".into())]),
        );
        tracing::info!(volume = %name, "created");
        Ok(rec)
    }

    /// `POST /volumes/create`.
    pub async fn create_volume(&self, req: VolumeCreateRequest) -> Result<Volume> {
        if !req.driver.is_empty() && req.driver != "local" {
            let name = &req.name;
            return Err(Error::not_found(format!(
                "create {name}: error looking up volume plugin {}: plugin \"{}\" not found",
                req.driver, req.driver
            )));
        }
        let _guard = self.create_lock.lock().await;
        let name = if req.name.is_empty() {
            random_name()
        } else {
            req.name.clone()
        };
        // A volume asked for without a name is anonymous, as dockerd 23+ marks it: a
        // prune with `all=false` takes it.
        let rec = self
            .ensure_volume(&name, req.labels, req.driver_opts, req.name.is_empty())
            .await?;
        Ok(self.volume_api(&rec))
    }

    /// `GET /volumes/{name}`.
    pub async fn inspect_volume(&self, name: &str) -> Result<Volume> {
        let rec = self
            .load_volume(name)
            .await?
            .ok_or_else(|| no_such_volume(name))?;
        Ok(self.volume_api(&rec))
    }

    /// Containers (any state) whose mounts name the volume.
    pub(crate) fn volume_users(&self, name: &str) -> Vec<String> {
        let mut ids: Vec<(String, String)> = self
            .all_containers()
            .into_iter()
            .filter_map(|c| {
                let r = c.record();
                r.mounts
                    .iter()
                    .any(|m| m.kind == "volume" && m.name == name)
                    .then(|| (r.created.clone(), r.id.clone()))
            })
            .collect();
        ids.sort();
        ids.into_iter().map(|(_, id)| id).collect()
    }

    /// `GET /volumes` with dockerd's filters: `dangling`, `name` (substring), `label`,
    /// `driver`.
    pub async fn list_volumes(
        &self,
        filters: BTreeMap<String, Vec<String>>,
    ) -> Result<VolumeListResponse> {
        for key in filters.keys() {
            if !matches!(key.as_str(), "dangling" | "name" | "label" | "driver") {
                return Err(Error::invalid(format!("invalid filter '{key}'")));
            }
        }
        let dangling = match filters.get("dangling") {
            Some(v) => bool_filter("dangling", v)?,
            None => None,
        };
        let mut out = Vec::new();
        let mut recs = self.all_volumes().await?;
        recs.sort_by(|a, b| a.name.cmp(&b.name));
        for rec in recs {
            if let Some(d) = dangling {
                if self.volume_users(&rec.name).is_empty() != d {
                    continue;
                }
            }
            if let Some(names) = filters.get("name") {
                if !names.iter().any(|n| rec.name.contains(n.as_str())) {
                    continue;
                }
            }
            if let Some(labels) = filters.get("label") {
                if !labels.iter().all(|l| label_matches(&rec.labels, l)) {
                    continue;
                }
            }
            if let Some(drivers) = filters.get("driver") {
                if !drivers.iter().any(|d| d == "local") {
                    continue;
                }
            }
            out.push(self.volume_api(&rec));
        }
        Ok(VolumeListResponse {
            volumes: out,
            warnings: None,
        })
    }

    /// `DELETE /volumes/{name}`: refused while a container uses it (`force` only makes a
    /// missing volume no error, as with dockerd's local driver).
    pub async fn remove_volume(&self, name: &str, force: bool) -> Result<()> {
        let _guard = self.create_lock.lock().await;
        self.remove_volume_locked(name, force).await.map(|_| ())
    }

    /// Removes an unused volume; returns the bytes its data held.
    async fn remove_volume_locked(&self, name: &str, force: bool) -> Result<u64> {
        let Some(rec) = self.load_volume(name).await? else {
            if force {
                return Ok(0);
            }
            return Err(no_such_volume(name));
        };
        let users = self.volume_users(name);
        if !users.is_empty() {
            return Err(Error::conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        let data = self.volume_data(name);
        if rec.options.is_some() {
            local::unmount_if_mounted(&data)
                .map_err(|e| Error::internal(format!("remove {name}: {e}")))?;
        }
        if local::is_mountpoint(&data) {
            // Never delete through a mount: it may be a host directory.
            return Err(Error::conflict(format!(
                "remove {name}: {} is still mounted",
                data.display()
            )));
        }
        let size = crate::disk_usage::tree_size(&data);
        let key = name.to_string();
        self.blocking(move |s| s.delete_volume(&key).map_err(Error::from))
            .await?;
        let dir = self.volumes_root().join(name);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(volume = %name, "remove {}: {e}", dir.display());
            }
        }
        self.emit(
            "volume",
            "destroy",
            name,
            BTreeMap::from([("driver".into(), "local".into())]),
        );
        tracing::info!(volume = %name, "removed");
        Ok(size)
    }

    /// Removes the anonymous volumes of a removed container (`rm -v`, `--rm`); named ones
    /// stay, and one another container still uses is kept, as dockerd does.
    pub(crate) async fn remove_anonymous_volumes(&self, mounts: &[MountRecord]) {
        let _guard = self.create_lock.lock().await;
        for m in mounts.iter().filter(|m| m.kind == "volume" && m.anonymous) {
            match self.remove_volume_locked(&m.name, true).await {
                Ok(_) => {}
                Err(e) if e.kind == ErrorKind::Conflict => {}
                Err(e) => tracing::warn!(volume = %m.name, "remove anonymous volume: {e}"),
            }
        }
    }

    /// `POST /volumes/prune`: every unused volume (API 1.41), or with `all=false` only
    /// anonymous ones (1.42's default); `label`/`label!` filters.
    pub async fn prune_volumes(
        &self,
        filters: BTreeMap<String, Vec<String>>,
    ) -> Result<VolumePruneResponse> {
        for key in filters.keys() {
            if !matches!(key.as_str(), "label" | "label!" | "all") {
                return Err(Error::invalid(format!("invalid filter '{key}'")));
            }
        }
        let all = match filters.get("all") {
            Some(v) => bool_filter("all", v)?.unwrap_or(true),
            None => true,
        };
        let _guard = self.create_lock.lock().await;
        let mut deleted = Vec::new();
        let mut reclaimed = 0;
        let mut recs = self.all_volumes().await?;
        recs.sort_by(|a, b| a.name.cmp(&b.name));
        for rec in recs {
            if !all && !rec.anonymous {
                continue;
            }
            if let Some(ls) = filters.get("label") {
                if !ls.iter().all(|l| label_matches(&rec.labels, l)) {
                    continue;
                }
            }
            if let Some(ls) = filters.get("label!") {
                if ls.iter().any(|l| label_matches(&rec.labels, l)) {
                    continue;
                }
            }
            if !self.volume_users(&rec.name).is_empty() {
                continue;
            }
            match self.remove_volume_locked(&rec.name, false).await {
                Ok(size) => {
                    reclaimed += size;
                    deleted.push(rec.name.clone());
                }
                Err(e) => tracing::warn!(volume = %rec.name, "prune: {e}"),
            }
        }
        self.emit(
            "volume",
            "prune",
            "",
            BTreeMap::from([("reclaimed".into(), reclaimed.to_string())]),
        );
        Ok(VolumePruneResponse {
            volumes_deleted: (!deleted.is_empty()).then_some(deleted),
            space_reclaimed: reclaimed,
        })
    }

    /// `system df` rows: each volume with its size and how many containers use it.
    pub(crate) async fn volumes_usage(&self) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        let mut recs = self.all_volumes().await?;
        recs.sort_by(|a, b| a.name.cmp(&b.name));
        for rec in recs {
            let mut v = self.volume_api(&rec);
            let data = self.volume_data(&rec.name);
            let size = tokio::task::spawn_blocking(move || crate::disk_usage::tree_size(&data))
                .await
                .unwrap_or(0);
            v.usage_data = Some(berth_model::api::VolumeUsageData {
                size: size as i64,
                ref_count: self.volume_users(&rec.name).len() as i64,
            });
            out.push(v);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_bool_filters() {
        let l = Some(BTreeMap::from([("a".to_string(), "1".to_string())]));
        assert!(label_matches(&l, "a"));
        assert!(label_matches(&l, "a=1"));
        assert!(!label_matches(&l, "a=2"));
        assert!(!label_matches(&None, "a"));
        assert_eq!(
            bool_filter("dangling", &["true".into()]).unwrap(),
            Some(true)
        );
        assert_eq!(bool_filter("dangling", &["0".into()]).unwrap(), Some(false));
        assert_eq!(
            bool_filter("dangling", &["x".into()]).unwrap_err().message,
            "invalid filter 'dangling=x'"
        );
        assert_eq!(random_name().len(), 64);
    }
}
