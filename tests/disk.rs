//! `haimg build` from rootfs tarballs the tests make, judged by independent
//! tools: sfdisk, sgdisk, fsck.fat, e2fsck, blkid, debugfs, mtools, and a
//! read-only loop mount compared member by member against the tarball.
//! (Odd inputs, reproducibility and failures: tests/disk_inputs.rs.)

mod common;

use common::disk::*;
use common::image::debugfs;
use common::*;

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
