//! The writer and the read-back check on plain files standing in for a
//! disk (the loop-device tests in tests/flash.rs drive the whole command).

use std::os::unix::fs::FileExt;
use std::sync::mpsc;

use super::verify::{self, ReadBack};
use super::write::{self, Chunk};
use crate::io::Progress;

/// Check one chunk both ways: through a second O_DIRECT handle (where the
/// file system allows it) and through the synced, dropped page cache. Both
/// must give the same verdict.
fn check(dev: &std::fs::File, at: u64, data: Vec<u8>) -> anyhow::Result<()> {
    let size = dev.metadata().expect("size").len();
    let run = |reader: ReadBack| {
        let (tx, rx) = mpsc::sync_channel(1);
        let (free, _back) = mpsc::channel();
        tx.send(vec![Chunk {
            at,
            data: data.clone(),
        }])
        .expect("send");
        drop(tx);
        verify::read_back(&reader, rx, free, &Progress::bytes(true, 0, ""))
    };
    let direct = run(ReadBack::open(dev, size));
    let cached = run(ReadBack::Cached(dev));
    assert_eq!(direct.is_ok(), cached.is_ok(), "{direct:?} vs {cached:?}");
    direct
}

#[test]
fn read_back_finds_a_changed_byte() {
    let t = tempfile::tempfile().expect("tmp");
    t.set_len(1 << 20).expect("len");
    t.write_all_at(&[7u8; 8192], 4096).expect("write");
    check(&t, 4096, vec![7u8; 8192]).expect("same bytes pass");
    t.write_all_at(&[8u8], 4096 + 5000).expect("flip");
    let e = check(&t, 4096, vec![7u8; 8192]).expect_err("a changed byte fails");
    assert!(
        e.to_string().contains("bytes 4096..12288 read back differ"),
        "{e}"
    );
}

/// An image with data in many places, larger than several verify batches,
/// written with and without verification: the "disk" ends up byte-equal.
#[test]
fn a_sparse_image_is_written_exactly_with_and_without_verify() {
    let dir = tempfile::tempdir().expect("dir");
    let img = dir.path().join("a.img");
    let size = 150u64 << 20;
    let f = std::fs::File::create(&img).expect("img");
    f.set_len(size).expect("len");
    let mut seed = 1u32;
    for i in 0..40u64 {
        let chunk: Vec<u8> = (0..(300_000 + i as usize * 997))
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 24) as u8
            })
            .collect();
        f.write_all_at(&chunk, i * (size / 41) + 513).expect("data");
    }
    f.sync_all().expect("sync");
    let want = std::fs::read(&img).expect("read");
    for verify in [true, false] {
        let disk = tempfile::tempfile().expect("disk");
        disk.set_len(size + (4 << 20)).expect("len");
        disk.write_all_at(&[0xffu8; 1 << 20], 0).expect("old table");
        let mut job = write::Job::open(&img, None, true).expect("job");
        assert!(job.spans.len() > 10, "holes were found");
        write::write(&mut job, &disk, size + (4 << 20), verify, true).expect("write");
        let mut got = vec![0u8; size as usize];
        disk.read_exact_at(&mut got, 0).expect("read back");
        assert!(
            got == want,
            "verify={verify}: the disk differs from the image"
        );
    }
}
