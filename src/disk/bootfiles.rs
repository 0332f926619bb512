//! Which files of the root filesystem the boot partition needs, and where they
//! go on it: Raspberry Pi firmware, DTBs, kernel and initramfs; or systemd-boot
//! and a loader entry for UEFI.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::PathBuf;

use super::DiskError;
use crate::config::{Arch, BootKind};
use crate::plan::NodePlan;
use crate::tree::{self, Files};

/// Should a root-filesystem path be captured for the boot partition?
pub fn wanted(boot: BootKind, path: &str) -> bool {
    let kernel = path.starts_with("boot/vmlinuz-")
        || path.starts_with("boot/initrd.img-")
        || matches!(path, "boot/Image" | "boot/initramfs-linux.img");
    match boot {
        BootKind::Rpi => {
            kernel
                || path.starts_with("boot/firmware/")
                || path.starts_with("usr/lib/raspi-firmware/")
                || (path.starts_with("usr/lib/linux-image-")
                    && (path.contains("/broadcom/") || path.contains("/overlays/")))
                || path.starts_with("boot/dtbs/broadcom/")
                || path.starts_with("boot/overlays/")
                || (path.starts_with("boot/")
                    && !path[5..].contains('/')
                    && is_pi_boot_name(&path[5..]))
        }
        BootKind::Uefi => kernel || path.starts_with("usr/lib/systemd/boot/efi/"),
    }
}

fn is_pi_boot_name(n: &str) -> bool {
    n.ends_with(".elf")
        || n.ends_with(".dat")
        || n.ends_with(".dtb")
        || n == "kernel8.img"
        || n == "bootcode.bin"
}

/// Compare version strings naturally: "6.1.0-27" > "6.1.0-9".
fn natural(a: &str, b: &str) -> Ordering {
    let split = |s: &str| -> Vec<(bool, String)> {
        let mut out: Vec<(bool, String)> = Vec::new();
        for c in s.chars() {
            let d = c.is_ascii_digit();
            match out.last_mut() {
                Some((kind, buf)) if *kind == d => buf.push(c),
                _ => out.push((d, c.to_string())),
            }
        }
        out
    };
    let (x, y) = (split(a), split(b));
    for (p, q) in x.iter().zip(&y) {
        let o = if p.0 && q.0 {
            let (p1, q1) = (p.1.trim_start_matches('0'), q.1.trim_start_matches('0'));
            p1.len().cmp(&q1.len()).then_with(|| p1.cmp(q1))
        } else {
            p.1.cmp(&q.1)
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    x.len().cmp(&y.len())
}

/// The newest kernel: (version, kernel path, initrd path) among captured files.
fn newest_kernel(captured: &BTreeMap<String, PathBuf>) -> Option<(String, String, Option<String>)> {
    let best = captured
        .keys()
        .filter_map(|k| k.strip_prefix("boot/vmlinuz-"))
        .max_by(|a, b| natural(a, b));
    if let Some(v) = best {
        let initrd = format!("boot/initrd.img-{v}");
        let initrd = captured.contains_key(&initrd).then_some(initrd);
        return Some((v.to_string(), format!("boot/vmlinuz-{v}"), initrd));
    }
    // Arch Linux ARM names them without a version.
    if captured.contains_key("boot/Image") {
        let initrd = captured
            .contains_key("boot/initramfs-linux.img")
            .then(|| "boot/initramfs-linux.img".to_string());
        return Some(("linux".into(), "boot/Image".into(), initrd));
    }
    None
}

fn missing(what: &str, looked: &[String], hint: &str) -> DiskError {
    DiskError::MissingBootFile {
        what: what.to_string(),
        looked: looked.join(", "),
        hint: hint.to_string(),
    }
}

/// The boot partition's files taken from the root filesystem. `rendered` (the
/// node's own boot files) are added by the caller and win over these.
pub fn assemble(
    node: &NodePlan,
    captured: &BTreeMap<String, PathBuf>,
    cmdline: &str,
) -> Result<Files, DiskError> {
    let mut out = Files::new();
    let file = |p: &str| tree::host(0o644, captured[p].clone());
    match node.profile.boot {
        BootKind::Rpi => {
            // What the base's own hooks put on its boot partition (Debian's
            // raspi-firmware, Raspberry Pi OS) comes first.
            for k in captured.keys() {
                if let Some(rel) = k.strip_prefix("boot/firmware/") {
                    out.insert(rel.to_string(), file(k));
                }
            }
            for fw in &node.profile.firmware {
                if out.contains_key(fw) {
                    continue;
                }
                let cands = [format!("usr/lib/raspi-firmware/{fw}"), format!("boot/{fw}")];
                let found = cands.iter().find(|c| captured.contains_key(*c)).ok_or_else(|| {
                    missing(&format!("firmware file {fw}"), &cands, "add Debian's raspi-firmware package (component non-free-firmware) to the base")
                })?;
                out.insert(fw.clone(), file(found));
            }
            let mut dtb_found = 0;
            for dtb in &node.profile.dtbs {
                if out.contains_key(dtb) {
                    dtb_found += 1;
                    continue;
                }
                let mut cands: Vec<&String> = captured
                    .keys()
                    .filter(|k| {
                        k.ends_with(&format!("/broadcom/{dtb}")) || **k == format!("boot/{dtb}")
                    })
                    .collect();
                cands.sort_by(|a, b| natural(a, b));
                if let Some(c) = cands.last() {
                    out.insert(dtb.clone(), file(c));
                    dtb_found += 1;
                }
            }
            if dtb_found == 0 && !node.profile.dtbs.is_empty() {
                return Err(missing(
                    &format!("a device tree ({})", node.profile.dtbs.join(", ")),
                    &[
                        "boot/firmware/".into(),
                        "usr/lib/linux-image-*/broadcom/".into(),
                        "boot/dtbs/broadcom/".into(),
                        "boot/".into(),
                    ],
                    "install a kernel package that ships the Pi's DTBs (Debian: linux-image-arm64)",
                ));
            }
            // Overlays from the kernel package, unless the base brought its own.
            for k in captured.keys() {
                let rel = k
                    .split_once("/overlays/")
                    .filter(|(pre, _)| pre.starts_with("usr/lib/linux-image-") || *pre == "boot")
                    .map(|(_, r)| format!("overlays/{r}"));
                if let Some(rel) = rel {
                    out.entry(rel).or_insert_with(|| file(k));
                }
            }
            if !out.contains_key("vmlinuz") {
                let (_, kernel, initrd) = newest_kernel(captured).ok_or_else(|| {
                    missing(
                        "a kernel",
                        &[
                            "boot/firmware/vmlinuz".into(),
                            "boot/vmlinuz-*".into(),
                            "boot/Image".into(),
                        ],
                        "add a kernel package to the base (Debian: linux-image-arm64)",
                    )
                })?;
                out.insert("vmlinuz".into(), file(&kernel));
                let initrd = initrd.ok_or_else(|| {
                    missing(
                        "an initramfs for the kernel",
                        &[
                            "boot/initrd.img-*".into(),
                            "boot/initramfs-linux.img".into(),
                        ],
                        "install initramfs-tools in the base",
                    )
                })?;
                out.insert("initrd.img".into(), file(&initrd));
            }
            // Debian's kernel8.img from Raspberry Pi OS is not what config.txt
            // names; keep it anyway, harmless.
        }
        BootKind::Uefi => {
            let (efi_name, removable) = match node.profile.arch {
                Arch::Amd64 => ("systemd-bootx64.efi", "BOOTX64.EFI"),
                Arch::Arm64 => ("systemd-bootaa64.efi", "BOOTAA64.EFI"),
            };
            let src = format!("usr/lib/systemd/boot/efi/{efi_name}");
            if !captured.contains_key(&src) {
                return Err(missing(
                    "the systemd-boot EFI binary",
                    std::slice::from_ref(&src),
                    "add the systemd-boot package to the base",
                ));
            }
            out.insert(format!("EFI/BOOT/{removable}"), file(&src));
            out.insert(format!("EFI/systemd/{efi_name}"), file(&src));
            let (ver, kernel, initrd) = newest_kernel(captured).ok_or_else(|| {
                missing("a kernel", &["boot/vmlinuz-*".into()], "add a kernel package to the base (Debian: linux-image-amd64 or linux-image-cloud-amd64)")
            })?;
            let initrd = initrd.ok_or_else(|| {
                missing(
                    "an initramfs for the kernel",
                    &[format!("boot/initrd.img-{ver}")],
                    "install initramfs-tools in the base",
                )
            })?;
            out.insert("haimg/vmlinuz".into(), file(&kernel));
            out.insert("haimg/initrd.img".into(), file(&initrd));
            out.insert(
                "loader/loader.conf".into(),
                tree::file(0o644, "timeout 3\nconsole-mode keep\neditor no\n"),
            );
            let entry = format!(
                "title haimg {}\nversion {ver}\nsort-key haimg\nlinux /haimg/vmlinuz\ninitrd /haimg/initrd.img\noptions {cmdline}\n",
                node.hostname
            );
            out.insert("loader/entries/haimg.conf".into(), tree::file(0o644, entry));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        assert_eq!(
            natural("6.1.0-27-arm64", "6.1.0-9-arm64"),
            Ordering::Greater
        );
        assert_eq!(natural("6.12.1", "6.2.9"), Ordering::Greater);
        assert_eq!(natural("a", "a"), Ordering::Equal);
    }
}
