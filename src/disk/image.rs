//! The whole disk of one node, written into an already sized file: partition
//! table, ext4 root from one tar stream, then the FAT boot partition with the
//! base's boot files and the rendered ones.

use std::fs::File;
use std::path::Path;

use super::{DiskError, bootfiles, fat, gpt, mbr, root};
use crate::config::TableKind;
use crate::io::Progress;
use crate::plan::NodePlan;
use crate::render::Rendered;

/// `node` with its root partition sized to what the image will hold (see
/// [`root::image_len`]): the layout to create the image file for and write.
pub fn sized(node: &NodePlan, base: &Path, rendered: &Rendered) -> NodePlan {
    let len = root::image_len(node, base, &rendered.root);
    let mut n = node.clone();
    n.layout = node.layout.with_root_len(len);
    n
}

/// Write `node`'s image into `file` (at `path`, `node.layout.size` long).
pub fn write(
    file: &File,
    path: &Path,
    node: &NodePlan,
    base: &Path,
    rendered: &Rendered,
    epoch: i64,
    quiet: bool,
) -> Result<(), DiskError> {
    let layout = &node.layout;
    match layout.table {
        TableKind::Mbr => {
            if !mbr::fits(layout) {
                return Err(DiskError::TooLargeForMbr(path.into()));
            }
            std::os::unix::fs::FileExt::write_all_at(file, &mbr::sector0(layout), 0)
                .map_err(|e| DiskError::io("writing the MBR", e))?;
        }
        TableKind::Gpt => {
            let mut f = file
                .try_clone()
                .map_err(|e| DiskError::io("reopening the image", e))?;
            gpt::write(&mut f, layout, node.profile.arch)?;
        }
    }

    // Boot files captured from the base wait here until the FAT is written.
    let dir = path.parent().unwrap_or(Path::new("."));
    let capture_dir = tempfile::Builder::new()
        .prefix(".haimg-boot-")
        .tempdir_in(dir)
        .map_err(|e| DiskError::io("a folder for the boot files", e))?;
    let _guard = crate::cleanup::Guard::new(capture_dir.path());
    let captured = root::make(
        path,
        node,
        base,
        &rendered.root,
        capture_dir.path(),
        epoch,
        quiet,
    )?;

    let cmdline = crate::render::kernel_cmdline(node);
    let mut boot = bootfiles::assemble(node, &captured, &cmdline)?;
    boot.extend(rendered.boot.clone());
    let mut total = 0;
    for (p, e) in &boot {
        total += e.size().map_err(|err| DiskError::io(p, err))?;
    }
    let bar = Progress::bytes(quiet, total, "boot partition");
    let volume = fat::Volume {
        start: layout.boot.0,
        len: layout.boot.1,
        label: &node.profile.boot_label,
        volume_id: layout.ids.fat_volume_id,
        epoch,
    };
    fat::build(file, &volume, &boot, &|n| bar.set(n))?;
    bar.finish();
    Ok(())
}
