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
/// version`); empty when neither is set. `payload` is the same payload as
/// fetched for the node ([`super::payload`]): a plain file's sha256 is taken
/// from it rather than hashed again.
pub fn downloads(
    cluster: &ClusterPlan,
    node: &NodePlan,
    fetcher: &fetch::Fetcher,
    payload: &[super::PayloadFile],
) -> Result<Vec<Download>, SourceError> {
    let mut out = Vec::new();
    let arch = node.profile.arch;
    let plain =
        |name: String, a: fetch::Artifact, out: &mut Vec<Download>| -> Result<(), SourceError> {
            let sha256 = match payload.iter().find(|p| p.name == name) {
                Some(p) => p.sha256.clone(),
                None => sha(&fetcher.get(&a)?)?,
            };
            out.push(Download {
                sha256,
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

/// The paths of the archive's members that are `names` (the first of
/// each; every name must be found), as the image's unpack takes them.
fn members(archive: &Path, names: &[&str]) -> Result<Vec<(String, String)>, SourceError> {
    let mut out = Vec::new();
    super::unpack::each_named(archive, names, |name, path, _| {
        out.push((name.to_string(), path.to_string_lossy().into_owned()));
        Ok(())
    })?;
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
