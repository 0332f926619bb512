//! `haimg flash IMAGE DEVICE`: write an image to a whole disk, only where
//! it holds data (its block map, or the holes found), then read it back.
//! Refused before a byte is written: a partition instead of a disk, a disk
//! mounted, used as swap, held by LVM/RAID/dm-crypt or holding the running
//! system, a non-removable disk without --force, a disk smaller than the
//! image. The disk is opened with O_EXCL, which the kernel refuses while
//! anything has it claimed.

#[cfg(test)]
mod tests;
mod verify;
mod write;

use std::io::{BufRead, IsTerminal, Write as _};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Result, bail};

use crate::cmdline::FlashArgs;
use crate::device::{self, Disk};

fn human(b: u64) -> String {
    let gb = b as f64 / 1e9;
    if gb >= 1.0 {
        format!("{gb:.1} GB")
    } else {
        format!("{:.0} MB", b as f64 / 1e6)
    }
}

fn describe(d: &Disk) -> String {
    format!(
        "{} ({}, {}, serial {}{})",
        d.path.display(),
        d.model,
        human(d.size),
        d.serial.as_deref().unwrap_or("unknown"),
        if d.removable || d.hotplug {
            ", removable"
        } else {
            ""
        }
    )
}

/// The disk, checked: everything that must not be written refuses here.
fn target(a: &FlashArgs, image_size: u64) -> Result<Disk> {
    let root = Path::new("/");
    let num = device::devnum(&a.device)?;
    let disk = device::describe(root, &a.device, &num)?;
    let why = device::holders(root, &disk, device::root_dev().as_deref());
    if !why.is_empty() {
        bail!(
            "refusing to write {}: it is in use\n  {}",
            a.device.display(),
            why.join("\n  ")
        );
    }
    if !disk.removable && !disk.hotplug && !a.force {
        bail!(
            "refusing to write {}: it is not a removable disk (an internal disk?); pass --force if it really is the one",
            describe(&disk)
        );
    }
    if disk.size < image_size {
        bail!(
            "{} is too small: the image needs {} bytes ({}), the disk has {} ({})",
            a.device.display(),
            image_size,
            human(image_size),
            disk.size,
            human(disk.size)
        );
    }
    Ok(disk)
}

fn confirm(a: &FlashArgs, disk: &Disk, what: &str) -> Result<()> {
    if a.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing to write {} without confirmation: input is not a terminal; pass --yes",
            a.device.display()
        );
    }
    eprint!(
        "Write {what}\n   to {}?\nEverything on that disk will be lost. Type yes to go on: ",
        describe(disk)
    );
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if line.trim() != "yes" {
        bail!("not confirmed: nothing written");
    }
    Ok(())
}

pub fn run(a: &FlashArgs) -> Result<()> {
    let mut job = write::Job::open(&a.image, a.bmap.as_deref(), a.quiet)?;
    let disk = target(a, job.size)?;
    let what = format!(
        "{} ({} image, {} of data{})",
        a.image.display(),
        human(job.size),
        human(job.mapped()),
        job.bmap
            .as_ref()
            .map(|b| format!(", block map {}", b.display()))
            .unwrap_or_default()
    );
    confirm(a, &disk, &what)?;
    let dev = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(rustix::fs::OFlags::EXCL.bits() as i32)
        .open(&a.device)
        .map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::BUSY.raw_os_error()) {
                anyhow::anyhow!(
                    "{} is busy: the kernel has it claimed (mounted, swap, RAID or another program writing it)",
                    a.device.display()
                )
            } else {
                anyhow::Error::new(e).context(format!("opening {}", a.device.display()))
            }
        })?;
    let _wipe = crate::cleanup::WipeGuard::new(&a.device);
    let result = write::write(&mut job, &dev, disk.size, !a.no_verify, a.quiet);
    if let Err(e) = result {
        // Never leave a half-written or unverified disk that looks bootable.
        crate::cleanup::wipe_head(&a.device);
        return Err(e.context(format!(
            "flashing {} (its first MiB is zeroed: it holds no partition table now)",
            a.device.display()
        )));
    }
    if !a.quiet {
        eprintln!(
            "haimg: wrote {} of data to {}{}",
            human(job.mapped()),
            describe(&disk),
            if a.no_verify { "" } else { ", verified" }
        );
    }
    Ok(())
}
