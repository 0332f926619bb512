//! The x86_64 boot scenarios of tests/boot.rs, one after another on the
//! same test network and control server (headscale): the bootstrap server's
//! first boot, a second boot with the control server down for six minutes,
//! a node whose second disk already holds data. (Joining through a peer
//! that answers is the cluster test's, with real peers.)

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::control::Control;
use crate::common::image::{debugfs, flash, partition};
use crate::common::qemu::{BOOT_LIMIT, Net, Vm, log_path, tail};
use crate::common::*;
use crate::{boot_until_done, build, cluster};

/// What the x86_64 scenarios share.
pub struct Scene<'a> {
    pub dir: &'a Path,
    pub net: Net,
}

/// Scenario 1: the bootstrap server's full first boot. Returns the image and
/// the disk it was flashed to.
pub fn bootstrap_first_boot(s: &Scene<'_>, control: &Control) -> (PathBuf, PathBuf) {
    let (dir, net) = (s.dir, s.net);
    let img = build(dir, "one", "out", "amd64");
    // Before boot: no identity in the image.
    let root0 = dir.join("root0.part");
    partition(&img, 2, &root0);
    assert_eq!(debugfs(&root0, "cat /etc/machine-id"), "uninitialized\n");
    assert!(!debugfs(&root0, "ls /etc/ssh").contains("ssh_host_ed25519_key"));
    // Flash it onto a larger "SSD": the data partition goes in the rest.
    let disk = dir.join("ssd.img");
    flash(&img, &disk, "6G");
    let console = boot_until_done(
        &disk,
        &[],
        net,
        &log_path("x86-boot1"),
        "bootstrap first boot",
    );
    crate::common::qemu::expect_steps(
        &console,
        &[
            "haimg: prepare: ok",
            "haimg: storage: ok",
            "haimg: payload: ok",
            "haimg: tailscale: ok",
            "creating the cluster",
            "haimg: stack: ok: the stack's secrets are in the cluster",
            "haimg: stack: ok: kube-system/deployment/coredns: 2 replicas",
            "haimg: stack: ok",
            "haimg: scrub: ok",
        ],
    );
    assert!(
        console.contains("formatted blank"),
        "the data partition must be made on first boot"
    );
    // The base's services haimg requires: DNS, clock, logind, iSCSI.
    for unit in [
        "systemd-resolved",
        "systemd-timesyncd",
        "systemd-logind",
        "iscsid",
    ] {
        assert!(
            console
                .lines()
                .any(|l| l.contains("Started") && l.contains(unit)),
            "{unit} did not start\n{}",
            tail(&console)
        );
    }

    // The disk after power-down, through independent tools.
    let pt = ok(&sh("sfdisk", &["-d", disk.to_str().expect("p")]), "sfdisk");
    assert_eq!(
        pt.lines().filter(|l| l.contains(" : start=")).count(),
        3,
        "{pt}"
    );
    // Root was built to its content's size and grown on the node to the
    // profile's 2048 MiB; the data partition sits at the fixed 2560 MiB.
    let part_field = |table: &str, n: usize, key: &str| -> u64 {
        table
            .lines()
            .filter(|l| l.contains(" : start="))
            .nth(n)
            .and_then(|l| l.split(&format!("{key}=")).nth(1))
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {key} of partition {n} in {table}"))
    };
    let img_pt = ok(&sh("sfdisk", &["-d", img.to_str().expect("p")]), "sfdisk");
    assert!(part_field(&img_pt, 1, "size") < 2048 * 2048, "{img_pt}");
    assert_eq!(part_field(&pt, 1, "size"), 2048 * 2048, "{pt}");
    assert_eq!(part_field(&pt, 2, "start"), 2560 * 2048, "{pt}");
    let data = dir.join("data.part");
    partition(&disk, 3, &data);
    let blk = ok(
        &sh("blkid", &["-p", "-o", "export", data.to_str().expect("p")]),
        "blkid",
    );
    assert!(
        blk.contains("TYPE=ext4") && blk.contains("LABEL=k3s-storage"),
        "{blk}"
    );
    let root = dir.join("root.part");
    partition(&disk, 2, &root);
    let sb = ok(
        &sh("dumpe2fs", &["-h", root.to_str().expect("p")]),
        "dumpe2fs",
    );
    assert!(
        sb.lines()
            .any(|l| l.starts_with("Block count:") && l.ends_with(" 524288")),
        "root filesystem not grown to 2048 MiB:\n{sb}"
    );
    let esp = dir.join("esp.part");
    partition(&disk, 1, &esp);
    let secrets = stdout(&sh(
        "mdir",
        &["-i", esp.to_str().expect("p"), "-b", "::haimg/secrets"],
    ));
    assert!(
        !secrets.contains("k3s-token") && !secrets.contains("tailscale-authkey"),
        "secrets left on the ESP: {secrets}"
    );
    assert!(!secrets.contains("stack-secrets"), "{secrets}");
    no_secret_bytes(&esp, &control.key);
    let resolv = debugfs(&root0, "stat /etc/resolv.conf");
    assert!(
        resolv.contains("Type: symlink") && resolv.contains("stub-resolv.conf"),
        "{resolv}"
    );
    let mid = debugfs(&root, "cat /etc/machine-id");
    assert!(
        mid.trim().len() == 32 && mid.trim() != "uninitialized",
        "machine-id {mid:?}"
    );
    assert!(
        debugfs(&root, "ls /etc/ssh").contains("ssh_host_ed25519_key"),
        "host keys made on the node"
    );
    // headscale registered it by the key, by its hostname, tagged; its
    // state (node key, 100.x) is on the data disk.
    crate::common::control::assert_joined(control, "one", "100.64.0.1");
    assert!(
        debugfs(&data, "ls -l /haimg/identity/tailscale").contains("tailscaled.state"),
        "tailscaled's state is not on the data disk"
    );
    let k3s = debugfs(&root, "cat /var/lib/haimg-standin/k3s.run");
    assert!(
        k3s.starts_with("args: server\ntailscale0: up 100.64.0.1\n"),
        "K3s must start after tailscale0 has its address:\n{k3s}"
    );
    assert!(
        k3s.contains("cluster-init: true")
            && !k3s.contains("50-haimg-join.yaml")
            && k3s.contains("node-ip: 100.64.0.1"),
        "{k3s}"
    );
    assert!(debugfs(&root, "cat /var/lib/haimg/status").contains("role=bootstrap"));
    let fstab = debugfs(&root, "cat /etc/fstab");
    assert!(fstab.contains("/mnt/k3s-storage ext4"), "{fstab}");
    // The K3s token stays on the root disk where K3s reads it.
    assert_eq!(debugfs(&root, "cat /etc/rancher/k3s/token").trim(), TOKEN);
    crate::stack::deployed(&console, &root, &data);
    let starts = debugfs(&data, "cat /k3s/standin-starts");
    assert_eq!(starts.lines().count(), 1, "{starts}");

    (img, disk)
}

pub fn second_boot_without_control(s: &Scene<'_>, control: &mut Control, disk: &Path) {
    // Scenario 2: a second boot of the same disk while the control server
    // is down for six minutes (longer than any deadline the steps once
    // had): real tailscaled comes up logged in from its state but gives
    // tailscale0 no address until control answers, so K3s waits, saying so,
    // and starts once it is back, with no reboot. Nothing is re-made, the
    // data is kept.
    let console = cold_boot_without_control(disk, s.net, control);
    assert!(
        !console.contains("formatted blank"),
        "second boot must not format"
    );
    let data = s.dir.join("data.part");
    partition(disk, 3, &data);
    assert_eq!(
        debugfs(&data, "cat /k3s/standin-starts").lines().count(),
        2,
        "data from the first boot kept"
    );
    // Still one node: the saved login was used, no new registration.
    assert_eq!(control.hs.nodes().len(), 1, "{:?}", control.hs.nodes());
}

pub fn existing_second_disk(s: &Scene<'_>, control: &Control) {
    let (dir, net) = (s.dir, s.net);
    // Scenario 3: a second disk that already holds ext4 and a file.
    cluster(dir, "data = \"device\"\ndevice = \"/dev/vdb\"");
    crate::common::control::set_authkey(dir, &control.key);
    let img4 = build(dir, "one", "out4", "amd64");
    let disk4 = dir.join("dev.img");
    flash(&img4, &disk4, "");
    let second = dir.join("second.img");
    ok(
        &sh("truncate", &["-s", "1G", second.to_str().expect("p")]),
        "truncate",
    );
    ok(
        &sh(
            "mkfs.ext4",
            &["-q", "-L", "precious", second.to_str().expect("p")],
        ),
        "mkfs.ext4",
    );
    let note = dir.join("note");
    std::fs::write(&note, "keep me\n").expect("note");
    ok(
        &sh(
            "debugfs",
            &[
                "-w",
                "-R",
                &format!("write {} note", note.display()),
                second.to_str().expect("p"),
            ],
        ),
        "debugfs write",
    );
    // Raspberry Pi Imager's OS customisation left its script on the boot
    // partition: first boot says haimg did not write it.
    let foreign = dir.join("firstrun.sh");
    std::fs::write(&foreign, "#!/bin/sh\necho imager\n").expect("firstrun");
    ok(
        &sh(
            "mcopy",
            &[
                "-i",
                &format!("{}@@1M", disk4.display()),
                foreign.to_str().expect("p"),
                "::firstrun.sh",
            ],
        ),
        "mcopy",
    );
    let console = boot_until_done(
        &disk4,
        &[&second],
        net,
        &log_path("x86-second-disk"),
        "existing second disk",
    );
    assert!(
        console.contains("/boot/efi/firstrun.sh was not written by haimg"),
        "{}",
        tail(&console)
    );
    assert!(
        console.contains("already holds ext4: mounting it as it is"),
        "{}",
        tail(&console)
    );
    assert_eq!(debugfs(&second, "cat /note"), "keep me\n");
    let blk = ok(
        &sh(
            "blkid",
            &["-p", "-o", "export", second.to_str().expect("p")],
        ),
        "blkid",
    );
    assert!(blk.contains("LABEL=precious"), "not re-formatted: {blk}");
}

/// How long the control plane stays down in the cold-boot scenario: more
/// than the 300 s after which the tailscale step once gave up.
const CONTROL_DOWN: Duration = Duration::from_secs(360);

/// Boot `disk` again with the control server down for [`CONTROL_DOWN`],
/// then up; returns the console of that one boot.
fn cold_boot_without_control(disk: &Path, net: Net, control: &mut Control) -> String {
    control.hs.down();
    let t = Instant::now();
    let mut vm = Vm::start(disk, &[], net, &log_path("x86-boot2"));
    vm.wait_for("haimg: k3s-wait: waiting", BOOT_LIMIT);
    while t.elapsed() < CONTROL_DOWN {
        std::thread::sleep(Duration::from_secs(5));
        let c = vm.console();
        assert!(
            !c.contains("haimg: k3s-wait: ok") && !c.contains("standin: k3s"),
            "K3s started without the control server:\n{}",
            tail(&c)
        );
    }
    let before = vm.console().len();
    control.hs.up();
    let up = t.elapsed();
    let console = vm.wait_for(
        "haimg: scrub: skipped: first boot already completed",
        BOOT_LIMIT,
    );
    eprintln!(
        "boot test: second boot, control server down {up:.0?}: done in {:.0?}",
        t.elapsed()
    );
    vm.power_down();
    let after = &console[before.min(console.len())..];
    assert!(
        console.contains("haimg: k3s-wait: waiting") && after.contains("haimg: k3s-wait: ok"),
        "K3s must wait for the address and start once control answers\n{}",
        tail(&console)
    );
    assert_eq!(
        console.matches("Linux version").count(),
        1,
        "the node must not reboot"
    );
    console
}

/// No secret's bytes anywhere in a boot partition's image: FAT keeps
/// the clusters of a deleted file, so they must be overwritten first.
pub fn no_secret_bytes(part: &Path, authkey: &str) {
    let bytes = std::fs::read(part).expect("partition");
    let all = [("K3s token", TOKEN), ("auth key", authkey)];
    for (name, secret) in all.iter().chain(STACK_SECRETS) {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the {name} is still readable in the boot partition's free space"
        );
    }
}
