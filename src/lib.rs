//! haimg builds flashable disk images for the nodes of a small HA K3s cluster.
//!
//! The pipeline, one module per stage:
//! `config` (TOML) → `plan` (checked NodePlan) → `source` (base) → `render`
//! (files) → `disk` (image) → `emit` (outputs); `build` drives them.

pub mod build;
pub mod cleanup;
pub mod cmd;
pub mod cmdline;
pub mod config;
pub mod device;
pub mod diag;
pub mod disk;
pub mod emit;
pub mod io;
pub mod plan;
pub mod progress;
pub mod render;
pub mod secrets;
pub mod source;
pub mod sparse;
pub mod tool;
pub mod tree;
