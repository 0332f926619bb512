//! `NODE.img.xz` and `NODE.img.zst`, streamed from the sparse image (holes
//! come from memory, not the disk) through multi-threaded encoders: liblzma's
//! MT stream encoder and zstd's workers, one thread per core.

use std::fs::File;
use std::io::{self, BufWriter, Write};

use crate::io::{HashWriter, Progress, SparseReader};

/// A compressed output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Xz,
    Zst,
    /// Not a compression: QEMU's disk format, for clouds that import images
    /// (`NODE.qcow2`, made by qemu-img in `emit`).
    Qcow2,
}

impl Format {
    pub fn suffix(self) -> &'static str {
        match self {
            Format::Xz => "xz",
            Format::Zst => "zst",
            Format::Qcow2 => "qcow2",
        }
    }
}

fn threads() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1))
}

/// Compress `image` (`size` bytes, sparse) into `out`; returns the sha256 of
/// what was written.
pub fn write(
    image: &File,
    size: u64,
    out: &File,
    format: Format,
    quiet: bool,
) -> io::Result<String> {
    let bar = Progress::bytes(quiet, size, format.suffix());
    let mut reader = bar.wrap_read(SparseReader::new(image, size)?);
    let sink = HashWriter::new(BufWriter::with_capacity(1 << 20, out));
    let sink = match format {
        Format::Xz => {
            let stream = liblzma::stream::MtStreamBuilder::new()
                .threads(threads())
                .preset(6)
                .check(liblzma::stream::Check::Crc64)
                .encoder()
                .map_err(io::Error::other)?;
            let mut enc = liblzma::write::XzEncoder::new_stream(sink, stream);
            crate::io::copy_big(&mut reader, &mut enc)?;
            enc.finish()?
        }
        Format::Zst => {
            let mut enc = zstd::stream::Encoder::new(sink, 3)?;
            enc.multithread(threads())?;
            crate::io::copy_big(&mut reader, &mut enc)?;
            enc.finish()?
        }
        Format::Qcow2 => {
            return Err(io::Error::other(
                "qcow2 is written by qemu-img, not compressed",
            ));
        }
    };
    bar.finish();
    let (mut buf, sha, _) = sink.finish();
    buf.flush()?;
    drop(buf);
    out.sync_all()?;
    Ok(sha)
}

/// The output's name beside the image: `NODE.img.xz`, `NODE.qcow2`.
pub fn name(image_name: &str, format: Format) -> String {
    match format {
        Format::Qcow2 => format!("{}.qcow2", image_name.trim_end_matches(".img")),
        _ => format!("{image_name}.{}", format.suffix()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::FileExt;

    #[test]
    fn both_formats_round_trip_a_sparse_file() {
        let t = tempfile::NamedTempFile::new().expect("tmp");
        let f = t.as_file();
        f.set_len(2 << 20).expect("size");
        f.write_all_at(b"data in the middle", 1 << 20)
            .expect("write");
        let want = std::fs::read(t.path()).expect("read");
        for format in [Format::Xz, Format::Zst] {
            let out = tempfile::NamedTempFile::new().expect("out");
            let sha = write(f, 2 << 20, out.as_file(), format, true).expect("compress");
            let packed = std::fs::read(out.path()).expect("read");
            assert_eq!(sha, crate::io::sha256_file(out.path()).expect("hash").0);
            let mut got = Vec::new();
            match format {
                Format::Xz => liblzma::read::XzDecoder::new(&packed[..])
                    .read_to_end(&mut got)
                    .expect("unxz"),
                Format::Zst => zstd::stream::Decoder::new(&packed[..])
                    .expect("zstd")
                    .read_to_end(&mut got)
                    .expect("unzstd"),
                Format::Qcow2 => unreachable!("not a compression"),
            };
            assert_eq!(got, want, "{format:?}");
            assert!(packed.len() < 100_000, "{format:?}: holes compress away");
        }
    }
}
