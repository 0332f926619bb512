//! The commands: one module each, over a loaded cluster they share.

mod build;
mod fetch;
mod flash;
mod forget;
mod inspect;
mod plan;
mod render;
mod secrets;

use std::path::Path;

use anyhow::Result;

use crate::cmdline::{Cli, Command, SecretsCommand};
use crate::config::Loaded;
use crate::diag::{self, ConfigError, Diags};
use crate::plan::ClusterSecrets;
use crate::plan::{ClusterPlan, NodePlan};
use crate::render::SecretValues;

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Plan(a) => plan::run(&a),
        Command::Render(a) => render::run(&a),
        Command::Build(a) => build::run(&a),
        Command::Fetch(a) => fetch::run(&a),
        Command::Forget(a) => forget::run(&a),
        Command::Inspect(a) => inspect::run(&a),
        Command::Flash(a) => flash::run(&a),
        Command::Secrets {
            command: SecretsCommand::Init { cluster },
        } => secrets::init(&cluster),
    }
}

/// A cluster loaded, planned and with its secrets read: what every command
/// that works on nodes starts from.
pub struct Cluster {
    pub plan: ClusterPlan,
    pub loaded: Loaded,
    pub secrets: ClusterSecrets,
    /// Findings that are not errors.
    pub warnings: Diags,
}

impl Cluster {
    /// Load `file` (cluster or node file) and plan it; every finding goes
    /// into one report. `strict_secrets`: a missing secret is an error.
    pub fn load(file: &Path, strict_secrets: bool) -> Result<Cluster> {
        let loaded = crate::config::load(file)?;
        let (plan, mut loaded, mut diags) = crate::plan::build(loaded)?;
        let secrets = crate::plan::read_secrets(&plan, &loaded, strict_secrets, &mut diags);
        let mut all = std::mem::take(&mut loaded.warnings);
        all.extend(diags);
        if all.has_errors() {
            return Err(ConfigError {
                sources: std::mem::take(&mut loaded.sources),
                diags: all.items,
            }
            .into());
        }
        Ok(Cluster {
            plan,
            loaded,
            secrets,
            warnings: all,
        })
    }

    /// The node a node file named, or every node for a cluster file.
    pub fn selected(&self) -> Vec<&NodePlan> {
        match self.loaded.selected {
            Some(i) => vec![&self.plan.nodes[i]],
            None => self.plan.nodes.iter().collect(),
        }
    }

    /// The secrets to write; `None`s write placeholders.
    pub fn secret_values(&self, real: bool) -> SecretValues<'_> {
        SecretValues {
            token: self.secrets.token.as_ref().filter(|_| real),
            authkey: self.secrets.authkey.as_ref().filter(|_| real),
        }
    }

    /// Warnings with their file, line and column, on stderr.
    pub fn print_warnings(&self) {
        if !self.warnings.items.is_empty() {
            eprint!(
                "{}",
                diag::render(&self.loaded.sources, &self.warnings.items)
            );
        }
    }
}
