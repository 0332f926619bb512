//! Part of the plan: where each partition sits, and the identifiers of disk, partitions and
//! filesystems, all derived from the node's configuration hash so the same
//! inputs give the same image.

use sha2::{Digest, Sha256};

use super::ProfilePlan;
use crate::config::TableKind;

pub const MIB: u64 = 1024 * 1024;
pub const SECTOR: u64 = 512;

/// GPT's backup header and entry array at the end of the disk: 33 sectors,
/// rounded up to keep the disk size a whole MiB.
const GPT_TAIL: u64 = MIB;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub table: TableKind,
    /// Byte offset and length of the boot (FAT) partition.
    pub boot: (u64, u64),
    /// Byte offset and length of the root (ext4) partition.
    pub root: (u64, u64),
    /// Total image size in bytes.
    pub size: u64,
    pub ids: Ids,
}

/// Every identifier in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    /// MBR disk signature (also the PARTUUID prefix on MBR disks).
    pub mbr_disk_id: u32,
    pub disk_guid: uuid::Uuid,
    pub boot_part_guid: uuid::Uuid,
    pub root_part_guid: uuid::Uuid,
    pub fat_volume_id: u32,
    pub ext4_uuid: uuid::Uuid,
}

/// sha256 of `tag`, `key`, a NUL and `what`: an identifier's bytes, the
/// same on every run for the same inputs.
fn derive_bytes(tag: &[u8], key: &str, what: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(tag);
    h.update(key.as_bytes());
    h.update(b"\0");
    h.update(what.as_bytes());
    h.finalize().into()
}

/// A random-looking (version 4, RFC 4122 variant) UUID from
/// [`derive_bytes`].
pub fn derive_uuid(tag: &[u8], key: &str, what: &str) -> uuid::Uuid {
    let b = derive_bytes(tag, key, what);
    let mut u = [0u8; 16];
    u.copy_from_slice(&b[..16]);
    uuid::Builder::from_random_bytes(u).into_uuid()
}

impl Ids {
    pub fn derive(config_hash: &str) -> Ids {
        let bytes = |what: &str| derive_bytes(b"haimg-id\0", config_hash, what);
        let uuid = |what: &str| derive_uuid(b"haimg-id\0", config_hash, what);
        let word = |what: &str| {
            let b = bytes(what);
            // Zero is "no id" to some tools; avoid it.
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]).max(1)
        };
        Ids {
            mbr_disk_id: word("mbr-disk-id"),
            disk_guid: uuid("disk-guid"),
            boot_part_guid: uuid("boot-part"),
            root_part_guid: uuid("root-part"),
            fat_volume_id: word("fat-volume-id"),
            ext4_uuid: uuid("ext4-uuid"),
        }
    }
}

impl Layout {
    /// The layout of a node of profile `p` whose configuration hashes to
    /// `config_hash`.
    pub fn new(p: &ProfilePlan, config_hash: &str) -> Layout {
        let boot_start = p.boot_offset_mib * MIB;
        let boot_len = p.boot_size_mib * MIB;
        let root_start = boot_start + boot_len;
        let root_len = p.root_size_mib * MIB;
        let tail = match p.table {
            TableKind::Gpt => GPT_TAIL,
            TableKind::Mbr => 0,
        };
        Layout {
            table: p.table,
            boot: (boot_start, boot_len),
            root: (root_start, root_len),
            size: root_start + root_len + tail,
            ids: Ids::derive(config_hash),
        }
    }

    /// The same layout with a root partition of `len` bytes in the image
    /// (first boot grows it to the profile's size).
    pub fn with_root_len(&self, len: u64) -> Layout {
        let tail = self.size - self.root.0 - self.root.1;
        Layout {
            root: (self.root.0, len),
            size: self.root.0 + len + tail,
            ..self.clone()
        }
    }

    /// The root partition's PARTUUID as the kernel and fstab name it.
    pub fn root_partuuid(&self) -> String {
        match self.table {
            TableKind::Mbr => format!("{:08x}-02", self.ids.mbr_disk_id),
            TableKind::Gpt => self.ids.root_part_guid.to_string(),
        }
    }

    pub fn boot_partuuid(&self) -> String {
        match self.table {
            TableKind::Mbr => format!("{:08x}-01", self.ids.mbr_disk_id),
            TableKind::Gpt => self.ids.boot_part_guid.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = Ids::derive("abc");
        assert_eq!(a, Ids::derive("abc"));
        assert_ne!(a.ext4_uuid, Ids::derive("abd").ext4_uuid);
        assert_ne!(a.boot_part_guid, a.root_part_guid);
        assert_eq!(a.disk_guid.get_version_num(), 4);
    }
}
