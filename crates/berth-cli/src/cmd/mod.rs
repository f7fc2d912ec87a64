//! One module per command group.

pub mod build;
pub mod build_context;
pub mod build_output;
pub mod container;
pub mod container_cmd;
pub mod cp;
pub mod distribution;
pub mod events;
pub mod exec;
pub mod filesystem;
pub mod image;
pub mod image_archive;
pub mod image_verbs;
pub mod lifecycle;
pub mod network;
pub mod port;
pub mod progress;
pub mod prune;
pub mod run;
pub mod stats;
pub mod system;
pub mod update;
pub mod volume;
