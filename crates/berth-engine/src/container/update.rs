//! `POST /containers/{id}/update`: new limits and restart policy. They are checked as
//! dockerd checks them (the request alone first, then against what the container has),
//! stored in the HostConfig, written to a running container's cgroup, and used by the
//! next start of a stopped one.

use super::Status;
use crate::Engine;
use berth_model::api::{
    ContainerUpdateRequest, ContainerUpdateResponse, HostConfig, RestartPolicy,
};
use berth_model::{Error, ErrorKind, Result};
use berth_runtime::cgroups::{Cgroup, ResourceUpdate};
use berth_runtime::spec;
use serde_json::Value;

const CPU_PERIOD: i64 = 100_000;
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

fn int(hc: &HostConfig, key: &str) -> i64 {
    hc.extra.get(key).and_then(Value::as_i64).unwrap_or(0)
}

/// dockerd's `validateRestartPolicy`.
fn validate_restart(p: &RestartPolicy) -> Result<()> {
    match p.name.as_str() {
        "always" | "unless-stopped" | "no" if p.maximum_retry_count != 0 => {
            Err(Error::invalid(format!(
                "maximum retry count cannot be used with restart policy '{}'",
                p.name
            )))
        }
        "on-failure" if p.maximum_retry_count < 0 => {
            Err(Error::invalid("maximum retry count cannot be negative"))
        }
        "" | "always" | "unless-stopped" | "no" | "on-failure" => Ok(()),
        other => Err(Error::invalid(format!("invalid restart policy '{other}'"))),
    }
}

/// A cpuset list (`0-2,4`) as indices; `None` when malformed.
fn parse_list(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if a > b {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// The host's cpuset lists (the root cpuset cgroup on v1, else the online CPUs).
fn host_list(name: &str, fallback: &str) -> String {
    for p in [
        format!("/sys/fs/cgroup/cpuset/{name}"),
        format!("/sys/fs/cgroup/{name}.effective"),
    ] {
        if let Ok(s) = std::fs::read_to_string(p) {
            if !s.trim().is_empty() {
                return s.trim().to_string();
            }
        }
    }
    fallback.to_string()
}

fn check_cpuset(value: &str, what: &str, available: &str, missing: &str) -> Result<()> {
    if value.is_empty() {
        return Ok(());
    }
    let want = parse_list(value).ok_or_else(|| {
        Error::invalid(format!(
            "Invalid value {value} for cpuset {what}: invalid format: {value}"
        ))
    })?;
    let have = parse_list(available).unwrap_or_default();
    if want.iter().any(|c| !have.contains(c)) {
        return Err(Error::invalid(format!(
            "Requested {missing} are not available - requested {value}, available: {available}"
        )));
    }
    Ok(())
}

/// The request's resources as a HostConfig, for the spec's checks (shared with create).
/// Swap without memory is left out: dockerd only refuses that when creating.
fn request_host_config(req: &ContainerUpdateRequest) -> HostConfig {
    let mut hc = HostConfig::default();
    let mut put = |k: &str, v: i64| {
        if v != 0 {
            hc.extra.insert(k.into(), v.into());
        }
    };
    put("Memory", req.memory);
    if req.memory != 0 {
        put("MemorySwap", req.memory_swap);
    }
    put("MemoryReservation", req.memory_reservation);
    put("NanoCpus", req.nano_cpus);
    put("CpuPeriod", req.cpu_period);
    put("CpuQuota", req.cpu_quota);
    put("CpuShares", req.cpu_shares);
    hc
}

/// dockerd's `verifyContainerSettings` for an update: the request on its own.
fn validate_request(req: &ContainerUpdateRequest, ncpu: usize) -> Result<()> {
    validate_restart(&req.restart_policy)?;
    if req.nano_cpus > 0 && req.cpu_quota > 0 {
        return Err(Error::invalid(
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ));
    }
    spec::apply_resources(
        &mut oci_spec::runtime::Spec::default(),
        &request_host_config(req),
        ncpu,
    )
    .map_err(|e| Error::new(e.kind(), e.to_string()))?;
    if req.memory_reservation > 0 && req.memory_reservation < MIN_MEMORY {
        return Err(Error::invalid("Minimum memory reservation allowed is 6MB"));
    }
    if req.memory > 0 && req.memory_reservation > 0 && req.memory < req.memory_reservation {
        return Err(Error::invalid(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    if req.cpu_period != 0 && !(1000..=1_000_000).contains(&req.cpu_period) {
        return Err(Error::invalid(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1 second (i.e. 1000000)",
        ));
    }
    if req.cpu_quota > 0 && req.cpu_quota < 1000 {
        return Err(Error::invalid(
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        ));
    }
    let cpus = host_list("cpuset.cpus", &format!("0-{}", ncpu.saturating_sub(1)));
    check_cpuset(&req.cpuset_cpus, "cpus", &cpus, "CPUs")?;
    let mems = host_list("cpuset.mems", "0");
    check_cpuset(&req.cpuset_mems, "mems", &mems, "memory nodes")?;
    if req.blkio_weight > 0 && !(10..=1000).contains(&req.blkio_weight) {
        return Err(Error::invalid("Range of blkio weight is from 10 to 1000"));
    }
    Ok(())
}

/// dockerd's `UpdateContainer`: the request over the stored HostConfig, with its checks
/// against what is already set. Zero leaves a value as it is.
pub(crate) fn merge(
    current: &HostConfig,
    req: &ContainerUpdateRequest,
) -> std::result::Result<HostConfig, String> {
    let cur = |k: &str| int(current, k);
    if req.nano_cpus > 0 && cur("CpuPeriod") > 0 {
        return Err(
            "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set"
                .into(),
        );
    }
    if req.nano_cpus > 0 && cur("CpuQuota") > 0 {
        return Err(
            "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set"
                .into(),
        );
    }
    if req.cpu_period > 0 && cur("NanoCpus") > 0 {
        return Err(
            "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set"
                .into(),
        );
    }
    if req.cpu_quota > 0 && cur("NanoCpus") > 0 {
        return Err(
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"
                .into(),
        );
    }
    if req.memory != 0 {
        // dockerd stores twice the memory as MemorySwap when a container is created with
        // a memory limit and no swap setting; that is the swap limit it compares with.
        let swap = match (cur("MemorySwap"), cur("Memory")) {
            (0, m) if m > 0 => 2 * m,
            (s, _) => s,
        };
        if req.memory > swap && req.memory_swap == 0 {
            return Err("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time".into());
        }
    }
    let mut hc = current.clone();
    let mut set = |k: &str, v: Value| {
        hc.extra.insert(k.into(), v);
    };
    for (k, v) in [
        ("BlkioWeight", i64::from(req.blkio_weight)),
        ("CpuShares", req.cpu_shares),
        ("NanoCpus", req.nano_cpus),
        ("CpuPeriod", req.cpu_period),
        ("CpuQuota", req.cpu_quota),
        ("Memory", req.memory),
        ("MemorySwap", req.memory_swap),
        ("MemoryReservation", req.memory_reservation),
    ] {
        if v != 0 {
            set(k, v.into());
        }
    }
    if !req.cpuset_cpus.is_empty() {
        set("CpusetCpus", req.cpuset_cpus.clone().into());
    }
    if !req.cpuset_mems.is_empty() {
        set("CpusetMems", req.cpuset_mems.clone().into());
    }
    if let Some(p) = req.pids_limit {
        // 0 and any negative value both mean unlimited, stored as 0.
        set("PidsLimit", p.max(0).into());
    }
    if !req.restart_policy.name.is_empty() {
        if current.auto_remove && req.restart_policy.name != "no" {
            return Err(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
                    .into(),
            );
        }
        hc.restart_policy = req.restart_policy.clone();
    }
    Ok(hc)
}

/// What to write to a running container's cgroup: the request's values only, as
/// dockerd hands them to the runtime.
pub(crate) fn resource_update(req: &ContainerUpdateRequest) -> ResourceUpdate {
    let nz = |v: i64| (v != 0).then_some(v);
    let (quota, period) = if req.nano_cpus > 0 {
        (
            Some(req.nano_cpus * CPU_PERIOD / 1_000_000_000),
            Some(CPU_PERIOD as u64),
        )
    } else {
        (
            nz(req.cpu_quota),
            (req.cpu_period > 0).then_some(req.cpu_period as u64),
        )
    };
    ResourceUpdate {
        memory: nz(req.memory),
        memory_swap: nz(req.memory_swap),
        memory_reservation: nz(req.memory_reservation),
        cpu_shares: (req.cpu_shares > 0).then_some(req.cpu_shares as u64),
        cpu_quota: quota,
        cpu_period: period,
        cpuset_cpus: (!req.cpuset_cpus.is_empty()).then(|| req.cpuset_cpus.clone()),
        cpuset_mems: (!req.cpuset_mems.is_empty()).then(|| req.cpuset_mems.clone()),
        pids_limit: req.pids_limit,
        blkio_weight: (req.blkio_weight > 0).then_some(req.blkio_weight),
    }
}

impl Engine {
    pub async fn update(
        &self,
        id_or_name: &str,
        req: ContainerUpdateRequest,
    ) -> Result<ContainerUpdateResponse> {
        let c = self.get(id_or_name)?;
        let ncpu = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        validate_request(&req, ncpu)?;
        let _op = c.op.lock().await;
        let (current, status) = {
            let inner = c.lock();
            (inner.record.host_config.clone(), inner.record.state.status)
        };
        let cannot = |kind: ErrorKind, msg: String| {
            Error::new(kind, format!("Cannot update container {}: {msg}", c.id))
        };
        if matches!(status, Status::Removing | Status::Dead) {
            return Err(cannot(
                ErrorKind::Conflict,
                "Container is marked for removal and cannot be \"update\".".into(),
            ));
        }
        let merged = merge(&current, &req).map_err(|m| cannot(ErrorKind::InvalidArgument, m))?;
        let mut warnings = Vec::new();
        if matches!(status, Status::Running | Status::Paused) {
            let cg = Cgroup::for_path(&format!("berth/{}", c.id));
            let ru = resource_update(&req);
            warnings = tokio::task::spawn_blocking(move || cg.update(&ru))
                .await
                .map_err(|e| Error::internal(e.to_string()))?
                .map_err(|e| cannot(e.kind(), e.to_string()))?;
        }
        c.lock().record.host_config = merged;
        self.persist(&c).await?;
        self.emit_container(&c, "update", &[]);
        Ok(ContainerUpdateResponse {
            warnings: (!warnings.is_empty()).then_some(warnings),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hc(v: Value) -> HostConfig {
        serde_json::from_value(v).unwrap()
    }

    fn req(v: Value) -> ContainerUpdateRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn merge_keeps_what_is_not_sent() {
        let cur = hc(
            json!({"Memory": 32 << 20, "CpuShares": 512, "PidsLimit": 10,
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}}),
        );
        let m = merge(
            &cur,
            &req(
                json!({"Memory": 64 << 20, "PidsLimit": -1, "CpusetCpus": "0",
                "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}}),
            ),
        )
        .unwrap();
        assert_eq!(m.extra["Memory"], json!(64 << 20));
        assert_eq!(m.extra["CpuShares"], json!(512));
        assert_eq!(m.extra["PidsLimit"], json!(0));
        assert_eq!(m.extra["CpusetCpus"], json!("0"));
        assert_eq!(m.restart_policy.name, "on-failure");
        assert_eq!(m.restart_policy.maximum_retry_count, 3);
        // An empty policy name leaves the policy alone.
        let m = merge(&cur, &req(json!({"CpuShares": 0}))).unwrap();
        assert_eq!(m, cur);
    }

    #[test]
    fn docker_refusals_against_the_container() {
        let cases = [
            (
                json!({}),
                json!({"Memory": 64 << 20}),
                "Memory limit should be smaller than already set memoryswap limit",
            ),
            (
                json!({"Memory": 16 << 20}),
                json!({"Memory": 64 << 20}),
                "Memory limit should be smaller",
            ),
            (
                json!({"CpuPeriod": 50000}),
                json!({"NanoCpus": 1_000_000_000}),
                "Nano CPUs cannot be updated as CPU Period has already been set",
            ),
            (
                json!({"CpuQuota": 50000}),
                json!({"NanoCpus": 1_000_000_000}),
                "Nano CPUs cannot be updated as CPU Quota",
            ),
            (
                json!({"NanoCpus": 1_000_000_000}),
                json!({"CpuPeriod": 50000}),
                "CPU Period cannot be updated as NanoCPUs",
            ),
            (
                json!({"NanoCpus": 1_000_000_000}),
                json!({"CpuQuota": 50000}),
                "CPU Quota cannot be updated as NanoCPUs",
            ),
            (
                json!({"AutoRemove": true}),
                json!({"RestartPolicy": {"Name": "always"}}),
                "Restart policy cannot be updated because AutoRemove is enabled for the container",
            ),
        ];
        for (cur, r, want) in cases {
            let err = merge(&hc(cur.clone()), &req(r.clone())).unwrap_err();
            assert!(err.contains(want), "{cur} {r}: {err}");
        }
        // Twice the created memory is the swap limit dockerd would have stored.
        assert!(merge(
            &hc(json!({"Memory": 32 << 20})),
            &req(json!({"Memory": 64 << 20}))
        )
        .is_ok());
        assert!(merge(
            &hc(json!({})),
            &req(json!({"Memory": 64 << 20, "MemorySwap": -1}))
        )
        .is_ok());
        assert!(merge(
            &hc(json!({"AutoRemove": true})),
            &req(json!({"RestartPolicy": {"Name": "no"}}))
        )
        .is_ok());
    }

    #[test]
    fn request_checks() {
        let bad = [
            (
                json!({"Memory": 1024}),
                "Minimum memory limit allowed is 6MB",
            ),
            (
                json!({"Memory": 64 << 20, "MemorySwap": 32 << 20}),
                "Minimum memoryswap limit should be larger than memory limit",
            ),
            (
                json!({"NanoCpus": 3_000_000_000i64}),
                "Range of CPUs is from 0.01 to 2.00",
            ),
            (
                json!({"NanoCpus": 1_000_000_000, "CpuQuota": 5000}),
                "Nano CPUs and CPU Quota cannot both be set",
            ),
            (
                json!({"NanoCpus": 1_000_000_000, "CpuPeriod": 5000}),
                "Nano CPUs and CPU Period cannot both be set",
            ),
            (
                json!({"CpuPeriod": 10}),
                "CPU cfs period can not be less than 1ms",
            ),
            (
                json!({"CpuQuota": 10}),
                "CPU cfs quota can not be less than 1ms",
            ),
            (
                json!({"MemoryReservation": 1024}),
                "Minimum memory reservation allowed is 6MB",
            ),
            (
                json!({"Memory": 8 << 20, "MemoryReservation": 16 << 20}),
                "Minimum memory limit can not be less than memory reservation limit",
            ),
            (
                json!({"BlkioWeight": 5}),
                "Range of blkio weight is from 10 to 1000",
            ),
            (
                json!({"CpusetCpus": "x"}),
                "Invalid value x for cpuset cpus",
            ),
            (
                json!({"CpusetCpus": "0-63"}),
                "Requested CPUs are not available - requested 0-63",
            ),
            (
                json!({"RestartPolicy": {"Name": "sometimes"}}),
                "invalid restart policy 'sometimes'",
            ),
            (
                json!({"RestartPolicy": {"Name": "always", "MaximumRetryCount": 2}}),
                "maximum retry count cannot be used with restart policy 'always'",
            ),
            (
                json!({"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": -1}}),
                "maximum retry count cannot be negative",
            ),
        ];
        for (r, want) in bad {
            let err = validate_request(&req(r.clone()), 2).unwrap_err();
            assert!(err.message.contains(want), "{r}: {}", err.message);
            assert_eq!(err.kind, ErrorKind::InvalidArgument, "{r}");
        }
        // Swap alone is fine in an update (dockerd only refuses it at create).
        validate_request(&req(json!({"MemorySwap": 64 << 20})), 2).unwrap();
        validate_request(
            &req(json!({"Memory": 64 << 20, "PidsLimit": 20, "CpusetCpus": "0"})),
            2,
        )
        .unwrap();
    }

    #[test]
    fn cgroup_writes_follow_the_request() {
        let u = resource_update(&req(
            json!({"NanoCpus": 1_500_000_000i64, "Memory": 64 << 20, "PidsLimit": 0}),
        ));
        assert_eq!(u.cpu_quota, Some(150_000));
        assert_eq!(u.cpu_period, Some(100_000));
        assert_eq!(u.memory, Some(64 << 20));
        assert_eq!(u.memory_swap, None);
        assert_eq!(u.pids_limit, Some(0));
        let u = resource_update(&req(json!({"CpuQuota": -1})));
        assert_eq!((u.cpu_quota, u.cpu_period), (Some(-1), None));
        assert_eq!(resource_update(&req(json!({}))), ResourceUpdate::default());
    }
}
