//! Sparse files: a stream written with holes where it holds zeros, and a
//! sparse file copied by its data ranges (SEEK_DATA/SEEK_HOLE) with
//! `copy_file_range`, so neither reads nor writes the gigabytes of zeros a
//! disk image is mostly made of.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

/// The unit in which zeros become holes: a file system block.
const BLOCK: usize = 4096;

/// Write `r` into `file` from offset 0, leaving a hole for every all-zero
/// 4 KiB block, and set the file's length to what was read. Returns it.
pub fn write_stream(r: &mut dyn Read, file: &File) -> io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0u64;
    loop {
        let mut n = 0;
        // Fill the buffer so zero blocks are judged whole.
        while n < buf.len() {
            match r.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if n == 0 {
            break;
        }
        write_nonzero(file, &buf[..n], pos)?;
        pos += n as u64;
    }
    file.set_len(pos)?;
    Ok(pos)
}

/// Write the blocks of `data` that are not all zeros at `at` (+ offset).
fn write_nonzero(file: &File, data: &[u8], at: u64) -> io::Result<()> {
    let mut i = 0;
    while i < data.len() {
        let zero = |j: usize| data[j..(j + BLOCK).min(data.len())].iter().all(|&b| b == 0);
        if zero(i) {
            i += BLOCK;
            continue;
        }
        let start = i;
        while i < data.len() && !zero(i) {
            i += BLOCK;
        }
        let end = i.min(data.len());
        file.write_all_at(&data[start..end], at + start as u64)?;
    }
    Ok(())
}

/// Copy the data ranges of `src` (`len` bytes) into `dst` at the same
/// offsets; `dst` is already `len` long (a hole). The kernel copies
/// (`copy_file_range`: a reflink or an in-kernel copy where it can).
pub fn copy(src: &File, dst: &File, len: u64) -> io::Result<()> {
    copy_span(src, 0, dst, 0, len)
}

/// [`copy`] of `len` bytes from `src` at `from` to `dst` at `to` (a range
/// already inside `dst`, a hole).
pub fn copy_span(src: &File, from: u64, dst: &File, to: u64, len: u64) -> io::Result<()> {
    for (start, end) in crate::io::data_ranges(src, from + len)? {
        let (start, end) = (start.max(from), end.min(from + len));
        let (mut f, mut t) = (start, start - from + to);
        while f < end {
            let want = (end - f).min(1 << 30) as usize;
            let n = rustix::fs::copy_file_range(src, Some(&mut f), dst, Some(&mut t), want)
                .map_err(io::Error::from)?;
            if n == 0 {
                // The source shrank under us, or the kernel declined:
                // fall back to reading and writing.
                return copy_by_hand(src, dst, f, end, t);
            }
        }
    }
    Ok(())
}

/// Copy `src`'s bytes `from..end` to `dst` at `to`, zero blocks as holes.
fn copy_by_hand(src: &File, dst: &File, mut from: u64, end: u64, mut to: u64) -> io::Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    while from < end {
        let want = buf.len().min((end - from) as usize);
        let n = src.read_at(&mut buf[..want], from)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the base image ended inside a data range",
            ));
        }
        write_nonzero(dst, &buf[..n], to)?;
        from += n as u64;
        to += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new file, readable and writable.
    fn rw(p: &std::path::Path) -> File {
        File::options()
            .create_new(true)
            .read(true)
            .write(true)
            .open(p)
            .expect("test step")
    }

    #[test]
    fn zeros_become_holes_and_the_bytes_survive() {
        let dir = tempfile::tempdir().expect("test step");
        let mut data = vec![0u8; 3 << 20];
        data[5000..5010].copy_from_slice(b"0123456789");
        data[(2 << 20) + 7] = 1;
        data.extend_from_slice(&[0u8; 100]); // a zero tail, not block-sized
        let a = File::create_new(dir.path().join("a")).expect("test step");
        let n = write_stream(&mut &data[..], &a).expect("test step");
        assert_eq!(n, data.len() as u64);
        let ranges = crate::io::data_ranges(&a, n).expect("test step");
        let mapped: u64 = ranges.iter().map(|(s, e)| e - s).sum();
        assert!(mapped <= 2 * 4096, "{ranges:?}");
        let b = rw(&dir.path().join("b"));
        b.set_len(n).expect("test step");
        copy(&a, &b, n).expect("test step");
        assert_eq!(
            std::fs::read(dir.path().join("b")).expect("test step"),
            data
        );
        let copied = crate::io::data_ranges(&b, n).expect("test step");
        assert!(copied.iter().map(|(s, e)| e - s).sum::<u64>() <= 2 * 4096);
    }

    #[test]
    fn a_span_copied_to_an_offset_and_back_lands_there_and_stays_sparse() {
        let dir = tempfile::tempdir().expect("test step");
        let mut data = vec![0u8; 2 << 20];
        data[10] = 7;
        data[(1 << 20) + 4096..(1 << 20) + 4100].copy_from_slice(b"abcd");
        let a = File::create_new(dir.path().join("a")).expect("test step");
        let n = write_stream(&mut &data[..], &a).expect("test step");
        let b = rw(&dir.path().join("b"));
        let at = 3 << 20;
        b.set_len(at + n + 4096).expect("test step");
        copy_span(&a, 0, &b, at, n).expect("test step");
        let got = std::fs::read(dir.path().join("b")).expect("test step");
        assert!(got[..at as usize].iter().all(|x| *x == 0));
        assert_eq!(&got[at as usize..(at + n) as usize], &data[..]);
        let mapped = crate::io::data_ranges(&b, at + n + 4096).expect("test step");
        assert!(mapped.iter().all(|(s, _)| *s >= at), "{mapped:?}");
        assert!(mapped.iter().map(|(s, e)| e - s).sum::<u64>() <= 2 * 4096);
        // And out again: only the span, from its start.
        let c = rw(&dir.path().join("c"));
        c.set_len(n).expect("test step");
        copy_span(&b, at, &c, 0, n).expect("test step");
        assert_eq!(
            std::fs::read(dir.path().join("c")).expect("test step"),
            data
        );
    }
}
