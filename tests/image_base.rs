//! `[base] kind = "image"`: vendor-like Raspberry Pi OS and Ubuntu images
//! (tests/tools/mkvendor.py: sfdisk, mkfs.fat, mtools, mke2fs — not haimg)
//! customised into node images, judged by sfdisk, e2fsck, fsck.fat, debugfs
//! and mtools; and every bad base refused with nothing left behind.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::image::small_profile;
use common::*;

const MIB: u64 = 1024 * 1024;

fn tools() {
    need(&[
        "sfdisk", "mkfs.fat", "mcopy", "mtype", "mke2fs", "e2fsck", "debugfs", "fsck.fat", "xz",
        "python3",
    ]);
}

/// A vendor image from tests/tools/mkvendor.py.
fn vendor(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    common::image::vendor_image(&out, &args);
    out
}

/// A one-node cluster whose node `a` (profile `profile`, root 2 GiB) is
/// built from the image base at `url` (`sha256` pinned when given).
fn setup(dir: &Path, profile: &str, url: &str, sha256: Option<&str>) {
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

fn build(dir: &Path, out: &str, extra: &[&str]) -> Output {
    haimg()
        .args(["build", "a.toml", "--out", out, "-q"])
        .args(extra)
        .env("SOURCE_DATE_EPOCH", "1704067200")
        .env("HAIMG_CACHE", dir.join("cache"))
        .current_dir(dir)
        .output()
        .expect("run haimg")
}

fn spec(img: &Path, at: u64) -> String {
    format!("{}?offset={at}", img.display())
}

/// A file of the ext4 root at `at` in `img`, by debugfs.
fn root_file(img: &Path, at: u64, path: &str) -> Vec<u8> {
    let o = sh("debugfs", &["-R", &format!("cat {path}"), &spec(img, at)]);
    assert!(!stderr(&o).contains("not found"), "{path}: {}", stderr(&o));
    o.stdout
}

fn root_stat(img: &Path, at: u64, path: &str) -> String {
    stdout(&sh(
        "debugfs",
        &["-R", &format!("stat {path}"), &spec(img, at)],
    ))
}

/// A file of the FAT boot partition at `at` in `img`, by mtools.
fn boot_file(img: &Path, at: u64, name: &str) -> Vec<u8> {
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
fn table(img: &Path) -> (String, Vec<(u64, u64)>) {
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
fn fsck_both(img: &Path, boot: (u64, u64), root: u64, scratch: &Path) {
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

fn sha256(p: &Path) -> String {
    stdout(&sh("sha256sum", &[p.to_str().expect("p")]))[..64].to_string()
}

#[test]
fn raspios_image_becomes_a_node_image() {
    tools();
    let d = tempfile::tempdir().expect("tmp");
    let base = vendor(d.path(), "raspios.img", &[]);
    ok(
        &sh("xz", &["-T0", "-0", "-k", base.to_str().expect("p")]),
        "xz",
    );
    let xz = d.path().join("raspios.img.xz");
    setup(d.path(), "rpi4", "raspios.img.xz", Some(&sha256(&xz)));
    let o = haimg()
        .args(["build", "a.toml", "--out", "out"])
        .env("SOURCE_DATE_EPOCH", "1704067200")
        .env("HAIMG_CACHE", d.path().join("cache"))
        .current_dir(d.path())
        .output()
        .expect("haimg");
    ok(&o, "haimg build");
    // Raspberry Pi OS Lite has no storage clients: said, not refused.
    assert!(
        stderr(&o).contains("the base image lacks open-iscsi, nfs-common"),
        "{}",
        stderr(&o)
    );
    let img = d.path().join("out/a.img");

    // The base's partitions where they were, under the node's own disk id.
    let (base_id, base_parts) = table(&base);
    let (id, parts) = table(&img);
    assert_eq!(parts, base_parts);
    assert_ne!(id, base_id);
    let (boot, root) = (parts[0], parts[1].0);
    fsck_both(&img, boot, root, d.path());
    let partuuid = format!("{}-02", id.trim_start_matches("0x"));

    // Root: haimg's files in, the vendor's identity out, the wizard masked,
    // the vendor's programs untouched.
    let env = String::from_utf8(root_file(&img, root, "/etc/haimg/node.env")).expect("utf8");
    assert!(env.contains("HAIMG_ROOT_END_MIB="), "{env}");
    let fstab = String::from_utf8(root_file(&img, root, "/etc/fstab")).expect("utf8");
    assert!(
        fstab.contains(&format!("PARTUUID={partuuid} / ext4")),
        "{fstab}"
    );
    assert_eq!(root_file(&img, root, "/etc/machine-id"), b"uninitialized\n");
    for gone in [
        "/etc/ssh/ssh_host_ed25519_key",
        "/etc/ssh/ssh_host_rsa_key.pub",
        "/var/lib/dbus/machine-id",
        "/var/lib/systemd/random-seed",
    ] {
        assert!(
            root_stat(&img, root, gone).is_empty(),
            "{gone} is still there"
        );
    }
    let mask = root_stat(&img, root, "/etc/systemd/system/userconfig.service");
    assert!(
        mask.contains("Type: symlink") && mask.contains("\"/dev/null\""),
        "{mask}"
    );
    assert_eq!(
        root_file(&img, root, "/usr/bin/env"),
        root_file(&base, root, "/usr/bin/env")
    );
    let unit = root_stat(&img, root, "/etc/systemd/system/haimg.target");
    assert!(
        unit.contains("Mode:  0644") && unit.contains("User:     0"),
        "{unit}"
    );

    // Boot: the base's files kept, its config.txt with the profile's lines
    // appended, haimg's cmdline (no firstboot init: root is not grown past
    // the profile's end), haimg's cloud-init seed.
    assert_eq!(
        boot_file(&img, boot.0, "kernel8.img"),
        boot_file(&base, boot.0, "kernel8.img")
    );
    assert_eq!(
        boot_file(&img, boot.0, "overlays/vc4-kms-v3d.dtbo"),
        boot_file(&base, boot.0, "overlays/vc4-kms-v3d.dtbo")
    );
    let config = String::from_utf8(boot_file(&img, boot.0, "config.txt")).expect("utf8");
    let base_config = String::from_utf8(boot_file(&base, boot.0, "config.txt")).expect("utf8");
    assert!(config.starts_with(&base_config), "{config}");
    let tail = &config[base_config.len()..];
    assert!(
        tail.contains("[all]\n") && tail.contains("enable_uart=1\n"),
        "{tail}"
    );
    let cmdline = String::from_utf8(boot_file(&img, boot.0, "cmdline.txt")).expect("utf8");
    assert!(
        cmdline.contains(&format!("root=PARTUUID={partuuid} ")),
        "{cmdline}"
    );
    assert!(!cmdline.contains("init="), "{cmdline}");
    let ud = String::from_utf8(boot_file(&img, boot.0, "user-data")).expect("utf8");
    assert!(
        ud.contains("resize_rootfs: false") && ud.contains("mode: \"off\""),
        "{ud}"
    );
    assert!(!boot_file(&img, boot.0, "haimg/manifest.json").is_empty());

    // Again, from the cache: the same bytes; one decompressed base, no
    // temporary files anywhere.
    ok(
        &build(d.path(), "again", &["--offline"]),
        "haimg build again",
    );
    assert_eq!(sha256(&img), sha256(&d.path().join("again/a.img")));
    let cached: Vec<_> = std::fs::read_dir(d.path().join("cache/images"))
        .expect("cache")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    for dir in ["out", "again", "cache/images"] {
        for e in std::fs::read_dir(d.path().join(dir))
            .expect("dir")
            .flatten()
        {
            assert!(
                !e.file_name().to_string_lossy().starts_with('.'),
                "{dir}: {:?} left behind",
                e.file_name()
            );
        }
    }
}

#[test]
fn ubuntu_image_gets_haimg_seed_and_boot_line() {
    tools();
    let d = tempfile::tempdir().expect("tmp");
    let base = vendor(d.path(), "ubuntu.img", &["--family", "ubuntu"]);
    let before = sha256(&base);
    setup(d.path(), "rpi4", "ubuntu.img", Some(&before));
    ok(&build(d.path(), "out", &[]), "haimg build");
    // A local, uncompressed base is used in place and never changed.
    assert_eq!(sha256(&base), before);
    let img = d.path().join("out/a.img");
    let (_, parts) = table(&img);
    assert_eq!(parts, table(&base).1);
    let (boot, root) = (parts[0], parts[1].0);
    fsck_both(&img, boot, root, d.path());
    // Ubuntu's kernel line (root=LABEL=writable) and its default-password
    // seed are replaced; its config.txt still names its kernel.
    let cmdline = String::from_utf8(boot_file(&img, boot.0, "cmdline.txt")).expect("utf8");
    assert!(
        cmdline.contains("root=PARTUUID=") && !cmdline.contains("LABEL=writable"),
        "{cmdline}"
    );
    let ud = String::from_utf8(boot_file(&img, boot.0, "user-data")).expect("utf8");
    assert!(
        !ud.contains("chpasswd") && !ud.contains("password: ubuntu"),
        "{ud}"
    );
    assert!(ud.contains("/etc/haimg/node.env"), "{ud}");
    let config = String::from_utf8(boot_file(&img, boot.0, "config.txt")).expect("utf8");
    assert!(
        config.contains("kernel=vmlinuz\n") && config.contains("# Added by haimg"),
        "{config}"
    );
    assert_eq!(
        boot_file(&img, boot.0, "vmlinuz"),
        boot_file(&base, boot.0, "vmlinuz")
    );
    let fstab = String::from_utf8(root_file(&img, root, "/etc/fstab")).expect("utf8");
    assert!(fstab.starts_with("# Written by haimg"), "{fstab}");
}

/// `build` fails with `want` in its message and leaves no output.
fn refused(dir: &Path, url: &str, want: &str) {
    setup(dir, "rpi4", url, None);
    let out = format!("out-{}", url.replace(['/', '.'], "-"));
    let o = build(dir, &out, &["--insecure"]);
    assert!(!o.status.success(), "{url}: built");
    let err = stderr(&o);
    assert!(err.contains(want), "{url}: wanted {want:?} in:\n{err}");
    let left: Vec<_> = std::fs::read_dir(dir.join(&out))
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{url}: left {left:?}");
}

#[test]
fn bad_bases_fail_clearly_and_leave_nothing() {
    tools();
    let d = tempfile::tempdir().expect("tmp");
    let p = d.path();
    // A truncated download: no image, no cache entry.
    let good = vendor(p, "good.img", &[]);
    ok(
        &sh("xz", &["-T0", "-0", "-k", good.to_str().expect("p")]),
        "xz",
    );
    let xz = std::fs::read(p.join("good.img.xz")).expect("xz");
    std::fs::write(p.join("cut.img.xz"), &xz[..xz.len() / 2]).expect("write");
    refused(p, "cut.img.xz", "truncated or corrupt");
    let images: Vec<_> = std::fs::read_dir(p.join("cache/images"))
        .map(|r| r.flatten().collect())
        .unwrap_or_default();
    assert!(images.is_empty(), "half-written cache entry");

    vendor(p, "amd64.img", &["--arch", "amd64"]);
    refused(p, "amd64.img", "its programs are amd64");
    vendor(p, "luks.img", &["--luks"]);
    refused(p, "luks.img", "crypto_LUKS");
    vendor(p, "bare.img", &["--no-tools"]);
    refused(p, "bare.img", "lacks sfdisk");
    vendor(p, "nocurl.img", &["--drop-package", "curl"]);
    refused(
        p,
        "nocurl.img",
        "lacks packages haimg's first boot needs: curl (",
    );
    let broken = vendor(p, "broken.img", &[]);
    ok(
        &sh(
            "debugfs",
            &[
                "-w",
                "-R",
                "sif /etc/hostname links_count 5",
                &spec(&broken, 520 * MIB),
            ],
        ),
        "debugfs",
    );
    refused(p, "broken.img", "e2fsck finds errors");
    std::fs::write(p.join("notadisk.img"), vec![7u8; 1 << 20]).expect("write");
    refused(p, "notadisk.img", "not a disk image");
    // A root that ends past the profile's root end.
    vendor(p, "huge.img", &["--root-mib", "1700"]);
    refused(p, "huge.img", "raise root_size_mib");
}

#[test]
fn raspios_trixie_does_not_grow_root_itself() {
    tools();
    let d = tempfile::tempdir().expect("tmp");
    let base = vendor(d.path(), "trixie.img", &["--family", "raspios-trixie"]);
    setup(d.path(), "rpi5", "trixie.img", Some(&sha256(&base)));
    ok(&build(d.path(), "out", &[]), "haimg build");
    let img = d.path().join("out/a.img");
    let boot = table(&img).1[0];
    // Trixie's `resize` flag (initramfs resize_early, rpi-resize.service)
    // would grow root to the disk's end over the data partition's place.
    let cmdline = String::from_utf8(boot_file(&img, boot.0, "cmdline.txt")).expect("utf8");
    assert!(
        !cmdline.split_whitespace().any(|a| a == "resize"),
        "{cmdline}"
    );
    // haimg's seed replaces the vendor's (a new instance-id: cloud-init
    // treats the boot as a first boot).
    let meta = String::from_utf8(boot_file(&img, boot.0, "meta-data")).expect("utf8");
    assert!(!meta.contains("rpi-imager-default"), "{meta}");
    // The Pi 5's DTB and the base's kernel stay; the profile's lines apply.
    assert_eq!(
        boot_file(&img, boot.0, "bcm2712-rpi-5-b.dtb"),
        boot_file(&base, boot.0, "bcm2712-rpi-5-b.dtb")
    );
    let config = String::from_utf8(boot_file(&img, boot.0, "config.txt")).expect("utf8");
    assert!(
        config.contains("# Added by haimg (profile rpi5)"),
        "{config}"
    );
}

#[test]
fn the_raspios_example_plans_and_renders() {
    // examples/raspios names its bases by catalogue entry: no download is
    // needed to check and render the cluster.
    let d = tempfile::tempdir().expect("tmp");
    let o = haimg()
        .args(["plan", "examples/raspios/cluster.toml", "--json"])
        .current_dir(repo())
        .output()
        .expect("haimg");
    let plan: serde_json::Value = serde_json::from_str(&ok(&o, "plan")).expect("json");
    assert_eq!(plan["nodes"].as_array().map(Vec::len), Some(3), "{plan}");
    let o = haimg()
        .args(["render", "examples/raspios/cluster.toml", "--out"])
        .arg(d.path().join("r"))
        .env("HAIMG_K3S_TOKEN", TOKEN)
        .env("HAIMG_TAILSCALE_AUTHKEY", AUTHKEY)
        .current_dir(repo())
        .output()
        .expect("haimg");
    ok(&o, "render");
    // An image base keeps its own config.txt (haimg appends to it when it
    // builds); the kernel line is still haimg's.
    let boot = d.path().join("r/raspi2/boot");
    assert!(!boot.join("config.txt").exists());
    let cmdline = std::fs::read_to_string(boot.join("cmdline.txt")).expect("cmdline");
    assert!(cmdline.contains("root=PARTUUID="), "{cmdline}");
    // A catalogue name without a version is a configuration error.
    write_files(d.path(), &[("cluster.toml", "name = \"lab\"\ntailnet = \"t.ts.net\"\nnodes = [\"a.toml\"]\n[[server]]\nname = \"a\"\nbootstrap = true\n[tailscale]\ntags = [\"tag:k3s\"]\n".into()), ("a.toml", "cluster = \"cluster.toml\"\nhostname = \"a\"\nprofile = \"rpi4\"\n[base]\nkind = \"image\"\ncatalogue = \"raspios-lite-arm64\"\n".into())]);
    let o = haimg()
        .args(["plan", "a.toml"])
        .current_dir(d.path())
        .output()
        .expect("haimg");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("a.toml:6:13: `catalogue` needs a `version`"),
        "{}",
        stderr(&o)
    );
}
