//! `haimg build`: the conveyor for one node, plan → source → render → disk →
//! emit. Each stage owns its decisions; this file only passes things along.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::config::BaseKind;
use crate::disk;
use crate::emit::{self, Built};
use crate::plan::{ClusterPlan, NodePlan, Role};
use crate::render::{self, SecretValues};
use crate::source::{self, fetch::Fetcher};

/// Timestamps inside the image when SOURCE_DATE_EPOCH is not set
/// (2024-01-01T00:00:00Z).
pub const DEFAULT_EPOCH: i64 = 1_704_067_200;

pub struct Options {
    pub out_dir: PathBuf,
    /// Folder with `k3s`, `tailscale`, `tailscaled` (and `images/*`) to carry
    /// on the boot partition for first boot, instead of the catalogue's.
    pub payload: Option<PathBuf>,
    /// Where `payload`'s files are served (`--payload-url`): a VM made from
    /// user-data downloads them from there.
    pub payload_url: Option<String>,
    pub quiet: bool,
    /// Compressed copies to write beside the image.
    pub compress: Vec<emit::Format>,
    /// The bootstrap server's image may create the cluster at once, even if
    /// servers of the cluster were seen in the tailnet (one-shot).
    pub new_cluster: bool,
}

pub fn epoch() -> i64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(DEFAULT_EPOCH)
}

/// The work nodes share, done once before they are built in parallel: each
/// distinct base fetched (and made, or decompressed) into the cache, and the
/// payload fetched; the builds then find both cached.
pub fn prepare(
    cluster: &ClusterPlan,
    node: &NodePlan,
    fetcher: &Fetcher,
    opts: &Options,
) -> Result<()> {
    match node.base.kind {
        BaseKind::Image => {
            source::base_image(node, fetcher)?;
        }
        _ => {
            source::base_tarball(node, fetcher)?;
        }
    }
    if opts.payload.is_none() {
        source::payload(cluster, node, fetcher)?;
    }
    Ok(())
}

/// The stack's charts, when `node` deploys the stack (fetched once, then
/// from the cache).
fn charts(cluster: &ClusterPlan, node: &NodePlan, fetcher: &Fetcher) -> Result<Vec<source::Chart>> {
    match &cluster.stack {
        Some(st) if render::stack::deploys(cluster, node) => {
            Ok(source::charts(&st.charts, fetcher).context("fetching the stack's charts")?)
        }
        _ => Ok(Vec::new()),
    }
}

/// `NODE.user-data` (mode 0600: it holds the secrets) for a provider's stock
/// VM: the node's render as cloud-init user-data, the payload as downloads.
pub fn user_data(
    cluster: &ClusterPlan,
    node: &NodePlan,
    secrets: &SecretValues<'_>,
    fetcher: &Fetcher,
    opts: &Options,
) -> Result<Built> {
    let (downloads, payload) = match &opts.payload {
        // A folder of the user's own binaries, served from their mirror.
        Some(dir) => {
            let files = source::payload_from_dir(dir)?;
            let base = opts.payload_url.as_deref().ok_or_else(|| {
                anyhow::anyhow!(
                    "--format user-data: the VM downloads its payload, and a --payload folder has no URL: add --payload-url URL (where the folder is served), or set [k3s] version and [tailscale] version instead"
                )
            })?;
            crate::plan::check::url(base, true)
                .map_err(|e| anyhow::anyhow!("--payload-url {base:?}: {e}"))?;
            (source::served(&files, base), files)
        }
        None => {
            let payload = source::payload(cluster, node, fetcher)?;
            (
                source::downloads(cluster, node, fetcher, &payload)?,
                payload,
            )
        }
    };
    if downloads.is_empty() && !opts.quiet {
        eprintln!(
            "haimg: warning: no payload (set [k3s] version and [tailscale] version): first boot will stop at the payload step"
        );
    }
    let mut rendered = render::render_for(
        cluster,
        node,
        secrets,
        &payload,
        &charts(cluster, node, fetcher)?,
        render::Target::UserData,
    );
    if opts.new_cluster && node.role == Role::Bootstrap {
        render::new_cluster_flag(node, &mut rendered);
    }
    let (text, gzipped) = render::vm_user_data(node, &rendered, &downloads);
    let name = format!("{}.user-data", node.hostname);
    let path = opts.out_dir.join(&name);
    std::fs::create_dir_all(&opts.out_dir)
        .with_context(|| format!("creating {}", opts.out_dir.display()))?;
    emit::write_sidecar_bytes(&path, &text)
        .with_context(|| format!("writing {}", path.display()))?;
    if !opts.quiet {
        let fits = if text.len() <= render::SMALL_LIMIT {
            "fits"
        } else {
            "exceeds"
        };
        eprintln!(
            "haimg: {name}: {} bytes{}: {fits} the 16 KiB user-data limit of some providers",
            text.len(),
            if gzipped {
                " (gzip; cloud-init reads it as is)"
            } else {
                ""
            }
        );
    }
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&text));
    Ok(Built {
        image: path.clone(),
        sha256: sha256.clone(),
        outputs: vec![(path, sha256)],
    })
}

/// A node's image written whole, not yet hashed, synced or renamed: the
/// second half of a build, which the build command schedules on its own.
pub struct Made {
    out: emit::Output,
    name: String,
}

/// Render `node` and write its image under a temporary name.
pub fn make(
    cluster: &ClusterPlan,
    node: &NodePlan,
    secrets: &SecretValues<'_>,
    fetcher: &Fetcher,
    opts: &Options,
) -> Result<Made> {
    crate::disk::ext4::check_version()?;
    let payload = match &opts.payload {
        Some(dir) => source::payload_from_dir(dir)?,
        None => source::payload(cluster, node, fetcher)?,
    };
    if payload.is_empty() && !opts.quiet {
        eprintln!(
            "haimg: warning: no payload (set [k3s] version and [tailscale] version, or pass --payload): first boot will stop at the payload step"
        );
    }
    let mut rendered = render::render(
        cluster,
        node,
        secrets,
        &payload,
        &charts(cluster, node, fetcher)?,
    );
    if opts.new_cluster && node.role == Role::Bootstrap {
        render::new_cluster_flag(node, &mut rendered);
    }
    let name = format!("{}.img", node.hostname);
    let base = if node.base.kind == BaseKind::Image {
        let image = source::base_image(node, fetcher)?;
        disk::Base::Image(disk::base::examine(&image, node, &rendered, opts.quiet)?)
    } else {
        disk::Base::Tarball(source::base_tarball(node, fetcher)?)
    };
    let node = &base.sized(node, &rendered);
    let epoch = epoch();
    let out = match base.take_root(node, epoch) {
        Some(root) => emit::Output::adopt(&opts.out_dir, &name, node.layout.size, &root),
        None => emit::Output::create(&opts.out_dir, &name, node.layout.size),
    }
    .with_context(|| format!("creating a temporary image in {}", opts.out_dir.display()))?;
    base.write(out.file(), out.path(), node, &rendered, epoch, opts.quiet)?;
    Ok(Made { out, name })
}

/// Hash, sync and rename a made image, with its outputs beside it.
pub fn finish(made: Made, opts: &Options) -> Result<Built> {
    let Made { out, name } = made;
    out.finish(opts.quiet, &opts.compress)
        .with_context(|| format!("finishing {}", opts.out_dir.join(&name).display()))
}
