//! A Raspberry Pi's boot settings: `config.txt` and `cmdline.txt` on the boot
//! partition, and the same settings for Debian's raspi-firmware kernel hook,
//! which rewrites both files on every kernel install (Debian #996915): without
//! them the first upgrade would drop `root=PARTUUID=…` and the cgroup flag.

use super::{Rendered, file, sh_quote};
use crate::config::BaseKind;
use crate::plan::NodePlan;

pub fn render(node: &NodePlan, cmdline: &str, out: &mut Rendered) {
    // An image base's config.txt names its own kernel: the disk stage keeps
    // it and appends the profile's lines (disk::edit).
    if node.base.kind != BaseKind::Image {
        out.boot
            .insert("config.txt".into(), file(0o644, config_txt(node)));
    }
    out.boot
        .insert("cmdline.txt".into(), file(0o644, format!("{cmdline}\n")));
    out.root.insert(
        "etc/default/raspi-firmware".into(),
        file(0o644, hook_defaults(node)),
    );
    out.root.insert(
        "etc/default/raspi-extra-cmdline".into(),
        file(0o644, format!("{}\n", extra_cmdline(node).join(" "))),
    );
    // Appended by the hook to the config.txt it writes.
    let mut custom = String::new();
    for l in &node.profile.config_txt {
        custom.push_str(l);
        custom.push('\n');
    }
    out.root.insert(
        "etc/default/raspi-firmware-custom".into(),
        file(0o644, custom),
    );
}

/// `config.txt`: the profile's lines, then the kernel and initramfs as
/// Debian's raspi-firmware installs them on the boot partition (`kernel=` and
/// `initramfs … followkernel`, the latter without `=`: facts §1).
fn config_txt(node: &NodePlan) -> String {
    let mut s = String::from("# Written by haimg.\n[all]\n");
    for l in &node.profile.config_txt {
        s.push_str(l);
        s.push('\n');
    }
    s.push_str("kernel=vmlinuz\ninitramfs initrd.img followkernel\n");
    s
}

/// `/etc/default/raspi-firmware`, sourced by the hook as shell: sh-quoted.
/// The hook writes `console=` for each of CONSOLES, then `root=$ROOTPART rw
/// fsck.repair=yes net.ifnames=0 [cma=…] rootwait`, then the extra cmdline.
fn hook_defaults(node: &NodePlan) -> String {
    let consoles: Vec<&str> = node
        .cmdline
        .iter()
        .filter_map(|a| a.strip_prefix("console="))
        .collect();
    format!(
        "# Written by haimg: read by Debian's raspi-firmware kernel hook when it\n\
         # rewrites cmdline.txt and config.txt on a kernel install.\n\
         ROOTPART={}\n\
         CONSOLES={}\n\
         # No cma= argument, as haimg's own cmdline.txt (the Pi 4's default).\n\
         CMA=0\n",
        sh_quote(&format!("PARTUUID={}", node.layout.root_partuuid())),
        sh_quote(&consoles.join(" ")),
    )
}

/// The node's kernel arguments the hook does not write itself.
fn extra_cmdline(node: &NodePlan) -> Vec<&str> {
    node.cmdline
        .iter()
        .map(String::as_str)
        .filter(|a| {
            !a.starts_with("console=")
                && !a.starts_with("root=")
                && !matches!(*a, "rootwait" | "rw" | "fsck.repair=yes")
        })
        .collect()
}
