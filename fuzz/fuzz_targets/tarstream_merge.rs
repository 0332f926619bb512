//! Any bytes as a base tarball: merge must return Ok or a clear error, never
//! panic, hang or write outside the capture folder.
#![no_main]

use haimg::disk::tarstream::{Rules, merge};
use haimg::tree::{self, Files};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let mut replace = Files::new();
    replace.insert("etc/hostname".into(), tree::file(0o644, "n\n"));
    let capture = |p: &str| p.starts_with("boot/");
    let rules = Rules {
        replace: &replace,
        drop: &["etc/machine-id", "var/lib/tailscale/"],
        capture: &capture,
        capture_dir: dir.path(),
        probe: &["usr/sbin/chronyd"],
        epoch: 0,
    };
    let _ = merge(data, std::io::sink(), &rules);
});
