//! The HostConfig entries the model keeps untyped (`Devices`, `DeviceCgroupRules`,
//! `Tmpfs`) decoded for [`SpecInput`](super::SpecInput), and the checks `create` runs so a
//! container that could never start is refused up front, as dockerd does.

use std::collections::BTreeMap;

use berth_model::api::HostConfig;
use serde::Deserialize;
use serde_json::Value;

use super::devices::{parse_cgroup_rule, DeviceMapping};
use super::tmpfs::{check_tmpfs_destination, tmpfs_options};
use super::{parse_security_opts, seccomp_from_json, SpecError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireDevice {
    #[serde(default)]
    path_on_host: String,
    #[serde(default)]
    path_in_container: String,
    #[serde(default)]
    cgroup_permissions: String,
}

/// Decodes `key` of the HostConfig; absent and `null` are the type's default.
fn field<T: for<'de> Deserialize<'de> + Default>(
    hc: &HostConfig,
    key: &str,
) -> Result<T, SpecError> {
    match hc.extra.get(key) {
        None | Some(Value::Null) => Ok(T::default()),
        Some(v) => T::deserialize(v)
            .map_err(|e| SpecError::InvalidResources(format!("invalid HostConfig.{key}: {e}"))),
    }
}

/// HostConfig.Devices.
pub fn device_mappings(hc: &HostConfig) -> Result<Vec<DeviceMapping>, SpecError> {
    let wire: Vec<WireDevice> = field(hc, "Devices")?;
    Ok(wire
        .into_iter()
        .map(|d| DeviceMapping {
            path_on_host: d.path_on_host,
            path_in_container: d.path_in_container,
            cgroup_permissions: d.cgroup_permissions,
        })
        .collect())
}

/// HostConfig.DeviceCgroupRules.
pub fn device_cgroup_rules(hc: &HostConfig) -> Result<Vec<String>, SpecError> {
    field(hc, "DeviceCgroupRules")
}

/// HostConfig.Tmpfs: destination to options (`size=1m,mode=1777`, possibly empty).
pub fn tmpfs_mounts(hc: &HostConfig) -> Result<BTreeMap<String, String>, SpecError> {
    field(hc, "Tmpfs")
}

/// What `create` can check without touching the host: security options (a custom seccomp
/// profile is decoded and converted for this host), device cgroup rules, tmpfs entries
/// and the shape of the device list. Missing host devices are found at start, as Docker
/// does, since a device may appear in between.
pub fn validate_host_config(hc: &HostConfig) -> Result<(), SpecError> {
    let security = parse_security_opts(hc.security_opt.as_deref().unwrap_or_default())?;
    if let Some(profile) = &security.seccomp_profile {
        let kernel = super::KernelVersion::running()?;
        seccomp_from_json(
            profile,
            &super::DEFAULT_CAPABILITIES,
            super::host_arch(),
            kernel,
        )?;
    }
    device_mappings(hc)?;
    for rule in device_cgroup_rules(hc)? {
        parse_cgroup_rule(&rule)?;
    }
    for (dest, options) in tmpfs_mounts(hc)? {
        check_tmpfs_destination(&dest)?;
        tmpfs_options(&options)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hc(extra: Value) -> HostConfig {
        serde_json::from_value(extra).unwrap()
    }

    #[test]
    fn decodes_docker_cli_fields() {
        let h = hc(json!({
            "Devices": [{"PathOnHost": "/dev/zero", "PathInContainer": "/dev/myzero",
                         "CgroupPermissions": "r"}],
            "DeviceCgroupRules": ["c 1:3 r"],
            "Tmpfs": {"/scratch": "size=1m", "/run": ""}
        }));
        assert_eq!(
            device_mappings(&h).unwrap(),
            [DeviceMapping {
                path_on_host: "/dev/zero".into(),
                path_in_container: "/dev/myzero".into(),
                cgroup_permissions: "r".into(),
            }]
        );
        assert_eq!(device_cgroup_rules(&h).unwrap(), ["c 1:3 r"]);
        let t = tmpfs_mounts(&h).unwrap();
        assert_eq!(t["/scratch"], "size=1m");
        assert_eq!(t["/run"], "");
        assert!(validate_host_config(&h).is_ok());

        let empty = hc(json!({"Devices": [], "DeviceCgroupRules": null}));
        assert!(device_mappings(&empty).unwrap().is_empty());
        assert!(device_cgroup_rules(&empty).unwrap().is_empty());
        assert!(tmpfs_mounts(&empty).unwrap().is_empty());
    }

    #[test]
    fn create_refuses_what_could_never_start() {
        for bad in [
            json!({"Tmpfs": {"/x": "bogus"}}),
            json!({"Tmpfs": {"rel": ""}}),
            json!({"DeviceCgroupRules": ["z 1:2 r"]}),
            json!({"Devices": "nope"}),
            json!({"SecurityOpt": ["seccomp={\"defaultAction\": \"SCMP_ACT_NOPE\"}"]}),
            json!({"SecurityOpt": ["seccomp=not json"]}),
        ] {
            let err = validate_host_config(&hc(bad.clone())).unwrap_err();
            assert_eq!(err.kind(), berth_model::ErrorKind::InvalidArgument, "{bad}");
        }
        let h = hc(json!({"SecurityOpt": ["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}"]}));
        assert!(validate_host_config(&h).is_ok());
    }
}
