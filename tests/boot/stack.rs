//! The boot test's stack checks: what the bootstrap server's first boot
//! handed to K3s (the stand-in's API and auto-deploy folder), and that no
//! copy of the stack's secrets is left.

use std::path::Path;

use crate::common::image::debugfs;
use crate::common::qemu::tail;
use crate::common::*;

pub fn deployed(console: &str, root: &Path, data: &Path) {
    // Through the API, namespaces first.
    assert!(
        console.contains("api: applied Namespace//database Namespace//vaultwarden Secret/database/postgres-credentials Secret/vaultwarden/vaultwarden-secrets"),
        "{}",
        tail(console)
    );
    // haimg-status's first look, through the API: each part is there or not
    // yet (the stand-in runs no controllers: never "healthy").
    for part in ["patroni", "vaultwarden", "coredns"] {
        assert!(
            console
                .lines()
                .any(|l| l.contains(&format!("haimg: stack: status: {part} "))
                    && (l.ends_with("pending") || l.contains("deployed"))),
            "no status of {part}\n{}",
            tail(console)
        );
    }
    // The secrets left root too once applied; the API kept their keys (the
    // stand-in never keeps values).
    let state_dir = debugfs(root, "ls /var/lib/haimg");
    assert!(
        !state_dir.contains("stack-secrets") && state_dir.contains("stack-status"),
        "{state_dir}"
    );
    let state = debugfs(data, "cat /k3s/server/db/standin-cluster.json");
    assert!(
        state.contains("\"Secret/database/postgres-credentials\": {\"keys\": [\"replication-password\", \"superuser-password\"]}"),
        "{state}"
    );
    for (_, v) in STACK_SECRETS {
        assert!(
            !state.contains(v),
            "a stack secret's value in the API stand-in's state"
        );
    }
    // K3s applies the folder on its own schedule (every 15 s; the stand-in
    // every 5 s), after first boot is done: read what it applied from its
    // state once the VM has powered off.
    let addons = state.split("\"addons\"").nth(1).unwrap_or_default();
    for addon in [
        "coredns",
        "haimg-namespaces",
        "haimg-patroni",
        "haimg-vaultwarden",
        "haimg-dns",
    ] {
        assert!(
            addons.contains(&format!("\"{addon}\"")),
            "{addon} not applied: {state}"
        );
    }
    let manifests = debugfs(data, "ls /k3s/server/manifests");
    assert!(
        manifests.contains("haimg-patroni.yaml") && manifests.contains("coredns.yaml"),
        "{manifests}"
    );
}
