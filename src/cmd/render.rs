//! `haimg render`: the files an image holds beyond its base, written to a
//! folder for review — byte for byte what `build` puts in the image.

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::Cluster;
use crate::cmdline::RenderArgs;
use crate::plan::NodePlan;
use crate::source::{self, PayloadFile, fetch};

pub fn run(a: &RenderArgs) -> Result<()> {
    let c = Cluster::load(&a.file, true)?;
    c.print_warnings();
    let values = c.secret_values(a.with_secrets);
    let nodes = c.selected();
    prepare_out_dir(&a.out, a.force)?;
    let parent = match a.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".haimg-render-")
        .tempdir_in(parent)
        .with_context(|| format!("creating a temporary folder in {}", parent.display()))?;
    let guard = crate::cleanup::Guard::new(tmp.path());
    for node in &nodes {
        let payload = payload(a, &c, node)?;
        let r = crate::render::render(&c.plan, node, &values, &payload);
        let dir = if c.loaded.selected.is_some() {
            tmp.path().to_path_buf()
        } else {
            tmp.path().join(&node.hostname)
        };
        crate::render::write_tree(&r, &dir)
            .with_context(|| format!("writing {}", node.hostname))?;
    }
    if a.out.exists() {
        std::fs::remove_dir_all(&a.out).with_context(|| format!("removing {}", a.out.display()))?;
    }
    let kept = tmp.keep();
    std::fs::rename(&kept, &a.out)
        .with_context(|| format!("moving the result to {}", a.out.display()))?;
    drop(guard);
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

fn prepare_out_dir(out: &Path, force: bool) -> Result<()> {
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() && !force {
                bail!(
                    "{} exists and is not empty; use --force to replace it",
                    out.display()
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("reading {}", out.display())),
    }
}
