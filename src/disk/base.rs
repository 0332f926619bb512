//! An `image` base examined before a byte of the node's image is written:
//! its partition table, a FAT boot partition and an ext4 root (not LVM, not
//! LUKS) that e2fsck finds clean, the architecture of its programs, the
//! tools haimg's first boot runs, and room for haimg's files.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::debugfs::Ext4;
use super::{DiskError, probe};
use crate::config::{Arch, BootKind};
use crate::plan::NodePlan;
use crate::plan::layout::MIB;
use crate::plan::packages::{self, TIME_DAEMONS};
use crate::render::Rendered;

/// What the base image holds, as the edit needs it.
#[derive(Debug, Clone)]
pub struct BaseImage {
    pub path: PathBuf,
    pub len: u64,
    /// Byte offset and length of its FAT boot partition, and the label.
    pub boot: (u64, u64),
    pub boot_label: String,
    /// Byte offset and length of its ext4 root partition.
    pub root: (u64, u64),
    /// The root partition's GPT GUID: the vendor's boot loader names root
    /// by it, and the edit re-points it at the node's.
    pub root_partuuid: Option<String>,
    pub gpt: bool,
}

/// Programs first boot runs (storage.sh grows root and makes the data
/// partition with them); a base without them would fail on the node.
const FIRST_BOOT_TOOLS: &[&str] = &[
    "sfdisk",
    "partx",
    "findmnt",
    "lsblk",
    "blockdev",
    "resize2fs",
    "mkfs.ext4",
    "blkid",
];
const BIN_DIRS: &[&str] = &["usr/bin", "usr/sbin", "bin", "sbin"];

fn bad(base: &Path, why: impl std::fmt::Display) -> DiskError {
    DiskError::Tool(format!("base image {}: {why}", base.display()))
}

pub fn examine(
    path: &Path,
    node: &NodePlan,
    rendered: &Rendered,
    quiet: bool,
) -> Result<BaseImage, DiskError> {
    let file = File::open(path).map_err(|e| DiskError::io(&path.display().to_string(), e))?;
    let len = file
        .metadata()
        .map_err(|e| DiskError::io("the base image", e))?
        .len();
    let table = probe::read(&file).map_err(|e| bad(path, e))?;
    let parts = &table.partitions;
    if let Some(p) = parts.iter().find(|p| {
        p.fs.as_ref()
            .is_some_and(|f| matches!(f.kind, "LVM2_member" | "crypto_LUKS"))
    }) {
        return Err(bad(
            path,
            format!(
                "partition {} is {}: haimg edits a plain ext4 root, not one inside LVM or LUKS",
                p.number,
                p.fs.as_ref().map_or("", |f| f.kind)
            ),
        ));
    }
    let kind = |p: &probe::Partition| p.fs.as_ref().map(|f| f.kind);
    let boot = parts.iter().find(|p| kind(p) == Some("vfat"));
    let root = parts
        .iter()
        .find(|p| matches!(kind(p), Some("ext4" | "ext3" | "ext2")));
    let (Some(boot), Some(root)) = (boot, root) else {
        let found: Vec<String> = parts
            .iter()
            .map(|p| format!("{}: {}", p.number, kind(p).unwrap_or("unknown")))
            .collect();
        return Err(bad(
            path,
            format!(
                "an image base needs a FAT boot partition (the Pi's, or an ESP) and an ext4 root; it has [{}]",
                found.join(", ")
            ),
        ));
    };
    match node.profile.boot {
        BootKind::Rpi
            if table.label != "dos" || parts.len() != 2 || boot.number != 1 || root.number != 2 =>
        {
            return Err(bad(
                path,
                "expected an MBR with the FAT boot partition first and the ext4 root second, as Raspberry Pi OS and Ubuntu lay them out",
            ));
        }
        BootKind::Uefi => {
            // Debian's cloud images add a BIOS boot partition (p14) for
            // GRUB on legacy BIOS; a UEFI node does not need it, and the
            // node's GPT holds the ESP and root only. Anything else is data
            // haimg would drop: refused.
            let bios = "21686148-6449-6e6f-744e-656564454649";
            let other = parts
                .iter()
                .find(|p| p.number != boot.number && p.number != root.number && p.kind != bios);
            if table.label != "gpt" || other.is_some() {
                return Err(bad(
                    path,
                    "expected a GPT with an ESP, an ext4 root and at most a BIOS boot partition, as Debian's cloud images lay them out",
                ));
            }
            if boot.start > root.start {
                return Err(bad(
                    path,
                    "its ESP comes after root: root could not grow at first boot",
                ));
            }
        }
        BootKind::Rpi => {}
    }
    if root.start + root.size > len {
        return Err(bad(
            path,
            "the root partition runs past the end of the file: the image is truncated",
        ));
    }
    // Root grows at first boot up to the profile's end, where data starts.
    let root_end = node.profile.root_end_mib() * MIB;
    if root.start + root.size > root_end {
        return Err(bad(
            path,
            format!(
                "its root partition ends at {} MiB, past this profile's root end ({} MiB); raise root_size_mib (and data_offset_mib) in the profile",
                (root.start + root.size).div_ceil(MIB),
                root_end / MIB
            ),
        ));
    }
    fsck(path, root.start)?;
    let ext4 = Ext4 {
        image: path,
        offset: root.start,
        epoch: 0,
    };
    check_arch(&ext4, node.profile.arch, path)?;
    check_tools(&ext4, path)?;
    check_packages(&ext4, path, quiet)?;
    check_room(&ext4, path, rendered)?;
    let boot_label = boot
        .fs
        .as_ref()
        .and_then(|f| f.label.clone())
        .unwrap_or_else(|| node.profile.boot_label.clone());
    Ok(BaseImage {
        path: path.to_path_buf(),
        len,
        boot: (boot.start, boot.size),
        boot_label,
        root: (root.start, root.size),
        root_partuuid: root.uuid.clone(),
        gpt: table.label == "gpt",
    })
}

/// `e2fsck -fn`: a root with errors is not edited (debugfs would make it worse).
fn fsck(path: &Path, offset: u64) -> Result<(), DiskError> {
    let out = Command::new("e2fsck")
        .arg("-fn")
        .arg(format!("{}?offset={offset}", path.display()))
        .output()
        .map_err(|e| DiskError::Tool(format!("cannot run e2fsck (e2fsprogs): {e}")))?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout);
        let tail: Vec<&str> = text.lines().rev().take(4).collect();
        return Err(bad(
            path,
            format!(
                "e2fsck finds errors in its root file system (exit {}): {}",
                out.status.code().unwrap_or(-1),
                tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
            ),
        ));
    }
    Ok(())
}

/// The ELF machine of `/usr/bin/env` against the profile's architecture.
fn check_arch(ext4: &Ext4<'_>, arch: Arch, path: &Path) -> Result<(), DiskError> {
    let elf = ext4.read("usr/bin/env")?.ok_or_else(|| {
        bad(
            path,
            "its root file system has no /usr/bin/env: is it a Linux root?",
        )
    })?;
    let machine = elf.get(18..20).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let found = match machine {
        _ if !elf.starts_with(b"\x7fELF") => "not an ELF program",
        Some(0xb7) => "arm64",
        Some(0x3e) => "amd64",
        Some(0x28) => "armhf",
        Some(0x03) => "i386",
        _ => "another architecture",
    };
    if found != arch.debian() {
        return Err(bad(
            path,
            format!(
                "its programs are {found} (/usr/bin/env), the profile is {}: pick the base built for {}",
                arch.debian(),
                arch.debian()
            ),
        ));
    }
    Ok(())
}

fn check_tools(ext4: &Ext4<'_>, path: &Path) -> Result<(), DiskError> {
    let mut dirs: BTreeSet<String> = BIN_DIRS.iter().map(|d| d.to_string()).collect();
    for t in TIME_DAEMONS {
        dirs.insert(t.rsplit_once('/').map_or("", |(d, _)| d).to_string());
    }
    let listed = ext4.list(&dirs)?;
    let has = |p: &str| {
        let (d, l) = p.rsplit_once('/').unwrap_or(("", p));
        listed.get(d).is_some_and(|m| m.contains_key(l))
    };
    let missing: Vec<&str> = FIRST_BOOT_TOOLS
        .iter()
        .copied()
        .filter(|t| !BIN_DIRS.iter().any(|d| has(&format!("{d}/{t}"))))
        .collect();
    if !missing.is_empty() {
        return Err(bad(
            path,
            format!(
                "its root lacks {} (first boot grows root and makes the data partition with them; Debian packages fdisk, util-linux, e2fsprogs)",
                missing.join(", ")
            ),
        ));
    }
    if !TIME_DAEMONS.iter().any(|t| has(t)) {
        return Err(DiskError::NoTimeDaemon(TIME_DAEMONS.join(", ")));
    }
    Ok(())
}

/// The base's installed packages (its dpkg status) against what haimg's
/// first boot runs; a base without dpkg is judged by its files alone.
fn check_packages(ext4: &Ext4<'_>, path: &Path, quiet: bool) -> Result<(), DiskError> {
    let Some(status) = ext4.read("var/lib/dpkg/status")? else {
        return Ok(());
    };
    let status = String::from_utf8_lossy(&status);
    let installed: BTreeSet<&str> = status
        .split("\n\n")
        .filter(|stanza| stanza.lines().any(|l| l == "Status: install ok installed"))
        .filter_map(|stanza| stanza.lines().find_map(|l| l.strip_prefix("Package: ")))
        .collect();
    let missing: Vec<String> = packages::image_required()
        .iter()
        .filter(|r| !installed.contains(r.package))
        .map(|r| format!("{} ({})", r.package, r.why))
        .collect();
    if !missing.is_empty() {
        return Err(bad(
            path,
            format!(
                "it lacks packages haimg's first boot needs: {}",
                missing.join("; ")
            ),
        ));
    }
    let absent: Vec<&str> = packages::IMAGE_WANTED
        .iter()
        .copied()
        .filter(|p| !installed.contains(p))
        .collect();
    if !absent.is_empty() && !quiet {
        eprintln!(
            "haimg: warning: the base image lacks {}: Longhorn volumes need them on every node that holds a replica",
            absent.join(", ")
        );
    }
    Ok(())
}

/// Free space in the base's root (debugfs `stats`) against haimg's root files.
fn check_room(ext4: &Ext4<'_>, path: &Path, rendered: &Rendered) -> Result<(), DiskError> {
    let text = ext4.stats()?;
    let field = |k: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.trim().parse().ok())
    };
    let (Some(free), Some(bs)) = (field("Free blocks:"), field("Block size:")) else {
        return Err(bad(
            path,
            "debugfs cannot read its root file system's superblock",
        ));
    };
    let mut need = 16 * MIB;
    for e in rendered.root.values() {
        need += e.size().unwrap_or(0).div_ceil(4096) * 4096 + 4096;
    }
    if free * bs < need {
        return Err(bad(
            path,
            format!(
                "its root file system has {} MiB free and haimg's files need {} MiB; root grows only at first boot, so use a base with more room or move payload out of root",
                free * bs / MIB,
                need.div_ceil(MIB)
            ),
        ));
    }
    Ok(())
}
