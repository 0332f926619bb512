//! `haimg eeprom`: the files of a bootloader-update SD card that sets the
//! Pi's boot order (USB or NVMe before SD), as Raspberry Pi Imager's
//! "Bootloader" presets and `rpi-eeprom-update` make them: the release's
//! EEPROM image with the new `bootconf.txt` embedded (`pieeprom.upd`), its
//! `pieeprom.sig`, and `recovery.bin`, which the Pi's boot ROM runs from
//! the card, flashes the EEPROM with, and renames to `recovery.000`
//! (rpi-eeprom-update's help text, commit 86759b04).

mod config;
mod image;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cmdline::{Board, EepromArgs};
use crate::source::checksums::Digest;
use crate::source::fetch::{Artifact, Check, Fetcher};
use image::Eeprom;

/// The rpi-eeprom release files, pinned by commit and sha256: the `default`
/// channel's EEPROM image and recovery.bin of each SoC.
const REPO: &str = "https://raw.githubusercontent.com/raspberrypi/rpi-eeprom/86759b04b22173e10186139ac3ae4debcd0d7252";
const FILES: [(Board, &str, &str, &str, &str); 2] = [
    (
        Board::Rpi4,
        "firmware-2711/default/pieeprom-2026-05-17.bin",
        "f1da1bda48c8f19d6eccd94f160a2c8da48fd0acdbfa47f0ac58353208d188c3",
        "firmware-2711/default/recovery.bin",
        "9ec8816886f3938d962a837347d65ccc1d03e811a84bf1ad4b608906b288d995",
    ),
    (
        Board::Rpi5,
        "firmware-2712/default/pieeprom-2026-05-26.bin",
        "fee8bee6a738a1a61004f0770f15534de7a48a2a199dc4c7af7ed73ab04f18dd",
        "firmware-2712/default/recovery.bin",
        "73dab9a01c139b7d995ac9a4055ee0d15551d7f8dbf1c2605bae584ef7126e0c",
    ),
];

impl Board {
    fn soc(self) -> &'static str {
        match self {
            Board::Rpi4 => "2711",
            Board::Rpi5 => "2712",
        }
    }

    fn size(self) -> usize {
        match self {
            Board::Rpi4 => image::SIZES[0],
            Board::Rpi5 => image::SIZES[1],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Board::Rpi4 => "Raspberry Pi 4",
            Board::Rpi5 => "Raspberry Pi 5",
        }
    }
}

fn pinned(name: &str, path: &str, sha: &str) -> Result<Artifact> {
    Ok(Artifact {
        name: name.into(),
        url: format!("{REPO}/{path}"),
        check: Check::Pinned(
            Digest::parse(sha).with_context(|| format!("bad pinned sha256 for {name}"))?,
        ),
    })
}

/// `pieeprom.bin` (or the newest `pieeprom-DATE.bin`, as in rpi-eeprom's
/// firmware folders and Raspberry Pi OS's
/// /usr/lib/firmware/raspberrypi/bootloader-2712/default) and recovery.bin.
fn from_dir(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let mut dated: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("pieeprom-") && n.ends_with(".bin"))
        })
        .collect();
    dated.sort();
    let plain = dir.join("pieeprom.bin");
    let eeprom = if plain.is_file() {
        plain
    } else {
        dated.pop().with_context(|| {
            format!(
                "{} holds no pieeprom.bin or pieeprom-DATE.bin",
                dir.display()
            )
        })?
    };
    let recovery = dir.join("recovery.bin");
    if !recovery.is_file() {
        bail!("{} holds no recovery.bin", dir.display());
    }
    Ok((eeprom, recovery))
}

fn readme(board: Board, order: &str, list: &str) -> String {
    format!(
        "Bootloader update for a {} (made by haimg {}): BOOT_ORDER={order} ({list}).\n\n\
         1. Copy these files to a blank FAT32 SD card (partition under 32 GB).\n\
         2. Power the Pi off, insert the card, power it on, wait at least 10 seconds.\n\
         3. The green LED blinking rapidly (or a green HDMI screen) means done;\n   \
         recovery.bin renamed itself recovery.000. Power off, remove the card.\n\n\
         bootconf.txt is the configuration embedded in pieeprom.upd, for review.\n",
        board.name(),
        env!("CARGO_PKG_VERSION")
    )
}

pub fn run(a: &EepromArgs) -> Result<()> {
    let order = config::boot_order(&a.boot_order).map_err(anyhow::Error::msg)?;
    let (eeprom_path, recovery_path) = match &a.firmware {
        Some(dir) => from_dir(dir)?,
        None => {
            let (_, bin, bin_sha, rec, rec_sha) = FILES
                .iter()
                .find(|f| f.0 == a.board)
                .context("no release files for this board")?;
            let fetcher = Fetcher::new(&a.fetch.options());
            let soc = a.board.soc();
            (
                fetcher.get(&pinned(&format!("pieeprom ({soc})"), bin, bin_sha)?)?,
                fetcher.get(&pinned(&format!("recovery.bin ({soc})"), rec, rec_sha)?)?,
            )
        }
    };
    let bytes = std::fs::read(&eeprom_path)
        .with_context(|| format!("reading {}", eeprom_path.display()))?;
    if bytes.len() != a.board.size() {
        bail!(
            "{} is {} bytes, not a {} EEPROM image ({} bytes): wrong --board or file?",
            eeprom_path.display(),
            bytes.len(),
            a.board.name(),
            a.board.size()
        );
    }
    let mut eeprom =
        Eeprom::parse(bytes).with_context(|| format!("reading {}", eeprom_path.display()))?;
    let base = String::from_utf8_lossy(eeprom.file("bootconf.txt")?).into_owned();
    // PCIE_PROBE=1 lets the Pi 5 find an NVMe board that is not a HAT+
    // (documentation: computers/raspberry-pi-5/pcie.adoc).
    let nvme = a.board == Board::Rpi5 && a.boot_order.iter().any(|m| m == "nvme");
    let conf = config::edit(&base, &order, nvme);
    eeprom.set_file("bootconf.txt", conf.as_bytes())?;
    // Read back what was embedded: the image must give the config again.
    let check = Eeprom::parse(eeprom.bytes().to_vec())?;
    if check.file("bootconf.txt")? != conf.as_bytes() {
        bail!("internal error: the EEPROM image does not give back its new configuration");
    }
    let recovery = std::fs::read(&recovery_path)
        .with_context(|| format!("reading {}", recovery_path.display()))?;
    let files: [(&str, Vec<u8>); 5] = [
        ("pieeprom.upd", eeprom.bytes().to_vec()),
        (
            "pieeprom.sig",
            image::sig(eeprom.bytes(), super::made_at(), a.board.soc()).into_bytes(),
        ),
        ("recovery.bin", recovery),
        ("bootconf.txt", conf.clone().into_bytes()),
        (
            "README.txt",
            readme(a.board, &order, &a.boot_order.join(",")).into_bytes(),
        ),
    ];
    super::publish_folder(&a.out, a.force, |dir| {
        for (name, data) in &files {
            let p = dir.join(name);
            std::fs::write(&p, data).with_context(|| format!("writing {}", p.display()))?;
        }
        Ok(())
    })?;
    if !a.fetch.quiet {
        eprintln!(
            "haimg: {} bootloader update in {}: BOOT_ORDER={order} ({}); copy its files to a blank FAT32 SD card and boot the Pi from it once",
            a.board.name(),
            a.out.display(),
            a.boot_order.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
