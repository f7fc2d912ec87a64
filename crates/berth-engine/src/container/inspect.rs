//! `inspect` and `ps`: the container as Docker shows it.

use super::{Container, Record, Status};
use crate::Engine;
use berth_model::api::{
    ContainerInspect, ContainerState, ContainerSummary, GraphDriver, ListOptions,
};
use berth_model::Result;
use serde_json::json;
use std::collections::BTreeMap;

/// Docker's `units.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    if s < 1 {
        "Less than a second".into()
    } else if s == 1 {
        "1 second".into()
    } else if s < 60 {
        format!("{s} seconds")
    } else if m == 1 {
        "About a minute".into()
    } else if m < 60 {
        format!("{m} minutes")
    } else if h == 1 {
        "About an hour".into()
    } else if h < 48 {
        format!("{h} hours")
    } else if d < 14 {
        format!("{d} days")
    } else if d < 7 * 8 {
        format!("{} weeks", d / 7)
    } else if d < 365 * 2 {
        format!("{} months", d / 30)
    } else {
        format!("{} years", d / 365)
    }
}

fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

fn since(s: &str) -> i64 {
    parse_time(s)
        .map(|t| (chrono::Utc::now() - t).num_seconds())
        .unwrap_or(0)
}

/// The `Status` column of `docker ps`.
pub fn status_text(r: &Record) -> String {
    match r.state.status {
        Status::Running => format!(
            "Up {}{}",
            human_duration(since(&r.state.started_at)),
            r.state
                .health
                .as_ref()
                .map(super::health::status_suffix)
                .unwrap_or_default()
        ),
        Status::Paused => format!("Up {} (Paused)", human_duration(since(&r.state.started_at))),
        Status::Restarting => "Restarting".into(),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
        Status::Created => "Created".into(),
        Status::Exited => {
            if r.state.finished_at.starts_with("0001") {
                "Created".into()
            } else {
                format!(
                    "Exited ({}) {} ago",
                    r.state.exit_code,
                    human_duration(since(&r.state.finished_at))
                )
            }
        }
    }
}

fn command_line(r: &Record) -> String {
    let mut parts = vec![r.path.clone()];
    parts.extend(r.args.iter().cloned());
    parts.join(" ")
}

fn matches(r: &Record, filters: &BTreeMap<String, Vec<String>>) -> bool {
    filters.iter().all(|(k, vals)| {
        vals.is_empty()
            || vals.iter().any(|v| match k.as_str() {
                "status" => r.state.status.as_str() == v,
                "name" => crate::names::filter_matches(v, &r.name),
                "id" => r.id.starts_with(v.as_str()),
                "label" => {
                    let labels = r.config.labels.clone().unwrap_or_default();
                    match v.split_once('=') {
                        Some((lk, lv)) => labels.get(lk).is_some_and(|x| x == lv),
                        None => labels.contains_key(v),
                    }
                }
                "exited" => r.state.status == Status::Exited && r.state.exit_code.to_string() == *v,
                "health" => {
                    let h = r.state.health.as_ref();
                    h.map_or(super::health::NONE, |h| h.status.as_str()) == v
                }
                // dockerd's: a volume's name, a mount's destination, a bind's source.
                "volume" => r.mounts.iter().any(|m| {
                    m.name == *v || m.destination == *v || (m.kind == "bind" && m.source == *v)
                }),
                "ancestor" => {
                    r.config.image == *v
                        || r.image_id == *v
                        || r.image_id
                            .trim_start_matches("sha256:")
                            .starts_with(v.as_str())
                }
                _ => true,
            })
    })
}

impl Engine {
    pub async fn inspect(&self, id_or_name: &str) -> Result<ContainerInspect> {
        let c = self.get(id_or_name)?;
        Ok(self.inspect_container(&c))
    }

    fn inspect_container(&self, c: &Container) -> ContainerInspect {
        let r = c.record();
        let dir = self.container_dir(&r.id);
        let st = &r.state;
        let running = matches!(st.status, Status::Running | Status::Paused);
        let mut graph = BTreeMap::new();
        if let Ok(m) = self.store.rw_mount(&r.id) {
            graph.insert(
                "LowerDir".into(),
                m.lower
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(":"),
            );
            graph.insert("UpperDir".into(), m.upper.display().to_string());
            graph.insert("WorkDir".into(), m.work.display().to_string());
            graph.insert("MergedDir".into(), dir.join("rootfs").display().to_string());
        }
        ContainerInspect {
            id: r.id.clone(),
            created: r.created.clone(),
            path: r.path.clone(),
            args: r.args.clone(),
            state: ContainerState {
                status: st.status.as_str().into(),
                running: st.status == Status::Running || st.status == Status::Paused,
                paused: st.status == Status::Paused,
                restarting: st.status == Status::Restarting,
                oom_killed: st.oom_killed,
                dead: st.status == Status::Dead,
                pid: st.pid,
                exit_code: st.exit_code,
                error: st.error.clone(),
                started_at: st.started_at.clone(),
                finished_at: st.finished_at.clone(),
                health: st.health.clone(),
            },
            image: r.image_id.clone(),
            resolv_conf_path: dir.join("resolv.conf").display().to_string(),
            hostname_path: dir.join("hostname").display().to_string(),
            hosts_path: dir.join("hosts").display().to_string(),
            log_path: self.log_path(&r.id).display().to_string(),
            name: format!("/{}", r.name),
            restart_count: r.restart_count,
            driver: "overlay2".into(),
            platform: "linux".into(),
            mount_label: String::new(),
            process_label: String::new(),
            app_armor_profile: String::new(),
            exec_ids: Some(self.exec_ids(&r.id)).filter(|v| !v.is_empty()),
            host_config: r.host_config.clone(),
            graph_driver: GraphDriver {
                name: "overlay2".into(),
                data: graph,
            },
            mounts: self.mount_values(&r.mounts),
            config: r.config.clone(),
            network_settings: crate::network::show::inspect(&r, self, running),
        }
    }

    pub async fn list(&self, opts: ListOptions) -> Result<Vec<ContainerSummary>> {
        let mut records: Vec<Record> = self.all_containers().iter().map(|c| c.record()).collect();
        records.sort_by(|a, b| b.created.cmp(&a.created));
        use super::health::{HEALTHY, NONE, STARTING, UNHEALTHY};
        for v in opts.filters.get("health").into_iter().flatten() {
            if ![STARTING, HEALTHY, UNHEALTHY, NONE].contains(&v.as_str()) {
                return Err(berth_model::Error::invalid(format!(
                    "Unrecognised filter value for health: {v}"
                )));
            }
        }
        let explicit_status = opts.filters.contains_key("status");
        let mut out = Vec::new();
        for r in records {
            if !opts.all
                && !explicit_status
                && r.state.status != Status::Running
                && r.state.status != Status::Paused
            {
                continue;
            }
            if !matches(&r, &opts.filters) {
                continue;
            }
            let created = parse_time(&r.created).map(|t| t.timestamp()).unwrap_or(0);
            out.push(ContainerSummary {
                id: r.id.clone(),
                names: vec![format!("/{}", r.name)],
                image: r.config.image.clone(),
                image_id: r.image_id.clone(),
                command: command_line(&r),
                created,
                ports: crate::network::show::summary_ports(
                    &r,
                    matches!(r.state.status, Status::Running | Status::Paused),
                ),
                labels: r.config.labels.clone().unwrap_or_default(),
                state: r.state.status.as_str().into(),
                status: status_text(&r),
                host_config: json!({"NetworkMode": r.host_config.network_mode}),
                network_settings: crate::network::show::summary_networks(&r, self),
                mounts: self.mount_values(&r.mounts),
            });
        }
        if let Some(limit) = opts.limit.filter(|l| *l > 0) {
            out.truncate(limit);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn durations_like_docker() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(59), "59 seconds");
        assert_eq!(human_duration(61), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3700), "About an hour");
        assert_eq!(human_duration(3 * 86400), "3 days");
    }
}
