//! `haimg plan`: the cluster checked as a whole, as a table or JSON.

use anyhow::Result;

use super::Cluster;
use crate::cmdline::PlanArgs;

pub fn run(a: &PlanArgs) -> Result<()> {
    let c = Cluster::load(&a.file, false)?;
    if a.acl {
        let Some(v) = crate::plan::acl::snippet(&c.plan) else {
            anyhow::bail!(
                "the cluster sets no [tailscale] tags: there is no tag to write a policy for"
            );
        };
        println!(
            "// Tailnet policy for cluster {}: merge into your policy file\n// (admin console, Access controls). Tagged nodes' keys do not expire.\n{}",
            c.plan.name,
            serde_json::to_string_pretty(&v)?
        );
        return Ok(());
    }
    let texts: Vec<String> = c
        .warnings
        .items
        .iter()
        .map(|d| match d.file {
            Some(f) => format!("{}: {}", c.loaded.sources.path(f).display(), d.message),
            None => d.message.clone(),
        })
        .collect();
    let report = crate::plan::report::report(&c.plan, texts);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}
