//! The Debian bases the boot tests share, made once by `haimg fetch` and
//! cached, and the tools the boot tests need.

use std::path::PathBuf;
use std::time::Instant;

use super::preflight::need;
use super::*;

pub fn ready() {
    need(&[
        "qemu-system-x86_64",
        "/usr/share/OVMF/OVMF_CODE_4M.fd",
        "/usr/share/OVMF/OVMF_VARS_4M.fd",
        "mmdebstrap",
        "sfdisk",
        "debugfs",
        "mtype",
        "mcopy",
        "mdir",
        "blkid",
        "mkfs.ext4",
        "openssl",
        "python3",
    ]);
}

/// The one amd64 base every x86_64 boot test shares (one cache entry):
/// haimg adds its required packages; the test adds only the kernel. QEMU's
/// virtio disk needs only these modules in the initramfs.
pub const AMD64_BASE: &str = r#"[base]
kind = "debian"
suite = "bookworm"
packages = ["linux-image-cloud-amd64"]
initramfs_modules = ["virtio_pci", "virtio_blk", "ext4", "crc32c_generic"]
"#;

/// The one arm64 base, made under qemu-user emulation: Debian's default
/// initramfs (MODULES=most) would cost most of its time there.
pub const ARM64_BASE: &str = r#"[base]
kind = "debian"
suite = "bookworm"
components = ["main", "non-free-firmware"]
packages = ["linux-image-arm64"]
initramfs_modules = ["virtio_pci", "virtio_blk", "ext4", "crc32c_generic"]
"#;

/// Makes (once; cached by its spec in the haimg cache) the base that every
/// boot test of this profile shares, exactly as `haimg build` would, and
/// checks that it holds what haimg requires of every base.
pub fn shared_base(profile: &str, base: &str) -> PathBuf {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    write_files(
        dir,
        &[
            (
                "cluster.toml",
                "name = \"bases\"\ntailnet = \"boot-net.ts.net\"\nnodes = [\"b.toml\"]\n[[server]]\nname = \"b\"\nbootstrap = true\n[tailscale]\ntags = [\"tag:k3s\"]\n".to_string(),
            ),
            (
                "b.toml",
                format!("cluster = \"cluster.toml\"\nhostname = \"b\"\nprofile = \"{profile}\"\n{base}"),
            ),
        ],
    );
    write_secrets(dir);
    let t = Instant::now();
    let o = haimg()
        .args(["fetch", "b.toml", "-q"])
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .current_dir(dir)
        .output()
        .expect("haimg");
    let out = ok(&o, "haimg fetch");
    eprintln!("boot test: {profile} base ready in {:.0?}", t.elapsed());
    let tar = PathBuf::from(
        out.lines()
            .find_map(|l| l.strip_prefix("b: base "))
            .unwrap_or_else(|| panic!("no base path in {out:?}")),
    );
    let list = ok(&sh("tar", &["-tf", tar.to_str().expect("p")]), "tar -t");
    // One file of each package haimg requires (plan/packages.rs), and the
    // initramfs setting that keeps the emulated build short.
    for f in [
        "./usr/lib/systemd/systemd-timesyncd",
        "./usr/lib/systemd/systemd-resolved",
        "./usr/bin/dbus-daemon",
        "./usr/bin/sudo",
        "./usr/sbin/useradd",
        "./usr/sbin/iscsid",
        "./usr/sbin/mount.nfs",
        "./usr/sbin/sshd",
        "./usr/sbin/sfdisk",
        "./usr/bin/curl",
        "./etc/initramfs-tools/conf.d/haimg",
        "./usr/share/initramfs-tools/modules.d/haimg",
    ] {
        assert!(list.lines().any(|l| l == f), "the {profile} base lacks {f}");
    }
    assert!(
        list.lines().any(|l| l.starts_with("./boot/initrd.img-")),
        "no initramfs"
    );
    tar
}

pub const EPOCH: &str = "1704067200";
