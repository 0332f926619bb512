//! `haimg build`: one image per selected node.

use anyhow::{Context, Result};

use super::Cluster;
use crate::build;
use crate::cmdline::BuildArgs;
use crate::plan::Role;
use crate::source::fetch::Fetcher;

pub fn run(a: &BuildArgs) -> Result<()> {
    let c = Cluster::load(&a.file, true)?;
    if !a.fetch.quiet {
        c.print_warnings();
    }
    let fetcher = Fetcher::new(&a.fetch.options());
    let opts = build::Options {
        out_dir: a.out.clone(),
        payload: a.payload.clone(),
        quiet: a.fetch.quiet,
        compress: a.compress.iter().map(|c| c.format()).collect(),
        new_cluster: a.new_cluster,
    };
    if a.new_cluster && !c.selected().iter().any(|n| n.role == Role::Bootstrap) {
        anyhow::bail!(
            "--new-cluster applies to the bootstrap server's image, and {} builds none",
            a.file.display()
        );
    }
    let values = c.secret_values(true);
    let mut written = Vec::new();
    for node in c.selected() {
        let built = build::build(&c.plan, node, &values, &fetcher, &opts)
            .with_context(|| format!("building {}", node.hostname))?;
        println!("{}  {}", built.sha256, built.image.display());
        written.extend(built.outputs);
        // After each node: a later failure keeps the list true for what exists.
        crate::emit::write_sums(&a.out, &written)
            .with_context(|| format!("writing {}", a.out.join("SHA256SUMS").display()))?;
    }
    Ok(())
}
