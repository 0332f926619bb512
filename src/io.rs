//! I/O adapters that stack on any reader or writer, one job each (as
//! coreos-installer's `io/`): a progress bar, a hash of what passes, a size
//! limit. Ground floor: uses nothing else of haimg.

use std::io::{self, Read, Write};
use std::path::Path;

use sha2::{Digest as _, Sha256, Sha512};

pub use crate::progress::Progress;

/// The hash algorithms publishers use for their checksum files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algo {
    Sha256,
    Sha512,
}

/// sha256 or sha512 of everything written to it.
pub struct Hasher(HashInner);

enum HashInner {
    S256(Sha256),
    S512(Sha512),
}

impl Hasher {
    pub fn new(a: Algo) -> Hasher {
        Hasher(match a {
            Algo::Sha256 => HashInner::S256(Sha256::new()),
            Algo::Sha512 => HashInner::S512(Sha512::new()),
        })
    }

    pub fn update(&mut self, buf: &[u8]) {
        match &mut self.0 {
            HashInner::S256(h) => h.update(buf),
            HashInner::S512(h) => h.update(buf),
        }
    }

    pub fn hex(self) -> String {
        match self.0 {
            HashInner::S256(h) => hex::encode(h.finalize()),
            HashInner::S512(h) => hex::encode(h.finalize()),
        }
    }
}

impl Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A reader that hashes and counts what passes through it.
pub struct HashReader<R> {
    inner: R,
    hasher: Hasher,
    count: u64,
}

impl<R: Read> HashReader<R> {
    pub fn new(inner: R, algo: Algo) -> Self {
        HashReader {
            inner,
            hasher: Hasher::new(algo),
            count: 0,
        }
    }

    /// The hex digest and the byte count.
    pub fn finish(self) -> (String, u64) {
        (self.hasher.hex(), self.count)
    }
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A writer that refuses to pass more than `limit` bytes: an error, not a
/// silent truncation, once a stream is larger than it may be.
pub struct LimitWriter<W> {
    inner: W,
    left: u64,
}

impl<W: Write> LimitWriter<W> {
    pub fn new(inner: W, limit: u64) -> Self {
        LimitWriter { inner, left: limit }
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for LimitWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() as u64 > self.left {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                "larger than the size limit",
            ));
        }
        let n = self.inner.write(buf)?;
        self.left -= n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The data ranges of a sparse file, `[start, end)`, by SEEK_DATA/SEEK_HOLE.
/// A filesystem without hole reporting gives one range: the whole file.
pub fn data_ranges(file: &std::fs::File, len: u64) -> io::Result<Vec<(u64, u64)>> {
    use rustix::fs::{SeekFrom, seek};
    let mut out = Vec::new();
    let mut pos = 0u64;
    while pos < len {
        let start = match seek(file, SeekFrom::Data(pos)) {
            Ok(s) => s,
            Err(rustix::io::Errno::NXIO) => break,
            Err(e) => return Err(e.into()),
        };
        let end = match seek(file, SeekFrom::Hole(start)) {
            Ok(e) => e.min(len),
            Err(e) => return Err(e.into()),
        };
        out.push((start, end));
        pos = end;
    }
    Ok(out)
}

/// Reads a sparse file whole, holes as zeros from memory: the disk is read
/// only where the file has data.
pub struct SparseReader<'a> {
    file: &'a std::fs::File,
    len: u64,
    ranges: Vec<(u64, u64)>,
    pos: u64,
}

impl<'a> SparseReader<'a> {
    pub fn new(file: &'a std::fs::File, len: u64) -> io::Result<Self> {
        Ok(SparseReader {
            file,
            len,
            ranges: data_ranges(file, len)?,
            pos: 0,
        })
    }
}

impl Read for SparseReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let want = (buf.len() as u64).min(self.len - self.pos);
        // The range the position is in, or the next one after it.
        let next = self.ranges.iter().find(|(_, e)| *e > self.pos);
        let n = match next {
            Some(&(s, e)) if s <= self.pos => {
                let k = want.min(e - self.pos) as usize;
                self.file.read_at(&mut buf[..k], self.pos)?
            }
            Some(&(s, _)) => {
                let k = want.min(s - self.pos) as usize;
                buf[..k].fill(0);
                k
            }
            None => {
                buf[..want as usize].fill(0);
                want as usize
            }
        };
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file ended inside a data range",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// A writer that hashes (sha256) and counts what passes to `inner`.
pub struct HashWriter<W> {
    inner: W,
    hasher: Hasher,
    count: u64,
}

impl<W: Write> HashWriter<W> {
    pub fn new(inner: W) -> Self {
        HashWriter {
            inner,
            hasher: Hasher::new(Algo::Sha256),
            count: 0,
        }
    }

    /// The inner writer, the hex digest and the byte count.
    pub fn finish(self) -> (W, String, u64) {
        (self.inner, self.hasher.hex(), self.count)
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The sha256 (hex) and size of a file.
pub fn sha256_file(path: &Path) -> io::Result<(String, u64)> {
    let mut r = HashReader::new(std::fs::File::open(path)?, Algo::Sha256);
    io::copy(&mut r, &mut io::sink())?;
    Ok(r.finish())
}

/// The length of a file or a block device (whose metadata says 0).
pub fn device_len(file: &std::fs::File) -> io::Result<u64> {
    use std::io::Seek;
    let mut f = file;
    let len = f.seek(io::SeekFrom::End(0))?;
    f.seek(io::SeekFrom::Start(0))?;
    Ok(len)
}

/// `io::copy` with 1 MiB reads: encoders and hashers pay per call, and
/// io::copy's 8 KiB buffer made the xz stage 7 % slower than `xz -T0`.
pub fn copy_big<R: Read + ?Sized, W: Write + ?Sized>(r: &mut R, w: &mut W) -> io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = match r.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..k])?;
        n += k as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn hash_reader_passes_bytes_and_hashes_them() {
        let mut r = HashReader::new(&b"abc"[..], Algo::Sha256);
        let mut out = Vec::new();
        r.read_to_end(&mut out).expect("read");
        assert_eq!(out, b"abc");
        assert_eq!(r.finish(), (ABC256.to_string(), 3));
    }

    #[test]
    fn sha512_of_abc() {
        let mut h = Hasher::new(Algo::Sha512);
        h.write_all(b"abc").expect("write");
        assert!(h.hex().starts_with("ddaf35a193617aba"));
    }

    #[test]
    fn limit_writer_refuses_past_its_limit() {
        let mut w = LimitWriter::new(Vec::new(), 4);
        w.write_all(b"abcd").expect("within");
        let e = w.write_all(b"e").expect_err("past the limit");
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(w.into_inner(), b"abcd");
    }

    #[test]
    fn sparse_reader_gives_the_whole_file() {
        use std::os::unix::fs::FileExt;
        let t = tempfile::NamedTempFile::new().expect("tmp");
        let f = t.as_file();
        f.set_len(3 << 20).expect("size");
        f.write_all_at(b"middle", 1 << 20).expect("write");
        f.write_all_at(b"end", (3 << 20) - 3).expect("write");
        let mut out = Vec::new();
        SparseReader::new(f, 3 << 20)
            .expect("reader")
            .read_to_end(&mut out)
            .expect("read");
        assert_eq!(out, std::fs::read(t.path()).expect("read"));
    }

    #[test]
    fn hash_writer_passes_bytes_and_hashes_them() {
        let mut w = HashWriter::new(Vec::new());
        w.write_all(b"abc").expect("write");
        assert_eq!(w.finish(), (b"abc".to_vec(), ABC256.to_string(), 3));
    }

    #[test]
    fn sha256_of_a_file() {
        let t = tempfile::NamedTempFile::new().expect("tmp");
        std::fs::write(t.path(), b"abc").expect("write");
        assert_eq!(
            sha256_file(t.path()).expect("hash"),
            (ABC256.to_string(), 3)
        );
    }
}
