//! Helpers of the disk tests (tests/disk.rs, tests/disk_inputs.rs): rootfs
//! fixtures, a node folder around them, and the independent judges.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::image::small_profile;
use super::*;

pub fn tools_present() {
    need(&[
        "bmaptool",
        "mkfs.ext4",
        "e2fsck",
        "debugfs",
        "sfdisk",
        "sgdisk",
        "fsck.fat",
        "mtype",
        "blkid",
        "python3",
    ]);
}

/// A rootfs tarball from tests/tools/mkrootfs.py.
pub fn fixture(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let o = Command::new("python3")
        .arg(repo().join("tests/tools/mkrootfs.py"))
        .arg(&out)
        .args(args)
        .output()
        .expect("python3");
    ok(&o, "mkrootfs.py");
    out
}

/// A one-node cluster whose node uses `tarball` and a small copy of a built-in
/// profile (so test images stay small).
pub fn setup(dir: &Path, tarball: &Path, profile: &str, root_mib: u64) {
    let small = small_profile(profile, root_mib);
    let files = vec![
        (
            "cluster.toml",
            "name = \"lab\"\ntailnet = \"lab-net.ts.net\"\nnodes = [\"a.toml\"]\n[[server]]\nname = \"a\"\nbootstrap = true\n[tailscale]\ntags = [\"tag:k3s\"]\n".to_string(),
        ),
        ("test-profile.toml", small),
        (
            "a.toml",
            format!(
                "cluster = \"cluster.toml\"\nhostname = \"a\"\nprofile = \"test-profile.toml\"\n[base]\nkind = \"rootfs\"\nurl = \"{}\"\n",
                tarball.display()
            ),
        ),
    ];
    write_files(dir, &files);
    write_secrets(dir);
}

pub fn build(dir: &Path, out: &str) -> Output {
    haimg()
        .args(["build", "a.toml", "--out", out, "-q"])
        .env("SOURCE_DATE_EPOCH", "1704067200")
        .current_dir(dir)
        .output()
        .expect("run haimg")
}

/// Copy one partition out of the image (sparse) for the fs checkers.
pub fn extract(img: &Path, start: u64, len: u64, out: &Path) {
    let o = sh(
        "dd",
        &[
            &format!("if={}", img.display()),
            &format!("of={}", out.display()),
            "bs=1M",
            &format!("skip={}", start / 1048576),
            &format!("count={}", len / 1048576),
            "conv=sparse",
            "status=none",
        ],
    );
    ok(&o, "dd");
}

pub fn partitions(img: &Path) -> serde_json::Value {
    let o = sh("sfdisk", &["-J", img.to_str().expect("path")]);
    serde_json::from_str(&ok(&o, "sfdisk -J")).expect("json")
}

pub fn mtype(part: &Path, file: &str) -> String {
    ok(
        &sh(
            "mtype",
            &["-i", part.to_str().expect("path"), &format!("::{file}")],
        ),
        "mtype",
    )
}

pub fn is_root() -> bool {
    // SAFETY-free check: the uid is in /proc/self/status.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Loop-mount a partition read-only and compare it with the tarball.
pub fn compare_mounted(img: &Path, start: u64, tarball: &Path, skips: &[&str]) {
    if !is_root() {
        eprintln!("SKIP loop-mount comparison: not root");
        return;
    }
    let mnt = tempfile::tempdir().expect("tmp");
    let m = sh(
        "mount",
        &[
            "-o",
            &format!("ro,loop,offset={start}"),
            img.to_str().expect("p"),
            mnt.path().to_str().expect("p"),
        ],
    );
    ok(&m, "mount");
    let mut args: Vec<String> = vec![
        repo()
            .join("tests/tools/compare_tree.py")
            .display()
            .to_string(),
        tarball.display().to_string(),
        mnt.path().display().to_string(),
    ];
    for s in skips {
        if let Some(p) = s.strip_suffix('*') {
            args.push("--skip-prefix".into());
            args.push(p.into());
        } else {
            args.push("--skip".into());
            args.push((*s).into());
        }
    }
    let c = Command::new("python3")
        .args(&args)
        .output()
        .expect("python3");
    let _ = sh("umount", &[mnt.path().to_str().expect("p")]);
    ok(&c, "compare_tree.py");
}

/// Base members haimg replaces or drops on purpose.
pub const NOT_COPIED: &[&str] = &[
    "etc/machine-id",
    "etc/hostname",
    "etc/ssh/ssh_host_ed25519_key",
    "var/lib/systemd/random-seed",
    "boot/firmware/*",
];
