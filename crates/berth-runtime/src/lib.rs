//! OCI spec generation, the Runtime trait, the per-container shim.

pub mod cgroups;
pub mod logs;
pub mod runtime;
pub mod shim;
pub mod spec;

pub use runtime::{
    CreateOpts, LibcontainerRuntime, OciBinaryRuntime, Runtime, RuntimeError, RuntimeState,
};
pub use shim::{
    read_exit_status, shim_main, ExecSession, ExecSpec, ExitStatus, ShimAttach, ShimClient,
    ShimConfig, ShimError, ShimState,
};
