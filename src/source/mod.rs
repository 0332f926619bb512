//! source: where a node's base comes from, opened as a decompressed stream.
//! Downloads, checksum files and the content-addressed cache arrive with the
//! sources issue; here: local files, and mmdebstrap for `debian` bases.

pub mod catalogue;
mod chart;
pub mod checksums;
pub mod debian;
mod download;
pub mod fetch;
mod http;
mod image;
mod payload;
pub mod unpack;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::config::BaseKind;
use crate::plan::NodePlan;

pub use chart::{Chart, charts};
pub use download::{Download, downloads, served};
pub use image::base_image;
pub use payload::{PayloadFile, payload, payload_from_dir};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
    #[error(transparent)]
    Unpack(#[from] unpack::UnpackError),
    #[error("cannot open {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Tool(String),
}

/// Compression formats, told apart by their magic bytes, never by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

pub fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Open a file and decompress it by its magic bytes.
pub fn open_decompressed(path: &Path) -> Result<Box<dyn Read + Send>, SourceError> {
    let f = File::open(path).map_err(|e| SourceError::Open {
        path: path.to_path_buf(),
        source: e,
    })?;
    open_reader(f).map_err(|e| SourceError::Open {
        path: path.to_path_buf(),
        source: e,
    })
}

/// Decompress a stream by its magic bytes.
pub fn open_reader<R: Read + Send + 'static>(inner: R) -> io::Result<Box<dyn Read + Send>> {
    let mut r = BufReader::with_capacity(1 << 20, inner);
    let kind = sniff(r.fill_buf()?);
    Ok(match kind {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Xz => {
            // Multi-threaded where the stream has several blocks (xz -T).
            let stream = liblzma::stream::MtStreamBuilder::new()
                .threads(std::thread::available_parallelism().map_or(1, |n| n.get() as u32))
                .memlimit_threading(u64::MAX)
                .memlimit_stop(u64::MAX)
                .decoder()
                .or_else(|_| {
                    liblzma::stream::Stream::new_stream_decoder(
                        u64::MAX,
                        liblzma::stream::CONCATENATED,
                    )
                })
                .map_err(io::Error::other)?;
            Box::new(liblzma::bufread::XzDecoder::new_stream(r, stream))
        }
        Compression::Zstd => {
            let mut d = zstd::stream::read::Decoder::with_buffer(r)?;
            // Streams made with --long need a large window.
            d.window_log_max(31)?;
            Box::new(d)
        }
    })
}

/// The artifact for a `rootfs` or `image` base.
pub fn base_artifact(node: &NodePlan) -> Option<fetch::Artifact> {
    let b = &node.base;
    let url = b.url.clone()?;
    // Relative paths are relative to the node file.
    let url = match fetch::local_path(&url) {
        Some(p) if p.is_relative() => node
            .source_file
            .parent()
            .unwrap_or(Path::new("."))
            .join(p)
            .display()
            .to_string(),
        _ => url,
    };
    let check = match (&b.sha256, &b.checksums) {
        (Some(h), _) => {
            checksums::Digest::parse(h).map_or(fetch::Check::None, fetch::Check::Pinned)
        }
        (None, Some(c)) => fetch::Check::Checksums {
            url: c.clone(),
            file: url.rsplit('/').next().unwrap_or_default().to_string(),
        },
        (None, None) => fetch::Check::None,
    };
    Some(fetch::Artifact {
        name: format!("{} base", node.hostname),
        url,
        check,
    })
}

/// The base's root filesystem tarball for a node: fetched and verified for
/// `rootfs`, mmdebstrap's cached output for `debian`.
pub fn base_tarball(node: &NodePlan, fetcher: &fetch::Fetcher) -> Result<PathBuf, SourceError> {
    match node.base.kind {
        BaseKind::Rootfs => {
            let a = base_artifact(node).ok_or_else(|| SourceError::Unsupported("the rootfs base has no url".into()))?;
            Ok(fetcher.get(&a)?)
        }
        BaseKind::Debian => debian::tarball(node, &fetcher.cache, fetcher.quiet, fetcher.offline),
        BaseKind::Image => Err(SourceError::Unsupported(
            "`image` bases (customising an existing OS image) are not built yet; use a `rootfs` or `debian` base (`haimg fetch` can already download and verify the image)".into(),
        )),
    }
}

/// Unpack named members once per archive into `cache/unpacked/ARCHIVE/`,
/// through a temporary folder and a rename: no half-unpacked cache entry.
pub(crate) fn unpack_cached(
    archive: &Path,
    names: &[&str],
    cache: &Path,
) -> Result<BTreeMap<String, PathBuf>, SourceError> {
    let open_err = |path: &Path| {
        let path = path.to_path_buf();
        move |e| SourceError::Open {
            path: path.clone(),
            source: e,
        }
    };
    let leaf = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dest = cache.join("unpacked").join(leaf);
    if !names.iter().all(|n| dest.join(n).is_file()) {
        let parent = cache.join("unpacked");
        std::fs::create_dir_all(&parent).map_err(open_err(&parent))?;
        let tmp = tempfile::Builder::new()
            .prefix(".unpack-")
            .tempdir_in(&parent)
            .map_err(open_err(&parent))?;
        let _guard = crate::cleanup::Guard::new(tmp.path());
        unpack::named(archive, names, tmp.path())?;
        let _ = std::fs::remove_dir_all(&dest);
        std::fs::rename(tmp.keep(), &dest).map_err(open_err(&dest))?;
    }
    Ok(names
        .iter()
        .map(|n| (n.to_string(), dest.join(n)))
        .collect())
}
/// haimg's cache folder: `$HAIMG_CACHE`, else `$XDG_CACHE_HOME/haimg`, else
/// `~/.cache/haimg`.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("HAIMG_CACHE") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(p).join("haimg");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache/haimg")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic() {
        assert_eq!(sniff(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(sniff(b"\xfd7zXZ\x00rest"), Compression::Xz);
        assert_eq!(sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Compression::Zstd);
        assert_eq!(sniff(b"ustar"), Compression::None);
    }
}
