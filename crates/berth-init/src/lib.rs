//! The init Berth bind-mounts at `/sbin/docker-init` for `--init` containers.
//!
//! A container's first process is PID 1 of its namespace: the kernel drops every signal it
//! has no handler for, and orphaned processes are re-parented to it to be reaped. Most
//! programs are written for neither, so `--init` puts this small supervisor in front: it
//! runs the command as its child, passes on the signals it receives, reaps every zombie and
//! exits with the command's status (128 + signal number when a signal killed it), which is
//! what Docker's `docker-init` (tini) does.
//!
//! It must run in images without a libc, so the binary is linked statically (see the crate
//! manifest for how it is built) and uses nothing beyond std, `nix` and `libc`.

use std::ffi::{CString, OsString};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::signal::{
    sigaction, sigprocmask, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow,
};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{execvp, fork, getpgrp, getpid, setpgid, tcsetpgrp, ForkResult, Pid};

/// Name used in messages; the binary is seen as `docker-init` inside the container.
const NAME: &str = "docker-init";

/// Signals left to their default behaviour in the init: synchronous faults must kill it
/// rather than loop in `sigwait`, and terminal stop signals are ignored so that handing the
/// tty to the child's process group cannot stop the init.
const NOT_FORWARDED: [Signal; 9] = [
    Signal::SIGFPE,
    Signal::SIGILL,
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGABRT,
    Signal::SIGTRAP,
    Signal::SIGSYS,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
];

/// Exit status for errors of the init itself (bad arguments, fork failure).
pub const EXIT_INIT_ERROR: i32 = 1;

/// The command to run, from the init's own arguments (without `argv[0]`). Docker passes
/// `-- <command...>`; the `--` is optional, and `-h`/`--help` before it prints the usage.
pub fn parse_args(args: &[OsString]) -> Result<Vec<OsString>, String> {
    let cmd = match args.first().map(|a| a.as_bytes()) {
        Some(b"--") => &args[1..],
        Some(b"-h") | Some(b"--help") => return Err(usage()),
        Some(a) if a.starts_with(b"-") => {
            return Err(format!(
                "unknown option {:?}\n{}",
                String::from_utf8_lossy(a),
                usage()
            ))
        }
        _ => args,
    };
    if cmd.is_empty() {
        return Err(format!("no command given\n{}", usage()));
    }
    Ok(cmd.to_vec())
}

fn usage() -> String {
    format!("usage: {NAME} [--] PROGRAM [ARGS...]")
}

/// The exit status a shell would report for the child: its code, or 128 + the signal.
pub fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// The status `execvp` failing with `err` should end the child with, as shells do:
/// 127 for a command that does not exist, 126 for one that cannot be executed.
pub fn exec_failure_code(err: Errno) -> i32 {
    match err {
        Errno::ENOENT | Errno::ENOTDIR => 127,
        Errno::EACCES | Errno::EPERM | Errno::ENOEXEC => 126,
        _ => EXIT_INIT_ERROR,
    }
}

/// Runs the init with the process's arguments and returns its exit status.
pub fn main_with_args(args: Vec<OsString>) -> i32 {
    let cmd = match parse_args(&args) {
        Ok(cmd) => cmd,
        Err(msg) => {
            eprintln!("{NAME}: {msg}");
            return EXIT_INIT_ERROR;
        }
    };
    let argv: Vec<CString> = match cmd
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
    {
        Ok(v) => v,
        Err(_) => {
            eprintln!("{NAME}: arguments must not contain NUL bytes");
            return EXIT_INIT_ERROR;
        }
    };
    match supervise(&argv) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("{NAME}: {msg}");
            EXIT_INIT_ERROR
        }
    }
}

/// What the child must restore before `exec`, so the command starts with the signal state
/// the init itself was given (plus Rust's ignored SIGPIPE undone).
struct Saved {
    mask: SigSet,
    ttin: SigAction,
    ttou: SigAction,
}

fn supervise(argv: &[CString]) -> Result<i32, String> {
    let mut wait_set = SigSet::all();
    for sig in NOT_FORWARDED {
        wait_set.remove(sig);
    }
    let mut old_mask = SigSet::empty();
    sigprocmask(
        SigmaskHow::SIG_SETMASK,
        Some(&wait_set),
        Some(&mut old_mask),
    )
    .map_err(|e| format!("blocking signals: {e}"))?;
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: installing SIG_IGN runs no code in signal context.
    let ttin = unsafe { sigaction(Signal::SIGTTIN, &ignore) }
        .map_err(|e| format!("ignoring SIGTTIN: {e}"))?;
    // SAFETY: as above.
    let ttou = unsafe { sigaction(Signal::SIGTTOU, &ignore) }
        .map_err(|e| format!("ignoring SIGTTOU: {e}"))?;
    let saved = Saved {
        mask: old_mask,
        ttin,
        ttou,
    };
    if getpid() != Pid::from_raw(1) {
        // Not PID 1 (e.g. run by hand): still become the reaper of orphaned descendants.
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }

    // SAFETY: this process is single-threaded, so the child may run any code after fork.
    let child = match unsafe { fork() } {
        Ok(ForkResult::Child) => exec_child(argv, &saved),
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => return Err(format!("fork: {e}")),
    };

    loop {
        let mut signum: libc::c_int = 0;
        // SAFETY: `wait_set` is a valid, initialised sigset and `signum` a valid out pointer.
        let rc = unsafe { libc::sigwait(wait_set.as_ref(), &mut signum) };
        if rc != 0 {
            continue;
        }
        if signum == libc::SIGCHLD {
            if let Some(code) = reap(child) {
                return Ok(code);
            }
        } else {
            // SAFETY: kill has no memory preconditions; a child that is already gone
            // (ESRCH) is noticed through SIGCHLD.
            unsafe { libc::kill(child.as_raw(), signum) };
        }
    }
}

/// Reaps every exited descendant; returns the exit status once `child` is among them.
fn reap(child: Pid) -> Option<i32> {
    let mut result = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => break,
            Ok(status) => {
                if status.pid() == Some(child) {
                    if let Some(code) = exit_code(status) {
                        result = Some(code);
                    }
                }
            }
        }
    }
    result
}

/// In the forked child: own process group holding the terminal (so job control and
/// Ctrl-C reach the command directly), original signal state, then the command.
fn exec_child(argv: &[CString], saved: &Saved) -> ! {
    let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
    // No tty (ENOTTY) or none of ours (ENXIO) is the usual case for detached containers.
    let _ = tcsetpgrp(std::io::stdin().as_fd(), getpgrp());
    // SAFETY: restoring dispositions saved above, or SIG_DFL; no handler code runs.
    unsafe {
        let _ = sigaction(Signal::SIGTTIN, &saved.ttin);
        let _ = sigaction(Signal::SIGTTOU, &saved.ttou);
        let _ = sigaction(
            Signal::SIGPIPE,
            &SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty()),
        );
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&saved.mask), None);
    let err = match execvp(&argv[0], argv) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    eprintln!(
        "{NAME}: exec {} failed: {}",
        argv[0].to_string_lossy(),
        err.desc()
    );
    // SAFETY: _exit skips the parent's atexit handlers and buffers, as a forked child must.
    unsafe { libc::_exit(exec_failure_code(err)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn arguments() {
        assert_eq!(
            parse_args(&os(&["--", "sh", "-c", "x"])).unwrap(),
            os(&["sh", "-c", "x"])
        );
        assert_eq!(
            parse_args(&os(&["sleep", "1"])).unwrap(),
            os(&["sleep", "1"])
        );
        // Options of the command after `--` are the command's.
        assert_eq!(parse_args(&os(&["--", "-x"])).unwrap(), os(&["-x"]));
        assert!(parse_args(&os(&[])).unwrap_err().contains("no command"));
        assert!(parse_args(&os(&["--"])).unwrap_err().contains("no command"));
        assert!(parse_args(&os(&["-v"]))
            .unwrap_err()
            .contains("unknown option"));
        assert!(parse_args(&os(&["--help"]))
            .unwrap_err()
            .starts_with("usage:"));
    }

    #[test]
    fn exit_codes() {
        let pid = Pid::from_raw(7);
        assert_eq!(exit_code(WaitStatus::Exited(pid, 7)), Some(7));
        assert_eq!(
            exit_code(WaitStatus::Signaled(pid, Signal::SIGTERM, false)),
            Some(143)
        );
        assert_eq!(
            exit_code(WaitStatus::Signaled(pid, Signal::SIGKILL, true)),
            Some(137)
        );
        assert_eq!(exit_code(WaitStatus::StillAlive), None);
        assert_eq!(exec_failure_code(Errno::ENOENT), 127);
        assert_eq!(exec_failure_code(Errno::EACCES), 126);
        assert_eq!(exec_failure_code(Errno::ENOMEM), 1);
    }
}
