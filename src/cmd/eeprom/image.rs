//! The Raspberry Pi bootloader EEPROM image (`pieeprom.bin`): its sections,
//! its embedded `bootconf.txt`, and the `.sig` beside it. Written by hand:
//! no crate does this. Every rule mirrors raspberrypi/rpi-eeprom's
//! `rpi-eeprom-config` (BootloaderImage.parse/find_file/update) and
//! `rpi-eeprom-digest` (writeSig), read at commit 86759b04 (2026-08-19);
//! the output was compared byte for byte with `rpi-eeprom-config --config`
//! on that commit's firmware-2711 and firmware-2712 default images.

const MAGIC: u32 = 0x55aa_f00f;
const MAGIC_MASK: u32 = 0xffff_f00f;
const PAD_MAGIC: u32 = 0x55aa_feef;
const FILE_MAGIC: u32 = 0x55aa_f11f;
const FILE_HDR_LEN: usize = 20;
const FILENAME_LEN: usize = 12;
/// Modifiable files live in one 4 KiB erase sector; the last 4 KiB of the
/// image is the bootloader's scratch page.
const ERASE: usize = 4096;
pub const MAX_FILE: usize = ERASE - FILE_HDR_LEN;
/// Where modifiable files are looked for: after the read-only part, in the
/// first partition (A/B images have a second).
const READ_ONLY: usize = 64 * 1024;
const PARTITION: usize = 988 * 1024;
pub const SIZES: [usize; 2] = [512 * 1024, 2 * 1024 * 1024];

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EepromError {
    #[error(
        "{0} bytes is not the size of a bootloader EEPROM image (512 KiB for a Pi 4, 2 MiB for a Pi 5)"
    )]
    Size(usize),
    #[error("corrupt EEPROM image: bad section magic {magic:#010x} at offset {offset}")]
    Corrupt { magic: u32, offset: usize },
    #[error("the EEPROM image has no {0} section")]
    NoFile(String),
    #[error("{name} is {len} bytes; at most {max} fit in the EEPROM image")]
    TooLarge {
        name: String,
        len: usize,
        max: usize,
    },
}

struct Section {
    magic: u32,
    offset: usize,
    length: usize,
    name: String,
}

fn be32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(w)
}

pub struct Eeprom {
    bytes: Vec<u8>,
    sections: Vec<Section>,
}

impl Eeprom {
    pub fn parse(bytes: Vec<u8>) -> Result<Eeprom, EepromError> {
        if !SIZES.contains(&bytes.len()) {
            return Err(EepromError::Size(bytes.len()));
        }
        let mut sections = Vec::new();
        let mut offset = 0usize;
        while offset + 8 <= bytes.len() {
            let (magic, length) = (be32(&bytes, offset), be32(&bytes, offset + 4) as usize);
            if magic == 0 || magic == 0xffff_ffff {
                break;
            }
            if magic & MAGIC_MASK != MAGIC {
                return Err(EepromError::Corrupt { magic, offset });
            }
            let name = if magic == FILE_MAGIC && offset + FILE_HDR_LEN <= bytes.len() {
                String::from_utf8_lossy(&bytes[offset + 8..offset + FILE_HDR_LEN])
                    .trim_end_matches('\0')
                    .to_string()
            } else {
                String::new()
            };
            sections.push(Section {
                magic,
                offset,
                length,
                name,
            });
            offset = (offset + 8 + length + 7) & !7;
        }
        Ok(Eeprom { bytes, sections })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The section of modifiable file `name` in the first partition: its
    /// index, and where the next non-padding section starts.
    fn find(&self, name: &str) -> Result<(usize, usize), EepromError> {
        let end = READ_ONLY + PARTITION;
        let i = self
            .sections
            .iter()
            .position(|s| {
                s.offset >= READ_ONLY && s.offset < end && s.magic == FILE_MAGIC && s.name == name
            })
            .ok_or_else(|| EepromError::NoFile(name.into()))?;
        let next = self.sections[i + 1..]
            .iter()
            .find(|s| s.magic != PAD_MAGIC)
            .map_or((self.bytes.len() - ERASE).min(end), |s| s.offset);
        Ok((i, next))
    }

    /// The content of modifiable file `name` (e.g. `bootconf.txt`).
    pub fn file(&self, name: &str) -> Result<&[u8], EepromError> {
        let s = &self.sections[self.find(name)?.0];
        let start = s.offset + 4 + FILE_HDR_LEN;
        let len = s.length.saturating_sub(FILENAME_LEN + 4);
        self.bytes
            .get(start..start + len)
            .ok_or_else(|| EepromError::NoFile(name.into()))
    }

    /// Replace modifiable file `name` with `data`, padding what it freed
    /// with erased bytes (0xff) and a padding section, as rpi-eeprom-config.
    pub fn set_file(&mut self, name: &str, data: &[u8]) -> Result<(), EepromError> {
        let (i, next) = self.find(name)?;
        let at = self.sections[i].offset;
        let is_last = i == self.sections.len() - 1;
        let room = (self.bytes.len() - ERASE)
            .min(next)
            .saturating_sub(at + FILE_HDR_LEN);
        if data.len() > MAX_FILE || data.len() > room {
            return Err(EepromError::TooLarge {
                name: name.into(),
                len: data.len(),
                max: room.min(MAX_FILE),
            });
        }
        let new_len = (data.len() + FILENAME_LEN + 4) as u32;
        self.bytes[at + 4..at + 8].copy_from_slice(&new_len.to_be_bytes());
        let start = at + 4 + FILE_HDR_LEN;
        self.bytes[start..start + data.len()].copy_from_slice(data);
        let mut pad = start + data.len();
        while !pad.is_multiple_of(8) {
            self.bytes[pad] = 0xff;
            pad += 1;
        }
        let mut fill = next.saturating_sub(pad);
        if fill >= 8 && !is_last {
            fill -= 8;
            self.bytes[pad..pad + 4].copy_from_slice(&PAD_MAGIC.to_be_bytes());
            self.bytes[pad + 4..pad + 8].copy_from_slice(&(fill as u32).to_be_bytes());
            pad += 8;
        }
        self.bytes[pad..pad + fill].fill(0xff);
        // The sections after it may have changed (a padding section made).
        *self = Eeprom::parse(std::mem::take(&mut self.bytes))?;
        Ok(())
    }
}

/// `pieeprom.sig` as rpi-eeprom-digest writes it: the image's sha256, the
/// update timestamp, and the SoC it is for.
pub fn sig(image: &[u8], epoch: i64, soc: &str) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "{}\nts: {epoch}\ntarget-soc: {soc}\n",
        hex::encode(Sha256::digest(image))
    )
}
