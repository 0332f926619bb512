//! `make bench` helper: decompress (by magic) and sha256 a file through haimg's
//! source stream; prints bytes, seconds and the digest.
use std::io::Read;
use std::time::Instant;

use sha2::{Digest, Sha256};

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: stream FILE"))?;
    let t = Instant::now();
    let mut r = haimg::source::open_decompressed(std::path::Path::new(&path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    println!(
        "{n} {:.3} {}",
        t.elapsed().as_secs_f64(),
        hex::encode(h.finalize())
    );
    Ok(())
}
