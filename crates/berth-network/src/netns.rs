//! Network namespaces kept alive by a bind mount on a file (as `ip netns` does), and running
//! code inside one. Every namespace switch happens on a short-lived std thread of its own, so
//! the daemon's runtime threads never change namespace.

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsFd;
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use crate::error::{NetError, Result};

/// Creates a new network namespace kept alive by a bind mount at `path` (the file is created,
/// with its parent directories), with `lo` up. Fails when `path` already exists.
pub fn create(path: &Path) -> Result<()> {
    let shown = path.display().to_string();
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| NetError::io(parent.display().to_string(), e))?;
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                NetError::Conflict(format!("network namespace {shown} already exists"))
            } else {
                NetError::io(format!("create {shown}"), e)
            }
        })?;
    let target = path.to_path_buf();
    let made = std::thread::scope(|s| {
        s.spawn(move || -> Result<()> {
            // Only this thread moves into the new namespace; it ends right after.
            unshare(CloneFlags::CLONE_NEWNET)
                .map_err(|e| NetError::errno("unshare network namespace", e))?;
            let own = format!("/proc/self/task/{}/ns/net", nix::unistd::gettid());
            mount(
                Some(own.as_str()),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| {
                NetError::errno(
                    format!("bind mount network namespace on {}", target.display()),
                    e,
                )
            })?;
            set_up("lo")
        })
        .join()
        .unwrap_or_else(|_| {
            Err(NetError::Internal(
                "network namespace thread panicked".into(),
            ))
        })
    });
    if let Err(e) = made {
        let _ = remove(path);
        return Err(e);
    }
    Ok(())
}

/// Unmounts (lazily) and deletes a namespace file made by [`create`]. Ok when it is missing.
pub fn remove(path: &Path) -> Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(NetError::errno(format!("unmount {}", path.display()), e)),
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetError::io(format!("remove {}", path.display()), e)),
    }
}

/// Runs `f` on a new thread that has joined the network namespace at `path` (a file made by
/// [`create`] or `/proc/<pid>/ns/net`) and returns its result. Sockets made by `f` stay in
/// that namespace for their whole life, wherever they are used afterwards.
pub fn run_in<T: Send>(path: &Path, f: impl FnOnce() -> T + Send) -> Result<T> {
    let ns = File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            NetError::NotFound(format!(
                "network namespace {} does not exist",
                path.display()
            ))
        } else {
            NetError::io(format!("open {}", path.display()), e)
        }
    })?;
    let shown = path.display().to_string();
    std::thread::scope(|s| {
        s.spawn(move || -> Result<T> {
            setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)
                .map_err(|e| NetError::errno(format!("join network namespace {shown}"), e))?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|_| {
            Err(NetError::Internal(
                "network namespace thread panicked".into(),
            ))
        })
    })
}

/// Sets IFF_UP on an interface of the calling thread's network namespace (used for `lo`).
fn set_up(ifname: &str) -> Result<()> {
    let sock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| NetError::errno("socket for interface flags", e))?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = ifname.as_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return Err(NetError::InvalidArgument(format!(
            "interface name {ifname} is too long"
        )));
    }
    for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    use std::os::fd::AsRawFd;
    // SAFETY: the fd is a live socket and `req` a valid ifreq that outlives the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(NetError::io(
            format!("get flags of {ifname}"),
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above; SIOCSIFFLAGS reads the flags member we just set.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(NetError::io(
            format!("set {ifname} up"),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}
