//! `/version` and `/info`.

use crate::Engine;
use berth_model::api::{Version, API_VERSION, MIN_API_VERSION};
use berth_model::image::host_architecture;
use berth_model::Result;
use serde_json::{json, Value};

pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");

fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn cgroup_version() -> &'static str {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    }
}

impl Engine {
    pub fn version(&self) -> Result<Version> {
        Ok(Version {
            platform: json!({"Name": "Berth"}),
            components: vec![json!({
                "Name": "Engine",
                "Version": ENGINE_VERSION,
                "Details": {
                    "ApiVersion": API_VERSION,
                    "Arch": host_architecture(),
                    "MinAPIVersion": MIN_API_VERSION,
                    "Os": "linux",
                    "KernelVersion": kernel_version(),
                }
            })],
            version: ENGINE_VERSION.into(),
            api_version: API_VERSION.into(),
            min_api_version: MIN_API_VERSION.into(),
            git_commit: String::new(),
            go_version: "n/a (rust)".into(),
            os: "linux".into(),
            arch: host_architecture().into(),
            kernel_version: kernel_version(),
            build_time: String::new(),
        })
    }

    pub async fn info(&self) -> Result<Value> {
        let containers = self.all_containers();
        let mut running = 0;
        let mut paused = 0;
        let mut stopped = 0;
        for c in &containers {
            match c.record().state.status {
                crate::container::Status::Running => running += 1,
                crate::container::Status::Paused => paused += 1,
                _ => stopped += 1,
            }
        }
        let images = self
            .blocking(|s| s.list_images().map_err(berth_model::Error::from))
            .await
            .map(|v| v.len())
            .unwrap_or(0);
        let uts = nix::sys::utsname::uname().ok();
        let hostname = uts
            .as_ref()
            .map(|u| u.nodename().to_string_lossy().into_owned())
            .unwrap_or_default();
        let os = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix("PRETTY_NAME=")
                        .map(|v| v.trim_matches('"').to_string())
                })
            })
            .unwrap_or_else(|| "Linux".into());
        let mem = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix("MemTotal:")
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
                })
            })
            .unwrap_or(0)
            * 1024;
        Ok(json!({
            "ID": "",
            "Containers": containers.len(),
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": stopped,
            "Images": images,
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"]],
            "Plugins": {"Volume": ["local"], "Network": ["null"], "Authorization": null, "Log": ["json-file"]},
            "MemoryLimit": true,
            "SwapLimit": true,
            "CpuCfsPeriod": true,
            "CpuCfsQuota": true,
            "CPUShares": true,
            "CPUSet": true,
            "PidsLimit": true,
            "IPv4Forwarding": true,
            "Debug": false,
            "NFd": 0,
            "OomKillDisable": true,
            "NGoroutines": 0,
            "SystemTime": super::container::now_rfc3339(),
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": cgroup_version(),
            "NEventsListener": 0,
            "KernelVersion": kernel_version(),
            "OperatingSystem": os,
            "OSVersion": "",
            "OSType": "linux",
            "Architecture": std::env::consts::ARCH,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {}, "Mirrors": []},
            "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "MemTotal": mem,
            "DockerRootDir": self.data_root().display().to_string(),
            "Name": hostname,
            "Labels": [],
            "ExperimentalBuild": false,
            "ServerVersion": ENGINE_VERSION,
            "Runtimes": {"berth": {"path": "libcontainer"}},
            "DefaultRuntime": "berth",
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
            "LiveRestoreEnabled": true,
            "Isolation": "",
            "InitBinary": "",
            "SecurityOptions": ["name=seccomp,profile=default"],
            "Warnings": []
        }))
    }
}
