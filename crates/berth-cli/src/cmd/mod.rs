//! One module per command group.

pub mod container;
pub mod events;
pub mod exec;
pub mod image;
pub mod lifecycle;
pub mod run;
pub mod system;
