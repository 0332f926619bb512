//! `haimg fetch`: fill the cache so that builds can run offline.

use anyhow::{Context, Result};

use super::Cluster;
use crate::cmdline::FetchArgs;
use crate::config::BaseKind;
use crate::source::{self, fetch::Fetcher};

pub fn run(a: &FetchArgs) -> Result<()> {
    let c = Cluster::load(&a.file, false)?;
    let fetcher = Fetcher::new(&a.fetch.options());
    for node in c.selected() {
        let base = match node.base.kind {
            BaseKind::Image => {
                let art = source::base_artifact(node).context("the image base has no url")?;
                fetcher.get(&art)?
            }
            _ => source::base_tarball(node, &fetcher)?,
        };
        println!("{}: base {}", node.hostname, base.display());
        for p in source::payload(&c.plan, node, &fetcher)? {
            println!("{}: {} {}", node.hostname, p.name, p.path.display());
        }
    }
    // The stack's charts, once for the cluster, if a selected node carries them.
    if let Some(st) = &c.plan.stack
        && c.selected()
            .iter()
            .any(|n| crate::render::stack::deploys(&c.plan, n))
    {
        for ch in source::charts(&st.charts, &fetcher)? {
            println!("chart {} {} sha256:{}", ch.name, ch.version, ch.sha256);
        }
    }
    Ok(())
}
