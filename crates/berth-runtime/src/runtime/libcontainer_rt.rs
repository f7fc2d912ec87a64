//! The built-in runtime: youki's libcontainer, called in-process by the shim.

use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::oci_spec::runtime::{LinuxSeccomp, Process, Spec};
use libcontainer::signal::Signal;
use libcontainer::syscall::syscall::SyscallType;

use super::seccomp_bpf::{self, Finish};
use super::{
    docker_wording, error_chain, BerthExecutor, CreateOpts, ExecExecutor, ExecOpts, Filter,
    Runtime, RuntimeError, RuntimeState,
};

pub struct LibcontainerRuntime {
    /// libcontainer's state root (one directory per container), e.g. `<exec-root>/runtime`.
    pub state_root: PathBuf,
}

impl LibcontainerRuntime {
    pub fn new(state_root: impl Into<PathBuf>) -> Self {
        Self {
            state_root: state_root.into(),
        }
    }

    fn load(&self, id: &str) -> Result<Container, RuntimeError> {
        let dir = self.state_root.join(id);
        if !dir.join("state.json").exists() {
            return Err(RuntimeError::NotFound(id.to_string()));
        }
        Container::load(dir).map_err(|e| fail(id, "load", &e))
    }

    /// Compiled filters, shared by every container of this exec root.
    fn filter_cache(&self) -> PathBuf {
        self.state_root.with_file_name("seccomp")
    }

    /// The compiled form of `profile`, or `None` (with the reason logged) when the
    /// profile must go through libseccomp at load time instead.
    fn compiled(&self, profile: &LinuxSeccomp) -> Option<Vec<u8>> {
        if !seccomp_bpf::supported(profile) {
            return None;
        }
        seccomp_bpf::cached(profile, &self.filter_cache())
            .map_err(|e| tracing::warn!("compile seccomp profile: {e}"))
            .ok()
    }

    /// For a bundle with a seccomp profile: writes `<bundle>/libcontainer/config.json`,
    /// the same spec without the profile and with [`Finish::widen`]ed capabilities, and
    /// returns that bundle with the filter the executor loads. The original `config.json`
    /// stays the container's true spec.
    fn compiled_bundle(
        &self,
        id: &str,
        bundle: &Path,
    ) -> Result<Option<(PathBuf, Filter)>, RuntimeError> {
        let mut spec =
            Spec::load(bundle.join("config.json")).map_err(|e| fail(id, "create", &e))?;
        let Some(mut linux) = spec.linux().clone() else {
            return Ok(None);
        };
        let Some(profile) = linux.seccomp().clone() else {
            return Ok(None);
        };
        let Some(mut process) = spec.process().clone() else {
            return Ok(None);
        };
        let Some(caps) = process.capabilities().clone() else {
            return Ok(None);
        };
        let Some(bpf) = self.compiled(&profile) else {
            return Ok(None);
        };
        linux.set_seccomp(None);
        spec.set_linux(Some(linux));
        process.set_capabilities(Some(Finish::widen(&caps)));
        spec.set_process(Some(process));
        if let Some(mut root) = spec.root().clone() {
            if root.path().is_relative() {
                root.set_path(bundle.join(root.path()));
                spec.set_root(Some(root));
            }
        }
        let dir = bundle.join("libcontainer");
        std::fs::create_dir_all(&dir)
            .map_err(|e| RuntimeError::Failed(format!("create {}: {e}", dir.display())))?;
        spec.save(dir.join("config.json"))
            .map_err(|e| fail(id, "create", &e))?;
        Ok(Some((
            dir,
            Filter {
                bpf,
                finish: Finish { caps },
            },
        )))
    }

    /// For an exec: the widened process file and the filter, when the compiled path
    /// applies; else the profile for libseccomp.
    fn exec_filter(
        &self,
        id: &str,
        bundle: &Path,
        process_json: &Path,
    ) -> Result<(PathBuf, ExecExecutor), RuntimeError> {
        let profile = Spec::load(bundle.join("config.json"))
            .map_err(|e| fail(id, "exec in", &e))?
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().clone());
        let Some(profile) = profile else {
            return Ok((process_json.to_path_buf(), ExecExecutor::default()));
        };
        let slow = || {
            Ok((
                process_json.to_path_buf(),
                ExecExecutor {
                    filter: None,
                    seccomp: Some(profile.clone()),
                },
            ))
        };
        let Some(bpf) = self.compiled(&profile) else {
            return slow();
        };
        let text = std::fs::read(process_json)
            .map_err(|e| RuntimeError::Failed(format!("read {}: {e}", process_json.display())))?;
        let mut process: Process = serde_json::from_slice(&text)
            .map_err(|e| RuntimeError::Failed(format!("decode exec process: {e}")))?;
        let Some(caps) = process.capabilities().clone() else {
            return slow();
        };
        process.set_capabilities(Some(Finish::widen(&caps)));
        let widened = process_json.with_extension("lc.json");
        let json = serde_json::to_vec(&process)
            .map_err(|e| RuntimeError::Failed(format!("encode exec process: {e}")))?;
        std::fs::write(&widened, json)
            .map_err(|e| RuntimeError::Failed(format!("write {}: {e}", widened.display())))?;
        Ok((
            widened,
            ExecExecutor {
                filter: Some(Filter {
                    bpf,
                    finish: Finish { caps },
                }),
                seccomp: None,
            },
        ))
    }
}

fn fail(id: &str, what: &str, e: &dyn std::error::Error) -> RuntimeError {
    RuntimeError::Failed(format!("{what} container {id}: {}", error_chain(e)))
}

impl Runtime for LibcontainerRuntime {
    fn create(&self, id: &str, bundle: &Path, opts: CreateOpts) -> Result<i32, RuntimeError> {
        std::fs::create_dir_all(&self.state_root).map_err(|e| {
            RuntimeError::Failed(format!(
                "create runtime root {}: {e}",
                self.state_root.display()
            ))
        })?;
        let (lc_bundle, filter) = match self.compiled_bundle(id, bundle)? {
            Some((dir, filter)) => (dir, Some(filter)),
            None => (bundle.to_path_buf(), None),
        };
        let mut builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
            .with_executor(BerthExecutor { filter })
            .with_root_path(&self.state_root)
            .map_err(|e| fail(id, "create", &e))?
            .with_console_socket(opts.console_socket);
        if let Some(fd) = opts.stdin {
            builder = builder.with_stdin(fd);
        }
        if let Some(fd) = opts.stdout {
            builder = builder.with_stdout(fd);
        }
        if let Some(fd) = opts.stderr {
            builder = builder.with_stderr(fd);
        }
        let result = builder
            .as_init(&lc_bundle)
            .with_systemd(false)
            .with_detach(true)
            .build();
        match result {
            Ok(container) => container.pid().map(|p| p.as_raw()).ok_or_else(|| {
                RuntimeError::Failed(format!("container {id} has no init pid after create"))
            }),
            Err(e) => {
                // A failed build may leave the state dir behind; it would block a retry
                // with "container already exists".
                let _ = std::fs::remove_dir_all(self.state_root.join(id));
                Err(RuntimeError::Failed(docker_wording(error_chain(&e))))
            }
        }
    }

    fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.load(id)?.start().map_err(|e| fail(id, "start", &e))
    }

    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError> {
        let sig = Signal::try_from(signal).map_err(|_| {
            RuntimeError::Failed(format!("invalid signal {signal} for container {id}"))
        })?;
        self.load(id)?
            .kill(sig, all)
            .map_err(|e| fail(id, "kill", &e))
    }

    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        match self.load(id) {
            Ok(mut c) => c.delete(force).map_err(|e| fail(id, "delete", &e)),
            Err(RuntimeError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn state(&self, id: &str) -> Result<RuntimeState, RuntimeError> {
        let c = self.load(id)?;
        Ok(RuntimeState {
            pid: c.pid().map(|p| p.as_raw()),
            status: c.status().to_string().to_lowercase(),
        })
    }

    fn exec(&self, id: &str, bundle: &Path, opts: ExecOpts) -> Result<i32, RuntimeError> {
        let (process_json, executor) = if opts.seccomp {
            self.exec_filter(id, bundle, &opts.process_json)?
        } else {
            (opts.process_json.clone(), ExecExecutor::default())
        };
        let mut builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
            .with_executor(executor)
            .with_root_path(&self.state_root)
            .map_err(|e| fail(id, "exec in", &e))?
            .with_console_socket(opts.console_socket);
        if let Some(fd) = opts.stdin {
            builder = builder.with_stdin(fd);
        }
        if let Some(fd) = opts.stdout {
            builder = builder.with_stdout(fd);
        }
        if let Some(fd) = opts.stderr {
            builder = builder.with_stderr(fd);
        }
        let result = builder
            .as_tenant()
            .with_process(Some(&process_json))
            .with_detach(true)
            .build()
            .map(|p| p.as_raw())
            .map_err(|e| RuntimeError::Failed(docker_wording(error_chain(&e))));
        if process_json != opts.process_json {
            let _ = std::fs::remove_file(&process_json);
        }
        result
    }

    fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        self.load(id)?.pause().map_err(|e| fail(id, "pause", &e))
    }

    fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        self.load(id)?.resume().map_err(|e| fail(id, "resume", &e))
    }
}
