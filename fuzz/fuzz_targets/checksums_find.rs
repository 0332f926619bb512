//! Any text as a publisher's checksums file: find must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = haimg::source::checksums::find(text, "k3s-arm64");
        let _ = haimg::source::checksums::Digest::parse(text);
    }
});
