//! The `local` driver's side effects: its options (`type`, `device`, `o`) mounted on a
//! volume's `_data` and unmounted, and the copy-up of image content into an empty volume.

use berth_model::{Error, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::collections::BTreeMap;
use std::path::Path;

/// dockerd's local driver options.
pub(super) fn validate_options(opts: &BTreeMap<String, String>) -> Result<()> {
    for k in opts.keys() {
        if !matches!(k.as_str(), "type" | "device" | "o") {
            return Err(Error::invalid(format!("invalid option key: {k:?}")));
        }
    }
    let typ = opts.get("type").map(String::as_str).unwrap_or("");
    let device = opts.get("device").map(String::as_str).unwrap_or("");
    if !device.is_empty() && typ.is_empty() {
        return Err(Error::invalid("missing required option: \"type\""));
    }
    if typ.is_empty() && opts.contains_key("o") {
        return Err(Error::invalid("missing required option: \"type\""));
    }
    Ok(())
}

/// Splits `o=` into mount flags and the data string passed to the file system, as the
/// `mount` tool (and moby's `mount.ParseOptions`) do.
pub(super) fn parse_mount_options(o: &str) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for opt in o.split(',').filter(|x| !x.is_empty()) {
        let (set, clear) = match opt {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            other => {
                data.push(other.to_string());
                continue;
            }
        };
        flags.insert(set);
        flags.remove(clear);
    }
    (flags, data.join(","))
}

/// Mounts a volume's options on its `_data` (dockerd's `localVolume.mount`).
pub(super) fn mount_volume(
    name: &str,
    data_dir: &Path,
    opts: &BTreeMap<String, String>,
) -> Result<()> {
    let typ = opts.get("type").cloned().unwrap_or_default();
    let device = opts.get("device").cloned().unwrap_or_default();
    let o = opts.get("o").cloned().unwrap_or_default();
    let (flags, data) = parse_mount_options(&o);
    let fail = |e: nix::Error| {
        Error::internal(format!(
            "error while mounting volume '{}': failed to mount local volume: mount {device}:{} , flags: {:#x}, data: {data}: {}",
            name,
            data_dir.display(),
            flags.bits(),
            e.desc().to_lowercase()
        ))
    };
    std::fs::create_dir_all(data_dir)?;
    let bind = flags.contains(MsFlags::MS_BIND);
    let source = if device.is_empty() {
        typ.clone()
    } else {
        device.clone()
    };
    let fstype = if bind || typ == "none" {
        None
    } else {
        Some(typ.as_str())
    };
    let ro = flags.contains(MsFlags::MS_RDONLY);
    mount(
        Some(source.as_str()),
        data_dir,
        fstype,
        flags,
        (!data.is_empty()).then_some(data.as_str()),
    )
    .map_err(fail)?;
    if bind && ro {
        // A bind ignores MS_RDONLY until remounted.
        let remount = flags | MsFlags::MS_REMOUNT;
        if let Err(e) = mount(None::<&str>, data_dir, None::<&str>, remount, None::<&str>) {
            let _ = umount2(data_dir, MntFlags::MNT_DETACH);
            return Err(fail(e));
        }
    }
    Ok(())
}

/// Whether `path` is a mount point of berthd's namespace.
pub(crate) fn is_mountpoint(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| unescape(m) == want)
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

pub(super) fn unmount_if_mounted(path: &Path) -> std::io::Result<()> {
    while is_mountpoint(path) {
        umount2(path, MntFlags::MNT_DETACH).map_err(std::io::Error::from)?;
    }
    Ok(())
}

/// Where each destination is inside `rootfs`, symlinks in the image followed as if
/// chrooted there (dockerd's `GetResourcePath`, runc's `SecureJoin`): an absolute link
/// is relative to the root and `..` stops at it, so a mount or a copy-up never lands
/// outside. A destination that cannot be resolved (a file on the way) is kept, for the
/// runtime to refuse.
pub(super) fn resolve_in_root(rootfs: &Path, dests: &[&str]) -> Result<Vec<String>> {
    use berth_archive::copy::CopyRoot;
    let root = CopyRoot::open(rootfs).map_err(|e| Error::internal(format!("open rootfs: {e}")))?;
    Ok(dests
        .iter()
        .map(|d| root.resolve(d).unwrap_or_else(|_| d.to_string()))
        .collect())
}

/// Files the runtime mounts over (`/etc/resolv.conf`, ...) that the image has as links
/// to nothing: the link's target, resolved inside the root, is made an empty file (and
/// its missing directories made), as runc's `createIfNotExists` after `SecureJoin`, so
/// the mount lands where the link leads instead of failing. One lstat each otherwise.
pub(super) fn ensure_link_targets(rootfs: &Path, files: &[&str]) -> Result<()> {
    use berth_archive::copy::CopyRoot;
    use std::os::unix::fs::OpenOptionsExt;
    let mut root: Option<CopyRoot> = None;
    for f in files {
        let host = rootfs.join(f.trim_start_matches('/'));
        match std::fs::symlink_metadata(&host) {
            Ok(m) if m.file_type().is_symlink() => {}
            _ => continue,
        }
        let r = match root.take() {
            Some(r) => r,
            None => {
                CopyRoot::open(rootfs).map_err(|e| Error::internal(format!("open rootfs: {e}")))?
            }
        };
        let resolved = r.resolve(f);
        root = Some(r);
        // Links through a file, or looping: the runtime reports it.
        let Ok(resolved) = resolved else { continue };
        // Every part that exists is a real directory now: joining on the host stays in.
        let target = rootfs.join(resolved.trim_start_matches('/'));
        if target.symlink_metadata().is_ok() {
            continue;
        }
        let io = |e: std::io::Error| Error::internal(format!("create {resolved} for {f}: {e}"));
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&target)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(e)),
        }
    }
    Ok(())
}

/// Docker's copy-up: fills an empty volume with what the image has at `dest` (owners,
/// modes, times, symlinks kept), the volume's root taking the directory's owner and
/// mode. Looked up inside `rootfs` as if chrooted, so a symlink planted in the
/// container cannot make berthd read the host. Nothing happens when the volume already
/// has content or the image has no directory there.
pub(super) fn copy_up(rootfs: &Path, dest: &str, volume: &Path, scratch: &Path) -> Result<()> {
    use berth_archive::copy::{CopyRoot, ExtractOptions};
    let not_empty = std::fs::read_dir(volume)
        .map(|mut d| d.next().is_some())
        .unwrap_or(true);
    if not_empty {
        return Ok(());
    }
    let root = CopyRoot::open(rootfs).map_err(|e| Error::internal(format!("open rootfs: {e}")))?;
    let source = match root.source(dest) {
        Ok(s) => s,
        Err(_) => return Ok(()),
    };
    const GO_DIR: u32 = 1 << 31;
    if source.stat().mode & GO_DIR == 0 {
        return Ok(());
    }
    let io = |what: &str| {
        let what = what.to_string();
        move |e: std::io::Error| Error::internal(format!("copy-up of {dest}: {what}: {e}"))
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(scratch)
        .map_err(io("scratch file"))?;
    let _ = std::fs::remove_file(scratch);
    let mut file = source
        .renamed(".")
        .write_tar(std::io::BufWriter::new(file))
        .map_err(io("read image content"))?
        .into_inner()
        .map_err(|e| io("write")(e.into_error()))?;
    use std::io::Seek;
    file.rewind().map_err(io("rewind"))?;
    let top = top_entry_owner(&mut file).map_err(io("read tar"))?;
    file.rewind().map_err(io("rewind"))?;
    let target = CopyRoot::open(volume).map_err(io("open volume"))?;
    target
        .extract(
            "/",
            std::io::BufReader::new(file),
            ExtractOptions::default(),
        )
        .map_err(|e| Error::internal(format!("copy-up of {dest}: {e}")))?;
    // dockerd's `copyOwnership`: the volume's root as the image's directory.
    if let Some((mode, uid, gid)) = top {
        use std::os::unix::fs::PermissionsExt;
        std::os::unix::fs::chown(volume, Some(uid), Some(gid)).map_err(io("chown volume"))?;
        std::fs::set_permissions(volume, std::fs::Permissions::from_mode(mode))
            .map_err(io("chmod volume"))?;
    }
    Ok(())
}

/// Mode, uid and gid of a tar's first real entry (pax headers skipped), from its
/// ustar header's octal fields.
fn top_entry_owner(r: &mut impl std::io::Read) -> std::io::Result<Option<(u32, u32, u32)>> {
    let octal = |b: &[u8]| -> Option<u64> {
        let s = std::str::from_utf8(b).ok()?;
        let s = s.trim_matches(|c: char| c == '\0' || c == ' ');
        u64::from_str_radix(s, 8).ok()
    };
    let mut block = [0u8; 512];
    for _ in 0..4 {
        if r.read_exact(&mut block).is_err() {
            return Ok(None);
        }
        match block[156] {
            b'x' | b'g' | b'L' | b'K' => {
                let size = octal(&block[124..136]).unwrap_or(0);
                let skip = size.div_ceil(512) * 512;
                for _ in 0..skip / 512 {
                    r.read_exact(&mut block)?;
                }
            }
            _ => {
                let (Some(mode), Some(uid), Some(gid)) = (
                    octal(&block[100..108]),
                    octal(&block[108..116]),
                    octal(&block[116..124]),
                ) else {
                    return Ok(None);
                };
                return Ok(Some((mode as u32 & 0o7777, uid as u32, gid as u32)));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let ok = |pairs: &[(&str, &str)]| {
            validate_options(
                &pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        assert!(ok(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")]).is_ok());
        assert!(ok(&[("type", "none"), ("o", "bind"), ("device", "/x")]).is_ok());
        assert_eq!(
            ok(&[("colour", "red")]).unwrap_err().message,
            "invalid option key: \"colour\""
        );
        assert!(ok(&[("device", "/dev/sda")]).is_err());
        let (flags, data) = parse_mount_options("bind,ro,size=10m,uid=1000");
        assert!(flags.contains(MsFlags::MS_BIND | MsFlags::MS_RDONLY));
        assert_eq!(data, "size=10m,uid=1000");
        let (flags, _) = parse_mount_options("ro,rw");
        assert!(!flags.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn tar_top_entry() {
        let mut h = [0u8; 512];
        h[100..107].copy_from_slice(b"0000710");
        h[108..115].copy_from_slice(b"0000052");
        h[116..123].copy_from_slice(b"0000053");
        h[156] = b'5';
        assert_eq!(top_entry_owner(&mut &h[..]).unwrap(), Some((0o710, 42, 43)));
        assert_eq!(top_entry_owner(&mut &[][..]).unwrap(), None);
    }

    #[test]
    fn destinations_resolve_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::create_dir_all(root.join("srv/data")).unwrap();
        std::fs::write(root.join("file"), "x").unwrap();
        std::os::unix::fs::symlink("/srv/data", root.join("data")).unwrap();
        std::os::unix::fs::symlink("../../../srv", root.join("rel")).unwrap();
        std::os::unix::fs::symlink("/../../../..", root.join("esc")).unwrap();
        let got = resolve_in_root(
            root,
            &["/data", "/rel/data/sub", "/esc/etc", "/plain", "/file/x"],
        )
        .unwrap();
        assert_eq!(
            got,
            ["/srv/data", "/srv/data/sub", "/etc", "/plain", "/file/x"]
        );
    }

    #[test]
    fn dangling_links_get_their_targets() {
        let t = tempfile::tempdir().unwrap();
        let root = &t.path().join("rootfs");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::os::unix::fs::symlink("/run/x/r.conf", root.join("etc/resolv.conf")).unwrap();
        std::os::unix::fs::symlink("../../../../h", root.join("etc/hosts")).unwrap();
        std::fs::write(root.join("etc/hostname"), "kept").unwrap();
        ensure_link_targets(
            root,
            &["/etc/resolv.conf", "/etc/hosts", "/etc/hostname", "/nope"],
        )
        .unwrap();
        assert!(root.join("run/x/r.conf").is_file());
        assert!(root.join("h").is_file());
        assert!(!t.path().join("h").exists());
        assert_eq!(
            std::fs::read_to_string(root.join("etc/hostname")).unwrap(),
            "kept"
        );
        assert!(!root.join("nope").exists());
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape("/a\\040b"), "/a b");
    }
}
