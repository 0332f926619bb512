//! emit: the image file and the outputs beside it (`NODE.img.sha256`,
//! `NODE.img.bmap`, the folder's `SHA256SUMS`). The image is made under a
//! hidden temporary name, mode 0600 from its first byte (it holds secrets),
//! and renamed only when complete; every output is written whole, then
//! renamed.

pub mod bmap;
mod compress;
pub mod imager;

pub use compress::Format;

use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// An image being made: a sized, sparse, 0600 temporary file in the output
/// folder. Dropped without [`Output::finish`], it is deleted.
pub struct Output {
    tmp: tempfile::NamedTempFile,
    _guard: crate::cleanup::Guard,
    dir: PathBuf,
    name: String,
    size: u64,
}

/// A finished image.
pub struct Built {
    pub image: PathBuf,
    pub sha256: String,
    /// Every file written, with its sha256: the image and its sidecars.
    pub outputs: Vec<(PathBuf, String)>,
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
            _guard: crate::cleanup::Guard::new(tmp.path()),
            tmp,
            dir: dir.to_path_buf(),
            name: name.to_string(),
            size,
        })
    }

    /// An image made from `from`, a file in `dir`'s file system that
    /// holds what the image starts with (a root file system, holes around
    /// it): moved under the temporary name, not copied.
    pub fn adopt(dir: &Path, name: &str, size: u64, from: &Path) -> io::Result<Output> {
        let Output {
            tmp, _guard, dir, ..
        } = Output::create(dir, name, 0)?;
        let (empty, path) = tmp.into_parts();
        drop(empty);
        std::fs::set_permissions(from, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(from, &path)?;
        let file = std::fs::File::options()
            .read(true)
            .write(true)
            .open(&path)?;
        file.set_len(size)?;
        Ok(Output {
            tmp: tempfile::NamedTempFile::from_parts(file, path),
            _guard,
            dir,
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

    /// Sync, hash, and stage `NAME.sha256`, `NAME.bmap` and the compressed
    /// copies as hidden temporary files; then rename them all into place,
    /// the image last. Until then nothing carries a final name.
    pub fn finish(self, quiet: bool, compress: &[Format]) -> io::Result<Built> {
        // The sync waits on the disk, the hash on the CPU: both at once. The
        // hash reads the pages being written back, the same bytes; nothing
        // is renamed before both have ended.
        let syncing = self.tmp.as_file().try_clone()?;
        let (synced, scan) = std::thread::scope(|s| {
            let sync = s.spawn(move || syncing.sync_all());
            let scan = bmap::scan(self.tmp.as_file(), self.size, quiet);
            let synced = sync
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("syncing the image failed")));
            (synced, scan)
        });
        synced?;
        let scan = scan?;
        let mut staged: Vec<(
            tempfile::NamedTempFile,
            crate::cleanup::Guard,
            PathBuf,
            String,
        )> = Vec::new();
        for (suffix, text) in [
            ("sha256", format!("{}  {}\n", scan.sha256, self.name)),
            ("bmap", bmap::xml(&scan, &self.name)),
        ] {
            let (mut t, guard) = self.stage()?;
            t.write_all(text.as_bytes())?;
            t.as_file().sync_all()?;
            let sum = hex::encode(Sha256::digest(text.as_bytes()));
            staged.push((
                t,
                guard,
                self.dir.join(format!("{}.{suffix}", self.name)),
                sum,
            ));
        }
        for &f in compress {
            let (t, guard) = self.stage()?;
            let sum = match f {
                Format::Qcow2 => qcow2(self.tmp.path(), t.path())?,
                _ => compress::write(self.tmp.as_file(), self.size, t.as_file(), f, quiet)?,
            };
            staged.push((t, guard, self.dir.join(compress::name(&self.name, f)), sum));
        }
        let mut outputs = Vec::new();
        for (t, _guard, dest, sum) in staged {
            t.persist(&dest).map_err(|e| e.error)?;
            outputs.push((dest, sum));
        }
        let image = self.dir.join(&self.name);
        self.tmp.persist(&image).map_err(|e| e.error)?;
        outputs.insert(0, (image.clone(), scan.sha256.clone()));
        Ok(Built {
            image,
            sha256: scan.sha256,
            outputs,
        })
    }

    /// A hidden 0600 temporary file beside the image, removed on a signal.
    fn stage(&self) -> io::Result<(tempfile::NamedTempFile, crate::cleanup::Guard)> {
        let t = tempfile::Builder::new()
            .prefix(&format!(".{}.", self.name))
            .tempfile_in(&self.dir)?;
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o600))?;
        let guard = crate::cleanup::Guard::new(t.path());
        Ok((t, guard))
    }
}

/// `NODE.qcow2` for clouds that import disk images (QEMU's own converter;
/// its output depends only on the input, so it is reproducible). Returns its
/// sha256.
fn qcow2(raw: &Path, out: &Path) -> io::Result<String> {
    const QEMU_IMG: crate::tool::Tool = crate::tool::Tool::new("qemu-img", "qemu-utils");
    let mut cmd = QEMU_IMG.command();
    cmd.args(["convert", "-q", "-f", "raw", "-O", "qcow2"])
        .arg(raw)
        .arg(out);
    QEMU_IMG.run(cmd).map_err(io::Error::other)?;
    std::fs::File::open(out)?.sync_all()?;
    Ok(crate::io::sha256_file(out)?.0)
}

/// `DIR/SHA256SUMS` for the files a run wrote there (`sha256sum -c` checks
/// it). Entries of files from earlier runs that still exist are kept, so
/// building nodes one by one into one folder keeps one list.
pub fn write_sums(dir: &Path, written: &[(PathBuf, String)]) -> io::Result<()> {
    let path = dir.join("SHA256SUMS");
    let mut entries: std::collections::BTreeMap<String, String> = std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (sum, name) = l.split_once("  ")?;
            dir.join(name)
                .is_file()
                .then(|| (name.to_string(), sum.to_string()))
        })
        .collect();
    for (p, sum) in written {
        if let Some(name) = p.file_name() {
            entries.insert(name.to_string_lossy().into_owned(), sum.clone());
        }
    }
    let text: String = entries
        .iter()
        .map(|(name, sum)| format!("{sum}  {name}\n"))
        .collect();
    write_sidecar(&path, &text)
}

/// Write a small file atomically: temporary name in the same folder, rename.
pub fn write_sidecar(path: &Path, contents: &str) -> io::Result<()> {
    write_sidecar_bytes(path, contents.as_bytes())
}

/// [`write_sidecar`] for bytes; the file is 0600 (a temporary file's mode).
pub fn write_sidecar_bytes(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".haimg-")
        .tempfile_in(dir)?;
    let _guard = crate::cleanup::Guard::new(tmp.path());
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
