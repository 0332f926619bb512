//! bmaptool's block map (format 2.0): which 4 KiB blocks of the sparse image
//! hold data, each range with its sha256, and the map's own checksum, so that
//! `bmaptool copy` (and `haimg flash`) write only those blocks and verify
//! them. One pass over the image also gives the whole image's sha256: holes
//! are fed to the hash as zeros, never read. No maintained crate writes bmap
//! files (bmap-parser only reads them: research/crates.md).

use std::io;
use std::os::unix::fs::FileExt;

use sha2::{Digest, Sha256};

use crate::io::Progress;
use crate::io::data_ranges;

pub const BLOCK: u64 = 4096;

/// A run of mapped blocks, inclusive, with the sha256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub first: u64,
    pub last: u64,
    pub sha256: String,
}

/// What one pass over an image learned.
#[derive(Debug, Clone)]
pub struct Scan {
    pub size: u64,
    /// sha256 of the whole image, holes included.
    pub sha256: String,
    pub ranges: Vec<Range>,
}

/// The data ranges of a file as inclusive block runs, merged where they
/// touch.
pub fn block_runs(ranges: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &(start, end) in ranges.iter().filter(|(s, e)| e > s) {
        let (first, last) = (start / BLOCK, (end - 1) / BLOCK);
        match out.last_mut() {
            Some(prev) if first <= prev.1 + 1 => prev.1 = prev.1.max(last),
            _ => out.push((first, last)),
        }
    }
    out
}

/// Hash the image once: every mapped range and the whole.
pub fn scan(file: &std::fs::File, size: u64, quiet: bool) -> io::Result<Scan> {
    let bar = Progress::bytes(quiet, size, "sha256 + bmap");
    let mut whole = Sha256::new();
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
    let mut ranges = Vec::new();
    for (first, last) in block_runs(&data_ranges(file, size)?) {
        let start = first * BLOCK;
        let end = ((last + 1) * BLOCK).min(size);
        feed_zeros(&mut whole, start - pos);
        let mut part = Sha256::new();
        let mut at = start;
        while at < end {
            let k = ((end - at) as usize).min(buf.len());
            file.read_exact_at(&mut buf[..k], at)?;
            whole.update(&buf[..k]);
            part.update(&buf[..k]);
            at += k as u64;
            bar.set(at);
        }
        ranges.push(Range {
            first,
            last,
            sha256: hex::encode(part.finalize()),
        });
        pos = end;
    }
    feed_zeros(&mut whole, size - pos);
    bar.finish();
    Ok(Scan {
        size,
        sha256: hex::encode(whole.finalize()),
        ranges,
    })
}

/// The bmap file: its `BmapFileChecksum` is the sha256 of the file with that
/// field's value as zeros (how bmaptool verifies it, BmapCopy.py).
pub fn xml(scan: &Scan, image_name: &str) -> String {
    let blocks = scan.size.div_ceil(BLOCK);
    let mapped: u64 = scan.ranges.iter().map(|r| r.last - r.first + 1).sum();
    let mut s = format!(
        "<?xml version=\"1.0\" ?>\n\
         <!-- Block map of {image_name}, written by haimg: flash it with\n     \
         `bmaptool copy {image_name} DEVICE` or `haimg flash`. -->\n\
         <bmap version=\"2.0\">\n    \
         <ImageSize> {} </ImageSize>\n    \
         <BlockSize> {BLOCK} </BlockSize>\n    \
         <BlocksCount> {blocks} </BlocksCount>\n    \
         <MappedBlocksCount> {mapped} </MappedBlocksCount>\n    \
         <ChecksumType> sha256 </ChecksumType>\n    \
         <BmapFileChecksum> {} </BmapFileChecksum>\n    \
         <BlockMap>\n",
        scan.size,
        "0".repeat(64)
    );
    for r in &scan.ranges {
        let span = if r.first == r.last {
            r.first.to_string()
        } else {
            format!("{}-{}", r.first, r.last)
        };
        s.push_str(&format!(
            "        <Range chksum=\"{}\"> {span} </Range>\n",
            r.sha256
        ));
    }
    s.push_str("    </BlockMap>\n</bmap>\n");
    let sum = hex::encode(Sha256::digest(s.as_bytes()));
    s.replacen(&"0".repeat(64), &sum, 1)
}

/// Read a bmap file (format 2.x, sha256): the image size and its mapped
/// ranges with their checksums. The file's own checksum is checked first.
pub fn parse(text: &str) -> Result<Scan, String> {
    let tag = |name: &str| -> Option<&str> {
        let open = format!("<{name}>");
        let from = text.find(&open)? + open.len();
        let to = text[from..].find('<')? + from;
        Some(text[from..to].trim())
    };
    let version = text
        .split("<bmap version=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .ok_or("no <bmap version=…> element")?;
    if !version.starts_with("2.") {
        return Err(format!(
            "bmap version {version}: haimg reads version 2 (sha256) files"
        ));
    }
    if tag("ChecksumType") != Some("sha256") {
        return Err("only sha256 block maps are supported".into());
    }
    let num = |name: &str| -> Result<u64, String> {
        tag(name)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no valid <{name}>"))
    };
    if num("BlockSize")? != BLOCK {
        return Err(format!(
            "block size {} (haimg reads {BLOCK})",
            num("BlockSize")?
        ));
    }
    let size = num("ImageSize")?;
    let sum = tag("BmapFileChecksum").ok_or("no <BmapFileChecksum>")?;
    let zeroed = text.replacen(sum, &"0".repeat(sum.len()), 1);
    if hex::encode(Sha256::digest(zeroed.as_bytes())) != sum {
        return Err("its BmapFileChecksum does not match: the file is damaged".into());
    }
    let mut ranges = Vec::new();
    for part in text.split("<Range").skip(1) {
        let chksum = part
            .split("chksum=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .ok_or("a <Range> without chksum")?;
        let span = part
            .split('>')
            .nth(1)
            .and_then(|r| r.split('<').next())
            .map(str::trim)
            .ok_or("a <Range> without blocks")?;
        let (a, b) = span.split_once('-').unwrap_or((span, span));
        let (first, last) = match (a.trim().parse::<u64>(), b.trim().parse::<u64>()) {
            (Ok(f), Ok(l)) if f <= l && l * BLOCK < size + BLOCK => (f, l),
            _ => return Err(format!("a bad <Range>: {span}")),
        };
        ranges.push(Range {
            first,
            last,
            sha256: chksum.to_string(),
        });
    }
    Ok(Scan {
        size,
        sha256: String::new(),
        ranges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_merge_touching_ranges_and_round_to_blocks() {
        assert_eq!(
            block_runs(&[
                (0, 4096),
                (4096, 8192),
                (12288, 12289),
                (16384, 16385),
                (28000, 28001)
            ]),
            [(0, 1), (3, 4), (6, 6)]
        );
    }

    #[test]
    fn a_sparse_file_maps_only_its_data_and_hashes_like_sha256sum() {
        let t = tempfile::NamedTempFile::new().expect("tmp");
        let f = t.as_file();
        f.set_len(1 << 20).expect("size");
        f.write_all_at(b"head", 0).expect("write");
        f.write_all_at(b"tail", (1 << 20) - 4).expect("write");
        let s = scan(f, 1 << 20, true).expect("scan");
        let all = std::fs::read(t.path()).expect("read");
        assert_eq!(s.sha256, hex::encode(Sha256::digest(&all)));
        assert_eq!(s.ranges.first().map(|r| r.first), Some(0));
        assert_eq!(s.ranges.last().map(|r| r.last), Some(255));
        let mapped: u64 = s.ranges.iter().map(|r| r.last - r.first + 1).sum();
        assert!(mapped < 256, "holes are not mapped: {mapped}");
        let x = xml(&s, "t.img");
        let sum = x
            .split("<BmapFileChecksum> ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .expect("checksum");
        let zeroed = x.replacen(sum, &"0".repeat(64), 1);
        assert_eq!(sum, hex::encode(Sha256::digest(zeroed.as_bytes())));
        let back = parse(&x).expect("parse");
        assert_eq!((back.size, &back.ranges), (s.size, &s.ranges));
        let damaged = x.replacen("<Range chksum=\"", "<Range chksum=\"f", 1);
        assert!(parse(&damaged).expect_err("damaged").contains("damaged"));
    }
}
