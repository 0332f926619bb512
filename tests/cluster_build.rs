//! `haimg build cluster.toml`: every node in one command, in parallel, with
//! `--json` progress and results; one node failing stops none of the others.

mod common;

use std::path::Path;

use common::image::{small_profile, sums_ok};
use common::*;

fn tarball(dir: &Path, name: &str, kind: &str) {
    ok(
        &std::process::Command::new("python3")
            .arg(repo().join("tests/tools/mkrootfs.py"))
            .arg(dir.join(name))
            .args(["--kind", kind])
            .output()
            .expect("python3"),
        "mkrootfs.py",
    );
}

/// Three servers (two Pis and a PC from tarballs; `c`'s tarball is missing)
/// and an agent `d` on the same Pi base as `a`.
fn setup(dir: &Path) {
    tarball(dir, "pi.tar", "rpi");
    tarball(dir, "pc.tar", "uefi");
    let node = |h: &str, profile: &str, url: &str| {
        format!(
            "cluster = \"cluster.toml\"\nhostname = \"{h}\"\nprofile = \"{profile}\"\n[base]\nkind = \"rootfs\"\nurl = \"{url}\"\n"
        )
    };
    write_files(
        dir,
        &[
            ("cluster.toml", "name = \"lab\"\ntailnet = \"lab-net.ts.net\"\nnodes = [\"a.toml\", \"b.toml\", \"c.toml\", \"d.toml\"]\n[[server]]\nname = \"a\"\nbootstrap = true\n[[server]]\nname = \"b\"\n[[server]]\nname = \"c\"\n[tailscale]\ntags = [\"tag:k3s\"]\n".into()),
            ("pi.toml", small_profile("rpi4", 512)),
            ("pc.toml", small_profile("x86_64-uefi", 512)),
            ("a.toml", node("a", "pi.toml", "pi.tar")),
            ("b.toml", node("b", "pc.toml", "pc.tar")),
            ("c.toml", node("c", "pi.toml", "missing.tar")),
            ("d.toml", node("d", "pi.toml", "pi.tar")),
        ],
    );
    write_secrets(dir);
}

fn build(dir: &Path, file: &str, out: &str, extra: &[&str]) -> std::process::Output {
    haimg()
        .args(["build", file, "--out", out, "--insecure"])
        .args(extra)
        .env("SOURCE_DATE_EPOCH", "1704067200")
        .env("HAIMG_CACHE", dir.join("cache"))
        .current_dir(dir)
        .output()
        .expect("haimg")
}

fn sha256(p: &Path) -> String {
    stdout(&sh("sha256sum", &[p.to_str().expect("p")]))[..64].to_string()
}

#[test]
fn the_whole_cluster_in_parallel_with_json_and_a_failing_node() {
    need(&["python3"]);
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    setup(dir);
    let o = build(dir, "cluster.toml", "out", &["--json", "--jobs", "2"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("1 of 4 node(s) failed: c (the others were built)"),
        "{err}"
    );
    assert!(
        err.contains("error: c: ") && err.contains("missing.tar"),
        "{err}"
    );

    // stdout is JSON lines only: progress, a result per node, c's error.
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let mut made_root = Vec::new();
    for n in ["a", "b", "d"] {
        let result = lines
            .iter()
            .find(|v| v["node"] == n && v.get("image").is_some())
            .unwrap_or_else(|| panic!("no result for {n}: {lines:?}"));
        let img = dir.join(result["image"].as_str().expect("image"));
        assert_eq!(result["sha256"].as_str(), Some(sha256(&img).as_str()));
        for out in result["outputs"].as_array().expect("outputs") {
            let p = dir.join(out["path"].as_str().expect("path"));
            assert_eq!(out["sha256"].as_str(), Some(sha256(&p).as_str()), "{p:?}");
        }
        let steps: Vec<&serde_json::Value> = lines
            .iter()
            .filter(|v| v["node"] == n && v.get("step").is_some())
            .collect();
        if let Some(root) = steps
            .iter()
            .find(|v| v["step"] == "root filesystem" && v["done"] == true)
        {
            assert!(root["bytes"].as_u64() > Some(0), "{root}");
            made_root.push(n);
        }
    }
    // One root file system per base: a and d share the Pi base's.
    made_root.sort();
    assert!(
        made_root == ["a", "b"] || made_root == ["b", "d"],
        "root file systems made by {made_root:?}"
    );
    // Each copy is its node's: its own ext4 UUID, its own files, clean.
    let mut uuids = Vec::new();
    for n in ["a", "d"] {
        let part = dir.join(format!("{n}.root"));
        common::image::partition(&dir.join(format!("out/{n}.img")), 2, &part);
        let p = part.to_str().expect("p");
        ok(&sh("e2fsck", &["-fn", p]), "e2fsck -fn");
        uuids.push(ok(
            &sh("blkid", &["-p", "-o", "value", "-s", "UUID", p]),
            "blkid",
        ));
        assert_eq!(
            common::image::debugfs(&part, "cat /etc/hostname"),
            format!("{n}\n")
        );
    }
    assert_ne!(uuids[0], uuids[1]);
    assert!(
        lines.iter().any(|v| v["node"] == "c"
            && v["error"]
                .as_str()
                .is_some_and(|e| e.contains("missing.tar"))),
        "{lines:?}"
    );

    // What was built is listed and checks; nothing of c, nothing hidden.
    assert_eq!(
        sums_ok(&dir.join("out")),
        11,
        "a: img, sha256, bmap, imager.json, icon; b, d: img, sha256, bmap"
    );
    let names: Vec<String> = std::fs::read_dir(dir.join("out"))
        .expect("out")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.starts_with('.') && !n.starts_with("c.")),
        "{names:?}"
    );

    // Built in parallel (sharing a root) or alone, an image is the same bytes.
    for n in ["a", "d"] {
        ok(
            &build(dir, &format!("{n}.toml"), "alone", &["-q"]),
            "haimg build alone",
        );
        assert_eq!(
            sha256(&dir.join(format!("alone/{n}.img"))),
            sha256(&dir.join(format!("out/{n}.img"))),
            "{n}"
        );
    }
}

#[test]
fn qcow2_for_clouds_that_import_images() {
    need(&["python3", "qemu-img"]);
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    setup(dir);
    for out in ["q1", "q2"] {
        ok(
            &build(dir, "b.toml", out, &["-q", "--format", "qcow2"]),
            "haimg build --format qcow2",
        );
    }
    let (img, q) = (dir.join("q1/b.img"), dir.join("q1/b.qcow2"));
    // QEMU's own tools judge it: a valid qcow2 holding the raw image's bytes.
    let info: serde_json::Value = serde_json::from_str(&ok(
        &sh(
            "qemu-img",
            &["info", "--output", "json", q.to_str().expect("p")],
        ),
        "qemu-img info",
    ))
    .expect("json");
    assert_eq!(info["format"], "qcow2", "{info}");
    assert_eq!(
        info["virtual-size"].as_u64(),
        std::fs::metadata(&img).map(|m| m.len()).ok()
    );
    ok(
        &sh("qemu-img", &["check", q.to_str().expect("p")]),
        "qemu-img check",
    );
    ok(
        &sh(
            "qemu-img",
            &[
                "compare",
                "-f",
                "raw",
                "-F",
                "qcow2",
                img.to_str().expect("p"),
                q.to_str().expect("p"),
            ],
        ),
        "qemu-img compare",
    );
    // Listed with the rest, mode 0600 (it holds the node's secrets), and the
    // same bytes from the same inputs.
    assert_eq!(sums_ok(&dir.join("q1")), 4);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&q).expect("meta").permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(sha256(&q), sha256(&dir.join("q2/b.qcow2")));
}
