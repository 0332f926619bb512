//! `haimg/manifest.json` on the boot partition: what the image is (node,
//! cluster, role, config hash, haimg version, payload hashes), readable by
//! `haimg inspect` from any machine that can read FAT. Never a secret: the
//! secrets' boot paths are listed by name only.

use serde::Serialize;

use crate::config::{Arch, BaseKind};
use crate::plan::{ClusterPlan, NodePlan, Role};
use crate::source::PayloadFile;

/// Boot partition path of the manifest.
pub const MANIFEST_BOOT_PATH: &str = "haimg/manifest.json";

/// The manifest's format tag; `inspect` refuses others by name.
pub const FORMAT: &str = "haimg-manifest/1";

#[derive(Serialize)]
struct Manifest<'a> {
    format: &'static str,
    haimg_version: &'static str,
    node: &'a str,
    cluster: &'a str,
    tailnet: &'a str,
    role: Role,
    witness: bool,
    profile: &'a str,
    arch: Arch,
    base: BaseKind,
    config_hash: &'a str,
    k3s_version: Option<&'a str>,
    tailscale_version: Option<&'a str>,
    payload: Vec<Payload<'a>>,
    /// Boot partition paths that hold secrets until first boot scrubs them.
    secret_paths: Vec<&'static str>,
}

#[derive(Serialize)]
struct Payload<'a> {
    name: &'a str,
    sha256: &'a str,
    size: u64,
}

pub fn json(cluster: &ClusterPlan, node: &NodePlan, payload: &[PayloadFile]) -> String {
    let m = Manifest {
        format: FORMAT,
        haimg_version: env!("CARGO_PKG_VERSION"),
        node: &node.hostname,
        cluster: &cluster.name,
        tailnet: &cluster.tailnet,
        role: node.role,
        witness: node.witness,
        profile: &node.profile.name,
        arch: node.profile.arch,
        base: node.base.kind,
        config_hash: &node.config_hash,
        k3s_version: node.k3s_version.as_deref(),
        tailscale_version: cluster.tailscale.version.as_deref(),
        payload: payload
            .iter()
            .map(|p| Payload {
                name: &p.name,
                sha256: &p.sha256,
                size: p.size,
            })
            .collect(),
        secret_paths: {
            let mut p = vec![super::TOKEN_BOOT_PATH, super::AUTHKEY_BOOT_PATH];
            if super::stack::deploys(cluster, node) {
                p.push(super::stack::SECRETS_BOOT_PATH);
            }
            p
        },
    };
    // A struct of strings, numbers and enums: serialising cannot fail.
    let mut s = serde_json::to_string_pretty(&m).unwrap_or_default();
    s.push('\n');
    s
}
