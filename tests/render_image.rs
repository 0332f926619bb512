//! `haimg render` shows byte for byte what `haimg build` puts in the image:
//! every rendered file is read back out of the image by independent tools
//! (debugfs for the ext4 root, mtools for the FAT boot partition) and compared.

mod common;

use common::image::{partition, rootfs_node};
use common::*;

/// The raw bytes a program printed (debugfs and mtype print file contents).
fn bytes(cmd: &str, args: &[&str]) -> Vec<u8> {
    let o = sh(cmd, args);
    assert!(o.status.success(), "{cmd} {args:?}: {}", stderr(&o));
    o.stdout
}

fn compare(kind: &str, profile: &str) {
    need(&["python3", "sfdisk", "debugfs", "mtype", "mkfs.ext4"]);
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    rootfs_node(dir, kind, profile, 600, &[]);
    let payload = carried_payload(dir);
    let p = payload.to_str().expect("p");
    let run = |args: &[&str]| {
        let o = haimg()
            .args(args)
            .env("SOURCE_DATE_EPOCH", "1704067200")
            .current_dir(dir)
            .output()
            .expect("haimg");
        ok(&o, &format!("haimg {args:?}"));
    };
    run(&["build", "a.toml", "--out", "out", "-q", "--payload", p]);
    run(&[
        "render",
        "a.toml",
        "--out",
        "r",
        "--with-secrets",
        "--payload",
        p,
    ]);
    let img = dir.join("out/a.img");
    let (boot, root) = (dir.join("boot.part"), dir.join("root.part"));
    partition(&img, 1, &boot);
    partition(&img, 2, &root);
    let (boot, root) = (boot.to_str().expect("p"), root.to_str().expect("p"));

    let mut compared = 0;
    for (rel, mode, data) in tree(&dir.join("r/root")) {
        let path = format!("/{rel}");
        let stat =
            String::from_utf8_lossy(&bytes("debugfs", &["-R", &format!("stat {path}"), root]))
                .into_owned();
        if std::fs::symlink_metadata(dir.join("r/root").join(&rel))
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            assert!(stat.contains("Type: symlink"), "{path}: {stat}");
            continue;
        }
        assert!(
            stat.contains(&format!("Mode:  {:04o}", mode & 0o7777)),
            "{path}: rendered mode {:o}, image says:\n{stat}",
            mode & 0o7777
        );
        assert_eq!(
            bytes("debugfs", &["-R", &format!("cat {path}"), root]),
            data,
            "{path} differs between render and image"
        );
        compared += 1;
    }
    for (rel, _, data) in tree(&dir.join("r/boot")) {
        assert_eq!(
            bytes("mtype", &["-i", boot, &format!("::{rel}")]),
            data,
            "boot {rel} differs between render and image"
        );
        compared += 1;
    }
    // fstab, machine-id, config.yaml, the payload manifest and the payload
    // itself at least.
    assert!(compared > 20, "only {compared} files compared");
    let fstab = String::from_utf8(bytes("debugfs", &["-R", "cat /etc/fstab", root])).expect("utf8");
    assert!(
        !fstab.contains('@'),
        "a placeholder reached the image: {fstab}"
    );
    let manifest =
        std::fs::read_to_string(dir.join("r/root/etc/haimg/payload.sha256")).expect("manifest");
    assert!(
        manifest.contains(" k3s\n") && manifest.contains(" tailscaled\n"),
        "{manifest}"
    );
}

#[test]
fn render_is_what_a_pi_image_holds() {
    compare("rpi", "rpi4");
}

#[test]
fn render_is_what_a_uefi_image_holds() {
    compare("uefi", "x86_64-uefi");
}
