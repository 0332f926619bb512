//! The stack's plain manifests (no chart ships them): Patroni on Spilo,
//! Vaultwarden, the internal DNS zone, the database backups; and the
//! Secrets they read.

use serde_json::{Value, json};

use super::values::{first_address, storage_class};
use super::{namespaces, one_per_node, pdb, resources};
use crate::plan::stack::StackPlan;
use crate::secrets::Secret;

pub(super) const DB_NS: &str = "database";
pub(super) const VW_NS: &str = "vaultwarden";
/// Spilo (Patroni + PostgreSQL 16), multi-arch; pinned, never `latest`.
const SPILO: &str = "ghcr.io/zalando/spilo-16:3.2-p2";
const VAULTWARDEN: &str = "docker.io/vaultwarden/server:1.32.5";

fn setting<'a>(st: &'a StackPlan, c: &str, key: &str) -> Option<&'a str> {
    st.component(c)?.setting(key)
}

fn num(st: &StackPlan, c: &str, key: &str) -> u32 {
    setting(st, c, key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

fn secret_env(name: &str, secret: &str, key: &str) -> Value {
    json!({"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
}

pub(super) fn manifests(st: &StackPlan) -> Vec<(String, Vec<Value>)> {
    let mut out = Vec::new();
    if st.component("patroni").is_some() {
        out.push(("haimg-patroni".into(), patroni(st)));
    }
    if st.component("vaultwarden").is_some() {
        out.push(("haimg-vaultwarden".into(), vaultwarden(st)));
    }
    if let Some(d) = st.component("coredns") {
        out.push((
            "haimg-dns".into(),
            vec![dns(st, d.setting("zone").unwrap_or("internal"))],
        ));
    }
    if st.component("backups").is_some() && st.component("patroni").is_some() {
        out.push(("haimg-backups".into(), backups(st)));
    }
    out
}

/// Patroni with the K3s API as its DCS (Spilo's DCS_ENABLE_KUBERNETES_API;
/// leader and config in ConfigMaps, the role in the `spilo-role` pod
/// label the Services select on).
fn patroni(st: &StackPlan) -> Vec<Value> {
    let r = num(st, "patroni", "replicas");
    let sync = setting(st, "patroni", "synchronous_mode") == Some("true");
    let strict = setting(st, "patroni", "synchronous_mode_strict") == Some("true");
    let size = setting(st, "patroni", "volume_size").unwrap_or("10Gi");
    let labels = json!({"application": "patroni", "cluster-name": "postgres"});
    let spilo_cfg = json!({"bootstrap": {"dcs": {
        "synchronous_mode": sync, "synchronous_mode_strict": strict}}});
    let env = json!([
        {"name": "SCOPE", "value": "postgres"},
        {"name": "PGVERSION", "value": "16"},
        {"name": "DCS_ENABLE_KUBERNETES_API", "value": "true"},
        {"name": "KUBERNETES_USE_CONFIGMAPS", "value": "true"},
        {"name": "KUBERNETES_SCOPE_LABEL", "value": "cluster-name"},
        {"name": "KUBERNETES_ROLE_LABEL", "value": "spilo-role"},
        {"name": "KUBERNETES_LEADER_LABEL_VALUE", "value": "master"},
        {"name": "KUBERNETES_LABELS", "value": labels.to_string()},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "PGROOT", "value": "/home/postgres/pgdata/pgroot"},
        {"name": "PGUSER_SUPERUSER", "value": "postgres"},
        secret_env("PGPASSWORD_SUPERUSER", "postgres-credentials", "superuser-password"),
        {"name": "PGUSER_STANDBY", "value": "standby"},
        secret_env("PGPASSWORD_STANDBY", "postgres-credentials", "replication-password"),
        {"name": "SPILO_CONFIGURATION", "value": spilo_cfg.to_string()},
    ]);
    let mut env = env.as_array().cloned().unwrap_or_default();
    if let Some(t) = setting(st, "backups", "target").and_then(|t| t.strip_prefix("s3://")) {
        // Spilo's own WAL-G: WAL continuously, base backups on its schedule;
        // credentials from the `backup-s3` Secret the user makes (README).
        let schedule = setting(st, "backups", "schedule").unwrap_or("0 3 * * *");
        env.extend([
            json!({"name": "WAL_S3_BUCKET", "value": t}),
            json!({"name": "USE_WALG_BACKUP", "value": "true"}),
            json!({"name": "USE_WALG_RESTORE", "value": "true"}),
            json!({"name": "BACKUP_SCHEDULE", "value": schedule}),
        ]);
    }
    let role =
        |verbs: &[&str], res: &[&str]| json!({"apiGroups": [""], "resources": res, "verbs": verbs});
    let all = [
        "create",
        "get",
        "list",
        "patch",
        "update",
        "watch",
        "delete",
        "deletecollection",
    ];
    let svc = |name: &str, role: &str| {
        json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": DB_NS},
        "spec": {"selector": {"application": "patroni", "cluster-name": "postgres", "spilo-role": role},
                 "ports": [{"name": "postgresql", "port": 5432, "targetPort": 5432}]}})
    };
    vec![
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "patroni", "namespace": DB_NS}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": "patroni", "namespace": DB_NS},
               "rules": [role(&all, &["configmaps", "endpoints"]),
                         role(&["get", "list", "patch", "update", "watch"], &["pods"]),
                         role(&["create"], &["services"])]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "patroni", "namespace": DB_NS},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "patroni"},
               "subjects": [{"kind": "ServiceAccount", "name": "patroni", "namespace": DB_NS}]}),
        svc("postgres", "master"),
        svc("postgres-replica", "replica"),
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "patroni", "namespace": DB_NS},
               "spec": {"clusterIP": "None", "selector": labels,
                        "ports": [{"name": "postgresql", "port": 5432}]}}),
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "patroni", "namespace": DB_NS, "labels": labels},
        "spec": {
            "serviceName": "patroni", "replicas": r,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                "serviceAccountName": "patroni",
                "affinity": one_per_node(&labels),
                "terminationGracePeriodSeconds": 30,
                "containers": [{
                    "name": "postgres", "image": SPILO,
                    "ports": [{"containerPort": 5432, "name": "postgresql"},
                              {"containerPort": 8008, "name": "patroni"}],
                    "env": env,
                    "readinessProbe": {"httpGet": {"path": "/readiness", "port": 8008},
                                       "periodSeconds": 10, "failureThreshold": 3},
                    "livenessProbe": {"httpGet": {"path": "/liveness", "port": 8008},
                                      "initialDelaySeconds": 60, "periodSeconds": 10,
                                      "failureThreshold": 6},
                    "resources": resources("250m", "512Mi", "1Gi"),
                    "volumeMounts": [{"name": "pgdata", "mountPath": "/home/postgres/pgdata"}],
                }],
            }},
            "volumeClaimTemplates": [{"metadata": {"name": "pgdata"}, "spec": {
                "accessModes": ["ReadWriteOnce"], "storageClassName": storage_class(st),
                "resources": {"requests": {"storage": size}}}}],
        }}),
        pdb("patroni", DB_NS, &labels),
    ]
}

fn vaultwarden(st: &StackPlan) -> Vec<Value> {
    let r = num(st, "vaultwarden", "replicas");
    let domain = setting(st, "vaultwarden", "domain").unwrap_or("vaultwarden.internal");
    let signups = setting(st, "vaultwarden", "signups") == Some("true");
    let labels = json!({"app": "vaultwarden"});
    // Replicas must share /data (its RSA key signs the login tokens): a
    // ReadWriteMany Longhorn volume where Longhorn runs.
    let rwx = st.component("longhorn").is_some();
    let mut svc = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "vaultwarden", "namespace": VW_NS},
        "spec": {"type": "LoadBalancer", "selector": labels,
                 "ports": [{"name": "http", "port": 80, "targetPort": 80}]}});
    if let Some(ip) = lb_address(st) {
        svc["metadata"]["annotations"] = json!({"metallb.universe.tf/loadBalancerIPs": ip});
    }
    vec![
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
               "metadata": {"name": "vaultwarden-data", "namespace": VW_NS},
               "spec": {"accessModes": [if rwx { "ReadWriteMany" } else { "ReadWriteOnce" }],
                        "storageClassName": storage_class(st),
                        "resources": {"requests": {"storage": "1Gi"}}}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "vaultwarden", "namespace": VW_NS, "labels": labels},
        "spec": {"replicas": r, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                "affinity": one_per_node(&labels),
                "containers": [{
                    "name": "vaultwarden", "image": VAULTWARDEN,
                    "ports": [{"containerPort": 80, "name": "http"}],
                    "env": [
                        {"name": "DOMAIN", "value": format!("https://{domain}")},
                        {"name": "SIGNUPS_ALLOWED", "value": signups.to_string()},
                        secret_env("ADMIN_TOKEN", "vaultwarden-secrets", "admin-token"),
                        secret_env("DATABASE_URL", "vaultwarden-secrets", "database-url"),
                    ],
                    "readinessProbe": {"httpGet": {"path": "/alive", "port": 80}, "periodSeconds": 10},
                    "livenessProbe": {"httpGet": {"path": "/alive", "port": 80},
                                      "initialDelaySeconds": 30, "periodSeconds": 20},
                    "resources": resources("50m", "64Mi", "256Mi"),
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "vaultwarden-data"}}],
            }}}}),
        svc,
        pdb("vaultwarden", VW_NS, &labels),
    ]
}

/// The LoadBalancer address Vaultwarden asks MetalLB for: the pool's first.
fn lb_address(st: &StackPlan) -> Option<String> {
    first_address(setting(st, "metallb", "addresses")?.split(',').next()?)
}

/// K3s's CoreDNS imports `/etc/coredns/custom/*.server` from the optional
/// ConfigMap `coredns-custom` (K3s's coredns.yaml): the internal zone.
fn dns(st: &StackPlan, zone: &str) -> Value {
    let mut hosts = String::new();
    if let (Some(ip), Some(domain)) = (lb_address(st), setting(st, "vaultwarden", "domain"))
        && (domain == zone || domain.ends_with(&format!(".{zone}")))
    {
        hosts.push_str(&format!("        {ip} {domain}\n"));
    }
    let server =
        format!("{zone}:53 {{\n    errors\n    hosts {{\n{hosts}        fallthrough\n    }}\n}}\n");
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "coredns-custom", "namespace": "kube-system"},
           "data": {"haimg.server": server}})
}

/// Base backups to a Longhorn volume, the newest seven kept.
fn backups(st: &StackPlan) -> Vec<Value> {
    if setting(st, "backups", "target") != Some("pvc") {
        return Vec::new(); // s3: Spilo's WAL-G, set on the StatefulSet.
    }
    let schedule = setting(st, "backups", "schedule").unwrap_or("0 3 * * *");
    let script = "set -eu\nd=/backups/$(date -u +%Y%m%dT%H%M%SZ)\npg_basebackup -h postgres-replica -U standby -D \"$d.partial\" -Ft -z -X fetch\nmv \"$d.partial\" \"$d\"\nls -1d /backups/*Z | head -n -7 | xargs -r rm -rf\n";
    vec![
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
               "metadata": {"name": "postgres-backups", "namespace": DB_NS},
               "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": storage_class(st),
                        "resources": {"requests": {"storage": "20Gi"}}}}),
        json!({"apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "postgres-basebackup", "namespace": DB_NS},
        "spec": {"schedule": schedule, "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": {"backoffLimit": 2, "template": {"spec": {
                "restartPolicy": "OnFailure",
                "containers": [{
                    "name": "basebackup", "image": SPILO,
                    "command": ["/bin/sh", "-c", script],
                    "env": [secret_env("PGPASSWORD", "postgres-credentials", "replication-password")],
                    "resources": resources("100m", "128Mi", "512Mi"),
                    "volumeMounts": [{"name": "backups", "mountPath": "/backups"}],
                }],
                "volumes": [{"name": "backups", "persistentVolumeClaim": {"claimName": "postgres-backups"}}],
            }}}}}}),
    ]
}

/// `%`-encode all but RFC 3986's unreserved characters (a password in a URL).
fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The Secrets file (a JSON `List`, namespaces first): every password the
/// stack reads, applied once at first boot and wiped (stack.sh).
pub(super) fn secrets(st: &StackPlan, values: &[(String, Secret)]) -> String {
    let get = |n: &str| {
        values
            .iter()
            .find(|(k, _)| k == n)
            .map_or("", |(_, v)| v.expose())
    };
    let secret = |ns: &str, name: &str, data: Value| {
        json!({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": name, "namespace": ns}, "stringData": data})
    };
    let mut items = namespaces(st);
    if st.component("patroni").is_some() {
        items.push(secret(
            DB_NS,
            "postgres-credentials",
            json!({
            "superuser-password": get("postgres-superuser"),
            "replication-password": get("postgres-replication")}),
        ));
    }
    if st.component("vaultwarden").is_some() {
        let url = format!(
            "postgresql://postgres:{}@postgres.{DB_NS}.svc.cluster.local:5432/postgres",
            url_escape(get("postgres-superuser"))
        );
        items.push(secret(
            VW_NS,
            "vaultwarden-secrets",
            json!({
            "admin-token": get("vaultwarden-admin-token"), "database-url": url}),
        ));
    }
    if st.component("monitoring").is_some() {
        items.push(secret(
            "monitoring",
            "grafana-admin",
            json!({
            "admin-user": "admin", "admin-password": get("grafana-admin")}),
        ));
    }
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    format!(
        "{}\n",
        serde_json::to_string_pretty(&list).unwrap_or_default()
    )
}
