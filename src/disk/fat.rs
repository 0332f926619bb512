//! The FAT32 boot partition / ESP, written with lamfat (rust-fatfs 0.4: the
//! last crates.io `fatfs`, 0.3.6, writes folders fsck.fat rejects) straight into
//! the partition's byte range of the image.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use lamfat::{
    Date, DateTime, FatType, FileSystem, FormatVolumeOptions, FsOptions, Time, TimeProvider,
};

use super::DiskError;
use crate::tree::{Entry, Files};

/// A window onto `[start, start+len)` of a file.
pub struct Slice<'a> {
    file: &'a File,
    start: u64,
    len: u64,
    pos: u64,
}

impl<'a> Slice<'a> {
    pub fn new(file: &'a File, start: u64, len: u64) -> Self {
        Slice {
            file,
            start,
            len,
            pos: 0,
        }
    }
}

impl Read for Slice<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = self.len.saturating_sub(self.pos) as usize;
        let n = buf.len().min(room);
        let got = self.file.read_at(&mut buf[..n], self.start + self.pos)?;
        self.pos += got as u64;
        Ok(got)
    }
}

impl Write for Slice<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.len.saturating_sub(self.pos) as usize;
        if room == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "end of FAT partition",
            ));
        }
        let n = buf.len().min(room);
        let put = self.file.write_at(&buf[..n], self.start + self.pos)?;
        self.pos += put as u64;
        Ok(put)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Slice<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(o) => Some(o),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match new {
            Some(p) if p <= self.len => {
                self.pos = p;
                Ok(p)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek outside the FAT partition",
            )),
        }
    }
}

/// Every timestamp is SOURCE_DATE_EPOCH (clamped to FAT's 1980–2107 range).
#[derive(Debug, Clone, Copy)]
pub struct FixedTime(pub DateTime);

impl FixedTime {
    pub fn from_epoch(epoch: i64) -> FixedTime {
        let days = epoch.div_euclid(86_400);
        let secs = epoch.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let (y, m, d, secs) = if y < 1980 {
            (1980, 1, 1, 0)
        } else if y > 2107 {
            (2107, 12, 31, 86_399)
        } else {
            (y, m, d, secs)
        };
        let date = Date::new(y as u16, m as u16, d as u16);
        let time = Time::new(
            (secs / 3600) as u16,
            (secs / 60 % 60) as u16,
            (secs % 60) as u16,
            0,
        );
        FixedTime(DateTime::new(date, time))
    }
}

impl TimeProvider for FixedTime {
    fn get_current_date(&self) -> Date {
        self.0.date
    }
    fn get_current_date_time(&self) -> DateTime {
        self.0
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Largest cluster (≤ 4 KiB) that still gives FAT32 its minimum of 65 525
/// clusters, with a margin for the FATs and reserved sectors.
fn cluster_size(len: u64) -> u32 {
    let mut c: u32 = 4096;
    while c > 512 && len / u64::from(c) < 66_000 {
        c /= 2;
    }
    c
}

fn fat_err(what: &str, e: impl std::fmt::Debug) -> DiskError {
    DiskError::Fat(format!("{what}: {e:?}"))
}

/// The FAT volume to make: where, and its identity.
pub struct Volume<'a> {
    pub start: u64,
    pub len: u64,
    pub label: &'a str,
    pub volume_id: u32,
    /// Timestamp of every entry (SOURCE_DATE_EPOCH).
    pub epoch: i64,
}

/// Format the volume's byte range of `file` as FAT32 and fill it with `files`
/// (paths with `/`, created with their folders).
pub fn build(
    file: &File,
    vol: &Volume<'_>,
    files: &Files,
    progress: &dyn Fn(u64),
) -> Result<(), DiskError> {
    let (start, len, label, volume_id, epoch) =
        (vol.start, vol.len, vol.label, vol.volume_id, vol.epoch);
    let mut label_bytes = [b' '; 11];
    for (i, b) in label.bytes().take(11).enumerate() {
        label_bytes[i] = b;
    }
    let total_sectors =
        u32::try_from(len / 512).map_err(|_| DiskError::Fat("boot partition too large".into()))?;
    let opts = FormatVolumeOptions::new()
        .fat_type(FatType::Fat32)
        .bytes_per_cluster(cluster_size(len))
        .total_sectors(total_sectors)
        .volume_id(volume_id)
        .volume_label(label_bytes);
    lamfat::format_volume(
        &mut lamfat::StdIoWrapper::new(Slice::new(file, start, len)),
        opts,
    )
    .map_err(|e| fat_err("formatting", e))?;

    let fs = FileSystem::new(
        Slice::new(file, start, len),
        FsOptions::new().time_provider(FixedTime::from_epoch(epoch)),
    )
    .map_err(|e| fat_err("opening the new FAT volume", e))?;
    let root = fs.root_dir();
    let mut done = 0u64;
    for (path, entry) in files {
        // FAT has no symlinks; the boot side of a tree holds none.
        if matches!(entry, Entry::Symlink { .. }) {
            continue;
        }
        let mut dir = root.clone();
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let Some((name, folders)) = parts.split_last() else {
            continue;
        };
        for f in folders {
            dir = match dir.open_dir(f) {
                Ok(d) => d,
                Err(_) => dir
                    .create_dir(f)
                    .map_err(|e| fat_err(&format!("creating folder {f}"), e))?,
            };
        }
        let mut out = dir
            .create_file(name)
            .map_err(|e| fat_err(&format!("creating {path}"), e))?;
        out.truncate().map_err(|e| fat_err(path, e))?;
        let w = &mut out;
        let mut r = entry.reader().map_err(|e| DiskError::io(path, e))?;
        let written = io::copy(&mut r, w).map_err(|e| {
            if e.kind() == io::ErrorKind::WriteZero || e.to_string().contains("NotEnoughSpace") {
                DiskError::BootFull(path.clone())
            } else {
                DiskError::io(path, e)
            }
        })?;
        done += written;
        progress(done);
    }
    drop(root);
    fs.unmount()
        .map_err(|e| fat_err("closing the FAT volume", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_675), (2023, 11, 14));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn cluster_sizes_keep_fat32_valid() {
        for mib in [64u64, 128, 256, 512, 4096] {
            let len = mib * 1024 * 1024;
            assert!(len / u64::from(cluster_size(len)) >= 65_525, "{mib} MiB");
        }
    }
}
