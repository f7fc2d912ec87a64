//! OCI runtime spec (`config.json`) generation with Docker 20.10's defaults.
//!
//! Everything here is pure except [`resolve_user`], which reads `/etc/passwd` and
//! `/etc/group` inside the container's rootfs, and [`generate`], which asks uname for the
//! kernel version (use [`generate_for`] to pass it in).
//!
//! Devices: like Docker, `linux.devices` holds only what `--device` (or `--privileged`,
//! the whole host `/dev`) adds. youki's libcontainer 0.7 creates
//! `/dev/null`, `zero`, `full`, `tty`, `random` and `urandom` itself (plus the `ptmx`, `fd`,
//! `stdin`, `stdout` and `stderr` symlinks), and its cgroup code always appends allow rules for those plus
//! `c *:* m`, `b *:* m`, `/dev/console`, `/dev/pts/*`, `ptmx` and `tun`. The device cgroup
//! rules written here still list them, so an OCI binary runtime (runc, crun) gets the
//! same result.

mod caps;
mod devices;
mod error;
mod files;
mod host;
mod mounts;
mod resources;
mod seccomp;
mod tmpfs;
mod user;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capabilities, Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxDevice,
    LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxNamespace,
    LinuxNamespaceBuilder, LinuxNamespaceType, LinuxResourcesBuilder, Mount, MountBuilder,
    PosixRlimitBuilder, PosixRlimitType, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
    UserBuilder,
};

pub use caps::{
    cap_name, held_capabilities, tweak_capabilities, ALL_CAPABILITIES, DEFAULT_CAPABILITIES,
};
pub use devices::{devices_from_path, host_devices, parse_cgroup_rule, DeviceMapping};
pub use error::SpecError;
pub use files::{default_hosts, hosts_file, resolv_conf_from_host};
pub use host::{device_cgroup_rules, device_mappings, tmpfs_mounts, validate_host_config};
pub use mounts::{
    check_bind_propagation, check_duplicates, clean_path, invalid_volume_name, parse_bind,
    parse_mount, parse_volumes_from, valid_volume_name, BindMount, MountKind, MountRequest,
};
pub use resources::apply_resources;
pub use seccomp::{default_seccomp, host_arch, seccomp_from_json, KernelVersion};
pub use tmpfs::tmpfs_options;
pub use user::{resolve_user, ResolvedUser};

/// Docker's `PATH` for Linux containers whose image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where `--init` puts the init binary in the container, and so its `argv[0]` (Docker's).
pub const INIT_PATH_IN_CONTAINER: &str = "/sbin/docker-init";

/// Docker's `/dev/shm` size when `--shm-size` is not given.
pub const DEFAULT_SHM_SIZE: i64 = 64 << 20;

/// dockerd runs with `LimitNOFILE=infinity` (1048576 on most hosts) and containers inherit
/// it; Berth writes the value down so the limit does not depend on how berthd was started.
pub const DEFAULT_NOFILE: u64 = 1_048_576;

/// Docker's masked paths: host information a container should not read.
pub const DEFAULT_MASKED_PATHS: [&str; 10] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];

/// Docker's read-only paths: kernel knobs a container should not change.
pub const DEFAULT_READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// What the engine knows about a container when it writes its bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecInput {
    pub id: String,
    /// Absolute path of the mounted rootfs (`root.path`).
    pub rootfs: PathBuf,
    /// Entrypoint and cmd already combined.
    pub args: Vec<String>,
    /// Image env merged with container env; `PATH`, `HOSTNAME` and `TERM` defaults are added.
    pub env: Vec<String>,
    /// `""` means `/`.
    pub cwd: String,
    /// Docker form: `""`, `name`, `uid`, `name:group`, `uid:gid`.
    pub user: String,
    pub hostname: String,
    pub domainname: String,
    pub tty: bool,
    pub readonly_rootfs: bool,
    pub privileged: bool,
    /// `NET_ADMIN`, `CAP_NET_ADMIN`, `net_admin` or `ALL`.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// `no-new-privileges[:true|=true]`, `seccomp=unconfined`, `seccomp=builtin`,
    /// `apparmor=unconfined`, `label=disable`.
    pub security_opt: Vec<String>,
    /// Bind-mounted to `/etc/hosts`.
    pub hosts_path: Option<PathBuf>,
    /// Bind-mounted to `/etc/resolv.conf`.
    pub resolv_conf_path: Option<PathBuf>,
    /// Bind-mounted to `/etc/hostname`.
    pub hostname_path: Option<PathBuf>,
    /// Passed through to `linux.cgroupsPath`, e.g. `berth/<id>`.
    pub cgroups_path: String,
    /// Bytes; 0 means Docker's default of 64 MiB.
    pub shm_size: i64,
    /// `None` means Docker's defaults; privileged containers get none either way.
    pub masked_paths: Option<Vec<String>>,
    /// `None` means Docker's defaults; privileged containers get none either way.
    pub readonly_paths: Option<Vec<String>>,
    /// `None` means a new network namespace (only `lo`).
    pub netns_path: Option<PathBuf>,
    /// `--network host`: no network namespace at all (`netns_path` is ignored).
    pub host_network: bool,
    /// `--device`: host nodes made in the container's `/dev` and allowed in its cgroup.
    pub devices: Vec<DeviceMapping>,
    /// `--device-cgroup-rule`: extra allow rules, e.g. `c 1:3 rwm`.
    pub device_cgroup_rules: Vec<String>,
    /// `--tmpfs`: destination to the user's options (Docker's defaults are added).
    pub tmpfs: BTreeMap<String, String>,
    /// `--init`: the host's init binary, mounted at [`INIT_PATH_IN_CONTAINER`] and run
    /// in front of `args`.
    pub init_path: Option<PathBuf>,
    /// `-v`, `--mount type=bind|volume`, `--volumes-from`: host paths (volumes' data
    /// directories included) bind-mounted in; one replaces a default at the same place.
    pub mounts: Vec<BindMount>,
}

/// The parts of `--security-opt` that change the spec.
#[derive(Debug, Default, PartialEq, Eq)]
struct SecurityOpts {
    no_new_privileges: bool,
    seccomp_unconfined: bool,
    /// A profile's JSON, which the docker CLI sends in place of the file's path.
    seccomp_profile: Option<String>,
}

/// Docker's `parseSecurityOpt`, minus the LSMs Berth does not implement: asking for *less*
/// confinement from them is accepted, asking for a profile is refused rather than ignored.
fn parse_security_opts(opts: &[String]) -> Result<SecurityOpts, SpecError> {
    let mut out = SecurityOpts::default();
    for opt in opts {
        if opt == "no-new-privileges" {
            out.no_new_privileges = true;
            continue;
        }
        if opt == "disable" {
            continue;
        }
        let (key, value) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .ok_or_else(|| SpecError::InvalidSecurityOpt(opt.clone()))?;
        match key {
            "no-new-privileges" => {
                out.no_new_privileges = parse_go_bool(value)
                    .ok_or_else(|| SpecError::InvalidSecurityOpt(opt.clone()))?;
            }
            "seccomp" => match value {
                "unconfined" => {
                    out.seccomp_unconfined = true;
                    out.seccomp_profile = None;
                }
                "builtin" | "" => {
                    out.seccomp_unconfined = false;
                    out.seccomp_profile = None;
                }
                profile => {
                    out.seccomp_unconfined = false;
                    out.seccomp_profile = Some(profile.to_string());
                }
            },
            "apparmor" if value == "unconfined" => {}
            "apparmor" => {
                return Err(SpecError::UnsupportedSecurityOpt(format!(
                    "apparmor profile {value:?} is not supported: berth does not use apparmor"
                )))
            }
            "label" if value == "disable" => {}
            "label" => {
                return Err(SpecError::UnsupportedSecurityOpt(format!(
                    "selinux label {value:?} is not supported: berth does not use selinux"
                )))
            }
            _ => return Err(SpecError::InvalidSecurityOpt(opt.clone())),
        }
    }
    Ok(out)
}

/// Go's `strconv.ParseBool`, which Docker uses for `no-new-privileges=<bool>`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Docker's `CreateDaemonEnvironment`: defaults first, then the container's variables
/// replace a default with the same name or are appended; a bare `NAME` unsets a default.
fn build_env(env: &[String], hostname: &str, tty: bool) -> Vec<String> {
    let mut out: Vec<Option<String>> = vec![Some(format!("PATH={DEFAULT_PATH}"))];
    if !hostname.is_empty() {
        out.push(Some(format!("HOSTNAME={hostname}")));
    }
    if tty {
        out.push(Some("TERM=xterm".to_string()));
    }
    let key_of = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_string();
    for entry in env {
        let key = key_of(entry);
        let existing = out
            .iter()
            .position(|e| e.as_deref().is_some_and(|e| key_of(e) == key));
        match (entry.contains('='), existing) {
            (true, Some(i)) => out[i] = Some(entry.clone()),
            (true, None) => out.push(Some(entry.clone())),
            (false, Some(i)) => out[i] = None,
            (false, None) => {}
        }
    }
    out.into_iter().flatten().collect()
}

fn mount(
    dest: &str,
    typ: &str,
    source: impl Into<PathBuf>,
    opts: &[&str],
) -> Result<Mount, SpecError> {
    Ok(MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source.into())
        .options(opts.iter().map(|o| o.to_string()).collect::<Vec<_>>())
        .build()?)
}

/// Docker's default mounts (moby `DefaultLinuxSpec`) followed by the per-container files,
/// in the order Docker mounts them.
fn build_mounts(input: &SpecInput) -> Result<Vec<Mount>, SpecError> {
    let shm = if input.shm_size > 0 {
        input.shm_size
    } else {
        DEFAULT_SHM_SIZE
    };
    let shm_opt = format!("size={shm}");
    // Privileged containers may write to sysfs and cgroupfs, as with Docker.
    let sys_ro: &[&str] = if input.privileged { &[] } else { &["ro"] };
    let sys_opts: Vec<&str> = ["nosuid", "noexec", "nodev"]
        .into_iter()
        .chain(sys_ro.iter().copied())
        .collect();
    let cgroup_opts: Vec<&str> = sys_ro
        .iter()
        .copied()
        .chain(["nosuid", "noexec", "nodev"])
        .collect();
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount("/sys", "sysfs", "sysfs", &sys_opts)?,
        mount("/sys/fs/cgroup", "cgroup", "cgroup", &cgroup_opts)?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm_opt],
        )?,
    ];
    // Docker's `NetworkMounts` order; the files stay writable unless the rootfs is read-only.
    let mut user = Vec::new();
    let files = [
        (&input.resolv_conf_path, "/etc/resolv.conf"),
        (&input.hostname_path, "/etc/hostname"),
        (&input.hosts_path, "/etc/hosts"),
    ];
    for (source, dest) in files {
        // dockerd's `TrySetNetworkMount`: a user's mount there is the file instead.
        if input.mounts.iter().any(|b| b.destination == dest) {
            continue;
        }
        if let Some(source) = source {
            let mut opts = vec!["rbind"];
            if input.readonly_rootfs {
                opts.push("ro");
            }
            opts.push("rprivate");
            user.push(mount(dest, "bind", source.clone(), &opts)?);
        }
    }
    for (dest, data) in &input.tmpfs {
        tmpfs::check_tmpfs_destination(dest)?;
        let opts = tmpfs_options(data)?;
        let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
        user.push(mount(dest, "tmpfs", "tmpfs", &opts)?);
    }
    for b in &input.mounts {
        user.push(b.to_oci()?);
    }
    // As moby's `WithMounts`: a user mount replaces a default one at the same place, and
    // shallower mounts go first so that a deeper one is not hidden by its parent.
    let depth = |m: &Mount| m.destination().components().count();
    mounts.retain(|d| !user.iter().any(|u| u.destination() == d.destination()));
    user.sort_by_key(depth);
    mounts.extend(user);
    if let Some(init) = &input.init_path {
        mounts.push(mount(
            INIT_PATH_IN_CONTAINER,
            "bind",
            init.clone(),
            &["bind", "ro"],
        )?);
    }
    Ok(mounts)
}

fn namespace(typ: LinuxNamespaceType, path: Option<&Path>) -> Result<LinuxNamespace, SpecError> {
    let mut b = LinuxNamespaceBuilder::default().typ(typ);
    if let Some(p) = path {
        b = b.path(p);
    }
    Ok(b.build()?)
}

/// Docker's order, plus a private cgroup namespace: Docker 20.10's default on cgroup v2
/// hosts (the only kind Berth targets), so `/sys/fs/cgroup` shows the container's own tree.
fn build_namespaces(input: &SpecInput) -> Result<Vec<LinuxNamespace>, SpecError> {
    let mut out = vec![
        namespace(LinuxNamespaceType::Mount, None)?,
        namespace(LinuxNamespaceType::Network, input.netns_path.as_deref())?,
        namespace(LinuxNamespaceType::Uts, None)?,
        namespace(LinuxNamespaceType::Pid, None)?,
        namespace(LinuxNamespaceType::Ipc, None)?,
        namespace(LinuxNamespaceType::Cgroup, None)?,
    ];
    if input.host_network {
        out.remove(1);
    }
    Ok(out)
}

fn dev_rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> Result<LinuxDeviceCgroup, SpecError> {
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .access(access);
    if let Some(t) = typ {
        b = b.typ(t);
    }
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    Ok(b.build()?)
}

/// moby's `DefaultLinuxSpec` rules followed by the ones runc always appends, so the
/// effective policy is the same as Docker + runc whichever runtime reads the bundle.
fn build_device_rules(privileged: bool) -> Result<Vec<LinuxDeviceCgroup>, SpecError> {
    use LinuxDeviceType::{B, C};
    if privileged {
        return Ok(vec![dev_rule(true, None, None, None, "rwm")?]);
    }
    let c = |major: i64, minor: Option<i64>| dev_rule(true, Some(C), Some(major), minor, "rwm");
    Ok(vec![
        dev_rule(false, None, None, None, "rwm")?,
        c(1, Some(5))?,                                        // zero
        c(1, Some(3))?,                                        // null
        c(1, Some(9))?,                                        // urandom
        c(1, Some(8))?,                                        // random
        c(5, Some(0))?,                                        // tty
        c(5, Some(1))?,                                        // console
        dev_rule(false, Some(C), Some(10), Some(229), "rwm")?, // fuse
        dev_rule(true, Some(C), None, None, "m")?,
        dev_rule(true, Some(B), None, None, "m")?,
        c(1, Some(7))?,    // full
        c(136, None)?,     // pts/*
        c(5, Some(2))?,    // ptmx
        c(10, Some(200))?, // net/tun
    ])
}

/// moby's `WithDevices`: the nodes to create and the cgroup rules. A privileged container
/// gets every host device and may use any; a `--device` then only adds a node under
/// another name (its permissions are moot). Otherwise each `--device` adds its node and
/// an allow rule with its permissions, and `--device-cgroup-rule`s follow.
fn build_devices(
    input: &SpecInput,
) -> Result<(Vec<LinuxDevice>, Vec<LinuxDeviceCgroup>), SpecError> {
    let mut rules = build_device_rules(input.privileged)?;
    if input.privileged {
        let mut devices = host_devices();
        for m in &input.devices {
            if m.path_in_container.is_empty() || m.path_in_container == m.path_on_host {
                continue;
            }
            let all = DeviceMapping {
                cgroup_permissions: "rwm".into(),
                ..m.clone()
            };
            devices.extend(devices_from_path(&all)?.0);
        }
        // A renamed device may shadow a host one at the same path: keep the last.
        let mut seen = std::collections::HashSet::new();
        let mut unique: Vec<LinuxDevice> = devices
            .into_iter()
            .rev()
            .filter(|d| seen.insert(d.path().clone()))
            .collect();
        unique.reverse();
        return Ok((unique, rules));
    }
    let mut devices = Vec::new();
    for m in &input.devices {
        let (d, r) = devices_from_path(m)?;
        devices.extend(d);
        rules.extend(r);
    }
    for rule in &input.device_cgroup_rules {
        rules.push(parse_cgroup_rule(rule)?);
    }
    Ok((devices, rules))
}

/// Builds the container's OCI spec, reading the running kernel's version for seccomp.
/// "All capabilities" (`--privileged`, `--cap-add ALL`) means those in berthd's own
/// bounding set, as moby lists them: a capability the daemon cannot hold cannot be
/// granted, and asking for it would fail the container's start.
pub fn generate(input: &SpecInput) -> Result<Spec, SpecError> {
    let mut spec = generate_for(input, host_arch(), KernelVersion::running)?;
    if input.privileged || input.cap_add.iter().any(|a| a.eq_ignore_ascii_case("all")) {
        limit_capabilities(&mut spec, &caps::bounding_set());
    }
    Ok(spec)
}

/// Keeps only `held` in every capability set of the spec's process.
pub fn limit_capabilities(spec: &mut Spec, held: &[Capability]) {
    let Some(mut process) = spec.process().clone() else {
        return;
    };
    let Some(mut c) = process.capabilities().clone() else {
        return;
    };
    let keep = |s: &Option<std::collections::HashSet<Capability>>| {
        s.clone()
            .map(|s| s.into_iter().filter(|x| held.contains(x)).collect())
    };
    c.set_bounding(keep(c.bounding()));
    c.set_effective(keep(c.effective()));
    c.set_permitted(keep(c.permitted()));
    c.set_inheritable(keep(c.inheritable()));
    c.set_ambient(keep(c.ambient()));
    process.set_capabilities(Some(c));
    spec.set_process(Some(process));
}

/// [`generate`] for an explicit Go architecture name and kernel version source, so tests
/// can pin both. `kernel` is only called when a seccomp filter is needed.
pub fn generate_for(
    input: &SpecInput,
    arch: &str,
    kernel: impl FnOnce() -> Result<KernelVersion, SpecError>,
) -> Result<Spec, SpecError> {
    let security = parse_security_opts(&input.security_opt)?;
    let caps = tweak_capabilities(&input.cap_add, &input.cap_drop, input.privileged)?;
    let user = resolve_user(&input.rootfs, &input.user)?;
    let cwd = if input.cwd.is_empty() {
        "/"
    } else {
        &input.cwd
    };
    if !cwd.starts_with('/') {
        return Err(SpecError::InvalidWorkingDir(cwd.to_string()));
    }

    let cap_set: Capabilities = caps.iter().copied().collect();
    // Docker 20.10.14+ leaves inheritable (and ambient) empty: CVE-2022-24769.
    let mut capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(cap_set.clone())
        .effective(cap_set.clone())
        .permitted(cap_set)
        .build()?;
    capabilities.set_inheritable(None);
    capabilities.set_ambient(None);

    let mut oci_user = UserBuilder::default().uid(user.uid).gid(user.gid).build()?;
    if !user.additional_gids.is_empty() {
        oci_user.set_additional_gids(Some(user.additional_gids.clone()));
    }

    // Docker's `--init`: the init runs the command; inspect still shows the user's.
    let args = match &input.init_path {
        Some(_) => [INIT_PATH_IN_CONTAINER.to_string(), "--".to_string()]
            .into_iter()
            .chain(input.args.iter().cloned())
            .collect(),
        None => input.args.clone(),
    };
    let mut process = ProcessBuilder::default()
        .terminal(input.tty)
        .user(oci_user)
        .args(args)
        .env(build_env(&input.env, &input.hostname, input.tty))
        .cwd(cwd)
        .capabilities(capabilities)
        .rlimits(vec![PosixRlimitBuilder::default()
            .typ(PosixRlimitType::RlimitNofile)
            .hard(DEFAULT_NOFILE)
            .soft(DEFAULT_NOFILE)
            .build()?])
        .oom_score_adj(0)
        .build()?;
    process.set_no_new_privileges(security.no_new_privileges.then_some(true));
    process.set_console_size(None);
    process.set_apparmor_profile(None);
    process.set_selinux_label(None);

    let (masked, readonly) = if input.privileged {
        (Vec::new(), Vec::new())
    } else {
        let defaults = |d: &[&str]| d.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        (
            input
                .masked_paths
                .clone()
                .unwrap_or_else(|| defaults(&DEFAULT_MASKED_PATHS)),
            input
                .readonly_paths
                .clone()
                .unwrap_or_else(|| defaults(&DEFAULT_READONLY_PATHS)),
        )
    };

    let seccomp = if input.privileged || security.seccomp_unconfined {
        None
    } else if let Some(profile) = &security.seccomp_profile {
        Some(seccomp_from_json(profile, &caps, arch, kernel()?)?)
    } else {
        Some(default_seccomp(&caps, arch, kernel()?)?)
    };
    let (devices, device_rules) = build_devices(input)?;

    let mut linux = LinuxBuilder::default()
        .namespaces(build_namespaces(input)?)
        .devices(devices)
        .resources(
            LinuxResourcesBuilder::default()
                .devices(device_rules)
                .build()?,
        )
        .masked_paths(masked)
        .readonly_paths(readonly)
        .build()?;
    linux.set_cgroups_path(
        (!input.cgroups_path.is_empty()).then(|| input.cgroups_path.clone().into()),
    );
    linux.set_seccomp(seccomp);
    linux.set_rootfs_propagation(mounts::rootfs_propagation(&input.mounts));

    let mut root = RootBuilder::default().path(input.rootfs.clone()).build()?;
    root.set_readonly(input.readonly_rootfs.then_some(true));

    let mut spec = SpecBuilder::default()
        .version(oci_spec::runtime::VERSION)
        .root(root)
        .mounts(build_mounts(input)?)
        .process(process)
        .linux(linux)
        .build()?;
    spec.set_hostname((!input.hostname.is_empty()).then(|| input.hostname.clone()));
    spec.set_domainname((!input.domainname.is_empty()).then(|| input.domainname.clone()));
    spec.set_annotations(None);
    spec.set_hooks(None);
    Ok(spec)
}

#[cfg(test)]
mod tests;
