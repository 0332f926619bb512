//! The user's files as written. Keys the user must give are still `Option`s
//! here: the plan stage checks them, so a missing key is reported beside every
//! other problem instead of stopping serde at the first one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use toml::Spanned;

pub type S<T> = Spanned<T>;

/// `cluster.toml`: what all nodes share.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    pub name: Option<S<String>>,
    /// Tailnet DNS suffix, e.g. `example-tailnet.ts.net`; servers are reached as
    /// `HOSTNAME.TAILNET`.
    pub tailnet: Option<S<String>>,
    /// Node files, relative to this file. Absent: every `*.toml` beside it
    /// whose `cluster` key names this file.
    pub nodes: Option<S<Vec<S<String>>>>,
    #[serde(default, rename = "server")]
    pub servers: Vec<S<ServerEntry>>,
    #[serde(default)]
    pub k3s: K3sCluster,
    #[serde(default)]
    pub tailscale: TailscaleCluster,
    #[serde(default)]
    pub secrets: SecretsConfig,
    /// The applications the cluster deploys by itself (`[stack.*]`).
    #[serde(default)]
    pub stack: super::stack::StackConfig,
}

/// One control-plane (etcd) member.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerEntry {
    pub name: Option<S<String>>,
    #[serde(default)]
    pub bootstrap: Option<S<bool>>,
    #[serde(default)]
    pub witness: Option<S<bool>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K3sCluster {
    pub version: Option<S<String>>,
    /// Packaged components to disable (`traefik`, `servicelb`, …).
    #[serde(default)]
    pub disable: Vec<S<String>>,
    pub flannel_iface: Option<S<String>>,
    /// Relative: under the node's data mount; absolute: used as is.
    pub data_dir: Option<S<String>>,
    #[serde(default)]
    pub tls_san: Vec<S<String>>,
    pub write_kubeconfig_mode: Option<S<String>>,
    /// Carry K3s's air-gap images too (`k3s-airgap-images-ARCH.tar.zst`).
    pub airgap_images: Option<S<bool>>,
    /// How long the bootstrap server waits for a peer's answer before it
    /// creates the cluster (when no server of the cluster was ever seen).
    pub found_wait_s: Option<S<u32>>,
    #[serde(default)]
    pub etcd: EtcdConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdConfig {
    pub snapshot_schedule: Option<S<String>>,
    pub snapshot_retention: Option<S<u32>>,
    pub heartbeat_interval_ms: Option<S<u32>>,
    pub election_timeout_ms: Option<S<u32>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TailscaleCluster {
    pub version: Option<S<String>>,
    /// `--advertise-tags`, e.g. `tag:k3s`.
    #[serde(default)]
    pub tags: Vec<S<String>>,
    pub accept_dns: Option<S<bool>>,
    pub ssh: Option<S<bool>>,
    /// A Headscale or other control server; default Tailscale's.
    pub login_server: Option<S<String>>,
    /// Pass `--advertise-tags` to `tailscale up` (default true). headscale
    /// (>= 0.27) refuses it with a pre-auth key: its nodes take the key's
    /// tags.
    pub advertise_tags: Option<S<bool>>,
    /// A PEM file (relative to the cluster file) with the CA certificate(s)
    /// of a self-hosted control server whose certificate a private CA
    /// signed; the nodes trust it for the control server and its DERP.
    pub login_server_ca: Option<S<String>>,
    /// Servers may join untagged: their node keys expire (180 days by
    /// default) unless key expiry is disabled for them in the admin console.
    pub key_expiry_ok: Option<S<bool>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    pub token_file: Option<S<String>>,
    pub authkey_file: Option<S<String>>,
}

/// `NODE.toml`: one machine.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    pub cluster: Option<S<String>>,
    pub hostname: Option<S<String>>,
    /// A built-in profile name (`rpi4`) or a path to a profile file.
    pub profile: Option<S<String>>,
    /// Where the machine stands (`home`, `cloud`, …). Servers on different sites
    /// mean etcd across a WAN link.
    pub site: Option<S<String>>,
    pub base: Option<S<BaseConfig>>,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default, rename = "user")]
    pub users: Vec<S<UserConfig>>,
    #[serde(default)]
    pub kernel: KernelConfig,
    /// Extra sysctls, `"key" = value`.
    #[serde(default)]
    pub sysctl: BTreeMap<String, S<toml::Value>>,
    #[serde(default)]
    pub k3s: NodeK3s,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BaseKind {
    /// mmdebstrap from Debian's archive.
    Debian,
    /// A root filesystem tarball.
    Rootfs,
    /// An existing OS disk image.
    Image,
}

/// `initramfs_modules = "most"` or `initramfs_modules = ["virtio_blk", …]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum InitramfsModules {
    Policy(String),
    List(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseConfig {
    pub kind: Option<S<BaseKind>>,
    /// Must match the profile's; defaults to it.
    pub arch: Option<S<Arch>>,
    // debian
    pub suite: Option<S<String>>,
    pub mirror: Option<S<String>>,
    #[serde(default)]
    pub components: Vec<S<String>>,
    #[serde(default)]
    pub packages: Vec<S<String>>,
    /// What mkinitramfs puts in the initramfs: "most" (Debian's default),
    /// "dep", or a list of module names (MODULES=list).
    pub initramfs_modules: Option<S<InitramfsModules>>,
    // rootfs / image
    /// A named artifact from the catalogue (e.g. `raspios-lite-arm64`) with
    /// `version`, instead of `url` + checksums.
    pub catalogue: Option<S<String>>,
    pub version: Option<S<String>>,
    pub url: Option<S<String>>,
    pub sha256: Option<S<String>>,
    pub checksums: Option<S<String>>,
    /// The base boots with cloud-init: haimg adds a NoCloud seed that carries
    /// its files. Default: true for `image`, false otherwise.
    pub cloud_init: Option<S<bool>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataMode {
    /// A partition made at first boot in the free space of the boot disk.
    Rest,
    /// A whole second disk, named by `device`.
    Device,
    /// No data disk: K3s keeps its data on the root filesystem.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Media {
    Ssd,
    Nvme,
    Sd,
    Virtual,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    pub data: Option<S<DataMode>>,
    pub device: Option<S<String>>,
    pub mount: Option<S<String>>,
    /// What the node boots from; an SD card is flagged as a risk for etcd.
    pub media: Option<S<Media>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: Option<S<String>>,
    #[serde(default)]
    pub ssh_keys: Vec<S<String>>,
    #[serde(default)]
    pub groups: Vec<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelConfig {
    #[serde(default)]
    pub modules: Vec<S<String>>,
    /// Extra kernel command-line arguments.
    #[serde(default)]
    pub cmdline: Vec<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeK3s {
    /// This node's K3s version, when it differs from the cluster's (agents
    /// only: every server must run the same version).
    pub version: Option<S<String>>,
    #[serde(default)]
    pub labels: Vec<S<String>>,
    /// Absent: the profile's and role's defaults (the witness taint).
    pub taints: Option<S<Vec<S<String>>>>,
}

/// `profiles/NAME.toml`: one kind of board.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    pub name: Option<S<String>>,
    pub description: Option<S<String>>,
    pub arch: Option<S<Arch>>,
    pub boot: Option<S<BootKind>>,
    /// Default `site` of nodes on this profile.
    pub site: Option<S<String>>,
    #[serde(default)]
    pub cloud_init: Option<S<bool>>,
    /// Boards without a battery-backed clock: how long first boot waits for
    /// timesyncd before joining the tailnet (seconds; 0: no wait).
    pub clock_sync_wait_s: Option<S<u64>>,
    pub media: Option<S<Media>>,
    pub disk: Option<S<DiskConfig>>,
    pub rpi: Option<S<RpiConfig>>,
    #[serde(default)]
    pub kernel: KernelConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Arch {
    #[serde(rename = "arm64", alias = "aarch64")]
    Arm64,
    #[serde(rename = "amd64", alias = "x86_64")]
    Amd64,
}

impl Arch {
    pub fn debian(self) -> &'static str {
        match self {
            Arch::Arm64 => "arm64",
            Arch::Amd64 => "amd64",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BootKind {
    /// Raspberry Pi firmware: FAT partition with start*.elf, config.txt, cmdline.txt.
    Rpi,
    /// UEFI: an EFI System Partition with systemd-boot.
    Uefi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    Mbr,
    Gpt,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskConfig {
    pub table: Option<S<TableKind>>,
    pub boot_offset_mib: Option<S<u64>>,
    pub boot_size_mib: Option<S<u64>>,
    pub root_size_mib: Option<S<u64>>,
    /// Where the data partition starts on the boot disk: fixed per profile so
    /// that a re-flash finds the node's data where it left it.
    pub data_offset_mib: Option<S<u64>>,
    pub boot_label: Option<S<String>>,
    pub root_label: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpiConfig {
    /// Firmware files the board's boot ROM loads from the FAT partition.
    #[serde(default)]
    pub firmware: Vec<S<String>>,
    #[serde(default)]
    pub dtbs: Vec<S<String>>,
    /// Lines of `config.txt` (before haimg's kernel/initramfs lines).
    #[serde(default)]
    pub config_txt: Vec<S<String>>,
}
