//! Reading what was flashed back from the disk itself, not from the page
//! cache that still holds what was written, and comparing.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::mpsc;

use super::write::{CHUNK, Chunk};
use crate::cleanup::WIPE_LEN;
use crate::io::Progress;

/// How the verifier reads the disk past the page cache.
pub(super) enum ReadBack<'a> {
    /// A second handle with O_DIRECT. Before a direct read the kernel
    /// writes out that range's dirty pages itself (blkdev_read_iter and
    /// iomap_dio_rw call filemap_write_and_wait_range), then reads the
    /// device: no sync of the whole disk per batch, so writing goes on
    /// while a batch is checked. `size` bounds reads rounded up to 4 KiB.
    Direct { file: File, size: u64 },
    /// Where O_DIRECT is refused (tmpfs): each batch is synced by the
    /// writer and its cached pages dropped before reading.
    Cached(&'a File),
}

impl<'a> ReadBack<'a> {
    pub(super) fn open(dev: &'a File, size: u64) -> ReadBack<'a> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        // Not O_EXCL: `dev` holds the claim; this is the same disk.
        let again = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
            .open(format!("/proc/self/fd/{}", dev.as_raw_fd()));
        match again {
            Ok(file) => ReadBack::Direct { file, size },
            Err(_) => ReadBack::Cached(dev),
        }
    }

    pub(super) fn needs_sync(&self) -> bool {
        matches!(self, ReadBack::Cached(_))
    }

    /// Read `n` bytes at `at` from the device itself into `buf` (at least
    /// 8 KiB longer than `n`, for O_DIRECT's alignment); the bytes read.
    fn read<'b>(&self, n: usize, at: u64, buf: &'b mut [u8]) -> io::Result<&'b [u8]> {
        use rustix::fs::{Advice, fadvise};
        const ALIGN: usize = 4096;
        if let ReadBack::Direct { file, size } = self
            && at.is_multiple_of(ALIGN as u64)
        {
            let len = (n.div_ceil(ALIGN) * ALIGN).min((*size - at) as usize);
            let skip = buf.as_ptr().align_offset(ALIGN);
            // A disk with larger logical blocks may refuse: read cached.
            if len >= n
                && skip + len <= buf.len()
                && file.read_exact_at(&mut buf[skip..skip + len], at).is_ok()
            {
                return Ok(&buf[skip..skip + n]);
            }
        }
        let dev = match self {
            ReadBack::Direct { file, .. } => file,
            ReadBack::Cached(f) => *f,
        };
        fadvise(
            dev,
            at,
            std::num::NonZeroU64::new(n as u64),
            Advice::DontNeed,
        )?;
        dev.read_exact_at(&mut buf[..n], at)?;
        Ok(&buf[..n])
    }
}

/// Read each chunk back from the disk itself (not its cached pages) and
/// compare.
pub(super) fn read_back(
    reader: &ReadBack,
    rx: mpsc::Receiver<Vec<Chunk>>,
    free: mpsc::Sender<Vec<u8>>,
    bar: &Progress,
) -> anyhow::Result<()> {
    let mut buf = vec![0u8; CHUNK.max(WIPE_LEN) + 8192];
    let mut done = 0u64;
    for batch in rx {
        for c in batch {
            let n = c.data.len();
            let got = reader.read(n, c.at, &mut buf)?;
            if got != &c.data[..] {
                anyhow::bail!(
                    "verification failed: bytes {}..{} read back differ from what was written (a failing disk or reader?)",
                    c.at,
                    c.at + n as u64
                );
            }
            done += n as u64;
            bar.set(done);
            let mut data = c.data;
            data.resize(CHUNK, 0);
            // The writer may have finished; a buffer nobody takes is dropped.
            let _ = free.send(data);
        }
    }
    Ok(())
}
