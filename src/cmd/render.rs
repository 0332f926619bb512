//! `haimg render`: the files an image holds beyond its base, written to a
//! folder for review — byte for byte what `build` puts in the image.

use anyhow::{Context, Result};

use super::Cluster;
use crate::cmdline::RenderArgs;
use crate::plan::NodePlan;
use crate::source::{self, PayloadFile, fetch};

pub fn run(a: &RenderArgs) -> Result<()> {
    let c = Cluster::load(&a.file, true)?;
    c.print_warnings();
    let values = c.secret_values(a.with_secrets);
    let nodes = c.selected();
    super::publish_folder(&a.out, a.force, |dir| {
        for node in &nodes {
            let payload = payload(a, &c, node)?;
            let r = crate::render::render(&c.plan, node, &values, &payload);
            let dir = if c.loaded.selected.is_some() {
                dir.to_path_buf()
            } else {
                dir.join(&node.hostname)
            };
            crate::render::write_tree(&r, &dir)
                .with_context(|| format!("writing {}", node.hostname))?;
        }
        Ok(())
    })?;
    let names: Vec<&str> = nodes.iter().map(|n| n.hostname.as_str()).collect();
    eprintln!(
        "rendered {} into {}{}",
        names.join(", "),
        a.out.display(),
        if a.with_secrets {
            " (with secrets: keep it private)"
        } else {
            " (secrets redacted)"
        }
    );
    Ok(())
}

/// The payload as `build` would carry it: from `--payload`, else from the
/// cache (never the network: render only shows). Not cached: left out, said.
fn payload(a: &RenderArgs, c: &Cluster, node: &NodePlan) -> Result<Vec<PayloadFile>> {
    if let Some(dir) = &a.payload {
        return Ok(source::payload_from_dir(dir)?);
    }
    let fetcher = fetch::Fetcher::new(&fetch::Options {
        cache: a.cache.clone(),
        offline: true,
        quiet: true,
        ..fetch::Options::default()
    });
    match source::payload(&c.plan, node, &fetcher) {
        Ok(p) => Ok(p),
        Err(e) => {
            eprintln!(
                "haimg: note: {}: payload not shown ({e}); `haimg fetch` or --payload shows it",
                node.hostname
            );
            Ok(Vec::new())
        }
    }
}
