//! `haimg secrets init`: the cluster's secret files, made once.

use std::path::Path;

use anyhow::{Context, Result};

use crate::secrets;

pub fn init(cluster_file: &Path) -> Result<()> {
    let loaded = crate::config::load(cluster_file)?;
    let (token_path, authkey_path) = crate::plan::secret_files(&loaded);
    let token = secrets::new_token().context("reading the OS random number generator")?;
    let mut outcomes = vec![
        (token_path, format!("{}\n", token.expose()), "K3s token"),
        (
            authkey_path.clone(),
            secrets::AUTHKEY_PLACEHOLDER.to_string(),
            "Tailscale auth-key placeholder",
        ),
    ];
    // The stack's passwords: each its own 256 bits from the OS CSPRNG,
    // never the seed's literals.
    for (path, what) in crate::plan::stack_secret_files(&loaded) {
        let value = secrets::new_token().context("reading the OS random number generator")?;
        outcomes.push((path, format!("{}\n", value.expose()), what));
    }
    for (path, contents, what) in &outcomes {
        match secrets::create_secret_file(path, contents)
            .with_context(|| format!("creating {}", path.display()))?
        {
            secrets::InitOutcome::Created => {
                eprintln!("created {} ({what}, mode 0600)", path.display())
            }
            secrets::InitOutcome::Kept => eprintln!(
                "kept {}: it exists and is never overwritten",
                path.display()
            ),
        }
    }
    eprintln!(
        "next: put a Tailscale auth key into {} (see the comments in it)",
        authkey_path.display()
    );
    Ok(())
}
