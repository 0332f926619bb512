//! emit: the outputs beside the image (`NODE.img.sha256`), written under a
//! temporary name and renamed; and the progress bars every long step shows.

use std::io::{self, IsTerminal, Read, Write};
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

/// A byte progress bar on stderr, hidden when stderr is not a terminal or the
/// user asked for quiet.
pub struct Progress(ProgressBar);

impl Progress {
    pub fn bytes(quiet: bool, len: u64, what: &str) -> Progress {
        if quiet || !io::stderr().is_terminal() {
            return Progress(ProgressBar::hidden());
        }
        let bar = ProgressBar::new(len);
        let style = ProgressStyle::with_template(
            "{msg:>16} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message(what.to_string());
        Progress(bar)
    }

    pub fn wrap_read<R: Read>(&self, r: R) -> indicatif::ProgressBarIter<R> {
        self.0.wrap_read(r)
    }

    pub fn set(&self, n: u64) {
        self.0.set_position(n);
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
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

/// sha256 of the whole image. Holes are hashed from a zero buffer instead of
/// being read: no I/O for the empty gigabytes of a fresh root filesystem.
pub fn sha256_sparse(file: &std::fs::File, len: u64, quiet: bool) -> io::Result<String> {
    use std::os::unix::fs::FileExt;
    let bar = Progress::bytes(quiet, len, "sha256");
    let mut h = Sha256::new();
    let zeros = vec![0u8; 1 << 20];
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0u64;
    let feed_zeros = |h: &mut Sha256, mut n: u64| {
        while n > 0 {
            let k = n.min(zeros.len() as u64) as usize;
            h.update(&zeros[..k]);
            n -= k as u64;
        }
    };
    for (start, end) in data_ranges(file, len)? {
        feed_zeros(&mut h, start - pos);
        let mut at = start;
        while at < end {
            let k = ((end - at) as usize).min(buf.len());
            file.read_exact_at(&mut buf[..k], at)?;
            h.update(&buf[..k]);
            at += k as u64;
            bar.set(at);
        }
        pos = end;
    }
    feed_zeros(&mut h, len - pos);
    bar.finish();
    Ok(hex::encode(h.finalize()))
}

/// Write a small file atomically: temporary name in the same folder, rename.
pub fn write_sidecar(path: &Path, contents: &str) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".haimg-")
        .tempfile_in(dir)?;
    tmp.write_all(contents.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
