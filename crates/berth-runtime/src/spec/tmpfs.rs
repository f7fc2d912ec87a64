//! `--tmpfs /path[:opts]` (HostConfig.Tmpfs): the mount options Docker gives a tmpfs.

use super::SpecError;

/// Options every `--tmpfs` starts from; the user's come after and win on conflict.
const DEFAULT_OPTIONS: [&str; 4] = ["noexec", "nosuid", "nodev", "rprivate"];

/// The key a mount flag collides on: `exec`/`noexec` set or clear the same bit and the
/// last one given wins; every propagation flag shares one key, as a mount has one mode.
fn flag_key(option: &str) -> Option<&'static str> {
    Some(match option {
        "ro" | "rw" => "rdonly",
        "suid" | "nosuid" => "nosuid",
        "dev" | "nodev" => "nodev",
        "exec" | "noexec" => "noexec",
        "sync" | "async" => "sync",
        "dirsync" => "dirsync",
        "remount" => "remount",
        "mand" | "nomand" => "mand",
        "atime" | "noatime" => "noatime",
        "diratime" | "nodiratime" => "nodiratime",
        "bind" => "bind",
        "rbind" => "rbind",
        "unbindable" | "runbindable" | "private" | "rprivate" | "shared" | "rshared" | "slave"
        | "rslave" => "propagation",
        "relatime" | "norelatime" => "relatime",
        "strictatime" | "nostrictatime" => "strictatime",
        _ => return None,
    })
}

/// tmpfs data options Docker accepts (`key=value`).
const DATA_KEYS: [&str; 8] = [
    "",
    "size",
    "mode",
    "uid",
    "gid",
    "nr_inodes",
    "nr_blocks",
    "mpol",
];

/// moby's `MergeTmpfsOptions` over the defaults plus `data` (the text after the `:` of
/// `--tmpfs`): duplicates are dropped keeping the last one, in the order given.
pub fn tmpfs_options(data: &str) -> Result<Vec<String>, SpecError> {
    let options: Vec<&str> = DEFAULT_OPTIONS
        .into_iter()
        .chain(
            data.split(',')
                .filter(|o| !data.is_empty() && !o.is_empty()),
        )
        .collect();
    let mut seen: Vec<&str> = Vec::new();
    let mut out: Vec<String> = Vec::new();
    for option in options.iter().rev() {
        if *option == "defaults" {
            continue;
        }
        let key = match flag_key(option) {
            Some(k) => k,
            None => match option.split_once('=') {
                Some((k, _)) if DATA_KEYS.contains(&k) => k,
                _ => return Err(invalid_option(option)),
            },
        };
        if !seen.contains(&key) {
            seen.push(key);
            out.insert(0, option.to_string());
        }
    }
    Ok(out)
}

/// Docker's text, which prints the option split at its first `=` as a Go string slice.
fn invalid_option(option: &str) -> SpecError {
    let parts: Vec<String> = option.splitn(2, '=').map(|p| format!("{p:?}")).collect();
    SpecError::InvalidTmpfs(format!("Invalid tmpfs option [{}]", parts.join(" ")))
}

/// A tmpfs destination must be absolute and not `/`.
pub fn check_tmpfs_destination(dest: &str) -> Result<(), SpecError> {
    if !dest.starts_with('/') {
        return Err(SpecError::InvalidTmpfs(format!(
            "invalid mount config for type \"tmpfs\": invalid mount path: '{dest}' mount path must be absolute"
        )));
    }
    if dest.trim_end_matches('/').is_empty() {
        return Err(SpecError::InvalidTmpfs(format!(
            "invalid mount config for type \"tmpfs\": invalid specification: destination can't be '/' in '{dest}'"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_then_user_options() {
        assert_eq!(
            tmpfs_options("").unwrap(),
            ["noexec", "nosuid", "nodev", "rprivate"]
        );
        assert_eq!(
            tmpfs_options("size=1m").unwrap(),
            ["noexec", "nosuid", "nodev", "rprivate", "size=1m"]
        );
        // `exec` clears the default `noexec`; the last mode and size win.
        assert_eq!(
            tmpfs_options("exec,mode=1777,size=1m,size=2m,shared").unwrap(),
            ["nosuid", "nodev", "exec", "mode=1777", "size=2m", "shared"]
        );
        assert_eq!(
            tmpfs_options("ro,defaults").unwrap(),
            ["noexec", "nosuid", "nodev", "rprivate", "ro"]
        );
    }

    #[test]
    fn unknown_options_are_refused() {
        assert_eq!(
            tmpfs_options("bogus").unwrap_err().to_string(),
            "Invalid tmpfs option [\"bogus\"]"
        );
        assert_eq!(
            tmpfs_options("size=1m,colour=red").unwrap_err().to_string(),
            "Invalid tmpfs option [\"colour\" \"red\"]"
        );
    }

    #[test]
    fn destinations() {
        assert!(check_tmpfs_destination("/scratch").is_ok());
        assert!(check_tmpfs_destination("scratch").is_err());
        assert!(check_tmpfs_destination("/").is_err());
    }
}
