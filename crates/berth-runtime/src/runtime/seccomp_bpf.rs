//! Seccomp filters compiled once and loaded as raw BPF.
//!
//! libcontainer compiles the OCI profile with libseccomp inside every container's init
//! (and Berth did the same for every exec): ~400 rules, tens of milliseconds each time.
//! Here a profile is compiled once per host into BPF (cached under the exec root, keyed
//! by the profile's digest) and the executor loads those bytes with one `seccomp(2)`.
//!
//! Loading a filter without `no_new_privs` needs CAP_SYS_ADMIN, which Docker's default
//! capability set lacks. So libcontainer is handed the process with CAP_SYS_ADMIN and
//! CAP_SETPCAP added ([`Finish::widen`]); the executor loads the filter, then narrows the
//! capabilities to exactly the container's ([`Finish::apply`]) before `execve`. The
//! process ends with the same filter, capabilities and `no_new_privs` as runc gives it,
//! which also means exec'd processes no longer need `no_new_privs`.

use std::collections::HashSet;
use std::io::{Read, Seek, Write};
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};

use caps::{CapSet, Capability as Cap, CapsHashSet};
use libcontainer::oci_spec::runtime::{
    Arch, Capability, LinuxCapabilities, LinuxCapabilitiesBuilder, LinuxSeccomp,
    LinuxSeccompAction, LinuxSeccompOperator,
};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use sha2::{Digest, Sha256};

/// Whether the fast path can express `profile` exactly: no user-space notification (it
/// needs the listener fd libseccomp returns on load) and no filter flags (they are
/// arguments of the load, not part of the BPF).
pub fn supported(profile: &LinuxSeccomp) -> bool {
    let notify = |a: LinuxSeccompAction| a == LinuxSeccompAction::ScmpActNotify;
    profile.flags().as_ref().is_none_or(|f| f.is_empty())
        && profile.listener_path().is_none()
        && !notify(profile.default_action())
        && profile
            .syscalls()
            .as_ref()
            .is_none_or(|s| s.iter().all(|r| !notify(r.action())))
}

fn arch(a: Arch) -> ScmpArch {
    match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, String> {
    // runc's (and libcontainer's) default errno for ERRNO/TRACE without errnoRet.
    let code = errno.unwrap_or(libc::EPERM as u32) as i32;
    Ok(match a {
        LinuxSeccompAction::ScmpActKill => ScmpAction::KillThread,
        LinuxSeccompAction::ScmpActKillThread => ScmpAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(code),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(
            u16::try_from(code).map_err(|_| format!("seccomp trace errno {code} out of range"))?,
        ),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => {
            return Err("SCMP_ACT_NOTIFY is not supported by the compiled-filter path".into())
        }
    })
}

fn op(o: LinuxSeccompOperator, mask: Option<u64>) -> ScmpCompareOp {
    match o {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(mask.unwrap_or(0)),
    }
}

/// Compiles `profile` to BPF with the same rules libcontainer applies when it loads one
/// itself: rules equal to the default action skipped, unknown syscall names skipped,
/// conditions on a repeated argument index added as separate rules (as runc does).
pub fn compile(profile: &LinuxSeccomp) -> Result<Vec<u8>, String> {
    let err = |what: &str, e: libseccomp::error::SeccompError| format!("seccomp {what}: {e}");
    let default = action(profile.default_action(), profile.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| err("new filter", e))?;
    for a in profile.architectures().iter().flatten() {
        ctx.add_arch(arch(*a)).map_err(|e| err("add arch", e))?;
    }
    ctx.set_ctl_nnp(false).map_err(|e| err("nnp", e))?;
    for rule in profile.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret())?;
        if act == default {
            continue;
        }
        for name in rule.names() {
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                continue;
            };
            match rule.args() {
                Some(args) if !args.is_empty() => {
                    let cmps: Vec<ScmpArgCompare> = args
                        .iter()
                        .map(|a| {
                            ScmpArgCompare::new(
                                a.index() as u32,
                                op(a.op(), a.value_two()),
                                a.value(),
                            )
                        })
                        .collect();
                    let mut seen = HashSet::new();
                    let repeated = args.iter().any(|a| !seen.insert(a.index()));
                    if repeated {
                        for c in &cmps {
                            ctx.add_rule_conditional(act, sc, std::slice::from_ref(c))
                                .map_err(|e| err(&format!("rule for {name}"), e))?;
                        }
                    } else {
                        ctx.add_rule_conditional(act, sc, &cmps)
                            .map_err(|e| err(&format!("rule for {name}"), e))?;
                    }
                }
                _ => {
                    ctx.add_rule(act, sc)
                        .map_err(|e| err(&format!("rule for {name}"), e))?;
                }
            }
        }
    }
    // libseccomp 2.5 (Debian 12) exports to a file descriptor only: an anonymous one.
    // SAFETY: memfd_create with a valid C string; the fd is owned right away.
    let fd = unsafe { libc::memfd_create(c"berth-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(format!(
            "seccomp export: memfd: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: `fd` was just created and is not owned elsewhere.
    let mut file = std::fs::File::from(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) });
    ctx.export_bpf(&file).map_err(|e| err("export", e))?;
    let mut bpf = Vec::new();
    file.seek(std::io::SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bpf))
        .map_err(|e| format!("seccomp export: {e}"))?;
    Ok(bpf)
}

/// The compiled filter of `profile`, from `cache_dir` when an earlier container compiled
/// it, else compiled now and stored (temp file, fsync, rename) for the next one.
pub fn cached(profile: &LinuxSeccomp, cache_dir: &Path) -> Result<Vec<u8>, String> {
    let json = serde_json::to_vec(profile).map_err(|e| format!("encode seccomp profile: {e}"))?;
    let mut h = Sha256::new();
    h.update(&json);
    // The compiled form depends on libseccomp's version and the kernel's syscall table.
    h.update(format!("{:?}", libseccomp::ScmpVersion::current().ok()).as_bytes());
    let key: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let path = cache_dir.join(format!("{key}.bpf"));
    if let Ok(bytes) = std::fs::read(&path) {
        if !bytes.is_empty() && bytes.len() % 8 == 0 {
            return Ok(bytes);
        }
    }
    let bpf = compile(profile)?;
    if std::fs::create_dir_all(cache_dir).is_ok() {
        let tmp = tmp_name(&path);
        let stored = std::fs::File::create(&tmp)
            .and_then(|mut f| {
                f.write_all(&bpf)?;
                f.sync_all()
            })
            .and_then(|_| std::fs::rename(&tmp, &path));
        if stored.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    Ok(bpf)
}

fn tmp_name(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".tmp-{}", std::process::id()));
    PathBuf::from(s)
}

/// Loads a BPF program (an array of `sock_filter`) as this thread's seccomp filter.
pub fn load(bpf: &[u8]) -> std::io::Result<()> {
    if bpf.is_empty() || bpf.len() % std::mem::size_of::<libc::sock_filter>() != 0 {
        return Err(std::io::Error::other("malformed seccomp program"));
    }
    let prog = libc::sock_fprog {
        len: (bpf.len() / std::mem::size_of::<libc::sock_filter>()) as u16,
        filter: bpf.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `bpf`, alive for the call; the kernel copies the program.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The container's real capability sets, restored by the executor after the filter is in.
#[derive(Clone, Debug)]
pub struct Finish {
    pub caps: LinuxCapabilities,
}

const EXTRA: [Capability; 2] = [Capability::SysAdmin, Capability::Setpcap];

impl Finish {
    /// The capabilities to hand libcontainer: the container's plus what loading the filter
    /// and narrowing the sets afterwards need.
    pub fn widen(caps: &LinuxCapabilities) -> LinuxCapabilities {
        let add = |s: &Option<HashSet<Capability>>| {
            let mut s = s.clone().unwrap_or_default();
            s.extend(EXTRA);
            s
        };
        LinuxCapabilitiesBuilder::default()
            .bounding(add(caps.bounding()))
            .effective(add(caps.effective()))
            .permitted(add(caps.permitted()))
            .inheritable(caps.inheritable().clone().unwrap_or_default())
            .ambient(caps.ambient().clone().unwrap_or_default())
            .build()
            .unwrap_or_else(|_| caps.clone())
    }

    /// Drops what [`Finish::widen`] added: bounding set first (needs CAP_SETPCAP), then
    /// the effective, permitted and inheritable sets, which may always shrink.
    pub fn apply(&self) -> Result<(), String> {
        let set = |s: &Option<HashSet<Capability>>| -> CapsHashSet {
            s.iter().flatten().filter_map(|c| to_caps(*c)).collect()
        };
        let bounding = set(self.caps.bounding());
        for cap in [Cap::CAP_SYS_ADMIN, Cap::CAP_SETPCAP] {
            if !bounding.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap)
                    .map_err(|e| format!("drop {cap} from the bounding set: {e}"))?;
            }
        }
        caps::set(None, CapSet::Effective, &set(self.caps.effective()))
            .map_err(|e| format!("set effective capabilities: {e}"))?;
        caps::set(None, CapSet::Permitted, &set(self.caps.permitted()))
            .map_err(|e| format!("set permitted capabilities: {e}"))?;
        caps::set(None, CapSet::Inheritable, &set(self.caps.inheritable()))
            .map_err(|e| format!("set inheritable capabilities: {e}"))?;
        Ok(())
    }
}

/// The `caps` crate's value of an OCI capability (both use the kernel's names).
fn to_caps(c: Capability) -> Option<Cap> {
    format!("CAP_{c}").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Docker's default profile as the spec generator makes it, in libcontainer's types.
    fn docker_default() -> LinuxSeccomp {
        let kernel = crate::spec::KernelVersion { major: 6, minor: 1 };
        let p = crate::spec::default_seccomp(
            &crate::spec::DEFAULT_CAPABILITIES,
            crate::spec::host_arch(),
            kernel,
        )
        .unwrap();
        serde_json::from_value(serde_json::to_value(p).unwrap()).unwrap()
    }

    #[test]
    fn compiles_docker_default_to_bpf_and_caches_it() {
        let profile = docker_default();
        assert!(supported(&profile));
        let bpf = compile(&profile).unwrap();
        // Hundreds of instructions of 8 bytes each.
        assert!(bpf.len() > 800 && bpf.len() % 8 == 0, "{}", bpf.len());
        assert_eq!(
            compile(&profile).unwrap(),
            bpf,
            "compilation is deterministic"
        );

        let dir = tempfile::tempdir().unwrap();
        assert_eq!(cached(&profile, dir.path()).unwrap(), bpf);
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(files.len(), 1);
        // A second container reads the stored program; a damaged one is recompiled.
        assert_eq!(cached(&profile, dir.path()).unwrap(), bpf);
        std::fs::write(files[0].path(), b"junk").unwrap();
        assert_eq!(cached(&profile, dir.path()).unwrap(), bpf);
        assert_eq!(std::fs::read(files[0].path()).unwrap(), bpf);
    }

    #[test]
    fn notify_and_flags_take_the_libseccomp_path() {
        let mut p = docker_default();
        p.set_listener_path(Some("/run/x.sock".into()));
        assert!(!supported(&p));
        let mut p = docker_default();
        p.set_flags(Some(vec![
            libcontainer::oci_spec::runtime::LinuxSeccompFilterFlag::SeccompFilterFlagLog,
        ]));
        assert!(!supported(&p));
    }

    #[test]
    fn widen_adds_only_what_the_load_needs() {
        let caps: HashSet<Capability> = [Capability::Chown, Capability::Kill].into();
        let orig = LinuxCapabilitiesBuilder::default()
            .bounding(caps.clone())
            .effective(caps.clone())
            .permitted(caps.clone())
            .inheritable(HashSet::new())
            .ambient(HashSet::new())
            .build()
            .unwrap();
        let w = Finish::widen(&orig);
        for set in [w.bounding(), w.effective(), w.permitted()] {
            let set = set.clone().unwrap();
            assert!(set.contains(&Capability::SysAdmin) && set.contains(&Capability::Setpcap));
            assert!(set.contains(&Capability::Chown) && set.len() == 4);
        }
        assert_eq!(w.inheritable().clone().unwrap(), HashSet::new());
        assert_eq!(to_caps(Capability::SysAdmin), Some(Cap::CAP_SYS_ADMIN));
        assert_eq!(
            to_caps(Capability::DacOverride),
            Some(Cap::CAP_DAC_OVERRIDE)
        );
    }

    #[test]
    fn malformed_programs_are_refused_before_the_kernel() {
        assert!(load(&[]).is_err());
        assert!(load(&[0u8; 12]).is_err());
    }
}
