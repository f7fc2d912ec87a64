//! Images: import of a rootfs tar, listing and inspect.

use crate::Engine;
use berth_model::api::{GraphDriver, ImageInspect, ImageRootFs, ImageSummary};
use berth_model::image::{host_architecture, History, ImageConfig, ImageRunConfig};
use berth_model::{Digest, Error, Reference, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use tokio::io::AsyncRead;

/// `import` options (`repo`, `tag`, `message`, `changes`).
#[derive(Debug, Clone, Default)]
pub struct ImportOpts {
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub message: Option<String>,
    pub changes: Vec<String>,
}

/// JSON form (`["a","b"]`) or shell form (wrapped in `/bin/sh -c`), as a Dockerfile does.
fn command_form(arg: &str) -> Vec<String> {
    if let Ok(v) = serde_json::from_str::<Vec<String>>(arg.trim()) {
        return v;
    }
    vec!["/bin/sh".into(), "-c".into(), arg.trim().to_string()]
}

fn key_values(arg: &str) -> Vec<(String, String)> {
    let arg = arg.trim();
    if !arg.contains('=') {
        // Legacy `ENV key value`.
        if let Some((k, v)) = arg.split_once(char::is_whitespace) {
            return vec![(k.to_string(), v.trim().to_string())];
        }
        return Vec::new();
    }
    arg.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

/// Applies one `--change` instruction (the subset `docker import -c` accepts).
pub fn apply_change(cfg: &mut ImageRunConfig, change: &str) -> Result<()> {
    let change = change.trim();
    let (instr, arg) = change
        .split_once(char::is_whitespace)
        .unwrap_or((change, ""));
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => cfg.cmd = Some(command_form(arg)),
        "ENTRYPOINT" => cfg.entrypoint = Some(command_form(arg)),
        "WORKDIR" => cfg.working_dir = arg.trim().to_string(),
        "USER" => cfg.user = arg.trim().to_string(),
        "STOPSIGNAL" => cfg.stop_signal = arg.trim().to_string(),
        "HEALTHCHECK" => {
            let hc = berth_model::health::parse_healthcheck(arg).map_err(Error::invalid)?;
            cfg.healthcheck =
                Some(serde_json::to_value(hc).map_err(|e| Error::internal(e.to_string()))?);
        }
        "ENV" => {
            let env = cfg.env.get_or_insert_with(Vec::new);
            for (k, v) in key_values(arg) {
                env.retain(|e| e.split('=').next() != Some(k.as_str()));
                env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            let labels = cfg.labels.get_or_insert_with(BTreeMap::new);
            for (k, v) in key_values(arg) {
                labels.insert(k, v);
            }
        }
        "EXPOSE" => {
            let ports = cfg.exposed_ports.get_or_insert_with(BTreeMap::new);
            for p in arg.split_whitespace() {
                let p = if p.contains('/') {
                    p.to_string()
                } else {
                    format!("{p}/tcp")
                };
                ports.insert(p, json!({}));
            }
        }
        "VOLUME" => {
            let vols = cfg.volumes.get_or_insert_with(BTreeMap::new);
            let paths = serde_json::from_str::<Vec<String>>(arg.trim())
                .unwrap_or_else(|_| arg.split_whitespace().map(String::from).collect());
            for p in paths {
                vols.insert(p, json!({}));
            }
        }
        other => {
            return Err(Error::invalid(format!(
                "{} is not a valid change command",
                other.to_ascii_lowercase()
            )))
        }
    }
    Ok(())
}

fn image_ref(repo: &str, tag: Option<&str>) -> Result<Reference> {
    let full = match tag.filter(|t| !t.is_empty()) {
        Some(t) => format!("{repo}:{t}"),
        None => repo.to_string(),
    };
    Reference::parse_normalized(&full).map_err(|e| Error::invalid(e.to_string()))
}

pub(crate) fn unix_time(s: &Option<String>) -> i64 {
    s.as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

impl Engine {
    pub async fn import_image<R>(&self, body: R, opts: ImportOpts) -> Result<String>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        let reference = match opts.repo.as_deref().filter(|r| !r.is_empty()) {
            Some(repo) => Some(image_ref(repo, opts.tag.as_deref())?),
            None => None,
        };
        let mut run = ImageRunConfig::default();
        for c in &opts.changes {
            apply_change(&mut run, c)?;
        }
        let created = super::container::now_rfc3339();
        let config = ImageConfig {
            created: Some(created.clone()),
            architecture: host_architecture().into(),
            os: "linux".into(),
            config: run,
            history: vec![History {
                created: Some(created),
                comment: Some(
                    opts.message
                        .clone()
                        .filter(|m| !m.is_empty())
                        .unwrap_or_else(|| "Imported from -".into()),
                ),
                ..Default::default()
            }],
            comment: opts.message.clone().filter(|m| !m.is_empty()),
            ..Default::default()
        };
        let handle = tokio::runtime::Handle::current();
        let store = self.store.clone();
        let record = tokio::task::spawn_blocking(move || {
            let _guard = handle.enter();
            let reader = tokio_util::io::SyncIoBridge::new(body);
            store.import_rootfs(reader, config)
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))?
        .map_err(Error::from)?;
        let tag_name = reference.as_ref().map(|r| r.familiar());
        if let Some(r) = reference {
            let id = record.id.clone();
            self.blocking(move |s| s.tag(&r, &id).map_err(Error::from))
                .await?;
        }
        let mut attrs = std::collections::BTreeMap::new();
        if let Some(r) = &tag_name {
            attrs.insert("name".to_string(), r.clone());
        }
        self.emit("image", "import", &record.id.to_string(), attrs.clone());
        if tag_name.is_some() {
            self.emit("image", "tag", &record.id.to_string(), attrs);
        }
        tracing::info!(image = %record.id, "imported");
        Ok(record.id.to_string())
    }

    /// `GET /images/json`. Untagged images that are another's parent (build steps) are
    /// intermediate: listed only with `all`, and never dangling, as dockerd does. With a
    /// `reference` filter only the matching tags are listed.
    pub async fn list_images(
        &self,
        all: bool,
        filters: BTreeMap<String, Vec<String>>,
    ) -> Result<Vec<ImageSummary>> {
        use crate::image_ops::{label_filters_match, parse_bool_filter, reference_matches};
        for k in filters.keys() {
            let known = [
                "dangling",
                "reference",
                "label",
                "label!",
                "before",
                "since",
            ];
            if !known.contains(&k.as_str()) {
                return Err(Error::invalid(format!("invalid filter '{k}'")));
            }
        }
        let dangling = match filters.get("dangling").map(|v| v.as_slice()) {
            None => None,
            Some([v]) => Some(parse_bool_filter("dangling", v)?),
            Some(_) => return Err(Error::invalid("invalid filter 'dangling'")),
        };
        let bounds: Vec<(String, String)> = ["before", "since"]
            .iter()
            .flat_map(|k| {
                filters
                    .get(*k)
                    .into_iter()
                    .flatten()
                    .map(|v| (k.to_string(), v.clone()))
            })
            .collect();
        let (rows, bounds) = self
            .blocking(move |s| {
                let rows = s.list_images().map_err(Error::from)?;
                let mut out = Vec::new();
                for (k, v) in bounds {
                    let img = s.resolve_image(&v).map_err(Error::from)?;
                    out.push((k, unix_time(&img.config.created)));
                }
                Ok((rows, out))
            })
            .await?;
        let parents: std::collections::HashSet<Digest> =
            rows.iter().filter_map(|(i, _)| i.parent.clone()).collect();
        let mut out = Vec::new();
        for (img, refs) in rows {
            if refs.is_empty() && parents.contains(&img.id) && (!all || dangling == Some(true)) {
                continue;
            }
            let created = unix_time(&img.config.created);
            if bounds
                .iter()
                .any(|(k, t)| (k == "before" && created >= *t) || (k == "since" && created <= *t))
            {
                continue;
            }
            let mut refs = refs;
            if let Some(wanted) = filters.get("reference") {
                let mut kept = Vec::new();
                for r in refs {
                    let mut hit = false;
                    for w in wanted {
                        hit |= reference_matches(w, &r)?;
                    }
                    if hit {
                        kept.push(r);
                    }
                }
                if kept.is_empty() {
                    continue;
                }
                refs = kept;
            }
            let digests: Vec<String> = refs
                .iter()
                .filter(|r| r.digest.is_some())
                .map(|r| r.familiar())
                .collect();
            let tags: Vec<String> = refs
                .iter()
                .filter(|r| r.digest.is_none())
                .map(|r| r.familiar())
                .collect();
            if dangling.is_some_and(|want| want != tags.is_empty()) {
                continue;
            }
            let labels = img.config.config.labels.clone().unwrap_or_default();
            if !label_filters_match(&filters, &labels) {
                continue;
            }
            out.push(ImageSummary {
                containers: -1,
                created,
                id: img.id.to_string(),
                labels: img.config.config.labels.clone(),
                parent_id: img
                    .parent
                    .as_ref()
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
                // dockerd marks an untagged image in both lists; the docker CLI lists an
                // image with neither tags nor digests not at all.
                repo_digests: Some(if !digests.is_empty() {
                    digests
                } else if tags.is_empty() {
                    vec!["<none>@<none>".into()]
                } else {
                    Vec::new()
                }),
                repo_tags: Some(if tags.is_empty() {
                    vec!["<none>:<none>".into()]
                } else {
                    tags
                }),
                shared_size: -1,
                size: img.size as i64,
                virtual_size: img.size as i64,
            });
        }
        out.sort_by_key(|i| std::cmp::Reverse(i.created));
        Ok(out)
    }

    pub async fn inspect_image(&self, name: &str) -> Result<ImageInspect> {
        let wanted = name.to_string();
        let (img, refs) = self
            .blocking(move |s| {
                let img = s.resolve_image(&wanted).map_err(Error::from)?;
                let refs = s.image_refs(&img.id).map_err(Error::from)?;
                Ok((img, refs))
            })
            .await?;
        let c = &img.config;
        let config: Value = serde_json::to_value(&c.config).unwrap_or(Value::Null);
        Ok(ImageInspect {
            id: img.id.to_string(),
            repo_tags: refs
                .iter()
                .filter(|r| r.digest.is_none())
                .map(|r| r.familiar())
                .collect(),
            repo_digests: refs
                .iter()
                .filter(|r| r.digest.is_some())
                .map(|r| r.familiar())
                .collect(),
            parent: img
                .parent
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            comment: c.comment.clone().unwrap_or_default(),
            created: c.created.clone().unwrap_or_default(),
            container: String::new(),
            container_config: json!({}),
            docker_version: c.docker_version.clone().unwrap_or_default(),
            author: c.author.clone().unwrap_or_default(),
            config,
            architecture: c.architecture.clone(),
            os: c.os.clone(),
            size: img.size as i64,
            virtual_size: img.size as i64,
            graph_driver: GraphDriver {
                name: "overlay2".into(),
                data: BTreeMap::new(),
            },
            root_fs: ImageRootFs {
                kind: "layers".into(),
                layers: img.layers.iter().map(|d| d.to_string()).collect(),
            },
            metadata: json!({"LastTagTime": "0001-01-01T00:00:00Z"}),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_like_docker_import() {
        let mut c = ImageRunConfig::default();
        apply_change(&mut c, r#"CMD ["sh", "-c", "echo hi"]"#).unwrap();
        apply_change(&mut c, "ENTRYPOINT /init --x").unwrap();
        apply_change(&mut c, "ENV A=1 B=2").unwrap();
        apply_change(&mut c, "ENV A=3").unwrap();
        apply_change(&mut c, "WORKDIR /srv").unwrap();
        apply_change(&mut c, "EXPOSE 80 53/udp").unwrap();
        assert_eq!(c.cmd.unwrap(), vec!["sh", "-c", "echo hi"]);
        assert_eq!(c.entrypoint.unwrap(), vec!["/bin/sh", "-c", "/init --x"]);
        assert_eq!(c.env.unwrap(), vec!["B=2", "A=3"]);
        assert_eq!(c.working_dir, "/srv");
        assert!(c.exposed_ports.unwrap().contains_key("53/udp"));
        assert!(apply_change(&mut ImageRunConfig::default(), "RUN rm -rf /").is_err());
    }

    #[test]
    fn healthcheck_change() {
        let mut c = ImageRunConfig::default();
        apply_change(
            &mut c,
            "HEALTHCHECK --interval=1s --retries=2 CMD wget -q -O- http://x/ || exit 1",
        )
        .unwrap();
        assert_eq!(
            c.healthcheck,
            Some(json!({
                "Test": ["CMD-SHELL", "wget -q -O- http://x/ || exit 1"],
                "Interval": 1_000_000_000i64,
                "Retries": 2
            }))
        );
        apply_change(&mut c, "healthcheck NONE").unwrap();
        assert_eq!(c.healthcheck, Some(json!({"Test": ["NONE"]})));
        let e = apply_change(&mut c, "HEALTHCHECK --interval=5 CMD x").unwrap_err();
        assert_eq!(e.message, r#"time: missing unit in duration "5""#);
        assert_eq!(e.kind, berth_model::ErrorKind::InvalidArgument);
    }
}
