//! Resource limits from a container's HostConfig (`--memory`, `--cpus`, `--pids-limit`,
//! `--ulimit`, `--sysctl`, ...) into the OCI spec, with Docker's validation messages.

use super::SpecError;
use berth_model::api::HostConfig;
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, PosixRlimitBuilder, PosixRlimitType,
    Spec,
};
use serde_json::Value;
use std::collections::HashMap;

const CPU_PERIOD: u64 = 100_000;
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

fn int(hc: &HostConfig, key: &str) -> i64 {
    hc.extra.get(key).and_then(Value::as_i64).unwrap_or(0)
}

fn text(hc: &HostConfig, key: &str) -> String {
    hc.extra
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn invalid(msg: impl Into<String>) -> SpecError {
    SpecError::InvalidResources(msg.into())
}

fn rlimit_type(name: &str) -> Option<PosixRlimitType> {
    use PosixRlimitType::*;
    Some(match name {
        "core" => RlimitCore,
        "cpu" => RlimitCpu,
        "data" => RlimitData,
        "fsize" => RlimitFsize,
        "locks" => RlimitLocks,
        "memlock" => RlimitMemlock,
        "msgqueue" => RlimitMsgqueue,
        "nice" => RlimitNice,
        "nofile" => RlimitNofile,
        "nproc" => RlimitNproc,
        "rss" => RlimitRss,
        "rtprio" => RlimitRtprio,
        "rttime" => RlimitRttime,
        "sigpending" => RlimitSigpending,
        "stack" => RlimitStack,
        "as" => RlimitAs,
        _ => return None,
    })
}

/// Applies the HostConfig's limits to `spec` (linux.resources, process.rlimits,
/// linux.sysctl, oomScoreAdj). `ncpu` is the host's CPU count, for `--cpus` validation.
pub fn apply_resources(spec: &mut Spec, hc: &HostConfig, ncpu: usize) -> Result<(), SpecError> {
    let memory = int(hc, "Memory");
    let swap = int(hc, "MemorySwap");
    let reservation = int(hc, "MemoryReservation");
    if memory != 0 && memory < MIN_MEMORY {
        return Err(invalid("Minimum memory limit allowed is 6MB"));
    }
    if swap > 0 && memory > 0 && swap < memory {
        return Err(invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if swap != 0 && memory == 0 && swap != -1 {
        return Err(invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    let nano = int(hc, "NanoCpus");
    let quota = int(hc, "CpuQuota");
    let period = int(hc, "CpuPeriod");
    if nano > 0 && (quota > 0 || period > 0) {
        return Err(invalid(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if nano < 0 || nano > ncpu as i64 * 1_000_000_000 {
        return Err(invalid(format!(
            "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )));
    }
    let pids = hc
        .extra
        .get("PidsLimit")
        .and_then(Value::as_i64)
        .unwrap_or(0);

    let linux = spec.linux_mut().get_or_insert_with(Default::default);
    let mut res = linux.resources().clone().unwrap_or_default();

    let mut mem = LinuxMemoryBuilder::default();
    let mut any_mem = false;
    if memory > 0 {
        mem = mem.limit(memory);
        any_mem = true;
    }
    if swap != 0 {
        mem = mem.swap(swap);
        any_mem = true;
    }
    if reservation > 0 {
        mem = mem.reservation(reservation);
        any_mem = true;
    }
    if let Some(s) = hc.extra.get("MemorySwappiness").and_then(Value::as_i64) {
        if (0..=100).contains(&s) {
            mem = mem.swappiness(s as u64);
            any_mem = true;
        } else if s != -1 {
            return Err(invalid(format!(
                "Invalid value: {s}, valid memory swappiness range is 0-100"
            )));
        }
    }
    if hc.extra.get("OomKillDisable").and_then(Value::as_bool) == Some(true) {
        mem = mem.disable_oom_killer(true);
        any_mem = true;
    }
    if any_mem {
        res.set_memory(Some(mem.build()?));
    }

    let mut cpu = LinuxCpuBuilder::default();
    let mut any_cpu = false;
    let shares = int(hc, "CpuShares");
    if shares > 0 {
        cpu = cpu.shares(shares as u64);
        any_cpu = true;
    }
    if nano > 0 {
        cpu = cpu
            .period(CPU_PERIOD)
            .quota(nano * CPU_PERIOD as i64 / 1_000_000_000);
        any_cpu = true;
    } else {
        if period > 0 {
            cpu = cpu.period(period as u64);
            any_cpu = true;
        }
        if quota > 0 {
            cpu = cpu.quota(quota);
            any_cpu = true;
        }
    }
    let cpus = text(hc, "CpusetCpus");
    if !cpus.is_empty() {
        cpu = cpu.cpus(cpus);
        any_cpu = true;
    }
    let mems = text(hc, "CpusetMems");
    if !mems.is_empty() {
        cpu = cpu.mems(mems);
        any_cpu = true;
    }
    if any_cpu {
        res.set_cpu(Some(cpu.build()?));
    }
    if pids > 0 {
        res.set_pids(Some(LinuxPidsBuilder::default().limit(pids).build()?));
    }
    linux.set_resources(Some(res));

    if let Some(Value::Object(sysctls)) = hc.extra.get("Sysctls") {
        let mut map: HashMap<String, String> = linux.sysctl().clone().unwrap_or_default();
        for (k, v) in sysctls {
            map.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
        }
        linux.set_sysctl(Some(map));
    }

    if let Some(process) = spec.process_mut() {
        if let Some(Value::Array(ulimits)) = hc.extra.get("Ulimits") {
            let mut limits = process.rlimits().clone().unwrap_or_default();
            for u in ulimits {
                let name = u.get("Name").and_then(Value::as_str).unwrap_or_default();
                let typ = rlimit_type(name)
                    .ok_or_else(|| invalid(format!("invalid ulimit type: {name}")))?;
                let soft = u.get("Soft").and_then(Value::as_i64).unwrap_or(0).max(0) as u64;
                let hard = u.get("Hard").and_then(Value::as_i64).unwrap_or(0).max(0) as u64;
                if soft > hard {
                    return Err(invalid(format!(
                        "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
                    )));
                }
                limits.retain(|l| l.typ() != typ);
                limits.push(
                    PosixRlimitBuilder::default()
                        .typ(typ)
                        .soft(soft)
                        .hard(hard)
                        .build()?,
                );
            }
            process.set_rlimits(Some(limits));
        }
        let adj = int(hc, "OomScoreAdj");
        if adj != 0 {
            if !(-1000..=1000).contains(&adj) {
                return Err(invalid(format!(
                    "Invalid value {adj}, range for oom score adj is [-1000, 1000]"
                )));
            }
            process.set_oom_score_adj(Some(adj as i32));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hc(v: Value) -> HostConfig {
        serde_json::from_value(v).unwrap()
    }

    fn spec() -> Spec {
        Spec::default()
    }

    #[test]
    fn limits_land_in_the_spec() {
        let mut s = spec();
        let h = hc(
            json!({"Memory": 64 << 20, "MemorySwap": 128 << 20, "MemoryReservation": 32 << 20,
            "NanoCpus": 1_500_000_000i64, "CpuShares": 512, "CpusetCpus": "0", "PidsLimit": 50,
            "OomKillDisable": true, "Sysctls": {"net.ipv4.ip_forward": "1"},
            "Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": 200}], "OomScoreAdj": 500}),
        );
        apply_resources(&mut s, &h, 2).unwrap();
        let r = s.linux().as_ref().unwrap().resources().as_ref().unwrap();
        let m = r.memory().as_ref().unwrap();
        assert_eq!(m.limit(), Some(64 << 20));
        assert_eq!(m.swap(), Some(128 << 20));
        assert_eq!(m.reservation(), Some(32 << 20));
        assert_eq!(m.disable_oom_killer(), Some(true));
        let c = r.cpu().as_ref().unwrap();
        assert_eq!(c.quota(), Some(150_000));
        assert_eq!(c.period(), Some(100_000));
        assert_eq!(c.shares(), Some(512));
        assert_eq!(c.cpus().as_deref(), Some("0"));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 50);
        assert_eq!(
            s.linux().as_ref().unwrap().sysctl().as_ref().unwrap()["net.ipv4.ip_forward"],
            "1"
        );
        let p = s.process().as_ref().unwrap();
        let nofile = p
            .rlimits()
            .as_ref()
            .unwrap()
            .iter()
            .find(|l| l.typ() == PosixRlimitType::RlimitNofile)
            .unwrap();
        assert_eq!((nofile.soft(), nofile.hard()), (100, 200));
        assert_eq!(p.oom_score_adj(), Some(500));
    }

    #[test]
    fn nothing_set_means_no_limits() {
        let mut s = spec();
        apply_resources(&mut s, &HostConfig::default(), 2).unwrap();
        let r = s.linux().as_ref().unwrap().resources().as_ref().unwrap();
        assert!(r.memory().is_none() && r.cpu().is_none() && r.pids().is_none());
    }

    #[test]
    fn docker_refusals() {
        let bad = [
            (
                json!({"Memory": 1024}),
                "Minimum memory limit allowed is 6MB",
            ),
            (
                json!({"Memory": 64 << 20, "MemorySwap": 32 << 20}),
                "Minimum memoryswap",
            ),
            (
                json!({"MemorySwap": 32 << 20}),
                "You should always set the Memory limit",
            ),
            (
                json!({"NanoCpus": 3_000_000_000i64}),
                "Range of CPUs is from 0.01 to 2.00",
            ),
            (
                json!({"NanoCpus": 1_000_000_000i64, "CpuQuota": 1000}),
                "Conflicting options",
            ),
            (
                json!({"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 1}]}),
                "invalid ulimit type",
            ),
        ];
        for (v, want) in bad {
            let err = apply_resources(&mut spec(), &hc(v.clone()), 2)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{v}: {err}");
        }
    }
}
