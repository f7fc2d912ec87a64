//! `exec`: a recorded command run inside a running container through its shim.

use super::{Container, Status};
use crate::Engine;
use berth_model::api::{ExecConfig, ExecInspect, ExecProcessConfig, ExecStartConfig};
use berth_model::{Error, Result};
use berth_runtime::ExecSpec;
use rand::RngCore;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::EngineAttach;

/// One exec instance, kept in memory (Docker forgets them with the daemon too).
#[derive(Debug, Clone)]
pub struct ExecRecord {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub started: bool,
    pub running: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
}

pub(crate) type ExecHandle = Arc<Mutex<ExecRecord>>;

fn lock(h: &ExecHandle) -> std::sync::MutexGuard<'_, ExecRecord> {
    h.lock().unwrap_or_else(|p| p.into_inner())
}

fn check_live(c: &Container) -> Result<()> {
    match c.lock().record.state.status {
        Status::Running => Ok(()),
        Status::Paused => Err(Error::conflict(format!(
            "Container {} is paused, unpause the container before exec",
            c.id
        ))),
        _ => Err(Error::conflict(format!(
            "Container {} is not running",
            c.id
        ))),
    }
}

/// As dockerd's CreateDaemonEnvironment: PATH and HOSTNAME as the container got them,
/// then the container's env, then the exec's (health probes run with the same).
pub(crate) fn exec_env(rec: &super::Record, extra: &[String], tty: bool) -> Vec<String> {
    let mut env = vec![
        format!("PATH={}", berth_runtime::spec::DEFAULT_PATH),
        format!("HOSTNAME={}", rec.config.hostname),
    ];
    if tty {
        env.push("TERM=xterm".into());
    }
    let mut overrides = rec.config.env.clone().unwrap_or_default();
    overrides.extend(extra.iter().cloned());
    for kv in overrides {
        let key = kv.split('=').next().unwrap_or("").to_string();
        env.retain(|e| e.split('=').next().unwrap_or("") != key);
        env.push(kv);
    }
    env
}

impl Engine {
    fn exec_handle(&self, exec_id: &str) -> Result<ExecHandle> {
        self.execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(exec_id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("No such exec instance: {exec_id}")))
    }

    pub(crate) fn exec_ids(&self, container_id: &str) -> Vec<String> {
        let execs = self.execs.lock().unwrap_or_else(|p| p.into_inner());
        execs
            .values()
            .filter(|h| lock(h).container_id == container_id)
            .map(|h| lock(h).id.clone())
            .collect()
    }

    pub async fn exec_create(&self, container: &str, cfg: ExecConfig) -> Result<String> {
        let c = self.get(container)?;
        check_live(&c)?;
        if cfg.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(Error::invalid("No exec command specified"));
        }
        let mut b = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut b);
        let id = hex::encode(b);
        let rec = ExecRecord {
            id: id.clone(),
            container_id: c.id.clone(),
            config: cfg,
            started: false,
            running: false,
            exit_code: None,
            pid: 0,
        };
        self.execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), Arc::new(Mutex::new(rec)));
        let cmd = lock(&self.exec_handle(&id)?)
            .config
            .cmd
            .clone()
            .unwrap_or_default()
            .join(" ");
        self.emit_container(
            &c,
            &format!("exec_create: {cmd}"),
            &[("execID", id.clone())],
        );
        Ok(id)
    }

    pub async fn exec_start(&self, exec_id: &str, start: ExecStartConfig) -> Result<EngineAttach> {
        let h = self.exec_handle(exec_id)?;
        let (container_id, cfg) = {
            let mut r = lock(&h);
            if r.started {
                return Err(Error::conflict(format!(
                    "Error: Exec command {exec_id} has already run"
                )));
            }
            r.started = true;
            (r.container_id.clone(), r.config.clone())
        };
        let c = self.get(&container_id)?;
        check_live(&c)?;
        let shim = c
            .shim()
            .ok_or_else(|| Error::conflict(format!("Container {container_id} is not running")))?;
        let rec = c.record();
        let env = exec_env(&rec, cfg.env.as_deref().unwrap_or_default(), cfg.tty);
        let tty = cfg.tty || start.tty;
        let size = start
            .console_size
            .or(cfg.console_size)
            .filter(|s| s[0] > 0 && s[1] > 0);
        let spec = ExecSpec {
            exec_id: exec_id.to_string(),
            args: cfg.cmd.clone().unwrap_or_default(),
            env,
            cwd: if cfg.working_dir.is_empty() {
                rec.config.working_dir.clone()
            } else {
                cfg.working_dir.clone()
            },
            user: if cfg.user.is_empty() {
                rec.config.user.clone()
            } else {
                cfg.user.clone()
            },
            tty,
            stdin: cfg.attach_stdin && !start.detach,
            privileged: cfg.privileged,
            console_size: size.map(|s| (s[0] as u16, s[1] as u16)),
        };
        let session = match shim.exec(&spec).await {
            Ok(s) => s,
            Err(e) => {
                // dockerd's translateContainerdStartErr: the client reads this code back
                // from `GET /exec/{id}/json` after the error was written on its stream.
                let text = e.to_string();
                let missing = text.contains("executable file not found")
                    || text.contains("no such file or directory");
                let mut r = lock(&h);
                r.exit_code = Some(if missing { 127 } else { 126 });
                return Err(Error::new(e.kind(), text));
            }
        };
        {
            let mut r = lock(&h);
            r.running = true;
            r.pid = session.pid as i64;
        }
        let cmd_line = spec.args.join(" ");
        self.emit_container(
            &c,
            &format!("exec_start: {cmd_line}"),
            &[("execID", exec_id.to_string())],
        );
        let bus = self.events.clone();
        let mut die_attrs = std::collections::BTreeMap::from([
            ("image".to_string(), rec.config.image.clone()),
            ("name".to_string(), rec.name.clone()),
            ("execID".to_string(), exec_id.to_string()),
        ]);
        let container_id = rec.id.clone();
        let (out_tx, out_rx) = mpsc::channel(64);
        let mut output = session.output;
        let exit = session.exit;
        let record = h.clone();
        let detach = start.detach;
        // One task forwards the output, then records the exit code before the client's
        // stream ends, so its `GET /exec/{id}/json` right after always sees the code.
        tokio::spawn(async move {
            while let Some(chunk) = output.recv().await {
                if !detach && out_tx.send(chunk).await.is_err() {
                    // The client went away: keep draining so the process is not blocked.
                    while output.recv().await.is_some() {}
                    break;
                }
            }
            let code = exit.await.unwrap_or(255);
            let mut r = lock(&record);
            r.running = false;
            r.exit_code = Some(code as i64);
            drop(r);
            die_attrs.insert("exitCode".to_string(), code.to_string());
            bus.publish("container", "exec_die", &container_id, die_attrs);
            drop(out_tx);
        });
        let input = match (spec.stdin, session.input) {
            (true, Some(mut to_proc)) => {
                let (client, mut from_client) = tokio::io::duplex(64 * 1024);
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_client, &mut to_proc).await;
                    let _ = to_proc.shutdown().await;
                });
                Some(client)
            }
            _ => None,
        };
        if detach {
            let (_, closed) = mpsc::channel(1);
            return Ok(EngineAttach {
                tty,
                output: closed,
                input: None,
            });
        }
        Ok(EngineAttach {
            tty,
            output: out_rx,
            input,
        })
    }

    pub async fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> Result<()> {
        let h = self.exec_handle(exec_id)?;
        let container_id = lock(&h).container_id.clone();
        let c = self.get(&container_id)?;
        let shim = c
            .shim()
            .ok_or_else(|| Error::conflict(format!("Container {container_id} is not running")))?;
        shim.exec_resize(exec_id, height, width)
            .await
            .map_err(|e| Error::new(e.kind(), e.to_string()))
    }

    pub async fn exec_inspect(&self, exec_id: &str) -> Result<ExecInspect> {
        let h = self.exec_handle(exec_id)?;
        let r = lock(&h).clone();
        let cmd = r.config.cmd.clone().unwrap_or_default();
        Ok(ExecInspect {
            id: r.id,
            running: r.running,
            exit_code: r.exit_code,
            process_config: ExecProcessConfig {
                tty: r.config.tty,
                entrypoint: cmd.first().cloned().unwrap_or_default(),
                arguments: cmd.iter().skip(1).cloned().collect(),
                privileged: r.config.privileged,
                user: r.config.user.clone(),
            },
            open_stdin: r.config.attach_stdin,
            open_stderr: r.config.attach_stderr,
            open_stdout: r.config.attach_stdout,
            can_remove: false,
            container_id: r.container_id,
            detach_keys: r.config.detach_keys,
            pid: r.pid,
        })
    }

    /// Forgets a removed container's execs.
    pub(crate) fn drop_execs(&self, container_id: &str) {
        self.execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, h| lock(h).container_id != container_id);
    }
}
