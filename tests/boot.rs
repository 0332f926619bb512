//! The boot test: images built by `haimg build` from a Debian base boot in QEMU
//! (TCG: KVM fails with OVMF on these machines) and first boot is asserted
//! from the serial console, then from the disk after a clean power-down.
//! tailscale and tailscaled are the real programs, logged in to a real
//! headscale (tests/common/tailnet.rs); k3s is the miniature under
//! tests/standins/.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::bases::{AMD64_BASE, ARM64_BASE, EPOCH, ready, shared_base};
use common::image::{debugfs, partition};
use common::qemu::{BOOT_LIMIT, Net, Vm};
use common::*;
use scenes::*;

#[path = "boot/scenes.rs"]
mod scenes;
#[path = "boot/stack.rs"]
mod stack;

#[test]
fn bases_amd64() {
    ready();
    shared_base("x86_64-uefi", AMD64_BASE);
}

/// The cloud profile's base (cloud-init among haimg's packages): the stock
/// VM of tests/boot_userdata.rs is made from it.
#[test]
fn bases_cloud() {
    ready();
    shared_base("cloud-x86_64", AMD64_BASE);
}

#[test]
fn bases_arm64() {
    ready();
    need(&["arch-test", "/proc/sys/fs/binfmt_misc/qemu-aarch64"]);
    shared_base("rpi4", ARM64_BASE);
}

/// The cluster of the boot test: three x86_64 servers; `one` bootstraps.
fn cluster(dir: &Path, data: &str) {
    let cluster = r#"name = "boot"
tailnet = "boot-net.ts.net"
nodes = ["one.toml", "two.toml", "w.toml"]
[[server]]
name = "one"
bootstrap = true
[[server]]
name = "two"
[[server]]
name = "w"
witness = true
[k3s]
disable = ["traefik"]
# The peers of these scenarios never answer unless a test says so.
found_wait_s = 20
[tailscale]
tags = ["tag:k3s"]
login_server = "https://10.0.2.101"
login_server_ca = "control-ca.pem"
# headscale gives nodes their pre-auth key's tags, and refuses --advertise-tags.
advertise_tags = false
# The stack's plain parts (no chart to serve): manifests and Secrets go to
# K3s at first boot on the non-witness servers.
[stack.patroni]
synchronous_mode_strict = false
[stack.vaultwarden]
[stack.dns]
"#;
    let node = |h: &str, data: &str| {
        format!(
            r#"cluster = "cluster.toml"
hostname = "{h}"
profile = "test-uefi.toml"
{AMD64_BASE}[storage]
{data}
[[user]]
name = "admin"
groups = ["sudo"]
ssh_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHaimgBootTestKeyAAAAAAAAAAAAAAAAAAAAAAA boot@test"]
"#
        )
    };
    // Small root, so the disk keeps room for the data partition.
    let profile = std::fs::read_to_string(repo().join("profiles/x86_64-uefi.toml"))
        .expect("profile")
        .replace("root_size_mib = 8192", "root_size_mib = 2048")
        .replace("boot_size_mib = 512", "boot_size_mib = 256")
        .replace("data_offset_mib = 8705", "data_offset_mib = 2560");
    write_files(
        dir,
        &[
            ("cluster.toml", cluster.to_string()),
            ("test-uefi.toml", profile),
            ("one.toml", node("one", data)),
            ("two.toml", node("two", "data = \"rest\"")),
            ("w.toml", node("w", "data = \"none\"")),
        ],
    );
    write_secrets(dir);
}

/// `haimg build` of `node` with the real tailnet payload for `arch`.
fn build(dir: &Path, node: &str, out: &str, arch: &str) -> PathBuf {
    let payload = common::tailnet::payload(dir, arch);
    let t = Instant::now();
    let o = haimg()
        .args([
            "build",
            &format!("{node}.toml"),
            "--out",
            out,
            "-q",
            "--payload",
        ])
        .arg(&payload)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .current_dir(dir)
        .output()
        .expect("haimg");
    ok(&o, "haimg build");
    eprintln!("boot test: built {node} in {:.0?}", t.elapsed());
    dir.join(out).join(format!("{node}.img"))
}

fn boot_until_done(disk: &Path, extra: &[&Path], net: Net, log: &Path, name: &str) -> String {
    let t = Instant::now();
    let mut vm = Vm::start(disk, extra, net, log);
    let console = vm.wait_for("haimg: first boot done", BOOT_LIMIT);
    eprintln!(
        "boot test: {name}: boot to \"first boot done\" in {:.0?}",
        t.elapsed()
    );
    vm.power_down();
    console
}

#[test]
fn x86_64_first_boot_scenarios() {
    ready();
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    cluster(dir, "data = \"rest\"");
    let mut control = common::control::Control::start(dir, "boot-net.ts.net");
    let s = Scene {
        dir,
        net: Net {
            control: Some(control.hs.port),
            ..Net::default()
        },
    };
    let (_img, disk) = bootstrap_first_boot(&s, &control);
    second_boot_without_control(&s, &mut control, &disk);
    existing_second_disk(&s, &control);
}

#[test]
fn rpi4_arm64_first_boot() {
    ready();
    need(&[
        "qemu-system-aarch64",
        "arch-test",
        "/proc/sys/fs/binfmt_misc/qemu-aarch64",
    ]);
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    // QEMU's virt board has a clock but no NTP to reach (restrict=on): a
    // short wait proves the bounded clock step without slowing the test.
    let profile = std::fs::read_to_string(repo().join("profiles/rpi4.toml"))
        .expect("profile")
        .replace("root_size_mib = 8192", "root_size_mib = 2048")
        .replace("data_offset_mib = 8712", "data_offset_mib = 2568")
        .replace("clock_sync_wait_s = 120", "clock_sync_wait_s = 5");
    let node = format!(
        r#"cluster = "cluster.toml"
hostname = "pi"
profile = "test-rpi4.toml"
{ARM64_BASE}"#
    );
    write_files(dir, &[
        ("cluster.toml", "name = \"boot\"\ntailnet = \"boot-net.ts.net\"\nnodes = [\"pi.toml\"]\n[[server]]\nname = \"pi\"\nbootstrap = true\n[tailscale]\ntags = [\"tag:k3s\"]\nlogin_server = \"https://10.0.2.101\"\nlogin_server_ca = \"control-ca.pem\"\nadvertise_tags = false\n".to_string()),
        ("test-rpi4.toml", profile),
        ("pi.toml", node),
    ]);
    write_secrets(dir);
    let control = common::control::Control::start(dir, "boot-net.ts.net");
    let img = build(dir, "pi", "out", "arm64");
    let disk = dir.join("ssd.img");
    let t = Instant::now();
    let (mut vm, cmdline) = common::qemu::start_pi(
        dir,
        &img,
        ("vmlinuz", "initrd.img"),
        &disk,
        Net {
            control: Some(control.hs.port),
            ..Net::default()
        },
        "rpi4-arm64",
    );
    assert!(cmdline.contains("cgroup_enable=memory"));
    let boot = dir.join("boot.part");
    let console = vm.wait_for("haimg: first boot done", BOOT_LIMIT);
    eprintln!(
        "boot test: rpi4 arm64: boot to \"first boot done\" in {:.0?}",
        t.elapsed()
    );
    vm.power_down();
    common::qemu::expect_steps(
        &console,
        &[
            "haimg: prepare: ok",
            "formatted blank",
            "haimg: payload: ok",
            "haimg: tailscale: clock: not synchronized after 5s",
            "haimg: tailscale: ok: tailscale0 is 100.64.0.1",
            "creating the cluster",
            "haimg: scrub: ok",
        ],
    );
    let pt = ok(&sh("sfdisk", &["-d", disk.to_str().expect("p")]), "sfdisk");
    assert!(
        pt.contains("label: dos") && pt.lines().filter(|l| l.contains(" : start=")).count() == 3,
        "{pt}"
    );
    let data = dir.join("data.part");
    partition(&disk, 3, &data);
    assert!(
        ok(
            &sh("blkid", &["-p", "-o", "export", data.to_str().expect("p")]),
            "blkid"
        )
        .contains("LABEL=k3s-storage")
    );
    partition(&disk, 1, &boot);
    let secrets = stdout(&sh(
        "mdir",
        &["-i", boot.to_str().expect("p"), "-b", "::haimg/secrets"],
    ));
    assert!(
        !secrets.contains("k3s-token") && !secrets.contains("tailscale-authkey"),
        "{secrets}"
    );
    no_secret_bytes(&boot, &control.key);
    let root = dir.join("root.part");
    partition(&disk, 2, &root);
    // A kernel install on the node (the stand-in ran Debian's raspi-firmware
    // hook) rewrote cmdline.txt and config.txt from haimg's defaults files:
    // the root device, consoles and cgroup flag survive it.
    assert_eq!(
        debugfs(&root, "cat /var/lib/haimg-standin/kernel-hook.rc").trim(),
        "0",
        "{}",
        debugfs(&root, "cat /var/lib/haimg-standin/kernel-hook.log")
    );
    let rootpart = cmdline
        .split_whitespace()
        .find(|a| a.starts_with("root=PARTUUID="))
        .expect("root=");
    let after = stdout(&sh(
        "mtype",
        &["-i", boot.to_str().expect("p"), "::cmdline.txt"],
    ));
    for want in [
        rootpart,
        "console=serial0,115200",
        "cgroup_enable=memory",
        "rootfstype=ext4",
        "rootwait",
    ] {
        assert!(
            after.split_whitespace().any(|a| a == want),
            "{want} lost after a kernel upgrade: {after}"
        );
    }
    let config = stdout(&sh(
        "mtype",
        &["-i", boot.to_str().expect("p"), "::config.txt"],
    ));
    assert!(
        config.contains("automatically generated") && config.contains("dtparam=audio=off"),
        "{config}"
    );
    let k3s = debugfs(&root, "cat /var/lib/haimg-standin/k3s.run");
    assert!(
        k3s.starts_with("args: server\ntailscale0: up 100.64.0.1\n")
            && k3s.contains("cluster-init: true"),
        "{k3s}"
    );
    common::control::assert_joined(&control, "pi", "100.64.0.1");
}
