//! Host devices in a container: `--device` (HostConfig.Devices), `--device-cgroup-rule`
//! (HostConfig.DeviceCgroupRules) and the whole host `/dev` of privileged containers, as
//! moby's `WithDevices` builds them. Reading the host's device nodes is the only I/O here.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType,
};

use super::SpecError;

/// One `--device HOST[:CONTAINER[:PERMS]]`, as HostConfig.Devices carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    /// Any of `r`, `w`, `m`; empty means `rwm`.
    pub cgroup_permissions: String,
}

/// Why a path is not usable as a device; the texts are Go's, which Docker shows.
#[derive(Debug)]
enum NodeError {
    NotADevice,
    Io(std::io::Error),
}

impl std::fmt::Display for NodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeError::NotADevice => f.write_str("not a device node"),
            NodeError::Io(e) => match e.raw_os_error() {
                // Go prints errno texts in lower case ("no such file or directory").
                Some(code) => {
                    let desc = nix::errno::Errno::from_raw(code).desc();
                    let mut chars = desc.chars();
                    match chars.next() {
                        Some(first) => write!(f, "{}{}", first.to_lowercase(), chars.as_str()),
                        None => Ok(()),
                    }
                }
                None => write!(f, "{e}"),
            },
        }
    }
}

fn valid_permissions(p: &str) -> bool {
    !p.is_empty() && p.len() <= 3 && p.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
}

/// The device node at `path` (not following a final symlink), shown at `container_path`.
fn device_at(path: &Path, container_path: &str) -> Result<LinuxDevice, NodeError> {
    let meta = std::fs::symlink_metadata(path).map_err(NodeError::Io)?;
    let ft = meta.file_type();
    let typ = if ft.is_char_device() {
        LinuxDeviceType::C
    } else if ft.is_block_device() {
        LinuxDeviceType::B
    } else if ft.is_fifo() {
        LinuxDeviceType::P
    } else {
        return Err(NodeError::NotADevice);
    };
    let rdev = meta.rdev();
    LinuxDeviceBuilder::default()
        .path(container_path)
        .typ(typ)
        .major(nix::sys::stat::major(rdev) as i64)
        .minor(nix::sys::stat::minor(rdev) as i64)
        .file_mode(meta.mode() & 0o7777)
        .uid(meta.uid())
        .gid(meta.gid())
        .build()
        .map_err(|e| NodeError::Io(std::io::Error::other(e.to_string())))
}

fn cgroup_rule(dev: &LinuxDevice, access: &str) -> Result<LinuxDeviceCgroup, SpecError> {
    Ok(LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(dev.typ())
        .major(dev.major())
        .minor(dev.minor())
        .access(access)
        .build()?)
}

/// Device nodes under `dir`, depth first in name order, skipping anything that is not a
/// device (symlinks are not followed, as `filepath.Walk` does not).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => walk(&p, out),
            Ok(_) => out.push(p),
            Err(_) => {}
        }
    }
}

/// moby's `DevicesFromPath`: the node(s) for one mapping and the cgroup rules allowing
/// them. A directory adds every device below it, renamed under the container path.
pub fn devices_from_path(
    m: &DeviceMapping,
) -> Result<(Vec<LinuxDevice>, Vec<LinuxDeviceCgroup>), SpecError> {
    let access = if m.cgroup_permissions.is_empty() {
        "rwm"
    } else {
        m.cgroup_permissions.as_str()
    };
    if !valid_permissions(access) {
        return Err(SpecError::InvalidResources(format!(
            "invalid device cgroup permissions {access:?} for device {:?}: use a combination of r, w and m",
            m.path_on_host
        )));
    }
    let container_path = if m.path_in_container.is_empty() {
        m.path_on_host.as_str()
    } else {
        m.path_in_container.as_str()
    };
    if !container_path.starts_with("/dev/") {
        return Err(SpecError::InvalidResources(format!(
            "invalid device path in container {container_path:?}: devices must be created under /dev"
        )));
    }
    let host = Path::new(&m.path_on_host);
    // A symlink on the host (e.g. /dev/disk/by-id/...) stands for the node it points to.
    let resolved = match std::fs::symlink_metadata(host) {
        Ok(meta) if meta.file_type().is_symlink() => {
            std::fs::canonicalize(host).unwrap_or_else(|_| host.to_path_buf())
        }
        _ => host.to_path_buf(),
    };
    let gather_err = |e: &dyn std::fmt::Display| {
        SpecError::Device(format!(
            "error gathering device information while adding custom device {:?}: {e}",
            m.path_on_host
        ))
    };
    let err = match device_at(&resolved, container_path) {
        Ok(dev) => {
            let rule = cgroup_rule(&dev, access)?;
            return Ok((vec![dev], vec![rule]));
        }
        Err(e) => e,
    };
    let mut devs = Vec::new();
    let mut rules = Vec::new();
    if matches!(err, NodeError::NotADevice) && resolved.is_dir() {
        let mut found = Vec::new();
        walk(&resolved, &mut found);
        let prefix = resolved.to_string_lossy().into_owned();
        for p in found {
            let shown = p.to_string_lossy().replacen(&prefix, container_path, 1);
            if let Ok(dev) = device_at(&p, &shown) {
                rules.push(cgroup_rule(&dev, access)?);
                devs.push(dev);
            }
        }
    }
    if devs.is_empty() {
        return Err(gather_err(&err));
    }
    Ok((devs, rules))
}

/// containerd's `HostDevices`: every device node under `/dev` but the console, pseudo
/// terminals, fifos and the directories runtimes mount themselves.
pub fn host_devices() -> Vec<LinuxDevice> {
    let mut found = Vec::new();
    walk_host(Path::new("/dev"), &mut found);
    found
}

fn walk_host(dir: &Path, out: &mut Vec<LinuxDevice>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            if !matches!(
                name,
                "pts" | "shm" | "fd" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev"
            ) {
                walk_host(&p, out);
            }
            continue;
        }
        if name == "console" {
            continue;
        }
        if let Ok(dev) = device_at(&p, &p.to_string_lossy()) {
            if dev.typ() != LinuxDeviceType::P {
                out.push(dev);
            }
        }
    }
}

/// One `--device-cgroup-rule`: `TYPE MAJOR:MINOR ACCESS` with `a`, `b` or `c`, numbers
/// or `*`, and a combination of `rwm`.
pub fn parse_cgroup_rule(rule: &str) -> Result<LinuxDeviceCgroup, SpecError> {
    let bad =
        || SpecError::InvalidResources(format!("invalid device cgroup rule format: '{rule}'"));
    let parts: Vec<&str> = rule.split(' ').collect();
    let [typ, numbers, access] = parts.as_slice() else {
        return Err(bad());
    };
    let typ = match *typ {
        "a" => LinuxDeviceType::A,
        "b" => LinuxDeviceType::B,
        "c" => LinuxDeviceType::C,
        _ => return Err(bad()),
    };
    let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
    let number = |s: &str| -> Result<Option<i64>, SpecError> {
        if s == "*" {
            Ok(None)
        } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().map(Some).map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (major, minor) = (number(major)?, number(minor)?);
    if !valid_permissions(access) {
        return Err(bad());
    }
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(typ)
        .access(*access);
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    Ok(b.build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(host: &str, ctr: &str, perms: &str) -> DeviceMapping {
        DeviceMapping {
            path_on_host: host.into(),
            path_in_container: ctr.into(),
            cgroup_permissions: perms.into(),
        }
    }

    #[test]
    fn single_device_takes_host_attributes() {
        let (devs, rules) = devices_from_path(&map("/dev/null", "/dev/mynull", "")).unwrap();
        assert_eq!(devs.len(), 1);
        let d = &devs[0];
        assert_eq!(d.path(), &PathBuf::from("/dev/mynull"));
        assert_eq!(d.typ(), LinuxDeviceType::C);
        assert_eq!((d.major(), d.minor()), (1, 3));
        assert_eq!(d.file_mode(), Some(0o666));
        assert_eq!((d.uid(), d.gid()), (Some(0), Some(0)));
        assert_eq!(rules.len(), 1);
        assert!(rules[0].allow());
        assert_eq!(rules[0].to_string(), "c 1:3 rwm");

        let (devs, rules) = devices_from_path(&map("/dev/zero", "", "r")).unwrap();
        assert_eq!(devs[0].path(), &PathBuf::from("/dev/zero"));
        assert_eq!(rules[0].to_string(), "c 1:5 r");
    }

    #[test]
    fn directory_adds_every_device_below_it() {
        let (devs, rules) = devices_from_path(&map("/dev", "/dev/host", "rw")).unwrap();
        let null = devs
            .iter()
            .find(|d| d.path() == &PathBuf::from("/dev/host/null"))
            .expect("/dev/null under /dev/host");
        assert_eq!((null.major(), null.minor()), (1, 3));
        assert_eq!(devs.len(), rules.len());
        assert!(rules.iter().all(|r| r.access().as_deref() == Some("rw")));
        // Symlinks such as /dev/stdin are not devices.
        assert!(!devs.iter().any(|d| d.path().ends_with("stdin")));
    }

    #[test]
    fn missing_or_non_device_paths_fail_as_docker() {
        let err = devices_from_path(&map("/dev/berth-nonexistent", "", "")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "error gathering device information while adding custom device \"/dev/berth-nonexistent\": no such file or directory"
        );
        assert_eq!(err.kind(), berth_model::ErrorKind::InvalidArgument);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain");
        std::fs::write(&file, "x").unwrap();
        let host = file.to_string_lossy().into_owned();
        let err = devices_from_path(&map(&host, "/dev/plain", "")).unwrap_err();
        assert!(err.to_string().ends_with(": not a device node"), "{err}");
        // An empty directory holds no device either.
        let host = dir.path().join("empty");
        std::fs::create_dir(&host).unwrap();
        let err = devices_from_path(&map(&host.to_string_lossy(), "/dev/x", "")).unwrap_err();
        assert!(err.to_string().ends_with(": not a device node"), "{err}");
    }

    #[test]
    fn bad_permissions_and_container_paths_are_refused() {
        assert!(devices_from_path(&map("/dev/null", "", "rx")).is_err());
        let err = devices_from_path(&map("/dev/null", "/null", "")).unwrap_err();
        assert!(err.to_string().contains("under /dev"), "{err}");
    }

    #[test]
    fn host_devices_skip_console_and_pts() {
        let devs = host_devices();
        assert!(devs.iter().any(|d| d.path() == &PathBuf::from("/dev/null")));
        assert!(!devs
            .iter()
            .any(|d| d.path() == &PathBuf::from("/dev/console")));
        assert!(!devs.iter().any(|d| d.path().starts_with("/dev/pts")));
    }

    #[test]
    fn cgroup_rules() {
        assert_eq!(
            parse_cgroup_rule("c 1:3 rwm").unwrap().to_string(),
            "c 1:3 rwm"
        );
        assert_eq!(parse_cgroup_rule("b *:* m").unwrap().to_string(), "b *:* m");
        assert_eq!(parse_cgroup_rule("a 7:* r").unwrap().to_string(), "a 7:* r");
        for bad in [
            "", "c 1:3", "x 1:3 r", "c 1 r", "c a:3 r", "c 1:3 rx", "c 1:3  r",
        ] {
            let err = parse_cgroup_rule(bad).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("invalid device cgroup rule format: '{bad}'")
            );
        }
    }
}
