//! Process setup of the shim before it serves: its own stdio and signals, and the
//! container's stdio (pipes, or the pty received over the console socket).

use std::io::{self, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::Path;
use std::time::{Duration, Instant};

use berth_model::api::StdStream;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use tokio::io::unix::AsyncFd;

use super::ShimConfig;
use crate::runtime::{CreateOpts, Runtime};

const CONSOLE_TIMEOUT: Duration = Duration::from_secs(10);

/// What `create` leaves for the serving phase.
pub(super) struct Setup {
    pub pid: i32,
    pub outputs: Vec<(StdStream, OwnedFd)>,
    pub stdin: Option<OwnedFd>,
    pub pty: Option<OwnedFd>,
}

/// The shim's own stdio goes to /dev/null (it must not hold berthd's pipes); the
/// spawner's stdout is kept as a CLOEXEC fd for the one-line creation report. Every other
/// inherited fd is closed so nothing leaks into the container.
pub(super) fn prepare_stdio() -> Option<std::fs::File> {
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    for fd in fds.into_iter().filter(|fd| *fd > 2) {
        // SAFETY: closing inherited descriptors nothing in this process owns yet; the
        // read_dir handle was already dropped, a stale number just yields EBADF.
        unsafe { libc::close(fd) };
    }
    let report = fcntl(1, FcntlArg::F_DUPFD_CLOEXEC(3)).ok().map(|fd| {
        // SAFETY: fcntl just returned this new descriptor, owned by nobody else.
        std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) })
    });
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for target in 0..3 {
            // SAFETY: dup2 onto the standard descriptors, which this process owns.
            unsafe { libc::dup2(null.as_raw_fd(), target) };
        }
    }
    report
}

pub(super) fn init_logging(path: &Path) {
    if let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        // Each line is a write to a file on the data root, on the start path, where it can
        // wait behind the journal commit of berthd's fsyncs. libcgroups warns on every
        // start about v1 controllers this kernel lacks, so the default keeps only what says
        // why a shim failed.
        let filter = if std::env::var_os("BERTH_SHIM_DEBUG").is_some() {
            "debug"
        } else {
            "info,libcgroups=error,libcontainer=warn"
        };
        let _ = tracing_subscriber::fmt()
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .try_init();
    }
}

extern "C" fn ignore(_: libc::c_int) {}

/// A no-op handler rather than SIG_IGN: handlers reset to default on exec, an ignored
/// disposition would be inherited by the container's process.
pub(super) fn ignore_signals() {
    for sig in [libc::SIGHUP, libc::SIGPIPE] {
        // SAFETY: sigaction with a zeroed struct, an empty mask and a handler that does
        // nothing (async-signal-safe).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = ignore as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

pub(super) fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("create pipe: {e}"))
}

pub(super) fn create(cfg: &ShimConfig, runtime: &dyn Runtime) -> Result<Setup, String> {
    if cfg.tty {
        return create_tty(cfg, runtime);
    }
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (stdin_child, stdin_ours) = if cfg.open_stdin {
        let (r, w) = pipe()?;
        (r, Some(w))
    } else {
        let null = std::fs::File::open("/dev/null").map_err(|e| format!("open /dev/null: {e}"))?;
        (OwnedFd::from(null), None)
    };
    let opts = CreateOpts {
        stdin: Some(stdin_child),
        stdout: Some(out_w),
        stderr: Some(err_w),
        console_socket: None,
    };
    let pid = runtime
        .create(&cfg.id, &cfg.bundle, opts)
        .map_err(|e| e.to_string())?;
    Ok(Setup {
        pid,
        outputs: vec![(StdStream::Stdout, out_r), (StdStream::Stderr, err_r)],
        stdin: stdin_ours,
        pty: None,
    })
}

pub(super) fn create_tty(cfg: &ShimConfig, runtime: &dyn Runtime) -> Result<Setup, String> {
    let name = "console.sock";
    let _ = std::fs::remove_file(name);
    // Bound relative to the state dir (the cwd) so long paths fit in sun_path.
    let listener =
        StdUnixListener::bind(name).map_err(|e| format!("listen on console socket: {e}"))?;
    let abs = std::env::current_dir()
        .map_err(|e| e.to_string())?
        .join(name);
    let opts = CreateOpts {
        console_socket: Some(abs),
        ..Default::default()
    };
    let created = runtime
        .create(&cfg.id, &cfg.bundle, opts)
        .map_err(|e| e.to_string());
    let _ = std::fs::remove_file(name);
    let pid = created?;
    let master = match receive_pty(&listener) {
        Ok(m) => m,
        Err(e) => {
            let _ = runtime.delete(&cfg.id, true);
            return Err(format!("receive the console of container {}: {e}", cfg.id));
        }
    };
    if let Some((h, w)) = cfg.console_size {
        if let Err(e) = set_winsize(master.as_raw_fd(), h, w) {
            tracing::warn!("set console size: {e}");
        }
    }
    let dup = |fd: &OwnedFd| -> Result<OwnedFd, String> {
        let n = fcntl(fd.as_raw_fd(), FcntlArg::F_DUPFD_CLOEXEC(3))
            .map_err(|e| format!("dup console: {e}"))?;
        // SAFETY: fcntl just returned this new descriptor.
        Ok(unsafe { OwnedFd::from_raw_fd(n) })
    };
    let stdin = if cfg.open_stdin {
        Some(dup(&master)?)
    } else {
        None
    };
    let pty = Some(dup(&master)?);
    Ok(Setup {
        pid,
        outputs: vec![(StdStream::Stdout, master)],
        stdin,
        pty,
    })
}

pub(super) fn receive_pty(listener: &StdUnixListener) -> Result<OwnedFd, String> {
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + CONSOLE_TIMEOUT;
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(CONSOLE_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 1024];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| e.to_string())?;
    for c in msg.cmsgs().map_err(|e| e.to_string())? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            let mut owned: Vec<OwnedFd> = fds
                .into_iter()
                // SAFETY: descriptors received with SCM_RIGHTS are new and owned by us.
                .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
                .collect();
            if !owned.is_empty() {
                return Ok(owned.swap_remove(0));
            }
        }
    }
    Err("no descriptor received".into())
}

pub(super) fn set_winsize(fd: RawFd, height: u16, width: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: fd is a pty master the shim owns and `ws` outlives the call.
    let r = unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub(super) fn bind_socket(path: &Path) -> io::Result<StdUnixListener> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let _ = std::fs::remove_file(path);
    let l = StdUnixListener::bind(path)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

pub(super) fn async_fd(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an OwnedFd is open, stays open while the AsyncFd owns it, and always reports
    // the same descriptor number.
    unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)
}

pub(super) fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?;
    fcntl(
        fd.as_raw_fd(),
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )?;
    Ok(())
}
