//! What a cloud VM made from user-data downloads itself: each payload file's
//! pinned URL and the sha256 of what that URL serves (the catalogue's
//! artifacts, fetched and verified here first, so the VM checks against a
//! digest haimg has proven), and for an archive the member to take out.

use std::path::Path;

use super::{SourceError, catalogue, fetch};
use crate::plan::{ClusterPlan, NodePlan};

/// One download of the node's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    pub sha256: String,
    pub url: String,
    /// The payload name (`k3s`, `tailscale`, `tailscaled`, `images/…`).
    pub name: String,
    /// The archive member that is the file, when the URL serves an archive.
    pub member: Option<String>,
}

fn sha(path: &Path) -> Result<String, SourceError> {
    crate::io::sha256_file(path)
        .map(|(s, _)| s)
        .map_err(|e| SourceError::Open {
            path: path.to_path_buf(),
            source: e,
        })
}

/// The downloads of the catalogue payload (`[k3s] version`, `[tailscale]
/// version`); empty when neither is set.
pub fn downloads(
    cluster: &ClusterPlan,
    node: &NodePlan,
    fetcher: &fetch::Fetcher,
) -> Result<Vec<Download>, SourceError> {
    let mut out = Vec::new();
    let arch = node.profile.arch;
    let plain =
        |name: String, a: fetch::Artifact, out: &mut Vec<Download>| -> Result<(), SourceError> {
            let path = fetcher.get(&a)?;
            out.push(Download {
                sha256: sha(&path)?,
                url: a.url,
                name,
                member: None,
            });
            Ok(())
        };
    if let Some(v) = &node.k3s_version {
        let a = catalogue::artifact("k3s", v, arch).map_err(SourceError::Unsupported)?;
        plain("k3s".into(), a, &mut out)?;
        if cluster.k3s.airgap_images {
            let a = catalogue::artifact("k3s-airgap-images", v, arch)
                .map_err(SourceError::Unsupported)?;
            plain(
                format!("images/k3s-airgap-images-{}.tar.zst", arch.debian()),
                a,
                &mut out,
            )?;
        }
    }
    if let Some(v) = &cluster.tailscale.version {
        let a = catalogue::artifact("tailscale", v, arch).map_err(SourceError::Unsupported)?;
        let tgz = fetcher.get(&a)?;
        let sum = sha(&tgz)?;
        for (name, member) in members(&tgz, &["tailscale", "tailscaled"])? {
            out.push(Download {
                sha256: sum.clone(),
                url: a.url.clone(),
                name,
                member: Some(member),
            });
        }
    }
    Ok(out)
}

/// The paths of the archive's regular files whose last component is one of
/// `names` (every name must be found).
fn members(archive: &Path, names: &[&str]) -> Result<Vec<(String, String)>, SourceError> {
    let err = |e: std::io::Error| SourceError::Open {
        path: archive.to_path_buf(),
        source: e,
    };
    let mut tar = tar::Archive::new(super::open_decompressed(archive)?);
    let mut out = Vec::new();
    for entry in tar.entries().map_err(err)? {
        let entry = entry.map_err(err)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(err)?.to_string_lossy().into_owned();
        let base = path.rsplit('/').next().unwrap_or_default().to_string();
        if names.contains(&base.as_str()) && !out.iter().any(|(n, _)| *n == base) {
            out.push((base, path));
        }
    }
    if let Some(n) = names.iter().find(|n| !out.iter().any(|(b, _)| b == *n)) {
        return Err(SourceError::Unsupported(format!(
            "{} has no member named {n}",
            archive.display()
        )));
    }
    Ok(out)
}

/// A `--payload` folder served at `base` (tests only: the VM cannot reach
/// this machine's folder, so a test serves it and names its URL).
pub fn served(files: &[super::PayloadFile], base: &str) -> Vec<Download> {
    files
        .iter()
        .map(|f| Download {
            sha256: f.sha256.clone(),
            url: format!("{}/{}", base.trim_end_matches('/'), f.name),
            name: f.name.clone(),
            member: None,
        })
        .collect()
}
