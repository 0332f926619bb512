//! A UEFI vendor image's boot loader names root by its partition's GUID
//! (Debian's cloud images: grub-mkconfig's output gets `root=PARTUUID=` of
//! the image's root, debian-cloud-images config_space/…/scripts/DEBIAN/
//! 20-grub; systemd-boot entries carry it in `options`). The node's GPT has
//! its own GUIDs, so every boot-loader file that names the old one is
//! re-pointed at the new one. Later kernel updates regenerate these files
//! from the running system, which already has the new GUID.

use std::collections::BTreeSet;

use super::DiskError;
use super::debugfs::Ext4;
use crate::tree::{self, Entry, Files};

/// Root-filesystem files a vendor's boot loader reads its kernel line from.
const ROOT_FILES: &[&str] = &["boot/grub/grub.cfg"];

/// Replace `old` (any case) by `new` in `text`; `None` when `old` is absent.
fn replaced(text: &str, old: &str, new: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let old = old.to_ascii_lowercase();
    if !lower.contains(&old) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    for (at, _) in lower.match_indices(&old) {
        out.push_str(&text[rest..at]);
        out.push_str(new);
        rest = at + old.len();
    }
    out.push_str(&text[rest..]);
    Some(out)
}

/// The root files to rewrite, with their modes kept.
pub fn root_files(ext4: &Ext4<'_>, old: &str, new: &str) -> Result<Files, DiskError> {
    let mut out = Files::new();
    let dirs: BTreeSet<String> = ROOT_FILES
        .iter()
        .map(|p| p.rsplit_once('/').map_or("", |(d, _)| d).to_string())
        .collect();
    let listed = ext4.list(&dirs)?;
    for path in ROOT_FILES {
        let Some(bytes) = ext4.read(path)? else {
            continue;
        };
        let Some(text) = replaced(&String::from_utf8_lossy(&bytes), old, new) else {
            continue;
        };
        let (dir, leaf) = path.rsplit_once('/').unwrap_or(("", path));
        let mode = listed
            .get(dir)
            .and_then(|m| m.get(leaf))
            .map_or(0o644, |l| l.mode & 0o7777);
        out.insert((*path).to_string(), tree::file(mode, text));
    }
    Ok(out)
}

/// The ESP's text files (boot-loader entries and configs) re-pointed; true
/// when any changed.
pub fn esp_files(files: &mut Files, old: &str, new: &str) -> Result<bool, DiskError> {
    let mut changed = false;
    for (path, entry) in files.iter_mut() {
        let lower = path.to_ascii_lowercase();
        if !(lower.ends_with(".conf") || lower.ends_with(".cfg")) {
            continue;
        }
        let mut text = String::new();
        entry
            .reader()
            .and_then(|mut r| std::io::Read::read_to_string(&mut r, &mut text))
            .map_err(|e| DiskError::io(path, e))?;
        if let Some(t) = replaced(&text, old, new) {
            *entry = Entry::File {
                mode: 0o644,
                data: t.into_bytes(),
            };
            changed = true;
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::replaced;

    #[test]
    fn every_mention_any_case() {
        let t = "linux /vmlinuz root=PARTUUID=AB-cd ro\n  search ab-CD\n";
        assert_eq!(
            replaced(t, "ab-cd", "11-22").as_deref(),
            Some("linux /vmlinuz root=PARTUUID=11-22 ro\n  search 11-22\n")
        );
        assert_eq!(replaced(t, "zz", "y"), None);
    }
}
