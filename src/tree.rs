//! The in-memory file tree that render produces and disk writes: paths
//! relative to a filesystem's root, each a file (bytes in memory, or a file on
//! this machine read when written: the payload's large binaries) or a symlink.
//! Ground floor: uses nothing else of haimg.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, symlink};
use std::path::{Path, PathBuf};

/// One entry of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    File {
        mode: u32,
        data: Vec<u8>,
    },
    /// A file of this machine, copied when the tree is written.
    Host {
        mode: u32,
        path: PathBuf,
    },
    Symlink {
        target: String,
    },
}

/// A set of entries keyed by path relative to the root (no leading `/`).
pub type Files = BTreeMap<String, Entry>;

pub fn file(mode: u32, data: impl Into<Vec<u8>>) -> Entry {
    Entry::File {
        mode,
        data: data.into(),
    }
}

pub fn host(mode: u32, path: impl Into<PathBuf>) -> Entry {
    Entry::Host {
        mode,
        path: path.into(),
    }
}

impl Entry {
    /// Bytes of content (0 for a symlink).
    pub fn size(&self) -> io::Result<u64> {
        match self {
            Entry::File { data, .. } => Ok(data.len() as u64),
            Entry::Host { path, .. } => Ok(std::fs::metadata(path)?.len()),
            Entry::Symlink { .. } => Ok(0),
        }
    }

    /// Its content as a reader (empty for a symlink).
    pub fn reader(&self) -> io::Result<Box<dyn Read + '_>> {
        match self {
            Entry::File { data, .. } => Ok(Box::new(data.as_slice())),
            Entry::Host { path, .. } => Ok(Box::new(std::fs::File::open(path)?)),
            Entry::Symlink { .. } => Ok(Box::new(io::empty())),
        }
    }
}

/// Write `files` under `dir`, creating folders 0755. Files are created new:
/// the caller writes into a fresh temporary folder and renames it.
pub fn write(files: &Files, dir: &Path) -> io::Result<()> {
    for (path, entry) in files {
        let dest = dir.join(path);
        if let Some(parent) = dest.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)?;
        }
        match entry {
            Entry::File { mode, .. } | Entry::Host { mode, .. } => {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(*mode)
                    .open(&dest)?;
                io::copy(&mut entry.reader()?, &mut f)?;
            }
            Entry::Symlink { target } => symlink(target, &dest)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_tree_has_contents_modes_and_links() {
        use std::os::unix::fs::PermissionsExt;
        let src = tempfile::NamedTempFile::new().expect("tmp");
        std::fs::write(src.path(), b"from the host").expect("write");
        let mut t = Files::new();
        t.insert("a/b/secret".into(), file(0o600, "s"));
        t.insert("payload/k3s".into(), host(0o755, src.path()));
        t.insert("a/link".into(), Entry::Symlink { target: "b".into() });
        let dir = tempfile::tempdir().expect("dir");
        write(&t, dir.path()).expect("write");
        let meta = std::fs::metadata(dir.path().join("a/b/secret")).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::read(dir.path().join("payload/k3s")).expect("read"),
            b"from the host"
        );
        assert_eq!(t["payload/k3s"].size().expect("size"), 13);
        assert_eq!(
            std::fs::read_link(dir.path().join("a/link")).expect("link"),
            Path::new("b")
        );
        // Never over an existing file.
        assert!(write(&t, dir.path()).is_err());
    }
}
