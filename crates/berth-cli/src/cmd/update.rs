//! `berth update`: new resource limits or restart policy for one or more containers,
//! with the docker CLI's flags and the body it sends.

use crate::client::{seg, Client};
use crate::cmd::container::for_each;
use crate::errors::StatusError;
use crate::opts::{parse_cpus, parse_go_int, parse_restart, ram_in_bytes, FlagError};
use berth_model::api::{ContainerUpdateRequest, ContainerUpdateResponse};
use clap::Args;

#[derive(Debug, Clone, Default, Args)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)
    #[arg(long = "blkio-weight", value_name = "uint16")]
    pub blkio_weight: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int")]
    pub cpu_period: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int", allow_hyphen_values = true)]
    pub cpu_quota: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int")]
    pub cpu_shares: Option<String>,
    /// Number of CPUs
    #[arg(long, value_name = "decimal")]
    pub cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "string")]
    pub cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long, value_name = "bytes")]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    /// Restart policy to apply when a container exits
    #[arg(long, value_name = "string")]
    pub restart: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// A refused flag value, printed as cobra's flag errors and exiting 125.
fn flag_error(flag: &'static str, value: &str, reason: impl std::fmt::Display) -> anyhow::Error {
    let f = FlagError {
        flag,
        value: value.to_string(),
        reason: reason.to_string(),
    };
    StatusError {
        code: 125,
        message: Some(format!(
            "{f}\n\nUsage:  berth update [OPTIONS] CONTAINER [CONTAINER...]\n\n\
             Run 'berth update --help' for more information"
        )),
    }
    .into()
}

fn int(flag: &'static str, v: &Option<String>) -> anyhow::Result<Option<i64>> {
    v.as_deref()
        .map(|s| parse_go_int(s).map_err(|e| flag_error(flag, s, e)))
        .transpose()
}

fn bytes(flag: &'static str, v: &Option<String>) -> anyhow::Result<Option<i64>> {
    v.as_deref()
        .map(|s| ram_in_bytes(s).map_err(|e| flag_error(flag, s, e)))
        .transpose()
}

/// The body the docker CLI sends: every flag given, zero for the others (which the
/// daemon reads as "unchanged"); `PidsLimit` only when the flag was given.
pub fn update_body(a: &UpdateArgs) -> anyhow::Result<ContainerUpdateRequest> {
    let memory = bytes("-m, --memory", &a.memory)?;
    let reservation = bytes("--memory-reservation", &a.memory_reservation)?;
    let swap = match a.memory_swap.as_deref() {
        Some("-1") => Some(-1),
        _ => bytes("--memory-swap", &a.memory_swap)?,
    };
    let blkio = match a.blkio_weight.as_deref() {
        None => None,
        Some(s) => Some(
            parse_go_int(s)
                .ok()
                .and_then(|v| u16::try_from(v).ok())
                .ok_or_else(|| {
                    flag_error(
                        "--blkio-weight",
                        s,
                        format!("strconv.ParseUint: parsing \"{s}\": invalid syntax"),
                    )
                })?,
        ),
    };
    let nano = a
        .cpus
        .as_deref()
        .map(|c| parse_cpus(c).map_err(|e| flag_error("--cpus", c, e)))
        .transpose()?;
    let restart = a.restart.as_deref().map(parse_restart).transpose()?;
    let any = [
        &a.blkio_weight,
        &a.cpu_period,
        &a.cpu_quota,
        &a.cpu_shares,
        &a.cpus,
        &a.cpuset_cpus,
        &a.cpuset_mems,
        &a.memory,
        &a.memory_reservation,
        &a.memory_swap,
        &a.pids_limit,
        &a.restart,
    ]
    .iter()
    .any(|f| f.is_some());
    if !any {
        anyhow::bail!("you must provide one or more flags when using this command");
    }
    Ok(ContainerUpdateRequest {
        blkio_weight: blkio.unwrap_or(0),
        cpu_shares: int("-c, --cpu-shares", &a.cpu_shares)?.unwrap_or(0),
        memory: memory.unwrap_or(0),
        nano_cpus: nano.unwrap_or(0),
        cpu_period: int("--cpu-period", &a.cpu_period)?.unwrap_or(0),
        cpu_quota: int("--cpu-quota", &a.cpu_quota)?.unwrap_or(0),
        cpuset_cpus: a.cpuset_cpus.clone().unwrap_or_default(),
        cpuset_mems: a.cpuset_mems.clone().unwrap_or_default(),
        memory_reservation: reservation.unwrap_or(0),
        memory_swap: swap.unwrap_or(0),
        pids_limit: int("--pids-limit", &a.pids_limit)?,
        restart_policy: restart.unwrap_or_default(),
        extra: Default::default(),
    })
}

pub async fn update(client: &Client, a: UpdateArgs) -> anyhow::Result<i32> {
    let body = update_body(&a)?;
    let body = &body;
    let code = for_each(client, &a.containers, |n| async move {
        let resp: ContainerUpdateResponse = client
            .post_json(&format!("/containers/{}/update", seg(&n)), body)
            .await?;
        for w in resp.warnings.iter().flatten() {
            eprintln!("{w}");
        }
        Ok(n)
    })
    .await?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrap {
        #[command(flatten)]
        a: UpdateArgs,
    }

    fn args(argv: &[&str]) -> UpdateArgs {
        Wrap::try_parse_from(std::iter::once("update").chain(argv.iter().copied()))
            .unwrap()
            .a
    }

    #[test]
    fn body_like_the_docker_cli() {
        let b = update_body(&args(&[
            "--memory",
            "64m",
            "--pids-limit",
            "20",
            "--cpus",
            "0.5",
            "--restart",
            "on-failure:3",
            "--memory-swap",
            "-1",
            "--cpuset-cpus",
            "0",
            "c1",
            "c2",
        ]))
        .unwrap();
        assert_eq!(b.memory, 64 << 20);
        assert_eq!(b.pids_limit, Some(20));
        assert_eq!(b.nano_cpus, 500_000_000);
        assert_eq!(b.memory_swap, -1);
        assert_eq!(b.cpuset_cpus, "0");
        assert_eq!(b.restart_policy.name, "on-failure");
        assert_eq!(b.restart_policy.maximum_retry_count, 3);
        let v = serde_json::to_value(&b).unwrap();
        assert_eq!(v["Memory"], 67108864);
        assert_eq!(v["NanoCpus"], 500_000_000);
        assert_eq!(v["RestartPolicy"]["Name"], "on-failure");
        // Without --pids-limit the field is absent, so the daemon leaves it alone.
        let v = serde_json::to_value(update_body(&args(&["-c", "512", "c"])).unwrap()).unwrap();
        assert!(v.get("PidsLimit").is_none());
        assert_eq!(v["CpuShares"], 512);
        assert_eq!(v["RestartPolicy"]["Name"], "");
        assert_eq!(
            update_body(&args(&["--pids-limit", "-1", "c"]))
                .unwrap()
                .pids_limit,
            Some(-1)
        );
    }

    #[test]
    fn refusals() {
        let e = update_body(&args(&["c"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "you must provide one or more flags when using this command"
        );
        let e = update_body(&args(&["-m", "x", "c"])).unwrap_err();
        let s = e.downcast_ref::<StatusError>().unwrap();
        assert_eq!(s.code, 125);
        assert!(s
            .message
            .as_deref()
            .unwrap()
            .starts_with("invalid argument \"x\" for \"-m, --memory\" flag: invalid size: 'x'"));
        assert!(update_body(&args(&["--restart", "sometimes", "c"]))
            .unwrap_err()
            .to_string()
            .contains("unknown policy"));
        assert!(update_body(&args(&["--pids-limit", "x", "c"])).is_err());
        assert!(update_body(&args(&["--blkio-weight", "70000", "c"])).is_err());
    }
}
