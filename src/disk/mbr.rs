//! A classic MBR, written by hand: the crate for it (mbrman) pulls in an
//! unmaintained bincode, and the format is four 16-byte entries and a signature.

use crate::plan::layout::{Layout, SECTOR};

/// FAT32 with LBA addressing, as pi-gen uses for the Pi boot partition.
pub const TYPE_FAT32_LBA: u8 = 0x0c;
pub const TYPE_LINUX: u8 = 0x83;

/// One primary partition entry. CHS fields hold the "beyond CHS" marker
/// (0xFE 0xFF 0xFF), which every tool that matters ignores in favour of LBA.
fn entry(kind: u8, start: u64, len: u64) -> [u8; 16] {
    let mut e = [0u8; 16];
    e[1..4].copy_from_slice(&[0xfe, 0xff, 0xff]);
    e[4] = kind;
    e[5..8].copy_from_slice(&[0xfe, 0xff, 0xff]);
    // Layout sizes are checked to fit 32-bit sectors (2 TiB) before this.
    e[8..12].copy_from_slice(&((start / SECTOR) as u32).to_le_bytes());
    e[12..16].copy_from_slice(&((len / SECTOR) as u32).to_le_bytes());
    e
}

/// The 512-byte sector 0 for a boot + root layout.
pub fn sector0(layout: &Layout) -> [u8; 512] {
    let mut s = [0u8; 512];
    s[440..444].copy_from_slice(&layout.ids.mbr_disk_id.to_le_bytes());
    s[446..462].copy_from_slice(&entry(TYPE_FAT32_LBA, layout.boot.0, layout.boot.1));
    s[462..478].copy_from_slice(&entry(TYPE_LINUX, layout.root.0, layout.root.1));
    s[510] = 0x55;
    s[511] = 0xaa;
    s
}

/// MBR can address 2^32 sectors of 512 bytes.
pub fn fits(layout: &Layout) -> bool {
    layout.size / SECTOR <= u64::from(u32::MAX)
}
