//! `start`: mount the rootfs, write the OCI bundle, spawn the container's shim, connect the
//! attach sessions that were waiting, run the process; and the monitor that records its exit.

use super::{now_rfc3339, Container, Status};
use crate::Engine;
use berth_model::{Error, ErrorKind, Result};
use berth_runtime::spec::{self, SpecInput};
use berth_runtime::{ExitStatus, ShimClient, ShimConfig};
use std::path::Path;
use std::sync::Arc;

/// Docker keeps json-file logs unbounded unless told; Berth caps them by default (3 files
/// of 100 MiB) so a chatty container cannot fill the disk.
const DEFAULT_LOG_MAX_SIZE: u64 = 100 * 1024 * 1024;
const DEFAULT_LOG_MAX_FILES: u32 = 3;

/// Parses Docker's `max-size` (`10m`, `1g`, `512k`, bytes).
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mul) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1024),
        'm' => (&s[..s.len() - 1], 1024 * 1024),
        'g' => (&s[..s.len() - 1], 1024 * 1024 * 1024),
        _ => (&s[..], 1),
    };
    num.parse::<u64>().ok().map(|n| n * mul)
}

/// Replaces the bundle's config.json whole. No fsync: the file is regenerated from the
/// container record on every start, so one lost to a power cut is never read.
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Docker asks for RLIMIT_NOFILE 1048576; raising a hard limit needs CAP_SYS_RESOURCE,
/// which a sandboxed daemon may lack, so no rlimit asks for more than berthd's own.
fn clamp_rlimits(spec: &mut oci_spec::runtime::Spec) {
    use nix::sys::resource::{getrlimit, Resource};
    let Some(process) = spec.process_mut() else {
        return;
    };
    let Some(limits) = process.rlimits().clone() else {
        return;
    };
    let clamped = limits
        .into_iter()
        .map(|l| {
            let max = match getrlimit(Resource::RLIMIT_NOFILE) {
                Ok((_, hard)) if l.typ() == oci_spec::runtime::PosixRlimitType::RlimitNofile => {
                    hard
                }
                _ => return l,
            };
            oci_spec::runtime::PosixRlimitBuilder::default()
                .typ(l.typ())
                .hard(l.hard().min(max))
                .soft(l.soft().min(max))
                .build()
                .unwrap_or(l)
        })
        .collect();
    process.set_rlimits(Some(clamped));
}

/// libcontainer 0.7 mounts cgroup v1 hierarchies read-write whatever the spec says, which
/// would let a container raise its own limits: make the cgroup tmpfs and each hierarchy
/// read-only paths, which it does honour (one remount per mount point, hence each listed).
fn readonly_cgroup_v1(spec: &mut oci_spec::runtime::Spec) {
    let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    let mut paths = vec!["/sys/fs/cgroup".to_string()];
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        // Only real hierarchies (not the comount symlinks like cpu,cpuacct).
        if e.file_type().is_ok_and(|t| t.is_dir()) && name != "unified" {
            paths.push(format!("/sys/fs/cgroup/{name}"));
        }
    }
    if paths.len() == 1 {
        return; // cgroup v2 only: the spec's ro cgroup2 mount is honoured.
    }
    let Some(linux) = spec.linux_mut() else {
        return;
    };
    let mut ro = linux.readonly_paths().clone().unwrap_or_default();
    ro.extend(paths);
    linux.set_readonly_paths(Some(ro));
}

impl Engine {
    /// The init to mount for `--init` (`HostConfig.Init`, else the daemon's `--init`), if
    /// any. Checked at each start, since the binary may have been replaced meanwhile; and
    /// never berthd itself, whose binary a container must not be able to reach.
    fn init_binary(&self, init: Option<bool>) -> Result<Option<std::path::PathBuf>> {
        if !init.unwrap_or(self.cfg.init) {
            return Ok(None);
        }
        let path = &self.cfg.init_path;
        let unusable = |why: String| {
            Error::invalid(format!(
                "init binary {} cannot be used for --init: {why} (set it with berthd --init-path)",
                path.display()
            ))
        };
        let meta = std::fs::metadata(path).map_err(|e| unusable(e.to_string()))?;
        if !meta.is_file() {
            return Err(unusable("not a regular file".into()));
        }
        let same = |a: &Path, b: &Path| match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if same(path, &self.cfg.shim_exe) {
            return Err(unusable("it is the berthd binary".into()));
        }
        Ok(Some(path.clone()))
    }

    pub async fn start(self: &Arc<Self>, id_or_name: &str) -> Result<()> {
        let c = self.get(id_or_name)?;
        let _op = c.op.lock().await;
        c.lock().record.manually_stopped = false;
        self.start_locked(&c).await
    }

    /// Starts a container whose `op` lock the caller holds.
    pub(crate) async fn start_locked(self: &Arc<Self>, c: &Arc<Container>) -> Result<()> {
        let rec = c.record();
        match rec.state.status {
            Status::Running | Status::Paused => return Err(Error::not_modified()),
            Status::Removing | Status::Dead => {
                return Err(Error::conflict(format!(
                    "cannot start container {}: it is being removed",
                    rec.id
                )))
            }
            _ => {}
        }
        let dir = self.container_dir(&rec.id);
        let rootfs = dir.join("rootfs");
        let cid = rec.id.clone();
        let mount = self
            .blocking(move |s| s.rw_mount(&cid).map_err(Error::from))
            .await?;
        std::fs::create_dir_all(&rootfs)?;
        let _ = berth_store::unmount(&rootfs);
        mount
            .mount(&rootfs)
            .map_err(|e| Error::internal(format!("mount rootfs of {}: {e}", rec.id)))?;

        match self.launch(c, &rootfs).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.net_stop(c).await;
                let _ = berth_store::unmount(&rootfs);
                self.release_volumes(&c.id);
                let auto_remove = {
                    let mut inner = c.lock();
                    // Waiting attach sessions end now: their client reports the error.
                    inner.pending.clear();
                    inner.record.state.error = e.message.clone();
                    if inner.record.state.status != Status::Created {
                        inner.record.state.status = Status::Exited;
                    }
                    inner.record.state.exit_code = 128;
                    inner.record.host_config.auto_remove
                };
                let _ = self.persist(c).await;
                if auto_remove {
                    // As dockerd: a `--rm` container that failed to start is removed, which
                    // also answers the client's `wait?condition=removed`.
                    let engine = self.clone();
                    let id = c.id.clone();
                    tokio::spawn(async move {
                        let _ = engine.remove(&id, true, true).await;
                    });
                }
                Err(e)
            }
        }
    }

    async fn launch(self: &Arc<Self>, c: &Arc<Container>, rootfs: &Path) -> Result<()> {
        let rec = c.record();
        let dir = self.container_dir(&rec.id);
        let cfg = &rec.config;
        let hc = &rec.host_config;
        let mut args = vec![rec.path.clone()];
        args.extend(rec.args.iter().cloned());
        let spec_err = |e: spec::SpecError| Error::new(e.kind(), e.to_string());
        let (user_mounts, mount_tmpfs) = self.prepare_mounts(&rec, rootfs).await?;
        let mut tmpfs = spec::tmpfs_mounts(hc).map_err(spec_err)?;
        tmpfs.extend(mount_tmpfs);
        let net = self.net_start(c).await?;
        let input = SpecInput {
            id: rec.id.clone(),
            rootfs: rootfs.to_path_buf(),
            args,
            env: cfg.env.clone().unwrap_or_default(),
            cwd: cfg.working_dir.clone(),
            user: cfg.user.clone(),
            hostname: cfg.hostname.clone(),
            domainname: cfg.domainname.clone(),
            tty: cfg.tty,
            readonly_rootfs: hc.readonly_rootfs,
            privileged: hc.privileged,
            cap_add: hc.cap_add.clone().unwrap_or_default(),
            cap_drop: hc.cap_drop.clone().unwrap_or_default(),
            security_opt: hc.security_opt.clone().unwrap_or_default(),
            hosts_path: Some(dir.join("hosts")),
            resolv_conf_path: Some(dir.join("resolv.conf")),
            hostname_path: Some(dir.join("hostname")),
            cgroups_path: format!("berth/{}", rec.id),
            shm_size: hc.shm_size,
            masked_paths: hc.masked_paths.clone(),
            readonly_paths: hc.readonly_paths.clone(),
            netns_path: net.netns_path,
            host_network: net.host,
            devices: spec::device_mappings(hc).map_err(spec_err)?,
            device_cgroup_rules: spec::device_cgroup_rules(hc).map_err(spec_err)?,
            tmpfs,
            init_path: self.init_binary(hc.init)?,
            mounts: user_mounts,
        };
        let mut spec = spec::generate(&input).map_err(|e| Error::new(e.kind(), e.to_string()))?;
        let ncpu = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        spec::apply_resources(&mut spec, hc, ncpu)
            .map_err(|e| Error::new(e.kind(), e.to_string()))?;
        clamp_rlimits(&mut spec);
        if !hc.privileged {
            readonly_cgroup_v1(&mut spec);
        }
        let json = serde_json::to_vec_pretty(&spec).map_err(|e| Error::internal(e.to_string()))?;
        replace_file(&dir.join("config.json"), &json)?;

        let log_cfg = &hc.log_config.config;
        let log_attrs = super::logs::log_attrs(
            &cfg.labels.clone().unwrap_or_default(),
            cfg.env.as_deref().unwrap_or_default(),
            log_cfg,
        )?;
        let shim_cfg = ShimConfig {
            id: rec.id.clone(),
            bundle: dir.clone(),
            state_dir: dir.clone(),
            socket: self.shim_socket(&rec.id),
            runtime_root: self.runtime_root(),
            tty: cfg.tty,
            open_stdin: cfg.open_stdin,
            stdin_once: cfg.stdin_once,
            log_path: self.log_path(&rec.id),
            log_max_size: Some(
                log_cfg
                    .get("max-size")
                    .and_then(|s| parse_size(s))
                    .unwrap_or(DEFAULT_LOG_MAX_SIZE),
            ),
            log_max_file: log_cfg
                .get("max-file")
                .and_then(|s| s.parse().ok())
                .unwrap_or(if log_cfg.contains_key("max-size") {
                    1
                } else {
                    DEFAULT_LOG_MAX_FILES
                }),
            log_attrs,
            console_size: hc
                .console_size
                .filter(|s| s[0] > 0 && s[1] > 0)
                .map(|s| (s[0] as u16, s[1] as u16)),
            runtime_binary: None,
        };
        // A stale exit record from a previous run must not be mistaken for this one's.
        let _ = std::fs::remove_file(dir.join("exit.json"));
        let wire = async {
            match net.wire {
                true => self.net_wire(c).await,
                false => Ok(()),
            }
        };
        let (shim, wired) = tokio::join!(ShimClient::spawn(&self.cfg.shim_exe, &shim_cfg), wire);
        // A wiring error (a port already allocated) is the one the user can act on; the
        // caller tears the network down once both are done.
        if let Err(e) = wired {
            if let Ok(shim) = shim {
                let _ = shim.kill(9, true).await;
                let _ = shim.wait().await;
            }
            return Err(e);
        }
        let shim = shim.map_err(|e| Error::new(e.kind(), e.to_string()))?;
        let pending = std::mem::take(&mut c.lock().pending);
        for p in pending {
            super::attach::connect(&shim, p).await;
        }
        if let Err(e) = shim.start().await {
            let _ = shim.kill(9, true).await;
            let _ = shim.wait().await;
            let kind = match e.kind() {
                ErrorKind::Internal => ErrorKind::InvalidArgument,
                k => k,
            };
            return Err(Error::new(
                kind,
                format!("failed to create shim task: OCI runtime create failed: {e}: unknown"),
            ));
        }
        {
            let mut inner = c.lock();
            let st = &mut inner.record.state;
            st.status = Status::Running;
            st.pid = shim.pid() as i64;
            st.started_at = now_rfc3339();
            st.error.clear();
            st.exit_code = 0;
            st.oom_killed = false;
            inner.shim = Some(shim.clone());
        }
        c.events.send_modify(|e| e.running = true);
        self.init_health(c).await;
        self.persist(c).await?;
        self.spawn_monitor(c.clone(), shim);
        self.emit_container(c, "start", &[]);
        tracing::info!(container = %rec.id, "started");
        Ok(())
    }

    pub(crate) fn log_path(&self, id: &str) -> std::path::PathBuf {
        self.container_dir(id).join(format!("{id}-json.log"))
    }

    /// Waits for the container's exit through its shim and records it.
    pub(crate) fn spawn_monitor(self: &Arc<Self>, c: Arc<Container>, shim: ShimClient) {
        let engine = self.clone();
        tokio::spawn(async move {
            let status = match shim.wait().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(container = %c.id, "lost the shim: {e}");
                    match berth_runtime::read_exit_status(&engine.container_dir(&c.id)) {
                        Some(st) => st,
                        None => {
                            engine.reap_orphan(&c).await;
                            ExitStatus {
                                exit_code: 255,
                                oom_killed: false,
                                finished_at: now_rfc3339(),
                            }
                        }
                    }
                }
            };
            engine.on_exit(&c, status).await;
        });
    }

    /// A shim that died without recording an exit leaves its container's processes and
    /// cgroups behind: kill the init (only if that pid is still in this container's
    /// cgroup, so a reused pid is never hit; the pid namespace dies with it) and clean up.
    pub(crate) async fn reap_orphan(&self, c: &Container) {
        let id = c.id.clone();
        let pid = c.lock().record.state.pid;
        let state = self.runtime_root().join(&id);
        let _ = tokio::task::spawn_blocking(move || {
            if pid > 0 {
                let cgroups =
                    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
                if cgroups.contains(&id) {
                    let target = nix::unistd::Pid::from_raw(pid as i32);
                    let _ = nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGKILL);
                    for _ in 0..100 {
                        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                }
            }
            berth_runtime::runtime::remove_cgroup_dirs(&format!("berth/{id}"));
            let _ = std::fs::remove_dir_all(state);
        })
        .await;
    }

    /// Records an exit: unmounts the rootfs, persists, wakes waiters, honours `--rm`.
    pub(crate) async fn on_exit(self: &Arc<Self>, c: &Arc<Container>, status: ExitStatus) {
        self.stop_health(c).await;
        let rootfs = self.container_dir(&c.id).join("rootfs");
        if let Err(e) = berth_store::unmount(&rootfs) {
            tracing::warn!(container = %c.id, "unmount rootfs: {e}");
        }
        self.release_volumes(&c.id);
        self.net_stop(c).await;
        let auto_remove = {
            let mut inner = c.lock();
            inner.shim = None;
            let st = &mut inner.record.state;
            st.status = Status::Exited;
            st.pid = 0;
            st.exit_code = status.exit_code as i64;
            st.oom_killed = status.oom_killed;
            st.finished_at = status.finished_at.clone();
            inner.record.host_config.auto_remove
        };
        // A `--rm` container's removal persists `Removing` first thing: one commit less on
        // `run --rm`'s path. A crash before that is reconciled at startup as this exit.
        if !auto_remove {
            if let Err(e) = self.persist(c).await {
                tracing::error!(container = %c.id, "persist exit: {e}");
            }
        }
        // Events first: waiters (stop, wait, restart) emit their own events once they see
        // the exit, and dockerd's order is oom, die, then stop.
        if status.oom_killed {
            self.emit_container(c, "oom", &[]);
        }
        self.emit_container(c, "die", &[("exitCode", status.exit_code.to_string())]);
        c.events.send_modify(|e| {
            e.running = false;
            e.exits += 1;
            e.exit_code = status.exit_code as i64;
        });
        tracing::info!(container = %c.id, code = status.exit_code, "exited");
        if self.maybe_restart(c).await {
            return;
        }
        if auto_remove {
            let engine = self.clone();
            let id = c.id.clone();
            tokio::spawn(async move {
                if let Err(e) = engine.remove(&id, true, true).await {
                    if e.kind != ErrorKind::NotFound {
                        tracing::warn!(container = %id, "auto-remove: {e}");
                    }
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("10m"), Some(10 * 1024 * 1024));
        assert_eq!(super::parse_size("512"), Some(512));
        assert_eq!(super::parse_size("x"), None);
    }
}
