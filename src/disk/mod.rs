//! disk: assemble the image — partition table, ext4 root from one tar stream,
//! FAT32 boot partition — into a sparse file ([`image::write`]).

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
mod tarheader;
pub mod tarstream;

use std::path::PathBuf;

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
