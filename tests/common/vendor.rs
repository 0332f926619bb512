//! Image-base tests' helpers: vendor-like images from tests/tools/mkvendor.py,
//! a one-node cluster on one, and the independent judges' readers (debugfs,
//! mtools, sfdisk).

use std::path::{Path, PathBuf};
use std::process::Output;

use super::image::small_profile;
use super::*;

pub const MIB: u64 = 1024 * 1024;

pub fn tools() {
    need(&[
        "sfdisk", "mkfs.fat", "mcopy", "mtype", "mke2fs", "e2fsck", "debugfs", "fsck.fat", "xz",
        "python3",
    ]);
}

/// A vendor image from tests/tools/mkvendor.py.
pub fn vendor(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    super::image::vendor_image(&out, &args);
    out
}

/// A one-node cluster whose node `a` (profile `profile`, root 2 GiB) is
/// built from the image base at `url` (`sha256` pinned when given).
pub fn setup(dir: &Path, profile: &str, url: &str, sha256: Option<&str>) {
    let pin = sha256.map_or(String::new(), |s| format!("sha256 = \"{s}\"\n"));
    write_files(
        dir,
        &[
            ("cluster.toml", "name = \"lab\"\ntailnet = \"lab-net.ts.net\"\nnodes = [\"a.toml\"]\n[[server]]\nname = \"a\"\nbootstrap = true\n[tailscale]\ntags = [\"tag:k3s\"]\n".into()),
            ("p.toml", small_profile(profile, 2048)),
            ("a.toml", format!("cluster = \"cluster.toml\"\nhostname = \"a\"\nprofile = \"p.toml\"\n[base]\nkind = \"image\"\nurl = \"{url}\"\n{pin}[[user]]\nname = \"admin\"\nssh_keys = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHaimgTestKeyAAAAAAAAAAAAAAAAAAAAAAAAAAA t@h\"]\n")),
        ],
    );
    write_secrets(dir);
}

pub fn build(dir: &Path, out: &str, extra: &[&str]) -> Output {
    haimg()
        .args(["build", "a.toml", "--out", out, "-q"])
        .args(extra)
        .env("SOURCE_DATE_EPOCH", "1704067200")
        .env("HAIMG_CACHE", dir.join("cache"))
        .current_dir(dir)
        .output()
        .expect("run haimg")
}

pub fn spec(img: &Path, at: u64) -> String {
    format!("{}?offset={at}", img.display())
}

/// A file of the ext4 root at `at` in `img`, by debugfs.
pub fn root_file(img: &Path, at: u64, path: &str) -> Vec<u8> {
    let o = sh("debugfs", &["-R", &format!("cat {path}"), &spec(img, at)]);
    assert!(!stderr(&o).contains("not found"), "{path}: {}", stderr(&o));
    o.stdout
}

pub fn root_stat(img: &Path, at: u64, path: &str) -> String {
    stdout(&sh(
        "debugfs",
        &["-R", &format!("stat {path}"), &spec(img, at)],
    ))
}

/// A file of the FAT boot partition at `at` in `img`, by mtools.
pub fn boot_file(img: &Path, at: u64, name: &str) -> Vec<u8> {
    let o = sh(
        "mtype",
        &[
            "-i",
            &format!("{}@@{at}", img.display()),
            &format!("::{name}"),
        ],
    );
    ok(&o, &format!("mtype {name}"));
    o.stdout
}

/// (start, size) in bytes of each partition, and the disk id, by sfdisk.
pub fn table(img: &Path) -> (String, Vec<(u64, u64)>) {
    let o = sh("sfdisk", &["-J", img.to_str().expect("p")]);
    let v: serde_json::Value = serde_json::from_str(&ok(&o, "sfdisk -J")).expect("json");
    let t = &v["partitiontable"];
    let parts = t["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| {
            (
                p["start"].as_u64().expect("start") * 512,
                p["size"].as_u64().expect("size") * 512,
            )
        })
        .collect();
    (t["id"].as_str().expect("id").to_string(), parts)
}

/// The independent file-system checkers on both partitions.
pub fn fsck_both(img: &Path, boot: (u64, u64), root: u64, scratch: &Path) {
    ok(&sh("e2fsck", &["-fn", &spec(img, root)]), "e2fsck -fn");
    let part = scratch.join("boot.part");
    ok(
        &sh(
            "dd",
            &[
                &format!("if={}", img.display()),
                &format!("of={}", part.display()),
                "bs=1M",
                &format!("skip={}", boot.0 / MIB),
                &format!("count={}", boot.1 / MIB),
                "conv=sparse",
                "status=none",
            ],
        ),
        "dd",
    );
    ok(
        &sh("fsck.fat", &["-n", part.to_str().expect("p")]),
        "fsck.fat -n",
    );
}

pub fn sha256(p: &Path) -> String {
    stdout(&sh("sha256sum", &[p.to_str().expect("p")]))[..64].to_string()
}
