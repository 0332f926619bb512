//! GPT through the `gpt` crate, with fixed GUIDs (the crate would draw random
//! ones) and the full 128-entry array that every tool expects.

use std::collections::BTreeMap;
use std::fs::File;

use gpt::disk::LogicalBlockSize;
use gpt::partition::Partition;
use gpt::partition_types::{EFI, LINUX_ROOT_X64, Type};

use super::DiskError;
use crate::plan::layout::{Layout, SECTOR};

/// The Discoverable Partitions Specification's root type for the architecture.
fn root_type(arch: crate::config::Arch) -> Type {
    match arch {
        crate::config::Arch::Amd64 => LINUX_ROOT_X64,
        // "Linux root (ARM-64)", B921B045-1DF0-41C3-AF44-4C6F280D3FAE.
        crate::config::Arch::Arm64 => gpt::partition_types::LINUX_ROOT_ARM_64,
    }
}

pub fn write(file: &mut File, layout: &Layout, arch: crate::config::Arch) -> Result<(), DiskError> {
    let err = |e: &dyn std::fmt::Display| DiskError::PartitionTable(e.to_string());
    // The protective MBR spans the whole disk (capped at 2^32-1 sectors).
    let pmbr = gpt::mbr::ProtectiveMBR::with_lb_size(
        u32::try_from(layout.size / SECTOR - 1).unwrap_or(u32::MAX),
    );
    pmbr.overwrite_lba0(file).map_err(|e| err(&e))?;

    let mut disk = gpt::GptConfig::new()
        .writable(true)
        .logical_block_size(LogicalBlockSize::Lb512)
        .create_from_device(&mut *file, Some(layout.ids.disk_guid))
        .map_err(|e| err(&e))?;
    let part =
        |ty: Type, guid: uuid::Uuid, (start, len): (u64, u64), name: &str, flags: u64| Partition {
            part_type_guid: ty,
            part_guid: guid,
            first_lba: start / SECTOR,
            last_lba: (start + len) / SECTOR - 1,
            flags,
            name: name.to_string(),
        };
    let mut parts = BTreeMap::new();
    // Bit 0: required by the platform (the ESP).
    parts.insert(
        1,
        part(EFI, layout.ids.boot_part_guid, layout.boot, "ESP", 1),
    );
    parts.insert(
        2,
        part(
            root_type(arch),
            layout.ids.root_part_guid,
            layout.root,
            "root",
            0,
        ),
    );
    for i in 3..=128 {
        parts.insert(i, Partition::zero());
    }
    disk.update_partitions(parts).map_err(|e| err(&e))?;
    disk.write_inplace().map_err(|e| err(&e))?;
    Ok(())
}
