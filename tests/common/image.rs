//! Looking into disk images the way an independent judge would: partitions
//! cut out by sfdisk's offsets, files read by debugfs.

use std::path::Path;

use super::{ok, sh, stdout};

/// Copy a partition out of a disk image (offsets from sfdisk) for debugfs.
pub fn partition(img: &Path, n: usize, out: &Path) {
    let pt: serde_json::Value = serde_json::from_str(&ok(
        &sh("sfdisk", &["-J", img.to_str().expect("p")]),
        "sfdisk",
    ))
    .expect("json");
    let p = &pt["partitiontable"]["partitions"][n - 1];
    let (start, size) = (
        p["start"].as_u64().expect("start"),
        p["size"].as_u64().expect("size"),
    );
    ok(
        &sh(
            "dd",
            &[
                &format!("if={}", img.display()),
                &format!("of={}", out.display()),
                "bs=512",
                &format!("skip={start}"),
                &format!("count={size}"),
                "conv=sparse",
                "status=none",
            ],
        ),
        "dd",
    );
}

pub fn debugfs(part: &Path, cmd: &str) -> String {
    stdout(&sh("debugfs", &["-R", cmd, part.to_str().expect("p")]))
}

/// "Flash" an image onto a disk file, growing it to `size` (empty: as is)
/// so first boot finds free space for the data partition.
pub fn flash(img: &Path, disk: &Path, size: &str) {
    let (img, disk) = (img.to_str().expect("p"), disk.to_str().expect("p"));
    ok(&sh("cp", &["--sparse=always", img, disk]), "cp");
    if !size.is_empty() {
        ok(&sh("truncate", &["-s", size, disk]), "truncate");
    }
}
