//! How failures become exit codes and stderr lines, following the docker CLI.

use crate::client::{api_error, ApiError};

/// A failure that already knows its exit status (and maybe a message to print).
#[derive(Debug)]
pub struct StatusError {
    pub code: i32,
    pub message: Option<String>,
}

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.message {
            Some(m) => f.write_str(m),
            None => write!(f, "exit status {}", self.code),
        }
    }
}

impl std::error::Error for StatusError {}

pub fn status(code: i32) -> anyhow::Error {
    StatusError {
        code,
        message: None,
    }
    .into()
}

/// docker's `toStatusError` for `run`/`start`: 127 when the command cannot be found,
/// 126 when it cannot be executed, 125 for any other daemon refusal.
pub fn run_exit_code(message: &str) -> i32 {
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
        || message.contains("system cannot find the file specified")
    {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        125
    }
}

/// `run`/`create` failures before the container's own exit status exists.
pub fn run_error(cmd: &str, err: anyhow::Error) -> anyhow::Error {
    if err.downcast_ref::<StatusError>().is_some() {
        return err;
    }
    // A refused flag value: cobra's flag-error form, exit 125 as docker's run/create.
    if let Some(f) = err.downcast_ref::<crate::opts::FlagError>() {
        return StatusError {
            code: 125,
            message: Some(format!(
                "{f}\n\nUsage:  berth {cmd} [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n\
                 Run 'berth {cmd} --help' for more information"
            )),
        }
        .into();
    }
    let text = err.to_string();
    StatusError {
        code: run_exit_code(&text),
        message: Some(format!(
            "berth: {text}\n\nRun 'berth {cmd} --help' for more information"
        )),
    }
    .into()
}

/// Prints the error and returns the process exit code.
pub fn report(err: &anyhow::Error) -> i32 {
    if let Some(s) = err.downcast_ref::<StatusError>() {
        if let Some(m) = &s.message {
            eprintln!("{m}");
        }
        return s.code;
    }
    if let Some(ApiError { message, .. }) = api_error(err) {
        eprintln!("Error response from daemon: {message}");
        return 1;
    }
    eprintln!("Error: {err:#}");
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_from_messages() {
        let m = "failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"nope\": executable file not found in $PATH: unknown";
        assert_eq!(run_exit_code(m), 127);
        assert_eq!(run_exit_code("exec /x: no such file or directory"), 127);
        assert_eq!(run_exit_code("exec /etc/passwd: permission denied"), 126);
        assert_eq!(run_exit_code("exec /etc: is a directory"), 126);
        assert_eq!(run_exit_code("No such image: x"), 125);
        let e = run_error(
            "run",
            ApiError {
                status: hyper::StatusCode::NOT_FOUND,
                message: "No such image: x".into(),
            }
            .into(),
        );
        let s = e.downcast_ref::<StatusError>().unwrap();
        assert_eq!(s.code, 125);
        assert_eq!(
            s.message.as_deref(),
            Some("berth: Error response from daemon: No such image: x\n\nRun 'berth run --help' for more information")
        );
        assert_eq!(
            run_error("run", status(3))
                .downcast_ref::<StatusError>()
                .unwrap()
                .code,
            3
        );
    }

    #[test]
    fn flag_errors_print_like_cobra() {
        let e = run_error(
            "create",
            crate::opts::FlagError {
                flag: "-m, --memory",
                value: "x".into(),
                reason: "invalid size: 'x'".into(),
            }
            .into(),
        );
        let s = e.downcast_ref::<StatusError>().unwrap();
        assert_eq!(s.code, 125);
        assert_eq!(
            s.message.as_deref(),
            Some(
                "invalid argument \"x\" for \"-m, --memory\" flag: invalid size: 'x'\n\n\
                 Usage:  berth create [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n\
                 Run 'berth create --help' for more information"
            )
        );
    }
}
