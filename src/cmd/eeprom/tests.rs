//! The EEPROM image format on synthetic images laid out as the real ones
//! (sections, files, padding, bootconf.txt last, 4 KiB aligned).

use super::image::{Eeprom, EepromError, sig};

const FILE_MAGIC: u32 = 0x55aa_f11f;

fn push_section(img: &mut [u8], at: usize, magic: u32, body: &[u8]) -> usize {
    img[at..at + 4].copy_from_slice(&magic.to_be_bytes());
    img[at + 4..at + 8].copy_from_slice(&(body.len() as u32).to_be_bytes());
    img[at + 8..at + 8 + body.len()].copy_from_slice(body);
    (at + 8 + body.len() + 7) & !7
}

fn file_body(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 16];
    b[..name.len()].copy_from_slice(name.as_bytes());
    b.extend_from_slice(data);
    b
}

/// A padding section from `at` up to `to`, as the real images have between
/// their sections.
fn pad(img: &mut [u8], at: usize, to: usize) {
    let body = vec![0xffu8; to - at - 8];
    push_section(img, at, 0x55aa_feef, &body);
}

/// A Pi 4 sized image: bootcode, a file in the partition, then bootconf.txt
/// in its own 4 KiB sector.
pub fn synthetic(size: usize, conf: &str) -> Vec<u8> {
    let mut img = vec![0xffu8; size];
    let mut at = push_section(&mut img, 0, 0x55aa_f00f, &[0xab; 1000]);
    pad(&mut img, at, 64 * 1024);
    at = push_section(
        &mut img,
        64 * 1024,
        FILE_MAGIC,
        &file_body("pubkey.bin", &[1; 264]),
    );
    pad(&mut img, at, 0x7e000);
    push_section(
        &mut img,
        0x7e000,
        FILE_MAGIC,
        &file_body("bootconf.txt", conf.as_bytes()),
    );
    img
}

#[test]
fn config_round_trips_and_the_rest_is_untouched() {
    let base = "[all]\nBOOT_UART=0\nBOOT_ORDER=0xf41\n";
    let img = synthetic(512 * 1024, base);
    let mut e = Eeprom::parse(img.clone()).expect("parse");
    assert_eq!(e.file("bootconf.txt").expect("conf"), base.as_bytes());
    assert_eq!(e.file("pubkey.bin").expect("key"), &[1u8; 264][..]);
    let new = "[all]\nBOOT_UART=0\nBOOT_ORDER=0xf14\n";
    e.set_file("bootconf.txt", new.as_bytes()).expect("set");
    let out = e.bytes().to_vec();
    let again = Eeprom::parse(out.clone()).expect("reparse");
    assert_eq!(again.file("bootconf.txt").expect("conf"), new.as_bytes());
    assert_eq!(again.file("pubkey.bin").expect("key"), &[1u8; 264][..]);
    // Only the bootconf.txt sector changed, and the scratch page not at all.
    assert_eq!(out[..0x7e000], img[..0x7e000]);
    assert_eq!(out[out.len() - 4096..], img[img.len() - 4096..]);
    // A shorter config leaves erased bytes (0xff) behind it.
    e.set_file("bootconf.txt", b"[all]\n").expect("shorter");
    let tail = &e.bytes()[0x7e000 + 24 + 6..0x7e000 + 24 + base.len()];
    assert!(tail.iter().all(|b| *b == 0xff), "{tail:?}");
}

#[test]
fn bad_images_and_big_configs_are_refused() {
    assert_eq!(
        Eeprom::parse(vec![0xff; 1000]).err(),
        Some(EepromError::Size(1000))
    );
    let mut bad = synthetic(512 * 1024, "[all]\n");
    bad[0x10000] = 0x12;
    assert!(matches!(
        Eeprom::parse(bad).err(),
        Some(EepromError::Corrupt {
            offset: 0x10000,
            ..
        })
    ));
    let mut e = Eeprom::parse(synthetic(512 * 1024, "[all]\n")).expect("parse");
    assert!(matches!(
        e.set_file("bootconf.txt", &[b'x'; 5000]).err(),
        Some(EepromError::TooLarge { .. })
    ));
    assert_eq!(
        e.set_file("nope.txt", b"x").err(),
        Some(EepromError::NoFile("nope.txt".into()))
    );
    assert!(
        e.file("bootconf.txt").is_ok(),
        "a refused update changes nothing"
    );
}

#[test]
fn sig_is_what_rpi_eeprom_digest_writes() {
    // sha256 of "abc", then the timestamp and the SoC, one per line.
    assert_eq!(
        sig(b"abc", 1_796_256_000, "2712"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\nts: 1796256000\ntarget-soc: 2712\n"
    );
}
