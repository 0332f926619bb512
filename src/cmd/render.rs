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
            let charts = charts(a, &c, node);
            let r = crate::render::render(&c.plan, node, &values, &payload, &charts);
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

/// The stack's charts as `build` would carry them, from the cache only; not
/// cached: shown as repository references, said.
fn charts(a: &RenderArgs, c: &Cluster, node: &NodePlan) -> Vec<source::Chart> {
    let Some(st) = c.plan.stack.as_ref() else {
        return Vec::new();
    };
    if !crate::render::stack::deploys(&c.plan, node) {
        return Vec::new();
    }
    let fetcher = fetch::Fetcher::new(&fetch::Options {
        cache: a.cache.clone(),
        offline: true,
        quiet: true,
        ..fetch::Options::default()
    });
    source::charts(&st.charts, &fetcher).unwrap_or_else(|e| {
        eprintln!(
            "haimg: note: {}: charts not cached ({e}); shown as repository references, `haimg build` carries them",
            node.hostname
        );
        Vec::new()
    })
}
