//! disk: assemble the image into a sparse file — from a rootfs tarball
//! (partition table, ext4 root from one tar stream, FAT32 boot partition:
//! [`image::write`]) or from a vendor's image, copied and edited in place
//! ([`edit::write`]). [`Base`] picks the route.

pub mod base;
pub mod bootfiles;
mod debugfs;
pub mod edit;
pub mod ext4;
pub mod fat;
pub mod gpt;
pub mod image;
pub mod mbr;
pub mod probe;
mod repoint;
mod root;
pub mod shared;
mod tarheader;
pub mod tarstream;

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::plan::NodePlan;
use crate::render::Rendered;

/// What a node's disk is made from.
pub enum Base {
    /// A rootfs tarball in the cache: root made fresh by mke2fs.
    Tarball(PathBuf),
    /// A vendor's image, examined: copied, then edited in place.
    Image(base::BaseImage),
}

impl Base {
    /// `node` with the layout this base gives it.
    pub fn sized(&self, node: &NodePlan, rendered: &Rendered) -> NodePlan {
        match self {
            // Root as large as its content needs; first boot grows it.
            Base::Tarball(tar) => image::sized(node, tar, rendered),
            Base::Image(img) => edit::sized(node, img),
        }
    }

    /// Write `node`'s disk into `file` (at `path`, sized by [`Base::sized`]).
    /// A file holding `node`'s root already, for `node` (sized) to take
    /// over as its image file (`shared::take`); `None` for a new file.
    pub fn take_root(&self, node: &NodePlan, epoch: i64) -> Option<PathBuf> {
        match self {
            Base::Tarball(tar) => shared::take(&image::key(node, tar, epoch), node),
            Base::Image(_) => None,
        }
    }

    pub fn write(
        &self,
        file: &File,
        path: &Path,
        node: &NodePlan,
        rendered: &Rendered,
        epoch: i64,
        quiet: bool,
    ) -> Result<(), DiskError> {
        match self {
            Base::Tarball(tar) => image::write(file, path, node, tar, rendered, epoch, quiet),
            Base::Image(img) => edit::write(file, path, node, img, rendered, epoch, quiet),
        }
    }
}

/// Everything that can go wrong while making the disk.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("{0}")]
    Tool(String),
    #[error(transparent)]
    Run(#[from] crate::tool::ToolError),
    #[error("bad base tarball: {0}")]
    BadTar(String),
    #[error("writing the root filesystem stream: {0}")]
    Stream(std::io::Error),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("partition table: {0}")]
    PartitionTable(String),
    #[error("FAT boot partition: {0}")]
    Fat(String),
    #[error("the boot partition is full while writing {0}: raise boot_size_mib in the profile")]
    BootFull(String),
    #[error(
        "the root filesystem does not fit: its files need about {need_mib} MiB, the root partition has {have_mib} MiB; set root_size_mib = {suggest_mib} (or more) in the profile"
    )]
    RootTooSmall {
        have_mib: u64,
        need_mib: u64,
        suggest_mib: u64,
    },
    #[error("the root filesystem lacks {what} (looked for {looked}); {hint}")]
    MissingBootFile {
        what: String,
        looked: String,
        hint: String,
    },
    #[error(
        "the base has no time daemon (looked for {0}): a Pi has no RTC and TLS to the Tailscale control plane needs the time; add systemd-timesyncd (or chrony) to the base"
    )]
    NoTimeDaemon(String),
    #[error("{0} is larger than an MBR partition table can address (2 TiB)")]
    TooLargeForMbr(PathBuf),
}

impl DiskError {
    pub fn io(what: &str, source: std::io::Error) -> DiskError {
        DiskError::Io {
            what: what.to_string(),
            source,
        }
    }
}

#[cfg(test)]
mod tarstream_tests;
