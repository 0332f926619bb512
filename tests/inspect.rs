//! `haimg inspect` and `OUT/imager.json`, judged by sfdisk, blkid and the
//! files themselves: a haimg Pi image, a Debian-cloud-like GPT image made
//! by sgdisk/mkfs, and files that are not disk images.

mod common;

use std::path::Path;

use common::*;

fn build_pi(dir: &Path) {
    common::image::rootfs_node(dir, "rpi", "rpi4", 600, &[]);
    let o = haimg()
        .args(["build", "a.toml", "--out", "out", "-q", "--compress", "xz"])
        .env("SOURCE_DATE_EPOCH", "1796256000")
        .current_dir(dir)
        .output()
        .expect("haimg");
    ok(&o, "haimg build --compress xz");
}

fn inspect_json(img: &Path) -> serde_json::Value {
    let o = run(&["inspect", "--json", img.to_str().expect("p")]);
    serde_json::from_str(&ok(&o, "haimg inspect --json")).expect("json")
}

/// blkid's view of the file system at `offset` bytes of `img`.
fn blkid(img: &Path, offset: u64) -> (String, String, String) {
    let o = sh(
        "blkid",
        &[
            "-p",
            "-O",
            &offset.to_string(),
            "-o",
            "export",
            img.to_str().expect("p"),
        ],
    );
    let text = stdout(&o);
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or("")
            .to_string()
    };
    (get("TYPE"), get("LABEL"), get("UUID"))
}

/// Every partition and file system `inspect` reports, compared with sfdisk
/// and blkid.
fn judged(img: &Path, v: &serde_json::Value) {
    let sf: serde_json::Value = serde_json::from_str(&ok(
        &sh("sfdisk", &["-J", img.to_str().expect("p")]),
        "sfdisk -J",
    ))
    .expect("json");
    let table = &sf["partitiontable"];
    assert_eq!(v["table"]["label"], table["label"]);
    let theirs = table["partitions"].as_array().expect("partitions");
    let ours = v["table"]["partitions"].as_array().expect("partitions");
    assert_eq!(ours.len(), theirs.len(), "{v}");
    for (o, t) in ours.iter().zip(theirs) {
        assert_eq!(o["start"].as_u64(), t["start"].as_u64().map(|s| s * 512));
        assert_eq!(o["size"].as_u64(), t["size"].as_u64().map(|s| s * 512));
        let ty = t["type"].as_str().expect("type").to_lowercase();
        assert_eq!(o["type"].as_str().map(str::to_lowercase), Some(ty));
        if let Some(u) = t["uuid"].as_str() {
            assert_eq!(
                o["uuid"].as_str().map(str::to_lowercase),
                Some(u.to_lowercase())
            );
        }
        let (kind, label, uuid) = blkid(img, o["start"].as_u64().expect("start"));
        let fs = &o["fs"];
        assert_eq!(fs["type"].as_str().unwrap_or(""), kind, "{o}");
        assert_eq!(fs["label"].as_str().unwrap_or(""), label, "{o}");
        assert_eq!(fs["uuid"].as_str().unwrap_or(""), uuid, "{o}");
    }
}

#[test]
fn a_haimg_image_is_inspected_and_listed_for_imager() {
    need(&["python3", "mkfs.ext4", "sfdisk", "blkid", "xz"]);
    let tmp = tempfile::tempdir().expect("tmp");
    build_pi(tmp.path());
    let out = tmp.path().join("out");
    let img = out.join("a.img");
    let v = inspect_json(&img);
    judged(&img, &v);
    let m = &v["manifest"];
    assert_eq!(m["node"], "a");
    assert_eq!(m["cluster"], "lab");
    assert_eq!(m["role"], "bootstrap");
    assert_eq!(m["arch"], "arm64");
    assert_eq!(m["haimg_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(m["config_hash"].as_str().map(str::len), Some(64));
    assert_eq!(
        v["boot_secrets"],
        serde_json::json!(["haimg/secrets/k3s-token", "haimg/secrets/tailscale-authkey"])
    );
    let text = ok(&run(&["inspect", img.to_str().expect("p")]), "inspect");
    assert!(
        text.contains("secrets on the boot partition: haimg/secrets/k3s-token"),
        "{text}"
    );
    // Names only: the secrets' values never appear.
    for secret in ["k3s-token", "tailscale-authkey"] {
        let value =
            std::fs::read_to_string(tmp.path().join("secrets").join(secret)).unwrap_or_default();
        let value = value.trim();
        assert!(!value.is_empty() && !text.contains(value) && !v.to_string().contains(value));
    }

    // imager.json: every field against the files it names.
    let list: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("imager.json")).expect("imager.json"),
    )
    .expect("json");
    let entries = list["os_list"].as_array().expect("os_list");
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    for k in [
        "name",
        "description",
        "icon",
        "url",
        "extract_size",
        "extract_sha256",
        "image_download_size",
        "image_download_sha256",
        "release_date",
        "devices",
    ] {
        assert!(!e[k].is_null(), "{k} missing: {e}");
    }
    assert!(
        e.get("init_format").is_none(),
        "Imager's customisation must stay off"
    );
    let file = |k: &str| {
        std::path::PathBuf::from(
            e[k].as_str()
                .expect(k)
                .strip_prefix("file://")
                .expect("file uri"),
        )
    };
    assert_eq!(
        file("url"),
        std::path::absolute(out.join("a.img.xz")).expect("abs")
    );
    assert!(file("icon").is_file());
    let sha = |p: &Path| {
        stdout(&sh("sha256sum", &[p.to_str().expect("p")]))
            .split(' ')
            .next()
            .expect("sum")
            .to_string()
    };
    let len = |p: &Path| std::fs::metadata(p).expect("meta").len();
    assert_eq!(e["extract_size"].as_u64(), Some(len(&img)));
    assert_eq!(e["extract_sha256"].as_str(), Some(sha(&img).as_str()));
    assert_eq!(e["image_download_size"].as_u64(), Some(len(&file("url"))));
    assert_eq!(
        e["image_download_sha256"].as_str(),
        Some(sha(&file("url")).as_str())
    );
    assert_eq!(e["release_date"], "2026-12-03");
    assert_eq!(e["devices"], serde_json::json!(["pi4-64bit"]));
    // SHA256SUMS covers the list and its icon as well.
    assert_eq!(common::image::sums_ok(&out), 6);
}

#[test]
fn any_gpt_image_is_inspected_and_non_images_are_refused() {
    need(&["sgdisk", "sfdisk", "blkid", "mkfs.ext4", "mkfs.vfat", "xz"]);
    let tmp = tempfile::tempdir().expect("tmp");
    // Debian genericcloud's layout: p1 root, p14 BIOS boot, p15 ESP.
    let img = tmp.path().join("cloud.raw");
    let p = img.to_str().expect("p");
    ok(&sh("truncate", &["-s", "300M", p]), "truncate");
    ok(
        &sh(
            "sgdisk",
            &[
                "-n",
                "14:2048:+3M",
                "-t",
                "14:ef02",
                "-n",
                "15:8192:+124M",
                "-t",
                "15:ef00",
                "-n",
                "1:262144:0",
                "-t",
                "1:8304",
                "-c",
                "1:root",
                p,
            ],
        ),
        "sgdisk",
    );
    ok(
        &sh(
            "mkfs.vfat",
            &["-F", "32", "-n", "UEFI", "--offset", "8192", p, "126976"],
        ),
        "mkfs.vfat",
    );
    ok(
        &sh(
            "mkfs.ext4",
            &[
                "-q",
                "-F",
                "-L",
                "cloudimg-rootfs",
                "-E",
                "offset=134217728",
                p,
                "160M",
            ],
        ),
        "mkfs.ext4",
    );
    let v = inspect_json(&img);
    judged(&img, &v);
    assert!(v["manifest"].is_null());
    let text = ok(&run(&["inspect", p]), "inspect");
    assert!(text.contains("no haimg manifest"), "{text}");
    assert!(text.contains("Linux root (x86-64)"), "{text}");

    let junk = tmp.path().join("notes.txt");
    std::fs::write(&junk, "not a disk\n".repeat(100)).expect("write");
    let o = run(&["inspect", junk.to_str().expect("p")]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not a disk image"), "{}", stderr(&o));
    ok(&sh("xz", &["-k", "-0", p]), "xz");
    let o = run(&["inspect", &format!("{p}.xz")]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("is compressed"), "{}", stderr(&o));
}
