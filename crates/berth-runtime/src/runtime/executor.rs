//! libcontainer executor whose validation errors use runc's (Go `exec.LookPath`) wording,
//! because the docker CLI derives `docker run`'s exit code (126/127) from that text.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use libcontainer::oci_spec::runtime::{LinuxSeccomp, Spec};
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};

use super::seccomp_bpf::{self, Finish};

/// A compiled seccomp filter and the capabilities to narrow to once it is loaded.
#[derive(Clone, Debug)]
pub struct Filter {
    pub bpf: Vec<u8>,
    pub finish: Finish,
}

impl Filter {
    /// Runs in the container process right before `execve`, with the widened capabilities.
    fn install(&self) -> Result<(), ExecutorError> {
        seccomp_bpf::load(&self.bpf)
            .map_err(|e| ExecutorError::Other(format!("install seccomp profile: {e}")))?;
        self.finish.apply().map_err(ExecutorError::Other)
    }
}

#[derive(Clone, Default)]
pub struct BerthExecutor {
    /// Set when the spec libcontainer runs had its filter taken out to be loaded here.
    pub filter: Option<Filter>,
}

impl Executor for BerthExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        if let Some(f) = &self.filter {
            f.install()?;
        }
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        let Some(process) = spec.process() else {
            return Err(ExecutorValidationError::ArgValidationError(
                "spec did not contain process".into(),
            ));
        };
        let Some(cmd) = process.args().as_ref().and_then(|a| a.first()) else {
            return Err(ExecutorValidationError::ArgValidationError(
                "args must not be empty".into(),
            ));
        };
        let path = process
            .env()
            .as_ref()
            .and_then(|env| env.iter().find_map(|e| e.strip_prefix("PATH=")))
            .unwrap_or("");
        match lookup_error(cmd, path, Path::new("/")) {
            None => Ok(()),
            Some(msg) => Err(ExecutorValidationError::ArgValidationError(msg)),
        }
    }
}

/// The executor of `exec` processes: libcontainer's tenant path does not carry the
/// container's seccomp profile over, so it is installed here, right before the exec:
/// compiled (`filter`, the usual case), or through libseccomp under `no_new_privs` for
/// profiles the compiled path cannot express (`seccomp`).
#[derive(Clone, Default)]
pub struct ExecExecutor {
    pub filter: Option<Filter>,
    pub seccomp: Option<LinuxSeccomp>,
}

impl Executor for ExecExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        if let Some(f) = &self.filter {
            f.install()?;
        }
        if let Some(profile) = &self.seccomp {
            // Capabilities are already dropped: without CAP_SYS_ADMIN the kernel only
            // accepts a filter under no_new_privs.
            let first = libcontainer::seccomp::initialize_seccomp(profile);
            if first.is_err() {
                // SAFETY: prctl with constant arguments, no pointers.
                unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
                libcontainer::seccomp::initialize_seccomp(profile)
                    .map_err(|e| ExecutorError::Other(format!("install seccomp profile: {e}")))?;
            }
        }
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        BerthExecutor::default().validate(spec)
    }
}

/// Go's `exec.LookPath` inside `root`: `None` when `cmd` resolves to an executable file,
/// else runc's message for it.
pub fn lookup_error(cmd: &str, path_var: &str, root: &Path) -> Option<String> {
    let inside = |p: &str| root.join(p.trim_start_matches('/'));
    let check = |p: &Path| -> Result<(), String> {
        let md = std::fs::metadata(p).map_err(|e| io_text(&e))?;
        if md.is_dir() {
            return Err("is a directory".into());
        }
        if md.permissions().mode() & 0o111 == 0 {
            return Err("permission denied".into());
        }
        Ok(())
    };
    if cmd.contains('/') {
        return match check(&inside(cmd)) {
            Ok(()) => None,
            Err(e) if e == "no such file or directory" => Some(format!(
                "exec: \"{cmd}\": stat {cmd}: no such file or directory"
            )),
            Err(e) => Some(format!("exec: \"{cmd}\": {e}")),
        };
    }
    for dir in path_var.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        if check(&inside(&format!("{dir}/{cmd}"))).is_ok() {
            return None;
        }
    }
    Some(format!(
        "exec: \"{cmd}\": executable file not found in $PATH"
    ))
}

fn io_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_lowercase(),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_uses_runc_wording() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::fs::write(bin.join("tool"), "x").unwrap();
        std::fs::set_permissions(bin.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(bin.join("data"), "x").unwrap();
        std::fs::set_permissions(bin.join("data"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let root = dir.path();
        assert_eq!(lookup_error("tool", "/usr/bin:/bin", root), None);
        assert_eq!(lookup_error("/bin/tool", "", root), None);
        assert_eq!(
            lookup_error("nope", "/usr/bin:/bin", root).unwrap(),
            "exec: \"nope\": executable file not found in $PATH"
        );
        assert_eq!(
            lookup_error("data", "/bin", root).unwrap(),
            "exec: \"data\": executable file not found in $PATH"
        );
        assert_eq!(
            lookup_error("/bin/data", "/bin", root).unwrap(),
            "exec: \"/bin/data\": permission denied"
        );
        assert_eq!(
            lookup_error("/bin", "/bin", root).unwrap(),
            "exec: \"/bin\": is a directory"
        );
        assert_eq!(
            lookup_error("/bin/nope", "/bin", root).unwrap(),
            "exec: \"/bin/nope\": stat /bin/nope: no such file or directory"
        );
    }
}
