//! `--chown` names looked up in the image's own `/etc/passwd` and `/etc/group`, as the
//! legacy builder does. Files reached through a symlink are not read: an image's
//! `/etc/passwd -> /host/file` must not make the build read the host's.

use crate::copy_layer::IdLookup;
use std::path::Path;

pub struct RootIds {
    passwd: Vec<(String, u32)>,
    group: Vec<(String, u32)>,
}

fn read_plain(root: &Path, rel: &str) -> String {
    let etc = root.join("etc");
    let Ok(m) = std::fs::symlink_metadata(&etc) else {
        return String::new();
    };
    if !m.is_dir() {
        return String::new();
    }
    let p = etc.join(rel);
    match std::fs::symlink_metadata(&p) {
        Ok(m) if m.is_file() => std::fs::read_to_string(&p).unwrap_or_default(),
        _ => String::new(),
    }
}

/// `name:x:id:...` lines: the name and the third field. Bad ids are skipped, never 0.
fn parse(text: &str) -> Vec<(String, u32)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((f.first()?.to_string(), f.get(2)?.trim().parse().ok()?))
        })
        .collect()
}

impl RootIds {
    pub fn new(root: &Path) -> Self {
        RootIds {
            passwd: parse(&read_plain(root, "passwd")),
            group: parse(&read_plain(root, "group")),
        }
    }
}

impl IdLookup for RootIds {
    fn uid(&self, user: &str) -> Option<u32> {
        self.passwd.iter().find(|(n, _)| n == user).map(|(_, i)| *i)
    }
    fn gid(&self, group: &str) -> Option<u32> {
        self.group.iter().find(|(n, _)| n == group).map(|(_, i)| *i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy_layer::parse_chown;

    #[test]
    fn names_resolve_from_the_image() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("etc")).unwrap();
        std::fs::write(
            t.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nbad:x:zz:1::/:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(t.path().join("etc/group"), "root:x:0:\nstaff:x:50:app\n").unwrap();
        let ids = RootIds::new(t.path());
        assert_eq!(parse_chown("app:staff", &ids).unwrap(), (1000, 50));
        assert_eq!(parse_chown("1:2", &ids).unwrap(), (1, 2));
        assert!(parse_chown("bad", &ids).is_err());
        assert!(parse_chown("app", &ids).is_err(), "no group named app");
    }

    #[test]
    fn symlinked_passwd_is_not_read() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("etc")).unwrap();
        let outside = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(outside.path(), "evil:x:7:7::/:/bin/sh\n").unwrap();
        std::os::unix::fs::symlink(outside.path(), t.path().join("etc/passwd")).unwrap();
        assert_eq!(RootIds::new(t.path()).uid("evil"), None);
    }
}
