//! `[base] kind = "image"`: vendor-like Raspberry Pi OS and Ubuntu images
//! (tests/tools/mkvendor.py: sfdisk, mkfs.fat, mtools, mke2fs — not haimg)
//! customised into node images, judged by sfdisk, e2fsck, fsck.fat, debugfs
//! and mtools; and every bad base refused with nothing left behind.

mod common;

use common::vendor::*;
use common::*;

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
