//! The commands: one module each, over a loaded cluster they share.

mod build;
mod eeprom;
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
        Command::Eeprom(a) => eeprom::run(&a),
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
            stack: Some(self.secrets.stack.as_slice()).filter(|_| real),
        }
    }

    /// The stack's secret files that could not be read.
    pub fn missing_stack_secrets(&self) -> Vec<String> {
        crate::plan::stack_secret_files(&self.loaded)
            .into_iter()
            .map(|(p, _)| p.display().to_string())
            .filter(|p| {
                !self
                    .secrets
                    .stack
                    .iter()
                    .any(|(n, _)| p.ends_with(&format!("/{n}")) || p == n)
            })
            .collect()
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

/// Make folder `out` as `fill` fills a temporary folder beside it, then
/// rename it into place: a failure or a signal leaves no half folder.
/// A non-empty `out` is replaced only with `force`.
pub(crate) fn publish_folder(
    out: &Path,
    force: bool,
    fill: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    use anyhow::Context;
    prepare_out_dir(out, force)?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".haimg-out-")
        .tempdir_in(parent)
        .with_context(|| format!("creating a temporary folder in {}", parent.display()))?;
    let guard = crate::cleanup::Guard::new(tmp.path());
    fill(tmp.path())?;
    if out.exists() {
        std::fs::remove_dir_all(out).with_context(|| format!("removing {}", out.display()))?;
    }
    let kept = tmp.keep();
    std::fs::rename(&kept, out)
        .with_context(|| format!("moving the result to {}", out.display()))?;
    drop(guard);
    Ok(())
}

fn prepare_out_dir(out: &Path, force: bool) -> Result<()> {
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() && !force {
                anyhow::bail!(
                    "{} exists and is not empty; use --force to replace it",
                    out.display()
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("reading {}", out.display()))),
    }
}

/// A timestamp that says when something was made: SOURCE_DATE_EPOCH when set
/// (reproducible outputs), else now. Imager's release date and the EEPROM
/// `.sig`'s `ts:` (as rpi-eeprom-digest) use it.
pub(crate) fn made_at() -> i64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        })
}
