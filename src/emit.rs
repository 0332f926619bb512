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

/// sha256 of the whole image (holes read as the zeros they are).
pub fn sha256_sparse(file: &std::fs::File, len: u64, quiet: bool) -> io::Result<String> {
    let bar = Progress::bytes(quiet, len, "sha256");
    let mut r = bar.wrap_read(io::BufReader::with_capacity(1 << 20, file.try_clone()?));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
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
