//! `haimg build`: one image per selected node.

use anyhow::{Context, Result};

use super::Cluster;
use crate::build;
use crate::cmdline::BuildArgs;
use crate::config::BootKind;
use crate::emit::imager;
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
        if node.profile.boot == BootKind::Rpi {
            let entry = imager::entry(
                &imager::Image {
                    node: &node.hostname,
                    cluster: &c.plan.name,
                    role: node.role.as_str(),
                    dtbs: &node.profile.dtbs,
                    image: &built.image,
                    image_sha256: &built.sha256,
                    outputs: &built.outputs,
                },
                &imager::date(release_time()),
            )
            .context("describing the image for Raspberry Pi Imager")?;
            let files = imager::write(&a.out, vec![entry])
                .with_context(|| format!("writing {}", a.out.join(imager::FILE).display()))?;
            written.extend(files);
        }
        written.extend(built.outputs);
        // After each node: a later failure keeps the list true for what exists.
        crate::emit::write_sums(&a.out, &written)
            .with_context(|| format!("writing {}", a.out.join("SHA256SUMS").display()))?;
    }
    Ok(())
}

/// Imager's release date: SOURCE_DATE_EPOCH when set (reproducible lists),
/// else now.
fn release_time() -> i64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        })
}
