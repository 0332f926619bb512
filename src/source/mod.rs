//! source: where a node's base comes from, opened as a decompressed stream.
//! Downloads, checksum files and the content-addressed cache arrive with the
//! sources issue; here: local files, and mmdebstrap for `debian` bases.

pub mod debian;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::config::BaseKind;
use crate::plan::NodePlan;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
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
    let open_err = |e| e;
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
            let mut d = zstd::stream::read::Decoder::with_buffer(r).map_err(open_err)?;
            // Streams made with --long need a large window.
            d.window_log_max(31).map_err(open_err)?;
            Box::new(d)
        }
    })
}

/// The base's root filesystem tarball for a node: a local file for `rootfs`,
/// mmdebstrap's cached output for `debian`.
pub fn base_tarball(node: &NodePlan, cache: &Path, quiet: bool) -> Result<PathBuf, SourceError> {
    match node.base.kind {
        BaseKind::Rootfs => {
            let url = node.base.url.as_deref().unwrap_or("");
            let path = local_path(url, &node.source_file)?;
            if !path.is_file() {
                return Err(SourceError::Open {
                    path,
                    source: io::Error::from(io::ErrorKind::NotFound),
                });
            }
            Ok(path)
        }
        BaseKind::Debian => debian::tarball(node, cache, quiet),
        BaseKind::Image => Err(SourceError::Unsupported(
            "`image` bases (customising an existing OS image) are not built yet; use a `rootfs` or `debian` base".into(),
        )),
    }
}

/// A `file://` URL or a plain path, relative to the node file.
fn local_path(url: &str, node_file: &Path) -> Result<PathBuf, SourceError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        return Err(SourceError::Unsupported(format!(
            "{url}: downloading bases is not built yet; download it and give its path"
        )));
    }
    let p = url.strip_prefix("file://").unwrap_or(url);
    let dir = node_file.parent().unwrap_or(Path::new("."));
    Ok(dir.join(p))
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
