//! tarstream::merge in memory: tarballs made with the `tar` crate go in, the
//! merged stream is read back with the `tar` crate.

use std::collections::BTreeMap;
use std::io::Read;

use super::tarstream::{Rules, merge};
use crate::tree::{self, Files};

/// A tarball from (path, kind, data): kind 'f' file, 'd' folder, 'l' hard
/// link to data, 's' symlink to data.
fn tarball(members: &[(&str, char, &str, u32)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, kind, data, mode) in members {
        let mut h = tar::Header::new_gnu();
        h.set_mode(*mode);
        h.set_uid(1000);
        h.set_gid(1000);
        h.set_mtime(1_600_000_000);
        match kind {
            'f' => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, path, data.as_bytes()).expect("file");
            }
            'd' => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, path, std::io::empty()).expect("dir");
            }
            'l' | 's' => {
                h.set_entry_type(if *kind == 'l' {
                    tar::EntryType::Link
                } else {
                    tar::EntryType::Symlink
                });
                h.set_size(0);
                b.append_link(&mut h, path, data).expect("link");
            }
            _ => unreachable!(),
        }
    }
    b.into_inner().expect("tar")
}

/// path → (type byte, mode, uid, content or link target).
fn read_back(bytes: &[u8]) -> BTreeMap<String, (u8, u32, u64, String)> {
    let mut out = BTreeMap::new();
    let mut a = tar::Archive::new(bytes);
    for e in a.entries().expect("entries") {
        let mut e = e.expect("entry");
        let path = e.path().expect("path").display().to_string();
        let h = e.header().clone();
        let mut s = String::new();
        if h.entry_type().is_file() {
            e.read_to_string(&mut s).expect("data");
        } else if let Some(l) = e.link_name().expect("link") {
            s = l.display().to_string();
        }
        out.insert(
            path.trim_start_matches("./")
                .trim_end_matches('/')
                .to_string(),
            (
                h.entry_type().as_byte(),
                h.mode().expect("mode"),
                h.uid().expect("uid"),
                s,
            ),
        );
    }
    out
}

fn run(base: &[u8], replace: &Files, drop: &[&str]) -> Result<(Vec<u8>, Vec<String>), String> {
    let dir = tempfile::tempdir().expect("tmp");
    let capture = |p: &str| p.starts_with("boot/");
    let rules = Rules {
        replace,
        drop,
        capture: &capture,
        capture_dir: dir.path(),
        probe: &["usr/sbin/chronyd"],
        epoch: 1_704_067_200,
    };
    let mut out = Vec::new();
    let stats = merge(base, &mut out, &rules).map_err(|e| e.to_string())?;
    let captured = stats
        .captured
        .iter()
        .map(|(k, p)| format!("{k}={}", std::fs::read_to_string(p).expect("captured")))
        .collect();
    Ok((out, captured))
}

#[test]
fn replaces_drops_captures_and_adds_missing_folders() {
    let base = tarball(&[
        ("./etc/", 'd', "", 0o755),
        ("./etc/hostname", 'f', "debian\n", 0o644),
        ("./etc/ssh/ssh_host_ed25519_key", 'f', "SECRET", 0o600),
        ("./boot/vmlinuz", 'f', "kernel", 0o644),
        ("./usr/bin/x", 'f', "x", 0o4755),
        ("./usr/bin/y", 'l', "usr/bin/x", 0o644),
        ("./usr/lib/os-release", 's', "../../etc/os-release", 0o777),
    ]);
    let mut replace = Files::new();
    replace.insert("etc/hostname".into(), tree::file(0o644, "node\n"));
    replace.insert("etc/haimg/node.env".into(), tree::file(0o600, "A=1\n"));
    let (out, captured) = run(&base, &replace, &["etc/ssh/ssh_host_ed25519_key"]).expect("merge");
    let t = read_back(&out);
    assert_eq!(t["etc/hostname"].3, "node\n");
    assert_eq!(
        t.keys().filter(|k| *k == "etc/hostname").count(),
        1,
        "replaced once"
    );
    assert!(!t.contains_key("etc/ssh/ssh_host_ed25519_key"));
    // haimg's files: root-owned, their mode; the missing folder made 0755.
    assert_eq!(t["etc/haimg/node.env"], (b'0', 0o600, 0, "A=1\n".into()));
    assert_eq!(t["etc/haimg"].0, b'5');
    // Base members keep owner and mode; a hard link keeps its target's mode.
    assert_eq!((t["usr/bin/x"].1, t["usr/bin/x"].2), (0o4755, 1000));
    assert_eq!((t["usr/bin/y"].0, t["usr/bin/y"].1), (b'1', 0o4755));
    assert_eq!(t["usr/lib/os-release"].3, "../../etc/os-release");
    assert_eq!(captured, ["boot/vmlinuz=kernel"]);
}

#[test]
fn climbing_out_with_dotdot_is_refused() {
    let mut base = tarball(&[("./etc/ok", 'f', "x", 0o644)]);
    // The tar crate refuses to write `..`; patch a name in place instead.
    let evil = tarball(&[("./aa/AA/passwd", 'f', "pwned", 0o644)]);
    let mut evil = evil;
    evil[..14].copy_from_slice(b"./aa/../passwd");
    let fix = {
        let mut h = tar::Header::from_byte_slice(&evil[..512]).clone();
        h.set_cksum();
        h
    };
    evil[..512].copy_from_slice(fix.as_bytes());
    base.truncate(base.len() - 1024);
    base.extend_from_slice(&evil);
    let e = run(&base, &Files::new(), &[]).expect_err("refused");
    assert!(e.contains("climbs out"), "{e}");
}

#[test]
fn truncated_and_garbage_streams_fail_clearly() {
    let base = tarball(&[("./etc/a", 'f', &"x".repeat(3000), 0o644)]);
    let e = run(&base[..1500], &Files::new(), &[]).expect_err("truncated");
    assert!(e.contains("truncated"), "{e}");
    let e = run(&[7u8; 2048], &Files::new(), &[]).expect_err("garbage");
    assert!(e.contains("bad base tarball"), "{e}");
}
