//! Resolving Docker's `--user` forms against the image's own `/etc/passwd` and `/etc/group`,
//! with runc's rules (which Docker 20.10 uses), while never reading outside the rootfs.

use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::SpecError;

/// The ids a container process runs with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups; only filled when the group was not given explicitly, as runc does.
    pub additional_gids: Vec<u32>,
    /// The passwd entry's home directory, when there was an entry: exec needs it for `HOME`.
    pub home: Option<String>,
}

/// The largest id runc accepts; Docker reports anything else as out of range.
const MAX_ID: i64 = i32::MAX as i64;

/// Image files are untrusted; a multi-gigabyte `/etc/passwd` must not exhaust the daemon.
const MAX_FILE_BYTES: u64 = 32 << 20;

/// Linux's own limit on symlink hops, so a symlink cycle in an image ends with ELOOP.
const MAX_SYMLINKS: usize = 40;

struct PasswdEntry {
    name: String,
    uid: i64,
    gid: i64,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: i64,
    members: Vec<String>,
}

/// Resolves `user` (`""`, `name`, `uid`, `name:group`, `uid:gid`, …) the way runc's
/// `GetExecUser` does: a name must exist in passwd, a number need not; a matched user's
/// supplementary groups come from group membership unless a group was given explicitly.
pub fn resolve_user(rootfs: &Path, user: &str) -> Result<ResolvedUser, SpecError> {
    let mut parts = user.splitn(3, ':');
    let user_arg = parts.next().unwrap_or("");
    let group_arg = parts.next().unwrap_or("");

    let passwd = read_rootfs_file(rootfs, "/etc/passwd")?
        .map(|t| parse_passwd(&t))
        .unwrap_or_default();
    let uid_num = user_arg.parse::<i64>().ok();

    let mut resolved = ResolvedUser::default();
    let matched = passwd.iter().find(|u| {
        if user_arg.is_empty() {
            u.uid == 0
        } else if let Some(n) = uid_num {
            u.uid == n
        } else {
            u.name == user_arg
        }
    });
    let mut matched_name = None;
    if let Some(entry) = matched {
        resolved.uid = to_id(entry.uid)?;
        resolved.gid = to_id(entry.gid)?;
        resolved.home = Some(entry.home.clone());
        matched_name = Some(entry.name.as_str());
    } else if !user_arg.is_empty() {
        match uid_num {
            Some(n) => resolved.uid = to_id(n)?,
            None => return Err(SpecError::UserNotFound(user_arg.to_string())),
        }
    }

    if group_arg.is_empty() && matched_name.is_none() {
        return Ok(resolved);
    }
    let groups = read_rootfs_file(rootfs, "/etc/group")?
        .map(|t| parse_group(&t))
        .unwrap_or_default();
    let gid_num = group_arg.parse::<i64>().ok();
    let mut matching = groups.iter().filter(|g| {
        if group_arg.is_empty() {
            matched_name.is_some_and(|name| g.members.iter().any(|m| m == name))
        } else if let Some(n) = gid_num {
            g.gid == n
        } else {
            g.name == group_arg
        }
    });
    if group_arg.is_empty() {
        resolved.additional_gids = matching.map(|g| to_id(g.gid)).collect::<Result<_, _>>()?;
    } else if let Some(first) = matching.next() {
        resolved.gid = to_id(first.gid)?;
    } else if let Some(n) = gid_num {
        resolved.gid = to_id(n)?;
    } else {
        return Err(SpecError::GroupNotFound(group_arg.to_string()));
    }
    Ok(resolved)
}

fn to_id(n: i64) -> Result<u32, SpecError> {
    if (0..=MAX_ID).contains(&n) {
        Ok(n as u32)
    } else {
        Err(SpecError::IdRange)
    }
}

/// Lines whose ids do not parse are skipped rather than read as 0 (runc's behaviour), so a
/// malformed entry can never turn into root.
fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.trim().parse().ok()?,
                gid: f.get(3)?.trim().parse().ok()?,
                home: f.get(5).map(|s| s.to_string()).unwrap_or_default(),
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.trim().parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Reads `path` as the container would see it with `root` as `/`. A missing file is `None`:
/// images without passwd (scratch) are normal and only numeric users work there.
pub(crate) fn read_rootfs_file(root: &Path, path: &str) -> Result<Option<String>, SpecError> {
    let wrap = |source: io::Error| SpecError::RootfsFile {
        path: path.to_string(),
        source,
    };
    let host_path = match resolve_in_root(root, path) {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(wrap(e)),
    };
    // O_NOFOLLOW closes the race where the last component becomes a symlink after it was
    // resolved; O_NONBLOCK keeps a FIFO planted by the image from hanging the daemon.
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&host_path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(wrap(e)),
    };
    let meta = file.metadata().map_err(wrap)?;
    if !meta.is_file() {
        return Err(wrap(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a regular file",
        )));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(wrap)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(wrap(io::Error::new(
            io::ErrorKind::InvalidData,
            "file too large",
        )));
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Follows symlinks as if `root` were `/` (the semantics of Docker's `FollowSymlinkInScope`):
/// absolute targets restart at `root` and `..` stops at `root`, so no link can lead out.
/// Components that do not exist are kept as they are; the caller's open reports them.
pub(crate) fn resolve_in_root(root: &Path, path: &str) -> io::Result<PathBuf> {
    let mut pending: VecDeque<String> = components(path).collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = join(root, &resolved).join(&part);
        match std::fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_SYMLINKS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = std::fs::read_link(&candidate)?;
                let target = target.to_string_lossy();
                if target.starts_with('/') {
                    resolved.clear();
                }
                for (i, c) in components(&target).enumerate() {
                    pending.insert(i, c);
                }
            }
            Ok(_) => resolved.push(part),
            Err(e) if e.kind() == io::ErrorKind::NotFound => resolved.push(part),
            Err(e) => return Err(e),
        }
    }
    Ok(join(root, &resolved))
}

fn components(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(String::from)
}

fn join(root: &Path, parts: &[String]) -> PathBuf {
    let mut p = root.to_path_buf();
    p.extend(parts);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        # a comment\n\
        \n\
        broken:x:notanumber:0::/:/bin/sh\n\
        app:x:1000:1000:App:/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:root\n\
        bin:x:1:root,bin,daemon\n\
        wheel:x:10:root,app\n\
        app:x:1000:\n\
        staff:x:50:\n";

    fn rootfs(passwd: Option<&str>, group: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        if let Some(p) = passwd {
            std::fs::write(dir.path().join("etc/passwd"), p).unwrap();
        }
        if let Some(g) = group {
            std::fs::write(dir.path().join("etc/group"), g).unwrap();
        }
        dir
    }

    #[test]
    fn empty_user_is_root_with_its_groups() {
        let dir = rootfs(Some(PASSWD), Some(GROUP));
        let u = resolve_user(dir.path(), "").unwrap();
        assert_eq!((u.uid, u.gid), (0, 0));
        assert_eq!(u.additional_gids, vec![0, 1, 10]);
        assert_eq!(u.home.as_deref(), Some("/root"));
    }

    #[test]
    fn named_user_and_supplementary_groups() {
        let dir = rootfs(Some(PASSWD), Some(GROUP));
        let u = resolve_user(dir.path(), "app").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert_eq!(u.additional_gids, vec![10]);
        assert_eq!(u.home.as_deref(), Some("/home/app"));
    }

    #[test]
    fn numeric_user_matches_by_uid_only() {
        let dir = rootfs(Some(PASSWD), Some(GROUP));
        let u = resolve_user(dir.path(), "1").unwrap();
        assert_eq!((u.uid, u.gid), (1, 1));
        assert_eq!(u.additional_gids, vec![1]);
        // Not in passwd: fine, gid 0, no groups.
        let u = resolve_user(dir.path(), "4242").unwrap();
        assert_eq!((u.uid, u.gid), (4242, 0));
        assert!(u.additional_gids.is_empty());
        assert_eq!(u.home, None);
    }

    #[test]
    fn explicit_group_replaces_gid_and_drops_supplementary() {
        let dir = rootfs(Some(PASSWD), Some(GROUP));
        let u = resolve_user(dir.path(), "app:staff").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 50));
        assert!(u.additional_gids.is_empty());
        let u = resolve_user(dir.path(), "1000:10").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 10));
        let u = resolve_user(dir.path(), "4242:777").unwrap();
        assert_eq!((u.uid, u.gid), (4242, 777));
    }

    #[test]
    fn missing_user_and_group_are_invalid_argument() {
        let dir = rootfs(Some(PASSWD), Some(GROUP));
        let err = resolve_user(dir.path(), "foo").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to find user foo: no matching entries in passwd file"
        );
        assert_eq!(err.kind(), berth_model::ErrorKind::InvalidArgument);
        let err = resolve_user(dir.path(), "app:nogroup").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to find group nogroup: no matching entries in group file"
        );
        // A malformed line must not make its name resolvable (and never as uid 0).
        assert!(resolve_user(dir.path(), "broken").is_err());
    }

    #[test]
    fn ids_out_of_range_are_rejected() {
        let dir = rootfs(None, None);
        assert!(matches!(
            resolve_user(dir.path(), "-1"),
            Err(SpecError::IdRange)
        ));
        assert!(matches!(
            resolve_user(dir.path(), "1:4294967296"),
            Err(SpecError::IdRange)
        ));
    }

    #[test]
    fn scratch_image_without_files() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            resolve_user(dir.path(), "").unwrap(),
            ResolvedUser::default()
        );
        let u = resolve_user(dir.path(), "1000:1000").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert!(resolve_user(dir.path(), "nobody").is_err());
        assert!(resolve_user(dir.path(), "0:staff").is_err());
    }

    #[test]
    fn absolute_symlink_stays_inside_rootfs() {
        // Outside the rootfs: a passwd that would make "evil" resolvable if it were read.
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("shadow");
        std::fs::write(&secret, "evil:x:0:0::/:/bin/sh\n").unwrap();

        let dir = rootfs(None, Some(GROUP));
        symlink(&secret, dir.path().join("etc/passwd")).unwrap();
        // The link's absolute target is re-rooted, so it does not exist in the rootfs.
        assert!(resolve_user(dir.path(), "evil").is_err());

        // Re-rooted target that does exist inside the rootfs is what gets read.
        let inside = dir.path().join(secret.strip_prefix("/").unwrap());
        std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
        std::fs::write(&inside, "inside:x:7:7::/:/bin/sh\n").unwrap();
        assert_eq!(resolve_user(dir.path(), "inside").unwrap().uid, 7);
        assert!(resolve_user(dir.path(), "evil").is_err());
    }

    #[test]
    fn relative_symlink_cannot_climb_out() {
        let outside = tempfile::tempdir().unwrap();
        let root = outside.path().join("rootfs");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(outside.path().join("passwd"), "evil:x:0:0::/:/bin/sh\n").unwrap();
        symlink("../../../../../passwd", root.join("etc/passwd")).unwrap();
        assert!(resolve_user(&root, "evil").is_err());
        // A symlinked /etc directory pointing at the host's /etc is re-rooted as well.
        let root2 = outside.path().join("rootfs2");
        std::fs::create_dir_all(&root2).unwrap();
        symlink("/etc", root2.join("etc")).unwrap();
        assert!(resolve_user(&root2, "root").is_err());
    }

    #[test]
    fn symlink_inside_rootfs_is_followed() {
        let dir = rootfs(None, None);
        std::fs::create_dir_all(dir.path().join("usr/lib")).unwrap();
        std::fs::write(dir.path().join("usr/lib/passwd"), PASSWD).unwrap();
        symlink("../usr/lib/passwd", dir.path().join("etc/passwd")).unwrap();
        assert_eq!(resolve_user(dir.path(), "app").unwrap().uid, 1000);
    }

    #[test]
    fn symlink_loop_is_an_error() {
        let dir = rootfs(None, None);
        symlink("/etc/passwd", dir.path().join("etc/passwd")).unwrap();
        let err = resolve_user(dir.path(), "app").unwrap_err();
        assert!(matches!(err, SpecError::RootfsFile { .. }), "{err}");
    }

    #[test]
    fn fifo_is_refused_without_blocking() {
        let dir = rootfs(None, None);
        let path = dir.path().join("etc/passwd");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        assert!(matches!(
            resolve_user(dir.path(), "app"),
            Err(SpecError::RootfsFile { .. })
        ));
    }
}
