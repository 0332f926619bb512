//! `[stack.*]` in cluster.toml: the applications the cluster runs (seed
//! 000's stack), each table optional. Parsed here; placed, checked and
//! judged for availability in `plan::stack`.

use serde::Deserialize;

use super::model::S;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackConfig {
    pub metallb: Option<S<MetallbConfig>>,
    pub longhorn: Option<S<LonghornConfig>>,
    pub patroni: Option<S<PatroniConfig>>,
    pub vaultwarden: Option<S<VaultwardenConfig>>,
    pub dns: Option<S<DnsConfig>>,
    pub monitoring: Option<S<MonitoringConfig>>,
    pub backups: Option<S<BackupsConfig>>,
    /// Inputs of the availability estimate `haimg plan` prints.
    #[serde(default)]
    pub availability: AvailabilityConfig,
    /// A mirror of a pinned chart's repository, by chart name
    /// (`profiles/charts.toml`): air-gapped sites, tests.
    #[serde(default)]
    pub chart_repos: std::collections::BTreeMap<String, S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetallbConfig {
    /// L2 address pool: `A.B.C.D-A.B.C.E` ranges or CIDRs on the home LAN.
    #[serde(default)]
    pub addresses: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LonghornConfig {
    pub replicas: Option<S<u32>>,
    pub storage_class: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatroniConfig {
    pub replicas: Option<S<u32>>,
    /// Patroni's DCS: `kubernetes` (the K3s API, no extra etcd) or `etcd`
    /// (the seed's own 3-member etcd StatefulSet).
    pub dcs: Option<S<String>>,
    pub synchronous_mode: Option<S<bool>>,
    pub synchronous_mode_strict: Option<S<bool>>,
    pub volume_size: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultwardenConfig {
    pub replicas: Option<S<u32>>,
    pub domain: Option<S<String>>,
    pub signups: Option<S<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// The internal zone CoreDNS answers for (`internal`).
    pub zone: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringConfig {
    pub retention: Option<S<String>>,
    pub replicas: Option<S<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupsConfig {
    /// Cron schedule of the PostgreSQL base backups.
    pub schedule: Option<S<String>>,
    /// `pvc` or an `s3://bucket/prefix` URL.
    pub target: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityConfig {
    /// Mean time between failures of one node, hours.
    pub node_mtbf_h: Option<S<f64>>,
    /// Mean time to repair one node (re-flash, replace), hours.
    pub node_mttr_h: Option<S<f64>>,
}
