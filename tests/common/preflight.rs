//! Preflight: every external program, firmware file and kernel facility a test
//! uses is checked before the test starts, and a missing one fails at once
//! naming the Debian package that brings it, instead of deep inside a build.
//! `.ci/install-deps` (run by `make test`) installs all of them.

use std::path::Path;
use std::process::Command;

/// What a test may need, and the Debian package that provides it.
/// A name with a `/` is a file; anything else a program on PATH.
const TABLE: &[(&str, &str)] = &[
    ("mmdebstrap", "mmdebstrap"),
    // mmdebstrap's Recommends: needed for any foreign architecture.
    ("arch-test", "arch-test"),
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("qemu-system-aarch64", "qemu-system-arm"),
    ("/usr/share/OVMF/OVMF_CODE_4M.fd", "ovmf"),
    ("/usr/share/OVMF/OVMF_VARS_4M.fd", "ovmf"),
    ("/usr/share/AAVMF/AAVMF_CODE.fd", "qemu-efi-aarch64"),
    (
        "/proc/sys/fs/binfmt_misc/qemu-aarch64",
        "qemu-user-static and binfmt-support (then `.ci/install-deps` registers it)",
    ),
    ("sfdisk", "fdisk"),
    ("sgdisk", "gdisk"),
    ("fsck.fat", "dosfstools"),
    ("mtype", "mtools"),
    ("mcopy", "mtools"),
    ("mdir", "mtools"),
    ("mkfs.ext4", "e2fsprogs"),
    ("e2fsck", "e2fsprogs"),
    ("debugfs", "e2fsprogs"),
    ("blkid", "util-linux"),
    ("setpriv", "util-linux"),
    ("losetup", "mount"),
    ("swapon", "mount"),
    ("mkswap", "util-linux"),
    ("partx", "util-linux"),
    ("mkfs.vfat", "dosfstools"),
    ("mkfs.fat", "dosfstools"),
    ("mke2fs", "e2fsprogs"),
    ("shellcheck", "shellcheck"),
    ("bmaptool", "bmap-tools"),
    ("qemu-img", "qemu-utils"),
    ("openssl", "openssl"),
    ("python3", "python3"),
    ("xz", "xz-utils"),
    ("zstd", "zstd"),
    ("gzip", "gzip"),
    ("curl", "curl"),
    ("tar", "tar"),
    ("ip", "iproute2"),
];

fn present(what: &str) -> bool {
    if what.contains('/') {
        return Path::new(what).exists();
    }
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p)
            .chain(["/usr/sbin".into(), "/sbin".into()])
            .any(|d| d.join(what).is_file())
    })
}

/// Fails the test at once, naming every missing item and its package.
pub fn need(items: &[&str]) {
    let mut missing = Vec::new();
    for item in items {
        let pkg = TABLE
            .iter()
            .find(|(n, _)| n == item)
            .map(|(_, p)| *p)
            .unwrap_or_else(|| panic!("preflight: {item} is not in the preflight table"));
        if !present(item) {
            missing.push(format!("  {item}: install {pkg}"));
        }
    }
    if items.contains(&"mkfs.ext4")
        && present("mkfs.ext4")
        && let Some(v) = e2fsprogs_too_old()
    {
        missing.push(format!(
            "  e2fsprogs {v} cannot read a tarball (`mke2fs -d -`): install e2fsprogs >= 1.47.1 (Debian 12: from bookworm-backports)"
        ));
    }
    if items.contains(&"python3") && present("python3") && !python_yaml() {
        missing.push("  python3's yaml module: install python3-yaml".into());
    }
    assert!(
        missing.is_empty(),
        "preflight: this test needs what is not installed (`make deps` or `sudo .ci/install-deps` installs all):\n{}",
        missing.join("\n")
    );
}

/// The version if it is older than 1.47.1.
fn e2fsprogs_too_old() -> Option<String> {
    let out = Command::new("mke2fs").arg("-V").output().ok()?;
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = text.split_whitespace().nth(1)?.to_string();
    let nums: Vec<u32> = v
        .split(['.', '-'])
        .take(3)
        .map(|n| n.parse().unwrap_or(0))
        .collect();
    (nums < vec![1, 47, 1]).then_some(v)
}

fn python_yaml() -> bool {
    // The render test judges YAML with Debian's python3 and PyYAML.
    Command::new("/usr/bin/python3")
        .args(["-c", "import yaml"])
        .status()
        .is_ok_and(|s| s.success())
}
