//! Values for the pinned charts (their keys are the charts' own
//! values.yaml keys at the pinned versions) and the objects that go with
//! them: MetalLB's pool, Longhorn's StorageClass, the alert rules.

use serde_json::{Value, json};

use super::resources;
use crate::plan::stack::StackPlan;

/// The StorageClass the stack's volumes use.
pub(super) fn storage_class(st: &StackPlan) -> String {
    st.component("longhorn")
        .and_then(|c| c.setting("storage_class"))
        .map_or("local-path".into(), str::to_string)
}

fn replicas(st: &StackPlan, name: &str) -> u32 {
    st.component(name)
        .and_then(|c| c.setting("replicas"))
        .and_then(|r| r.parse().ok())
        .unwrap_or(1)
}

/// The values of chart `name`.
pub(super) fn for_chart(name: &str, st: &StackPlan, data_mount: &str) -> Value {
    match name {
        // The controller only hands out addresses (one replica is the
        // chart's design); a speaker on every node answers ARP.
        "metallb" => json!({
            "controller": {"resources": resources("50m", "64Mi", "128Mi")},
            "speaker": {"frr": {"enabled": false}, "resources": resources("50m", "64Mi", "128Mi")},
        }),
        "longhorn" => {
            let r = replicas(st, "longhorn");
            json!({
                "defaultSettings": {
                    "defaultDataPath": format!("{}/longhorn", data_mount.trim_end_matches('/')),
                    "defaultReplicaCount": r,
                    // Replicas of one volume never share a node.
                    "replicaSoftAntiAffinity": false,
                    // A dead node's pods move on instead of waiting for it.
                    "nodeDownPodDeletionPolicy": "delete-both-statefulset-and-deployment-pod",
                },
                "persistence": {"defaultClass": false, "defaultClassReplicaCount": r},
                "csi": {"attacherReplicaCount": 2, "provisionerReplicaCount": 2,
                        "resizerReplicaCount": 2, "snapshotterReplicaCount": 2},
                "longhornUI": {"replicas": 2},
                "metrics": {"serviceMonitor": {"enabled": st.component("monitoring").is_some()}},
            })
        }
        "kube-prometheus-stack" => {
            let r = replicas(st, "monitoring");
            let class = storage_class(st);
            let retention = st
                .component("monitoring")
                .and_then(|c| c.setting("retention"))
                .unwrap_or("15d");
            let volume = |size: &str| {
                json!({"volumeClaimTemplate": {"spec": {
                    "storageClassName": class, "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": size}}}}})
            };
            json!({
                "prometheus": {"prometheusSpec": {
                    "replicas": r, "retention": retention, "podAntiAffinity": "hard",
                    "serviceMonitorSelectorNilUsesHelmValues": false,
                    "ruleSelectorNilUsesHelmValues": false,
                    "storageSpec": volume("10Gi"),
                    "resources": resources("200m", "512Mi", "1536Mi"),
                }},
                "alertmanager": {"alertmanagerSpec": {
                    "replicas": r, "podAntiAffinity": "hard",
                    "storage": volume("1Gi"),
                    "resources": resources("20m", "64Mi", "128Mi"),
                }},
                "grafana": {
                    "admin": {"existingSecret": "grafana-admin", "userKey": "admin-user",
                              "passwordKey": "admin-password"},
                    "persistence": {"enabled": true, "storageClassName": class, "size": "2Gi"},
                    "resources": resources("50m", "128Mi", "256Mi"),
                },
                // Patroni's leader is a pod label: exported for the alert.
                "kube-state-metrics": {"metricLabelsAllowlist": ["pods=[spilo-role]"]},
                "prometheusOperator": {"resources": resources("50m", "128Mi", "256Mi")},
            })
        }
        // One binary on a Longhorn volume: Loki's scalable modes need
        // object storage the homelab does not have.
        "loki" => json!({
            "deploymentMode": "SingleBinary",
            "loki": {
                "auth_enabled": false,
                "commonConfig": {"replication_factor": 1},
                "storage": {"type": "filesystem"},
                "schemaConfig": {"configs": [{
                    "from": "2024-01-01", "store": "tsdb", "object_store": "filesystem",
                    "schema": "v13", "index": {"prefix": "index_", "period": "24h"}}]},
            },
            "singleBinary": {"replicas": 1,
                             "persistence": {"storageClass": storage_class(st), "size": "10Gi"},
                             "resources": resources("100m", "256Mi", "512Mi")},
            "read": {"replicas": 0}, "write": {"replicas": 0}, "backend": {"replicas": 0},
            "chunksCache": {"enabled": false}, "resultsCache": {"enabled": false},
            "lokiCanary": {"enabled": false}, "test": {"enabled": false},
        }),
        _ => json!({}),
    }
}

/// The first address of a MetalLB range (`A-B` or a CIDR's first host).
pub(super) fn first_address(pool: &str) -> Option<String> {
    let pool = pool.trim();
    if let Some((a, _)) = pool.split_once('-') {
        return Some(a.trim().to_string());
    }
    let (net, _) = pool.split_once('/')?;
    let ip: std::net::Ipv4Addr = net.parse().ok()?;
    Some(std::net::Ipv4Addr::from(u32::from(ip).saturating_add(1)).to_string())
}

/// The objects that need a chart's CRDs or classes.
pub(super) fn extras(st: &StackPlan) -> Vec<(String, Vec<Value>)> {
    let mut out = Vec::new();
    if let Some(m) = st.component("metallb") {
        let pool: Vec<&str> = m.setting("addresses").unwrap_or("").split(',').collect();
        out.push((
            "haimg-metallb-pool".into(),
            vec![
                json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
                   "metadata": {"name": "haimg", "namespace": "metallb-system"},
                   "spec": {"addresses": pool}}),
                json!({"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement",
                   "metadata": {"name": "haimg", "namespace": "metallb-system"},
                   "spec": {"ipAddressPools": ["haimg"]}}),
            ],
        ));
    }
    if let Some(l) = st.component("longhorn") {
        let r = l.setting("replicas").unwrap_or("2");
        out.push(("haimg-longhorn-class".into(), vec![json!({
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": storage_class(st),
                         "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "driver.longhorn.io",
            "allowVolumeExpansion": true,
            // A database's volume outlives a deleted claim.
            "reclaimPolicy": "Retain",
            "volumeBindingMode": "Immediate",
            "parameters": {"numberOfReplicas": r, "staleReplicaTimeout": "30",
                           "fsType": "ext4", "dataLocality": "best-effort"},
        })]));
    }
    if st.component("monitoring").is_some() {
        out.push(("haimg-alerts".into(), vec![alerts(st)]));
    }
    out
}

/// Seed 002's alerts: a node down, etcd without quorum, a degraded
/// Longhorn volume, Patroni without a leader, a certificate near expiry.
fn alerts(st: &StackPlan) -> Value {
    let rule = |name: &str, expr: &str, for_: &str, severity: &str, summary: &str| {
        json!({"alert": name, "expr": expr, "for": for_,
               "labels": {"severity": severity}, "annotations": {"summary": summary}})
    };
    let mut rules = vec![
        rule(
            "NodeDown",
            "kube_node_status_condition{condition=\"Ready\",status=\"true\"} == 0",
            "5m",
            "critical",
            "A node has not been Ready for 5 minutes",
        ),
        rule(
            "EtcdQuorumAtRisk",
            "sum(kube_node_role{role=\"etcd\"} * on(node) group_left() kube_node_status_condition{condition=\"Ready\",status=\"true\"}) < 2",
            "2m",
            "critical",
            "Fewer than 2 etcd servers are Ready: one more loss stops the cluster",
        ),
        rule(
            "CertificateExpiresSoon",
            "apiserver_client_certificate_expiration_seconds_count > 0 and histogram_quantile(0.01, sum by (job, le) (rate(apiserver_client_certificate_expiration_seconds_bucket[5m]))) < 7 * 86400",
            "1h",
            "warning",
            "A client certificate the API server saw expires within 7 days",
        ),
    ];
    if st.component("longhorn").is_some() {
        rules.push(rule(
            "LonghornVolumeDegraded",
            "longhorn_volume_robustness == 2",
            "10m",
            "warning",
            "A Longhorn volume has lost a replica",
        ));
    }
    if st.component("patroni").is_some() {
        rules.push(rule(
            "PatroniNoLeader",
            "absent(kube_pod_labels{namespace=\"database\",label_spilo_role=\"master\"})",
            "2m",
            "critical",
            "No PostgreSQL primary: Patroni has no leader",
        ));
    }
    json!({
        "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
        "metadata": {"name": "haimg", "namespace": "monitoring"},
        "spec": {"groups": [{"name": "haimg", "rules": rules}]},
    })
}
