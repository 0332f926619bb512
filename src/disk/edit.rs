//! A node's image made from an `image` base by editing a copy in place: the
//! base copied sparse (holes stay holes, the kernel copies the data), a new
//! MBR with the node's identifiers over the base's partitions, haimg's root
//! files written into the ext4 root by debugfs, and the FAT boot partition
//! rewritten with the base's boot files, its `config.txt` plus the profile's
//! lines, and the node's boot files. Root keeps the base's size in the image;
//! first boot grows it to the profile's, as for every base.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::base::BaseImage;
use super::debugfs::{self, Ext4};
use super::{DiskError, fat, mbr, repoint};
use crate::config::{BootKind, TableKind};
use crate::io::Progress;
use crate::plan::NodePlan;
use crate::plan::layout::MIB;
use crate::render::Rendered;
use crate::tree::{self, Entry, Files};

/// Units of the bases' own first boot that must not run on a haimg node:
/// Raspberry Pi OS's first-user wizard (`userconfig.service`, userconf-pi)
/// would hold the console for a user nobody types headless; image builders
/// on pi-gen mask it the same way. Masked by a symlink to /dev/null, which
/// systemd honours whether or not the unit exists.
const MASKED: &[&str] = &["userconfig.service"];

/// `node` with the base's partitions as its layout: the image is the base's
/// size, root the base's root (grown at first boot).
pub fn sized(node: &NodePlan, base: &BaseImage) -> NodePlan {
    let mut n = node.clone();
    n.layout.table = if base.gpt {
        TableKind::Gpt
    } else {
        TableKind::Mbr
    };
    n.layout.boot = base.boot;
    n.layout.root = base.root;
    // GPT keeps its backup table after root: at least a MiB there.
    let need = if base.gpt {
        base.root.0 + base.root.1 + MIB
    } else {
        0
    };
    n.layout.size = base.len.max(need).div_ceil(MIB) * MIB;
    n
}

pub fn write(
    file: &File,
    path: &Path,
    node: &NodePlan,
    base: &BaseImage,
    rendered: &Rendered,
    epoch: i64,
    quiet: bool,
) -> Result<(), DiskError> {
    let src = File::open(&base.path).map_err(|e| DiskError::io("the base image", e))?;
    let bar = Progress::bytes(quiet, 0, "copying the base image");
    crate::sparse::copy(&src, file, base.len)
        .map_err(|e| DiskError::io("copying the base image", e))?;
    bar.finish();

    let layout = &node.layout;
    match layout.table {
        TableKind::Mbr => {
            if !mbr::fits(layout) {
                return Err(DiskError::TooLargeForMbr(path.into()));
            }
            file.write_all_at(&mbr::sector0(layout), 0)
                .map_err(|e| DiskError::io("writing the MBR", e))?;
        }
        TableKind::Gpt => {
            let mut f = file
                .try_clone()
                .map_err(|e| DiskError::io("reopening the image", e))?;
            super::gpt::write(&mut f, layout, node.profile.arch)?;
        }
    }
    // The vendor's boot loader names root by the old GUID: re-point it.
    let old_root = base
        .root_partuuid
        .as_deref()
        .filter(|_| layout.table == TableKind::Gpt);
    let new_root = layout.root_partuuid();

    let staging = debugfs::staging_dir(path)?;
    let _guard = crate::cleanup::Guard::new(staging.path());
    let mut root_files = rendered.root.clone();
    for unit in MASKED {
        root_files.insert(
            format!("etc/systemd/system/{unit}"),
            Entry::Symlink {
                target: "/dev/null".into(),
            },
        );
    }
    // The same identity files a tarball base loses; folders (tailscale's
    // state) are never in a vendor's image.
    let remove: Vec<&str> = super::root::IDENTITY
        .iter()
        .copied()
        .filter(|p| !p.ends_with('/') && !root_files.contains_key(*p))
        .collect();
    let ext4 = Ext4 {
        image: path,
        offset: layout.root.0,
        epoch,
    };
    if let Some(old) = old_root {
        root_files.extend(repoint::root_files(&ext4, old, &new_root)?);
    }
    ext4.apply(&root_files, &remove, staging.path())?;

    let mut boot = base_boot_files(&src, base, &staging.path().join("boot"))?;
    match node.profile.boot {
        BootKind::Rpi => {
            let config = config_txt(&boot, node)?;
            boot.insert("config.txt".into(), tree::file(0o644, config));
        }
        BootKind::Uefi => {
            // The ESP is the vendor's (its boot loader); haimg's boot-side
            // files are in root (render::boot_dir). Rewritten only when a
            // boot-loader entry on it names root.
            let repointed = match old_root {
                Some(old) => repoint::esp_files(&mut boot, old, &new_root)?,
                None => false,
            };
            if !repointed && rendered.boot.is_empty() {
                return Ok(());
            }
        }
    }
    boot.extend(rendered.boot.clone());
    // The old FAT's clusters would stay as stale mapped data: punch them out.
    rustix::fs::fallocate(
        file,
        rustix::fs::FallocateFlags::PUNCH_HOLE | rustix::fs::FallocateFlags::KEEP_SIZE,
        layout.boot.0,
        layout.boot.1,
    )
    .map_err(|e| DiskError::io("clearing the boot partition", e.into()))?;
    let mut total = 0;
    for (p, e) in &boot {
        total += e.size().map_err(|err| DiskError::io(p, err))?;
    }
    if total + total / 50 + 4 * MIB > layout.boot.1 {
        return Err(DiskError::Fat(format!(
            "the base's boot partition ({} MiB) cannot hold its files and the node's ({} MiB); leave out the air-gap images (`airgap_images = false` under [k3s])",
            layout.boot.1 / MIB,
            total.div_ceil(MIB)
        )));
    }
    let bar = Progress::bytes(quiet, total, "boot partition");
    let volume = fat::Volume {
        start: layout.boot.0,
        len: layout.boot.1,
        label: &base.boot_label,
        volume_id: layout.ids.fat_volume_id,
        epoch,
    };
    fat::build(file, &volume, &boot, &|n| bar.set(n))?;
    bar.finish();
    Ok(())
}

/// Every file of the base's FAT boot partition, copied out to `dir`.
fn base_boot_files(src: &File, base: &BaseImage, dir: &Path) -> Result<Files, DiskError> {
    let fs = lamfat::FileSystem::new(
        fat::Slice::new(src, base.boot.0, base.boot.1),
        lamfat::FsOptions::new(),
    )
    .map_err(|e| DiskError::Fat(format!("reading the base's boot partition: {e:?}")))?;
    let mut out = Files::new();
    let mut todo = vec![(fs.root_dir(), String::new())];
    let mut n = 0u32;
    while let Some((d, prefix)) = todo.pop() {
        for e in d.iter() {
            let e =
                e.map_err(|e| DiskError::Fat(format!("reading the base's boot partition: {e:?}")))?;
            let name = e.file_name();
            if name == "." || name == ".." {
                continue;
            }
            let rel = format!("{prefix}{name}");
            if e.is_dir() {
                todo.push((e.to_dir(), format!("{rel}/")));
                continue;
            }
            n += 1;
            let host = dir.join(n.to_string());
            if n == 1 {
                std::fs::create_dir_all(dir)
                    .map_err(|e| DiskError::io("a folder for boot files", e))?;
            }
            let mut data = Vec::new();
            e.to_file()
                .read_to_end(&mut data)
                .map_err(|err| DiskError::io(&format!("boot partition file {rel}"), err))?;
            std::fs::write(&host, &data).map_err(|err| DiskError::io(&rel, err))?;
            out.insert(rel, tree::host(0o644, host));
        }
    }
    Ok(out)
}

/// The base's `config.txt` (it names the base's kernel and initramfs) with
/// the profile's lines appended under `[all]`, so they apply whatever
/// conditional section the base ends in.
fn config_txt(boot: &BTreeMap<String, Entry>, node: &NodePlan) -> Result<String, DiskError> {
    let mut s = match boot.get("config.txt") {
        Some(e) => {
            let mut v = String::new();
            e.reader()
                .and_then(|mut r| r.read_to_string(&mut v))
                .map_err(|err| DiskError::io("the base's config.txt", err))?;
            v
        }
        None => String::new(),
    };
    if !s.is_empty() && !s.ends_with('\n') {
        s.push('\n');
    }
    s.push_str(&format!(
        "\n# Added by haimg (profile {}).\n[all]\n",
        node.profile.name
    ));
    for l in &node.profile.config_txt {
        s.push_str(l);
        s.push('\n');
    }
    Ok(s)
}
