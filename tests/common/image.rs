//! Looking into disk images the way an independent judge would: partitions
//! cut out by sfdisk's offsets, files read by debugfs.

use std::path::Path;

use super::{ok, repo, sh, stdout, write_files, write_secrets};

/// Copy a partition out of a disk image (offsets from sfdisk) for debugfs.
pub fn partition(img: &Path, n: usize, out: &Path) {
    let pt: serde_json::Value = serde_json::from_str(&ok(
        &sh("sfdisk", &["-J", img.to_str().expect("p")]),
        "sfdisk",
    ))
    .expect("json");
    let p = &pt["partitiontable"]["partitions"][n - 1];
    let (start, size) = (
        p["start"].as_u64().expect("start"),
        p["size"].as_u64().expect("size"),
    );
    ok(
        &sh(
            "dd",
            &[
                &format!("if={}", img.display()),
                &format!("of={}", out.display()),
                "bs=512",
                &format!("skip={start}"),
                &format!("count={size}"),
                "conv=sparse",
                "status=none",
            ],
        ),
        "dd",
    );
}

pub fn debugfs(part: &Path, cmd: &str) -> String {
    stdout(&sh("debugfs", &["-R", cmd, part.to_str().expect("p")]))
}

/// "Flash" an image onto a disk file, growing it to `size` (empty: as is)
/// so first boot finds free space for the data partition.
pub fn flash(img: &Path, disk: &Path, size: &str) {
    let (img, disk) = (img.to_str().expect("p"), disk.to_str().expect("p"));
    ok(&sh("cp", &["--sparse=always", img, disk]), "cp");
    if !size.is_empty() {
        ok(&sh("truncate", &["-s", size, disk]), "truncate");
    }
}

/// A one-node cluster in `dir` whose node `a` is built from a rootfs tarball
/// made by tests/tools/mkrootfs.py (`--kind KIND` plus `extra`), on a small
/// copy of a built-in profile (64 MiB boot, `root_mib` root).
pub fn rootfs_node(dir: &Path, kind: &str, profile: &str, root_mib: u64, extra: &[&str]) {
    let tar = dir.join("rootfs.tar");
    ok(
        &std::process::Command::new("python3")
            .arg(repo().join("tests/tools/mkrootfs.py"))
            .arg(&tar)
            .args(["--kind", kind])
            .args(extra)
            .output()
            .expect("python3"),
        "mkrootfs.py",
    );
    let small = small_profile(profile, root_mib);
    write_files(
        dir,
        &[
            ("cluster.toml", "name = \"lab\"\ntailnet = \"lab-net.ts.net\"\nnodes = [\"a.toml\"]\n[[server]]\nname = \"a\"\nbootstrap = true\n[tailscale]\ntags = [\"tag:k3s\"]\n".into()),
            ("p.toml", small),
            ("a.toml", format!("cluster = \"cluster.toml\"\nhostname = \"a\"\nprofile = \"p.toml\"\n[base]\nkind = \"rootfs\"\nurl = \"{}\"\n[[user]]\nname = \"admin\"\nssh_keys = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHaimgTestKeyAAAAAAAAAAAAAAAAAAAAAAAAAAA t@h\"]\n", tar.display())),
        ],
    );
    write_secrets(dir);
}

/// A built-in profile shrunk for tests: 64 MiB boot, `root_mib` root.
pub fn small_profile(profile: &str, root_mib: u64) -> String {
    std::fs::read_to_string(repo().join(format!("profiles/{profile}.toml")))
        .expect("profile")
        .replace("boot_size_mib = 512", "boot_size_mib = 64")
        .replace("boot_size_mib = 256", "boot_size_mib = 64")
        .replace(
            "root_size_mib = 8192",
            &format!("root_size_mib = {root_mib}"),
        )
        .replace(
            "root_size_mib = 4096",
            &format!("root_size_mib = {root_mib}"),
        )
}

/// Runs `sha256sum -c SHA256SUMS` in `dir`; the number of files it found OK.
pub fn sums_ok(dir: &Path) -> usize {
    let check = std::process::Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(dir)
        .output()
        .expect("sha256sum");
    let said = ok(&check, "sha256sum -c SHA256SUMS");
    said.lines().filter(|l| l.ends_with(": OK")).count()
}

/// A vendor-like disk image at `out`, made the vendors' way by
/// tests/tools/mkvendor.py (`args`: --family, --rootfs TAR, …), not by haimg.
pub fn vendor_image(out: &Path, args: &[&std::ffi::OsStr]) {
    ok(
        &std::process::Command::new("python3")
            .arg(repo().join("tests/tools/mkvendor.py"))
            .arg(out)
            .args(args)
            .output()
            .expect("python3"),
        "mkvendor.py",
    );
}
