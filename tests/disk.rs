//! `haimg build` from rootfs tarballs the tests make, judged by independent
//! tools: sfdisk, sgdisk, fsck.fat, e2fsck, blkid, debugfs, mtools, and a
//! read-only loop mount compared member by member against the tarball.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::image::{debugfs, small_profile};
use common::*;

fn tools_present() {
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
fn fixture(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
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
fn setup(dir: &Path, tarball: &Path, profile: &str, root_mib: u64) {
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

fn build(dir: &Path, out: &str) -> Output {
    haimg()
        .args(["build", "a.toml", "--out", out, "-q"])
        .env("SOURCE_DATE_EPOCH", "1704067200")
        .current_dir(dir)
        .output()
        .expect("run haimg")
}

/// Copy one partition out of the image (sparse) for the fs checkers.
fn extract(img: &Path, start: u64, len: u64, out: &Path) {
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

fn partitions(img: &Path) -> serde_json::Value {
    let o = sh("sfdisk", &["-J", img.to_str().expect("path")]);
    serde_json::from_str(&ok(&o, "sfdisk -J")).expect("json")
}

fn mtype(part: &Path, file: &str) -> String {
    ok(
        &sh(
            "mtype",
            &["-i", part.to_str().expect("path"), &format!("::{file}")],
        ),
        "mtype",
    )
}

fn is_root() -> bool {
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
fn compare_mounted(img: &Path, start: u64, tarball: &Path, skips: &[&str]) {
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
const NOT_COPIED: &[&str] = &[
    "etc/machine-id",
    "etc/hostname",
    "etc/ssh/ssh_host_ed25519_key",
    "var/lib/systemd/random-seed",
    "boot/firmware/*",
];

#[test]
fn rpi4_image_passes_independent_checks() {
    tools_present();
    let tmp = tempfile::tempdir().expect("tmp");
    let tar = fixture(tmp.path(), "rootfs.tar", &["--kind", "rpi"]);
    setup(tmp.path(), &tar, "rpi4", 600);
    let o = build(tmp.path(), "out");
    let printed = ok(&o, "haimg build");
    let img = tmp.path().join("out/a.img");

    // Output: 0600, sha256 sidecar agrees with sha256sum, nothing else left.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&img).expect("img").permissions().mode() & 0o777,
        0o600
    );
    let sum = ok(&sh("sha256sum", &[img.to_str().expect("p")]), "sha256sum");
    let hash = sum.split_whitespace().next().expect("hash");
    let side = std::fs::read_to_string(tmp.path().join("out/a.img.sha256")).expect("sidecar");
    assert_eq!(side, format!("{hash}  a.img\n"));
    assert!(printed.starts_with(hash));
    let mut names: Vec<String> = std::fs::read_dir(tmp.path().join("out"))
        .expect("out")
        .map(|e| e.expect("e").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // A Pi image also gets the Raspberry Pi Imager repository and its icon.
    assert_eq!(
        names,
        [
            "SHA256SUMS",
            "a.img",
            "a.img.bmap",
            "a.img.sha256",
            "haimg-icon.svg",
            "imager.json"
        ]
    );
    // Every output is listed and checks out, by sha256sum itself.
    assert_eq!(common::image::sums_ok(&tmp.path().join("out")), 5);
    // Debian's bmaptool accepts the block map and reproduces the image.
    let flashed = tmp.path().join("flashed.img");
    let o = sh(
        "bmaptool",
        &[
            "copy",
            "--bmap",
            tmp.path().join("out/a.img.bmap").to_str().expect("p"),
            img.to_str().expect("p"),
            flashed.to_str().expect("p"),
        ],
    );
    ok(&o, "bmaptool copy");
    ok(
        &sh(
            "cmp",
            &[img.to_str().expect("p"), flashed.to_str().expect("p")],
        ),
        "cmp image and bmaptool's copy",
    );
    let map = std::fs::read_to_string(tmp.path().join("out/a.img.bmap")).expect("bmap");
    let mapped: u64 = map
        .split("<MappedBlocksCount>")
        .nth(1)
        .and_then(|r| r.split("</").next())
        .and_then(|n| n.trim().parse().ok())
        .expect("mapped count");
    let blocks: u64 = map
        .split("<BlocksCount>")
        .nth(1)
        .and_then(|r| r.split("</").next())
        .and_then(|n| n.trim().parse().ok())
        .expect("blocks count");
    assert!(
        mapped * 4 < blocks,
        "a fresh image is mostly holes: {mapped} of {blocks}"
    );

    // Partition table, as sfdisk reads it.
    let pt = partitions(&img);
    let table = &pt["partitiontable"];
    assert_eq!(table["label"], "dos");
    let parts = table["partitions"].as_array().expect("partitions");
    assert_eq!(parts.len(), 2);
    assert_eq!(
        (
            parts[0]["start"].as_u64(),
            parts[0]["size"].as_u64(),
            parts[0]["type"].as_str()
        ),
        (Some(16384), Some(131072), Some("c"))
    );
    assert_eq!(parts[1]["type"], "83");
    assert_eq!(parts[1]["start"].as_u64(), Some(16384 + 131072));
    let disk_id = table["id"]
        .as_str()
        .expect("id")
        .trim_start_matches("0x")
        .to_string();
    let root_partuuid = format!("{disk_id}-02");

    let boot = tmp.path().join("boot.part");
    let root = tmp.path().join("root.part");
    extract(&img, 8 << 20, 64 << 20, &boot);
    extract(&img, 72 << 20, 600 << 20, &root);
    ok(
        &sh("fsck.fat", &["-n", boot.to_str().expect("p")]),
        "fsck.fat -n",
    );
    ok(
        &sh("e2fsck", &["-fn", root.to_str().expect("p")]),
        "e2fsck -fn",
    );
    let blk = ok(
        &sh(
            "blkid",
            &[
                "-p",
                "-o",
                "export",
                boot.to_str().expect("p"),
                root.to_str().expect("p"),
            ],
        ),
        "blkid",
    );
    assert!(
        blk.contains("LABEL=bootfs") && blk.contains("TYPE=vfat") && blk.contains("VERSION=FAT32"),
        "{blk}"
    );
    assert!(
        blk.contains("LABEL=rootfs") && blk.contains("TYPE=ext4"),
        "{blk}"
    );

    // Boot partition: firmware, DTBs, newest kernel + its initrd, our files.
    let cmdline = mtype(&boot, "cmdline.txt");
    assert_eq!(cmdline.lines().count(), 1);
    assert!(
        cmdline.contains(&format!("root=PARTUUID={root_partuuid} ")),
        "{cmdline}"
    );
    assert!(cmdline.contains("cgroup_enable=memory"));
    assert!(mtype(&boot, "config.txt").contains("initramfs initrd.img followkernel"));
    assert!(mtype(&boot, "vmlinuz").starts_with("arm64 kernel 10"));
    assert!(mtype(&boot, "initrd.img").starts_with("initrd 10"));
    for f in [
        "start4.elf",
        "fixup4.dat",
        "bcm2711-rpi-4-b.dtb",
        "bcm2711-rpi-400.dtb",
        "overlays/disable-bt.dtbo",
    ] {
        assert!(!mtype(&boot, f).is_empty(), "{f}");
    }
    assert_eq!(mtype(&boot, "haimg/secrets/k3s-token").trim(), TOKEN);
    assert_eq!(
        mtype(&boot, "haimg/secrets/tailscale-authkey").trim(),
        AUTHKEY
    );

    // Root filesystem through debugfs: no baked identity, haimg's files in place.
    assert_eq!(debugfs(&root, "cat /etc/machine-id"), "uninitialized\n");
    assert_eq!(debugfs(&root, "cat /etc/hostname"), "a\n");
    let fstab = debugfs(&root, "cat /etc/fstab");
    assert!(
        fstab.contains(&format!("PARTUUID={root_partuuid} / ext4")),
        "{fstab}"
    );
    for gone in [
        "/etc/ssh/ssh_host_ed25519_key",
        "/var/lib/systemd/random-seed",
    ] {
        assert!(
            !debugfs(&root, &format!("stat {gone}")).contains("Inode:"),
            "{gone} was baked in"
        );
    }
    let cfg = debugfs(&root, "stat /etc/rancher/k3s/config.yaml");
    assert!(
        cfg.contains("Mode:  0600") && cfg.contains("User:     0"),
        "{cfg}"
    );
    let link = debugfs(
        &root,
        "stat /etc/systemd/system/multi-user.target.wants/haimg.target",
    );
    assert!(
        link.contains("Type: symlink") && link.contains("/etc/systemd/system/haimg.target"),
        "{link}"
    );
    let script = debugfs(&root, "stat /usr/lib/haimg/storage.sh");
    assert!(script.contains("Mode:  0755"), "{script}");
    assert!(
        debugfs(&root, "ls -l /boot/firmware").lines().count() <= 3,
        "boot/firmware must be an empty mount point"
    );

    compare_mounted(&img, 72 << 20, &tar, NOT_COPIED);
}

#[test]
fn uefi_image_passes_independent_checks() {
    tools_present();
    let tmp = tempfile::tempdir().expect("tmp");
    let tar = fixture(tmp.path(), "rootfs.tar", &["--kind", "uefi"]);
    // Compressed base: decompression is chosen by magic bytes.
    ok(
        &sh(
            "zstd",
            &[
                "-q",
                "-f",
                tar.to_str().expect("p"),
                "-o",
                tmp.path().join("rootfs.tzst").to_str().expect("p"),
            ],
        ),
        "zstd",
    );
    setup(
        tmp.path(),
        &tmp.path().join("rootfs.tzst"),
        "x86_64-uefi",
        600,
    );
    ok(&build(tmp.path(), "out"), "haimg build");
    let img = tmp.path().join("out/a.img");

    let v = ok(
        &sh("sgdisk", &["-v", img.to_str().expect("p")]),
        "sgdisk -v",
    );
    assert!(v.contains("No problems found"), "{v}");
    let pt = partitions(&img);
    let table = &pt["partitiontable"];
    assert_eq!(table["label"], "gpt");
    let parts = table["partitions"].as_array().expect("parts");
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0]["type"], "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
    assert_eq!(
        parts[1]["type"], "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
        "Linux root (x86-64)"
    );
    assert_eq!(parts[0]["start"].as_u64(), Some(2048));
    let root_uuid = parts[1]["uuid"].as_str().expect("uuid").to_lowercase();

    let esp = tmp.path().join("esp.part");
    let root = tmp.path().join("root.part");
    extract(&img, 1 << 20, 64 << 20, &esp);
    extract(&img, 65 << 20, 600 << 20, &root);
    ok(
        &sh("fsck.fat", &["-n", esp.to_str().expect("p")]),
        "fsck.fat",
    );
    ok(&sh("e2fsck", &["-fn", root.to_str().expect("p")]), "e2fsck");
    assert!(mtype(&esp, "EFI/BOOT/BOOTX64.EFI").starts_with("MZ systemd-boot"));
    let entry = mtype(&esp, "loader/entries/haimg.conf");
    assert!(
        entry.contains(&format!("root=PARTUUID={root_uuid} ")),
        "{entry}"
    );
    assert!(
        entry.contains("linux /haimg/vmlinuz") && entry.contains("version 6.1.0-27-amd64"),
        "{entry}"
    );
    assert!(mtype(&esp, "haimg/vmlinuz").starts_with("amd64 kernel"));
    let fstab = debugfs(&root, "cat /etc/fstab");
    assert!(fstab.contains("/boot/efi vfat"), "{fstab}");
    assert!(
        debugfs(&root, "cat /etc/kernel/cmdline").contains(&format!("root=PARTUUID={root_uuid}"))
    );
    compare_mounted(&img, 65 << 20, &tar, NOT_COPIED);
}

#[test]
fn adversarial_tarball_arrives_exactly() {
    tools_present();
    let tmp = tempfile::tempdir().expect("tmp");
    let tar = fixture(
        tmp.path(),
        "rootfs.tar",
        &["--kind", "rpi", "--adversarial"],
    );
    setup(tmp.path(), &tar, "rpi4", 1024);
    ok(&build(tmp.path(), "out"), "haimg build");
    let img = tmp.path().join("out/a.img");
    let root = tmp.path().join("root.part");
    extract(&img, 72 << 20, 1024 << 20, &root);
    ok(
        &sh("e2fsck", &["-fn", root.to_str().expect("p")]),
        "e2fsck -fn",
    );
    // debugfs spot checks that need no mount.
    assert!(debugfs(&root, "stat /usr/bin/su").contains("Mode:  04755"));
    assert!(debugfs(&root, "stat /tmp").contains("Mode:  01777"));
    let ea = debugfs(&root, "ea_list /usr/bin/ping");
    assert!(ea.contains("security.capability"), "{ea}");
    let dev = debugfs(&root, "stat /dev/sda");
    assert!(
        dev.contains("block special") && dev.contains("major: 8")
            || dev.contains("Device major/minor number: 08:00"),
        "{dev}"
    );
    let many = debugfs(&root, "ls -p /many");
    assert_eq!(many.lines().filter(|l| l.contains("/f")).count(), 20000);
    compare_mounted(&img, 72 << 20, &tar, NOT_COPIED);
}

#[test]
fn same_inputs_give_the_same_image() {
    tools_present();
    let tmp = tempfile::tempdir().expect("tmp");
    let tar = fixture(tmp.path(), "rootfs.tar", &["--kind", "rpi"]);
    setup(tmp.path(), &tar, "rpi4", 600);
    ok(&build(tmp.path(), "one"), "first build");
    ok(&build(tmp.path(), "two"), "second build");
    let a = std::fs::read_to_string(tmp.path().join("one/a.img.sha256")).expect("one");
    let b = std::fs::read_to_string(tmp.path().join("two/a.img.sha256")).expect("two");
    assert_eq!(a, b);
    ok(
        &sh(
            "cmp",
            &[
                tmp.path().join("one/a.img").to_str().expect("p"),
                tmp.path().join("two/a.img").to_str().expect("p"),
            ],
        ),
        "cmp",
    );
    // A changed input changes the image.
    std::fs::write(
        tmp.path().join("a.toml"),
        std::fs::read_to_string(tmp.path().join("a.toml")).expect("a")
            + "[kernel]\nmodules = [\"dm_crypt\"]\n",
    )
    .expect("write");
    ok(&build(tmp.path(), "three"), "third build");
    let c = std::fs::read_to_string(tmp.path().join("three/a.img.sha256")).expect("three");
    assert_ne!(a.split_whitespace().next(), c.split_whitespace().next());
}

#[test]
fn builds_without_root() {
    tools_present();
    need(&["setpriv"]);
    let tmp = tempfile::tempdir().expect("tmp");
    let tar = fixture(tmp.path(), "rootfs.tar", &["--kind", "rpi"]);
    setup(tmp.path(), &tar, "rpi4", 600);
    let mut cmd = if is_root() {
        // Let nobody write there and read the inputs; secrets come from the env.
        ok(
            &sh("chmod", &["-R", "a+rwX", tmp.path().to_str().expect("p")]),
            "chmod",
        );
        ok(
            &sh(
                "chmod",
                &["a+rx", tmp.path().parent().expect("p").to_str().expect("p")],
            ),
            "chmod",
        );
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_haimg"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_haimg"))
    };
    let o = cmd
        .args(["build", "a.toml", "--out", "out", "-q"])
        .env("HAIMG_K3S_TOKEN", TOKEN)
        .env("HAIMG_TAILSCALE_AUTHKEY", AUTHKEY)
        .env("HOME", tmp.path())
        .current_dir(tmp.path())
        .output()
        .expect("run");
    ok(&o, "build as nobody");
    let img = tmp.path().join("out/a.img");
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&img).expect("img");
    if is_root() {
        assert_eq!(meta.uid(), 65534, "built by nobody");
    }
    let root = tmp.path().join("root.part");
    extract(&img, 72 << 20, 600 << 20, &root);
    ok(&sh("e2fsck", &["-fn", root.to_str().expect("p")]), "e2fsck");
    // Owners come from the tarball, not from who ran the build.
    assert!(debugfs(&root, "stat /usr/bin/tool").contains("User:     0   Group:     0"));
}

/// Each bad input: exit 1, a message naming the problem, and no output file
/// (nor any temporary one) left in the output folder.
#[test]
fn bad_inputs_fail_clearly_and_leave_nothing() {
    tools_present();
    let tmp = tempfile::tempdir().expect("tmp");
    let good = fixture(tmp.path(), "good.tar", &["--kind", "rpi"]);
    let bytes = std::fs::read(&good).expect("read");
    let truncated = tmp.path().join("truncated.tar");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2 + 100]).expect("write");
    let gz = tmp.path().join("truncated.tar.gz");
    ok(
        &sh(
            "sh",
            &[
                "-c",
                &format!(
                    "gzip -c {0} > {1}.full && head -c $(( $(stat -c %s {1}.full) / 2 )) {1}.full > {1}",
                    good.display(),
                    gz.display()
                ),
            ],
        ),
        "gzip",
    );
    let garbage = tmp.path().join("garbage.tar");
    std::fs::write(&garbage, vec![0x41u8; 4096]).expect("write");
    let cases: Vec<(PathBuf, u64, &str)> = vec![
        (truncated, 600, "truncated"),
        (gz, 600, "reading the tarball"),
        (garbage, 600, "checksum"),
        (
            fixture(tmp.path(), "evil.tar", &["--kind", "rpi", "--evil"]),
            600,
            "climbs out of the root",
        ),
        (
            fixture(
                tmp.path(),
                "nofirmware.tar",
                &["--kind", "rpi", "--no-kernel"],
            ),
            600,
            "firmware file start4.elf",
        ),
        (
            fixture(
                tmp.path(),
                "nokernel.tar",
                &["--kind", "rpi", "--drop-kernel"],
            ),
            600,
            "lacks a kernel",
        ),
        (
            fixture(tmp.path(), "big.tar", &["--kind", "rpi", "--big", "560"]),
            512,
            "does not fit",
        ),
        (
            fixture(tmp.path(), "noclock.tar", &["--kind", "rpi", "--no-clock"]),
            600,
            "no time daemon",
        ),
    ];
    for (tar, root_mib, want) in cases {
        let dir = tempfile::tempdir().expect("tmp");
        setup(dir.path(), &tar, "rpi4", root_mib);
        let o = build(dir.path(), "out");
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{}: {err}", tar.display());
        assert!(
            err.contains(want),
            "{}: want {want:?} in {err}",
            tar.display()
        );
        let left: Vec<_> = std::fs::read_dir(dir.path().join("out"))
            .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{}: left behind {left:?}", tar.display());
    }
}

#[test]
fn compressed_copies_decompress_to_the_image() {
    tools_present();
    need(&["xz", "zstd"]);
    let tmp = tempfile::tempdir().expect("tmp");
    common::image::rootfs_node(tmp.path(), "uefi", "x86_64-uefi", 600, &[]);
    let o = haimg()
        .args([
            "build",
            "a.toml",
            "--out",
            "out",
            "-q",
            "--compress",
            "xz,zst",
        ])
        .env("SOURCE_DATE_EPOCH", "1704067200")
        .current_dir(tmp.path())
        .output()
        .expect("haimg");
    ok(&o, "haimg build --compress xz,zst");
    let out = tmp.path().join("out");
    let img = out.join("a.img");
    use std::os::unix::fs::PermissionsExt;
    for (file, tool) in [("a.img.xz", "xz"), ("a.img.zst", "zstd")] {
        let p = out.join(file);
        assert_eq!(
            std::fs::metadata(&p).expect(file).permissions().mode() & 0o777,
            0o600,
            "{file} holds the secrets too"
        );
        // The publishers' own tools are the judges.
        let check = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{tool} -dc {} | cmp - {}",
                p.display(),
                img.display()
            ))
            .output()
            .expect("sh");
        ok(&check, &format!("{tool} -dc {file} | cmp"));
    }
    assert_eq!(common::image::sums_ok(&out), 5);
}
