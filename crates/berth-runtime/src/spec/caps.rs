//! Capability sets as Docker computes them: a default set tweaked by `--cap-add` and
//! `--cap-drop`, or everything for privileged containers.

use oci_spec::runtime::Capability;

use super::SpecError;

/// Docker's default capability set (moby `oci/caps/defaults.go`), kept in Docker's order so
/// the generated list reads the same as `docker inspect` output.
pub const DEFAULT_CAPABILITIES: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// Every capability oci-spec knows, in kernel number order. Privileged containers and
/// `--cap-add ALL` get these; a kernel older than 5.9 lacks the last few, which the runtime
/// then has to tolerate (youki and runc both skip capabilities the kernel does not know).
pub const ALL_CAPABILITIES: [Capability; 41] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::DacReadSearch,
    Capability::Fowner,
    Capability::Fsetid,
    Capability::Kill,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setpcap,
    Capability::LinuxImmutable,
    Capability::NetBindService,
    Capability::NetBroadcast,
    Capability::NetAdmin,
    Capability::NetRaw,
    Capability::IpcLock,
    Capability::IpcOwner,
    Capability::SysModule,
    Capability::SysRawio,
    Capability::SysChroot,
    Capability::SysPtrace,
    Capability::SysPacct,
    Capability::SysAdmin,
    Capability::SysBoot,
    Capability::SysNice,
    Capability::SysResource,
    Capability::SysTime,
    Capability::SysTtyConfig,
    Capability::Mknod,
    Capability::Lease,
    Capability::AuditWrite,
    Capability::AuditControl,
    Capability::Setfcap,
    Capability::MacOverride,
    Capability::MacAdmin,
    Capability::Syslog,
    Capability::WakeAlarm,
    Capability::BlockSuspend,
    Capability::AuditRead,
    Capability::Perfmon,
    Capability::Bpf,
    Capability::CheckpointRestore,
];

/// The name Docker and the seccomp profile use for a capability, e.g. `CAP_SYS_ADMIN`.
pub fn cap_name(cap: Capability) -> String {
    format!("CAP_{cap}")
}

/// One entry of `--cap-add`/`--cap-drop` after normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CapArg {
    All,
    One(Capability),
}

/// Accepts Docker's spellings: any case, with or without the `CAP_` prefix, and `ALL`.
fn parse_cap_arg(raw: &str) -> Result<CapArg, SpecError> {
    let upper = raw.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(CapArg::All);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    ALL_CAPABILITIES
        .iter()
        .copied()
        .find(|c| cap_name(*c) == full)
        .map(CapArg::One)
        .ok_or(SpecError::UnknownCapability(full))
}

/// The capabilities in this process's bounding set (all of them when it cannot be read).
pub fn bounding_set() -> Vec<Capability> {
    held_capabilities("CapBnd")
}

/// The capabilities in one of this process's sets, named by its `/proc/self/status`
/// field (`CapBnd`, `CapPrm`, ...); all of them when it cannot be read.
pub fn held_capabilities(field: &str) -> Vec<Capability> {
    let mask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|st| {
            st.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1u64 << i) != 0)
        .map(|(_, c)| *c)
        .collect()
}

/// Docker's `TweakCapabilities`: privileged wins outright; `--cap-add ALL` grants everything
/// except what is dropped; `--cap-drop ALL` keeps only what is added; otherwise the default
/// set minus drops plus adds. The result has no duplicates and keeps a stable order.
pub fn tweak_capabilities(
    adds: &[String],
    drops: &[String],
    privileged: bool,
) -> Result<Vec<Capability>, SpecError> {
    // Validate even when privileged so a typo is reported the same way in both modes.
    let adds = adds
        .iter()
        .map(|a| parse_cap_arg(a))
        .collect::<Result<Vec<_>, _>>()?;
    let drops = drops
        .iter()
        .map(|d| parse_cap_arg(d))
        .collect::<Result<Vec<_>, _>>()?;
    if privileged {
        return Ok(ALL_CAPABILITIES.to_vec());
    }
    let dropped = |c: &Capability| drops.contains(&CapArg::One(*c));
    let added: Vec<Capability> = adds
        .iter()
        .filter_map(|a| match a {
            CapArg::One(c) => Some(*c),
            CapArg::All => None,
        })
        .collect();

    let mut caps: Vec<Capability> = if adds.contains(&CapArg::All) {
        ALL_CAPABILITIES
            .iter()
            .copied()
            .filter(|c| !dropped(c))
            .collect()
    } else if drops.contains(&CapArg::All) {
        added
    } else {
        let mut caps: Vec<Capability> = DEFAULT_CAPABILITIES
            .iter()
            .copied()
            .filter(|c| !dropped(c))
            .collect();
        caps.extend(added);
        caps
    };
    let mut seen = std::collections::HashSet::new();
    caps.retain(|c| seen.insert(*c));
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn default_set_is_dockers() {
        let caps = tweak_capabilities(&[], &[], false).unwrap();
        let names: Vec<String> = caps.iter().map(|c| cap_name(*c)).collect();
        assert_eq!(
            names,
            s(&[
                "CAP_CHOWN",
                "CAP_DAC_OVERRIDE",
                "CAP_FSETID",
                "CAP_FOWNER",
                "CAP_MKNOD",
                "CAP_NET_RAW",
                "CAP_SETGID",
                "CAP_SETUID",
                "CAP_SETFCAP",
                "CAP_SETPCAP",
                "CAP_NET_BIND_SERVICE",
                "CAP_SYS_CHROOT",
                "CAP_KILL",
                "CAP_AUDIT_WRITE",
            ])
        );
    }

    #[test]
    fn add_and_drop_accept_all_spellings() {
        let caps = tweak_capabilities(
            &s(&["NET_ADMIN", "cap_sys_admin", "CAP_CHOWN"]),
            &s(&["mknod", "CAP_NET_RAW"]),
            false,
        )
        .unwrap();
        assert!(caps.contains(&Capability::NetAdmin));
        assert!(caps.contains(&Capability::SysAdmin));
        assert!(!caps.contains(&Capability::Mknod));
        assert!(!caps.contains(&Capability::NetRaw));
        assert_eq!(caps.iter().filter(|c| **c == Capability::Chown).count(), 1);
        assert_eq!(caps.len(), 14);
    }

    #[test]
    fn add_all_minus_drops() {
        let caps = tweak_capabilities(&s(&["ALL"]), &s(&["SYS_ADMIN"]), false).unwrap();
        assert_eq!(caps.len(), ALL_CAPABILITIES.len() - 1);
        assert!(!caps.contains(&Capability::SysAdmin));
    }

    #[test]
    fn drop_all_keeps_only_adds() {
        let caps = tweak_capabilities(&s(&["chown", "KILL"]), &s(&["all"]), false).unwrap();
        assert_eq!(caps, vec![Capability::Chown, Capability::Kill]);
        let none = tweak_capabilities(&[], &s(&["ALL"]), false).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn privileged_gets_everything() {
        let caps = tweak_capabilities(&[], &s(&["ALL"]), true).unwrap();
        assert_eq!(caps, ALL_CAPABILITIES.to_vec());
    }

    #[test]
    fn unknown_capability_is_invalid_argument() {
        let err = tweak_capabilities(&s(&["FOO"]), &[], false).unwrap_err();
        assert_eq!(err.to_string(), "unknown capability: \"CAP_FOO\"");
        assert_eq!(err.kind(), berth_model::ErrorKind::InvalidArgument);
        assert!(tweak_capabilities(&[], &s(&["CAP_NOPE"]), true).is_err());
    }

    #[test]
    fn all_capabilities_are_distinct() {
        let set: std::collections::HashSet<_> = ALL_CAPABILITIES.iter().collect();
        assert_eq!(set.len(), ALL_CAPABILITIES.len());
    }
}
