//! `/etc/rancher/k3s/config.yaml`. Keys are K3s's flag names (facts §3); the
//! YAML comes from serde-saphyr. Whom to join is decided at first boot by
//! k3s-role.sh, which adds a `server:` drop-in with the peer's tailnet address.

use serde::Serialize;

use super::{Files, file};
use crate::plan::{ClusterPlan, NodePlan, Role};

/// Where the first-boot scripts put the token (copied off the boot partition).
pub const TOKEN_PATH: &str = "/etc/rancher/k3s/token";

#[derive(Serialize, Default)]
#[serde(rename_all = "kebab-case")]
struct K3sConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster_init: Option<bool>,
    token_file: String,
    node_name: String,
    flannel_iface: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tls_san: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    disable: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    node_label: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    node_taint: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    write_kubeconfig_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    etcd_snapshot_schedule_cron: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    etcd_snapshot_retention: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    etcd_arg: Vec<String>,
}

fn yaml<T: Serialize>(v: &T) -> Vec<u8> {
    // Serializing plain structs of strings, numbers and lists cannot fail.
    let body = serde_saphyr::to_string(v).unwrap_or_default();
    format!("# Written by haimg.\n{body}").into_bytes()
}

pub fn render(cluster: &ClusterPlan, node: &NodePlan, root: &mut Files) {
    let k = &cluster.k3s;
    let is_server = node.role != Role::Agent;
    let mut c = K3sConfig {
        token_file: TOKEN_PATH.into(),
        node_name: node.hostname.clone(),
        flannel_iface: k.flannel_iface.clone(),
        data_dir: node.data_dir.clone(),
        node_label: node.labels.clone(),
        node_taint: node.taints.clone(),
        ..Default::default()
    };
    if node.role == Role::Bootstrap {
        c.cluster_init = Some(true);
    }
    if is_server {
        let mut san = vec![node.fqdn.clone(), node.hostname.clone()];
        san.extend(k.tls_san.iter().cloned());
        c.tls_san = san;
        c.disable = k.disable.clone();
        c.write_kubeconfig_mode = k.write_kubeconfig_mode.clone();
        c.etcd_snapshot_schedule_cron = k.snapshot_schedule.clone();
        c.etcd_snapshot_retention = k.snapshot_retention;
        if let Some(h) = k.heartbeat_interval_ms {
            c.etcd_arg.push(format!("heartbeat-interval={h}"));
        }
        if let Some(e) = k.election_timeout_ms {
            c.etcd_arg.push(format!("election-timeout={e}"));
        }
    }
    root.insert("etc/rancher/k3s/config.yaml".into(), file(0o600, yaml(&c)));
}
