//! The disk `flash` is asked to write: what it is (model, size, serial,
//! removable) and what holds it (a mount, swap, LVM/RAID/dm-crypt, the
//! running system's root), read from sysfs and procfs as lsblk reads them.
//! Everything below a `root` folder ("/" in use, a fake tree in tests).
//! Ground floor: uses nothing else of haimg.

use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("{0}: {1}")]
    Stat(PathBuf, std::io::Error),
    #[error("{0} is not a block device (flash writes whole disks, e.g. /dev/sdb)")]
    NotBlock(PathBuf),
    #[error("{path} is partition {part} of /dev/{disk}: flash the whole disk, /dev/{disk}")]
    Partition {
        path: PathBuf,
        part: String,
        disk: String,
    },
    #[error("{0}: not found in /sys/dev/block ({1})")]
    Sysfs(PathBuf, std::io::Error),
}

/// A whole disk.
#[derive(Debug, Clone)]
pub struct Disk {
    pub path: PathBuf,
    /// Kernel name: sdb, nvme0n1, mmcblk0, loop3.
    pub name: String,
    pub size: u64,
    pub model: String,
    pub serial: Option<String>,
    pub removable: bool,
    /// On USB or an SD slot: unplugged like a removable disk (lsblk's HOTPLUG).
    pub hotplug: bool,
    /// The disk and its partitions: (kernel name, "major:minor").
    pub nodes: Vec<(String, String)>,
}

fn read(p: &Path) -> Option<String> {
    fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// "major:minor" of a block device node.
pub fn devnum(path: &Path) -> Result<String, DeviceError> {
    use rustix::fs::{FileType, major, minor, stat};
    let st = stat(path).map_err(|e| DeviceError::Stat(path.into(), e.into()))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::BlockDevice {
        return Err(DeviceError::NotBlock(path.into()));
    }
    Ok(format!("{}:{}", major(st.st_rdev), minor(st.st_rdev)))
}

/// Describe the disk whose node `path` has device number `num`.
pub fn describe(root: &Path, path: &Path, num: &str) -> Result<Disk, DeviceError> {
    let link = root.join("sys/dev/block").join(num);
    let real = fs::canonicalize(&link).map_err(|e| DeviceError::Sysfs(path.into(), e))?;
    let name = real
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if real.join("partition").exists() {
        let disk = real
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Err(DeviceError::Partition {
            path: path.into(),
            part: name,
            disk,
        });
    }
    let mut nodes = vec![(name.clone(), num.to_string())];
    if let Ok(rd) = fs::read_dir(&real) {
        let mut parts: Vec<(String, String)> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("partition").exists())
            .filter_map(|e| {
                let dev = read(&e.path().join("dev"))?;
                Some((e.file_name().to_string_lossy().into_owned(), dev))
            })
            .collect();
        parts.sort();
        nodes.extend(parts);
    }
    let dev = |f: &str| read(&real.join("device").join(f));
    let model = [dev("vendor"), dev("model")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let sectors: u64 = read(&real.join("size"))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let path_text = real.to_string_lossy();
    Ok(Disk {
        path: path.into(),
        size: sectors * 512,
        model: if model.is_empty() {
            "unknown model".into()
        } else {
            model
        },
        serial: dev("serial").or_else(|| read(&real.join("serial"))),
        removable: read(&real.join("removable")).as_deref() == Some("1"),
        hotplug: path_text.contains("/usb") || name.starts_with("mmcblk"),
        nodes,
        name,
    })
}

/// Why the disk must not be written, one line each; empty when free.
/// `root_dev`: "major:minor" of the running system's `/`.
pub fn holders(root: &Path, disk: &Disk, root_dev: Option<&str>) -> Vec<String> {
    let mut why = Vec::new();
    let mountinfo = fs::read_to_string(root.join("proc/self/mountinfo")).unwrap_or_default();
    for line in mountinfo.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let source = line
            .split(" - ")
            .nth(1)
            .and_then(|r| r.split(' ').nth(1))
            .unwrap_or("");
        let (Some(num), Some(at)) = (f.get(2), f.get(4)) else {
            continue;
        };
        for (name, dev) in &disk.nodes {
            if dev == num || source == format!("/dev/{name}") {
                let what = if *at == "/" {
                    " (the running system's root)"
                } else {
                    ""
                };
                why.push(format!("/dev/{name} is mounted at {at}{what}"));
            }
        }
    }
    let swaps = fs::read_to_string(root.join("proc/swaps")).unwrap_or_default();
    for line in swaps.lines().skip(1) {
        let used = line.split_whitespace().next().unwrap_or("");
        for (name, _) in &disk.nodes {
            if used == format!("/dev/{name}") {
                why.push(format!("/dev/{name} is in use as swap (swapoff it first)"));
            }
        }
    }
    let block = root.join("sys/block").join(&disk.name);
    for (name, _) in &disk.nodes {
        let dir = if *name == disk.name {
            block.join("holders")
        } else {
            block.join(name).join("holders")
        };
        for h in fs::read_dir(dir).into_iter().flatten().flatten() {
            let holder = h.file_name().to_string_lossy().into_owned();
            let label = read(&root.join("sys/block").join(&holder).join("dm/name"))
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            why.push(format!(
                "/dev/{name} is held by {holder}{label}: part of LVM, RAID or dm-crypt"
            ));
        }
    }
    if let Some(r) = root_dev
        && let Some((name, _)) = disk.nodes.iter().find(|(_, d)| d == r)
    {
        why.push(format!(
            "/dev/{name} holds the running system's root file system"
        ));
    }
    why.dedup();
    why
}

/// "major:minor" of the file system holding `/`.
pub fn root_dev() -> Option<String> {
    use rustix::fs::{major, minor, stat};
    let st = stat("/").ok()?;
    Some(format!("{}:{}", major(st.st_dev), minor(st.st_dev)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(root: &Path, p: &str, text: &str) {
        let p = root.join(p);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(p, text).expect("write");
    }

    /// sda with sda1 and sda2, as sysfs lays them out.
    fn fake() -> tempfile::TempDir {
        let t = tempfile::tempdir().expect("tmp");
        let r = t.path();
        let dev = "sys/devices/pci0000:00/usb2/host0/block/sda";
        put(r, &format!("{dev}/size"), "62333952\n");
        put(r, &format!("{dev}/removable"), "0\n");
        put(r, &format!("{dev}/device/vendor"), "Samsung \n");
        put(r, &format!("{dev}/device/model"), "Portable SSD T7\n");
        put(r, &format!("{dev}/sda1/partition"), "1\n");
        put(r, &format!("{dev}/sda1/dev"), "8:1\n");
        put(r, &format!("{dev}/sda2/partition"), "2\n");
        put(r, &format!("{dev}/sda2/dev"), "8:2\n");
        fs::create_dir_all(r.join(format!("{dev}/holders"))).expect("mkdir");
        fs::create_dir_all(r.join(format!("{dev}/sda2/holders"))).expect("mkdir");
        fs::create_dir_all(r.join("sys/dev/block")).expect("mkdir");
        fs::create_dir_all(r.join("sys/block")).expect("mkdir");
        for (num, target) in [
            ("8:0", dev.to_string()),
            ("8:1", format!("{dev}/sda1")),
            ("8:2", format!("{dev}/sda2")),
        ] {
            std::os::unix::fs::symlink(r.join(target), r.join("sys/dev/block").join(num))
                .expect("link");
        }
        std::os::unix::fs::symlink(r.join(dev), r.join("sys/block/sda")).expect("link");
        put(r, "proc/swaps", "Filename Type Size Used Priority\n");
        put(
            r,
            "proc/self/mountinfo",
            "22 27 0:21 / /proc rw - proc proc rw\n",
        );
        t
    }

    #[test]
    fn a_free_usb_disk_is_described_and_free() {
        let t = fake();
        let d = describe(t.path(), Path::new("/dev/sda"), "8:0").expect("disk");
        assert_eq!(d.name, "sda");
        assert_eq!(d.size, 62_333_952 * 512);
        assert_eq!(d.model, "Samsung Portable SSD T7");
        assert!(!d.removable && d.hotplug, "USB counts as hotplug");
        assert_eq!(d.nodes.len(), 3);
        assert!(holders(t.path(), &d, Some("0:30")).is_empty());
    }

    #[test]
    fn a_partition_is_refused_naming_its_disk() {
        let t = fake();
        let e = describe(t.path(), Path::new("/dev/sda1"), "8:1").expect_err("partition");
        assert!(
            e.to_string().contains("flash the whole disk, /dev/sda"),
            "{e}"
        );
    }

    #[test]
    fn each_holder_is_named() {
        let t = fake();
        let r = t.path();
        put(
            r,
            "proc/self/mountinfo",
            "30 1 8:1 / /media/boot rw - vfat /dev/sda1 rw\n31 1 0:33 / / rw - btrfs /dev/sda2 rw\n",
        );
        put(
            r,
            "proc/swaps",
            "Filename Type Size Used Priority\n/dev/sda2 partition 1 0 -2\n",
        );
        let dev = "sys/devices/pci0000:00/usb2/host0/block/sda";
        fs::create_dir_all(r.join(format!("{dev}/sda2/holders/dm-0"))).expect("mkdir");
        put(r, "sys/block/dm-0/dm/name", "vg0-root\n");
        let d = describe(r, Path::new("/dev/sda"), "8:0").expect("disk");
        let why = holders(r, &d, Some("8:2")).join("\n");
        for want in [
            "/dev/sda1 is mounted at /media/boot",
            "/dev/sda2 is mounted at / (the running system's root)",
            "/dev/sda2 is in use as swap",
            "/dev/sda2 is held by dm-0 (vg0-root)",
            "/dev/sda2 holds the running system's root file system",
        ] {
            assert!(why.contains(want), "{want} missing from:\n{why}");
        }
    }
}
