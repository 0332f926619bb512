//! Publishers' checksum files: `sha256sum`-style lines (K3s's
//! `sha256sum-arm64.txt`, Ubuntu's `SHA256SUMS`, Debian's `SHA512SUMS`), a
//! `.sha256` next to one file (Raspberry Pi OS), and BSD-style
//! `SHA256 (name) = hash` lines.

use std::fmt;

pub use crate::io::Algo;

/// The algorithm a hex digest of this length belongs to.
fn algo_from_len(n: usize) -> Option<Algo> {
    match n {
        64 => Some(Algo::Sha256),
        128 => Some(Algo::Sha512),
        _ => None,
    }
}

/// An expected digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    pub algo: Algo,
    /// Lowercase hex.
    pub hex: String,
}

impl Digest {
    pub fn parse(hex: &str) -> Option<Digest> {
        let hex = hex.trim().to_ascii_lowercase();
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(Digest {
            algo: algo_from_len(hex.len())?,
            hex,
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = match self.algo {
            Algo::Sha256 => "sha256",
            Algo::Sha512 => "sha512",
        };
        write!(f, "{a}:{}", self.hex)
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ChecksumError {
    #[error("the checksum file has no entry for {0}")]
    NoEntry(String),
    #[error("the checksum file lists {0} more than once, with different hashes")]
    Conflict(String),
    #[error("the checksum file is not in a format haimg reads (sha256sum, sha512sum or BSD lines)")]
    Format,
}

/// The digest listed for `file` (a bare file name).
pub fn find(text: &str, file: &str) -> Result<Digest, ChecksumError> {
    let mut found: Option<Digest> = None;
    let mut any_line = false;
    let mut lone: Option<Digest> = None;
    let mut lines = 0;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        lines += 1;
        let entry = parse_line(line);
        let Some((digest, name)) = entry else {
            // A file holding only a hash names no file: it is the hash of the
            // one file it sits beside.
            if let Some(d) = Digest::parse(line) {
                lone = Some(d);
                any_line = true;
            }
            continue;
        };
        any_line = true;
        // Names may carry a path (`./x`, `dir/x`); match the last component.
        let base = name.rsplit('/').next().unwrap_or(&name);
        if base == file {
            if let Some(prev) = &found
                && *prev != digest
            {
                return Err(ChecksumError::Conflict(file.to_string()));
            }
            found = Some(digest);
        }
    }
    if let Some(d) = found {
        return Ok(d);
    }
    if lines == 1
        && let Some(d) = lone
    {
        return Ok(d);
    }
    if any_line {
        Err(ChecksumError::NoEntry(file.to_string()))
    } else {
        Err(ChecksumError::Format)
    }
}

fn parse_line(line: &str) -> Option<(Digest, String)> {
    // BSD: "SHA256 (name) = hash"
    if let Some(rest) = line
        .strip_prefix("SHA256 (")
        .or_else(|| line.strip_prefix("SHA512 ("))
    {
        let (name, hash) = rest.rsplit_once(") = ")?;
        return Some((Digest::parse(hash)?, name.to_string()));
    }
    // GNU: "hash  name" or "hash *name" (binary mode).
    let (hash, name) = line.split_once(char::is_whitespace)?;
    let d = Digest::parse(hash)?;
    let name = name.trim_start();
    let name = name.strip_prefix('*').unwrap_or(name);
    (!name.is_empty()).then(|| (d, name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn formats() {
        let k3s = format!("{A}  k3s-airgap-images-arm64.tar\n{B}  k3s-arm64\n");
        assert_eq!(find(&k3s, "k3s-arm64").expect("found").hex, B);
        let ubuntu = format!("{A} *ubuntu-24.04-preinstalled-server-arm64+raspi.img.xz\n");
        assert_eq!(
            find(
                &ubuntu,
                "ubuntu-24.04-preinstalled-server-arm64+raspi.img.xz"
            )
            .expect("found")
            .hex,
            A
        );
        let rpi = format!("{B}  2025-11-24-raspios-trixie-arm64-lite.img.xz\n");
        assert_eq!(
            find(&rpi, "2025-11-24-raspios-trixie-arm64-lite.img.xz")
                .expect("found")
                .hex,
            B
        );
        let bsd = format!("SHA256 (x.tgz) = {A}\n");
        assert_eq!(find(&bsd, "x.tgz").expect("found").hex, A);
        let sha512 = format!("{A}{B}  debian.raw\n");
        assert_eq!(
            find(&sha512, "debian.raw").expect("found").algo,
            Algo::Sha512
        );
        assert_eq!(find(&format!("{A}\n"), "anything").expect("lone").hex, A);
        assert_eq!(find(&format!("./dir/{A}"), "x"), Err(ChecksumError::Format));
    }

    #[test]
    fn missing_and_conflicting() {
        let t = format!("{A}  one\n{B}  two\n");
        assert_eq!(
            find(&t, "three"),
            Err(ChecksumError::NoEntry("three".into()))
        );
        let c = format!("{A}  one\n{B}  ./one\n");
        assert_eq!(find(&c, "one"), Err(ChecksumError::Conflict("one".into())));
        assert_eq!(
            find("<html>not found</html>", "one"),
            Err(ChecksumError::Format)
        );
    }
}
