//! The static first-boot files from `overlays/`, shipped inside the binary, and
//! the symlink that enables them.

use super::{Entry, Files, file};
use crate::plan::NodePlan;

/// Every file under `overlays/`, with its path on the node. A unit test checks
/// that this list and the folder agree.
pub const OVERLAY: &[(&str, &str)] = &[
    (
        "etc/default/tailscaled",
        include_str!("../../overlays/etc/default/tailscaled"),
    ),
    (
        "etc/systemd/system/haimg-k3s-role.service",
        include_str!("../../overlays/etc/systemd/system/haimg-k3s-role.service"),
    ),
    (
        "etc/systemd/system/haimg-payload.service",
        include_str!("../../overlays/etc/systemd/system/haimg-payload.service"),
    ),
    (
        "etc/systemd/system/haimg-prepare.service",
        include_str!("../../overlays/etc/systemd/system/haimg-prepare.service"),
    ),
    (
        "etc/systemd/system/haimg-scrub.service",
        include_str!("../../overlays/etc/systemd/system/haimg-scrub.service"),
    ),
    (
        "etc/systemd/system/haimg-storage.service",
        include_str!("../../overlays/etc/systemd/system/haimg-storage.service"),
    ),
    (
        "etc/systemd/system/haimg-tailscale.service",
        include_str!("../../overlays/etc/systemd/system/haimg-tailscale.service"),
    ),
    (
        "etc/systemd/system/haimg.target",
        include_str!("../../overlays/etc/systemd/system/haimg.target"),
    ),
    (
        "etc/systemd/system/k3s.service",
        include_str!("../../overlays/etc/systemd/system/k3s.service"),
    ),
    (
        "etc/systemd/system/tailscaled.service",
        include_str!("../../overlays/etc/systemd/system/tailscaled.service"),
    ),
    (
        "usr/lib/haimg/common.sh",
        include_str!("../../overlays/usr/lib/haimg/common.sh"),
    ),
    (
        "usr/lib/haimg/download.sh",
        include_str!("../../overlays/usr/lib/haimg/download.sh"),
    ),
    (
        "usr/lib/haimg/join.sh",
        include_str!("../../overlays/usr/lib/haimg/join.sh"),
    ),
    (
        "usr/lib/haimg/k3s-role.sh",
        include_str!("../../overlays/usr/lib/haimg/k3s-role.sh"),
    ),
    (
        "usr/lib/haimg/k3s-started.sh",
        include_str!("../../overlays/usr/lib/haimg/k3s-started.sh"),
    ),
    (
        "usr/lib/haimg/k3s-wait.sh",
        include_str!("../../overlays/usr/lib/haimg/k3s-wait.sh"),
    ),
    (
        "usr/lib/haimg/payload.sh",
        include_str!("../../overlays/usr/lib/haimg/payload.sh"),
    ),
    (
        "usr/lib/haimg/prepare.sh",
        include_str!("../../overlays/usr/lib/haimg/prepare.sh"),
    ),
    (
        "usr/lib/haimg/scrub.sh",
        include_str!("../../overlays/usr/lib/haimg/scrub.sh"),
    ),
    (
        "usr/lib/haimg/storage.sh",
        include_str!("../../overlays/usr/lib/haimg/storage.sh"),
    ),
    (
        "usr/lib/haimg/tailscale.sh",
        include_str!("../../overlays/usr/lib/haimg/tailscale.sh"),
    ),
];

/// The overlay files only a server that deploys the stack carries (the
/// witness's user-data stays small): rendered by `render::stack`.
pub const STACK_OVERLAY: &[(&str, &str)] = &[
    (
        "etc/systemd/system/haimg-stack.service",
        include_str!("../../overlays/etc/systemd/system/haimg-stack.service"),
    ),
    (
        "usr/lib/haimg/status.sh",
        include_str!("../../overlays/usr/lib/haimg/status.sh"),
    ),
    (
        "usr/lib/haimg/stack.sh",
        include_str!("../../overlays/usr/lib/haimg/stack.sh"),
    ),
];

/// The unit that pulls in every first-boot step.
pub const TARGET: &str = "haimg.target";

pub fn render(_node: &NodePlan, root: &mut Files) {
    for (path, text) in OVERLAY {
        let mode = if path.ends_with(".sh") { 0o755 } else { 0o644 };
        root.insert((*path).to_string(), file(mode, *text));
    }
    root.insert(
        format!("etc/systemd/system/multi-user.target.wants/{TARGET}"),
        Entry::Symlink {
            target: format!("/etc/systemd/system/{TARGET}"),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::{OVERLAY, STACK_OVERLAY};

    #[test]
    fn overlay_list_matches_folder() {
        let base = concat!(env!("CARGO_MANIFEST_DIR"), "/overlays");
        let mut on_disk = Vec::new();
        let mut stack = vec![std::path::PathBuf::from(base)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("overlays") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p.strip_prefix(base).expect("prefix");
                    on_disk.push(rel.display().to_string());
                }
            }
        }
        on_disk.sort();
        let mut listed: Vec<String> = OVERLAY
            .iter()
            .chain(STACK_OVERLAY)
            .map(|(p, _)| p.to_string())
            .collect();
        listed.sort();
        assert_eq!(on_disk, listed);
    }
}
