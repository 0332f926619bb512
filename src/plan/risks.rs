//! What could go wrong with a cluster that is valid: shown by `plan`.

use std::collections::BTreeSet;

use super::cluster::{server_sites, servers_span_sites};
use super::{ClusterPlan, NodePlan, WAN_ELECTION_MS, WAN_HEARTBEAT_MS};
use crate::config::{BootKind, DataMode, Media};

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
        if let Some(w) = boot_order_warning(n) {
            out.push(w);
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

/// A Pi booting from USB or NVMe is best served by an EEPROM BOOT_ORDER that
/// tries that first: the factory orders try SD first (facts.md §1, read from
/// the release images' bootconf.txt), USB boot came with the 2020-09-03
/// bootloader, and non-HAT+ NVMe boards need PCIE_PROBE=1 (rpi-eeprom#529,
/// documentation computers/raspberry-pi-5/pcie.adoc). haimg cannot see the
/// board's EEPROM, so it says how to set it once.
fn boot_order_warning(n: &NodePlan) -> Option<String> {
    let p = &n.profile;
    if p.boot != BootKind::Rpi || !matches!(p.media, Media::Ssd | Media::Nvme) {
        return None;
    }
    let board = if p.dtbs.iter().any(|d| d.starts_with("bcm2712")) {
        "rpi5"
    } else {
        "rpi4"
    };
    let (what, order) = match p.media {
        Media::Nvme => ("an NVMe drive", "nvme,usb,sd"),
        _ => ("a USB drive", "usb,sd"),
    };
    Some(format!(
        "{} boots from {what}: the factory boot order tries an SD card first (Pi 4 0xf41: SD, USB; Pi 5 0xf461: SD, NVMe, USB), a Pi 4 bootloader older than 2020-09 cannot boot from USB, and a Pi 5 finds an NVMe board that is not a HAT+ only with PCIE_PROBE=1; once per board, boot it from the card made by `haimg eeprom --board {board} --boot-order {order} --out card`",
        n.hostname
    ))
}
