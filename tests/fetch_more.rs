//! Downloads, continued: a Tailscale tarball's members (and evil ones),
//! `haimg fetch` filling the cache for offline builds, an endless checksums
//! file.

mod common;

use std::path::PathBuf;
use std::process::Command;

use haimg::source::fetch::{Artifact, Check};

use common::fetchenv::*;
use common::*;

#[test]
fn tailscale_tarball_yields_binaries_and_evil_members_are_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mk = |name: &str, members: &[(&str, &[u8])]| -> PathBuf {
        let p = tmp.path().join(name);
        let f = std::fs::File::create(&p).expect("create");
        let gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (path, data) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o755);
            h.set_entry_type(tar::EntryType::Regular);
            // Set the name bytes directly: append_data refuses `..`.
            let name = h.as_old_mut().name.as_mut();
            name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            b.append(&h, *data).expect("append");
        }
        b.into_inner().expect("tar").finish().expect("gz");
        p
    };
    let good = mk(
        "ts.tgz",
        &[
            ("tailscale_1.90.6_arm64/tailscale", b"cli"),
            ("tailscale_1.90.6_arm64/tailscaled", b"daemon"),
            ("tailscale_1.90.6_arm64/systemd/tailscaled.service", b"unit"),
        ],
    );
    let dest = tmp.path().join("out");
    let got =
        haimg::source::unpack::named(&good, &["tailscale", "tailscaled"], &dest).expect("unpack");
    assert_eq!(std::fs::read(&got["tailscaled"]).expect("read"), b"daemon");
    let evil = mk(
        "evil.tgz",
        &[("../evil", b"x"), ("tailscale_1/tailscale", b"cli")],
    );
    let err = haimg::source::unpack::named(&evil, &["tailscale"], &tmp.path().join("o2"))
        .expect_err("evil");
    assert!(err.to_string().contains("unsafe path"), "{err}");
    assert!(!tmp.path().join("evil").exists());
}

#[test]
fn haimg_fetch_fills_the_cache_so_build_inputs_work_offline() {
    let e = env();
    let tar = {
        let o = Command::new("python3")
            .arg(repo().join("tests/tools/mkrootfs.py"))
            .arg(e.srv.root.join("rootfs.tar"))
            .output()
            .expect("mkrootfs");
        assert!(o.status.success());
        std::fs::read(e.srv.root.join("rootfs.tar")).expect("read")
    };
    e.srv.put(
        "SHA256SUMS",
        format!("{}  rootfs.tar\n", sha256(&tar)).as_bytes(),
    );
    let dir = tempfile::tempdir().expect("tmp");
    let mut files = small_cluster();
    // No K3s version: the payload would come from github.com, and tests
    // reach nothing but this machine.
    files[0].1 = files[0].1.replace("version = \"v1.31.4+k3s1\"\n", "");
    files[1].1 = files[1].1.replace(
        "[base]\nkind = \"debian\"\nsuite = \"bookworm\"\npackages = [\"systemd\"]",
        &format!(
            "[base]\nkind = \"rootfs\"\nurl = \"{}\"\nchecksums = \"{}\"",
            e.srv.url("rootfs.tar"),
            e.srv.url("SHA256SUMS")
        ),
    );
    write_files(dir.path(), &files);
    let cache = e.cache.to_str().expect("p").to_string();
    let run_fetch = |extra: &[&str]| {
        haimg()
            .args(["fetch", "a.toml", "--cache", &cache, "-q"])
            .args(extra)
            .current_dir(dir.path())
            .output()
            .expect("run")
    };
    let off = run_fetch(&["--offline"]);
    assert_eq!(off.status.code(), Some(1), "{}", stderr(&off));
    assert!(stderr(&off).contains("--offline"), "{}", stderr(&off));
    assert_eq!(e.srv.count(), 0);
    let o = run_fetch(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("sha256-{}", sha256(&tar))),
        "{}",
        stdout(&o)
    );
    let n = e.srv.count();
    let o = run_fetch(&["--offline"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(e.srv.count(), n);
}

#[test]
fn an_endless_checksums_file_is_refused() {
    let e = env();
    e.srv.put("k3s", b"binary");
    // 2 MiB of "checksums": more than any publisher's file.
    e.srv.put("sums.txt", &vec![b'a'; 2 << 20]);
    let a = Artifact {
        name: "k3s".into(),
        url: e.srv.url("k3s"),
        check: Check::Checksums {
            url: e.srv.url("sums.txt"),
            file: "k3s".into(),
        },
    };
    let err = fetcher(&e).get(&a).expect_err("refused").to_string();
    assert!(err.contains("larger than any checksums file"), "{err}");
    // Nothing of it entered the cache.
    assert!(
        !e.cache.join("checksums").exists()
            || std::fs::read_dir(e.cache.join("checksums"))
                .expect("dir")
                .next()
                .is_none()
    );
}
