//! Writing an image's mapped ranges to a disk, and reading them back.
//!
//! Order (so that a disk interrupted at any point never looks bootable):
//! the disk's first and last MiB are zeroed and synced first (old MBR,
//! primary and backup GPT); then every range beyond the first MiB is
//! written; then, after a sync, the image's first MiB — its partition table
//! last of all, in one 4 KiB write. A signal meanwhile zeroes the first MiB
//! again (cleanup::WipeGuard).

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use sha2::{Digest, Sha256};

use crate::cleanup::WIPE_LEN;
use crate::emit::bmap::{self, BLOCK};
use crate::io::Progress;
use crate::source::{Compression, open_reader, sniff};

use super::verify::{ReadBack, read_back};

pub(super) const CHUNK: usize = 4 << 20;

/// A byte range of the image to write, with the sha256 its block map
/// promises (none without a map).
pub struct Span {
    pub start: u64,
    pub end: u64,
    pub expect: Option<String>,
}

enum Source {
    /// An uncompressed image: read where its ranges are.
    Raw(File),
    /// A compressed one, decompressed in one pass; `pos` bytes consumed.
    Stream(Box<dyn Read + Send>, u64),
}

pub struct Job {
    pub size: u64,
    pub spans: Vec<Span>,
    /// The block map used, if any.
    pub bmap: Option<PathBuf>,
    source: Source,
}

fn open_stream(path: &Path) -> io::Result<Box<dyn Read + Send>> {
    open_reader(File::open(path)?)
}

/// `NODE.img.bmap` for `NODE.img`, `NODE.img.xz` or `NODE.img.zst`.
fn bmap_beside(image: &Path) -> Option<PathBuf> {
    let s = image.to_string_lossy();
    let base = [".xz", ".zst", ".gz"]
        .iter()
        .find_map(|x| s.strip_suffix(x))
        .unwrap_or(&s);
    let p = PathBuf::from(format!("{base}.bmap"));
    p.is_file().then_some(p)
}

/// Decompress once to learn the size and where the non-zero blocks are:
/// a compressed image without a block map.
fn scan_stream(path: &Path, quiet: bool) -> io::Result<(u64, Vec<Span>)> {
    let bar = Progress::bytes(quiet, 0, "finding data");
    let mut r = open_stream(path)?;
    let mut buf = vec![0u8; BLOCK as usize];
    let (mut pos, mut spans) = (0u64, Vec::<Span>::new());
    loop {
        let n = read_full(&mut r, &mut buf)?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|b| *b != 0) {
            match spans.last_mut() {
                Some(s) if s.end == pos => s.end += n as u64,
                _ => spans.push(Span {
                    start: pos,
                    end: pos + n as u64,
                    expect: None,
                }),
            }
        }
        pos += n as u64;
        bar.set(pos);
    }
    bar.finish();
    Ok((pos, spans))
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

impl Job {
    pub fn open(image: &Path, bmap_path: Option<&Path>, quiet: bool) -> anyhow::Result<Job> {
        use anyhow::Context;
        let mut f = File::open(image).with_context(|| format!("opening {}", image.display()))?;
        let mut head = [0u8; 8];
        let n = read_full(&mut f, &mut head)?;
        let compression = sniff(&head[..n]);
        let bmap_path = bmap_path
            .map(Path::to_path_buf)
            .or_else(|| bmap_beside(image));
        let (size, spans) = match &bmap_path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                let scan =
                    bmap::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
                let spans = scan
                    .ranges
                    .into_iter()
                    .map(|r| Span {
                        start: r.first * BLOCK,
                        end: ((r.last + 1) * BLOCK).min(scan.size),
                        expect: Some(r.sha256),
                    })
                    .collect();
                (scan.size, spans)
            }
            None if compression == Compression::None => {
                let len = f.metadata()?.len();
                let spans = bmap::block_runs(&crate::io::data_ranges(&f, len)?)
                    .into_iter()
                    .map(|(a, b)| Span {
                        start: a * BLOCK,
                        end: ((b + 1) * BLOCK).min(len),
                        expect: None,
                    })
                    .collect();
                (len, spans)
            }
            None => scan_stream(image, quiet)
                .with_context(|| format!("decompressing {}", image.display()))?,
        };
        if compression == Compression::None && f.metadata()?.len() != size {
            anyhow::bail!(
                "{} is {} bytes but its block map says {size}: not the image the map was made for",
                image.display(),
                f.metadata()?.len()
            );
        }
        let source = match compression {
            Compression::None => Source::Raw(f),
            _ => Source::Stream(open_stream(image)?, 0),
        };
        Ok(Job {
            size,
            spans,
            bmap: bmap_path,
            source,
        })
    }

    pub fn mapped(&self) -> u64 {
        self.spans.iter().map(|s| s.end - s.start).sum()
    }

    /// Fill `buf` with the image's bytes at `at` (ascending calls only for
    /// a stream).
    fn read_at(&mut self, buf: &mut [u8], at: u64) -> io::Result<()> {
        match &mut self.source {
            Source::Raw(f) => f.read_exact_at(buf, at),
            Source::Stream(r, pos) => {
                if at > *pos {
                    io::copy(&mut r.take(at - *pos), &mut io::sink())?;
                    *pos = at;
                }
                if read_full(r, buf)? != buf.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the compressed image ended early (truncated download?)",
                    ));
                }
                *pos += buf.len() as u64;
                Ok(())
            }
        }
    }
}

/// Zero `len` bytes of `dev` at `at`.
fn zero(dev: &File, at: u64, len: u64) -> io::Result<()> {
    dev.write_all_at(&vec![0u8; len as usize], at)
}

/// One chunk as written, kept until it has been read back.
pub(super) struct Chunk {
    pub at: u64,
    pub data: Vec<u8>,
}

/// Bytes written between two syncs that hand chunks to the verifier, when
/// it reads through the page cache. At most about three batches are in
/// memory (one filling, one queued, one being read back). Reading with
/// O_DIRECT needs no sync: each chunk goes over at once, up to DEPTH
/// queued, so the verifier follows closely and little is left at the end.
const BATCH: u64 = 32 << 20;
const DEPTH: usize = 16;

/// Write the job to `dev` (a disk of `dev_size` bytes). With `verify`, a
/// second thread reads every range back past the page cache while the
/// writing goes on, and compares it with the bytes written; the first MiB
/// is checked last, after it is written.
pub fn write(
    job: &mut Job,
    dev: &File,
    dev_size: u64,
    verify: bool,
    quiet: bool,
) -> anyhow::Result<()> {
    let head_len = (WIPE_LEN as u64).min(job.size);
    zero(dev, 0, head_len)?;
    if dev_size > 2 * WIPE_LEN as u64 {
        zero(dev, dev_size - WIPE_LEN as u64, WIPE_LEN as u64)?;
    }
    dev.sync_all()?;
    let label = if verify {
        "writing+verifying"
    } else {
        "writing"
    };
    let bar = Progress::bytes(quiet, job.mapped(), label);
    let mut head = vec![0u8; head_len as usize];
    let reader = ReadBack::open(dev, dev_size);
    std::thread::scope(|s| -> anyhow::Result<()> {
        let depth = if reader.needs_sync() { 1 } else { DEPTH };
        let (tx, rx) = mpsc::sync_channel::<Vec<Chunk>>(depth);
        let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
        let checker = verify.then(|| {
            let (bar, reader) = (&bar, &reader);
            s.spawn(move || read_back(reader, rx, free_tx, bar))
        });
        let sink = verify.then_some((tx, free_rx, reader.needs_sync()));
        let wrote = write_spans(job, dev, &mut head, sink, &bar);
        // The writer's sender is gone now: the verifier drains and ends.
        let checked = checker.map_or(Ok(()), |h| {
            h.join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the verifying thread failed")))
        });
        wrote.and(checked)
    })?;
    bar.finish();
    // The rest of the first MiB may land with the last ranges: without its
    // first 4 KiB (MBR, GPT header) the disk still has no table.
    let table = (BLOCK as usize).min(head.len());
    dev.write_all_at(&head[table..], table as u64)?;
    dev.sync_all()?;
    dev.write_all_at(&head[..table], 0)?;
    dev.sync_all()?;
    if verify {
        let data = std::mem::take(&mut head);
        let (tx, rx) = mpsc::sync_channel(1);
        let (free_tx, _free) = mpsc::channel();
        tx.send(vec![Chunk { at: 0, data }])?;
        drop(tx);
        read_back(&reader, rx, free_tx, &Progress::bytes(true, 0, ""))?;
    }
    Ok(())
}

/// The verifier's ends: written chunks go out, emptied buffers come back;
/// and whether each batch must be synced before it is handed over.
type Verifier = (mpsc::SyncSender<Vec<Chunk>>, mpsc::Receiver<Vec<u8>>, bool);

/// Write every span but the first MiB (kept in `head`); check each span
/// against its block map's sha256; hand what was written, synced, to the
/// verifier when there is one.
fn write_spans(
    job: &mut Job,
    dev: &File,
    head: &mut [u8],
    sink: Option<Verifier>,
    bar: &Progress,
) -> anyhow::Result<()> {
    let head_len = head.len() as u64;
    let mut buf = vec![0u8; CHUNK];
    let (mut done, mut batch, mut batch_len) = (0u64, Vec::<Chunk>::new(), 0u64);
    let synced = sink.as_ref().is_some_and(|v| v.2);
    let hand_over = |batch: &mut Vec<Chunk>, tx: &mpsc::SyncSender<Vec<Chunk>>| {
        if synced {
            dev.sync_data()?;
        }
        tx.send(std::mem::take(batch))
            .map_err(|_| anyhow::anyhow!("the verifier stopped"))
    };
    for i in 0..job.spans.len() {
        let (start, end) = (job.spans[i].start, job.spans[i].end);
        let mut h = Sha256::new();
        let mut at = start;
        while at < end {
            let k = ((end - at) as usize).min(CHUNK);
            if let Some((_, free, _)) = &sink {
                buf = free.try_recv().unwrap_or_else(|_| vec![0u8; CHUNK]);
            }
            job.read_at(&mut buf[..k], at)?;
            h.update(&buf[..k]);
            // The first MiB waits in memory: it goes last.
            let split = head_len.saturating_sub(at).min(k as u64) as usize;
            if split > 0 {
                head[at as usize..at as usize + split].copy_from_slice(&buf[..split]);
            }
            if split < k {
                let to = at + split as u64;
                dev.write_all_at(&buf[split..k], to)?;
                // DONTNEED on dirty pages starts their writeback now
                // (mm/fadvise.c: __filemap_fdatawrite_range, WB_SYNC_NONE)
                // instead of at the next sync: the disk is kept busy while
                // the next chunk is read and hashed, and the verifier finds
                // the range already written.
                rustix::fs::fadvise(
                    dev,
                    to,
                    std::num::NonZeroU64::new((k - split) as u64),
                    rustix::fs::Advice::DontNeed,
                )?;
                if let Some((tx, _, _)) = &sink {
                    let mut data = std::mem::take(&mut buf);
                    data.truncate(k);
                    data.drain(..split);
                    batch_len += data.len() as u64;
                    batch.push(Chunk { at: to, data });
                    if batch_len >= BATCH || !synced {
                        hand_over(&mut batch, tx)?;
                        batch_len = 0;
                    }
                }
            }
            at += k as u64;
            done += k as u64;
            if sink.is_none() {
                bar.set(done);
            }
        }
        if let Some(want) = &job.spans[i].expect
            && *want != hex::encode(h.finalize())
        {
            anyhow::bail!(
                "the image does not match its block map at bytes {start}..{end} (a damaged image or the map of another one)"
            );
        }
    }
    if let Some((tx, _, _)) = &sink
        && !batch.is_empty()
    {
        hand_over(&mut batch, tx)?;
    }
    Ok(())
}
