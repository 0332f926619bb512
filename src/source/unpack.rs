//! Take named files out of a (compressed) tarball without extracting it:
//! `tailscale` and `tailscaled` from Tailscale's static tarball. Files are
//! written under fixed names chosen here, never under the member's path, and a
//! member that climbs out with `..` or an absolute path fails the whole unpack.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("{archive}: member {member:?} has an unsafe path (absolute or with `..`)")]
    Unsafe { archive: PathBuf, member: String },
    #[error("{archive}: no member named {name}")]
    Missing { archive: PathBuf, name: String },
    #[error("{archive}: {source}")]
    Io { archive: PathBuf, source: io::Error },
}

/// Extract the members whose last path component is one of `names` into
/// `dest/NAME` (mode 0755). Every name must be found.
pub fn named(
    archive: &Path,
    names: &[&str],
    dest: &Path,
) -> Result<BTreeMap<String, PathBuf>, UnpackError> {
    let io_err = |e| UnpackError::Io {
        archive: archive.to_path_buf(),
        source: e,
    };
    let r =
        super::open_decompressed(archive).map_err(|e| io_err(io::Error::other(e.to_string())))?;
    let mut tar = tar::Archive::new(r);
    fs::create_dir_all(dest).map_err(io_err)?;
    let mut out = BTreeMap::new();
    for entry in tar.entries().map_err(io_err)? {
        let mut entry = entry.map_err(io_err)?;
        let path = entry.path().map_err(io_err)?.into_owned();
        let unsafe_path = path.components().any(|c| {
            matches!(
                c,
                Component::ParentDir | Component::RootDir | Component::Prefix(_)
            )
        });
        if unsafe_path {
            return Err(UnpackError::Unsafe {
                archive: archive.to_path_buf(),
                member: path.display().to_string(),
            });
        }
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let Some(base) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(name) = names.iter().find(|n| **n == base) {
            let to = dest.join(name);
            let mut f = fs::File::create(&to).map_err(io_err)?;
            io::copy(&mut entry, &mut f).map_err(io_err)?;
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&to, fs::Permissions::from_mode(0o755)).map_err(io_err)?;
            out.insert(name.to_string(), to);
        }
    }
    for n in names {
        if !out.contains_key(*n) {
            return Err(UnpackError::Missing {
                archive: archive.to_path_buf(),
                name: n.to_string(),
            });
        }
    }
    Ok(out)
}
