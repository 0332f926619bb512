//! plan: resolve each node + its cluster + its profile into one fully checked
//! [`NodePlan`], and check the cluster as a whole (quorum, bootstrap, witness,
//! names). Pure apart from reading secrets: it only looks at the loaded files.

pub mod acl;
pub mod availability;
mod base;
pub mod charts;
pub mod check;
mod check_stack;
mod cluster;
pub mod layout;
mod node;
pub mod packages;
mod profile;
pub mod report;
mod risks;
mod secrets;
pub mod stack;
mod stack_db;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{Arch, BaseKind, BootKind, DataMode, Loaded, Media, TableKind};
use crate::diag::{ConfigError, Diags};

pub use risks::risks;
pub use secrets::{ClusterSecrets, for_cluster as read_secrets};

/// Default mount point of the data disk (seed 000).
pub const DEFAULT_MOUNT: &str = "/mnt/k3s-storage";
/// Filesystem label of the data partition made at first boot.
pub const DATA_LABEL: &str = "k3s-storage";
/// The witness taint from seed 000: etcd votes, no workloads.
pub const WITNESS_TAINT: &str = "node-role.kubernetes.io/witness=true:NoSchedule";
/// etcd timings rendered when servers span sites (a WAN link). etcd's defaults
/// (100 ms / 1000 ms) are tuned for a LAN; etcd's tuning guide asks for a
/// heartbeat near the round-trip time and an election timeout about 10× that.
pub const WAN_HEARTBEAT_MS: u32 = 500;
pub const WAN_ELECTION_MS: u32 = 5000;

/// Where the secrets live when `[secrets]` does not say, relative to the
/// cluster file.
pub const DEFAULT_TOKEN_FILE: &str = "secrets/k3s-token";
pub const DEFAULT_AUTHKEY_FILE: &str = "secrets/tailscale-authkey";

/// The stack's generated secrets (`[stack.*]` that need them), each a file
/// beside the K3s token file: (path, what it is for).
pub fn stack_secret_files(loaded: &Loaded) -> Vec<(PathBuf, &'static str)> {
    let st = &loaded.cluster.value.stack;
    let (token, _) = secret_files(loaded);
    let dir = token.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut out = Vec::new();
    if st.patroni.is_some() {
        out.push((
            dir.join("postgres-superuser"),
            "PostgreSQL superuser password",
        ));
        out.push((
            dir.join("postgres-replication"),
            "PostgreSQL replication password",
        ));
    }
    if st.vaultwarden.is_some() {
        out.push((
            dir.join("vaultwarden-admin-token"),
            "Vaultwarden admin token",
        ));
    }
    if st.monitoring.is_some() {
        out.push((dir.join("grafana-admin"), "Grafana admin password"));
    }
    out
}

/// The K3s token file and the Tailscale auth-key file of a loaded cluster.
pub fn secret_files(loaded: &Loaded) -> (PathBuf, PathBuf) {
    let dir = loaded.cluster.dir();
    let s = &loaded.cluster.value.secrets;
    let path = |v: &Option<crate::config::S<String>>, d: &str| {
        dir.join(v.as_ref().map_or(d, |s| s.get_ref().as_str()))
    };
    (
        path(&s.token_file, DEFAULT_TOKEN_FILE),
        path(&s.authkey_file, DEFAULT_AUTHKEY_FILE),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The server that creates the cluster on the very first boot, unless a
    /// peer already answers.
    Bootstrap,
    /// Another control-plane server (etcd voter).
    Server,
    /// A worker.
    Agent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Bootstrap => "bootstrap",
            Role::Server => "server",
            Role::Agent => "agent",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterPlan {
    pub name: String,
    pub tailnet: String,
    pub k3s: K3sPlan,
    pub tailscale: TailscalePlan,
    pub nodes: Vec<NodePlan>,
    /// `[stack.*]`: the applications, where they run, how available.
    pub stack: Option<stack::StackPlan>,
    #[serde(skip)]
    pub token_file: PathBuf,
    #[serde(skip)]
    pub authkey_file: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct K3sPlan {
    pub version: Option<String>,
    pub airgap_images: bool,
    pub disable: Vec<String>,
    pub flannel_iface: String,
    pub data_dir: String,
    pub tls_san: Vec<String>,
    pub write_kubeconfig_mode: Option<String>,
    pub snapshot_schedule: Option<String>,
    pub snapshot_retention: Option<u32>,
    /// Set when servers span sites or the user set them.
    pub heartbeat_interval_ms: Option<u32>,
    pub election_timeout_ms: Option<u32>,
    /// Seconds the bootstrap server waits for a peer before founding.
    pub found_wait_s: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct TailscalePlan {
    pub version: Option<String>,
    pub tags: Vec<String>,
    pub accept_dns: bool,
    pub ssh: bool,
    pub login_server: Option<String>,
    /// `--advertise-tags` on `tailscale up` (`[tailscale] advertise_tags`).
    pub advertise_tags: bool,
    /// `[tailscale] login_server_ca`: the PEM text the nodes trust.
    pub login_server_ca: Option<String>,
    pub key_expiry_ok: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodePlan {
    pub hostname: String,
    /// `HOSTNAME.TAILNET`: how peers reach this node.
    pub fqdn: String,
    pub role: Role,
    pub witness: bool,
    pub etcd_voter: bool,
    pub site: String,
    /// Other servers' tailnet names (their hostnames), the bootstrap server
    /// first: whom to join. Found at boot in tailscaled's peer list, so
    /// joining needs no DNS.
    pub peers: Vec<String>,
    pub profile: ProfilePlan,
    pub base: BasePlan,
    pub storage: StoragePlan,
    /// K3s `data-dir`; `None` keeps K3s's default.
    pub data_dir: Option<String>,
    /// The K3s release this node runs (its own or the cluster's).
    pub k3s_version: Option<String>,
    pub users: Vec<UserPlan>,
    pub modules: Vec<String>,
    pub sysctls: BTreeMap<String, String>,
    pub cmdline: Vec<String>,
    pub labels: Vec<String>,
    pub taints: Vec<String>,
    /// sha256 of the cluster, node and profile files: instance-id and the seed
    /// of every identifier in the image.
    pub config_hash: String,
    /// Partitions and identifiers of its image (from profile and hash).
    #[serde(skip)]
    pub layout: layout::Layout,
    #[serde(skip)]
    pub source_file: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProfilePlan {
    pub name: String,
    pub description: String,
    pub arch: Arch,
    pub boot: BootKind,
    pub table: TableKind,
    pub boot_offset_mib: u64,
    pub boot_size_mib: u64,
    pub root_size_mib: u64,
    /// Start of the data partition (`data = "rest"`): fixed, so a re-flash
    /// never moves it (storage.sh looks for the old one there first).
    pub data_offset_mib: u64,
    pub boot_label: String,
    pub root_label: String,
    pub media: Media,
    pub firmware: Vec<String>,
    pub dtbs: Vec<String>,
    pub config_txt: Vec<String>,
    pub cloud_init: bool,
    /// Seconds first boot waits for the clock before `tailscale up`.
    pub clock_sync_wait_s: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BasePlan {
    pub kind: BaseKind,
    pub suite: Option<String>,
    pub mirror: Option<String>,
    pub components: Vec<String>,
    pub packages: Vec<String>,
    /// `None`: Debian's default (MODULES=most).
    pub initramfs: Option<Initramfs>,
    pub url: Option<String>,
    pub sha256: Option<String>,
    pub checksums: Option<String>,
    pub cloud_init: bool,
}

/// mkinitramfs's MODULES setting for a `debian` base. `most` copies hundreds
/// of modules, each resolved by modprobe: under qemu-user that dominates an
/// arm64 bootstrap. A known board needs only a handful.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Initramfs {
    Most,
    Dep,
    List(Vec<String>),
}

#[derive(Debug, Clone, Serialize)]
pub struct StoragePlan {
    pub data: DataMode,
    pub device: Option<String>,
    pub mount: String,
    pub label: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct UserPlan {
    pub name: String,
    pub groups: Vec<String>,
    pub ssh_keys: Vec<String>,
}

impl ClusterPlan {
    pub fn node(&self, hostname: &str) -> Option<&NodePlan> {
        self.nodes.iter().find(|n| n.hostname == hostname)
    }

    pub fn voters(&self) -> usize {
        self.nodes.iter().filter(|n| n.etcd_voter).count()
    }

    /// Votes needed for etcd to work.
    pub fn quorum(&self) -> usize {
        self.voters() / 2 + 1
    }

    /// How many voters may fail with the cluster still working.
    pub fn tolerance(&self) -> usize {
        self.voters().saturating_sub(self.quorum())
    }
}

/// Resolve and check the whole cluster. Warnings come back with the plan;
/// any error fails with every finding.
pub fn build(loaded: Loaded) -> Result<(ClusterPlan, Loaded, Diags), ConfigError> {
    let mut diags = Diags::default();
    let plan = cluster::build(&loaded, &mut diags);
    match plan {
        Some(p) if !diags.has_errors() => Ok((p, loaded, diags)),
        _ => {
            let mut all = loaded.warnings.items;
            all.extend(diags.items);
            Err(ConfigError {
                sources: loaded.sources,
                diags: all,
            })
        }
    }
}

#[cfg(test)]
mod tests;
