//! The root file system of a tarball base: the base's members as one tar
//! stream (minus what would give every node the same identity) fed to
//! mke2fs; the boot files the base carries are captured on the way past.
//! What is made here holds nothing of a node: `shared.rs` makes it once per
//! base and copies it into each node's image.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{DiskError, bootfiles, ext4, tarstream};
use crate::config::BootKind;
use crate::io::Progress;
use crate::plan::NodePlan;
use crate::plan::layout::MIB;
use crate::plan::packages::TIME_DAEMONS;
use crate::tree::Files;

/// Root-filesystem paths that would give every node flashed from this image
/// the same identity; each node makes its own on first boot.
pub(super) const IDENTITY: &[&str] = &[
    "var/lib/dbus/machine-id",
    "var/lib/systemd/random-seed",
    "var/lib/systemd/credential.secret",
    "etc/rancher/node/password",
    "var/lib/tailscale/",
    "etc/ssh/ssh_host_rsa_key",
    "etc/ssh/ssh_host_rsa_key.pub",
    "etc/ssh/ssh_host_ecdsa_key",
    "etc/ssh/ssh_host_ecdsa_key.pub",
    "etc/ssh/ssh_host_ed25519_key",
    "etc/ssh/ssh_host_ed25519_key.pub",
];

/// Make an ext4 root at `target` from `base` alone, minus the identity files
/// and the base's boot partition contents. Returns the boot files captured
/// from the base (path in the base → copy in `capture_dir`). A base without
/// a time daemon is refused: a Pi has no RTC, and TLS to the Tailscale
/// control plane needs the time. The node's own files are written later, by
/// debugfs, into each node's copy (`shared.rs`).
pub fn make(
    target: &ext4::Target<'_>,
    base: &Path,
    boot_kind: BootKind,
    capture_dir: &Path,
    epoch: i64,
    quiet: bool,
) -> Result<BTreeMap<String, PathBuf>, DiskError> {
    let capture = move |p: &str| bootfiles::wanted(boot_kind, p);
    let mut drop: Vec<&str> = IDENTITY.to_vec();
    // The base's own boot partition contents go to the FAT partition.
    drop.push(match boot_kind {
        BootKind::Rpi => "boot/firmware/",
        BootKind::Uefi => "boot/efi/",
    });
    let none = Files::new();
    let rules = tarstream::Rules {
        replace: &none,
        drop: &drop,
        capture: &capture,
        capture_dir,
        probe: TIME_DAEMONS,
        epoch,
    };
    let open = |p: &Path| File::open(p).map_err(|e| DiskError::io(&p.display().to_string(), e));
    let base_len = std::fs::metadata(base).map(|m| m.len()).unwrap_or(0);
    let bar = Progress::bytes(quiet, base_len, "root filesystem");
    let decompressed = crate::source::open_reader(bar.wrap_read(open(base)?))
        .map_err(|e| DiskError::io(&base.display().to_string(), e))?;
    let mut mk = ext4::spawn(target, epoch)?;
    let stdin = mk.stdin()?;
    let root_len = target.len;
    let stats = match tarstream::merge(decompressed, stdin, &rules) {
        Ok(s) => {
            mk.finish(root_len, s.data_bytes)?;
            s
        }
        Err(DiskError::Stream(e)) => {
            // mke2fs stopping early (a full file system) breaks our pipe: its
            // own error says more than the broken pipe.
            let needed = measure(base).unwrap_or(0);
            mk.finish(root_len, needed)?;
            return Err(DiskError::Stream(e));
        }
        Err(e) => {
            // Our own finding about the tarball is the one to report; mke2fs
            // only saw a stream that stopped.
            let _ = mk.finish(root_len, 0);
            return Err(e);
        }
    };
    bar.finish();
    if stats.found.is_empty() {
        return Err(DiskError::NoTimeDaemon(TIME_DAEMONS.join(", ")));
    }
    Ok(stats.captured)
}

/// Bytes of file data in a tarball: for the "does not fit" message.
fn measure(base: &Path) -> Option<u64> {
    content(base).map(|(bytes, _)| bytes)
}

/// File data bytes and member count of a tarball, read once per tarball
/// and run: the nodes of a cluster build that share a base (and build in
/// parallel) wait for one reading instead of each reading it again.
fn content(base: &Path) -> Option<(u64, u64)> {
    static SEEN: Mutex<BTreeMap<PathBuf, Option<(u64, u64)>>> = Mutex::new(BTreeMap::new());
    let mut seen = SEEN.lock().ok()?;
    if let Some(c) = seen.get(base) {
        return *c;
    }
    let c = read_content(base);
    seen.insert(base.to_path_buf(), c);
    c
}

fn read_content(base: &Path) -> Option<(u64, u64)> {
    let r = crate::source::open_decompressed(base).ok()?;
    let mut a = tar::Archive::new(r);
    let (mut total, mut count) = (0u64, 0u64);
    for e in a.entries().ok()? {
        total += e.ok()?.header().size().unwrap_or(0);
        count += 1;
    }
    Some((total, count))
}

/// The root partition's length in the image: the root tree (the base and
/// the rendered files) with room for ext4's metadata and what first boot
/// writes before it grows root to the profile's size, rounded up to 64 MiB
/// and never above that size. A smaller image writes and downloads faster.
pub fn image_len(node: &NodePlan, base: &Path, files: &Files) -> u64 {
    let max = node.layout.root.1;
    let Some((mut bytes, mut count)) = content(base) else {
        return max;
    };
    for e in files.values() {
        bytes += e.size().unwrap_or(0);
        count += 1;
    }
    len_for(bytes, count, max)
}

fn len_for(bytes: u64, count: u64, max: u64) -> u64 {
    // Each member's last block and directory blocks: 4 KiB each; inode
    // tables (256 bytes per 16 KiB), bitmaps and slack: a quarter; the
    // journal and first boot's own writes: 320 MiB.
    let tree = bytes + count * 4096;
    let want = tree + tree / 4 + 320 * MIB;
    want.div_ceil(64 * MIB).saturating_mul(64 * MIB).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_root_has_room_and_stays_within_the_profile() {
        let max = 8192 * MIB;
        let l = len_for(400 * MIB, 15_000, max);
        assert!(
            l >= 400 * MIB + 400 * MIB / 4 + 15_000 * 4096 + 320 * MIB,
            "{l}"
        );
        assert_eq!(l % (64 * MIB), 0);
        assert!(l < max);
        assert_eq!(len_for(9000 * MIB, 1, max), max);
    }
}
