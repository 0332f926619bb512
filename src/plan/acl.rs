//! `haimg plan --acl`: the tailnet policy the cluster's tags need. K3s
//! servers talk on tcp 6443 (API), 2379-2380 (etcd) and 10250 (kubelet),
//! and flannel's VXLAN on udp 8472 (docs.k3s.io, "Inbound rules for K3s
//! nodes"); Tailscale ACL rules take `src`, `proto` and `tag:…:ports`
//! destinations (tailscale.com/kb/1337/acl-syntax).

use serde_json::{Value, json};

use super::ClusterPlan;

/// The policy snippet as JSON (valid HuJSON), to merge into the tailnet
/// policy file. `None` when the cluster uses no tags.
pub fn snippet(plan: &ClusterPlan) -> Option<Value> {
    let tags = &plan.tailscale.tags;
    if tags.is_empty() {
        return None;
    }
    let owners: serde_json::Map<String, Value> = tags
        .iter()
        .map(|t| (t.clone(), json!(["autogroup:admin"])))
        .collect();
    let dst =
        |ports: &str| -> Vec<String> { tags.iter().map(|t| format!("{t}:{ports}")).collect() };
    Some(json!({
        "tagOwners": owners,
        "acls": [
            {
                "action": "accept",
                "src": tags,
                "proto": "tcp",
                "dst": dst("6443,2379-2380,10250"),
            },
            {
                "action": "accept",
                "src": tags,
                "proto": "udp",
                "dst": dst("8472"),
            },
        ],
    }))
}
