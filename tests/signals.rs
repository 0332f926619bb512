//! Ctrl-C or SIGTERM at any point of a build leaves no temporary file and no
//! partial output: the build is signalled at several moments, from before
//! the image exists to while its root file system is being written.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::image::rootfs_node;
use common::*;

/// What is in the output folder, hidden files included.
fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn a_signalled_build_leaves_nothing_behind() {
    need(&["python3", "mkfs.ext4"]);
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    // 300 MiB of random data: seconds of streaming to mke2fs on this machine.
    rootfs_node(dir, "rpi", "rpi4", 1024, &["--big", "300"]);
    let mut interrupted = 0;
    for (i, (signal, after_ms)) in [
        ("TERM", 150),
        ("INT", 600),
        ("TERM", 1500),
        ("INT", 3000),
        ("TERM", 5000),
    ]
    .into_iter()
    .enumerate()
    {
        let out = dir.join(format!("out{i}"));
        let child = haimg()
            .args(["build", "a.toml", "-q", "--out"])
            .arg(&out)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("haimg");
        std::thread::sleep(Duration::from_millis(after_ms));
        ok(
            &sh("kill", &[&format!("-{signal}"), &child.id().to_string()]),
            "kill",
        );
        let t = Instant::now();
        let o = child.wait_with_output().expect("wait");
        assert!(t.elapsed() < Duration::from_secs(60), "did not stop");
        let left = listing(&out);
        match o.status.code() {
            Some(130) => {
                interrupted += 1;
                assert!(
                    left.iter().all(|n| n == "SHA256SUMS"),
                    "SIG{signal} after {after_ms} ms left {left:?}"
                );
            }
            // Finished before the signal: then it is whole.
            Some(0) => assert!(left.contains(&"a.img".to_string()), "{left:?}"),
            other => panic!(
                "SIG{signal} after {after_ms} ms: exit {other:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            ),
        }
        assert!(
            !left.iter().any(|n| n.starts_with('.')),
            "SIG{signal} after {after_ms} ms left hidden files {left:?}"
        );
    }
    assert!(
        interrupted >= 3,
        "only {interrupted} builds were caught mid-way"
    );
    // No mke2fs left running on a deleted image.
    let ps = stdout(&sh("ps", &["-eo", "args"]));
    assert!(
        !ps.lines()
            .any(|l| l.starts_with("mke2fs") && l.contains(".a.img.")),
        "{ps}"
    );
}
