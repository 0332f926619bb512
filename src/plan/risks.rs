//! What could go wrong with a cluster that is valid: shown by `plan`.

use std::collections::BTreeSet;

use super::cluster::{server_sites, servers_span_sites};
use super::{ClusterPlan, NodePlan, WAN_ELECTION_MS, WAN_HEARTBEAT_MS};
use crate::config::{DataMode, Media};

/// Single points of failure and risks, in the spirit of seed 002.
pub fn risks(plan: &ClusterPlan) -> Vec<String> {
    let mut out = Vec::new();
    let voters = plan.voters();
    if voters > 0 && voters.is_multiple_of(2) {
        out.push(format!(
            "{voters} etcd voters: quorum is {}, so it tolerates {} failure(s), the same as {} voters; add or remove one server (a small cloud witness is enough)",
            plan.quorum(),
            plan.tolerance(),
            voters - 1
        ));
    }
    if voters == 1 {
        out.push("one etcd voter: the control plane is a single point of failure".into());
    }
    if servers_span_sites(plan) {
        let sites = server_sites(plan);
        out.push(format!(
            "etcd runs across sites ({}) over Tailscale: K3s does not support embedded etcd over a VPN-only WAN link and etcd is latency-sensitive; rendered etcd heartbeat-interval={} ms and election-timeout={} ms",
            sites.into_iter().collect::<Vec<_>>().join(", "),
            plan.k3s.heartbeat_interval_ms.unwrap_or(WAN_HEARTBEAT_MS),
            plan.k3s.election_timeout_ms.unwrap_or(WAN_ELECTION_MS)
        ));
    }
    out.push(format!(
        "etcd snapshots ({}) stay on the servers' own disks: copy them off the cluster, or a lost site loses the backups too",
        plan.k3s.snapshot_schedule.as_deref().unwrap_or("K3s default: every 12 h, keep 5")
    ));
    for n in &plan.nodes {
        if n.etcd_voter && n.profile.media == Media::Sd {
            out.push(format!("{} runs etcd from an SD card: K3s warns of etcd performance problems on SD cards, and SD cards wear out; boot it from an SSD", n.hostname));
        }
        if !n.witness && n.storage.data == DataMode::None {
            out.push(format!(
                "{} has no data disk: K3s data and volumes share the root filesystem",
                n.hostname
            ));
        }
    }
    let workers: Vec<&NodePlan> = plan.nodes.iter().filter(|n| !n.witness).collect();
    if workers.len() < 2 {
        out.push("fewer than two nodes run workloads: any failure stops the applications".into());
    }
    let worker_sites: BTreeSet<&str> = workers.iter().map(|n| n.site.as_str()).collect();
    if worker_sites.len() == 1 && workers.len() > 1 {
        out.push(format!(
            "every workload node is at site `{}`: a power or network outage there stops all applications (a UPS and a second uplink help)",
            worker_sites.into_iter().next().unwrap_or_default()
        ));
    }
    out.push("the Tailscale auth key expires (90 days at most): re-flashing a node later needs a fresh key in the auth-key file".into());
    out
}
