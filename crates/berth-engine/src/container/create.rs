//! `POST /containers/create`: merge the image's defaults, reserve the name, prepare the
//! read-write layer and the files bind-mounted into the container.

use super::{now_rfc3339, Container, Record, StateRecord, Status, ZERO_TIME};
use crate::{names, Engine};
use berth_model::api::{
    ContainerConfig, ContainerCreateRequest, ContainerCreateResponse, HostConfig,
};
use berth_model::image::ImageConfig;
use berth_model::{Error, ErrorKind, Reference, Result};
use rand::RngCore;
use std::collections::BTreeMap;

const DEFAULT_SHM_SIZE: i64 = 64 * 1024 * 1024;

/// Docker's merge of an image's config into a container's (daemon/create.go `merge`).
pub fn merge_image_config(cfg: &mut ContainerConfig, image: &ImageConfig) {
    let ic = &image.config;
    // Env: image first, container values override by key.
    let mut env: Vec<String> = ic.env.clone().unwrap_or_default();
    for kv in cfg.env.clone().unwrap_or_default() {
        let key = kv.split('=').next().unwrap_or("").to_string();
        env.retain(|e| e.split('=').next().unwrap_or("") != key);
        env.push(kv);
    }
    cfg.env = Some(env);
    let entrypoint_given = cfg.entrypoint.is_some();
    if !entrypoint_given {
        cfg.entrypoint = ic.entrypoint.clone();
        if cfg.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            cfg.cmd = ic.cmd.clone();
        }
    }
    // `--entrypoint ""` resets it.
    if cfg
        .entrypoint
        .as_ref()
        .is_some_and(|e| e.len() == 1 && e[0].is_empty())
    {
        cfg.entrypoint = None;
    }
    if cfg.working_dir.is_empty() {
        cfg.working_dir = ic.working_dir.clone();
    }
    if cfg.user.is_empty() {
        cfg.user = ic.user.clone();
    }
    if let Some(il) = &ic.labels {
        let mut labels: BTreeMap<String, String> = il.clone();
        labels.extend(cfg.labels.clone().unwrap_or_default());
        cfg.labels = Some(labels);
    }
    if cfg.stop_signal.is_none() && !ic.stop_signal.is_empty() {
        cfg.stop_signal = Some(ic.stop_signal.clone());
    }
    if cfg.exposed_ports.is_none() {
        cfg.exposed_ports = ic.exposed_ports.clone();
    }
    if cfg.volumes.as_ref().is_none_or(|v| v.is_empty()) && ic.volumes.is_some() {
        cfg.volumes = ic.volumes.clone();
    }
    // An image check that does not decode is ignored, as one of an unknown type is.
    let image_check = ic
        .healthcheck
        .clone()
        .and_then(|v| serde_json::from_value(v).ok());
    cfg.healthcheck = berth_model::health::merge(cfg.healthcheck.take(), image_check.as_ref());
}

/// Fills the HostConfig defaults Docker reports in inspect.
fn default_host_config(hc: &mut HostConfig) {
    if hc.log_config.kind.is_empty() {
        hc.log_config.kind = "json-file".into();
    }
    if hc.network_mode.is_empty() {
        hc.network_mode = "default".into();
    }
    if hc.restart_policy.name.is_empty() {
        hc.restart_policy.name = "no".into();
    }
    if hc.shm_size == 0 {
        hc.shm_size = DEFAULT_SHM_SIZE;
    }
}

fn validate_host_config(hc: &HostConfig) -> Result<()> {
    let policy = hc.restart_policy.name.as_str();
    if !matches!(
        policy,
        "" | "no" | "always" | "on-failure" | "unless-stopped"
    ) {
        return Err(Error::invalid(format!("invalid restart policy '{policy}'")));
    }
    if hc.auto_remove && !matches!(policy, "" | "no") {
        return Err(Error::invalid(
            "can't create 'AutoRemove' container with restart policy",
        ));
    }
    if hc.restart_policy.maximum_retry_count < 0 {
        return Err(Error::invalid("maximum retry count cannot be negative"));
    }
    if hc.shm_size < 0 {
        return Err(Error::invalid("SHM size can not be less than 0"));
    }
    if !hc.log_config.kind.is_empty() && hc.log_config.kind != "json-file" {
        return Err(Error::invalid(format!(
            "logger: no log driver named '{}' is registered",
            hc.log_config.kind
        )));
    }
    Ok(())
}

fn new_id() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

impl Engine {
    pub async fn create(
        &self,
        name: Option<String>,
        req: ContainerCreateRequest,
    ) -> Result<ContainerCreateResponse> {
        let mut host_config = req.host_config.clone().unwrap_or_default();
        let (_, mut wanted_net) = crate::network::config::requested(&req, &host_config)?;
        self.network_for_create(&host_config, &mut wanted_net)?;
        let net = crate::network::ContainerNet::for_create(wanted_net);
        let mut config = req.config;
        validate_host_config(&host_config)?;
        berth_runtime::spec::validate_host_config(&host_config)
            .map_err(|e| Error::new(e.kind(), e.to_string()))?;
        crate::volumes::mounts::requests(&host_config)?;
        if let Some(hc) = &config.healthcheck {
            berth_model::health::validate(hc)?;
        }
        default_host_config(&mut host_config);
        if config.image.is_empty() {
            return Err(Error::invalid("no image specified: config.Image is empty"));
        }
        let wanted = config.image.clone();
        let image = self
            .blocking(move |s| s.resolve_image(&wanted).map_err(Error::from))
            .await
            .map_err(|e| match e.kind {
                ErrorKind::NotFound => {
                    let shown = Reference::parse_normalized(&config.image)
                        .map(|r| r.familiar())
                        .unwrap_or_else(|_| config.image.clone());
                    Error::no_such_image(&shown)
                }
                _ => e,
            })?;
        merge_image_config(&mut config, &image.config);
        let mut argv: Vec<String> = config.entrypoint.clone().unwrap_or_default();
        argv.extend(config.cmd.clone().unwrap_or_default());
        if argv.is_empty() {
            return Err(Error::invalid("No command specified"));
        }

        let _guard = self.create_lock.lock().await;
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => names::validate(&n)?,
            None => loop {
                let n = names::generate();
                if self.get(&n).is_err() {
                    break n;
                }
            },
        };
        if let Some(other) = self
            .all_containers()
            .into_iter()
            .find(|c| c.lock().record.name == name)
        {
            return Err(Error::conflict(format!(
                "Conflict. The container name \"/{name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                other.id
            )));
        }
        let id = new_id();
        if config.hostname.is_empty() {
            config.hostname = id[..12].to_string();
            if host_config.network_mode == "host" {
                if let Ok(h) = nix::unistd::gethostname() {
                    config.hostname = h.to_string_lossy().to_string();
                }
            }
            if let Some(other) = host_config.network_mode.strip_prefix("container:") {
                if let Ok(o) = self.get(other) {
                    config.hostname = o.record().config.hostname;
                }
            }
        }

        let dir = self.container_dir(&id);
        std::fs::create_dir_all(&dir)?;
        let files = || -> std::io::Result<()> {
            let fqdn = if config.domainname.is_empty() {
                config.hostname.clone()
            } else {
                format!("{}.{}", config.hostname, config.domainname)
            };
            std::fs::write(dir.join("hostname"), format!("{}\n", config.hostname))?;
            let mut hosts = berth_runtime::spec::default_hosts(&fqdn);
            for extra in host_config.extra_hosts.iter().flatten() {
                if let Some((h, ip)) = extra.split_once(':') {
                    hosts.push_str(&format!("{ip}\t{h}\n"));
                }
            }
            std::fs::write(dir.join("hosts"), hosts)?;
            let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            std::fs::write(
                dir.join("resolv.conf"),
                berth_runtime::spec::resolv_conf_from_host(&host_resolv),
            )?;
            Ok(())
        };
        if let Err(e) = files() {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(Error::internal(format!("prepare container files: {e}")));
        }
        let image_id = image.id.clone();
        let cid = id.clone();
        if let Err(e) = self
            .blocking(move |s| {
                s.prepare_rw(&cid, &image_id)
                    .map(|_| ())
                    .map_err(Error::from)
            })
            .await
        {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        let mounts = match self.resolve_mounts(&config, &host_config).await {
            Ok(m) => m,
            Err(e) => {
                let cid = id.clone();
                let _ = self
                    .blocking(move |s| s.remove_rw(&cid).map_err(Error::from))
                    .await;
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let new_mounts = mounts.clone();

        let record = Record {
            id: id.clone(),
            name,
            created: now_rfc3339(),
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            config,
            host_config,
            image_id: image.id.to_string(),
            state: StateRecord {
                status: Status::Created,
                pid: 0,
                exit_code: 0,
                error: String::new(),
                started_at: ZERO_TIME.into(),
                finished_at: ZERO_TIME.into(),
                oom_killed: false,
                health: None,
            },
            restart_count: 0,
            manually_stopped: false,
            mounts,
            net,
        };
        let c = Container::new(record);
        if let Err(e) = self.persist(&c).await {
            self.drop_new_anonymous(&new_mounts).await;
            let cid = id.clone();
            let _ = self
                .blocking(move |s| s.remove_rw(&cid).map_err(Error::from))
                .await;
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        self.containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), c.clone());
        self.emit_container(&c, "create", &[]);
        tracing::info!(container = %id, "created");
        Ok(ContainerCreateResponse {
            id,
            warnings: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::image::ImageRunConfig;

    fn image(entry: Option<Vec<&str>>, cmd: Option<Vec<&str>>) -> ImageConfig {
        ImageConfig {
            config: ImageRunConfig {
                env: Some(vec!["PATH=/bin".into(), "A=image".into()]),
                entrypoint: entry.map(|v| v.into_iter().map(String::from).collect()),
                cmd: cmd.map(|v| v.into_iter().map(String::from).collect()),
                working_dir: "/srv".into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn container_values_override_image() {
        let mut c = ContainerConfig {
            env: Some(vec!["A=ctr".into(), "B=1".into()]),
            cmd: Some(vec!["echo".into()]),
            ..Default::default()
        };
        merge_image_config(&mut c, &image(None, Some(vec!["sh"])));
        assert_eq!(c.env.unwrap(), vec!["PATH=/bin", "A=ctr", "B=1"]);
        assert_eq!(c.cmd.unwrap(), vec!["echo"]);
        assert_eq!(c.working_dir, "/srv");
    }

    #[test]
    fn image_cmd_used_only_without_entrypoint_override() {
        let mut c = ContainerConfig::default();
        merge_image_config(&mut c, &image(Some(vec!["/init"]), Some(vec!["sh"])));
        assert_eq!(c.entrypoint.unwrap(), vec!["/init"]);
        assert_eq!(c.cmd.unwrap(), vec!["sh"]);
        let mut c = ContainerConfig {
            entrypoint: Some(vec!["/other".into()]),
            ..Default::default()
        };
        merge_image_config(&mut c, &image(Some(vec!["/init"]), Some(vec!["sh"])));
        assert_eq!(c.entrypoint.unwrap(), vec!["/other"]);
        assert!(c.cmd.is_none());
        let mut c = ContainerConfig {
            entrypoint: Some(vec!["".into()]),
            ..Default::default()
        };
        merge_image_config(&mut c, &image(Some(vec!["/init"]), None));
        assert!(c.entrypoint.is_none());
    }

    #[test]
    fn restart_policy_and_autoremove_conflict() {
        let mut hc = HostConfig {
            auto_remove: true,
            ..Default::default()
        };
        hc.restart_policy.name = "always".into();
        assert!(validate_host_config(&hc).is_err());
        hc.auto_remove = false;
        assert!(validate_host_config(&hc).is_ok());
        hc.restart_policy.name = "sometimes".into();
        assert!(validate_host_config(&hc).is_err());
    }
}
