//! `haimg build`: one image per selected node. The work nodes share (each
//! base fetched and made once, the payload) is done first, one node at a
//! time; then the nodes are built in parallel, as many at once as the cores
//! and the available memory allow, each build in two tasks (make, then
//! finish: `queue.rs`) so that no core idles while another node's image is
//! still to hash. One node failing stops none of the others; the outputs of
//! the nodes that were built are listed in `SHA256SUMS` and `imager.json` as
//! each finishes.

mod queue;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::mpsc;

use anyhow::{Context, Result};
use serde_json::json;

use super::Cluster;
use crate::build;
use crate::cmdline::{BuildArgs, DiskFormat};
use crate::config::BootKind;
use crate::emit::{Built, Format, imager};
use crate::plan::{NodePlan, Role};
use crate::source::fetch::Fetcher;
use queue::{Queue, Task};

const MIB: u64 = 1024 * 1024;

pub fn run(a: &BuildArgs) -> Result<()> {
    if a.json {
        crate::progress::json_progress();
    }
    let quiet = a.fetch.quiet;
    let c = Cluster::load(&a.file, true)?;
    if !quiet {
        c.print_warnings();
    }
    let fetcher = Fetcher::new(&a.fetch.options());
    let opts = build::Options {
        out_dir: a.out.clone(),
        payload: a.payload.clone(),
        payload_url: a.payload_url.clone(),
        quiet,
        compress: a
            .compress
            .iter()
            .map(|c| c.format())
            .chain(
                a.format
                    .iter()
                    .filter(|f| matches!(f, DiskFormat::Qcow2))
                    .map(|_| Format::Qcow2),
            )
            .collect(),
        new_cluster: a.new_cluster,
    };
    let nodes = c.selected();
    let user_data = a.format.iter().any(|f| matches!(f, DiskFormat::UserData));
    if user_data && !opts.compress.is_empty() {
        anyhow::bail!(
            "--format user-data writes no image: it takes no --compress or --format qcow2"
        );
    }
    if a.new_cluster && !nodes.iter().any(|n| n.role == Role::Bootstrap) {
        anyhow::bail!(
            "--new-cluster applies to the bootstrap server's image, and {} builds none",
            a.file.display()
        );
    }
    if nodes
        .iter()
        .any(|n| crate::render::stack::deploys(&c.plan, n))
    {
        let missing = c.missing_stack_secrets();
        if !missing.is_empty() {
            anyhow::bail!(
                "the stack needs its secrets and {} cannot be read (see the warnings above); run `haimg secrets init {}`",
                missing.join(", "),
                a.file.display()
            );
        }
    }
    let mut failed: Vec<(String, anyhow::Error)> = Vec::new();
    let mut ready: Vec<&NodePlan> = Vec::new();
    for node in nodes.iter().copied() {
        crate::progress::set_node(&node.hostname);
        let prepared = if user_data {
            Ok(())
        } else {
            build::prepare(&c.plan, node, &fetcher, &opts)
        };
        match prepared {
            Ok(()) => ready.push(node),
            Err(e) => failed.push((node.hostname.clone(), e)),
        }
    }
    // One node alone fails as any command does; several report each failure
    // as it happens and sum up at the end.
    let each = a.json || nodes.len() > 1;
    if each {
        for (node, e) in &failed {
            report_failure(node, e, a.json);
        }
    }
    let jobs = jobs(a.jobs, ready.len(), &opts.compress);
    let values = c.secret_values(true);
    let queue = Queue::new(first_of_each_base(&ready), queue::shares);
    crate::disk::shared::expect(ready.iter().copied());
    // Nodes that share a base share its root file system (disk::shared),
    // until this command ends.
    struct Release;
    impl Drop for Release {
        fn drop(&mut self) {
            crate::disk::shared::release();
        }
    }
    let _release = Release;
    let (tx, rx) = mpsc::channel::<(&NodePlan, Result<Built>)>();
    let mut written = Vec::new();
    std::thread::scope(|s| -> Result<()> {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (queue, c, values, fetcher, opts) = (&queue, &c, &values, &fetcher, &opts);
            s.spawn(move || {
                while let Some(task) = queue.next() {
                    let (node, r) = match task {
                        Task::Make(node) => {
                            crate::progress::set_node(&node.hostname);
                            let mut ended = Ended {
                                queue,
                                node,
                                made: None,
                            };
                            let r = if user_data {
                                build::user_data(&c.plan, node, values, fetcher, opts).map(Some)
                            } else {
                                build::make(&c.plan, node, values, fetcher, opts).map(|m| {
                                    ended.made = Some(m);
                                    None
                                })
                            };
                            drop(ended);
                            match r {
                                Ok(None) => continue,
                                Ok(Some(built)) => (node, Ok(built)),
                                Err(e) => (node, Err(e)),
                            }
                        }
                        Task::Finish(node, made) => {
                            crate::progress::set_node(&node.hostname);
                            (node, build::finish(made, opts))
                        }
                    };
                    let r = r.with_context(|| format!("building {}", node.hostname));
                    if tx.send((node, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Results in the order they finish; the lists are rewritten after
        // each, so they stay true for what exists whatever happens next.
        for (node, r) in rx {
            match r {
                Ok(built) => {
                    if a.json {
                        let outputs: Vec<_> = built
                            .outputs
                            .iter()
                            .map(|(p, sha)| json!({"path": p, "sha256": sha}))
                            .collect();
                        crate::progress::json_line(
                            &json!({"node": node.hostname, "done": true, "image": built.image, "sha256": built.sha256, "outputs": outputs}),
                        );
                    } else {
                        println!("{}  {}", built.sha256, built.image.display());
                    }
                    written.extend(list_outputs(a, &c, node, &built)?);
                    crate::emit::write_sums(&a.out, &written).with_context(|| {
                        format!("writing {}", a.out.join("SHA256SUMS").display())
                    })?;
                }
                Err(e) => {
                    if each {
                        report_failure(&node.hostname, &e, a.json);
                    }
                    failed.push((node.hostname.clone(), e));
                }
            }
        }
        Ok(())
    })?;
    if !each && let Some((_, e)) = failed.pop() {
        return Err(e);
    }
    if failed.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = failed.iter().map(|(n, _)| n.as_str()).collect();
    anyhow::bail!(
        "{} of {} node(s) failed: {} (the others were built)",
        failed.len(),
        c.selected().len(),
        names.join(", ")
    )
}

/// Tells the queue a make has ended, whatever happened (a panic included:
/// the other workers wait for it).
struct Ended<'q, 'a> {
    queue: &'q Queue<&'a NodePlan, build::Made>,
    node: &'a NodePlan,
    made: Option<build::Made>,
}

impl Drop for Ended<'_, '_> {
    fn drop(&mut self) {
        self.queue.made(self.node, self.made.take());
    }
}

/// The build order: one node of each base first, then the rest. A node
/// whose base root another node is making waits for it (disk::shared);
/// meanwhile the other workers make the other bases' roots.
fn first_of_each_base<'a>(nodes: &[&'a NodePlan]) -> VecDeque<&'a NodePlan> {
    let mut seen = std::collections::BTreeSet::new();
    let (first, rest): (Vec<&NodePlan>, Vec<&NodePlan>) = nodes
        .iter()
        .partition(|n| seen.insert(crate::disk::shared::group(n)));
    first.into_iter().chain(rest).collect()
}

fn report_failure(node: &str, e: &anyhow::Error, json: bool) {
    if json {
        crate::progress::json_line(&json!({"node": node, "done": true, "error": format!("{e:#}")}));
    }
    eprintln!("error: {node}: {e:#}");
}

/// The image's outputs, plus `imager.json` (rewritten with this node's entry)
/// for a Pi: everything SHA256SUMS lists for it.
fn list_outputs(
    a: &BuildArgs,
    c: &Cluster,
    node: &NodePlan,
    built: &Built,
) -> Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    if node.profile.boot == BootKind::Rpi && built.image.extension().is_some_and(|e| e == "img") {
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
            &imager::date(super::made_at()),
        )
        .context("describing the image for Raspberry Pi Imager")?;
        out.extend(
            imager::write(&a.out, vec![entry])
                .with_context(|| format!("writing {}", a.out.join(imager::FILE).display()))?,
        );
    }
    out.extend(built.outputs.iter().cloned());
    Ok(out)
}

/// How many nodes to build at once: `--jobs`, else one per core within the
/// memory available (about 256 MiB a build: mke2fs, the FAT writer, buffers;
/// the multi-threaded xz encoder adds about 100 MiB per core, zstd less).
fn jobs(asked: Option<u32>, nodes: usize, compress: &[Format]) -> usize {
    if let Some(j) = asked {
        return (j as usize).min(nodes).max(1);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut per = 256 * MIB;
    for f in compress {
        per += match f {
            Format::Xz => 100 * MIB * cores as u64,
            Format::Zst => 32 * MIB * cores as u64,
            Format::Qcow2 => 64 * MIB,
        };
    }
    let budget = mem_available().map_or(1, |m| (m / per) as usize);
    cores.min(budget).min(nodes).max(1)
}

/// MemAvailable from /proc/meminfo, in bytes.
fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}
