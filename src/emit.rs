//! emit: the image file and the outputs beside it (`NODE.img.sha256`). The
//! image is made under a hidden temporary name, mode 0600 from its first byte
//! (it holds secrets), and renamed only when complete.

use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::io::Progress;

/// An image being made: a sized, sparse, 0600 temporary file in the output
/// folder. Dropped without [`Output::finish`], it is deleted.
pub struct Output {
    tmp: tempfile::NamedTempFile,
    dir: PathBuf,
    name: String,
    size: u64,
}

/// A finished image.
pub struct Built {
    pub image: PathBuf,
    pub sha256: String,
}

impl Output {
    pub fn create(dir: &Path, name: &str, size: u64) -> io::Result<Output> {
        std::fs::create_dir_all(dir)?;
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .tempfile_in(dir)?;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o600))?;
        tmp.as_file().set_len(size)?;
        Ok(Output {
            tmp,
            dir: dir.to_path_buf(),
            name: name.to_string(),
            size,
        })
    }

    pub fn file(&self) -> &std::fs::File {
        self.tmp.as_file()
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Sync, hash, write `NAME.sha256` beside it, and rename into place.
    pub fn finish(self, quiet: bool) -> io::Result<Built> {
        self.tmp.as_file().sync_all()?;
        let sha = sha256_sparse(self.tmp.as_file(), self.size, quiet)?;
        write_sidecar(
            &self.dir.join(format!("{}.sha256", self.name)),
            &format!("{sha}  {}\n", self.name),
        )?;
        let image = self.dir.join(&self.name);
        self.tmp.persist(&image).map_err(|e| e.error)?;
        Ok(Built { image, sha256: sha })
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
