//! `build --format user-data`: the node as one cloud-init user-data file
//! that turns a provider's stock Debian or Ubuntu VM into it. The same root
//! files and first-boot steps as the node's image (not a second
//! implementation), minus what describes the image's own disk (fstab,
//! machine-id, resolver, networkd): the VM keeps its provider's. What the
//! image carries on its boot partition (secrets, manifest) goes to
//! /var/lib/haimg/boot; the payload is downloaded on the VM from its pinned
//! URLs and checked against its sha256 (usr/lib/haimg/download.sh).

use std::io::Write;

use super::cloudinit::{Extra, cloud_config};
use super::{Entry, Rendered};
use crate::plan::NodePlan;
use crate::source::Download;

/// Where the boot partition's files live on a VM made from user-data.
pub const VM_BOOT_DIR: &str = super::ROOT_BOOT_DIR;

/// Cloud providers that cap user-data at 16 KiB (as raw bytes): above it,
/// the file is gzipped (cloud-init reads gzip by its magic bytes).
pub const SMALL_LIMIT: usize = 16 * 1024;

/// Root files that belong to the VM, not to haimg.
fn vm_owns(path: &str) -> bool {
    matches!(path, "etc/fstab" | "etc/machine-id" | "etc/resolv.conf")
        || path.starts_with("etc/kernel/")
        || (path.starts_with("etc/systemd/system/") && path.contains("systemd-networkd"))
}

/// The user-data text (`#cloud-config`), and whether it was gzipped.
/// `rendered` is the node's render for [`super::Target::UserData`] (its
/// node.env names VM_BOOT_DIR as the boot side).
pub fn vm_user_data(
    node: &NodePlan,
    rendered: &Rendered,
    downloads: &[Download],
) -> (Vec<u8>, bool) {
    let mut root = rendered.root.clone();
    root.retain(|p, _| !vm_owns(p));
    let mut extra = Extra {
        vm: true,
        ..Extra::default()
    };
    for (path, entry) in &rendered.boot {
        if let (true, Entry::File { mode, data }) = (path.starts_with("haimg/"), entry) {
            extra
                .files
                .push((format!("{VM_BOOT_DIR}/{path}"), *mode, data.clone()));
        }
    }
    let urls: String = downloads
        .iter()
        .map(|d| {
            let member = d
                .member
                .as_deref()
                .map_or(String::new(), |m| format!(" {m}"));
            format!("{} {} {}{member}\n", d.sha256, d.url, d.name)
        })
        .collect();
    extra.files.push((
        "/etc/haimg/payload.urls".into(),
        0o644,
        format!("# Written by haimg: SHA256 URL NAME [MEMBER], fetched by download.sh.\n{urls}")
            .into_bytes(),
    ));
    extra.files.push((
        "/etc/haimg/from-user-data".into(),
        0o644,
        b"# This node was made from haimg's user-data: scrub.sh wipes cloud-init's copies of it.\n"
            .to_vec(),
    ));
    extra
        .before_start
        .push(vec!["sh".into(), "/usr/lib/haimg/download.sh".into()]);
    let text = cloud_config(node, &root, &extra);
    if text.len() <= SMALL_LIMIT {
        return (text, false);
    }
    // mtime 0 in the gzip header: the same inputs give the same bytes.
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    match gz.write_all(&text).and_then(|()| gz.finish()) {
        Ok(z) => (z, true),
        Err(_) => (text, false),
    }
}
