//! Turning a Docker seccomp profile (moby's format, with `archMap`, `includes`/`excludes`)
//! into the OCI `linux.seccomp` for one host, as moby's `setupSeccomp` does.

use std::sync::OnceLock;

use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompBuilder,
    LinuxSeccompFilterFlag, LinuxSyscall, LinuxSyscallBuilder,
};
use serde::Deserialize;

use super::caps::cap_name;
use super::SpecError;

/// Docker's default profile, shipped with the binary so every container gets the same
/// filter whatever is installed on the host.
const DEFAULT_PROFILE_JSON: &str = include_str!("../../assets/seccomp-default.json");

/// A kernel's `major.minor`; moby compares only these two when honouring `minKernel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
}

impl KernelVersion {
    /// Parses a release string such as `6.1.0-18-amd64` or a profile's `4.8`.
    pub fn parse(release: &str) -> Option<KernelVersion> {
        let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next().unwrap_or("0");
        let minor = if minor.is_empty() {
            0
        } else {
            minor.parse().ok()?
        };
        Some(KernelVersion { major, minor })
    }

    /// The running kernel, from uname.
    pub fn running() -> Result<KernelVersion, SpecError> {
        let uts =
            nix::sys::utsname::uname().map_err(|e| SpecError::Seccomp(format!("uname: {e}")))?;
        let release = uts.release().to_string_lossy().into_owned();
        KernelVersion::parse(&release)
            .ok_or_else(|| SpecError::Seccomp(format!("cannot parse kernel release {release:?}")))
    }
}

/// The host architecture as Go names it, because profiles' `includes.arches` use Go's names.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "mips64" if cfg!(target_endian = "little") => "mips64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// moby's `nativeToSeccomp`: which `archMap` entry belongs to a Go architecture.
fn native_to_seccomp(arch: &str) -> Option<&'static str> {
    Some(match arch {
        "amd64" => "SCMP_ARCH_X86_64",
        "386" | "x86" => "SCMP_ARCH_X86",
        "arm64" => "SCMP_ARCH_AARCH64",
        "arm" => "SCMP_ARCH_ARM",
        "mips" => "SCMP_ARCH_MIPS",
        "mipsle" => "SCMP_ARCH_MIPSEL",
        "mips64" => "SCMP_ARCH_MIPS64",
        "mips64le" => "SCMP_ARCH_MIPSEL64",
        "ppc" => "SCMP_ARCH_PPC",
        "ppc64" => "SCMP_ARCH_PPC64",
        "ppc64le" => "SCMP_ARCH_PPC64LE",
        "riscv64" => "SCMP_ARCH_RISCV64",
        "s390" => "SCMP_ARCH_S390",
        "s390x" => "SCMP_ARCH_S390X",
        "loong64" => "SCMP_ARCH_LOONGARCH64",
        _ => return None,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: LinuxSeccompAction,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Option<Vec<String>>,
    #[serde(default)]
    arch_map: Option<Vec<ArchMapEntry>>,
    #[serde(default)]
    syscalls: Option<Vec<Syscall>>,
    #[serde(default)]
    flags: Option<Vec<LinuxSeccompFilterFlag>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMapEntry {
    architecture: String,
    #[serde(default)]
    sub_architectures: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Syscall {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    names: Option<Vec<String>>,
    action: LinuxSeccompAction,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<LinuxSeccompArg>>,
    #[serde(default)]
    includes: Option<Filter>,
    #[serde(default)]
    excludes: Option<Filter>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    caps: Option<Vec<String>>,
    #[serde(default)]
    arches: Option<Vec<String>>,
    #[serde(default)]
    min_kernel: Option<String>,
}

/// The embedded profile parsed once; the error is kept as text because the cell is shared.
fn default_profile() -> Result<&'static Profile, SpecError> {
    static PROFILE: OnceLock<Result<Profile, String>> = OnceLock::new();
    PROFILE
        .get_or_init(|| serde_json::from_str(DEFAULT_PROFILE_JSON).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| SpecError::Seccomp(format!("embedded default profile: {e}")))
}

/// Docker's default filter for a container with capabilities `caps` (its bounding set) on
/// a host of Go architecture `arch` running `kernel`. Pure, so every rule is testable.
pub fn default_seccomp(
    caps: &[Capability],
    arch: &str,
    kernel: KernelVersion,
) -> Result<LinuxSeccomp, SpecError> {
    convert(default_profile()?, caps, arch, kernel)
}

/// Same conversion for a user-supplied profile in Docker's JSON format (what the docker CLI
/// sends as `seccomp=<json>`). Its faults are the user's, so they are reported as invalid
/// arguments, with dockerd's wording for one that does not decode.
pub fn seccomp_from_json(
    json: &str,
    caps: &[Capability],
    arch: &str,
    kernel: KernelVersion,
) -> Result<LinuxSeccomp, SpecError> {
    let profile: Profile = serde_json::from_str(json).map_err(|e| {
        SpecError::InvalidSeccompProfile(format!("Decoding seccomp profile failed: {e}"))
    })?;
    convert(&profile, caps, arch, kernel).map_err(|e| match e {
        SpecError::Seccomp(msg) => {
            SpecError::InvalidSeccompProfile(format!("seccomp profile: {msg}"))
        }
        other => other,
    })
}

fn parse_arch(name: &str) -> Result<Arch, SpecError> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|_| SpecError::Seccomp(format!("unknown architecture {name}")))
}

fn min_kernel_met(min: &str, kernel: KernelVersion) -> Result<bool, SpecError> {
    let min = KernelVersion::parse(min)
        .ok_or_else(|| SpecError::Seccomp(format!("invalid minKernel {min:?}")))?;
    Ok(kernel >= min)
}

fn convert(
    profile: &Profile,
    caps: &[Capability],
    arch: &str,
    kernel: KernelVersion,
) -> Result<LinuxSeccomp, SpecError> {
    let architectures = profile.architectures.as_deref().unwrap_or_default();
    let arch_map = profile.arch_map.as_deref().unwrap_or_default();
    if !architectures.is_empty() && !arch_map.is_empty() {
        return Err(SpecError::Seccomp(
            "both 'architectures' and 'archMap' are specified, use either one".into(),
        ));
    }
    // With neither, libseccomp picks the native architecture.
    let mut arches: Vec<Arch> = architectures
        .iter()
        .map(|a| parse_arch(a))
        .collect::<Result<_, _>>()?;
    if let Some(native) = native_to_seccomp(arch) {
        if let Some(entry) = arch_map.iter().find(|e| e.architecture == native) {
            arches.push(parse_arch(&entry.architecture)?);
            for sub in entry.sub_architectures.as_deref().unwrap_or_default() {
                arches.push(parse_arch(sub)?);
            }
        }
    }

    let cap_names: Vec<String> = caps.iter().map(|c| cap_name(*c)).collect();
    let has_cap = |c: &String| cap_names.iter().any(|n| n == c);

    let mut syscalls = Vec::new();
    for call in profile.syscalls.as_deref().unwrap_or_default() {
        let names = match (&call.name, &call.names) {
            (Some(_), Some(n)) if !n.is_empty() => {
                return Err(SpecError::Seccomp(
                    "'name' and 'names' were both specified, use either one".into(),
                ))
            }
            (Some(name), _) => vec![name.clone()],
            (None, Some(n)) => n.clone(),
            (None, None) => Vec::new(),
        };
        if let Some(ex) = &call.excludes {
            if ex
                .arches
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|a| a == arch)
            {
                continue;
            }
            if ex.caps.as_deref().unwrap_or_default().iter().any(has_cap) {
                continue;
            }
            if let Some(min) = &ex.min_kernel {
                if min_kernel_met(min, kernel)? {
                    continue;
                }
            }
        }
        if let Some(inc) = &call.includes {
            let inc_arches = inc.arches.as_deref().unwrap_or_default();
            if !inc_arches.is_empty() && !inc_arches.iter().any(|a| a == arch) {
                continue;
            }
            if !inc.caps.as_deref().unwrap_or_default().iter().all(has_cap) {
                continue;
            }
            if let Some(min) = &inc.min_kernel {
                if !min_kernel_met(min, kernel)? {
                    continue;
                }
            }
        }
        let mut rule: LinuxSyscall = LinuxSyscallBuilder::default()
            .names(names)
            .action(call.action)
            .build()?;
        rule.set_errno_ret(call.errno_ret);
        rule.set_args(call.args.clone().filter(|a| !a.is_empty()));
        syscalls.push(rule);
    }

    let mut seccomp = LinuxSeccompBuilder::default()
        .default_action(profile.default_action)
        .syscalls(syscalls)
        .build()?;
    seccomp.set_default_errno_ret(profile.default_errno_ret);
    seccomp.set_architectures((!arches.is_empty()).then_some(arches));
    seccomp.set_flags(profile.flags.clone().filter(|f| !f.is_empty()));
    Ok(seccomp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::caps::DEFAULT_CAPABILITIES;

    const NEW: KernelVersion = KernelVersion { major: 6, minor: 1 };

    fn allowed(s: &LinuxSeccomp, name: &str) -> bool {
        s.syscalls().as_deref().unwrap_or_default().iter().any(|r| {
            r.action() == LinuxSeccompAction::ScmpActAllow && r.names().iter().any(|n| n == name)
        })
    }

    fn rules_for<'a>(s: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
        s.syscalls()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter(|r| r.names().iter().any(|n| n == name))
            .collect()
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(
            KernelVersion::parse("6.18.44-fc-v657"),
            Some(KernelVersion {
                major: 6,
                minor: 18
            })
        );
        assert_eq!(
            KernelVersion::parse("4.8"),
            Some(KernelVersion { major: 4, minor: 8 })
        );
        assert_eq!(
            KernelVersion::parse("5"),
            Some(KernelVersion { major: 5, minor: 0 })
        );
        assert_eq!(KernelVersion::parse("garbage"), None);
        assert!(KernelVersion::running().is_ok());
        assert!(
            KernelVersion {
                major: 4,
                minor: 10
            } > KernelVersion { major: 4, minor: 8 }
        );
    }

    #[test]
    fn default_profile_on_amd64() {
        let s = default_seccomp(&DEFAULT_CAPABILITIES, "amd64", NEW).unwrap();
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(s.default_errno_ret(), Some(1));
        assert_eq!(
            s.architectures().clone().unwrap(),
            vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
        );
        assert!(allowed(&s, "read"));
        assert!(allowed(&s, "execve"));
        // amd64-only rule is present, the arm-only one is not.
        assert!(allowed(&s, "arch_prctl"));
        assert!(!allowed(&s, "arm_fadvise64_64"));
        // Gated by CAP_SYS_ADMIN, absent from Docker's default set.
        assert!(!allowed(&s, "mount"));
    }

    #[test]
    fn default_profile_on_arm64() {
        let s = default_seccomp(&DEFAULT_CAPABILITIES, "arm64", NEW).unwrap();
        assert_eq!(
            s.architectures().clone().unwrap(),
            vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]
        );
        assert!(allowed(&s, "arm_fadvise64_64"));
        assert!(!allowed(&s, "arch_prctl"));
    }

    #[test]
    fn unknown_arch_leaves_architectures_to_libseccomp() {
        let s = default_seccomp(&DEFAULT_CAPABILITIES, "sparc64", NEW).unwrap();
        assert!(s.architectures().is_none());
    }

    #[test]
    fn cap_gated_rules_follow_capabilities() {
        let mut caps = DEFAULT_CAPABILITIES.to_vec();
        let without = default_seccomp(&caps, "amd64", NEW).unwrap();
        caps.push(Capability::SysAdmin);
        let with = default_seccomp(&caps, "amd64", NEW).unwrap();
        for name in ["mount", "umount2", "unshare", "setns", "bpf"] {
            assert!(!allowed(&without, name), "{name} without CAP_SYS_ADMIN");
            assert!(allowed(&with, name), "{name} with CAP_SYS_ADMIN");
        }
        // excludes.caps: clone's flag-masking rule only applies without CAP_SYS_ADMIN, and
        // clone3's ENOSYS rule disappears with it.
        let masked = |s: &LinuxSeccomp| {
            rules_for(s, "clone")
                .iter()
                .any(|r| r.args().as_ref().is_some_and(|a| !a.is_empty()))
        };
        assert!(masked(&without));
        assert!(!masked(&with));
        let clone3 = rules_for(&without, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(clone3[0].errno_ret(), Some(38));
        assert!(rules_for(&with, "clone3")
            .iter()
            .all(|r| r.action() == LinuxSeccompAction::ScmpActAllow));
    }

    #[test]
    fn args_are_carried_over() {
        let s = default_seccomp(&DEFAULT_CAPABILITIES, "amd64", NEW).unwrap();
        let personality = rules_for(&s, "personality");
        let values: Vec<u64> = personality
            .iter()
            .flat_map(|r| r.args().clone().unwrap_or_default())
            .map(|a| a.value())
            .collect();
        assert!(values.contains(&0));
        assert!(values.contains(&0xffffffff));
    }

    #[test]
    fn min_kernel_is_honoured() {
        let s_old = default_seccomp(
            &DEFAULT_CAPABILITIES,
            "amd64",
            KernelVersion { major: 4, minor: 4 },
        )
        .unwrap();
        let s_new = default_seccomp(&DEFAULT_CAPABILITIES, "amd64", NEW).unwrap();
        // ptrace is allowed without CAP_SYS_PTRACE only from 4.8 on.
        assert!(!allowed(&s_old, "ptrace"));
        assert!(allowed(&s_new, "ptrace"));
        let mut caps = DEFAULT_CAPABILITIES.to_vec();
        caps.push(Capability::SysPtrace);
        let s_old_ptrace =
            default_seccomp(&caps, "amd64", KernelVersion { major: 4, minor: 4 }).unwrap();
        assert!(allowed(&s_old_ptrace, "ptrace"));
    }

    #[test]
    fn custom_profile_filters() {
        let json = r#"{
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [
                {"name": "chmod", "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                {"names": ["old"], "action": "SCMP_ACT_ERRNO",
                 "excludes": {"minKernel": "5.0"}},
                {"names": ["x"], "action": "SCMP_ACT_KILL", "excludes": {"arches": ["amd64"]}}
            ]
        }"#;
        let s = seccomp_from_json(json, &[], "amd64", NEW).unwrap();
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActAllow);
        assert_eq!(
            s.architectures().clone().unwrap(),
            vec![Arch::ScmpArchX86_64]
        );
        let rules = s.syscalls().clone().unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].names(), &vec!["chmod".to_string()]);
        assert_eq!(rules[0].errno_ret(), Some(13));
        let s = seccomp_from_json(
            json,
            &[],
            "arm64",
            KernelVersion {
                major: 4,
                minor: 19,
            },
        )
        .unwrap();
        assert_eq!(s.syscalls().clone().unwrap().len(), 3);

        let both = r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],
            "archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":null}]}"#;
        assert!(seccomp_from_json(both, &[], "amd64", NEW).is_err());
        assert!(seccomp_from_json("{", &[], "amd64", NEW).is_err());
    }

    #[test]
    fn serialises_as_oci() {
        let s = default_seccomp(&DEFAULT_CAPABILITIES, "amd64", NEW).unwrap();
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(v["defaultErrnoRet"], 1);
        assert_eq!(v["architectures"][0], "SCMP_ARCH_X86_64");
        assert!(v["syscalls"].as_array().unwrap().len() > 10);
        assert!(v.get("flags").is_none());
    }
}
