//! A container's mounts: resolved at create (volumes made, Docker's checks and order),
//! set up at each start (volumes' driver options mounted, copy-up, bind sources made),
//! released when it stops, and shown in inspect as dockerd shows them.

use super::local;
use crate::container::Record;
use crate::Engine;
use berth_model::api::{ContainerConfig, HostConfig, Mount, MountPoint};
use berth_model::{Error, Result};
use berth_runtime::spec::{self, BindMount, MountKind, MountRequest};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One mount of a container as persisted in its record (dockerd's `MountPoint`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MountRecord {
    /// `bind`, `volume` or `tmpfs`.
    pub kind: String,
    /// The volume's name.
    #[serde(default)]
    pub name: String,
    /// The host path of a bind.
    #[serde(default)]
    pub source: String,
    pub destination: String,
    pub rw: bool,
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub propagation: String,
    #[serde(default)]
    pub nocopy: bool,
    /// A `-v` bind: the host path is made when missing.
    #[serde(default)]
    pub create_source: bool,
    #[serde(default)]
    pub non_recursive: bool,
    /// The volume was made for this container.
    #[serde(default)]
    pub anonymous: bool,
    /// tmpfs options (`size=..,mode=..`).
    #[serde(default)]
    pub tmpfs_data: String,
}

impl MountRecord {
    fn from_request(r: &MountRequest) -> Self {
        MountRecord {
            kind: r.kind.as_str().to_string(),
            name: if r.kind == MountKind::Volume {
                r.source.clone()
            } else {
                String::new()
            },
            source: if r.kind == MountKind::Bind {
                r.source.clone()
            } else {
                String::new()
            },
            destination: r.destination.clone(),
            rw: !r.read_only,
            mode: r.mode.clone(),
            propagation: r.propagation.clone(),
            nocopy: r.nocopy,
            create_source: r.create_source,
            non_recursive: r.non_recursive,
            anonymous: false,
            tmpfs_data: r.tmpfs_data.clone(),
        }
    }
}

fn spec_err(e: spec::SpecError) -> Error {
    Error::new(e.kind(), e.to_string())
}

/// A HostConfig entry the model keeps untyped; absent and null are empty.
fn extra_field<T: for<'de> Deserialize<'de> + Default>(hc: &HostConfig, key: &str) -> Result<T> {
    match hc.extra.get(key) {
        None | Some(serde_json::Value::Null) => Ok(T::default()),
        Some(v) => {
            T::deserialize(v).map_err(|e| Error::invalid(format!("invalid HostConfig.{key}: {e}")))
        }
    }
}

/// `HostConfig.Mounts`.
pub(crate) fn host_mounts(hc: &HostConfig) -> Result<Vec<Mount>> {
    extra_field(hc, "Mounts")
}

/// `HostConfig.VolumesFrom`.
pub(crate) fn volumes_from(hc: &HostConfig) -> Result<Vec<String>> {
    extra_field(hc, "VolumesFrom")
}

/// The files berthd mounts into every container; a user's mount there replaces them.
const NETWORK_FILES: [&str; 3] = ["/etc/hosts", "/etc/resolv.conf", "/etc/hostname"];

/// The attributes of dockerd's `volume mount` event (`setupMounts`).
fn mount_event_attributes(container: &str, m: &MountRecord) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("container".to_string(), container.to_string()),
        ("destination".to_string(), m.destination.clone()),
        ("driver".to_string(), "local".to_string()),
        ("propagation".to_string(), m.propagation.clone()),
        ("read/write".to_string(), m.rw.to_string()),
    ])
}

/// A bind asking for shared or slave propagation needs its source on a mount that
/// propagates (dockerd's `ensureShared` / `ensureSharedOrSlave`, a system error).
fn check_propagation(m: &MountRecord) -> Result<()> {
    if !matches!(
        m.propagation.as_str(),
        "shared" | "rshared" | "slave" | "rslave"
    ) {
        return Ok(());
    }
    let real = std::fs::canonicalize(&m.source)
        .map_err(|e| Error::internal(format!("{}: {e}", m.source)))?;
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    spec::check_bind_propagation(&m.source, &real.to_string_lossy(), &m.propagation, &info)
        .map_err(Error::internal)
}

/// Replaces the mount at the same destination, else appends.
fn put(list: &mut Vec<MountRecord>, m: MountRecord) {
    match list.iter_mut().find(|x| x.destination == m.destination) {
        Some(slot) => *slot = m,
        None => list.push(m),
    }
}

/// The user's requests in Docker's order, checked without touching anything: binds
/// then `--mount`s (no two at one place); `Config.Volumes` are resolved later.
pub(crate) fn requests(hc: &HostConfig) -> Result<Vec<MountRequest>> {
    let mut reqs = Vec::new();
    for b in hc.binds.iter().flatten() {
        reqs.push(spec::parse_bind(b).map_err(spec_err)?);
    }
    for m in host_mounts(hc)? {
        reqs.push(spec::parse_mount(&m).map_err(spec_err)?);
    }
    spec::check_duplicates(&reqs).map_err(spec_err)?;
    for v in volumes_from(hc)? {
        spec::parse_volumes_from(&v).map_err(spec_err)?;
    }
    Ok(reqs)
}

impl Engine {
    /// Resolves a new container's mounts (dockerd's `registerMountPoints` and the
    /// `Config.Volumes` pass of create): `--volumes-from` first, binds and `--mount`s over
    /// them, then an anonymous volume for each `VOLUME` path nothing else covers. Volumes
    /// named but missing are created. The caller holds `create_lock`.
    pub(crate) async fn resolve_mounts(
        &self,
        config: &ContainerConfig,
        hc: &HostConfig,
    ) -> Result<Vec<MountRecord>> {
        let reqs = requests(hc)?;
        let mut out: Vec<MountRecord> = Vec::new();
        for v in volumes_from(hc)? {
            let (id, ro) = spec::parse_volumes_from(&v).map_err(spec_err)?;
            let source = self.get(&id)?;
            for mut m in source.record().mounts {
                if let Some(ro) = ro {
                    m.rw = !ro;
                    m.mode = if ro { "ro".into() } else { "rw".into() };
                }
                // The volume belongs to the first container: `rm -v` of this one keeps it.
                m.anonymous = false;
                put(&mut out, m);
            }
        }
        for r in &reqs {
            let mut m = MountRecord::from_request(r);
            match r.kind {
                MountKind::Volume => {
                    let anonymous = r.source.is_empty();
                    let name = if anonymous {
                        super::random_name()
                    } else {
                        r.source.clone()
                    };
                    let labels = (!r.volume_labels.is_empty()).then(|| r.volume_labels.clone());
                    let opts = (!r.driver_opts.is_empty()).then(|| r.driver_opts.clone());
                    self.ensure_volume(&name, labels, opts, anonymous).await?;
                    m.name = name;
                    m.anonymous = anonymous;
                }
                MountKind::Bind if !r.create_source && !Path::new(&r.source).exists() => {
                    return Err(Error::invalid(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {}",
                        r.source
                    )));
                }
                _ => {}
            }
            put(&mut out, m);
        }
        let mut image_volumes: Vec<&String> =
            config.volumes.iter().flat_map(|v| v.keys()).collect();
        image_volumes.sort();
        for path in image_volumes {
            let r = spec::parse_bind(path).map_err(spec_err)?;
            if r.kind != MountKind::Volume || !r.source.is_empty() {
                continue;
            }
            if out.iter().any(|m| m.destination == r.destination) {
                continue;
            }
            let name = super::random_name();
            self.ensure_volume(&name, None, None, true).await?;
            let mut m = MountRecord::from_request(&r);
            m.name = name;
            m.anonymous = true;
            m.mode = String::new();
            put(&mut out, m);
        }
        Ok(out)
    }

    /// Volumes made by [`Engine::resolve_mounts`] for a container whose create failed.
    pub(crate) async fn drop_new_anonymous(&self, mounts: &[MountRecord]) {
        for m in mounts.iter().filter(|m| m.anonymous) {
            let _ = self.remove_volume_locked(&m.name, true).await;
        }
    }

    /// Sets up a starting container's mounts once its rootfs is mounted: the binds for
    /// its spec and the tmpfs entries of `--mount type=tmpfs`. Volumes it uses are held
    /// until [`Engine::release_volumes`].
    pub(crate) async fn prepare_mounts(
        &self,
        rec: &Record,
        rootfs: &Path,
    ) -> Result<(Vec<BindMount>, BTreeMap<String, String>)> {
        let mut binds = Vec::new();
        let mut tmpfs = BTreeMap::new();
        let result = self
            .prepare_mounts_inner(rec, rootfs, &mut binds, &mut tmpfs)
            .await;
        if let Err(e) = result {
            self.release_volumes(&rec.id);
            return Err(e);
        }
        Ok((binds, tmpfs))
    }

    async fn prepare_mounts_inner(
        &self,
        rec: &Record,
        rootfs: &Path,
        binds: &mut Vec<BindMount>,
        tmpfs: &mut BTreeMap<String, String>,
    ) -> Result<()> {
        let files: Vec<&str> = NETWORK_FILES
            .into_iter()
            .filter(|f| !rec.mounts.iter().any(|m| m.destination == *f))
            .collect();
        local::ensure_link_targets(rootfs, &files)?;
        // Destinations as they are inside the image, for the mount and the copy-up alike.
        let wanted: Vec<String> = rec.mounts.iter().map(|m| m.destination.clone()).collect();
        let root = rootfs.to_path_buf();
        let resolved = if rec.mounts.iter().any(|m| m.kind != "tmpfs") {
            tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = wanted.iter().map(String::as_str).collect();
                local::resolve_in_root(&root, &refs)
            })
            .await
            .map_err(|e| Error::internal(e.to_string()))??
        } else {
            wanted
        };
        for (m, mut dest) in rec.mounts.iter().zip(resolved) {
            if NETWORK_FILES.contains(&m.destination.as_str()) {
                // It replaces the file berthd writes there, whatever the image has.
                dest = m.destination.clone();
            }
            let source: PathBuf = match m.kind.as_str() {
                "tmpfs" => {
                    tmpfs.insert(m.destination.clone(), m.tmpfs_data.clone());
                    continue;
                }
                "volume" => {
                    let vol = match self.load_volume(&m.name).await? {
                        Some(v) => v,
                        None => self.ensure_volume(&m.name, None, None, m.anonymous).await?,
                    };
                    self.hold_volume(&rec.id, &vol)?;
                    let data = self.volume_data(&m.name);
                    if !m.nocopy {
                        let (root, dest, vol_dir) =
                            (rootfs.to_path_buf(), dest.clone(), data.clone());
                        let scratch = self.container_dir(&rec.id).join("copy-up.tar");
                        tokio::task::spawn_blocking(move || {
                            local::copy_up(&root, &dest, &vol_dir, &scratch)
                        })
                        .await
                        .map_err(|e| Error::internal(e.to_string()))??;
                    }
                    self.emit(
                        "volume",
                        "mount",
                        &m.name,
                        mount_event_attributes(&rec.id, m),
                    );
                    data
                }
                _ => {
                    let p = PathBuf::from(&m.source);
                    if !p.exists() {
                        if !m.create_source {
                            return Err(Error::invalid(format!(
                                "invalid mount config for type \"bind\": bind source path does not exist: {}",
                                m.source
                            )));
                        }
                        std::fs::create_dir_all(&p).map_err(|e| {
                            Error::internal(format!(
                                "error while creating mount source path '{}': {e}",
                                m.source
                            ))
                        })?;
                    }
                    check_propagation(m)?;
                    p
                }
            };
            binds.push(BindMount {
                source,
                destination: dest,
                read_only: !m.rw,
                propagation: m.propagation.clone(),
                non_recursive: m.non_recursive,
            });
        }
        Ok(())
    }

    /// Counts a running container's use of a volume, mounting its driver options on
    /// first use.
    fn hold_volume(&self, container: &str, vol: &super::VolumeRecord) -> Result<()> {
        let mut active = self
            .volumes
            .active
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let n = active.entry(vol.name.clone()).or_insert(0);
        if *n == 0 {
            if let Some(opts) = &vol.options {
                let data = self.volume_data(&vol.name);
                if !local::is_mountpoint(&data) {
                    local::mount_volume(&vol.name, &data, opts)?;
                }
            }
        }
        *n += 1;
        self.volumes
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(container.to_string())
            .or_default()
            .push(vol.name.clone());
        Ok(())
    }

    /// A container stopped (or failed to start): its volumes are let go, and one with
    /// driver options is unmounted when no running container uses it any more.
    pub(crate) fn release_volumes(&self, container: &str) {
        let names = self
            .volumes
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(container)
            .unwrap_or_default();
        let mut active = self
            .volumes
            .active
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for name in names {
            // dockerd's `UnmountVolumes`: one event per volume mount, before `die`.
            self.emit(
                "volume",
                "unmount",
                &name,
                BTreeMap::from([
                    ("container".to_string(), container.to_string()),
                    ("driver".to_string(), "local".to_string()),
                ]),
            );
            let n = active.entry(name.clone()).or_insert(1);
            *n = n.saturating_sub(1);
            if *n == 0 {
                active.remove(&name);
                let data = self.volume_data(&name);
                if local::is_mountpoint(&data) {
                    if let Err(e) = local::unmount_if_mounted(&data) {
                        tracing::warn!(volume = %name, "unmount: {e}");
                    }
                }
            }
        }
    }

    /// After a restart of berthd: the volumes of containers still running are held
    /// again (their driver options still mounted), and a volume left mounted by a
    /// container that ended meanwhile is unmounted.
    pub(crate) async fn reconcile_volumes(&self) {
        let _ = std::fs::create_dir_all(self.volumes_root());
        let vols = match self.all_volumes().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("volumes: {e}");
                return;
            }
        };
        for c in self.all_containers() {
            if !c.is_running() {
                continue;
            }
            let rec = c.record();
            for m in rec.mounts.iter().filter(|m| m.kind == "volume") {
                if let Some(v) = vols.iter().find(|v| v.name == m.name) {
                    if let Err(e) = self.hold_volume(&rec.id, v) {
                        tracing::warn!(volume = %v.name, "remount: {e}");
                    }
                }
            }
        }
        let active = self
            .volumes
            .active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for v in vols.iter().filter(|v| v.options.is_some()) {
            if !active.contains_key(&v.name) {
                let _ = local::unmount_if_mounted(&self.volume_data(&v.name));
            }
        }
    }

    /// [`Engine::mount_points`] as JSON values.
    pub(crate) fn mount_values(&self, mounts: &[MountRecord]) -> Vec<serde_json::Value> {
        self.mount_points(mounts)
            .iter()
            .filter_map(|m| serde_json::to_value(m).ok())
            .collect()
    }

    /// `Mounts` of inspect and `ps`, as dockerd shows them.
    pub(crate) fn mount_points(&self, mounts: &[MountRecord]) -> Vec<MountPoint> {
        mounts
            .iter()
            .map(|m| match m.kind.as_str() {
                "volume" => MountPoint {
                    kind: "volume".into(),
                    name: m.name.clone(),
                    source: self.volume_data(&m.name).display().to_string(),
                    destination: m.destination.clone(),
                    driver: "local".into(),
                    mode: m.mode.clone(),
                    rw: m.rw,
                    propagation: String::new(),
                },
                "bind" => MountPoint {
                    kind: "bind".into(),
                    name: String::new(),
                    source: m.source.clone(),
                    destination: m.destination.clone(),
                    driver: String::new(),
                    mode: m.mode.clone(),
                    rw: m.rw,
                    propagation: if m.propagation.is_empty() {
                        "rprivate".into()
                    } else {
                        m.propagation.clone()
                    },
                },
                other => MountPoint {
                    kind: other.to_string(),
                    name: String::new(),
                    source: String::new(),
                    destination: m.destination.clone(),
                    driver: String::new(),
                    mode: String::new(),
                    rw: m.rw,
                    propagation: String::new(),
                },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_follow_dockers_checks() {
        let mut hc = HostConfig {
            binds: Some(vec!["data:/d".into(), "/h:/x:ro".into()]),
            ..Default::default()
        };
        hc.extra
            .insert("Mounts".into(), json!([{"Type": "tmpfs", "Target": "/t"}]));
        let r = requests(&hc).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[2].kind, MountKind::Tmpfs);
        hc.extra.insert(
            "Mounts".into(),
            json!([{"Type": "volume", "Source": "v2", "Target": "/d"}]),
        );
        assert_eq!(
            requests(&hc).unwrap_err().message,
            "Duplicate mount point: /d"
        );
        hc.extra.remove("Mounts");
        hc.extra.insert("VolumesFrom".into(), json!(["c:bogus"]));
        assert_eq!(requests(&hc).unwrap_err().message, "invalid mode: bogus");
    }

    #[test]
    fn records_from_requests() {
        let m = MountRecord::from_request(&spec::parse_bind("/h:/x:ro").unwrap());
        assert_eq!(
            (m.kind.as_str(), m.source.as_str(), m.rw, m.mode.as_str()),
            ("bind", "/h", false, "ro")
        );
        let m = MountRecord::from_request(&spec::parse_bind("vol:/x").unwrap());
        assert_eq!(
            (m.kind.as_str(), m.name.as_str(), m.rw),
            ("volume", "vol", true)
        );
        let mut list = vec![m.clone()];
        put(
            &mut list,
            MountRecord {
                name: "other".into(),
                ..m
            },
        );
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].name, "other");
    }

    #[test]
    fn mount_event_as_dockerd() {
        let m = MountRecord::from_request(&spec::parse_bind("vol:/x:ro").unwrap());
        let a = mount_event_attributes("c1", &m);
        let got: Vec<(&str, &str)> = a.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            got,
            [
                ("container", "c1"),
                ("destination", "/x"),
                ("driver", "local"),
                ("propagation", ""),
                ("read/write", "false")
            ]
        );
    }
}
