//! User mounts: `-v`/`HostConfig.Binds` and `--mount`/`HostConfig.Mounts` parsed and
//! checked as Docker's linux mount parser does (its error wording), and the bind mounts a
//! container gets turned into OCI mounts. Pure: no file system access.

use berth_model::api::Mount;
use oci_spec::runtime::{Mount as OciMount, MountBuilder};
use std::path::PathBuf;

use super::SpecError;

/// What a mount is backed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    /// A host path.
    Bind,
    /// A named volume, or an anonymous one when the name is empty.
    Volume,
    /// A fresh tmpfs (`--mount type=tmpfs`).
    Tmpfs,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Volume => "volume",
            MountKind::Tmpfs => "tmpfs",
        }
    }
}

/// One mount request of a container, from either syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountRequest {
    pub kind: MountKind,
    /// Host path (bind), volume name (empty: anonymous), empty for tmpfs.
    pub source: String,
    pub destination: String,
    pub read_only: bool,
    /// The mode text Docker shows in inspect (`ro`, `z`, ``).
    pub mode: String,
    /// `rprivate`, `shared`, ...; empty is the default.
    pub propagation: String,
    pub nocopy: bool,
    /// Binds from `-v` create a missing host path; `--mount` refuses one.
    pub create_source: bool,
    /// `bind-nonrecursive`.
    pub non_recursive: bool,
    /// Labels and driver options of a volume created for a `--mount`.
    pub volume_labels: std::collections::BTreeMap<String, String>,
    pub driver_opts: std::collections::BTreeMap<String, String>,
    /// tmpfs data (`size=..,mode=..`).
    pub tmpfs_data: String,
}

impl MountRequest {
    fn new(kind: MountKind, source: &str, destination: &str) -> Self {
        MountRequest {
            kind,
            source: source.to_string(),
            destination: destination.to_string(),
            read_only: false,
            mode: String::new(),
            propagation: String::new(),
            nocopy: false,
            create_source: false,
            non_recursive: false,
            volume_labels: Default::default(),
            driver_opts: Default::default(),
            tmpfs_data: String::new(),
        }
    }
}

const PROPAGATIONS: [&str; 6] = [
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

fn invalid_spec(raw: &str) -> SpecError {
    SpecError::InvalidMount(format!("invalid volume specification: '{raw}'"))
}

fn invalid_mode(mode: &str) -> SpecError {
    SpecError::InvalidMount(format!("invalid mode: {mode}"))
}

/// Go's `filepath.Clean` for absolute paths.
pub fn clean_path(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            x => out.push(x),
        }
    }
    format!("/{}", out.join("/"))
}

/// Docker's local volume name rule.
pub fn valid_volume_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

/// The error Docker gives for a bad volume name.
pub fn invalid_volume_name(name: &str) -> SpecError {
    SpecError::InvalidMount(format!(
        "\"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    ))
}

struct Mode {
    read_only: bool,
    propagation: String,
    nocopy: bool,
}

/// Docker's `ValidMountMode` plus what the modes mean: at most one of `rw`/`ro`, one
/// label (`z`/`Z`), one propagation and one `nocopy`.
fn parse_mode(mode: &str) -> Option<Mode> {
    let mut out = Mode {
        read_only: false,
        propagation: String::new(),
        nocopy: false,
    };
    let (mut rw, mut label, mut prop, mut copy) = (0, 0, 0, 0);
    for m in mode.split(',') {
        match m {
            "rw" => rw += 1,
            "ro" => {
                rw += 1;
                out.read_only = true;
            }
            "z" | "Z" => label += 1,
            "nocopy" => {
                copy += 1;
                out.nocopy = true;
            }
            p if PROPAGATIONS.contains(&p) => {
                prop += 1;
                out.propagation = p.to_string();
            }
            _ => return None,
        }
    }
    (rw <= 1 && label <= 1 && prop <= 1 && copy <= 1).then_some(out)
}

fn check_destination(kind: MountKind, dest: &str) -> Result<(), SpecError> {
    if !dest.starts_with('/') {
        return Err(SpecError::InvalidMount(format!(
            "invalid mount config for type \"{}\": invalid mount path: '{dest}' mount path must be absolute",
            kind.as_str()
        )));
    }
    Ok(())
}

/// One `HostConfig.Binds` entry (`src:dst[:mode]`, `name:dst[:mode]`), or with
/// `anonymous` one `Config.Volumes` key (`/dst`).
pub fn parse_bind(raw: &str) -> Result<MountRequest, SpecError> {
    let parts: Vec<&str> = raw.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [dst] => ("", *dst, ""),
        [a, b] if !a.is_empty() && parse_mode(b).is_some() && !b.starts_with('/') => ("", *a, *b),
        [src, dst] => (*src, *dst, ""),
        [src, dst, mode] => (*src, *dst, *mode),
        _ => return Err(invalid_spec(raw)),
    };
    if dst.is_empty() {
        return Err(invalid_spec(raw));
    }
    let kind = if src.starts_with('/') {
        MountKind::Bind
    } else {
        MountKind::Volume
    };
    check_destination(kind, dst)?;
    let dst = clean_path(dst);
    if dst == "/" {
        return Err(SpecError::InvalidMount(format!(
            "invalid specification: destination can't be '/' in '{raw}'"
        )));
    }
    let parsed = if mode.is_empty() {
        Mode {
            read_only: false,
            propagation: String::new(),
            nocopy: false,
        }
    } else {
        parse_mode(mode).ok_or_else(|| invalid_mode(mode))?
    };
    if kind == MountKind::Bind && parsed.nocopy {
        return Err(invalid_mode(mode));
    }
    if kind == MountKind::Volume && !src.is_empty() && !valid_volume_name(src) {
        return Err(invalid_volume_name(src));
    }
    let source = match kind {
        MountKind::Bind => clean_path(src),
        _ => src.to_string(),
    };
    let mut m = MountRequest::new(kind, &source, &dst);
    m.read_only = parsed.read_only;
    m.propagation = parsed.propagation;
    m.nocopy = parsed.nocopy;
    m.create_source = kind == MountKind::Bind;
    // What dockerd 20.10 shows as `Mode`: the text given, `z` for a named volume given
    // none (its default SELinux relabel), nothing for binds and anonymous volumes.
    m.mode = if !mode.is_empty() {
        mode.to_string()
    } else if kind == MountKind::Volume && !src.is_empty() {
        "z".to_string()
    } else {
        String::new()
    };
    Ok(m)
}

fn mount_config_err(kind: &str, why: impl std::fmt::Display) -> SpecError {
    SpecError::InvalidMount(format!("invalid mount config for type \"{kind}\": {why}"))
}

/// One `HostConfig.Mounts` entry, checked as Docker's `ValidateMountConfig`.
pub fn parse_mount(m: &Mount) -> Result<MountRequest, SpecError> {
    let kind = match m.kind.as_str() {
        "bind" => MountKind::Bind,
        "volume" => MountKind::Volume,
        "tmpfs" => MountKind::Tmpfs,
        other => return Err(mount_config_err(other, "mount type unknown")),
    };
    let k = kind.as_str();
    if m.target.is_empty() {
        return Err(mount_config_err(k, "field Target must not be empty"));
    }
    check_destination(kind, &m.target)?;
    let dst = clean_path(&m.target);
    if dst == "/" {
        return Err(mount_config_err(
            k,
            "invalid specification: destination can't be '/'",
        ));
    }
    let mut r = MountRequest::new(kind, &m.source, &dst);
    r.read_only = m.read_only;
    match kind {
        MountKind::Bind => {
            if m.source.is_empty() {
                return Err(mount_config_err(k, "field Source must not be empty"));
            }
            if !m.source.starts_with('/') {
                return Err(mount_config_err(
                    k,
                    format!(
                        "invalid mount path: '{}' mount path must be absolute",
                        m.source
                    ),
                ));
            }
            if m.volume_options.is_some() {
                return Err(mount_config_err(
                    k,
                    "field VolumeOptions must not be specified",
                ));
            }
            if m.tmpfs_options.is_some() {
                return Err(mount_config_err(
                    k,
                    "field TmpfsOptions must not be specified",
                ));
            }
            r.source = clean_path(&m.source);
            if let Some(b) = &m.bind_options {
                if !b.propagation.is_empty() && !PROPAGATIONS.contains(&b.propagation.as_str()) {
                    return Err(mount_config_err(
                        k,
                        format!("invalid propagation mode: {}", b.propagation),
                    ));
                }
                r.propagation = b.propagation.clone();
                r.non_recursive = b.non_recursive;
            }
        }
        MountKind::Volume => {
            if m.bind_options.is_some() {
                return Err(mount_config_err(
                    k,
                    "field BindOptions must not be specified",
                ));
            }
            if m.tmpfs_options.is_some() {
                return Err(mount_config_err(
                    k,
                    "field TmpfsOptions must not be specified",
                ));
            }
            if !m.source.is_empty() && !valid_volume_name(&m.source) {
                return Err(invalid_volume_name(&m.source));
            }
            if let Some(v) = &m.volume_options {
                r.nocopy = v.no_copy;
                r.volume_labels = v.labels.clone().unwrap_or_default();
                if let Some(d) = &v.driver_config {
                    if !d.name.is_empty() && d.name != "local" {
                        return Err(SpecError::InvalidMount(format!(
                            "error while mounting volume with options: type='' device='' o='': plugin \"{}\" not found",
                            d.name
                        )));
                    }
                    r.driver_opts = d.options.clone().unwrap_or_default();
                }
            }
        }
        MountKind::Tmpfs => {
            if !m.source.is_empty() {
                return Err(mount_config_err(k, "field Source must not be specified"));
            }
            if m.bind_options.is_some() {
                return Err(mount_config_err(
                    k,
                    "field BindOptions must not be specified",
                ));
            }
            if m.volume_options.is_some() {
                return Err(mount_config_err(
                    k,
                    "field VolumeOptions must not be specified",
                ));
            }
            let mut data = Vec::new();
            if m.read_only {
                data.push("ro".to_string());
            }
            if let Some(t) = &m.tmpfs_options {
                if let Some(size) = t.size_bytes.filter(|s| *s > 0) {
                    // Docker's: the largest suffix that divides the size evenly.
                    let (n, suffix) = [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)]
                        .into_iter()
                        .find(|(_, d)| size % d == 0)
                        .map_or((size, ""), |(s, d)| (size / d, s));
                    data.push(format!("size={n}{suffix}"));
                }
                if let Some(mode) = t.mode.filter(|m| *m != 0) {
                    data.push(format!("mode={:o}", mode & 0o7777));
                }
            }
            r.tmpfs_data = data.join(",");
        }
    }
    Ok(r)
}

/// Docker's check that no two mounts share a destination.
pub fn check_duplicates(mounts: &[MountRequest]) -> Result<(), SpecError> {
    for (i, m) in mounts.iter().enumerate() {
        if mounts[..i].iter().any(|o| o.destination == m.destination) {
            return Err(SpecError::InvalidMount(format!(
                "Duplicate mount point: {}",
                m.destination
            )));
        }
    }
    Ok(())
}

/// A `--volumes-from` entry: the container and whether its mounts are forced read-only
/// (`Some(true)`), read-write (`Some(false)`) or kept as they are.
pub fn parse_volumes_from(spec: &str) -> Result<(String, Option<bool>), SpecError> {
    let (id, mode) = match spec.split_once(':') {
        Some((id, mode)) => (id, Some(mode)),
        None => (spec, None),
    };
    let ro = match mode {
        None => None,
        Some(m) => {
            let parsed = parse_mode(m).ok_or_else(|| invalid_mode(m))?;
            if !m.split(',').any(|x| x == "ro" || x == "rw") {
                None
            } else {
                Some(parsed.read_only)
            }
        }
    };
    if id.is_empty() {
        return Err(invalid_spec(spec));
    }
    Ok((id.to_string(), ro))
}

/// dockerd's `ensureShared` / `ensureSharedOrSlave` for a bind asking for `propagation`:
/// the mount holding `real` (the bind source `source` with its symlinks resolved) is the
/// longest mount point above it in `mountinfo` (`/proc/self/mountinfo`); for `[r]shared`
/// it must be shared, for `[r]slave` shared or a slave. The error is dockerd's text.
pub fn check_bind_propagation(
    source: &str,
    real: &str,
    propagation: &str,
    mountinfo: &str,
) -> Result<(), String> {
    let wanted: &[&str] = match propagation {
        "shared" | "rshared" => &["shared:"],
        "slave" | "rslave" => &["shared:", "master:"],
        _ => return Ok(()),
    };
    let under = |mnt: &str| {
        mnt == "/" || real == mnt || real.strip_prefix(mnt).is_some_and(|r| r.starts_with('/'))
    };
    // Fields: id parent major:minor root mountpoint options [optional...] - fstype ...
    let holder = mountinfo
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            let mnt = unescape_mountinfo(fields.get(4)?);
            let optional = fields.get(6..sep).unwrap_or_default().to_vec();
            Some((mnt, optional))
        })
        .filter(|(mnt, _)| under(mnt))
        // The last of the longest: the mount on top there.
        .fold(None::<(String, Vec<&str>)>, |best, cur| match &best {
            Some((b, _)) if b.len() > cur.0.len() => best,
            _ => Some(cur),
        });
    let Some((mnt, optional)) = holder else {
        return Err(format!("Can't find mount point of {source}"));
    };
    if optional
        .iter()
        .any(|o| wanted.iter().any(|w| o.starts_with(w)))
    {
        return Ok(());
    }
    let what = if wanted.len() == 1 {
        "a shared mount"
    } else {
        "a shared or slave mount"
    };
    Err(format!(
        "path {source} is mounted on {mnt} but it is not {what}"
    ))
}

/// The root's propagation in the container's mount namespace, as dockerd's
/// `WithMounts`: `shared` when a bind asks for `[r]shared` (else the namespace's copy of
/// its source is a slave, and the container's mounts never reach the host). Otherwise
/// the runtime's default, a recursive slave, which `[r]slave` binds need.
pub(crate) fn rootfs_propagation(mounts: &[BindMount]) -> Option<String> {
    mounts
        .iter()
        .any(|m| matches!(m.propagation.as_str(), "shared" | "rshared"))
        .then(|| "shared".to_string())
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// A bind mount of the container: a host path (a volume's data directory, or a bind
/// source) at a destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindMount {
    pub source: PathBuf,
    pub destination: String,
    pub read_only: bool,
    /// Empty means `rprivate`.
    pub propagation: String,
    pub non_recursive: bool,
}

impl BindMount {
    /// The OCI mount, with the options Docker writes: `rbind` (or `bind`), `ro` when
    /// read-only, then the propagation.
    pub fn to_oci(&self) -> Result<OciMount, SpecError> {
        let mut opts = vec![if self.non_recursive { "bind" } else { "rbind" }.to_string()];
        if self.read_only {
            opts.push("ro".into());
        }
        opts.push(if self.propagation.is_empty() {
            "rprivate".into()
        } else {
            self.propagation.clone()
        });
        Ok(MountBuilder::default()
            .destination(self.destination.clone())
            .typ("bind")
            .source(self.source.clone())
            .options(opts)
            .build()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::api::{MountBindOptions, MountTmpfsOptions, MountVolumeOptions};

    fn err(r: Result<MountRequest, SpecError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn propagation_needs_a_shared_or_slave_source_mount() {
        let info = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:40 / /srv rw,relatime - tmpfs tmpfs rw
31 22 0:41 / /mnt/sl rw master:7 - tmpfs tmpfs rw
32 22 0:42 / /mnt/sh rw shared:9 master:7 - tmpfs tmpfs rw
33 30 0:43 / /srv/a\\040b rw shared:12 - tmpfs tmpfs rw
34 30 0:44 / /srv/x rw shared:13 - tmpfs tmpfs rw
35 30 0:45 / /srv/x rw - tmpfs tmpfs rw
";
        let check = |src: &str, p: &str| check_bind_propagation(src, src, p, info);
        assert_eq!(check("/home/u", "rshared"), Ok(()));
        assert_eq!(check("/srv/sub", "rprivate"), Ok(()));
        assert_eq!(check("/srv/sub", ""), Ok(()));
        assert_eq!(
            check("/srv/sub", "rshared").unwrap_err(),
            "path /srv/sub is mounted on /srv but it is not a shared mount"
        );
        assert_eq!(
            check("/srv", "slave").unwrap_err(),
            "path /srv is mounted on /srv but it is not a shared or slave mount"
        );
        assert_eq!(check("/mnt/sl/d", "rslave"), Ok(()));
        assert!(check("/mnt/sl/d", "shared").is_err());
        assert_eq!(check("/mnt/sh", "rshared"), Ok(()));
        assert_eq!(check("/srv/a b/c", "rshared"), Ok(()));
        // /srv/xy is not under /srv/x; the mount on top of /srv/x decides.
        assert!(check("/srv/xy", "rshared").is_err());
        assert_eq!(
            check("/srv/x/1", "rshared").unwrap_err(),
            "path /srv/x/1 is mounted on /srv/x but it is not a shared mount"
        );
        // The source as given is named; the resolved path is looked up.
        assert_eq!(
            check_bind_propagation("/link", "/srv/q", "rshared", info).unwrap_err(),
            "path /link is mounted on /srv but it is not a shared mount"
        );
    }

    #[test]
    fn root_shared_only_for_shared_binds() {
        let bind = |p: &str| BindMount {
            propagation: p.into(),
            ..Default::default()
        };
        assert_eq!(rootfs_propagation(&[]), None);
        assert_eq!(rootfs_propagation(&[bind(""), bind("rslave")]), None);
        assert_eq!(
            rootfs_propagation(&[bind("rprivate"), bind("rshared")]).as_deref(),
            Some("shared")
        );
        assert_eq!(
            rootfs_propagation(&[bind("shared")]).as_deref(),
            Some("shared")
        );
    }

    #[test]
    fn binds_and_named_volumes() {
        let m = parse_bind("data:/srv/data").unwrap();
        assert_eq!(
            (
                m.kind,
                m.source.as_str(),
                m.destination.as_str(),
                m.mode.as_str()
            ),
            (MountKind::Volume, "data", "/srv/data", "z")
        );
        assert!(!m.read_only && !m.nocopy && !m.create_source);
        let m = parse_bind("/tmp/../etc/:/host/etc/:ro").unwrap();
        assert_eq!(
            (
                m.kind,
                m.source.as_str(),
                m.destination.as_str(),
                m.read_only
            ),
            (MountKind::Bind, "/etc", "/host/etc", true)
        );
        assert_eq!(m.mode, "ro");
        assert!(m.create_source);
        let m = parse_bind("vol:/d:ro,nocopy").unwrap();
        assert!(m.read_only && m.nocopy);
        let m = parse_bind("/h:/d:rshared").unwrap();
        assert_eq!(m.propagation, "rshared");
        assert!(!m.read_only);
        let m = parse_bind("/anon").unwrap();
        assert_eq!((m.kind, m.source.as_str()), (MountKind::Volume, ""));
        let m = parse_bind("/anon:ro").unwrap();
        assert_eq!((m.source.as_str(), m.destination.as_str()), ("", "/anon"));
        assert!(m.read_only);
    }

    #[test]
    fn bad_binds_use_dockers_words() {
        assert_eq!(
            err(parse_bind("a:b:c:d")),
            "invalid volume specification: 'a:b:c:d'"
        );
        assert_eq!(err(parse_bind("v:/d:bogus")), "invalid mode: bogus");
        assert_eq!(err(parse_bind("v:/d:ro,rw")), "invalid mode: ro,rw");
        assert_eq!(err(parse_bind("/h:/d:nocopy")), "invalid mode: nocopy");
        assert_eq!(
            err(parse_bind("v:rel")),
            "invalid mount config for type \"volume\": invalid mount path: 'rel' mount path must be absolute"
        );
        assert_eq!(
            err(parse_bind("/h:/")),
            "invalid specification: destination can't be '/' in '/h:/'"
        );
        assert!(err(parse_bind("b@d:/x")).contains("includes invalid characters"));
        assert_eq!(err(parse_bind("v:")), "invalid volume specification: 'v:'");
    }

    #[test]
    fn mount_entries() {
        let m = parse_mount(&Mount {
            kind: "volume".into(),
            source: "vv".into(),
            target: "/d/".into(),
            read_only: true,
            volume_options: Some(MountVolumeOptions {
                no_copy: true,
                ..Default::default()
            }),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(m.destination, "/d");
        assert!(m.read_only && m.nocopy && m.mode.is_empty());
        let m = parse_mount(&Mount {
            kind: "bind".into(),
            source: "/h".into(),
            target: "/d".into(),
            bind_options: Some(MountBindOptions {
                propagation: "rslave".into(),
                non_recursive: false,
            }),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((m.propagation.as_str(), m.create_source), ("rslave", false));
        let m = parse_mount(&Mount {
            kind: "tmpfs".into(),
            target: "/t".into(),
            tmpfs_options: Some(MountTmpfsOptions {
                size_bytes: Some(1 << 20),
                mode: Some(0o1777),
            }),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(m.tmpfs_data, "size=1m,mode=1777");
    }

    #[test]
    fn bad_mount_entries() {
        let e = |kind: &str, source: &str, target: &str| {
            err(parse_mount(&Mount {
                kind: kind.into(),
                source: source.into(),
                target: target.into(),
                ..Default::default()
            }))
        };
        assert_eq!(
            e("bind", "", "/d"),
            "invalid mount config for type \"bind\": field Source must not be empty"
        );
        assert_eq!(
            e("volume", "v", ""),
            "invalid mount config for type \"volume\": field Target must not be empty"
        );
        assert_eq!(
            e("tmpfs", "x", "/d"),
            "invalid mount config for type \"tmpfs\": field Source must not be specified"
        );
        assert_eq!(
            e("nfs", "x", "/d"),
            "invalid mount config for type \"nfs\": mount type unknown"
        );
    }

    #[test]
    fn duplicates_and_volumes_from() {
        let a = parse_bind("vv:/d").unwrap();
        let b = parse_bind("/h:/d/").unwrap();
        assert_eq!(
            check_duplicates(&[a.clone(), b]).unwrap_err().to_string(),
            "Duplicate mount point: /d"
        );
        assert!(check_duplicates(&[a]).is_ok());
        assert_eq!(parse_volumes_from("c").unwrap(), ("c".into(), None));
        assert_eq!(
            parse_volumes_from("c:ro").unwrap(),
            ("c".into(), Some(true))
        );
        assert_eq!(
            parse_volumes_from("c:rw").unwrap(),
            ("c".into(), Some(false))
        );
        assert!(parse_volumes_from("c:xx").is_err());
    }

    #[test]
    fn bind_mounts_become_rbind_rprivate() {
        let m = BindMount {
            source: "/h".into(),
            destination: "/d".into(),
            read_only: true,
            ..Default::default()
        }
        .to_oci()
        .unwrap();
        assert_eq!(m.typ().as_deref(), Some("bind"));
        assert_eq!(
            m.options().clone().unwrap(),
            vec!["rbind".to_string(), "ro".into(), "rprivate".into()]
        );
        let m = BindMount {
            source: "/h".into(),
            destination: "/d".into(),
            propagation: "rshared".into(),
            non_recursive: true,
            ..Default::default()
        }
        .to_oci()
        .unwrap();
        assert_eq!(
            m.options().clone().unwrap(),
            vec!["bind".to_string(), "rshared".into()]
        );
    }

    #[test]
    fn user_mounts_replace_defaults_and_go_shallow_first() {
        let dir = tempfile::tempdir().unwrap();
        let input = super::super::SpecInput {
            rootfs: dir.path().to_path_buf(),
            args: vec!["true".into()],
            mounts: vec![
                BindMount {
                    source: "/v/deep".into(),
                    destination: "/data/deep".into(),
                    ..Default::default()
                },
                BindMount {
                    source: "/v/data".into(),
                    destination: "/data".into(),
                    ..Default::default()
                },
                BindMount {
                    source: "/v/shm".into(),
                    destination: "/dev/shm".into(),
                    ..Default::default()
                },
                BindMount {
                    source: "/v/resolv".into(),
                    destination: "/etc/resolv.conf".into(),
                    propagation: "rshared".into(),
                    ..Default::default()
                },
            ],
            resolv_conf_path: Some("/c/resolv.conf".into()),
            hosts_path: Some("/c/hosts".into()),
            ..Default::default()
        };
        let spec = super::super::generate_for(&input, "amd64", || {
            Ok(super::super::KernelVersion {
                major: 5,
                minor: 10,
            })
        })
        .unwrap();
        let mounts = spec.mounts().clone().unwrap();
        let dests: Vec<String> = mounts
            .iter()
            .map(|m| m.destination().display().to_string())
            .collect();
        let at = |d: &str| dests.iter().position(|x| x == d).unwrap();
        assert_eq!(dests.iter().filter(|d| *d == "/dev/shm").count(), 1);
        let shm = &mounts[at("/dev/shm")];
        assert_eq!(shm.typ().as_deref(), Some("bind"));
        assert!(at("/data") < at("/data/deep"));
        assert!(at("/proc") < at("/data"));
        // The user's file replaces berthd's resolv.conf; the hosts file stays.
        let files: Vec<String> = mounts
            .iter()
            .filter(|m| m.destination().starts_with("/etc"))
            .map(|m| format!("{}", m.source().as_ref().unwrap().display()))
            .collect();
        assert_eq!(files, ["/c/hosts", "/v/resolv"]);
        // A shared bind makes the root shared, as dockerd.
        let linux = spec.linux().as_ref().unwrap();
        assert_eq!(linux.rootfs_propagation().as_deref(), Some("shared"));
    }
}
