//! The boot test of `build --format user-data`: a stock cloud VM (Debian's
//! cloud layout with cloud-init, made by tests/tools/mkvendor.py from a
//! Debian base with no haimg file) booted under OVMF with haimg's user-data
//! as its NoCloud seed (a `CIDATA` volume), downloading its payload from the
//! test HTTP server through QEMU's forward, to "haimg: first boot done".

mod common;

use std::time::Instant;

use common::bases::{AMD64_BASE, EPOCH, ready, shared_base};
use common::image::{debugfs, flash, partition};
use common::qemu::{BOOT_LIMIT, Net, Vm, log_path};
use common::*;

#[test]
fn witness_user_data_on_a_stock_cloud_vm() {
    ready();
    need(&["mkfs.fat", "curl"]);
    // The cloud profile's base carries cloud-init (haimg's required packages).
    let tar = shared_base("cloud-x86_64", AMD64_BASE);
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let vm = dir.join("vm.img");
    common::image::vendor_image(
        &vm,
        &[
            "--family".as_ref(),
            "debian-cloud".as_ref(),
            "--rootfs".as_ref(),
            tar.as_os_str(),
        ],
    );
    write_files(dir, &[
        ("cluster.toml", "name = \"boot\"\ntailnet = \"boot-net.ts.net\"\nnodes = [\"w.toml\"]\n[[server]]\nname = \"w\"\nbootstrap = true\n[tailscale]\ntags = [\"tag:k3s\"]\nlogin_server = \"https://10.0.2.101\"\nlogin_server_ca = \"control-ca.pem\"\nadvertise_tags = false\n".to_string()),
        ("w.toml", "cluster = \"cluster.toml\"\nhostname = \"w\"\nprofile = \"cloud-x86_64\"\n[base]\nkind = \"debian\"\nsuite = \"bookworm\"\n[storage]\ndata = \"none\"\n[[user]]\nname = \"admin\"\ngroups = [\"sudo\"]\nssh_keys = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHaimgBootTestKeyAAAAAAAAAAAAAAAAAAAAAAA boot@test\"]\n".to_string()),
    ]);
    write_secrets(dir);
    let control = common::control::Control::start(dir, "boot-net.ts.net");
    let payload = common::tailnet::payload(dir, "amd64");
    let o = haimg()
        .args([
            "build",
            "w.toml",
            "--format",
            "user-data",
            "--out",
            "out",
            "-q",
            "--payload",
        ])
        .arg(&payload)
        .args(["--payload-url", "http://10.0.2.102/"])
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .current_dir(dir)
        .output()
        .expect("haimg");
    ok(&o, "haimg build --format user-data");

    // The NoCloud seed: a volume labelled CIDATA with user-data and meta-data.
    let seed = dir.join("seed.img");
    let seed_s = seed.to_str().expect("p");
    ok(
        &sh("mkfs.fat", &["-C", "-n", "CIDATA", seed_s, "8192"]),
        "mkfs.fat",
    );
    std::fs::write(
        dir.join("meta-data"),
        "instance-id: stock-vm-1\nlocal-hostname: stock\n",
    )
    .expect("meta");
    std::fs::copy(dir.join("out/w.user-data"), dir.join("user-data")).expect("copy");
    for f in ["user-data", "meta-data"] {
        ok(
            &sh(
                "mcopy",
                &[
                    "-i",
                    seed_s,
                    dir.join(f).to_str().expect("p"),
                    &format!("::{f}"),
                ],
            ),
            "mcopy",
        );
    }
    let http = common::httpd::Server::start(&payload);
    let disk = dir.join("disk.img");
    flash(&vm, &disk, "6G");
    let t = Instant::now();
    let mut guest = Vm::start(
        &disk,
        &[&seed],
        Net {
            control: Some(control.hs.port),
            files: Some(http.port),
            ..Net::default()
        },
        &log_path("cloud-user-data"),
    );
    let console = guest.wait_for("haimg: first boot done", BOOT_LIMIT);
    eprintln!(
        "boot test: user-data: boot to \"first boot done\" in {:.0?}",
        t.elapsed()
    );
    guest.power_down();
    common::qemu::expect_steps(
        &console,
        &[
            "haimg: download: ok: 3 download(s)",
            "haimg: payload: ok",
            "haimg: tailscale: ok: tailscale0 is 100.64.0.1",
            "creating the cluster",
            "haimg: scrub: ok",
        ],
    );
    assert!(http.log().contains("/k3s"), "{}", http.log());
    // The secrets and cloud-init's copies of the user-data are gone.
    let root = dir.join("root.part");
    partition(&disk, 1, &root);
    let secrets = debugfs(&root, "ls /var/lib/haimg/boot/haimg/secrets");
    assert!(
        !secrets.contains("k3s-token") && !secrets.contains("tailscale-authkey"),
        "{secrets}"
    );
    let inst = debugfs(&root, "ls /var/lib/cloud/instances/stock-vm-1");
    assert!(
        !inst.is_empty() && !inst.contains("user-data.txt"),
        "{inst}"
    );
    common::control::assert_joined(&control, "w", "100.64.0.1");
    let k3s = debugfs(&root, "cat /var/lib/haimg-standin/k3s.run");
    assert!(
        k3s.starts_with("args: server\n") && k3s.contains("cluster-init: true"),
        "{k3s}"
    );
}
