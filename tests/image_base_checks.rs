//! Image bases refused with a clear error and nothing left behind, and the
//! `examples/raspios` cluster planned and rendered without a download.

mod common;

use std::path::Path;

use common::vendor::*;
use common::*;

/// `build` fails with `want` in its message and leaves no output.
fn refused(dir: &Path, url: &str, want: &str) {
    setup(dir, "rpi4", url, None);
    let out = format!("out-{}", url.replace(['/', '.'], "-"));
    let o = build(dir, &out, &["--insecure"]);
    assert!(!o.status.success(), "{url}: built");
    let err = stderr(&o);
    assert!(err.contains(want), "{url}: wanted {want:?} in:\n{err}");
    let left: Vec<_> = std::fs::read_dir(dir.join(&out))
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{url}: left {left:?}");
}

#[test]
fn bad_bases_fail_clearly_and_leave_nothing() {
    tools();
    let d = tempfile::tempdir().expect("tmp");
    let p = d.path();
    // A truncated download: no image, no cache entry.
    let good = vendor(p, "good.img", &[]);
    ok(
        &sh("xz", &["-T0", "-0", "-k", good.to_str().expect("p")]),
        "xz",
    );
    let xz = std::fs::read(p.join("good.img.xz")).expect("xz");
    std::fs::write(p.join("cut.img.xz"), &xz[..xz.len() / 2]).expect("write");
    refused(p, "cut.img.xz", "truncated or corrupt");
    let images: Vec<_> = std::fs::read_dir(p.join("cache/images"))
        .map(|r| r.flatten().collect())
        .unwrap_or_default();
    assert!(images.is_empty(), "half-written cache entry");

    vendor(p, "amd64.img", &["--arch", "amd64"]);
    refused(p, "amd64.img", "its programs are amd64");
    vendor(p, "luks.img", &["--luks"]);
    refused(p, "luks.img", "crypto_LUKS");
    vendor(p, "bare.img", &["--no-tools"]);
    refused(p, "bare.img", "lacks sfdisk");
    vendor(p, "nocurl.img", &["--drop-package", "curl"]);
    refused(
        p,
        "nocurl.img",
        "lacks packages haimg's first boot needs: curl (",
    );
    let broken = vendor(p, "broken.img", &[]);
    ok(
        &sh(
            "debugfs",
            &[
                "-w",
                "-R",
                "sif /etc/hostname links_count 5",
                &spec(&broken, 520 * MIB),
            ],
        ),
        "debugfs",
    );
    refused(p, "broken.img", "e2fsck finds errors");
    std::fs::write(p.join("notadisk.img"), vec![7u8; 1 << 20]).expect("write");
    refused(p, "notadisk.img", "not a disk image");
    // A root that ends past the profile's root end.
    vendor(p, "huge.img", &["--root-mib", "1700"]);
    refused(p, "huge.img", "raise root_size_mib");
}

#[test]
fn the_raspios_example_plans_and_renders() {
    // examples/raspios names its bases by catalogue entry: no download is
    // needed to check and render the cluster.
    let d = tempfile::tempdir().expect("tmp");
    let o = haimg()
        .args(["plan", "examples/raspios/cluster.toml", "--json"])
        .current_dir(repo())
        .output()
        .expect("haimg");
    let plan: serde_json::Value = serde_json::from_str(&ok(&o, "plan")).expect("json");
    assert_eq!(plan["nodes"].as_array().map(Vec::len), Some(3), "{plan}");
    let o = haimg()
        .args(["render", "examples/raspios/cluster.toml", "--out"])
        .arg(d.path().join("r"))
        .env("HAIMG_K3S_TOKEN", TOKEN)
        .env("HAIMG_TAILSCALE_AUTHKEY", AUTHKEY)
        .current_dir(repo())
        .output()
        .expect("haimg");
    ok(&o, "render");
    // An image base keeps its own config.txt (haimg appends to it when it
    // builds); the kernel line is still haimg's.
    let boot = d.path().join("r/raspi2/boot");
    assert!(!boot.join("config.txt").exists());
    let cmdline = std::fs::read_to_string(boot.join("cmdline.txt")).expect("cmdline");
    assert!(cmdline.contains("root=PARTUUID="), "{cmdline}");
    // A catalogue name without a version is a configuration error.
    write_files(d.path(), &[("cluster.toml", "name = \"lab\"\ntailnet = \"t.ts.net\"\nnodes = [\"a.toml\"]\n[[server]]\nname = \"a\"\nbootstrap = true\n[tailscale]\ntags = [\"tag:k3s\"]\n".into()), ("a.toml", "cluster = \"cluster.toml\"\nhostname = \"a\"\nprofile = \"rpi4\"\n[base]\nkind = \"image\"\ncatalogue = \"raspios-lite-arm64\"\n".into())]);
    let o = haimg()
        .args(["plan", "a.toml"])
        .current_dir(d.path())
        .output()
        .expect("haimg");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("a.toml:6:13: `catalogue` needs a `version`"),
        "{}",
        stderr(&o)
    );
}
