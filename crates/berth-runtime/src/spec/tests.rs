use std::path::PathBuf;

use oci_spec::runtime::{Capability, LinuxNamespaceType, LinuxSeccompAction, Mount, Spec};

use super::*;

const KERNEL: KernelVersion = KernelVersion { major: 6, minor: 1 };

fn rootfs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("etc")).unwrap();
    std::fs::write(
        dir.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("etc/group"),
        "root:x:0:root\nbin:x:1:root\nwww:x:33:\n",
    )
    .unwrap();
    dir
}

fn input(dir: &tempfile::TempDir) -> SpecInput {
    SpecInput {
        id: "abc".into(),
        rootfs: dir.path().to_path_buf(),
        args: vec!["sh".into(), "-c".into(), "true".into()],
        hostname: "abc123".into(),
        cgroups_path: "berth/abc".into(),
        hosts_path: Some("/run/c/hosts".into()),
        resolv_conf_path: Some("/run/c/resolv.conf".into()),
        hostname_path: Some("/run/c/hostname".into()),
        ..Default::default()
    }
}

fn gen(input: &SpecInput) -> Result<Spec, SpecError> {
    generate_for(input, "amd64", || Ok(KERNEL))
}

fn caps_of(spec: &Spec) -> oci_spec::runtime::LinuxCapabilities {
    spec.process()
        .as_ref()
        .unwrap()
        .capabilities()
        .clone()
        .unwrap()
}

fn mount_at<'a>(spec: &'a Spec, dest: &str) -> &'a Mount {
    spec.mounts()
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.destination() == &PathBuf::from(dest))
        .unwrap_or_else(|| panic!("no mount at {dest}"))
}

fn opts(m: &Mount) -> Vec<String> {
    m.options().clone().unwrap_or_default()
}

fn syscall_allowed(spec: &Spec, name: &str) -> bool {
    let seccomp = spec.linux().as_ref().unwrap().seccomp().clone().unwrap();
    seccomp.syscalls().clone().unwrap().iter().any(|r| {
        r.action() == LinuxSeccompAction::ScmpActAllow && r.names().iter().any(|n| n == name)
    })
}

#[test]
fn defaults_match_docker() {
    let dir = rootfs();
    let spec = gen(&input(&dir)).unwrap();

    assert_eq!(spec.version(), oci_spec::runtime::VERSION);
    assert_eq!(spec.hostname().as_deref(), Some("abc123"));
    assert_eq!(spec.domainname(), &None);
    assert_eq!(spec.annotations(), &None);
    let root = spec.root().as_ref().unwrap();
    assert_eq!(root.path(), dir.path());
    assert_eq!(root.readonly(), None);

    let process = spec.process().as_ref().unwrap();
    assert_eq!(process.args().as_deref().unwrap(), ["sh", "-c", "true"]);
    assert_eq!(process.cwd(), &PathBuf::from("/"));
    assert_eq!(process.terminal(), Some(false));
    assert_eq!(process.user().uid(), 0);
    assert_eq!(process.user().gid(), 0);
    assert_eq!(
        process.user().additional_gids().as_deref(),
        Some(&[0, 1][..])
    );
    assert_eq!(process.no_new_privileges(), None);
    assert_eq!(process.oom_score_adj(), Some(0));
    let rlimits = process.rlimits().clone().unwrap();
    assert_eq!(rlimits.len(), 1);
    assert_eq!(
        rlimits[0].typ(),
        oci_spec::runtime::PosixRlimitType::RlimitNofile
    );
    assert_eq!((rlimits[0].soft(), rlimits[0].hard()), (1048576, 1048576));
    assert_eq!(
        process.env().as_deref().unwrap(),
        [
            format!("PATH={DEFAULT_PATH}"),
            "HOSTNAME=abc123".to_string()
        ]
    );

    let caps = caps_of(&spec);
    let expected: oci_spec::runtime::Capabilities = DEFAULT_CAPABILITIES.into_iter().collect();
    assert_eq!(caps.bounding().as_ref(), Some(&expected));
    assert_eq!(caps.effective().as_ref(), Some(&expected));
    assert_eq!(caps.permitted().as_ref(), Some(&expected));
    assert_eq!(caps.inheritable(), &None);
    assert_eq!(caps.ambient(), &None);
    assert!(!expected.contains(&Capability::SysAdmin));
    assert!(!expected.contains(&Capability::NetAdmin));

    let linux = spec.linux().as_ref().unwrap();
    assert_eq!(
        linux.masked_paths().as_deref().unwrap(),
        DEFAULT_MASKED_PATHS.map(String::from)
    );
    assert!(linux
        .masked_paths()
        .as_ref()
        .unwrap()
        .contains(&"/proc/kcore".to_string()));
    assert_eq!(
        linux.readonly_paths().as_deref().unwrap(),
        DEFAULT_READONLY_PATHS.map(String::from)
    );
    let ns: Vec<_> = linux
        .namespaces()
        .as_ref()
        .unwrap()
        .iter()
        .map(|n| (n.typ(), n.path().clone()))
        .collect();
    assert_eq!(
        ns,
        vec![
            (LinuxNamespaceType::Mount, None),
            (LinuxNamespaceType::Network, None),
            (LinuxNamespaceType::Uts, None),
            (LinuxNamespaceType::Pid, None),
            (LinuxNamespaceType::Ipc, None),
            (LinuxNamespaceType::Cgroup, None),
        ]
    );
    assert_eq!(
        linux.cgroups_path().as_deref(),
        Some(std::path::Path::new("berth/abc"))
    );
    assert_eq!(linux.devices().as_deref(), Some(&[][..]));
    let seccomp = linux.seccomp().clone().unwrap();
    assert_eq!(seccomp.default_action(), LinuxSeccompAction::ScmpActErrno);
    assert!(syscall_allowed(&spec, "read"));
    assert!(!syscall_allowed(&spec, "mount"));
}

#[test]
fn default_mounts() {
    let dir = rootfs();
    let spec = gen(&input(&dir)).unwrap();
    let dests: Vec<String> = spec
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| m.destination().display().to_string())
        .collect();
    assert_eq!(
        dests,
        [
            "/proc",
            "/dev",
            "/dev/pts",
            "/sys",
            "/sys/fs/cgroup",
            "/dev/mqueue",
            "/dev/shm",
            "/etc/resolv.conf",
            "/etc/hostname",
            "/etc/hosts",
        ]
    );
    let proc_ = mount_at(&spec, "/proc");
    assert_eq!(proc_.typ().as_deref(), Some("proc"));
    assert_eq!(opts(proc_), ["nosuid", "noexec", "nodev"]);
    assert_eq!(
        opts(mount_at(&spec, "/dev")),
        ["nosuid", "strictatime", "mode=755", "size=65536k"]
    );
    assert_eq!(
        opts(mount_at(&spec, "/dev/pts")),
        [
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5"
        ]
    );
    assert_eq!(
        opts(mount_at(&spec, "/sys")),
        ["nosuid", "noexec", "nodev", "ro"]
    );
    let cg = mount_at(&spec, "/sys/fs/cgroup");
    assert_eq!(cg.typ().as_deref(), Some("cgroup"));
    assert_eq!(opts(cg), ["ro", "nosuid", "noexec", "nodev"]);
    assert_eq!(
        mount_at(&spec, "/dev/mqueue").typ().as_deref(),
        Some("mqueue")
    );
    let shm = mount_at(&spec, "/dev/shm");
    assert_eq!(shm.source().as_deref(), Some(std::path::Path::new("shm")));
    assert_eq!(
        opts(shm),
        ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]
    );
    let hosts = mount_at(&spec, "/etc/hosts");
    assert_eq!(hosts.typ().as_deref(), Some("bind"));
    assert_eq!(
        hosts.source().as_deref(),
        Some(std::path::Path::new("/run/c/hosts"))
    );
    assert_eq!(opts(hosts), ["rbind", "rprivate"]);
    assert_eq!(
        mount_at(&spec, "/etc/resolv.conf").source().as_deref(),
        Some(std::path::Path::new("/run/c/resolv.conf"))
    );
}

#[test]
fn missing_files_are_not_mounted_and_shm_size_is_used() {
    let dir = rootfs();
    let mut i = input(&dir);
    i.hosts_path = None;
    i.hostname_path = None;
    i.resolv_conf_path = None;
    i.shm_size = 1 << 30;
    let spec = gen(&i).unwrap();
    assert_eq!(spec.mounts().as_ref().unwrap().len(), 7);
    assert!(opts(mount_at(&spec, "/dev/shm")).contains(&"size=1073741824".to_string()));
}

#[test]
fn readonly_rootfs() {
    let dir = rootfs();
    let mut i = input(&dir);
    i.readonly_rootfs = true;
    let spec = gen(&i).unwrap();
    assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));
    assert_eq!(
        opts(mount_at(&spec, "/etc/hosts")),
        ["rbind", "ro", "rprivate"]
    );
    assert!(!opts(mount_at(&spec, "/dev/shm")).contains(&"ro".to_string()));
}

#[test]
fn netns_path_joins_existing_namespace() {
    let dir = rootfs();
    let mut i = input(&dir);
    i.netns_path = Some("/run/netns/abc".into());
    let spec = gen(&i).unwrap();
    let ns = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
    let net = ns
        .iter()
        .find(|n| n.typ() == LinuxNamespaceType::Network)
        .unwrap();
    assert_eq!(
        net.path().as_deref(),
        Some(std::path::Path::new("/run/netns/abc"))
    );
}

#[test]
fn cap_add_drop_reach_spec_and_seccomp() {
    let dir = rootfs();
    let mut i = input(&dir);
    i.cap_add = vec!["SYS_ADMIN".into(), "CAP_NET_ADMIN".into()];
    i.cap_drop = vec!["chown".into()];
    let spec = gen(&i).unwrap();
    let caps = caps_of(&spec);
    let bounding = caps.bounding().clone().unwrap();
    assert!(bounding.contains(&Capability::SysAdmin));
    assert!(bounding.contains(&Capability::NetAdmin));
    assert!(!bounding.contains(&Capability::Chown));
    assert_eq!(bounding.len(), 15);
    assert!(syscall_allowed(&spec, "mount"));
    assert!(syscall_allowed(&spec, "unshare"));

    i.cap_add = vec!["ALL".into()];
    i.cap_drop = vec![];
    let all = caps_of(&gen(&i).unwrap()).bounding().clone().unwrap();
    assert_eq!(all.len(), ALL_CAPABILITIES.len());

    i.cap_add = vec![];
    i.cap_drop = vec!["ALL".into()];
    let none = caps_of(&gen(&i).unwrap()).bounding().clone().unwrap();
    assert!(none.is_empty());

    i.cap_add = vec!["NOT_A_CAP".into()];
    let err = gen(&i).unwrap_err();
    assert_eq!(err.kind(), berth_model::ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("CAP_NOT_A_CAP"), "{err}");
}

#[test]
fn privileged() {
    let dir = rootfs();
    let mut i = input(&dir);
    i.privileged = true;
    i.masked_paths = Some(vec!["/proc/kcore".into()]);
    let spec = generate_for(&i, "amd64", || panic!("privileged needs no kernel version")).unwrap();
    let bounding = caps_of(&spec).bounding().clone().unwrap();
    assert_eq!(bounding.len(), ALL_CAPABILITIES.len());
    assert!(bounding.contains(&Capability::SysAdmin));
    let linux = spec.linux().as_ref().unwrap();
    assert!(linux.seccomp().is_none());
    assert_eq!(linux.masked_paths().as_deref(), Some(&[][..]));
    assert_eq!(linux.readonly_paths().as_deref(), Some(&[][..]));
    assert_eq!(opts(mount_at(&spec, "/sys")), ["nosuid", "noexec", "nodev"]);
    assert_eq!(
        opts(mount_at(&spec, "/sys/fs/cgroup")),
        ["nosuid", "noexec", "nodev"]
    );
    let rules = linux
        .resources()
        .clone()
        .unwrap()
        .devices()
        .clone()
        .unwrap();
    assert_eq!(rules.len(), 1);
    assert!(rules[0].allow());
    assert_eq!(rules[0].typ(), None);
    assert_eq!(rules[0].access().as_deref(), Some("rwm"));
}

#[test]
fn device_cgroup_rules() {
    let dir = rootfs();
    let spec = gen(&input(&dir)).unwrap();
    let rules = spec
        .linux()
        .as_ref()
        .unwrap()
        .resources()
        .clone()
        .unwrap()
        .devices()
        .clone()
        .unwrap();
    let text: Vec<String> = rules
        .iter()
        .map(|r| format!("{} {r}", if r.allow() { "allow" } else { "deny" }))
        .collect();
    assert_eq!(text[0], "deny a *:* rwm");
    for want in [
        "allow c 1:3 rwm",
        "allow c 1:5 rwm",
        "allow c 1:7 rwm",
        "allow c 1:8 rwm",
        "allow c 1:9 rwm",
        "allow c 5:0 rwm",
        "allow c 5:1 rwm",
        "allow c 5:2 rwm",
        "allow c 136:* rwm",
        "allow c 10:200 rwm",
        "allow c *:* m",
        "allow b *:* m",
        "deny c 10:229 rwm",
    ] {
        assert!(
            text.contains(&want.to_string()),
            "missing {want} in {text:?}"
        );
    }
}

#[test]
fn masked_and_readonly_paths_can_be_overridden() {
    let dir = rootfs();
    let mut i = input(&dir);
    i.masked_paths = Some(vec![]);
    i.readonly_paths = Some(vec!["/proc/sys".into()]);
    let spec = gen(&i).unwrap();
    let linux = spec.linux().as_ref().unwrap();
    assert_eq!(linux.masked_paths().as_deref(), Some(&[][..]));
    assert_eq!(
        linux.readonly_paths().as_deref(),
        Some(&["/proc/sys".to_string()][..])
    );
}

#[test]
fn security_opts() {
    let dir = rootfs();
    let mut i = input(&dir);
    for opt in [
        "no-new-privileges",
        "no-new-privileges:true",
        "no-new-privileges=1",
    ] {
        i.security_opt = vec![opt.into()];
        let spec = gen(&i).unwrap();
        assert_eq!(
            spec.process().as_ref().unwrap().no_new_privileges(),
            Some(true),
            "{opt}"
        );
    }
    i.security_opt = vec!["no-new-privileges=false".into()];
    assert_eq!(
        gen(&i)
            .unwrap()
            .process()
            .as_ref()
            .unwrap()
            .no_new_privileges(),
        None
    );

    i.security_opt = vec!["seccomp=unconfined".into()];
    let spec = generate_for(&i, "amd64", || panic!("unconfined needs no kernel")).unwrap();
    assert!(spec.linux().as_ref().unwrap().seccomp().is_none());
    i.security_opt = vec!["seccomp:unconfined".into(), "apparmor=unconfined".into()];
    assert!(gen(&i)
        .unwrap()
        .linux()
        .as_ref()
        .unwrap()
        .seccomp()
        .is_none());
    i.security_opt = vec!["seccomp=builtin".into(), "label=disable".into()];
    assert!(gen(&i)
        .unwrap()
        .linux()
        .as_ref()
        .unwrap()
        .seccomp()
        .is_some());

    for bad in [
        "bogus",
        "foo=bar",
        "no-new-privileges=maybe",
        "seccomp={\"defaultAction\":\"SCMP_ACT_BOGUS\"}",
        "seccomp=/etc/profile.json",
        "apparmor=docker-default",
        "label=type:svirt_t",
    ] {
        i.security_opt = vec![bad.into()];
        let err = gen(&i).unwrap_err();
        assert_eq!(err.kind(), berth_model::ErrorKind::InvalidArgument, "{bad}");
    }
    i.security_opt = vec!["foo=bar".into()];
    assert_eq!(
        gen(&i).unwrap_err().to_string(),
        "invalid --security-opt 2: \"foo=bar\""
    );
}

#[test]
fn env_defaults_and_overrides() {
    assert_eq!(
        build_env(&[], "h", false),
        [format!("PATH={DEFAULT_PATH}"), "HOSTNAME=h".into()]
    );
    assert_eq!(
        build_env(&["PATH=/bin".into(), "FOO=bar".into()], "h", true),
        ["PATH=/bin", "HOSTNAME=h", "TERM=xterm", "FOO=bar"]
    );
    assert_eq!(
        build_env(&["TERM=dumb".into(), "HOSTNAME=custom".into()], "h", true),
        [
            format!("PATH={DEFAULT_PATH}"),
            "HOSTNAME=custom".into(),
            "TERM=dumb".into()
        ]
    );
    // A bare name unsets a default; an unknown bare name is ignored.
    assert_eq!(
        build_env(
            &["HOSTNAME".into(), "NOPE".into(), "A=1".into(), "A=2".into()],
            "h",
            false
        ),
        [format!("PATH={DEFAULT_PATH}"), "A=2".into()]
    );
    assert_eq!(build_env(&[], "", false), [format!("PATH={DEFAULT_PATH}")]);
}

#[test]
fn tty_sets_terminal_and_term() {
    let dir = rootfs();
    let mut i = input(&dir);
    i.tty = true;
    let spec = gen(&i).unwrap();
    let p = spec.process().as_ref().unwrap();
    assert_eq!(p.terminal(), Some(true));
    assert!(p
        .env()
        .as_ref()
        .unwrap()
        .contains(&"TERM=xterm".to_string()));
}

#[test]
fn user_and_cwd() {
    let dir = rootfs();
    let mut i = input(&dir);
    i.user = "www".into();
    i.cwd = "/var/www".into();
    let spec = gen(&i).unwrap();
    let p = spec.process().as_ref().unwrap();
    assert_eq!((p.user().uid(), p.user().gid()), (33, 33));
    assert_eq!(p.user().additional_gids(), &None);
    assert_eq!(p.cwd(), &PathBuf::from("/var/www"));

    i.user = "nobody".into();
    let err = gen(&i).unwrap_err();
    assert_eq!(err.kind(), berth_model::ErrorKind::InvalidArgument);
    assert_eq!(
        err.to_string(),
        "unable to find user nobody: no matching entries in passwd file"
    );

    i.user = String::new();
    i.cwd = "relative".into();
    let err = gen(&i).unwrap_err();
    assert_eq!(err.kind(), berth_model::ErrorKind::InvalidArgument);
}

#[test]
fn domainname_is_set() {
    let dir = rootfs();
    let mut i = input(&dir);
    i.domainname = "example.com".into();
    assert_eq!(
        gen(&i).unwrap().domainname().as_deref(),
        Some("example.com")
    );
}

#[test]
fn serialises_to_valid_oci_json() {
    let dir = rootfs();
    let spec = gen(&input(&dir)).unwrap();
    let json = serde_json::to_string_pretty(&spec).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["ociVersion"], oci_spec::runtime::VERSION);
    assert_eq!(v["root"]["path"], dir.path().display().to_string());
    assert_eq!(v["process"]["user"]["uid"], 0);
    assert_eq!(v["process"]["cwd"], "/");
    assert_eq!(v["process"]["args"][0], "sh");
    assert_eq!(v["process"]["rlimits"][0]["type"], "RLIMIT_NOFILE");
    assert_eq!(v["process"]["oomScoreAdj"], 0);
    assert!(v["process"]["capabilities"]["bounding"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("CAP_CHOWN")));
    assert!(v["process"]["capabilities"].get("inheritable").is_none());
    assert_eq!(v["linux"]["namespaces"][1]["type"], "network");
    assert_eq!(v["linux"]["cgroupsPath"], "berth/abc");
    assert_eq!(v["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(v["linux"]["resources"]["devices"][0]["allow"], false);
    assert_eq!(v["mounts"][0]["destination"], "/proc");
    assert_eq!(v["mounts"][0]["type"], "proc");
    assert!(v.get("annotations").is_none());
    assert!(v.get("hooks").is_none());
    // Round trip: what the runtime reads back is what was generated.
    let back: Spec = serde_json::from_str(&json).unwrap();
    assert_eq!(back, spec);
}

#[test]
fn generate_uses_running_kernel() {
    let dir = rootfs();
    let spec = generate(&input(&dir)).unwrap();
    assert!(spec.linux().as_ref().unwrap().seccomp().is_some());
}

/// A profile that allows everything but `mkdir`/`mkdirat`, as the docker CLI sends it.
const NO_MKDIR: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#;

#[test]
fn custom_seccomp_profile() {
    let dir = rootfs();
    let mut i = input(&dir);
    i.security_opt = vec![format!("seccomp={NO_MKDIR}"), "no-new-privileges".into()];
    let spec = gen(&i).unwrap();
    let seccomp = spec.linux().as_ref().unwrap().seccomp().clone().unwrap();
    assert_eq!(seccomp.default_action(), LinuxSeccompAction::ScmpActAllow);
    let rules = seccomp.syscalls().clone().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].names(), &["mkdir", "mkdirat"]);
    assert_eq!(rules[0].action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(rules[0].errno_ret(), Some(1));
    assert_eq!(
        spec.process().as_ref().unwrap().no_new_privileges(),
        Some(true)
    );

    // The last seccomp option wins, and privileged containers get no filter at all.
    i.security_opt = vec![format!("seccomp={NO_MKDIR}"), "seccomp=unconfined".into()];
    assert!(gen(&i)
        .unwrap()
        .linux()
        .as_ref()
        .unwrap()
        .seccomp()
        .is_none());
    i.security_opt = vec![format!("seccomp={NO_MKDIR}")];
    i.privileged = true;
    assert!(gen(&i)
        .unwrap()
        .linux()
        .as_ref()
        .unwrap()
        .seccomp()
        .is_none());
    i.privileged = false;

    // Malformed profiles name what is wrong.
    i.security_opt = vec!["seccomp={\"syscalls\":[]}".into()];
    let err = gen(&i).unwrap_err();
    assert_eq!(err.kind(), berth_model::ErrorKind::InvalidArgument);
    assert!(
        err.to_string()
            .starts_with("Decoding seccomp profile failed: missing field `defaultAction`"),
        "{err}"
    );
    i.security_opt = vec!["seccomp=/tmp/profile.json".into()];
    assert!(gen(&i)
        .unwrap_err()
        .to_string()
        .starts_with("Decoding seccomp profile failed: "));
    i.security_opt = vec![
        r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_NOPE"]}"#.into(),
    ];
    let err = gen(&i).unwrap_err();
    assert_eq!(err.kind(), berth_model::ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("SCMP_ARCH_NOPE"), "{err}");
}

fn rules_text(spec: &Spec) -> Vec<String> {
    spec.linux()
        .as_ref()
        .unwrap()
        .resources()
        .clone()
        .unwrap()
        .devices()
        .clone()
        .unwrap()
        .iter()
        .map(|r| format!("{} {r}", if r.allow() { "allow" } else { "deny" }))
        .collect()
}

fn devices_of(spec: &Spec) -> Vec<oci_spec::runtime::LinuxDevice> {
    spec.linux()
        .as_ref()
        .unwrap()
        .devices()
        .clone()
        .unwrap_or_default()
}

#[test]
fn devices_are_created_and_allowed() {
    let dir = rootfs();
    let mut i = input(&dir);
    assert!(devices_of(&gen(&i).unwrap()).is_empty());
    i.devices = vec![
        DeviceMapping {
            path_on_host: "/dev/zero".into(),
            path_in_container: "/dev/myzero".into(),
            cgroup_permissions: "rwm".into(),
        },
        DeviceMapping {
            path_on_host: "/dev/null".into(),
            path_in_container: "/dev/null".into(),
            cgroup_permissions: "r".into(),
        },
    ];
    i.device_cgroup_rules = vec!["c 4:* rw".into()];
    let spec = gen(&i).unwrap();
    let devs = devices_of(&spec);
    assert_eq!(devs.len(), 2);
    assert_eq!(devs[0].path(), &PathBuf::from("/dev/myzero"));
    assert_eq!((devs[0].major(), devs[0].minor()), (1, 5));
    assert_eq!(devs[1].path(), &PathBuf::from("/dev/null"));
    let rules = rules_text(&spec);
    // Docker's defaults first, then the devices' rules, then the user's rules.
    assert_eq!(rules[0], "deny a *:* rwm");
    let n = rules.len();
    assert_eq!(
        rules[n - 3..],
        ["allow c 1:5 rwm", "allow c 1:3 r", "allow c 4:* rw"]
    );

    i.devices = vec![DeviceMapping {
        path_on_host: "/dev/berth-missing".into(),
        path_in_container: "/dev/berth-missing".into(),
        cgroup_permissions: "rwm".into(),
    }];
    assert_eq!(
        gen(&i).unwrap_err().to_string(),
        "error gathering device information while adding custom device \"/dev/berth-missing\": no such file or directory"
    );
    i.devices.clear();
    i.device_cgroup_rules = vec!["c 1:3".into()];
    assert_eq!(
        gen(&i).unwrap_err().to_string(),
        "invalid device cgroup rule format: 'c 1:3'"
    );
}

#[test]
fn privileged_gets_host_devices_and_renamed_ones() {
    let dir = rootfs();
    let mut i = input(&dir);
    i.privileged = true;
    i.devices = vec![
        DeviceMapping {
            path_on_host: "/dev/zero".into(),
            path_in_container: "/dev/zero".into(),
            cgroup_permissions: "r".into(),
        },
        DeviceMapping {
            path_on_host: "/dev/zero".into(),
            path_in_container: "/dev/myzero".into(),
            cgroup_permissions: "r".into(),
        },
    ];
    let spec = generate_for(&i, "amd64", || panic!("privileged needs no kernel")).unwrap();
    let devs = devices_of(&spec);
    let at = |p: &str| {
        devs.iter()
            .filter(|d| d.path() == &PathBuf::from(p))
            .count()
    };
    assert_eq!(at("/dev/null"), 1);
    assert_eq!(at("/dev/zero"), 1);
    assert_eq!(at("/dev/myzero"), 1);
    assert_eq!(at("/dev/console"), 0);
    // Permissions are moot: everything is allowed.
    assert_eq!(rules_text(&spec), ["allow a *:* rwm"]);
}

#[test]
fn tmpfs_mounts_with_docker_options() {
    let dir = rootfs();
    let mut i = input(&dir);
    i.readonly_rootfs = true;
    i.tmpfs.insert("/scratch".into(), "size=1m".into());
    i.tmpfs.insert("/run/a/b".into(), "exec,mode=1777".into());
    i.tmpfs.insert("/dev/shm".into(), "".into());
    let spec = gen(&i).unwrap();
    let scratch = mount_at(&spec, "/scratch");
    assert_eq!(scratch.typ().as_deref(), Some("tmpfs"));
    assert_eq!(
        scratch.source().as_deref(),
        Some(std::path::Path::new("tmpfs"))
    );
    assert_eq!(
        opts(scratch),
        ["noexec", "nosuid", "nodev", "rprivate", "size=1m"]
    );
    assert_eq!(
        opts(mount_at(&spec, "/run/a/b")),
        ["nosuid", "nodev", "rprivate", "exec", "mode=1777"]
    );
    // A tmpfs replaces the default mount at the same place.
    let mounts = spec.mounts().clone().unwrap();
    let shm: Vec<_> = mounts
        .iter()
        .filter(|m| m.destination() == &PathBuf::from("/dev/shm"))
        .collect();
    assert_eq!(shm.len(), 1);
    assert_eq!(opts(shm[0]), ["noexec", "nosuid", "nodev", "rprivate"]);
    // Shallower user mounts come first.
    let dests: Vec<String> = mounts
        .iter()
        .map(|m| m.destination().to_string_lossy().into_owned())
        .collect();
    let pos = |d: &str| dests.iter().position(|x| x == d).unwrap();
    assert!(pos("/scratch") < pos("/etc/hosts"));
    assert!(pos("/etc/hosts") < pos("/run/a/b"));
    assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));

    i.tmpfs.insert("/bad".into(), "nosuchopt".into());
    assert_eq!(
        gen(&i).unwrap_err().to_string(),
        "Invalid tmpfs option [\"nosuchopt\"]"
    );
}

#[test]
fn init_runs_the_command() {
    let dir = rootfs();
    let mut i = input(&dir);
    let plain = gen(&i).unwrap();
    assert_eq!(
        plain.process().as_ref().unwrap().args().clone().unwrap(),
        ["sh", "-c", "true"]
    );
    assert!(!plain
        .mounts()
        .clone()
        .unwrap()
        .iter()
        .any(|m| m.destination() == &PathBuf::from(INIT_PATH_IN_CONTAINER)));

    i.init_path = Some("/usr/libexec/berth/berth-init".into());
    let spec = gen(&i).unwrap();
    assert_eq!(
        spec.process().as_ref().unwrap().args().clone().unwrap(),
        ["/sbin/docker-init", "--", "sh", "-c", "true"]
    );
    let m = mount_at(&spec, "/sbin/docker-init");
    assert_eq!(m.typ().as_deref(), Some("bind"));
    assert_eq!(
        m.source().as_deref(),
        Some(std::path::Path::new("/usr/libexec/berth/berth-init"))
    );
    assert_eq!(opts(m), ["bind", "ro"]);
    // Mounted last, over everything else.
    assert_eq!(
        spec.mounts().clone().unwrap().last().unwrap().destination(),
        &PathBuf::from("/sbin/docker-init")
    );
}

#[test]
fn all_capabilities_are_limited_to_what_the_daemon_holds() {
    let dir = rootfs();
    let mut i = input(&dir);
    i.privileged = true;
    let mut spec = generate_for(&i, "amd64", || panic!("privileged needs no kernel")).unwrap();
    let held = [Capability::Chown, Capability::SysAdmin];
    limit_capabilities(&mut spec, &held);
    let caps = spec
        .process()
        .as_ref()
        .unwrap()
        .capabilities()
        .clone()
        .unwrap();
    for set in [caps.bounding(), caps.effective(), caps.permitted()] {
        let set = set.clone().unwrap();
        assert_eq!(set.len(), 2, "{set:?}");
        assert!(set.contains(&Capability::SysAdmin));
    }
}
