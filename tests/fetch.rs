//! Downloads against a real HTTP server on 127.0.0.1 (tests/tools/httpd.py):
//! pinned hashes, publishers' checksum files, tampering, truncation, resume
//! with Range, retries, 404, timeouts, the cache and --offline.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use haimg::source::fetch::{Artifact, Check, FetchError, Fetcher};
use sha2::{Digest as _, Sha512};

use common::fetchenv::*;
use common::*;

#[test]
fn pinned_hash_downloads_once_then_serves_from_cache() {
    let e = env();
    let body = data(300_000);
    e.srv.put("base.tar", &body);
    let f = fetcher(&e);
    let a = pinned(&e, "base.tar", &sha256(&body));
    let p = f.get(&a).expect("fetch");
    assert_eq!(std::fs::read(&p).expect("read"), body);
    assert_eq!(
        p.file_name().expect("name").to_string_lossy(),
        format!("sha256-{}", sha256(&body))
    );
    assert_eq!(e.srv.count(), 1);
    // Again, and offline: no request at all.
    assert_eq!(f.get(&a).expect("cached"), p);
    let off = Fetcher {
        offline: true,
        ..fetcher(&e)
    };
    assert_eq!(off.get(&a).expect("offline cached"), p);
    assert_eq!(e.srv.count(), 1, "the cache must answer without requests");
}

#[test]
fn checksum_files_in_each_publisher_format() {
    let e = env();
    let body = data(50_000);
    let h = sha256(&body);
    let h512 = hex::encode(Sha512::digest(&body));
    let other = "0".repeat(64);
    let cases = [
        (
            "k3s-arm64",
            format!("{other}  k3s-airgap-images-arm64.tar\n{h}  k3s-arm64\n"),
            "sha256sum-arm64.txt",
        ),
        (
            "img.img.xz",
            format!("{h}  img.img.xz\n"),
            "img.img.xz.sha256",
        ),
        (
            "ubuntu+raspi.img.xz",
            format!("{other} *other.iso\n{h} *ubuntu+raspi.img.xz\n"),
            "SHA256SUMS",
        ),
        ("debian.raw", format!("{h512}  debian.raw\n"), "SHA512SUMS"),
    ];
    for (file, sums, sums_name) in cases {
        e.srv.put(file, &body);
        e.srv.put(sums_name, sums.as_bytes());
        let a = Artifact {
            name: file.into(),
            url: e.srv.url(file),
            check: Check::Checksums {
                url: e.srv.url(sums_name),
                file: file.into(),
            },
        };
        let p = fetcher(&e)
            .get(&a)
            .unwrap_or_else(|err| panic!("{file}: {err}"));
        assert_eq!(std::fs::read(&p).expect("read"), body, "{file}");
    }
    // With everything cached (checksum files too), offline works.
    let off = Fetcher {
        offline: true,
        ..fetcher(&e)
    };
    let a = Artifact {
        name: "k".into(),
        url: e.srv.url("k3s-arm64"),
        check: Check::Checksums {
            url: e.srv.url("sha256sum-arm64.txt"),
            file: "k3s-arm64".into(),
        },
    };
    let before = e.srv.count();
    off.get(&a).expect("offline");
    assert_eq!(e.srv.count(), before);
}

#[test]
fn tampered_truncated_and_wrong_entries_fail_and_leave_nothing() {
    let e = env();
    let body = data(100_000);
    let good = sha256(&body);
    let mut tampered = body.clone();
    tampered[50_000] ^= 1;
    e.srv.put("tampered", &tampered);
    e.srv.put("truncated", &body[..60_000]);
    e.srv.put(
        "sums-wrong",
        format!("{}  file\n", "a".repeat(64)).as_bytes(),
    );
    e.srv
        .put("sums-missing", format!("{good}  another\n").as_bytes());
    e.srv.put("file", &body);
    let f = fetcher(&e);
    for path in ["tampered", "truncated"] {
        match f.get(&pinned(&e, path, &good)) {
            Err(FetchError::Mismatch {
                expected, actual, ..
            }) => {
                assert!(
                    expected.contains(&good) && actual.starts_with("sha256:"),
                    "{expected} {actual}"
                );
            }
            other => panic!("{path}: {other:?}"),
        }
    }
    let wrong = Artifact {
        name: "w".into(),
        url: e.srv.url("file"),
        check: Check::Checksums {
            url: e.srv.url("sums-wrong"),
            file: "file".into(),
        },
    };
    let err = f.get(&wrong).expect_err("wrong line");
    assert!(matches!(err, FetchError::Mismatch { .. }), "{err}");
    let missing = Artifact {
        name: "m".into(),
        url: e.srv.url("file"),
        check: Check::Checksums {
            url: e.srv.url("sums-missing"),
            file: "file".into(),
        },
    };
    let err = f.get(&missing).expect_err("missing entry");
    assert!(err.to_string().contains("no entry for file"), "{err}");
    no_final_entries(&e.cache);
    // A failed download leaves no partial either (it was a mismatch).
    let partial: Vec<_> = std::fs::read_dir(e.cache.join("partial"))
        .map(|r| r.flatten().collect())
        .unwrap_or_default();
    assert!(partial.is_empty(), "{partial:?}");
}

#[test]
fn dropped_connection_resumes_with_range() {
    let e = env();
    let body = data(2_000_000);
    e.srv.put("big", &body);
    let p = fetcher(&e)
        .get(&pinned(&e, "drop-once/big", &sha256(&body)))
        .expect("resumed");
    assert_eq!(std::fs::read(&p).expect("read"), body);
    let log = e.srv.log();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert_eq!(lines[0], "/drop-once/big -");
    assert_eq!(
        lines[1], "/drop-once/big bytes=1000000-",
        "the second request resumes where the first stopped"
    );
}

#[test]
fn retries_on_503_and_gives_up_on_404_and_timeouts() {
    let e = env();
    let body = data(10_000);
    e.srv.put("flaky", &body);
    let p = fetcher(&e)
        .get(&pinned(&e, "fail-2/flaky", &sha256(&body)))
        .expect("third try works");
    assert_eq!(std::fs::read(&p).expect("read"), body);
    assert_eq!(e.srv.count(), 3);

    // Other content than anything cached, or the cache would answer.
    let unseen = sha256(b"never served");
    let n = e.srv.count();
    let err = fetcher(&e)
        .get(&pinned(&e, "nothing-here", &unseen))
        .expect_err("404");
    assert!(matches!(err, FetchError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains(&e.srv.url("nothing-here")));
    assert_eq!(e.srv.count(), n + 1, "a 404 is not retried");

    let t = Instant::now();
    let mut f = fetcher(&e);
    f.tries = 2;
    let err = f
        .get(&pinned(&e, "hang/flaky", &unseen))
        .expect_err("timeout");
    assert!(matches!(err, FetchError::Network { tries: 2, .. }), "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "timeouts must bound the wait: {:?}",
        t.elapsed()
    );
    assert!(
        !e.cache
            .join("blobs")
            .join(format!("sha256-{unseen}"))
            .exists()
    );
}

#[test]
fn offline_without_cache_names_what_is_missing_and_connects_to_nothing() {
    let e = env();
    let body = data(1000);
    e.srv.put("x", &body);
    let off = Fetcher {
        offline: true,
        ..fetcher(&e)
    };
    let err = off
        .get(&pinned(&e, "x", &sha256(&body)))
        .expect_err("offline");
    assert!(matches!(err, FetchError::Offline { .. }), "{err}");
    assert!(err.to_string().contains(&e.srv.url("x")));
    assert_eq!(e.srv.count(), 0);
}

#[test]
fn unverifiable_and_plain_http_are_refused_before_connecting() {
    let e = env();
    e.srv.put("x", b"x");
    let f = fetcher(&e);
    let none = Artifact {
        name: "n".into(),
        url: e.srv.url("x"),
        check: Check::None,
    };
    assert!(matches!(f.get(&none), Err(FetchError::Unverifiable { .. })));
    assert_eq!(e.srv.count(), 0);
    // Plain http to another host with only a checksums file: refused, and no
    // connection is attempted (the address is not even resolvable).
    let remote = Artifact {
        name: "r".into(),
        url: "http://mirror.invalid/x".into(),
        check: Check::Checksums {
            url: "http://mirror.invalid/SHA256SUMS".into(),
            file: "x".into(),
        },
    };
    assert!(matches!(f.get(&remote), Err(FetchError::PlainHttp { .. })));
    // --insecure lets an unverifiable one through.
    let ins = Fetcher {
        insecure: true,
        ..fetcher(&e)
    };
    assert_eq!(
        std::fs::read(ins.get(&none).expect("insecure")).expect("read"),
        b"x"
    );
}

#[test]
fn decompression_is_chosen_by_magic_not_name() {
    need(&["xz", "zstd", "gzip"]);
    let tmp = tempfile::tempdir().expect("tmp");
    let body = data(200_000);
    let plain = tmp.path().join("plain.bin");
    std::fs::write(&plain, &body).expect("write");
    for (tool, args) in [
        ("gzip", vec!["-c"]),
        ("xz", vec!["-c", "-T2"]),
        ("zstd", vec!["-c", "-q", "--long=25"]),
    ] {
        let out = tmp.path().join(format!("{tool}.tar")); // a misleading name
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{tool} {} {} > {}",
                args.join(" "),
                plain.display(),
                out.display()
            ))
            .output()
            .expect("compress");
        assert!(o.status.success());
        let mut r = haimg::source::open_decompressed(&out).expect("open");
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut r, &mut got).expect("read");
        assert_eq!(got, body, "{tool}");
    }
    let mut r = haimg::source::open_decompressed(&plain).expect("open");
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut r, &mut got).expect("read");
    assert_eq!(got, body);
}
