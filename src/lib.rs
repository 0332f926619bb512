//! haimg builds flashable disk images for the nodes of a small HA K3s cluster.
//!
//! The pipeline, one module per stage:
//! `config` (TOML) → `plan` (checked NodePlan) → `render` (files) → disk → emit.

pub mod cli;
pub mod config;
pub mod diag;
pub mod plan;
pub mod render;
pub mod secrets;
