//! The command line's shape: one clap struct per subcommand, the options
//! several share defined once and flattened. No behaviour lives here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::source::fetch;

#[derive(Parser)]
#[command(
    name = "haimg",
    version,
    about = "Build flashable disk images for the nodes of an HA K3s cluster"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Validate the whole cluster; show topology, quorum, failure tolerance, risks
    Plan(PlanArgs),
    /// Build the disk image of a node (node file) or of every node (cluster file)
    Build(BuildArgs),
    /// Download and verify everything the nodes need, so builds can run offline
    Fetch(FetchArgs),
    /// Write a node's first-boot files to a folder for review
    Render(RenderArgs),
    /// Remove a node whose data disk is lost from the cluster's memory, so a re-flash joins anew
    Forget(ForgetArgs),
    /// Show an image's partitions, file systems, haimg manifest and boot-partition secrets
    Inspect(InspectArgs),
    /// Write an image to a disk: only its data, verified, refusing disks in use
    Flash(FlashArgs),
    /// Write a bootloader-update SD card's files that set a Pi's boot order (USB/NVMe first)
    Eeprom(EepromArgs),
    /// Manage the cluster's secrets
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
}

#[derive(Args)]
pub struct PlanArgs {
    /// cluster.toml or any node file of the cluster
    pub file: PathBuf,
    /// Print the plan as JSON
    #[arg(long)]
    pub json: bool,
    /// Print the tailnet policy (ACL) snippet the cluster's tags need
    #[arg(long, conflicts_with = "json")]
    pub acl: bool,
}

#[derive(Args)]
pub struct ForgetArgs {
    /// The node's own file (e.g. raspi1.toml)
    pub file: PathBuf,
    /// Run the Kubernetes steps with kubectl and this kubeconfig
    #[arg(long, value_name = "KUBECONFIG")]
    pub apply: Option<PathBuf>,
}

#[derive(Args)]
pub struct InspectArgs {
    /// A disk image (haimg's or any MBR/GPT image)
    pub image: PathBuf,
    /// Print it as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct FlashArgs {
    /// NODE.img, NODE.img.xz or NODE.img.zst (NODE.img.bmap beside it is used)
    pub image: PathBuf,
    /// The whole disk to write, e.g. /dev/sdb
    pub device: PathBuf,
    /// Do not ask for confirmation
    #[arg(long, short)]
    pub yes: bool,
    /// Also write to a disk that is not removable (an internal disk)
    #[arg(long)]
    pub force: bool,
    /// Skip reading the written ranges back
    #[arg(long)]
    pub no_verify: bool,
    /// The block map to use (default IMAGE's NODE.img.bmap when it exists)
    #[arg(long)]
    pub bmap: Option<PathBuf>,
    /// No progress bar
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum Board {
    /// Raspberry Pi 4, 400, CM4 (BCM2711)
    Rpi4,
    /// Raspberry Pi 5, 500, CM5 (BCM2712)
    Rpi5,
}

#[derive(Args)]
pub struct EepromArgs {
    #[arg(long, value_enum)]
    pub board: Board,
    /// Boot modes, first tried first: sd, usb, nvme, network, http, rpiboot
    #[arg(long, value_delimiter = ',', required = true)]
    pub boot_order: Vec<String>,
    /// Folder to write the SD card's files to
    #[arg(long, short)]
    pub out: PathBuf,
    /// Take pieeprom(-DATE).bin and recovery.bin from this folder (an
    /// rpi-eeprom checkout's firmware-2712/default, say) instead of the
    /// pinned release files
    #[arg(long)]
    pub firmware: Option<PathBuf>,
    /// Replace a non-empty output folder
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub fetch: FetchOpts,
}

/// Where artifacts come from and go: shared by every command that fetches.
#[derive(Args, Clone)]
pub struct FetchOpts {
    /// Cache folder (default $XDG_CACHE_HOME/haimg)
    #[arg(long, env = "HAIMG_CACHE")]
    pub cache: Option<PathBuf>,
    /// Never open a network connection (everything must be cached)
    #[arg(long)]
    pub offline: bool,
    /// Accept downloads that have no checksum to check
    #[arg(long)]
    pub insecure: bool,
    /// No progress bars or notes
    #[arg(long, short)]
    pub quiet: bool,
}

impl FetchOpts {
    pub fn options(&self) -> fetch::Options {
        fetch::Options {
            cache: self.cache.clone(),
            offline: self.offline,
            insecure: self.insecure,
            quiet: self.quiet,
        }
    }
}

#[derive(Args)]
pub struct BuildArgs {
    /// A node file, or the cluster file for every node
    pub file: PathBuf,
    /// Output folder for NODE.img and NODE.img.sha256
    #[arg(long, short, default_value = "out")]
    pub out: PathBuf,
    /// Folder with k3s, tailscale, tailscaled (and images/) for first boot
    #[arg(long)]
    pub payload: Option<PathBuf>,
    /// With --format user-data and --payload: the URL (http:// or https://)
    /// where that folder's files are served, a mirror of your own; the VM
    /// downloads each file from it and checks its sha256
    #[arg(long, requires = "payload")]
    pub payload_url: Option<String>,
    /// Also write compressed copies: xz, zst or both (xz,zst)
    #[arg(long, value_enum, value_delimiter = ',')]
    pub compress: Vec<Compress>,
    /// qcow2: also NODE.qcow2 (clouds that import images); user-data:
    /// instead of an image, NODE.user-data for a provider's stock VM
    #[arg(long, value_enum, value_delimiter = ',')]
    pub format: Vec<DiskFormat>,
    /// The bootstrap server creates a new cluster on first boot, even if
    /// servers of this cluster were seen in the tailnet before (one-shot)
    #[arg(long)]
    pub new_cluster: bool,
    /// Progress and results as JSON lines on stdout
    #[arg(long)]
    pub json: bool,
    /// Nodes built at once (default: by cores and available memory)
    #[arg(long, short, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: Option<u32>,
    #[command(flatten)]
    pub fetch: FetchOpts,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Compress {
    /// NODE.img.xz (multi-threaded liblzma, preset 6)
    Xz,
    /// NODE.img.zst (multi-threaded zstd, level 3)
    Zst,
}

impl Compress {
    pub fn format(self) -> crate::emit::Format {
        match self {
            Compress::Xz => crate::emit::Format::Xz,
            Compress::Zst => crate::emit::Format::Zst,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DiskFormat {
    /// NODE.qcow2 (qemu-img convert; sparse, uncompressed)
    Qcow2,
    /// NODE.user-data: cloud-init user-data for a stock Debian/Ubuntu VM
    UserData,
}

#[derive(Args)]
pub struct FetchArgs {
    /// A node file, or the cluster file for every node
    pub file: PathBuf,
    #[command(flatten)]
    pub fetch: FetchOpts,
}

#[derive(Args)]
pub struct RenderArgs {
    /// A node file (one node) or the cluster file (every node, one folder each)
    pub file: PathBuf,
    /// Output folder (must not exist, or be empty, unless --force)
    #[arg(long, short)]
    pub out: PathBuf,
    /// Write the real secrets instead of placeholders
    #[arg(long)]
    pub with_secrets: bool,
    /// Replace an existing output folder
    #[arg(long)]
    pub force: bool,
    /// Folder with k3s, tailscale, tailscaled (and images/): show the payload
    /// and its manifest as `build --payload` puts them in the image. Without
    /// it, the catalogue's payload is shown when it is in the cache.
    #[arg(long)]
    pub payload: Option<PathBuf>,
    /// Cache folder (default $XDG_CACHE_HOME/haimg)
    #[arg(long, env = "HAIMG_CACHE")]
    pub cache: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum SecretsCommand {
    /// Create the K3s token and an auth-key placeholder (0600); never overwrites
    Init {
        /// The cluster file
        cluster: PathBuf,
    },
}
