//! `haimg forget`: what the cluster and the tailnet remember of a node whose
//! data disk is lost, and how to remove it so that a re-flash joins as a new
//! member. With its data disk kept, a re-flashed node needs none of this: it
//! comes back with its own Tailscale state, node password and etcd data.

use anyhow::{Context, Result, bail};

use super::Cluster;
use crate::cmdline::ForgetArgs;
use crate::plan::{NodePlan, Role};
use crate::tool::Tool;

const KUBECTL: Tool = Tool::new("kubectl", "kubernetes-client");

pub fn run(a: &ForgetArgs) -> Result<()> {
    let c = Cluster::load(&a.file, false)?;
    let node = match c.loaded.selected {
        Some(i) => &c.plan.nodes[i],
        None => bail!(
            "{} is the cluster file: name the node to forget by its own file (e.g. haimg forget raspi1.toml)",
            a.file.display()
        ),
    };
    print!("{}", steps(node, &c.plan.tailnet));
    let Some(kubeconfig) = &a.apply else {
        return Ok(());
    };
    let name = node.hostname.as_str();
    let kc = kubeconfig.to_string_lossy();
    let kubectl = |args: &[&str]| -> Result<()> {
        let mut cmd = KUBECTL.command();
        cmd.arg("--kubeconfig").arg(&*kc).args(args);
        eprintln!("haimg: running kubectl {}", args.join(" "));
        KUBECTL
            .run(cmd)
            .with_context(|| format!("kubectl {}", args.join(" ")))
    };
    // Not --force: K3s's finalizer on the node removes its etcd member.
    kubectl(&[
        "delete",
        "node",
        name,
        "--ignore-not-found",
        "--wait=true",
        "--timeout=180s",
    ])?;
    kubectl(&[
        "-n",
        "kube-system",
        "delete",
        "secret",
        &format!("{name}.node-password.k3s"),
        "--ignore-not-found",
    ])?;
    eprintln!(
        "haimg: {name} is gone from the cluster; delete its old Tailscale device (step 3 above), then re-flash it"
    );
    Ok(())
}

/// The cleanup, as commands and notes for a terminal.
pub fn steps(node: &NodePlan, tailnet: &str) -> String {
    let name = &node.hostname;
    let server = node.role != Role::Agent;
    let mut s = format!(
        "# Forget {name}: only when its data disk is lost too. With the data disk kept,\n\
         # re-flash it and it returns as itself (same Tailscale address, node password,\n\
         # etcd member); do not run this then.\n\
         #\n\
         # 1. Delete the Kubernetes node (not --force: K3s's finalizer on the node\n\
         #    {what}).\n\
         kubectl delete node {name}\n\
         # 2. K3s refuses a node name whose password secret remains (\"Node password\n\
         #    rejected, duplicate hostname\"): make sure it is gone.\n\
         kubectl -n kube-system delete secret {name}.node-password.k3s --ignore-not-found\n",
        what = if server {
            "removes its etcd member, so the cluster's quorum no longer counts it"
        } else {
            "cleans up what the agent registered"
        },
    );
    if server {
        s.push_str(
            "#    (Deleted with --force, the finalizer does not run and the member must be\n\
             #    removed with etcdctl: k3s-io/k3s discussion 14894.)\n",
        );
    }
    s.push_str(&format!(
        "# 3. Delete the old Tailscale device \"{name}\" of {tailnet} in the admin console\n\
         #    (Machines > {name} > Remove), or through the API:\n\
         #    curl -u \"$TS_API_KEY:\" -X DELETE https://api.tailscale.com/api/v2/device/DEVICE_ID\n\
         #    Otherwise the re-flashed node is named {name}-1 in the tailnet and its peers\n\
         #    still find the old, offline {name}.\n\
         # 4. Re-flash {name} with a new image (haimg build) and boot it: it joins through\n\
         #    a peer as a new member.\n",
    ));
    s
}
