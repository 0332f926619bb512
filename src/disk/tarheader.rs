//! One 512-byte tar header block, parsed just enough to route its member:
//! name (ustar prefix included), type, size (octal or GNU base-256), link
//! target, checksum. Bytes are never re-encoded except by `adopt_metadata`.

use std::io::{self, Read};

use super::DiskError;

pub(super) const BLOCK: usize = 512;

/// A tar header block, parsed just enough to route it.
pub(super) struct Header {
    pub(super) raw: [u8; BLOCK],
}

impl Header {
    pub(super) fn typeflag(&self) -> u8 {
        self.raw[156]
    }
    pub(super) fn size(&self) -> Result<u64, DiskError> {
        let f = &self.raw[124..136];
        if f[0] & 0x80 != 0 {
            // GNU base-256: big-endian binary after the marker bit.
            let mut v: u64 = u64::from(f[0] & 0x7f);
            for b in &f[1..] {
                v = v
                    .checked_mul(256)
                    .ok_or_else(|| bad("size field overflows"))?
                    + u64::from(*b);
            }
            return Ok(v);
        }
        octal(f)
    }
    pub(super) fn name(&self) -> String {
        let field = |r: &[u8]| {
            let end = r.iter().position(|&b| b == 0).unwrap_or(r.len());
            String::from_utf8_lossy(&r[..end]).into_owned()
        };
        let name = field(&self.raw[0..100]);
        // ustar: a prefix field for names over 100 bytes.
        if &self.raw[257..262] == b"ustar" && self.raw[263] == b'0' {
            let prefix = field(&self.raw[345..500]);
            if !prefix.is_empty() {
                return format!("{prefix}/{name}");
            }
        }
        name
    }
    /// The header checksum: every byte summed, the checksum field as spaces.
    pub(super) fn sum(&self) -> u64 {
        self.raw
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    u64::from(b' ')
                } else {
                    u64::from(b)
                }
            })
            .sum()
    }
    pub(super) fn checksum_ok(&self) -> bool {
        octal(&self.raw[148..156]).is_ok_and(|stored| stored == self.sum())
    }
    /// Give a hard-link header its target's mode, owner and mtime. mke2fs
    /// applies a link member's metadata to the shared inode, `tar -x` keeps
    /// the target's; this makes the two agree.
    pub(super) fn adopt_metadata(&mut self, target: &[u8; BLOCK]) {
        for r in [100..108, 108..116, 116..124, 136..148, 265..297, 297..329] {
            self.raw[r.clone()].copy_from_slice(&target[r]);
        }
        let field = format!("{:06o}\0 ", self.sum());
        self.raw[148..156].copy_from_slice(field.as_bytes());
    }
    pub(super) fn link_name(&self) -> String {
        let r = &self.raw[157..257];
        let end = r.iter().position(|&b| b == 0).unwrap_or(r.len());
        String::from_utf8_lossy(&r[..end]).into_owned()
    }
    /// Old-style GNU sparse ('S') members carry extension blocks after the header.
    pub(super) fn gnu_sparse_extended(&self) -> bool {
        self.typeflag() == b'S' && self.raw[482] != 0
    }
}

fn octal(f: &[u8]) -> Result<u64, DiskError> {
    let s: String = f
        .iter()
        .take_while(|&&b| b != 0)
        .map(|&b| b as char)
        .collect();
    let s = s.trim();
    if s.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(s, 8).map_err(|_| bad(&format!("bad number {s:?} in a header")))
}

pub(super) fn bad(why: &str) -> DiskError {
    DiskError::BadTar(why.to_string())
}

pub(super) fn read_block(r: &mut impl Read, buf: &mut [u8; BLOCK]) -> Result<bool, DiskError> {
    let mut got = 0;
    while got < BLOCK {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(bad("the tarball is truncated (ends inside a block)")),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(DiskError::BadTar(format!("reading the tarball: {e}"))),
        }
    }
    Ok(true)
}
