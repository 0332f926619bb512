//! The stack (`[stack.*]`) as K3s auto-deploy manifests and one Secret
//! file, on each non-witness server.
//!
//! K3s applies every `.yaml`/`.yml`/`.json` file in
//! `<data-dir>/server/manifests` at start and every 15 s while a file
//! changes or fails (pkg/deploy/controller.go: a failed apply is retried,
//! so a custom resource waits for its chart's CRDs); manifests are not
//! synced between servers, so every server that may start alone carries
//! them. That folder is under the data mount, made at first boot: the
//! image holds them in /usr/lib/haimg/manifests and stack.sh copies them.
//! The witness gets none: it runs no stack pod and its user-data stays
//! small.
//!
//! Secrets never go through that folder (the file would stay readable and
//! deleting it deletes nothing): they travel 0600 on the boot partition,
//! and stack.sh moves them to root, applies them with `kubectl apply
//! --server-side` and wipes them.

mod apps;
mod values;

use serde_json::{Value, json};

use super::{Entry, Files, REDACTED, file};
use crate::plan::stack::StackPlan;
use crate::plan::{ClusterPlan, NodePlan, Role};
use crate::secrets::Secret;
use crate::source::Chart;

/// Where the image carries the manifests for stack.sh to copy.
pub const MANIFEST_DIR: &str = "usr/lib/haimg/manifests";
/// Boot partition path of the stack's Secrets (a JSON `List`).
pub const SECRETS_BOOT_PATH: &str = "haimg/secrets/stack-secrets.json";

/// Does `node` deploy the stack?
pub fn deploys(cluster: &ClusterPlan, node: &NodePlan) -> bool {
    cluster.stack.as_ref().is_some_and(|s| !s.is_empty())
        && node.role != Role::Agent
        && !node.witness
}

/// The stack's files for `node` (nothing unless [`deploys`]). `secrets`:
/// the stack's passwords by file name, `None` to redact.
pub fn render(
    cluster: &ClusterPlan,
    node: &NodePlan,
    charts: &[Chart],
    secrets: Option<&[(String, Secret)]>,
    root: &mut Files,
    boot: &mut Files,
) {
    let Some(st) = cluster.stack.as_ref().filter(|_| deploys(cluster, node)) else {
        return;
    };
    for (name, docs) in manifests(st, cluster, charts) {
        root.insert(
            format!("{MANIFEST_DIR}/{name}.yaml"),
            file(0o644, yaml(&docs)),
        );
    }
    let text = match secrets {
        Some(s) => apps::secrets(st, s),
        None => REDACTED.to_string(),
    };
    boot.insert(SECRETS_BOOT_PATH.into(), file(0o600, text));
    root.insert("etc/haimg/stack-checks".into(), file(0o644, checks(st)));
    root.insert("etc/haimg/stack-scale".into(), file(0o644, scale(st)));
    root.insert(
        "etc/haimg/stack-components".into(),
        file(0o644, components(st)),
    );
    root.insert(
        "usr/local/sbin/haimg-status".into(),
        Entry::Symlink {
            target: "/usr/lib/haimg/status.sh".into(),
        },
    );
    if st.component("longhorn").is_some() {
        // Longhorn attaches volumes over iSCSI: iscsid must run and the
        // initiator's module be loaded (longhorn.io, installation
        // requirements). Debian's open-iscsi ships iscsid socket-activated.
        root.insert(
            "etc/modules-load.d/haimg-stack.conf".into(),
            file(
                0o644,
                "# Written by haimg: Longhorn's iSCSI initiator.\niscsi_tcp\n",
            ),
        );
        root.insert(
            "etc/systemd/system/multi-user.target.wants/iscsid.service".into(),
            Entry::Symlink {
                target: "/lib/systemd/system/iscsid.service".into(),
            },
        );
    }
    for (path, text) in super::units::STACK_OVERLAY {
        let mode = if path.ends_with(".sh") { 0o755 } else { 0o644 };
        root.insert((*path).to_string(), file(mode, *text));
    }
    root.insert(
        "etc/systemd/system/haimg.target.wants/haimg-stack.service".into(),
        Entry::Symlink {
            target: "/etc/systemd/system/haimg-stack.service".into(),
        },
    );
}

/// `/etc/haimg/stack-checks`: what stack.sh checks before deploying, one
/// `KIND NAME WHY` a line.
fn checks(st: &StackPlan) -> String {
    let mut s = String::from("# Written by haimg: checked by stack.sh at first boot.\n");
    if st.component("longhorn").is_some() {
        s.push_str("command iscsiadm Longhorn attaches volumes with open-iscsi\n");
        s.push_str("unit iscsid.service Longhorn needs iscsid running\n");
        s.push_str("module iscsi_tcp Longhorn's iSCSI transport\n");
        s.push_str("command mount.nfs Longhorn's RWX volumes (nfs-common)\n");
    }
    s
}

/// `/etc/haimg/stack-scale`: K3s's own workloads the stack needs more of,
/// `NAMESPACE KIND/NAME REPLICAS` a line. K3s's coredns.yaml sets no
/// `replicas` (so a scale survives K3s re-applying it) and spreads its pods
/// one per node (topologySpreadConstraints, maxSkew 1, DoNotSchedule).
fn scale(st: &StackPlan) -> String {
    let mut s = String::from("# Written by haimg: scaled by stack.sh once K3s has made them.\n");
    if let Some(d) = st.component("coredns") {
        s.push_str(&format!("kube-system deployment/coredns {}\n", d.replicas));
    }
    s
}

/// `/etc/haimg/stack-components`: what `haimg-status` asks the API about,
/// `PART KIND NAMESPACE NAME` a line.
fn components(st: &StackPlan) -> String {
    let mut s = String::from("# Written by haimg: the stack's parts, for haimg-status.\n");
    for c in &st.charts {
        let part = match c.name.as_str() {
            "kube-prometheus-stack" | "loki" => "monitoring",
            n => n,
        };
        s.push_str(&format!("{part} helmchart kube-system {}\n", c.name));
    }
    for (part, line) in [
        ("patroni", "statefulset database patroni"),
        ("vaultwarden", "deployment vaultwarden vaultwarden"),
        ("coredns", "deployment kube-system coredns"),
        ("backups", "cronjob database postgres-basebackup"),
    ] {
        let delivered = part != "backups"
            || (st.component("patroni").is_some()
                && st.component("backups").and_then(|b| b.setting("target")) == Some("pvc"));
        if st.component(part).is_some() && delivered {
            s.push_str(&format!("{part} {line}\n"));
        }
    }
    s
}

/// The manifests by file name (an RFC 1123 name: K3s names the AddOn after
/// it). Order of application does not matter: K3s retries what fails.
fn manifests(st: &StackPlan, cluster: &ClusterPlan, charts: &[Chart]) -> Vec<(String, Vec<Value>)> {
    let mut out = vec![("haimg-namespaces".to_string(), namespaces(st))];
    // Longhorn's data path is one setting for all nodes: the first data
    // node's mount (plan checks they agree).
    let data_mount = st
        .component("longhorn")
        .and_then(|c| c.nodes.first())
        .and_then(|h| cluster.node(h))
        .map_or(crate::plan::DEFAULT_MOUNT.to_string(), |n| {
            n.storage.mount.clone()
        });
    for c in &st.charts {
        let v = values::for_chart(&c.name, st, &data_mount);
        out.push((format!("haimg-{}", c.name), vec![helm_chart(c, charts, v)]));
    }
    out.extend(values::extras(st));
    out.extend(apps::manifests(st));
    out
}

/// Namespaces of the stack's own objects (charts' namespaces included, so
/// that Secrets for them can be applied before the charts).
pub(super) fn namespaces(st: &StackPlan) -> Vec<Value> {
    namespace_names(st)
        .into_iter()
        .map(|n| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}))
        .collect()
}

pub(super) fn namespace_names(st: &StackPlan) -> Vec<String> {
    let mut names: Vec<String> = st.charts.iter().map(|c| c.namespace.clone()).collect();
    if st.component("patroni").is_some() {
        names.push(apps::DB_NS.into());
    }
    if st.component("vaultwarden").is_some() {
        names.push(apps::VW_NS.into());
    }
    names.sort();
    names.dedup();
    names
}

/// A HelmChart (helm.cattle.io/v1, K3s's helm-controller) carrying the
/// chart archive as `chartContent` (base64), so first boot fetches no
/// chart. A chart not at hand (`haimg render` without a cached copy) is
/// shown as a repository reference instead; `build` always has it.
fn helm_chart(c: &crate::plan::charts::ChartRef, charts: &[Chart], values: Value) -> Value {
    use base64::Engine as _;
    let mut spec = json!({
        "targetNamespace": c.namespace,
        "createNamespace": true,
        "version": c.version,
        "valuesContent": serde_saphyr::to_string(&values).unwrap_or_default(),
        "failurePolicy": "reinstall",
    });
    match charts
        .iter()
        .find(|x| x.name == c.name && x.version == c.version)
    {
        Some(x) => {
            spec["chartContent"] =
                Value::String(base64::engine::general_purpose::STANDARD.encode(&x.data));
        }
        None => {
            spec["chart"] = Value::String(c.name.clone());
            spec["repo"] = Value::String(c.repo.clone());
        }
    }
    json!({
        "apiVersion": "helm.cattle.io/v1",
        "kind": "HelmChart",
        "metadata": {"name": c.name, "namespace": "kube-system",
                     "labels": {"app.kubernetes.io/managed-by": "haimg"}},
        "spec": spec,
    })
}

/// Documents as one YAML stream.
pub(super) fn yaml(docs: &[Value]) -> String {
    let mut s = String::from("# Written by haimg (cluster.toml [stack.*]); K3s applies it.\n");
    for d in docs {
        s.push_str("---\n");
        // serde_json Values serialise without failing.
        s.push_str(&serde_saphyr::to_string(d).unwrap_or_default());
    }
    s
}

/// Seed 002's placement for a workload of `replicas` labelled `labels`: at
/// most one per node (required anti-affinity by hostname) and nothing that
/// tolerates the witness's taint (none is given).
pub(super) fn one_per_node(labels: &Value) -> Value {
    json!({
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [{
                "labelSelector": {"matchLabels": labels},
                "topologyKey": "kubernetes.io/hostname",
            }]
        }
    })
}

/// A PodDisruptionBudget: voluntary evictions (drains, upgrades) take one
/// pod of `labels` at a time.
pub(super) fn pdb(name: &str, ns: &str, labels: &Value) -> Value {
    json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}},
    })
}

/// Requests and limits: `cpu` and `mem` requested, `mem_max` the limit (a
/// Raspberry Pi 4 has 4–8 GB and also runs K3s, etcd and Longhorn).
pub(super) fn resources(cpu: &str, mem: &str, mem_max: &str) -> Value {
    json!({"requests": {"cpu": cpu, "memory": mem}, "limits": {"memory": mem_max}})
}
