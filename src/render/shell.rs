//! Data files the node's static scripts read. Values are single-quoted so that,
//! sourced by `sh`, each yields exactly its text and runs nothing.

use super::{Target, boot_dir};
use crate::config::{BootKind, DataMode};
use crate::plan::{ClusterPlan, NodePlan, Role};

/// Quote a value for POSIX sh: inside single quotes every byte is literal
/// except `'`, which is closed, escaped and reopened.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `/etc/haimg/node.env`.
pub fn node_env(cluster: &ClusterPlan, node: &NodePlan, target: Target) -> String {
    let role = node.role.as_str();
    let data = match node.storage.data {
        DataMode::Rest => "rest",
        DataMode::Device => "device",
        DataMode::None => "none",
    };
    let vars: Vec<(&str, String)> = vec![
        ("HAIMG_CLUSTER", cluster.name.clone()),
        ("HAIMG_HOSTNAME", node.hostname.clone()),
        ("HAIMG_FQDN", node.fqdn.clone()),
        ("HAIMG_ROLE", role.into()),
        (
            "HAIMG_K3S_EXEC",
            if node.role == Role::Agent {
                "agent"
            } else {
                "server"
            }
            .into(),
        ),
        // Space-separated: every peer is a checked DNS name.
        ("HAIMG_PEERS", node.peers.join(" ")),
        ("HAIMG_BOOT_DIR", boot_dir(node, target).into()),
        ("HAIMG_DATA_MODE", data.into()),
        (
            "HAIMG_DATA_DEVICE",
            node.storage.device.clone().unwrap_or_default(),
        ),
        ("HAIMG_DATA_MOUNT", node.storage.mount.clone()),
        ("HAIMG_DATA_LABEL", node.storage.label.clone()),
        // The data partition's fixed start, and where root ends: storage.sh
        // looks for an earlier data filesystem between the two.
        (
            "HAIMG_DATA_OFFSET_MIB",
            node.profile.data_offset_mib.to_string(),
        ),
        (
            "HAIMG_ROOT_END_MIB",
            node.profile.root_end_mib().to_string(),
        ),
        (
            "HAIMG_K3S_DATA_DIR",
            node.data_dir.clone().unwrap_or_default(),
        ),
        ("HAIMG_FLANNEL_IFACE", cluster.k3s.flannel_iface.clone()),
        ("HAIMG_FOUND_WAIT", cluster.k3s.found_wait_s.to_string()),
        (
            "HAIMG_CLOCK_WAIT",
            node.profile.clock_sync_wait_s.to_string(),
        ),
        (
            "HAIMG_CHECK_MEMCG",
            u8::from(node.profile.boot == BootKind::Rpi).to_string(),
        ),
    ];
    let mut s =
        String::from("# Written by haimg; read by /usr/lib/haimg/*.sh. Values are sh-quoted.\n");
    for (k, v) in vars {
        s.push_str(k);
        s.push('=');
        s.push_str(&sh_quote(&v));
        s.push('\n');
    }
    s
}

/// `/etc/haimg/tailscale-up.args`: one argument of `tailscale up` per line (the
/// auth key is added by the script from its file), so no argument is ever split
/// or interpreted by the shell.
pub fn tailscale_args(cluster: &ClusterPlan, node: &NodePlan) -> String {
    let mut args = vec![format!("--hostname={}", node.hostname)];
    if cluster.tailscale.advertise_tags && !cluster.tailscale.tags.is_empty() {
        args.push(format!(
            "--advertise-tags={}",
            cluster.tailscale.tags.join(",")
        ));
    }
    args.push(format!("--accept-dns={}", cluster.tailscale.accept_dns));
    if cluster.tailscale.ssh {
        args.push("--ssh".into());
    }
    if let Some(l) = &cluster.tailscale.login_server {
        args.push(format!("--login-server={l}"));
    }
    let mut s = args.join("\n");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::sh_quote;

    #[test]
    fn quoting_survives_sh() {
        for v in [
            "plain",
            "it's",
            "$(id)",
            "`id`",
            "a\nb",
            "\"q\"",
            "ünï",
            "'; rm -rf / #",
        ] {
            let q = sh_quote(v);
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("v={q}; printf %s \"$v\""))
                .output()
                .expect("sh");
            assert_eq!(String::from_utf8_lossy(&out.stdout), v);
        }
    }
}
