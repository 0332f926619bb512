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

/// Visit the first regular member whose last path component is `name`, for
/// each of `names`, with its path in the archive. Any member with an unsafe
/// path fails the whole walk; every name must be found. The one walk behind
/// [`named`] (extract for an image) and the member list a cloud VM extracts
/// itself (source::download), so both take the same member.
pub fn each_named(
    archive: &Path,
    names: &[&str],
    mut visit: impl FnMut(&str, &Path, &mut dyn io::Read) -> io::Result<()>,
) -> Result<(), UnpackError> {
    let io_err = |e| UnpackError::Io {
        archive: archive.to_path_buf(),
        source: e,
    };
    let r =
        super::open_decompressed(archive).map_err(|e| io_err(io::Error::other(e.to_string())))?;
    let mut tar = tar::Archive::new(r);
    let mut seen = Vec::new();
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
        if let Some(name) = names.iter().find(|n| **n == base && !seen.contains(*n)) {
            visit(name, &path, &mut entry).map_err(io_err)?;
            seen.push(*name);
        }
    }
    match names.iter().find(|n| !seen.contains(*n)) {
        Some(n) => Err(UnpackError::Missing {
            archive: archive.to_path_buf(),
            name: n.to_string(),
        }),
        None => Ok(()),
    }
}

/// Extract the members whose last path component is one of `names` into
/// `dest/NAME` (mode 0755). Every name must be found.
pub fn named(
    archive: &Path,
    names: &[&str],
    dest: &Path,
) -> Result<BTreeMap<String, PathBuf>, UnpackError> {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(dest).map_err(|e| UnpackError::Io {
        archive: archive.to_path_buf(),
        source: e,
    })?;
    let mut out = BTreeMap::new();
    each_named(archive, names, |name, _, entry| {
        let to = dest.join(name);
        let mut f = fs::File::create(&to)?;
        io::copy(entry, &mut f)?;
        fs::set_permissions(&to, fs::Permissions::from_mode(0o755))?;
        out.insert(name.to_string(), to);
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(dir: &Path, members: &[(&str, &[u8])]) -> PathBuf {
        let p = dir.join("t.tar");
        let mut b = tar::Builder::new(fs::File::create(&p).expect("tar"));
        for (name, data) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o755);
            h.set_cksum();
            b.append_data(&mut h, name, *data).expect("append");
        }
        b.finish().expect("finish");
        p
    }

    /// A name twice in the archive: the image's copy and the VM's member
    /// path are both the first one.
    #[test]
    fn the_first_of_a_repeated_name_is_taken_everywhere() {
        let d = tempfile::tempdir().expect("tmp");
        let t = tarball(
            d.path(),
            &[("a/tailscaled", b"first"), ("b/tailscaled", b"second")],
        );
        let got = named(&t, &["tailscaled"], &d.path().join("out")).expect("named");
        assert_eq!(fs::read(&got["tailscaled"]).expect("read"), b"first");
        let mut paths = Vec::new();
        each_named(&t, &["tailscaled"], |_, p, _| {
            paths.push(p.to_path_buf());
            Ok(())
        })
        .expect("walk");
        assert_eq!(paths, [PathBuf::from("a/tailscaled")]);
        let e = each_named(&t, &["tailscale"], |_, _, _| Ok(())).expect_err("missing");
        assert!(e.to_string().contains("no member named tailscale"), "{e}");
    }
}
