//! The payload: the K3s and Tailscale binaries (and air-gap images) that go
//! on the boot partition for first boot, each with its sha256 and size for
//! the manifest the node checks before installing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{SourceError, catalogue, fetch, unpack_cached};
use crate::plan::{ClusterPlan, NodePlan};

/// One payload file: its name on the node's list (`k3s`, `tailscale`,
/// `tailscaled`, `images/…`), where it is here, and what it must hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadFile {
    pub name: String,
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
}

fn described(files: BTreeMap<String, PathBuf>) -> Result<Vec<PayloadFile>, SourceError> {
    files
        .into_iter()
        .map(|(name, path)| {
            let (sha256, size) = crate::io::sha256_file(&path).map_err(|e| SourceError::Open {
                path: path.clone(),
                source: e,
            })?;
            Ok(PayloadFile {
                name,
                path,
                sha256,
                size,
            })
        })
        .collect()
}

/// The payload from the catalogue: `[k3s] version` and `[tailscale] version`
/// give each node the files for its arch. Empty when neither is set.
pub fn payload(
    cluster: &ClusterPlan,
    node: &NodePlan,
    fetcher: &fetch::Fetcher,
) -> Result<Vec<PayloadFile>, SourceError> {
    let mut out = BTreeMap::new();
    let arch = node.profile.arch;
    if let Some(v) = &node.k3s_version {
        let a = catalogue::artifact("k3s", v, arch).map_err(SourceError::Unsupported)?;
        out.insert("k3s".to_string(), fetcher.get(&a)?);
        if cluster.k3s.airgap_images {
            let a = catalogue::artifact("k3s-airgap-images", v, arch)
                .map_err(SourceError::Unsupported)?;
            out.insert(
                format!("images/k3s-airgap-images-{}.tar.zst", arch.debian()),
                fetcher.get(&a)?,
            );
        }
    }
    if let Some(v) = &cluster.tailscale.version {
        let a = catalogue::artifact("tailscale", v, arch).map_err(SourceError::Unsupported)?;
        let tgz = fetcher.get(&a)?;
        out.extend(unpack_cached(
            &tgz,
            &["tailscale", "tailscaled"],
            &fetcher.cache,
        )?);
    }
    described(out)
}

/// The payload from a folder: `k3s`, `tailscale`, `tailscaled`, `images/*`.
pub fn payload_from_dir(dir: &Path) -> Result<Vec<PayloadFile>, SourceError> {
    let mut out = BTreeMap::new();
    for name in ["k3s", "tailscale", "tailscaled"] {
        if dir.join(name).is_file() {
            out.insert(name.to_string(), dir.join(name));
        }
    }
    if let Ok(rd) = std::fs::read_dir(dir.join("images")) {
        for e in rd.flatten().filter(|e| e.path().is_file()) {
            out.insert(
                format!("images/{}", e.file_name().to_string_lossy()),
                e.path(),
            );
        }
    }
    if out.is_empty() {
        return Err(SourceError::Unsupported(format!(
            "payload folder {} holds none of k3s, tailscale, tailscaled",
            dir.display()
        )));
    }
    described(out)
}
