//! `[base] kind = "image"` on a UEFI profile: a Debian-cloud-like image
//! (tests/tools/mkvendor.py: GPT with root at 128 MiB after the ESP, a
//! systemd-boot entry and a GRUB config naming root by its partition GUID)
//! customised for the cloud witness, judged by sfdisk, sgdisk, e2fsck,
//! fsck.fat, debugfs and mtools.

mod common;

use std::path::Path;

use common::image::small_profile;
use common::*;

const MIB: u64 = 1024 * 1024;
/// The vendor image's root partition GUID (mkvendor.py's ROOT_GUID).
const VENDOR_ROOT: &str = "6f1d2b3c-4a5e-4f60-8a7b-9c0d1e2f3a4b";

fn spec(img: &Path, at: u64) -> String {
    format!("{}?offset={at}", img.display())
}

fn root_file(img: &Path, at: u64, path: &str) -> String {
    let o = sh("debugfs", &["-R", &format!("cat {path}"), &spec(img, at)]);
    assert!(!stderr(&o).contains("not found"), "{path}: {}", stderr(&o));
    stdout(&o)
}

#[test]
fn a_cloud_image_becomes_the_witness() {
    need(&[
        "sfdisk", "sgdisk", "mkfs.fat", "mcopy", "mtype", "mke2fs", "e2fsck", "debugfs",
        "fsck.fat", "python3",
    ]);
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    let base = dir.join("cloud.img");
    common::image::vendor_image(&base, &["--family".as_ref(), "debian-cloud".as_ref()]);
    write_files(
        dir,
        &[
            ("cluster.toml", "name = \"lab\"\ntailnet = \"lab-net.ts.net\"\nnodes = [\"w.toml\"]\n[[server]]\nname = \"w\"\nbootstrap = true\nwitness = true\n[tailscale]\ntags = [\"tag:k3s\"]\n".into()),
            ("p.toml", small_profile("cloud-x86_64", 2048)),
            ("w.toml", "cluster = \"cluster.toml\"\nhostname = \"w\"\nprofile = \"p.toml\"\n[base]\nkind = \"image\"\nurl = \"cloud.img\"\n[storage]\ndata = \"none\"\n".into()),
        ],
    );
    write_secrets(dir);
    let o = haimg()
        .args([
            "build",
            "w.toml",
            "--out",
            "out",
            "-q",
            "--insecure",
            "--payload",
        ])
        .arg(carried_payload(dir))
        .env("SOURCE_DATE_EPOCH", "1704067200")
        .current_dir(dir)
        .output()
        .expect("haimg");
    ok(&o, "haimg build");
    let img = dir.join("out/w.img");

    // A valid GPT: the base's ESP and root where they were, under the
    // node's GUIDs; the BIOS boot partition (p14) dropped.
    ok(
        &sh("sgdisk", &["-v", img.to_str().expect("p")]),
        "sgdisk -v",
    );
    let pt: serde_json::Value = serde_json::from_str(&ok(
        &sh("sfdisk", &["-J", img.to_str().expect("p")]),
        "sfdisk",
    ))
    .expect("json");
    let parts = pt["partitiontable"]["partitions"]
        .as_array()
        .expect("parts")
        .clone();
    assert_eq!(parts.len(), 2, "{pt}");
    let find = |ty: &str| {
        parts
            .iter()
            .find(|p| {
                p["type"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case(ty))
            })
            .unwrap_or_else(|| panic!("no {ty} in {pt}"))
            .clone()
    };
    let esp = find("C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
    let root = find("4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709");
    assert_eq!(esp["start"].as_u64(), Some(8192));
    assert_eq!(root["start"].as_u64(), Some(128 * 2048));
    let root_guid = root["uuid"].as_str().expect("uuid").to_ascii_lowercase();
    let esp_guid = esp["uuid"].as_str().expect("uuid").to_ascii_lowercase();
    assert_ne!(root_guid, VENDOR_ROOT);
    let at = 128 * MIB;
    ok(&sh("e2fsck", &["-fn", &spec(&img, at)]), "e2fsck -fn");
    let part = dir.join("esp.part");
    ok(
        &sh(
            "dd",
            &[
                &format!("if={}", img.display()),
                &format!("of={}", part.display()),
                "bs=1M",
                "skip=4",
                "count=124",
                "status=none",
            ],
        ),
        "dd",
    );
    ok(
        &sh("fsck.fat", &["-n", part.to_str().expect("p")]),
        "fsck.fat -n",
    );

    // The vendor's boot loaders name the node's root now: GRUB's config
    // (mode kept) and the systemd-boot entry on the ESP.
    let grub = root_file(&img, at, "/boot/grub/grub.cfg");
    assert!(
        grub.contains(&format!("root=PARTUUID={root_guid} "))
            && !grub.to_ascii_lowercase().contains(VENDOR_ROOT),
        "{grub}"
    );
    let grub_stat = stdout(&sh(
        "debugfs",
        &["-R", "stat /boot/grub/grub.cfg", &spec(&img, at)],
    ));
    assert!(grub_stat.contains("Mode:  0444"), "{grub_stat}");
    let entry = stdout(&sh(
        "mtype",
        &[
            "-i",
            part.to_str().expect("p"),
            "::loader/entries/debian.conf",
        ],
    ));
    assert!(
        entry.contains(&format!("root=PARTUUID={root_guid} ")),
        "{entry}"
    );
    let efi = |p: &Path, off: &str| {
        stdout(&sh(
            "mtype",
            &[
                "-i",
                &format!("{}@@{off}", p.display()),
                "::EFI/BOOT/BOOTX64.EFI",
            ],
        ))
    };
    assert_eq!(efi(&img, "4M"), efi(&base, "4M"));

    // haimg's boot side lives in root: the ESP is small and the vendor's.
    let env = root_file(&img, at, "/etc/haimg/node.env");
    assert!(
        env.contains("HAIMG_BOOT_DIR='/var/lib/haimg/boot'"),
        "{env}"
    );
    let token = stdout(&sh(
        "debugfs",
        &[
            "-R",
            "stat /var/lib/haimg/boot/haimg/secrets/k3s-token",
            &spec(&img, at),
        ],
    ));
    assert!(token.contains("Mode:  0600"), "{token}");
    assert_eq!(
        root_file(&img, at, "/var/lib/haimg/boot/haimg/payload/k3s").as_bytes(),
        std::fs::read(repo().join("tests/standins/k3s")).expect("k3s")
    );
    let seed = root_file(&img, at, "/var/lib/cloud/seed/nocloud/user-data");
    assert!(
        seed.starts_with("#cloud-config\n") && seed.contains("mode: \"off\""),
        "{seed}"
    );
    let fstab = root_file(&img, at, "/etc/fstab");
    assert!(
        fstab.contains(&format!("PARTUUID={root_guid} / ext4"))
            && fstab.contains(&format!("PARTUUID={esp_guid} /boot/efi vfat")),
        "{fstab}"
    );
}
