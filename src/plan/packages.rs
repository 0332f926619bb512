//! The Debian packages a haimg node needs from its base, whatever the user
//! lists: `debian` bases get them added to mmdebstrap's `--include`; other
//! bases are checked against them where their package list can be read.
//!
//! The set depends on the profile (boot kind, cloud-init) and not on the
//! node's role, so that every node of one architecture and board shares one
//! cached base: open-iscsi and nfs-common cost the witness a few MB.

use crate::config::BootKind;

use super::NodePlan;

/// One required package and the reason haimg needs it (shown by `plan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Required {
    pub package: &'static str,
    pub why: &'static str,
}

const fn req(package: &'static str, why: &'static str) -> Required {
    Required { package, why }
}

/// Every node, whatever its board.
const COMMON: &[Required] = &[
    req(
        "systemd-sysv",
        "systemd as init: haimg's first-boot steps are units",
    ),
    req("udev", "device nodes and by-label links for the data disk"),
    req(
        "kmod",
        "modules-load.d (overlay, br_netfilter) and modprobe",
    ),
    // mmdebstrap installs no Recommends, which drops systemd's
    // Recommends: systemd-timesyncd. A Pi has no RTC: without a time daemon
    // its clock starts at the build date every boot and TLS to the Tailscale
    // control plane fails (tailscale#9652, #3713).
    req(
        "systemd-timesyncd",
        "the clock: a Pi has no RTC; TLS needs the time",
    ),
    // minbase has no resolver daemon: DHCP's DNS servers never reach
    // /etc/resolv.conf without it (networkd hands them to resolved).
    req(
        "systemd-resolved",
        "DNS from DHCP, for image pulls and the control plane",
    ),
    // logind needs the system bus; without logind an ACPI power-off (a cloud
    // provider's "stop") is ignored.
    req("dbus", "systemd-logind: ACPI power button, clean shutdown"),
    req("passwd", "useradd/usermod for the configured users"),
    req(
        "sudo",
        "the admin users' group `sudo` (root has no password)",
    ),
    req(
        "ca-certificates",
        "TLS to the Tailscale control plane and registries",
    ),
    req("iproute2", "the tailscale0 address check (`ip`)"),
    req("curl", "probing peers' K3s /ping before joining"),
    req("e2fsprogs", "formatting and checking the data partition"),
    req("fdisk", "sfdisk: adding the data partition at first boot"),
    req("mount", "mounting the boot and data partitions"),
    req("openssh-server", "SSH access for the configured users"),
    // Longhorn (seed 000's storage) needs an iSCSI initiator with iscsid
    // running and an NFSv4 client on every node that may hold a replica
    // (longhorn.io docs, "Installation requirements").
    req("open-iscsi", "Longhorn volumes (iscsid)"),
    req("nfs-common", "Longhorn RWX volumes and backups to NFS"),
    req(
        "initramfs-tools",
        "the initramfs the boot loader loads with the kernel",
    ),
];

const RPI: &[Required] = &[req(
    "raspi-firmware",
    "the Pi's boot firmware (start4.elf, fixup4.dat) and its kernel hook",
)];

const UEFI: &[Required] = &[req("systemd-boot", "the UEFI boot loader haimg installs")];

const CLOUD_INIT: &[Required] = &[req("cloud-init", "reads the NoCloud seed on a cloud VM")];

/// Files of which one must be in any base: a time daemon (the packages
/// systemd-timesyncd, chrony, ntp). Checked while the image is made, since
/// only then are a `rootfs` base's contents read.
pub const TIME_DAEMONS: &[&str] = &[
    "usr/lib/systemd/systemd-timesyncd",
    "lib/systemd/systemd-timesyncd",
    "usr/sbin/chronyd",
    "usr/sbin/ntpd",
];

/// What an `image` base must hold of [`COMMON`]: its own boot chain and
/// networking stand in for the initramfs and resolver packages, and only the
/// application stack needs the storage clients (a warning, see
/// [`IMAGE_WANTED`]).
pub fn image_required() -> Vec<Required> {
    COMMON
        .iter()
        .filter(|r| {
            !matches!(r.package, "initramfs-tools" | "systemd-resolved")
                && !IMAGE_WANTED.contains(&r.package)
        })
        .copied()
        .collect()
}

/// Packages an `image` base is warned about, not refused for: Raspberry Pi
/// OS Lite ships without them and first boot does not need them.
pub const IMAGE_WANTED: &[&str] = &["open-iscsi", "nfs-common"];

/// What `node` needs from its base, in a fixed order.
pub fn required(node: &NodePlan) -> Vec<Required> {
    let mut out = COMMON.to_vec();
    out.extend_from_slice(match node.profile.boot {
        BootKind::Rpi => RPI,
        BootKind::Uefi => UEFI,
    });
    if node.base.cloud_init || node.profile.cloud_init {
        out.extend_from_slice(CLOUD_INIT);
    }
    out
}

/// The packages mmdebstrap installs for a `debian` base: haimg's set plus
/// the user's, sorted and without repeats so that equal sets share a cache
/// entry whatever the order they were written in.
pub fn debian_include(node: &NodePlan) -> Vec<String> {
    let mut all: Vec<String> = required(node)
        .iter()
        .map(|r| r.package.to_string())
        .chain(node.base.packages.iter().cloned())
        .collect();
    all.sort();
    all.dedup();
    all
}
