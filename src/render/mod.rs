//! render: a [`NodePlan`] becomes the exact files that node needs, on its root
//! filesystem and on its boot partition. YAML comes from a serializer, shell
//! scripts are static (from `overlays/`) and read their values from data files.

mod cloudinit;
mod k3s;
mod shell;
mod units;

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, symlink};
use std::path::Path;

use crate::config::BootKind;
use crate::plan::{ClusterPlan, NodePlan};
use crate::secrets::Secret;

pub use shell::sh_quote;

/// One entry of a rendered tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    File { mode: u32, data: Vec<u8> },
    Symlink { target: String },
}

/// A set of files keyed by path relative to the filesystem root (no leading `/`).
pub type Files = BTreeMap<String, Entry>;

/// Everything a node needs beyond its base OS.
#[derive(Debug, Default, Clone)]
pub struct Rendered {
    /// Files for the root filesystem.
    pub root: Files,
    /// Files for the FAT boot partition (or ESP).
    pub boot: Files,
}

/// The node's secrets, or `None` to write placeholders (`render` without
/// `--with-secrets`).
pub struct SecretValues<'a> {
    pub token: Option<&'a Secret>,
    pub authkey: Option<&'a Secret>,
}

/// Placeholder written instead of a secret when secrets are withheld.
pub const REDACTED: &str = "[redacted: run render --with-secrets to include]\n";

/// Where the boot partition is mounted on the node.
pub fn boot_mount(node: &NodePlan) -> &'static str {
    match node.profile.boot {
        BootKind::Rpi => "/boot/firmware",
        BootKind::Uefi => "/boot/efi",
    }
}

/// Boot partition paths of the secrets, relative to its root.
pub const TOKEN_BOOT_PATH: &str = "haimg/secrets/k3s-token";
pub const AUTHKEY_BOOT_PATH: &str = "haimg/secrets/tailscale-authkey";
/// Placeholder for the root partition's PARTUUID, filled in by the disk stage.
pub const ROOT_PARTUUID_PLACEHOLDER: &str = "@ROOT_PARTUUID@";

pub fn file(mode: u32, data: impl Into<Vec<u8>>) -> Entry {
    Entry::File {
        mode,
        data: data.into(),
    }
}

/// Render all files of one node.
pub fn render(cluster: &ClusterPlan, node: &NodePlan, secrets: &SecretValues<'_>) -> Rendered {
    let mut out = Rendered::default();
    let root = &mut out.root;

    root.insert(
        "etc/hostname".into(),
        file(0o644, format!("{}\n", node.hostname)),
    );
    root.insert(
        "etc/haimg/node.env".into(),
        file(0o644, shell::node_env(cluster, node)),
    );
    root.insert(
        "etc/haimg/tailscale-up.args".into(),
        file(0o644, shell::tailscale_args(cluster, node)),
    );
    for u in &node.users {
        let mut keys = u.ssh_keys.join("\n");
        keys.push('\n');
        root.insert(
            format!("etc/haimg/users/{}/authorized_keys", u.name),
            file(0o644, keys),
        );
        root.insert(
            format!("etc/haimg/users/{}/groups", u.name),
            file(0o644, format!("{}\n", u.groups.join("\n"))),
        );
    }

    // Wired DHCP for systemd-networkd: Debian bases built by haimg have no
    // other network configuration (the first boot test found the NIC left
    // unconfigured). On bases with NetworkManager or ifupdown, networkd is off
    // and this file is inert.
    root.insert(
        "etc/systemd/network/80-haimg-wired.network".into(),
        file(
            0o644,
            "# Written by haimg: DHCP on every wired interface.\n[Match]\nName=en* eth* end*\n\n[Network]\nDHCP=yes\n",
        ),
    );
    root.insert(
        "etc/modules-load.d/haimg.conf".into(),
        file(
            0o644,
            format!(
                "# Written by haimg: modules K3s and flannel need.\n{}\n",
                node.modules.join("\n")
            ),
        ),
    );
    let mut sysctl = String::from("# Written by haimg: K3s networking needs these (seed 000).\n");
    for (k, v) in &node.sysctls {
        sysctl.push_str(&format!("{k} = {v}\n"));
    }
    root.insert("etc/sysctl.d/90-haimg.conf".into(), file(0o644, sysctl));

    k3s::render(cluster, node, root);
    units::render(node, root);

    let cmdline = kernel_cmdline(node);
    match node.profile.boot {
        BootKind::Rpi => {
            out.boot
                .insert("config.txt".into(), file(0o644, config_txt(node)));
            out.boot
                .insert("cmdline.txt".into(), file(0o644, format!("{cmdline}\n")));
        }
        BootKind::Uefi => {
            // kernel-install (systemd-boot) reads this when a kernel is updated
            // on the node, so the command line survives upgrades.
            out.root.insert(
                "etc/kernel/cmdline".into(),
                file(0o644, format!("{cmdline}\n")),
            );
        }
    }

    let secret = |s: Option<&Secret>| match s {
        Some(v) => format!("{}\n", v.expose()),
        None => REDACTED.to_string(),
    };
    out.boot
        .insert(TOKEN_BOOT_PATH.into(), file(0o600, secret(secrets.token)));
    out.boot.insert(
        AUTHKEY_BOOT_PATH.into(),
        file(0o600, secret(secrets.authkey)),
    );

    if node.base.cloud_init || node.profile.cloud_init {
        let seed = cloudinit::seed(node, &out.root);
        out.boot.extend(seed);
    }
    out
}

/// The kernel command line: the profile's, the root device, the node's extras.
pub fn kernel_cmdline(node: &NodePlan) -> String {
    let mut args = vec![format!("root=PARTUUID={ROOT_PARTUUID_PLACEHOLDER}")];
    args.extend(node.cmdline.iter().cloned());
    args.join(" ")
}

/// `config.txt` for a Pi: the profile's lines, then the kernel and initramfs as
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

/// Write a rendered tree under `dir/root` and `dir/boot`. The caller writes into
/// a fresh temporary folder and renames it, so nothing is left half-written.
pub fn write_tree(r: &Rendered, dir: &Path) -> io::Result<()> {
    for (side, files) in [("root", &r.root), ("boot", &r.boot)] {
        for (path, entry) in files {
            let dest = dir.join(side).join(path);
            if let Some(parent) = dest.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(parent)?;
            }
            match entry {
                Entry::File { mode, data } => {
                    let mut f = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(*mode)
                        .open(&dest)?;
                    io::Write::write_all(&mut f, data)?;
                }
                Entry::Symlink { target } => symlink(target, &dest)?,
            }
        }
    }
    Ok(())
}
