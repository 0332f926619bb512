//! `haimg plan` output: a table of nodes, quorum and failure tolerance, risks.

use serde::Serialize;

use super::stack::StackPlan;
use super::{ClusterPlan, Role, risks};
use crate::config::DataMode;

#[derive(Serialize)]
pub struct Report<'a> {
    pub cluster: &'a str,
    pub tailnet: &'a str,
    pub k3s_version: Option<&'a str>,
    pub nodes: Vec<NodeRow<'a>>,
    pub etcd_voters: usize,
    pub quorum: usize,
    pub tolerates_failures: usize,
    pub risks: Vec<String>,
    pub warnings: Vec<String>,
    pub stack: Option<&'a StackPlan>,
}

#[derive(Serialize)]
pub struct NodeRow<'a> {
    pub hostname: &'a str,
    pub fqdn: &'a str,
    pub profile: &'a str,
    pub arch: &'a str,
    pub role: Role,
    pub witness: bool,
    pub etcd_voter: bool,
    pub site: &'a str,
    pub data: String,
    pub k3s_data_dir: Option<&'a str>,
    pub peers: &'a [String],
}

pub fn report<'a>(plan: &'a ClusterPlan, warnings: Vec<String>) -> Report<'a> {
    let nodes = plan
        .nodes
        .iter()
        .map(|n| NodeRow {
            hostname: &n.hostname,
            fqdn: &n.fqdn,
            profile: &n.profile.name,
            arch: n.profile.arch.debian(),
            role: n.role,
            witness: n.witness,
            etcd_voter: n.etcd_voter,
            site: &n.site,
            data: match (&n.storage.data, &n.storage.device) {
                (DataMode::None, _) => "-".into(),
                (DataMode::Device, Some(d)) => format!("{} on {d}", n.storage.mount),
                _ => format!("{} (rest of boot disk)", n.storage.mount),
            },
            k3s_data_dir: n.data_dir.as_deref(),
            peers: &n.peers,
        })
        .collect();
    Report {
        cluster: &plan.name,
        tailnet: &plan.tailnet,
        k3s_version: plan.k3s.version.as_deref(),
        nodes,
        etcd_voters: plan.voters(),
        quorum: plan.quorum(),
        tolerates_failures: plan.tolerance(),
        risks: risks(plan),
        warnings,
        stack: plan.stack.as_ref(),
    }
}

impl Report<'_> {
    pub fn to_text(&self) -> String {
        let mut rows: Vec<[String; 6]> = vec![[
            "NODE".into(),
            "PROFILE/ARCH".into(),
            "ROLE".into(),
            "ETCD".into(),
            "SITE".into(),
            "DATA".into(),
        ]];
        for n in &self.nodes {
            let role = match (n.role, n.witness) {
                (_, true) => "server (witness)".to_string(),
                (Role::Bootstrap, _) => "server (bootstrap)".into(),
                (Role::Server, _) => "server".into(),
                (Role::Agent, _) => "agent".into(),
            };
            rows.push([
                n.hostname.to_string(),
                format!("{}/{}", n.profile, n.arch),
                role,
                if n.etcd_voter { "voter" } else { "-" }.into(),
                n.site.to_string(),
                n.data.clone(),
            ]);
        }
        let widths: Vec<usize> = (0..6)
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = format!(
            "cluster {} on tailnet {} (K3s {})\n\n",
            self.cluster,
            self.tailnet,
            self.k3s_version.unwrap_or("version not pinned")
        );
        for r in &rows {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
        out.push_str(&format!(
            "\netcd: {} voters, quorum {}, tolerates {} failed server(s)\n",
            self.etcd_voters, self.quorum, self.tolerates_failures
        ));
        if let Some(st) = self.stack {
            out.push_str(&super::stack::to_text(st));
        }
        if !self.risks.is_empty() {
            out.push_str("\nrisks:\n");
            for r in &self.risks {
                out.push_str(&format!("  - {r}\n"));
            }
        }
        if !self.warnings.is_empty() {
            out.push_str("\nwarnings:\n");
            for w in &self.warnings {
                out.push_str(&format!("  - {w}\n"));
            }
        }
        out
    }
}
