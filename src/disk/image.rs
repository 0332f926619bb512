//! The whole disk of one node, written into an already sized file: partition
//! table, the base's ext4 root (made once per run, `shared.rs`) with the
//! node's files, then the FAT boot partition with the base's boot files and
//! the rendered ones.

use std::fs::File;
use std::path::Path;

use super::debugfs::Ext4;
use super::{DiskError, bootfiles, debugfs, ext4, fat, gpt, mbr, root, shared};
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

/// What `node`'s root is made from (`node` sized).
pub fn key<'a>(node: &'a NodePlan, base: &'a Path, epoch: i64) -> shared::Key<'a> {
    shared::Key {
        base,
        len: node.layout.root.1,
        label: &node.profile.root_label,
        boot: node.profile.boot,
        epoch,
    }
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

    // Root: the base's, made once per run (shared.rs), then the node's
    // files and its own UUID.
    let key = key(node, base, epoch);
    let at = shared::Place {
        image: path,
        file,
        offset: layout.root.0,
    };
    let shared = shared::place(&key, node, &at, quiet)?;
    let staging = debugfs::staging_dir(path)?;
    let _guard = crate::cleanup::Guard::new(staging.path());
    let ext4 = Ext4 {
        image: path,
        offset: layout.root.0,
        epoch,
    };
    ext4.apply(&rendered.root, &[], staging.path())?;
    ext4::set_uuid(path, layout.root.0, layout.ids.ext4_uuid, epoch)?;
    let captured = &shared.captured;

    let cmdline = crate::render::kernel_cmdline(node);
    let mut boot = bootfiles::assemble(node, captured, &cmdline)?;
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
