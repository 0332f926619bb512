//! `haimg build --format user-data`: the witness as cloud-init user-data for
//! a provider's stock VM, read by an independent parser (Python's gzip and
//! PyYAML), and its download step run for real against the test HTTP server
//! on 127.0.0.1 (sha256 checked, archive members taken out, a tampered file
//! refused).

mod common;

use std::path::Path;
use std::process::Command;

use common::image::sums_ok;
use common::*;

fn setup(dir: &Path) {
    write_files(
        dir,
        &[
            ("cluster.toml", "name = \"lab\"\ntailnet = \"lab-net.ts.net\"\nnodes = [\"w.toml\"]\n[[server]]\nname = \"w\"\nbootstrap = true\nwitness = true\n[tailscale]\ntags = [\"tag:k3s\"]\n".into()),
            ("w.toml", "cluster = \"cluster.toml\"\nhostname = \"w\"\nprofile = \"cloud-x86_64\"\n[base]\nkind = \"debian\"\nsuite = \"bookworm\"\n[[user]]\nname = \"admin\"\nssh_keys = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHaimgTestKeyAAAAAAAAAAAAAAAAAAAAAAAAAAA t@h\"]\n".into()),
        ],
    );
    write_secrets(dir);
}

fn build(dir: &Path, out: &str, url: &str) -> std::process::Output {
    haimg()
        .args([
            "build",
            "w.toml",
            "--format",
            "user-data",
            "--out",
            out,
            "--payload",
        ])
        .arg(carried_payload(dir))
        .args(["--payload-url", url])
        .env("SOURCE_DATE_EPOCH", "1704067200")
        .current_dir(dir)
        .output()
        .expect("haimg")
}

/// The user-data as JSON, by Python: gunzip if gzip, then PyYAML.
fn parse(path: &Path) -> serde_json::Value {
    let o = Command::new("python3")
        .arg("-c")
        .arg("import sys, gzip, json, yaml\nb = open(sys.argv[1], 'rb').read()\nif b[:2] == b'\\x1f\\x8b': b = gzip.decompress(b)\nassert b.startswith(b'#cloud-config\\n')\nprint(json.dumps(yaml.safe_load(b)))")
        .arg(path)
        .output()
        .expect("python3");
    serde_json::from_str(&ok(&o, "parse user-data")).expect("json")
}

fn file<'a>(ud: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    ud["write_files"]
        .as_array()
        .expect("write_files")
        .iter()
        .find(|f| f["path"] == path)
}

/// Run the VM's download step (overlays' download.sh) in a scratch folder.
fn download(scratch: &Path, urls: &str) -> std::process::Output {
    std::fs::create_dir_all(scratch).expect("mkdir");
    let env = scratch.join("node.env");
    std::fs::write(
        &env,
        format!("HAIMG_BOOT_DIR='{}'\n", scratch.join("boot").display()),
    )
    .expect("env");
    std::fs::write(scratch.join("payload.urls"), urls).expect("urls");
    Command::new("sh")
        .arg(repo().join("overlays/usr/lib/haimg/download.sh"))
        .env("HAIMG_LIB", repo().join("overlays/usr/lib/haimg"))
        .env("HAIMG_ENV", &env)
        .env("HAIMG_STATE", scratch.join("state"))
        .env("HAIMG_PAYLOAD_URLS", scratch.join("payload.urls"))
        .output()
        .expect("sh")
}

#[test]
fn the_witness_as_user_data_and_its_downloads() {
    need(&["python3", "curl", "tar", "gzip"]);
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    setup(dir);
    let served = dir.join("served");
    std::fs::create_dir_all(&served).expect("mkdir");
    let carried = carried_payload(dir);
    for f in ["k3s", "tailscale", "tailscaled"] {
        std::fs::copy(carried.join(f), served.join(f)).expect("copy");
    }
    let http = common::httpd::Server::start(&served);
    let o = build(dir, "out", &http.url(""));
    ok(&o, "haimg build --format user-data");
    assert!(
        stderr(&o).contains("fits the 16 KiB user-data limit"),
        "{}",
        stderr(&o)
    );
    let path = dir.join("out/w.user-data");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777,
        0o600
    );
    assert!(std::fs::metadata(&path).expect("meta").len() <= 16 * 1024);
    assert_eq!(sums_ok(&dir.join("out")), 1);
    // Nothing else was written: no image, no temporary file.
    let names: Vec<_> = std::fs::read_dir(dir.join("out"))
        .expect("out")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    let ud = parse(&path);
    // The same first-boot files as the image, the VM's own disk left alone.
    let env = file(&ud, "/etc/haimg/node.env").expect("node.env")["content"]
        .as_str()
        .expect("text");
    assert!(
        env.contains("HAIMG_BOOT_DIR='/var/lib/haimg/boot'\n")
            && env.contains("HAIMG_HOSTNAME='w'"),
        "{env}"
    );
    for own in ["/etc/fstab", "/etc/machine-id", "/etc/resolv.conf"] {
        assert!(file(&ud, own).is_none(), "{own} would overwrite the VM's");
    }
    assert!(file(&ud, "/usr/lib/haimg/storage.sh").is_some());
    let token = file(&ud, "/var/lib/haimg/boot/haimg/secrets/k3s-token").expect("token");
    assert_eq!(token["permissions"], "0600");
    assert_eq!(token["content"].as_str().map(str::trim_end), Some(TOKEN));
    // Keys only, and cloud-init keeps its own root growth on a cloud disk.
    assert_eq!(ud["ssh_pwauth"], false);
    assert!(
        ud.get("growpart").is_none() && ud.get("resize_rootfs").is_none(),
        "{ud}"
    );
    // The download step runs before the first-boot target starts.
    let runcmd: Vec<String> = ud["runcmd"]
        .as_array()
        .expect("runcmd")
        .iter()
        .map(|c| c.to_string())
        .collect();
    let at = |s: &str| {
        runcmd
            .iter()
            .position(|c| c.contains(s))
            .unwrap_or_else(|| panic!("{s} not in {runcmd:?}"))
    };
    assert!(at("download.sh") < at("--no-block"), "{runcmd:?}");

    // The VM's download step, for real: what the list names arrives, checked.
    let urls = file(&ud, "/etc/haimg/payload.urls").expect("urls")["content"]
        .as_str()
        .expect("text")
        .to_string();
    let o = download(&dir.join("vm1"), &urls);
    ok(&o, "download.sh");
    assert!(
        stdout(&o).contains("haimg: download: ok: 3 download(s)"),
        "{}",
        stdout(&o)
    );
    for f in ["k3s", "tailscale", "tailscaled"] {
        let got = std::fs::read(dir.join("vm1/boot/haimg/payload").join(f)).expect("downloaded");
        assert_eq!(got, std::fs::read(served.join(f)).expect("served"), "{f}");
    }
    // A file that changed on the server is refused, and nothing is put in place.
    std::fs::write(served.join("k3s"), b"#!/bin/sh\necho tampered\n").expect("tamper");
    let o = download(&dir.join("vm2"), &urls);
    assert!(!o.status.success());
    assert!(
        stdout(&o).contains("haimg: download: failed:") && stdout(&o).contains("expected"),
        "{}",
        stdout(&o)
    );
    assert!(!dir.join("vm2/boot/haimg/payload/k3s").exists());
    // A release archive: the member named is taken out (Tailscale's .tgz).
    let pkg = dir.join("pkg/tailscale_1.0_amd64");
    std::fs::create_dir_all(&pkg).expect("mkdir");
    std::fs::write(pkg.join("tailscaled"), b"daemon bytes").expect("write");
    ok(
        &sh(
            "tar",
            &[
                "-czf",
                served.join("ts.tgz").to_str().expect("p"),
                "-C",
                dir.join("pkg").to_str().expect("p"),
                "tailscale_1.0_amd64",
            ],
        ),
        "tar",
    );
    let sum = stdout(&sh(
        "sha256sum",
        &[served.join("ts.tgz").to_str().expect("p")],
    ))[..64]
        .to_string();
    let o = download(
        &dir.join("vm3"),
        &format!(
            "{sum} {} tailscaled tailscale_1.0_amd64/tailscaled\n",
            http.url("ts.tgz")
        ),
    );
    ok(&o, "download.sh (archive)");
    assert_eq!(
        std::fs::read(dir.join("vm3/boot/haimg/payload/tailscaled")).expect("member"),
        b"daemon bytes"
    );

    // The same inputs give the same bytes.
    std::fs::copy(repo().join("tests/standins/k3s"), served.join("k3s")).expect("restore");
    ok(&build(dir, "again", &http.url("")), "build again");
    assert_eq!(
        std::fs::read(&path).expect("a"),
        std::fs::read(dir.join("again/w.user-data")).expect("b")
    );
    // Without a URL for a --payload folder, user-data is refused.
    let o = haimg()
        .args([
            "build",
            "w.toml",
            "--format",
            "user-data",
            "--out",
            "none",
            "--payload",
        ])
        .arg(carried_payload(dir))
        .current_dir(dir)
        .output()
        .expect("haimg");
    assert!(
        !o.status.success() && stderr(&o).contains("a --payload folder has no URL"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.join("none/w.user-data").exists());
}
