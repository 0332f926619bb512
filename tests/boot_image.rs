//! The boot test of an `image` base: a vendor-like Raspberry Pi image
//! (tests/tools/mkvendor.py: pi-gen's layout, the shared arm64 Debian base
//! as its root, the vendor's own networking, no haimg file) customised by
//! `haimg build` and booted on QEMU's virt board, as the Pi boot test does,
//! to "haimg: first boot done".

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::bases::{ARM64_BASE, EPOCH, ready, shared_base};
use common::image::{debugfs, partition};
use common::qemu::{BOOT_LIMIT, Net};
use common::*;

/// `haimg build NODE.toml` with the real tailnet payload for `arch` (the
/// k3s miniature beside it); the image's path.
fn build(dir: &Path, node: &str, arch: &str) -> PathBuf {
    let payload = common::tailnet::payload(dir, arch);
    let t = Instant::now();
    let o = haimg()
        .args([
            "build",
            &format!("{node}.toml"),
            "--out",
            "out",
            "-q",
            "--insecure",
            "--payload",
        ])
        .arg(&payload)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .current_dir(dir)
        .output()
        .expect("haimg");
    ok(&o, "haimg build");
    eprintln!("boot test: image base {node}: built in {:.0?}", t.elapsed());
    dir.join("out").join(format!("{node}.img"))
}

/// A disk's partition table as sfdisk reads it.
fn table(disk: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(
        &sh("sfdisk", &["-J", disk.to_str().expect("p")]),
        "sfdisk",
    ))
    .expect("json")
}

#[test]
fn rpi4_image_base_first_boot() {
    ready();
    need(&[
        "qemu-system-aarch64",
        "arch-test",
        "/proc/sys/fs/binfmt_misc/qemu-aarch64",
        "mkfs.fat",
    ]);
    let tar = shared_base("rpi4", ARM64_BASE);
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let vendor = dir.join("vendor.img");
    common::image::vendor_image(&vendor, &["--rootfs".as_ref(), tar.as_os_str()]);
    let profile = std::fs::read_to_string(repo().join("profiles/rpi4.toml"))
        .expect("profile")
        .replace("root_size_mib = 8192", "root_size_mib = 2048")
        .replace("data_offset_mib = 8712", "data_offset_mib = 2568")
        .replace("clock_sync_wait_s = 120", "clock_sync_wait_s = 5");
    write_files(dir, &[
        ("cluster.toml", "name = \"boot\"\ntailnet = \"boot-net.ts.net\"\nnodes = [\"pi.toml\"]\n[[server]]\nname = \"pi\"\nbootstrap = true\n[tailscale]\ntags = [\"tag:k3s\"]\nlogin_server = \"https://10.0.2.101\"\nlogin_server_ca = \"control-ca.pem\"\nadvertise_tags = false\n".to_string()),
        ("test-rpi4.toml", profile),
        ("pi.toml", "cluster = \"cluster.toml\"\nhostname = \"pi\"\nprofile = \"test-rpi4.toml\"\n[base]\nkind = \"image\"\nurl = \"vendor.img\"\n".to_string()),
    ]);
    write_secrets(dir);
    let control = common::control::Control::start(dir, "boot-net.ts.net");
    let img = build(dir, "pi", "arm64");

    let disk = dir.join("ssd.img");
    let t = Instant::now();
    let (mut vm, _) = common::qemu::start_pi(
        dir,
        &img,
        ("vmlinuz", "initrd.img"),
        &disk,
        Net {
            control: Some(control.hs.port),
            ..Net::default()
        },
        "rpi4-image-base",
    );
    let console = vm.wait_for("haimg: first boot done", BOOT_LIMIT);
    eprintln!(
        "boot test: image base: boot to \"first boot done\" in {:.0?}",
        t.elapsed()
    );
    vm.power_down();
    common::qemu::expect_steps(
        &console,
        &[
            "haimg: prepare: ok",
            "formatted blank",
            "haimg: payload: ok",
            "haimg: tailscale: ok: tailscale0 is 100.64.0.1",
            "creating the cluster",
            "haimg: scrub: ok",
        ],
    );
    // Root grew from the base's size to the profile's end, the data
    // partition sits at the profile's offset: as for every base.
    let pt = table(&disk);
    let parts = pt["partitiontable"]["partitions"]
        .as_array()
        .expect("parts");
    assert_eq!(parts.len(), 3, "{pt}");
    let end =
        |p: &serde_json::Value| p["start"].as_u64().expect("s") + p["size"].as_u64().expect("n");
    assert_eq!(
        end(&parts[1]),
        2568 * 2048,
        "root does not end at the profile's end: {pt}"
    );
    assert_eq!(parts[2]["start"].as_u64(), Some(2568 * 2048), "{pt}");
    let root = dir.join("root.part");
    partition(&disk, 2, &root);
    // The vendor's SSH host keys were removed; the node made its own.
    let keys = debugfs(&root, "ls -l /etc/ssh");
    assert!(keys.contains("ssh_host_ed25519_key"), "{keys}");
    let k3s = debugfs(&root, "cat /var/lib/haimg-standin/k3s.run");
    assert!(
        k3s.starts_with("args: server\n") && k3s.contains("cluster-init: true"),
        "{k3s}"
    );
}

/// The witness from a cloud image: Debian's cloud layout (GPT, ESP before
/// root, the boot loader naming root by its partition GUID; made from the
/// cloud base with cloud-init, no haimg file), customised as an `image` base
/// and booted under OVMF to "first boot done".
#[test]
fn cloud_image_base_first_boot() {
    ready();
    need(&["mkfs.fat"]);
    let tar = shared_base("cloud-x86_64", common::bases::AMD64_BASE);
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    common::image::vendor_image(
        &dir.join("cloud.img"),
        &[
            "--family".as_ref(),
            "debian-cloud".as_ref(),
            "--rootfs".as_ref(),
            tar.as_os_str(),
        ],
    );
    let profile = std::fs::read_to_string(repo().join("profiles/cloud-x86_64.toml"))
        .expect("profile")
        .replace("root_size_mib = 4096", "root_size_mib = 2048")
        .replace("data_offset_mib = 4353", "data_offset_mib = 2305");
    write_files(dir, &[
        ("cluster.toml", "name = \"boot\"\ntailnet = \"boot-net.ts.net\"\nnodes = [\"w.toml\"]\n[[server]]\nname = \"w\"\nbootstrap = true\n[tailscale]\ntags = [\"tag:k3s\"]\nlogin_server = \"https://10.0.2.101\"\nlogin_server_ca = \"control-ca.pem\"\nadvertise_tags = false\n".to_string()),
        ("test-cloud.toml", profile),
        ("w.toml", "cluster = \"cluster.toml\"\nhostname = \"w\"\nprofile = \"test-cloud.toml\"\n[base]\nkind = \"image\"\nurl = \"cloud.img\"\n[storage]\ndata = \"none\"\n".to_string()),
    ]);
    write_secrets(dir);
    let control = common::control::Control::start(dir, "boot-net.ts.net");
    let img = build(dir, "w", "amd64");
    let disk = dir.join("disk.img");
    common::image::flash(&img, &disk, "4G");
    let t = Instant::now();
    let mut vm = common::qemu::Vm::start(
        &disk,
        &[],
        Net {
            control: Some(control.hs.port),
            ..Net::default()
        },
        &common::qemu::log_path("cloud-image-base"),
    );
    let console = vm.wait_for("haimg: first boot done", BOOT_LIMIT);
    eprintln!(
        "boot test: cloud image base: boot to \"first boot done\" in {:.0?}",
        t.elapsed()
    );
    vm.power_down();
    common::qemu::expect_steps(
        &console,
        &[
            "haimg: prepare: ok",
            "haimg: payload: ok",
            "haimg: tailscale: ok: tailscale0 is 100.64.0.1",
            "creating the cluster",
            "haimg: scrub: ok",
        ],
    );
    // Root grew to the profile's end; the secrets left root's boot folder.
    let pt = table(&disk);
    let r = &pt["partitiontable"]["partitions"][1];
    let end = r["start"].as_u64().expect("start") + r["size"].as_u64().expect("size");
    assert_eq!(
        end,
        2305 * 2048,
        "root does not end at the profile's end: {pt}"
    );
    let root = dir.join("root.part");
    partition(&disk, 2, &root);
    let secrets = debugfs(&root, "ls /var/lib/haimg/boot/haimg/secrets");
    assert!(!secrets.contains("k3s-token"), "{secrets}");
}
