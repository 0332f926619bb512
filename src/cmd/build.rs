//! `haimg build`: one image per selected node.

use anyhow::{Context, Result};

use super::Cluster;
use crate::build;
use crate::cmdline::BuildArgs;
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
    };
    let values = c.secret_values(true);
    for node in c.selected() {
        let built = build::build(&c.plan, node, &values, &fetcher, &opts)
            .with_context(|| format!("building {}", node.hostname))?;
        println!("{}  {}", built.sha256, built.image.display());
    }
    Ok(())
}
