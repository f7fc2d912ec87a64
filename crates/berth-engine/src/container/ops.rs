//! `pause`, `unpause`, `rename` and `top`.

use super::Status;
use crate::{names, Engine};
use berth_model::api::TopResponse;
use berth_model::{Error, Result};

impl Engine {
    pub async fn pause(self: &std::sync::Arc<Self>, id_or_name: &str) -> Result<()> {
        let c = self.get(id_or_name)?;
        let _op = c.op.lock().await;
        match c.lock().record.state.status {
            Status::Running => {}
            Status::Paused => {
                return Err(Error::conflict(format!(
                    "Container {} is already paused",
                    c.id
                )))
            }
            _ => {
                return Err(Error::conflict(format!(
                    "Container {} is not running",
                    c.id
                )))
            }
        }
        let shim = c
            .shim()
            .ok_or_else(|| Error::conflict(format!("Container {} is not running", c.id)))?;
        // Docker skips probes while paused; end them before freezing, as a frozen probe
        // could not be killed.
        self.stop_health(&c).await;
        if let Err(e) = shim.pause().await {
            self.resume_health(&c);
            return Err(Error::new(e.kind(), e.to_string()));
        }
        c.lock().record.state.status = Status::Paused;
        self.emit_container(&c, "pause", &[]);
        self.persist(&c).await
    }

    pub async fn unpause(self: &std::sync::Arc<Self>, id_or_name: &str) -> Result<()> {
        let c = self.get(id_or_name)?;
        let _op = c.op.lock().await;
        if c.lock().record.state.status != Status::Paused {
            return Err(Error::conflict(format!("Container {} is not paused", c.id)));
        }
        self.resume_locked(&c).await?;
        self.resume_health(&c);
        self.emit_container(&c, "unpause", &[]);
        Ok(())
    }

    /// Thaws a paused container whose `op` lock the caller holds.
    pub(crate) async fn resume_locked(&self, c: &super::Container) -> Result<()> {
        let shim = c
            .shim()
            .ok_or_else(|| Error::conflict(format!("Container {} is not running", c.id)))?;
        shim.resume()
            .await
            .map_err(|e| Error::new(e.kind(), e.to_string()))?;
        {
            let mut inner = c.lock();
            if inner.record.state.status == Status::Paused {
                inner.record.state.status = Status::Running;
            }
        }
        self.persist(c).await
    }

    pub async fn rename(&self, id_or_name: &str, new_name: &str) -> Result<()> {
        let c = self.get(id_or_name)?;
        let new_name = names::validate(new_name)?;
        let _guard = self.create_lock.lock().await;
        let old = c.lock().record.name.clone();
        if old == new_name {
            return Err(Error::invalid(
                "Renaming a container with the same name as its current name",
            ));
        }
        if let Some(other) = self
            .all_containers()
            .into_iter()
            .find(|o| o.lock().record.name == new_name)
        {
            return Err(Error::conflict(format!(
                "Error when allocating new name: Conflict. The container name \"/{new_name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                other.id
            )));
        }
        c.lock().record.name = new_name;
        self.dns_rename(&c);
        self.emit_container(&c, "rename", &[("oldName", format!("/{old}"))]);
        self.persist(&c).await
    }

    /// Runs the host's `ps` with the given options and keeps the container's processes,
    /// as dockerd does.
    pub async fn top(&self, id_or_name: &str, ps_args: Option<String>) -> Result<TopResponse> {
        let c = self.get(id_or_name)?;
        if !c.is_running() {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let pids = container_pids(&c.id);
        let args = ps_args
            .filter(|a| !a.trim().is_empty())
            .unwrap_or_else(|| "-ef".into());
        let out = tokio::process::Command::new("ps")
            .args(args.split_whitespace())
            .output()
            .await
            .map_err(|e| Error::internal(format!("ps: {e}")))?;
        if !out.status.success() {
            return Err(Error::internal(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
    }
}

/// Pids in the container's cgroup (the pids hierarchy on v1, the unified one on v2).
fn container_pids(id: &str) -> Vec<u32> {
    let candidates = [
        format!("/sys/fs/cgroup/pids/berth/{id}/cgroup.procs"),
        format!("/sys/fs/cgroup/berth/{id}/cgroup.procs"),
        format!("/sys/fs/cgroup/memory/berth/{id}/cgroup.procs"),
    ];
    for p in candidates {
        if let Ok(s) = std::fs::read_to_string(&p) {
            return s.lines().filter_map(|l| l.trim().parse().ok()).collect();
        }
    }
    Vec::new()
}

/// Keeps the `ps` rows whose PID column names one of `pids`; the last column (the
/// command) keeps its spaces.
pub fn parse_ps(output: &str, pids: &[u32]) -> Result<TopResponse> {
    let mut lines = output.lines();
    let header = lines.next().unwrap_or_default();
    let titles: Vec<String> = header.split_whitespace().map(str::to_string).collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| Error::invalid("Couldn't find PID field in ps output"))?;
    let mut processes = Vec::new();
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < titles.len() {
            continue;
        }
        let Ok(pid) = fields[pid_col].parse::<u32>() else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        let mut row: Vec<String> = fields[..titles.len() - 1]
            .iter()
            .map(|s| s.to_string())
            .collect();
        row.push(fields[titles.len() - 1..].join(" "));
        processes.push(row);
    }
    Ok(TopResponse { titles, processes })
}

#[cfg(test)]
mod tests {
    use super::parse_ps;

    #[test]
    fn keeps_container_rows_and_commands_with_spaces() {
        let out = "UID PID PPID C STIME TTY TIME CMD\nroot 10 1 0 12:00 ? 00:00:00 sleep 300\nroot 11 1 0 12:00 ? 00:00:00 other thing\n";
        let top = parse_ps(out, &[10]).unwrap();
        assert_eq!(top.titles.len(), 8);
        assert_eq!(
            top.processes,
            vec![vec![
                "root",
                "10",
                "1",
                "0",
                "12:00",
                "?",
                "00:00:00",
                "sleep 300"
            ]]
        );
        assert!(parse_ps("USER COMMAND\nroot x\n", &[1]).is_err());
    }
}
