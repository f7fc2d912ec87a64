//! The built-in runtime: youki's libcontainer, called in-process by the shim.

use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::oci_spec::runtime::Spec;
use libcontainer::signal::Signal;
use libcontainer::syscall::syscall::SyscallType;

use super::{
    docker_wording, error_chain, BerthExecutor, CreateOpts, ExecExecutor, ExecOpts, Runtime,
    RuntimeError, RuntimeState,
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
        let mut builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
            .with_executor(BerthExecutor)
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
            .as_init(bundle)
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
        let seccomp = if opts.seccomp {
            Spec::load(bundle.join("config.json"))
                .map_err(|e| fail(id, "exec in", &e))?
                .linux()
                .as_ref()
                .and_then(|l| l.seccomp().clone())
        } else {
            None
        };
        let mut builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
            .with_executor(ExecExecutor { seccomp })
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
        builder
            .as_tenant()
            .with_process(Some(&opts.process_json))
            .with_detach(true)
            .build()
            .map(|p| p.as_raw())
            .map_err(|e| RuntimeError::Failed(docker_wording(error_chain(&e))))
    }

    fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        self.load(id)?.pause().map_err(|e| fail(id, "pause", &e))
    }

    fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        self.load(id)?.resume().map_err(|e| fail(id, "resume", &e))
    }
}
