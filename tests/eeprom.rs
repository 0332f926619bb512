//! `haimg eeprom`: the bootloader-update card's files from a synthetic
//! EEPROM image laid out as the real ones, judged by an independent reader
//! (tests/tools/eeprom.py) and by sha256sum; and every refusal.

mod common;

use std::path::Path;

use common::*;

const CONF: &str = "[all]\nBOOT_UART=1\nBOOT_ORDER=0xf461\nNET_INSTALL_AT_POWER_ON=1\n";

fn py(args: &[&str]) -> std::process::Output {
    let tool = repo().join("tests/tools/eeprom.py");
    let mut all = vec![tool.to_str().expect("p")];
    all.extend_from_slice(args);
    sh("python3", &all)
}

/// A firmware folder as in rpi-eeprom: pieeprom-DATE.bin and recovery.bin.
fn firmware(dir: &Path, size: usize) -> std::path::PathBuf {
    let fw = dir.join(format!("fw{size}"));
    std::fs::create_dir_all(&fw).expect("fw");
    std::fs::write(dir.join("conf.txt"), CONF).expect("conf");
    let img = fw.join("pieeprom-2026-05-26.bin");
    ok(
        &py(&[
            "make",
            img.to_str().expect("p"),
            &size.to_string(),
            dir.join("conf.txt").to_str().expect("p"),
        ]),
        "eeprom.py make",
    );
    std::fs::write(fw.join("recovery.bin"), b"recovery code").expect("recovery");
    fw
}

fn eeprom(dir: &Path, args: &[&str]) -> std::process::Output {
    haimg()
        .arg("eeprom")
        .args(args)
        .env("SOURCE_DATE_EPOCH", "1796256000")
        .current_dir(dir)
        .output()
        .expect("haimg")
}

#[test]
fn a_pi5_card_sets_the_boot_order_and_nothing_else() {
    let t = tempfile::tempdir().expect("tmp");
    let fw = firmware(t.path(), 2 << 20);
    let o = eeprom(
        t.path(),
        &[
            "--board",
            "rpi5",
            "--boot-order",
            "nvme,usb,sd",
            "--out",
            "card",
            "--firmware",
            fw.to_str().expect("p"),
        ],
    );
    ok(&o, "haimg eeprom");
    let card = t.path().join("card");
    let mut names: Vec<String> = std::fs::read_dir(&card)
        .expect("card")
        .map(|e| e.expect("e").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "README.txt",
            "bootconf.txt",
            "pieeprom.sig",
            "pieeprom.upd",
            "recovery.bin"
        ]
    );
    let upd = card.join("pieeprom.upd");
    // The embedded config, read by the independent reader: NVMe, then USB,
    // then SD (0xf146, Imager's Pi 5 preset), PCIE_PROBE for non-HAT+ boards,
    // the release's other settings kept.
    let conf = ok(
        &py(&["read", upd.to_str().expect("p"), "bootconf.txt"]),
        "read",
    );
    assert_eq!(
        conf,
        "[all]\nBOOT_UART=1\nNET_INSTALL_AT_POWER_ON=1\nBOOT_ORDER=0xf146\nPCIE_PROBE=1\n"
    );
    assert_eq!(
        std::fs::read_to_string(card.join("bootconf.txt")).expect("c"),
        conf
    );
    // Every other section is as the release had it.
    let src = fw.join("pieeprom-2026-05-26.bin");
    for name in ["pubkey.bin", "cacert.der"] {
        assert_eq!(
            py(&["read", upd.to_str().expect("p"), name]).stdout,
            py(&["read", src.to_str().expect("p"), name]).stdout,
            "{name}"
        );
    }
    let (a, b) = (
        std::fs::read(&src).expect("src"),
        std::fs::read(&upd).expect("upd"),
    );
    assert_eq!(a.len(), b.len());
    let changed: Vec<usize> = (0..a.len()).filter(|i| a[*i] != b[*i]).collect();
    let sector = changed[0] / 4096;
    assert!(
        changed.iter().all(|i| i / 4096 == sector),
        "only bootconf.txt's sector changes"
    );
    // The .sig: sha256 of the image (by sha256sum), the timestamp, the SoC.
    let sum = ok(&sh("sha256sum", &[upd.to_str().expect("p")]), "sha256sum");
    let sig = std::fs::read_to_string(card.join("pieeprom.sig")).expect("sig");
    assert_eq!(
        sig,
        format!("{}\nts: 1796256000\ntarget-soc: 2712\n", &sum[..64])
    );
    assert_eq!(
        std::fs::read(card.join("recovery.bin")).expect("r"),
        b"recovery code"
    );
    assert!(
        std::fs::read_to_string(card.join("README.txt"))
            .expect("readme")
            .contains("BOOT_ORDER=0xf146")
    );
}

#[test]
fn a_pi4_card_and_every_refusal() {
    let t = tempfile::tempdir().expect("tmp");
    let fw4 = firmware(t.path(), 512 << 10);
    let fw = fw4.to_str().expect("p");
    let o = eeprom(
        t.path(),
        &[
            "--board",
            "rpi4",
            "--boot-order",
            "usb,sd",
            "--out",
            "c4",
            "--firmware",
            fw,
        ],
    );
    ok(&o, "haimg eeprom rpi4");
    let upd = t.path().join("c4/pieeprom.upd");
    let conf = ok(
        &py(&["read", upd.to_str().expect("p"), "bootconf.txt"]),
        "read",
    );
    assert!(
        conf.ends_with("BOOT_ORDER=0xf14\n") && !conf.contains("PCIE_PROBE"),
        "{conf}"
    );
    assert!(
        std::fs::read_to_string(t.path().join("c4/pieeprom.sig"))
            .expect("sig")
            .contains("target-soc: 2711")
    );

    let refused = |args: &[&str], want: &str| {
        let o = eeprom(t.path(), args);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    };
    // A Pi 4 image is not a Pi 5's.
    refused(
        &[
            "--board",
            "rpi5",
            "--boot-order",
            "usb",
            "--out",
            "x",
            "--firmware",
            fw,
        ],
        "not a Raspberry Pi 5 EEPROM image",
    );
    refused(
        &[
            "--board",
            "rpi4",
            "--boot-order",
            "usb,floppy",
            "--out",
            "x",
            "--firmware",
            fw,
        ],
        "unknown boot mode `floppy`",
    );
    refused(
        &[
            "--board",
            "rpi4",
            "--boot-order",
            "usb,sd,usb",
            "--out",
            "x",
            "--firmware",
            fw,
        ],
        "listed twice",
    );
    // An existing card folder is kept without --force.
    let before = std::fs::read(&upd).expect("upd");
    refused(
        &[
            "--board",
            "rpi4",
            "--boot-order",
            "sd",
            "--out",
            "c4",
            "--firmware",
            fw,
        ],
        "not empty; use --force",
    );
    assert_eq!(std::fs::read(&upd).expect("upd"), before);
    // A damaged image: a section header overwritten.
    let bad = t.path().join("bad");
    std::fs::create_dir_all(&bad).expect("bad");
    let mut bytes = std::fs::read(fw4.join("pieeprom-2026-05-26.bin")).expect("img");
    bytes[65536] = 0x12;
    std::fs::write(bad.join("pieeprom.bin"), &bytes).expect("w");
    refused(
        &[
            "--board",
            "rpi4",
            "--boot-order",
            "sd",
            "--out",
            "x",
            "--firmware",
            bad.to_str().expect("p"),
        ],
        "no recovery.bin",
    );
    std::fs::write(bad.join("recovery.bin"), b"r").expect("w");
    refused(
        &[
            "--board",
            "rpi4",
            "--boot-order",
            "sd",
            "--out",
            "x",
            "--firmware",
            bad.to_str().expect("p"),
        ],
        "corrupt EEPROM image",
    );
    // Offline with an empty cache: the pinned release file is named, nothing is written.
    let o = haimg()
        .args([
            "eeprom",
            "--board",
            "rpi5",
            "--boot-order",
            "nvme,sd",
            "--out",
            "x",
            "--offline",
            "--cache",
        ])
        .arg(t.path().join("cache"))
        .current_dir(t.path())
        .output()
        .expect("haimg");
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("raw.githubusercontent.com/raspberrypi/rpi-eeprom/"),
        "{}",
        stderr(&o)
    );
    assert!(!t.path().join("x").exists(), "no output after a refusal");
    let leftovers: Vec<_> = std::fs::read_dir(t.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".haimg"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary folder left");
}
